"""``python -m gradcheck`` and the ``gradcheck`` command: signal handling first, then the command.

Until the command's own handlers take over (:mod:`gradcheck.cli`), a SIGINT or SIGTERM during start-up (numpy
and the checker loading) ends the process at once with one line and the usual exit status, 130 or 143.
"""
import os
import signal
import sys


def _early(signum: int, frame: object) -> None:
    name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
    os.write(2, f"gradcheck: stopped by {name} while starting\n".encode())
    os._exit(128 + signum)


def run() -> int:
    signal.signal(signal.SIGINT, _early)
    signal.signal(signal.SIGTERM, _early)
    from gradcheck.cli import main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    return main()


if __name__ == "__main__":
    sys.exit(run())
