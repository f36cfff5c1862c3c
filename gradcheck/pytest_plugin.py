"""pytest plugin (registered by the ``pytest11`` entry point when the package is installed).

- ``--gradcheck-mode=full|fast`` sets the default mode of every check in the run that is not given one:
  fast in everyday CI, full before a release.
- The ``gradcheck`` fixture: the checker's helpers (``gradcheck.assert_gradients(layer, (8, 4))``).
- A report header line with the mode and the seed.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

import gradcheck
from gradcheck.check import default_mode, set_default_mode

_PREVIOUS = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks")
    group.addoption("--gradcheck-mode", choices=["full", "fast"], default=None,
                    help="default mode of every gradient check that is not given one (default: full)")


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getoption("gradcheck_mode", None)
    if mode:
        config.stash[_PREVIOUS] = set_default_mode(mode)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS in config.stash:
        set_default_mode(config.stash[_PREVIOUS])


def pytest_report_header(config: pytest.Config) -> str:
    return f"gradcheck: mode {default_mode()} (--gradcheck-mode), seed 0 unless a check is given one"


@pytest.fixture(name="gradcheck")
def gradcheck_fixture() -> SimpleNamespace:
    """``gradcheck.assert_gradients``, ``gradcheck.check_layer``, ... in the run's default mode."""
    return SimpleNamespace(**{name: getattr(gradcheck, name) for name in gradcheck.__all__})
