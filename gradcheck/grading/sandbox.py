"""One test of one submission, in isolation: its own copy of the submission, its own process (forked, its own
process group, killed at the time limit), an address-space cap, a cap on what it may print, and, where the
grader runs as root, the rights of ``nobody``: it cannot write the grader's files or another submission's.

A submission that hangs, crashes, allocates too much, prints too much, calls ``sys.exit``, has a syntax error or
imports something missing gets 0 on that test, with a one-line reason; nothing else is touched. Modules a
submission imports are those the grader has loaded (numpy, scipy's usual parts, the standard library's) and
its own files: after dropping to ``nobody``, a Python installation under a private home (``/root``) cannot be
read for new ones.
"""
from __future__ import annotations

import errno
import importlib
import os
import pwd
import re
import resource
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradcheck.grading.spec import Spec, TestSpec
from gradcheck.supervisor import CheckTimedOut, ChildRaised, MemoryCapExceeded, run_limited

__all__ = ["TestResult", "run_test", "PRELOADED"]

# what a submission may import besides its own files, loaded before the test drops its rights
PRELOADED = ("copy", "math", "pickle", "itertools", "functools", "collections", "typing", "abc", "enum",
             "dataclasses", "warnings", "numpy", "scipy", "scipy.signal", "scipy.ndimage", "core",
             "gradcheck.check", "gradcheck.reference", "gradcheck.fuzz")


class Raised(Exception):
    """What the submission raised during its test, said in one line (by :func:`_said`, in the test's process)."""


@dataclass
class TestResult:
    """A test's outcome, as Gradescope's results.json holds it (``status``: passed, failed, not submitted, or
    error: the submission raised, hung or died)."""

    name: str
    score: float
    max_score: float
    output: str
    visibility: str
    status: str
    report: object = field(default=None, repr=False, compare=False)    # the check's report, for the page

    @property
    def ok(self) -> bool:
        return self.score >= self.max_score

    def __str__(self) -> str:
        return self.output


def _preload() -> None:
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:         # pragma: no cover - an optional part missing here
            pass


def _core_class(test: TestSpec) -> object:
    import core

    target = test.reference or f"core:{test.cls}"
    module_name, _, attr = target.partition(":")
    module = core if module_name == "core" else importlib.import_module(module_name)
    return getattr(module, attr)(*test.args)


def _optimizer_steps(obj: object, test: TestSpec) -> tuple[bool, str, None]:
    """Three updates of a random weight tensor against core's optimizer of the same name and arguments."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(tuple(test.input))
    theirs, ours_w, theirs_w = _core_class(test), w.copy(), w.copy()
    for step in range(3):
        g = rng.standard_normal(w.shape)
        ours_w = np.asarray(obj.calculate_update(ours_w, g.copy()), dtype=np.float64)
        theirs_w = theirs.calculate_update(theirs_w, g.copy())
        if ours_w.shape != theirs_w.shape or not np.allclose(ours_w, theirs_w, rtol=1e-9, atol=1e-12):
            worst = float(np.max(np.abs(ours_w - theirs_w))) if ours_w.shape == theirs_w.shape else float("nan")
            return False, (f"step {step + 1}: calculate_update gives weights that differ from core's "
                           f"{type(theirs).__name__}{tuple(test.args)} by up to {worst:.3g}"), None
    return True, f"three steps agree with core's {type(theirs).__name__}{tuple(test.args)}", None


def _checked(obj: object, test: TestSpec) -> tuple[bool, str, object]:
    from gradcheck.check import check_layer, check_loss
    from gradcheck.reference import check_against

    shape = tuple(test.input)
    if test.check == "optimizer":
        return _optimizer_steps(obj, test)
    if test.check == "loss":
        report = check_loss(obj, shape)
    elif test.check == "reference":
        report = check_against(obj, _core_class(test), shape, phase=test.phase)
    else:
        if test.phase is not None and hasattr(obj, "testing_phase"):
            obj.testing_phase = test.phase == "test"
        report = check_layer(obj, shape)
    if getattr(report, "_differences", None) is not None:     # what only this process can use stays here
        report.keep_worst_curves()
        report._differences = None
    return report.ok, str(report), report


def _drop_rights() -> None:
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)


def _in_child(root: Path, test: TestSpec, output: Path, output_bytes: int) -> tuple[bool, str, object]:
    """The test, in the forked child: its output to a capped file, its rights dropped, in its own copy."""
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # Python's streams on those descriptors (whatever the grader's were, a test runner's capture included)
    sys.stdout = open(1, "w", buffering=1, closefd=False)      # noqa: SIM115 - lives as long as the child
    sys.stderr = open(2, "w", buffering=1, closefd=False)      # noqa: SIM115
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)           # a write past the cap fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (output_bytes, output_bytes))
    os.chdir(root)
    sys.path.insert(0, str(root))
    _drop_rights()
    try:
        module = importlib.import_module(test.import_name)
        cls = getattr(module, test.cls, None)
        if cls is None:
            return False, f"{test.module} defines no {test.cls}", None
        return _checked(cls(*test.args), test)
    except MemoryError:
        raise                           # the supervisor names the cap
    except BaseException as exc:  # noqa: BLE001 - said here, in one line: an exception sent back may lose
        raise Raised(_said(exc, root, output_bytes)) from None     # its attributes (a SyntaxError's line)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _said(exc: BaseException, root: Path, output_bytes: int) -> str:
    """One line for what the submission raised (in the test's process)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, SyntaxError):
        where = str(exc.filename or "").replace(str(root) + os.sep, "")
        return f"SyntaxError in {where}, line {exc.lineno}: {exc.msg}"
    if isinstance(exc, ModuleNotFoundError):
        return f"imports {exc.name!r}, which is not available to the grader"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return f"printed more than the output cap of {output_bytes} bytes"
    text = (str(exc).strip().splitlines() or [""])[0].replace(str(root) + os.sep, "")
    return f"raised {type(exc).__name__}: {text}"


def _reason(exc: BaseException, root: Path, spec: Spec) -> str:
    """One line for what ended a test: a time limit, the memory cap, a process that died, or what it raised."""
    if isinstance(exc, CheckTimedOut):
        return f"timed out after {spec.timeout:g} s{f' in {exc.where}' if getattr(exc, 'where', '') else ''}"
    if isinstance(exc, MemoryCapExceeded):
        return f"needed more than the memory cap of {spec.memory_gib:g} GiB"
    if isinstance(exc, Raised):
        return str(exc)
    if isinstance(exc, ChildRaised):
        died = re.search(r"died, ([^(]*)", str(exc))
        return f"the test's process died, {died.group(1).strip()}" if died else \
            str(exc).replace(str(root) + os.sep, "")
    return _said(exc, root, spec.output_bytes)


def _copy(submission: Path, into: Path) -> Path:
    """A copy of the submission that ``nobody`` can read and write, in a folder only it and the grader reach."""
    root = into / "submission"
    shutil.copytree(submission, root, symlinks=False, ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(into, 0o711)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for path in [root, *root.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    return root


def run_test(submission: Path, test: TestSpec, spec: Spec) -> TestResult:
    """``test`` on ``submission`` (a folder), isolated (see the module docstring)."""
    def result(score: float, output: str, status: str, report: object = None) -> TestResult:
        return TestResult(test.name, score, test.points, output, test.visibility, status, report)

    if not (submission / test.module).is_file():
        return result(0.0, f"not submitted: {test.module} is missing", "not submitted")
    _preload()
    scratch = Path(tempfile.mkdtemp(prefix="gradcheck-grade-"))
    try:
        root = _copy(submission, scratch)
        printed = scratch / "output.txt"
        try:
            (ok, text, report), _ = run_limited(lambda: _in_child(root, test, printed, spec.output_bytes),
                                                spec.timeout, spec.memory_gib * 2 ** 30)
            status, score = ("passed", test.points) if ok else ("failed", 0.0)
        except BaseException as exc:  # noqa: BLE001 - whatever the submission did ends this test only
            if isinstance(exc, KeyboardInterrupt):
                raise
            text, status, score, report = _reason(exc, root, spec), "error", 0.0, None
        shown = printed.read_bytes()[:spec.output_bytes].decode("utf-8", "replace") if printed.exists() else ""
        if shown.strip():
            text += f"\n--- printed ---\n{shown}"
        return result(score, text, status, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
