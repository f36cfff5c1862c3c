"""Issue 20: pictures of a check. Asserted on the data behind them (where the marked cells are, what the
step curve does), and on the HTML; the pixels are looked at in the browser test."""
import base64
import re

import numpy as np
import pytest

from core import Conv, ReLU, TanH
from gradcheck import check_layer
from gradcheck.cli import main
from gradcheck.pictures import grid, grid_position, write_html
from tests.broken_layers import MeanInsteadOfSum, OneChannelConv

pytest.importorskip("matplotlib", reason="the pictures need the 'plot' extra")


class ShiftedKernelConv(Conv):
    """Conv whose weight gradient is moved by one column (an off-by-one in the kernel's x axis)."""

    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights = np.roll(self._gradient_weights, 1, axis=-1)
        return grad


class WrongStep:
    """tanh per time step of a (time, features) sequence; backward scales step 3's gradient."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, e):
        g = e * (1 - self.y ** 2)
        g[3] *= 1.1
        return g


def _marked_cells(report, name):
    """Grid cells of the failing elements (what the heatmap boxes and colours above 1)."""
    t = next(t for t in report.tensors if t.name == name)
    image = grid(t.elements.badness)
    rows, cols = np.nonzero(image > 1)
    return t, set(zip(rows.tolist(), cols.tolist()))


def test_a_wrong_channel_is_marked_in_its_column_of_tiles():
    report = check_layer(OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))
    t, cells = _marked_cells(report, "weights")
    expected = {grid_position(t.shape, (k, 1, i, j)) for k in range(2) for i in range(3) for j in range(3)}
    assert cells == expected


def test_a_shifted_kernel_gradient_is_marked_where_it_moved():
    report = check_layer(ShiftedKernelConv((1, 1), (1, 3, 3), 1, 0), (2, 1, 6, 6))
    t, cells = _marked_cells(report, "weights")
    assert cells and all(grid_position(t.shape, idx) in cells for idx in [(0, 0, 0, 0), (0, 0, 1, 0)])
    assert "moved by one place" in (t.hint or "")


def test_a_wrong_time_step_is_one_marked_row():
    report = check_layer(WrongStep(), (6, 4))
    _, cells = _marked_cells(report, "input")
    assert {r for r, _ in cells} == {3} and len(cells) == 4


def test_the_step_curve_of_a_right_a_wrong_and_a_kinked_element():
    right = check_layer(TanH(), (4, 3))
    steps, errors = right.step_curve("input", (1, 2))
    tol = right.tensors[0].elements.tolerance[1, 2]
    used = right.step * max(abs(right.tensors[0].elements.values[1, 2]), 1) / 2
    near = np.abs(np.log10(steps / used)) <= 1
    assert errors[near].min() <= 10 * tol                  # dips to the tolerance at the step used
    wrong = check_layer(MeanInsteadOfSum(4, 3), (6, 4))
    steps, errors = wrong.step_curve("weights", (1, 1))
    assert (errors > wrong.tensors[1].elements.tolerance[1, 1]).all()       # a floor above it at every step
    x = np.array([[0.0, 1.0], [-1.0, 2.0]])
    kink = check_layer(ReLU(), x)
    steps, errors = kink.step_curve("input", (0, 0))
    assert errors.min() > 0.1 and np.ptp(np.log10(errors)) < 1                # a floor that does not fall
    assert kink.plot_steps("input", (0, 0)).axes


def test_the_html_of_a_report_and_of_the_command(tmp_path, monkeypatch):
    report = check_layer(OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))
    html = report._repr_html_()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert "FAIL" in html and len(images) == len(report.tensors) + 1       # and the failing tensor's step curve
    assert "the worst element of weights by step" in html
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert html.index("weights") < html.index("figure")    # the failing tensor's picture comes first
    page = tmp_path / "run.html"
    write_html(str(page), [("passing", check_layer(TanH(), (3, 2))), ("failing", report)])
    text = page.read_text()
    assert text.index("failing") < text.index("passing") and "http" not in text
    module = tmp_path / "broken_mod.py"
    module.write_text("from tests.broken_layers import MeanInsteadOfSum, OneChannelConv\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["broken_mod:MeanInsteadOfSum", "--args", "4", "3", "--html", str(tmp_path / "cli.html")]) == 1
    # input, weights, weights (optimizer) and the worst element by step
    assert (tmp_path / "cli.html").read_text().count("<img") == 4


def test_without_matplotlib_the_page_has_the_tables_and_says_how_to_get_pictures(monkeypatch):
    import gradcheck.pictures as pictures

    monkeypatch.setattr(pictures, "_pyplot", lambda: None)
    html = check_layer(MeanInsteadOfSum(4, 3), (6, 4))._repr_html_()
    assert "<img" not in html and "pip install -e '.[plot]'" in html and "<table>" in html


def test_a_fuzz_result_shows_each_failure_in_html():
    from gradcheck.fuzz import fuzz_layer
    from tests.broken_layers import WindowSumTwoBugs, _windows

    html = fuzz_layer(_windows(WindowSumTwoBugs))._repr_html_()
    assert html.count("<pre>fuzz WindowSumTwoBugs") == 2 and "raised IndexError" in html and "<img" in html


class FastSine:
    """sin(1e4 x): curved on the scale of the first step, so every element settles a few rounds down."""

    def forward(self, x):
        self.x = x
        return np.sin(1e4 * x)

    def backward(self, e):
        return 1e4 * np.cos(1e4 * self.x) * e


def test_the_step_marked_on_the_curve_is_the_smaller_step_of_the_round_the_element_settled_at():
    report = check_layer(FastSine(), np.array([[0.3, -0.2], [0.1, 0.7]]))
    elements = report.tensors[0].elements
    assert report.ok and (elements.level >= 1).all(), str(report)
    for index in [(0, 0), (1, 1)]:
        (marker,) = [line for line in report.plot_steps("input", index).axes[0].lines
                     if str(line.get_label()).startswith("step used")]
        h = report.step * max(abs(elements.values[index]), 1.0) / 8.0 ** elements.level[index]
        assert marker.get_xdata()[0] == pytest.approx(h / 2, rel=1e-12)


def test_the_step_curve_of_a_tensor_the_report_lacks_names_the_tensors_it_has():
    report = check_layer(TanH(), (3, 2))
    with pytest.raises(ValueError, match=r"no tensor 'weights'.*\(tensors: input\)"):
        report.step_curve("weights", (0, 0))


def test_the_step_marked_on_a_step_curve_scales_with_the_element_as_the_step_does():
    """The check steps each element by h * max(|value|, 1) / 8^level: the marker of the step used follows
    the same rule, so at one level an element of size 4 has its marker 4 times to the right of one of size 0.5."""
    from tests.broken_layers import SignFlippedInput

    x = np.array([[4.0, 0.5, -1.0, 2.0]] * 3)
    report = check_layer(SignFlippedInput(4, 3), x)
    e = report.tensors[0].elements
    assert e.level[0, 0] == e.level[0, 1], e.level

    def marker(index):
        figure = report.plot_steps("input", index)
        (line,) = [line for line in figure.axes[0].get_lines() if line.get_label().startswith("step used")]
        return float(line.get_xdata()[0])

    assert marker((0, 0)) / marker((0, 1)) == pytest.approx(4.0)
    assert marker((0, 1)) == pytest.approx(report.step / 8.0 ** e.level[0, 1] / 2)


def test_a_step_curve_runs_from_a_tenth_of_max_value_one_down():
    """step_curve's documented grid: h from 1e-1 to 1e-14 of max(|value|, 1), 27 steps."""
    x = np.array([[0.5, 3.0, -2.0]])
    report = check_layer(TanH(), x)
    for index, size in (((0, 0), 1.0), ((0, 1), 3.0), ((0, 2), 2.0)):
        steps, errors = report.step_curve("input", index)
        assert len(steps) == len(errors) == 27
        assert steps[0] == pytest.approx(0.1 * size) and steps[-1] == pytest.approx(1e-14 * size)
