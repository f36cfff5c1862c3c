"""Laws of the checker, each independent of how it computes: what a verdict means at any scale and layout of the
values, where a kink's gradient may lie, what the report's own invariants catch. The mutation run
(``benchmarks/mutants.py``) uses these first as killers: they are small and fast."""
from dataclasses import replace

import numpy as np
import pytest

from gradcheck import check_function, check_layer
from gradcheck.report import ElementArrays, invariants


class Cubic:
    """y = w * x^3 / s^2 per feature, with its exact gradients: homogeneous in the scale ``s`` of its values
    (x and w ~ s), so a check must mean the same at every ``s``. ``wrong`` scales one element of each gradient
    by ``1 + wrong``; ``layout`` stores the weights as a strided view ("view") or in Fortran order."""

    def __init__(self, s: float, width: int = 4, wrong: float = 0.0, layout: str = "plain", seed: int = 0):
        rng = np.random.default_rng(seed)
        w = s * rng.uniform(0.5, 2.0, (2, width)) * rng.choice([-1, 1], (2, width))
        if layout == "view":
            self.store = np.repeat(w, 2, axis=1)
            self.weights = self.store[:, ::2]           # writes through to ``store``; not contiguous
        elif layout == "fortran":
            self.weights = np.asfortranarray(w)
        else:
            self.weights = w
        self.s, self.wrong = s, wrong

    def forward(self, x):
        self.x = x
        return self.weights[0] * x ** 3 / self.s ** 2 + self.weights[1] * x

    def backward(self, e):
        x, w = self.x, self.weights
        grad_x = e * (3 * w[0] * x ** 2 / self.s ** 2 + w[1])
        grad_w = np.stack([(e * x ** 3 / self.s ** 2).sum(0), (e * x).sum(0)])
        grad_x.flat[1] *= 1 + self.wrong
        grad_w.flat[2] *= 1 + self.wrong
        self.gradient_weights = grad_w
        return grad_x


def _inputs(s: float, shape=(3, 4), seed: int = 1) -> np.ndarray:
    """Values of size ~s with both signs (a batch of one row takes another path through the ladder: one
    element per column)."""
    rng = np.random.default_rng(seed)
    return s * rng.uniform(0.5, 2.0, shape) * rng.choice([-1, 1], shape)


SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e6]


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("batch", [3, 1])
def test_a_correct_layer_passes_at_every_scale_of_its_values_with_every_element_checked(s, mode, batch):
    report = check_layer(Cubic(s), _inputs(s, (batch, 4)), mode=mode)
    assert report.ok, str(report)
    if mode == "full":
        assert [(t.checked, t.skipped_count) for t in report.tensors] == [(4 * batch, 0), (8, 0)], str(report)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("batch", [3, 1])
def test_a_relative_error_of_1e_4_in_one_element_is_caught_at_every_scale_and_named(s, mode, batch):
    report = check_layer(Cubic(s, wrong=1e-4), _inputs(s, (batch, 4)), mode=mode)
    assert not report.ok
    for t, index in zip(report.tensors, [(0, 1), (0, 2)]):
        assert t.failed >= 1 and t.worst[0].index == index, str(report)
        if mode == "full":
            assert t.failed == 1, str(report)


@pytest.mark.parametrize("layout", ["view", "fortran"])
def test_a_parameter_that_is_not_contiguous_is_checked_in_place_and_left_as_it_was(layout):
    good, bad = Cubic(1.0, layout=layout), Cubic(1.0, wrong=1e-4, layout=layout)
    before = good.weights.copy()
    report = check_layer(good, _inputs(1.0))
    assert report.ok and report.tensors[1].checked == 8, str(report)
    assert np.array_equal(good.weights, before)
    failed = check_layer(bad, _inputs(1.0)).tensors[1]
    assert failed.failed == 1 and failed.worst[0].index == (0, 2)


def test_an_input_that_is_not_contiguous_is_checked_like_its_copy():
    x = np.asfortranarray(_inputs(1.0))
    assert not x.flags.c_contiguous
    report = check_layer(Cubic(1.0, wrong=1e-4), x)
    assert report.tensors[0].failed == 1 and report.tensors[0].worst[0].index == (0, 1), str(report)


def _kink(a: float, b: float, claimed: float):
    """f(x) = a max(x, 0) + b min(x, 0) per element, at x = 0: one-sided slopes a (right) and b (left); the
    backward claims ``claimed`` there (and the true slope elsewhere)."""
    def forward(x):
        return a * np.maximum(x, 0) + b * np.minimum(x, 0), x

    def backward(dout, x):
        return dout * np.where(x > 0, a, np.where(x < 0, b, claimed))
    return forward, backward


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (0.0, 1.0), (2.0, -3.0), (-1.0, 0.5)])
def test_a_kink_is_certified_only_between_its_one_sided_slopes(a, b):
    x = np.array([[0.0, 0.7, -0.4], [0.3, 0.0, -1.2]])
    low, high = min(a, b), max(a, b)
    for inside in (low, high, 0.5 * (low + high), low + 0.1 * (high - low)):
        report = check_function(*_kink(a, b, inside), x)
        assert report.ok and report.tensors[0].kinks == 2, (inside, str(report))
    for outside in (low - 0.2 * (high - low), high + 0.2 * (high - low)):
        report = check_function(*_kink(a, b, outside), x)
        assert not report.ok, (outside, str(report))
        t = report.tensors[0]
        assert t.failed + t.skipped_count == 2 and t.checked + t.skipped_count == 6, (outside, str(report))


# ------------------------------------------------------------------------- the report's invariants


class CubicTwoWrong(Cubic):
    """Two input-gradient elements wrong, by 1e-3 and 2e-3."""

    def backward(self, e):
        grad_x = super().backward(e)
        grad_x.flat[4] *= 1 + 2e-3
        return grad_x


def _failing_report():
    report = check_layer(CubicTwoWrong(1.0, width=6, wrong=1e-3), _inputs(1.0, (3, 6)))
    assert not report.ok and not invariants(report)
    return report


def _tampered(report, index, **changes):
    t = report.tensors[index]
    tensors = list(report.tensors)
    tensors[index] = replace(t, **changes)
    tensors[index].elements = t.elements
    return replace(report, tensors=tensors)


def test_the_invariants_hold_on_a_real_report_and_name_each_broken_one():
    report = _failing_report()
    t = report.tensors[0]
    assert len(t.worst) >= 2
    broken = {
        "failed = ": _tampered(report, 0, failed=t.failed + 1),
        "elements were checked": _tampered(report, 0, checked=t.checked - 1),
        "not checked !=": _tampered(report, 0, checked=t.checked + 1),
        "not in order": _tampered(report, 0, worst=t.worst[::-1]),
        "worse than the first": _tampered(report, 0, worst=t.worst[1:]),
    }
    for fragment, bad in broken.items():
        found = invariants(bad)
        assert found and all(t.name in f for f in found) and any(fragment in f for f in found), (fragment, found)


def test_a_pass_with_an_element_left_unchecked_breaks_the_invariants():
    report = check_layer(Cubic(1.0), _inputs(1.0))
    assert report.ok and not invariants(report)
    t = report.tensors[1]
    e = t.elements
    unchecked = ElementArrays(**{**vars(e), "checked": e.checked.copy()})
    unchecked.checked.flat[3] = False
    bad = _tampered(report, 1, checked=t.checked - 1)
    bad.tensors[1].elements = unchecked
    found = invariants(bad)
    assert any("PASS with 7 of 8 elements checked" in f for f in found), found
    assert any("7 checked + 0 not checked != 8 elements" in f for f in found), found


# ------------------------------------------------------------------------- the step is the one stated

SEEN: list[tuple[np.ndarray, np.ndarray]] = []      # outside the layer: the check puts a layer's state back


class RecordsWhatItSees:
    """y = sin(w) * x, recording every input and weight forward is called with."""

    def __init__(self, w):
        self.weights = np.array(w, dtype=float)

    def forward(self, x):
        SEEN.append((x.copy(), self.weights.copy()))
        self.x = x
        return np.sin(self.weights) * x

    def backward(self, e):
        self.gradient_weights = (e * self.x * np.cos(self.weights)).sum(0, keepdims=True)
        return e * np.sin(self.weights)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("step", [1e-4, 1e-5])
def test_every_element_is_first_moved_by_the_step_the_report_states(step, mode):
    """The header says ``steps <step> x max(|value|, 1) / 8^r``: the ladder moves each element by exactly
    +-step * max(|value|, 1) first, and never further (the other passes of a check move values by far more:
    hundreds of steps, a fresh input)."""
    x, w = np.array([[0.25, -3.0, 40.0], [0.0, 2.0, -0.5]]), np.array([[0.3, 5.0, -40.0]])
    SEEN.clear()
    report = check_layer(RecordsWhatItSees(w), x.copy(), step=step, mode=mode)
    assert report.ok and f"steps {step:g} x max(|value|, 1) / 8^r" in str(report), str(report)
    for base, k in ((x, 0), (w, 1)):
        units = np.array([(seen[k] - base) / (step * np.maximum(np.abs(base), 1.0)) for seen in SEEN])
        for index in np.ndindex(base.shape):
            moves = units[(slice(None), *index)]
            ladder = moves[(moves != 0) & (np.abs(moves) <= 10)]
            assert np.isclose(ladder, 1.0, rtol=1e-9, atol=0).any(), (k, index, np.unique(ladder))
            assert np.isclose(ladder, -1.0, rtol=1e-9, atol=0).any(), (k, index, np.unique(ladder))
            assert np.abs(ladder).max() <= 1 + 1e-9, (k, index, np.unique(ladder))


def test_in_fast_mode_no_element_of_a_direction_is_moved_further_than_its_step():
    """A direction moves each of its elements by at most its own step (the largest by exactly that)."""
    step, w = 1e-4, np.linspace(-3.0, 50.0, 40)[None, :]
    x = np.random.default_rng(0).uniform(-2, 2, (2, 40))
    SEEN.clear()
    report = check_layer(RecordsWhatItSees(w), x, step=step, mode="fast")
    assert report.ok and report.tensors[1].method == "directions", str(report)
    units = np.array([(seen[1] - w) / (step * np.maximum(np.abs(w), 1.0)) for seen in SEEN])
    ladder = np.abs(units[(units != 0) & (np.abs(units) <= 10)])
    assert ladder.max() == pytest.approx(1.0, rel=1e-9) and (ladder <= 1 + 1e-9).all(), np.unique(ladder)


@pytest.mark.parametrize("scale", [1e-11, 1e-13])
def test_an_element_takes_its_own_ladder_whatever_the_other_rows_of_its_column_hold(scale):
    """L tanh(x / L) at 0 varies on the scale L: resolving it takes 10-12 rounds, where an element of 1e6
    has room for 9 before its steps come near its ulps. Beside such an element, in one column read per row,
    the element at 0 is still resolved and checked, as it is alone."""
    def forward(x):
        return scale * np.tanh(x / scale), x

    def backward(dout, x):
        return dout * (1 - np.tanh(x / scale) ** 2)
    alone = check_function(forward, backward, np.array([[0.0]]))
    beside = check_function(forward, backward, np.array([[0.0], [1e6]]))
    assert alone.ok and beside.ok, str(beside)
    assert alone.tensors[0].elements.level[0, 0] >= 10
    assert beside.tensors[0].elements.level[0, 0] == alone.tensors[0].elements.level[0, 0], str(beside)
    # ``refined`` counts the elements the ladder took below the first step: here the one at 0, not the flat 1e6
    assert alone.tensors[0].refined == beside.tensors[0].refined == 1, str(beside)


def test_an_affine_layer_is_settled_at_the_first_step_and_nothing_is_refined():
    """Central differences are exact on an affine function (up to rounding): +-h settles every element."""
    from core import FullyConnected
    report = check_layer(FullyConnected(5, 3), (4, 5))
    assert report.ok and all(t.refined == 0 and not t.elements.level.any() for t in report.tensors), str(report)


JITTER = [np.random.default_rng(0)]     # outside the layer, so the check's putting back its state leaves it


class Jitter:
    """y = x @ W, with a fresh relative noise of ``level`` on every call (a threaded reduction's rounding, made
    larger); ``error`` scales one input-gradient element."""

    def __init__(self, level: float, error: float = 0.0):
        self.w = np.random.default_rng(1).standard_normal((6, 3))
        self.level, self.error = level, error

    def forward(self, x):
        self.x = x
        y = x @ self.w
        return y * (1 + self.level * JITTER[0].uniform(-1, 1, y.shape))

    def backward(self, e):
        self.gradient_w = self.x.T @ e
        grad = e @ self.w.T
        grad.flat[0] *= 1 + self.error
        return grad


@pytest.mark.parametrize("level, error", [(1e-14, 1e-4), (1e-13, 1e-3)])
def test_run_to_run_noise_is_measured_into_the_tolerance_and_a_real_error_still_fails(level, error):
    """The noise's allowance grows with it (up to 3e-5 and 3e-4 of the gradient here, over 15 seeds): an error
    10x that still fails. The noise is drawn from one seeded stream, so the test is the same every run."""
    JITTER[0] = np.random.default_rng(0)
    good, bad = check_layer(Jitter(level), (4, 6)), check_layer(Jitter(level, error=error), (4, 6))
    assert good.ok and any("varies between calls" in w for w in good.warnings), str(good)
    assert not bad.ok and bad.tensors[0].worst[0].index == (0, 0), str(bad)


def _fast_cases():
    from core import FullyConnected
    from tests.broken_layers import SingleWrongElement, UnmaskedReLU
    rng = np.random.default_rng(0)
    return [(FullyConnected(30, 20), (8, 30)), (SingleWrongElement(30, 20), (8, 30)),
            (UnmaskedReLU(), rng.standard_normal((20, 30)))]


@pytest.mark.parametrize("case", range(3))
def test_a_fast_check_accounts_for_every_direction_and_every_element_it_rechecked(case):
    """``P of C directions agree; the N elements of the other U (reasons) were checked one by one``: P + U is
    C, every direction sent back has a reason, and the count checked is the P directions and the N elements
    (none of these was skipped). C is fast mode's budget, ``direction_count``."""
    import re

    from gradcheck.numeric import direction_count
    layer, x = _fast_cases()[case]
    report = check_layer(layer, x, mode="fast")
    for t in report.tensors:
        found = re.match(r"(\d+) of (\d+) sparse random directions agree \(every element lies in exactly one\)"
                         r"(?:; the (\d+) elements of the other (\d+) \((.*)\) were checked one by one)?$", t.note)
        assert found and t.method == "directions", t.note
        passed, count = int(found[1]), int(found[2])
        elements, others = int(found[3] or 0), int(found[4] or 0)
        assert count == direction_count(int(np.prod(t.shape))) and passed + others == count, t.note
        reasons = [int(n) for n in re.findall(r"(\d+) [a-z]", found[5] or "")]
        assert all(0 < n <= others for n in reasons) and sum(reasons) >= others, t.note
        assert t.skipped_count == 0 and t.checked == passed + elements, (t.checked, t.note)
        assert 0 < elements <= int(np.prod(t.shape)) if others else elements == 0
        assert t.ok == (t.failed == 0), str(report)


def test_the_first_line_of_a_failure_is_its_crux_and_the_report_follows():
    """What pytest's ``-ra`` summary shows is the first line: the layer, the failing tensors, the worst
    error; the whole report comes after it."""
    from gradcheck import GradientCheckError, assert_gradients
    from gradcheck.report import crux, format_report
    with pytest.raises(GradientCheckError) as info:
        assert_gradients(CubicTwoWrong(1.0), _inputs(1.0))
    text, report = str(info.value), info.value.report
    assert text.splitlines()[0] == crux(report) and "wrong gradient of input" in text.splitlines()[0], text
    assert text.endswith(format_report(report)), text


@pytest.mark.parametrize("share, flagged", [(0.3, False), (0.6, True), (2.0, True)])
def test_an_atol_of_half_the_largest_gradient_or_more_is_a_problem(share, flagged):
    """Such an atol would pass a zero gradient for the tensor's largest elements: the tensor certifies
    nothing, whatever its verdict. Below half, it is the caller's choice."""
    scale = check_layer(Cubic(1.0), _inputs(1.0)).tensors[0].scale
    report = check_layer(Cubic(1.0), _inputs(1.0), atol=share * scale)
    assert any(p.startswith("atol ") and "input" in p for p in report.problems) == flagged, report.problems


CALLS = [0]


class ShapeShifter:
    """Forward gives a narrower output on every other call (a buffer that grows and shrinks)."""

    def forward(self, x):
        CALLS[0] += 1
        self.x = x
        return x if CALLS[0] % 2 else x[:, :-1]

    def backward(self, e):
        return e


def test_a_forward_whose_output_changes_shape_from_call_to_call_is_a_named_problem():
    CALLS[0] = 0
    report = check_layer(ShapeShifter(), (3, 4))
    assert not report.ok and "gave different outputs on two calls in a row (shapes" in report.problems[0], report


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("s", SCALES)
def test_an_error_of_three_times_rtol_is_caught_where_truncation_is_at_its_allowance(s, mode):
    """A curved function settles where the truncation allowance fits beside rtol (decisive), so the whole
    tolerance stays within about twice rtol's share: a relative error of 3e-6 against rtol 1e-6 fails."""
    report = check_layer(Cubic(s, wrong=3e-6), _inputs(s), mode=mode)
    assert [t.failed for t in report.tensors] == [1, 1], str(report)


@pytest.mark.parametrize("c", [1e-7, 1e-9, 1e-12])
def test_a_kink_the_ladder_can_reach_is_resolved_not_taken_for_one_at_the_point(c):
    """ReLU at x = c, c below the first step but above the smallest: the gap between one-sided slopes depends
    on the step more the smaller it gets, so the ladder goes on until it steps past c, and a wrong slope
    there (0.5 for 1) fails. At -c the slope (0) is right."""
    def forward(x):
        return np.maximum(x, 0), x

    def backward(dout, x):
        return dout * np.where(x > 1e-3, 1.0, np.where(x > 0, 0.5, 0.0))
    report = check_function(forward, backward, np.array([[c, -c, 0.3]]))
    t = report.tensors[0]
    assert t.failed == 1 and t.worst[0].index == (0, 0) and t.kinks == 0, str(report)


class Sleeps:
    """A layer whose forward does not return for a minute."""

    def forward(self, x):
        import time
        time.sleep(60)
        return x

    def backward(self, e):
        return e


def test_a_time_limit_is_a_positive_number_of_seconds_and_a_check_past_it_is_a_named_problem():
    from core import FullyConnected
    assert check_layer(FullyConnected(3, 2), (4, 3), timeout=120).ok
    for bad in (0, -1.0, True, float("inf"), "10"):
        with pytest.raises(ValueError, match=f"timeout must be a positive number of seconds, got {bad!r}"):
            check_layer(FullyConnected(3, 2), (4, 3), timeout=bad)
    report = check_layer(Sleeps(), (2, 2), timeout=1.0)
    assert not report.ok and report.target.startswith("Sleeps") and "did not return in time" in report.problems[0]


def test_the_default_mode_is_what_a_check_without_one_takes():
    from core import FullyConnected
    from gradcheck.check import default_mode, set_default_mode
    previous = set_default_mode("fast")
    try:
        assert default_mode() == "fast" and check_layer(FullyConnected(30, 20), (4, 30)).mode == "fast"
        with pytest.raises(ValueError, match="mode must be 'full' or 'fast', got 'quick'"):
            set_default_mode("quick")
        assert set_default_mode("full") == "fast" and check_layer(FullyConnected(3, 2), (4, 3)).mode == "full"
    finally:
        set_default_mode(previous)


class RoundsToGrid:
    """exp(x * w) elementwise, its output rounded to a grid of 1e-9 (a forward that keeps nine decimals: its
    output moves in stairs); ``error`` scales one input-gradient element."""

    def __init__(self, error: float = 0.0):
        self.weights = 1 + 0.3 * np.random.default_rng(1).standard_normal(4)
        self.error = error

    def forward(self, x):
        self.x = x
        return np.round(np.exp(x * self.weights) / 1e-9) * 1e-9

    def backward(self, e):
        d = np.exp(self.x * self.weights) * e
        self.gradient_weights = (d * self.x).sum(axis=0)
        grad = d * self.weights
        grad.flat[1] *= 1 + self.error
        return grad


def test_a_forward_that_rounds_to_a_grid_passes_with_its_noise_measured_and_an_error_above_it_fails():
    x = np.random.default_rng(0).standard_normal((3, 4))
    x.flat[::4] = 0.0                       # exact zeros among the values
    good = check_layer(RoundsToGrid(), x)
    assert good.ok and not good.problems and all(t.checked == t.elements.values.size for t in good.tensors), \
        str(good)
    assert all(t.noisy for t in good.tensors), str(good)         # the stairs were seen, and measured
    bad = check_layer(RoundsToGrid(error=1e-2), x)
    assert [(t.name, t.failed) for t in bad.tensors] == [("input", 1), ("weights", 0)], str(bad)


class SineOnAGrid:
    """sin(3 x w) elementwise, its output rounded to a grid of 1e-9: near 0 the stairs make the estimates noisy,
    and noisy elements are candidates for ties."""

    def __init__(self):
        self.weights = 1 + 0.3 * np.random.default_rng(0).standard_normal(4)

    def forward(self, x):
        self.x = x
        return np.round(np.sin(3 * x * self.weights) / 1e-9) * 1e-9

    def backward(self, e):
        d = 3 * np.cos(3 * self.x * self.weights) * e
        self.gradient_weights = (d * self.x).sum(axis=0)
        return d * self.weights


def test_values_further_apart_than_their_step_are_not_judged_as_a_tie():
    """-1e-9 and 1e-5 share a row, 1.6 first steps (6.1e-6) apart: not a tie. Moved together, their noisy
    estimates would be judged as one without the noise each carries, and a right element called wrong."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[0, 0], x[0, 3], x[1, 2], x[2, 1] = -1e-9, 1e-5, 3e-7, 1e-9
    report = check_layer(SineOnAGrid(), x)
    assert report.ok and all(t.checked == t.elements.values.size for t in report.tensors), str(report)


class CubeOnAGrid:
    """(x w)^3 elementwise, its output rounded to a grid of 1e-6 (six decimals kept): at values of order 1 the
    first steps stay inside one stair, and no step of the ladder resolves the function."""

    def __init__(self):
        self.weights = 1 + 0.3 * np.random.default_rng(0).standard_normal(4)

    def forward(self, x):
        self.x = x
        return np.round((x * self.weights) ** 3 / 1e-6) * 1e-6

    def backward(self, e):
        d = 3 * (self.x * self.weights) ** 2 * e
        self.gradient_weights = (d * self.x).sum(axis=0)
        return d * self.weights


def test_a_forward_too_coarse_to_check_is_not_checked_and_no_right_element_is_called_wrong():
    report = check_layer(CubeOnAGrid(), np.random.default_rng(0).standard_normal((3, 4)))
    assert not report.ok and [t.failed for t in report.tensors] == [0, 0], str(report)
    assert all(t.skipped_count == t.elements.values.size for t in report.tensors), str(report)
