"""The pytest plugin, run inside pytest with ``pytester``."""
import pytest

TESTS = '''
import numpy as np
from core import FullyConnected
from gradcheck import assert_gradients


class MeanInsteadOfSum(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights /= len(error_tensor)
        return grad


def test_mode_is_the_runs_default():
    assert assert_gradients(FullyConnected(3, 2, 0), (4, 3)).mode == "{mode}"


def test_fixture(gradcheck):
    assert gradcheck.assert_gradients(FullyConnected(3, 2, 0), (4, 3)).ok
    assert gradcheck.check_layer(FullyConnected(3, 2, 0), (4, 3), mode="full").mode == "full"


def test_broken():
    assert_gradients(MeanInsteadOfSum(4, 3, 0), (6, 4))
'''


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradcheck_mode_option_sets_the_default_and_the_header(pytester, mode):
    pytester.makepyfile(TESTS.replace("{mode}", mode))
    args = ["-ra", "-p", "no:cacheprovider"] + ([f"--gradcheck-mode={mode}"] if mode == "fast" else [])
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"gradcheck: mode {mode} (--gradcheck-mode)*"])


def test_summary_line_names_the_failing_tensor_and_frames_are_hidden(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")       # the summary line is cut to the terminal's width
    pytester.makepyfile(test_p=TESTS.replace("{mode}", "full"))
    result = pytester.runpytest("-ra", "-p", "no:cacheprovider", "-k", "broken")
    result.stdout.fnmatch_lines(["FAILED test_p.py::test_broken - *MeanInsteadOfSum(4, 3): wrong gradient of weights*"])
    assert "__tracebackhide__" not in result.stdout.str() and "def assert_gradients" not in result.stdout.str()


def test_the_default_mode_is_put_back_after_the_run(pytester):
    from gradcheck import default_mode

    pytester.makepyfile(TESTS.replace("{mode}", "fast"))
    pytester.runpytest("--gradcheck-mode=fast", "-p", "no:cacheprovider", "-k", "default")
    assert default_mode() == "full"


def test_html_pages_for_every_failing_gradient_check(pytester):
    pytester.makepyfile(test_p=TESTS.replace("{mode}", "full"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--gradcheck-html", "pictures")
    result.assert_outcomes(passed=2, failed=1)
    pages = list((pytester.path / "pictures").iterdir())
    assert [p.name for p in pages] == ["test_p.py_test_broken.html"]
    text = pages[0].read_text()
    assert "FAIL" in text and "MeanInsteadOfSum" in text
