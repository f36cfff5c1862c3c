"""pytest plugin (registered by the ``pytest11`` entry point when the package is installed).

- ``--gradcheck-mode=full|fast`` sets the default mode of every check in the run that is not given one:
  fast in everyday CI, full before a release.
- The ``gradcheck`` fixture: the checker's helpers (``gradcheck.assert_gradients(layer, (8, 4))``).
- ``--gradcheck-html DIR`` writes an HTML page (pictures included) for every test that fails with a
  :class:`~gradcheck.GradientCheckError`, named after the test, so a CI page can link it.
- A report header line with the mode and the seed.
"""
from __future__ import annotations

import os
import re
from types import SimpleNamespace

import pytest

import gradcheck
from gradcheck.check import default_mode, set_default_mode

_PREVIOUS = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks")
    group.addoption("--gradcheck-mode", choices=["full", "fast"], default=None,
                    help="default mode of every gradient check that is not given one (default: full)")
    group.addoption("--gradcheck-html", metavar="DIR", default=None,
                    help="write an HTML page with pictures for every failing gradient check into DIR")


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getoption("gradcheck_mode", None)
    if mode:
        config.stash[_PREVIOUS] = set_default_mode(mode)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _PREVIOUS in config.stash:
        set_default_mode(config.stash[_PREVIOUS])


def pytest_report_header(config: pytest.Config) -> str:
    return f"gradcheck: mode {default_mode()} (--gradcheck-mode), seed 0 unless a check is given one"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    folder = item.config.getoption("gradcheck_html", None)
    if not folder or call.excinfo is None or not isinstance(call.excinfo.value, gradcheck.GradientCheckError):
        return
    from gradcheck.pictures import write_html

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, re.sub(r"[^\w.-]+", "_", item.nodeid).strip("_") + ".html")
    write_html(path, [(item.nodeid, call.excinfo.value.report)], title=item.nodeid)
    outcome.get_result().sections.append(("gradcheck", f"pictures: {path}"))


@pytest.fixture(name="gradcheck")
def gradcheck_fixture() -> SimpleNamespace:
    """``gradcheck.assert_gradients``, ``gradcheck.check_layer``, ... in the run's default mode."""
    return SimpleNamespace(**{name: getattr(gradcheck, name) for name in gradcheck.__all__})
