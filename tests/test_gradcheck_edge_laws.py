"""Laws of the check at its edges: the smallest tensors and ties, ties that only rounding tells apart, what the
report's numbers mean, what the check copies, and how ``assert_gradients`` tells a network from a layer.

Each law was left unpinned by the rest of the suite (a single-token change of the checker broke it and every
other test still passed): each test states the law with a wrong layer that must fail and, where a pass is the
point, a right twin.
"""
import numpy as np
import pytest

from core import FullyConnected, ReLU
from gradcheck import assert_gradients, check_layer, check_network
from gradcheck.numeric import element_probes, finite_differences
from gradcheck.report import crux
from gradcheck.targets import _readout
from tests.broken_layers import MaxPairs, MaxPairsCopiesTies, _tied_pairs


def _tensor(report, name: str):
    return next(t for t in report.tensors if t.name == name)


class Scale:
    """``y = w x`` with one trainable number ``w`` (shape (1,)), as a learned temperature or gain."""

    def __init__(self, wrong: bool = False) -> None:
        self.weights, self.wrong = np.array([0.7]), wrong

    def forward(self, x):
        self.x = x
        return self.weights[0] * x

    def backward(self, e):
        self.gradient_weights = np.array([np.sum(self.x * e)]) * (2.0 if self.wrong else 1.0)
        return self.weights[0] * e


def test_a_parameter_of_one_element_is_a_parameter():
    wrong = check_layer(Scale(wrong=True), (4, 3))
    assert not wrong.ok and _tensor(wrong, "weights").failed == 1
    right = check_layer(Scale(), (4, 3))
    assert right.ok and _tensor(right, "weights").checked == 1


def test_a_tie_of_two_elements_is_judged_as_a_tie():
    # the whole tensor is one pair, tied: a max that copies the gradient to both is wrong (moved together
    # they change the output at 1 per unit, the gradients sum to 2); alone each lies between its slopes 0 and 1
    x = np.array([[0.3, 0.3]])
    wrong = check_layer(MaxPairsCopiesTies(), x)
    assert not wrong.ok and _tensor(wrong, "input").failed == 2
    assert check_layer(MaxPairs(), x).ok


class MaxPairsIsclose(MaxPairs):
    """Sends the gradient to every element ``np.isclose`` to the max: values a few ulps apart get it twice."""

    def backward(self, error_tensor):
        pairs, e = self._recall(error_tensor)
        mask = np.isclose(pairs, pairs.max(axis=2, keepdims=True), rtol=1e-5, atol=0.0)
        return (mask * e[:, :, None]).reshape(len(pairs), -1)


@pytest.mark.parametrize("value", [3e4, 3e6])
def test_values_a_few_ulps_apart_at_large_magnitude_are_a_tie(value):
    # the step is relative to max(|value|, 1): so is how close two values must be to share a kink. 1e-15 of
    # 3e4 is below any step the ladder can take there, so the pair moves as one kink
    x = np.random.default_rng(5).standard_normal((3, 6))
    x[:, 0], x[:, 1] = value, value * (1 + 1e-15)
    assert x[0, 0] != x[0, 1]
    wrong = check_layer(MaxPairsIsclose(), x)
    assert not wrong.ok and _tensor(wrong, "input").failed == 6
    assert check_layer(MaxPairs(), x).ok


def test_a_tie_found_wrong_is_wrong_not_a_kink():
    # a failed tie is wrong on a smooth move (the group's): it counts as failed, not as a kink, and its error
    # (each element's gradient is the whole upstream value too many, of order 1) is in the largest error
    report = check_layer(MaxPairsCopiesTies(), _tied_pairs())
    t = _tensor(report, "input")
    assert t.failed == 8 and t.kinks == 0
    assert t.max_abs_error > 0.1


class Tripled:
    """``y = 3 x`` with a backward that is exactly twice the true gradient."""

    def forward(self, x):
        return 3.0 * x

    def backward(self, e):
        return 6.0 * e


def test_max_rel_error_is_the_relative_error_of_the_worst_element():
    # |a - n| / max(|a|, |n|) = (6 - 3) / 6 for every element: the oracle is the definition
    t = _tensor(check_layer(Tripled(), (4, 5)), "input")
    assert t.max_rel_error == pytest.approx(0.5, rel=1e-6)


def test_max_rel_error_leaves_out_kinks_and_a_right_layer_has_almost_none():
    x = np.array([[0.0, 1.0, -2.0, 0.0], [0.5, 0.0, 3.0, -1.0]])      # four elements at ReLU's kink
    report = check_layer(ReLU(), x)
    t = _tensor(report, "input")
    assert report.ok and t.kinks > 0
    assert t.max_rel_error < 1e-6


_CALLS = [0]


class NaNOnSecondCall:
    """Deterministic ``2 x``, except that every second call puts a NaN at (1, 0): forward is not a fixed
    function, and the element that tells is the NaN."""

    def forward(self, x):
        _CALLS[0] += 1
        y = 2.0 * x
        if _CALLS[0] % 2 == 0:
            y[1, 0] = np.nan
        return y

    def backward(self, e):
        return 2.0 * e


class AlwaysNaNAndNoisy:
    """A NaN at (0, 0) on every call, and 1e-3 added at (1, 2) on every second one."""

    def forward(self, x):
        _CALLS[0] += 1
        y = 2.0 * x
        y[0, 0] = np.nan
        if _CALLS[0] % 2 == 0:
            y[1, 2] += 1e-3
        return y

    def backward(self, e):
        return 2.0 * e


def test_a_nan_on_one_call_is_named_as_the_difference_between_calls():
    _CALLS[0] = 0
    report = check_layer(NaNOnSecondCall(), (3, 4))
    assert not report.ok
    assert any("max difference inf at index (1, 0)" in p for p in report.problems), report.problems


def test_a_nan_on_every_call_is_no_difference_between_calls():
    _CALLS[0] = 0
    report = check_layer(AlwaysNaNAndNoisy(), (3, 4))
    assert not report.ok
    assert any("max difference 0.001 at index (1, 2)" in p for p in report.problems), report.problems


class Amplifier:
    """``y = gain x`` with ``gain = 2.0`` held by the layer; backward forgets the gain."""

    def __init__(self) -> None:
        self.gain = 2.0

    def forward(self, x):
        return self.gain * x

    def backward(self, e):
        return e


def test_a_factor_of_two_held_by_the_layer_is_named_in_the_hint():
    t = _tensor(check_layer(Amplifier(), (4, 3)), "input")
    assert t.failed and t.hint and "gain" in t.hint


def test_the_options_of_a_check_are_keyword_only():
    # a shape passed where an option would bind (check_layer(layer, x, (4, 3))) must not become the mode
    with pytest.raises(TypeError):
        check_layer(ReLU(), (4, 3), "full")


class Sequential:
    """A container of layers (``layers``, no loss): a layer, not a network."""

    def __init__(self) -> None:
        self.layers = [FullyConnected(4, 3), ReLU()]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, e):
        for layer in reversed(self.layers):
            e = layer.backward(e)
        return e


def test_a_container_of_layers_without_a_loss_is_checked_as_a_layer():
    report = assert_gradients(Sequential(), (5, 4))
    assert {"input", "layers.0.weights"} <= {t.name for t in report.tensors}


def test_the_dict_of_a_tensor_not_fully_checked_says_why():
    from tests.broken_layers import LossySwish  # a right layer whose lossy forward leaves elements unchecked

    report = check_layer(LossySwish(), np.array([[-30.5], [1.0]]))
    t = _tensor(report, "input")
    assert t.coverage_problem
    assert report.to_dict()["tensors"][0]["coverage_problem"] == t.coverage_problem


def test_the_one_line_summary_counts_only_the_other_problems():
    report = check_layer(NaNOnSecondCall(), (3, 4))
    assert len(report.problems) == 1
    assert "more problem" not in crux(report)


class BufferedFullyConnected:
    """A right ``x @ W`` that keeps its weight gradient in one buffer, written in place by each backward
    (``np.matmul(..., out=)``), as code that avoids allocations does."""

    def __init__(self) -> None:
        self.weights = np.random.default_rng(3).standard_normal((4, 3))
        self.gradient_weights = np.zeros((4, 3))

    def forward(self, x):
        self.x = x
        return x @ self.weights

    def backward(self, e):
        np.matmul(self.x.T, e, out=self.gradient_weights)
        return e @ self.weights.T


def test_a_gradient_buffer_written_in_place_is_read_when_backward_returns():
    # the check's later backwards (at moved parameters) write new values into the same buffer: the gradient
    # judged at the checked point is the one backward gave there
    assert check_layer(BufferedFullyConnected(), (5, 4)).ok


class ScalesItsInputInPlace:
    """A right layer ``y = 2 x`` that computes in its input array (``x *= 2``): the network check must hand it
    its own copy of the caller's batch."""

    def forward(self, x):
        x *= 2.0
        return x

    def backward(self, e):
        return 2.0 * e


def test_a_network_check_leaves_the_callers_batch_as_it_was():
    from core import CrossEntropyLoss, NeuralNetwork, Sgd, SoftMax

    net = NeuralNetwork(Sgd(1e-3))
    net.layers = [ScalesItsInputInPlace(), FullyConnected(4, 3), SoftMax()]
    net.loss_layer = CrossEntropyLoss()
    x, labels = np.random.default_rng(1).standard_normal((5, 4)), np.eye(3)[[0, 1, 2, 0, 1]]
    before = x.copy()
    check_network(net, batch=(x, labels))
    assert np.array_equal(x, before)


class WeightGradientThroughHeldArray:
    """``x @ (W * W)`` whose weight gradient ``2 W (x.T @ e)`` takes ``W`` from the array bound at the first
    forward (held, not copied) and is written into one buffer in place: right while the weights are written
    in place, stale once an optimizer binds a new array."""

    def __init__(self) -> None:
        self.weights, self._held = np.random.default_rng(34).standard_normal((4, 3)), None
        self.gradient_weights = np.zeros((4, 3))

    def forward(self, x):
        if self._held is None:
            self._held = self.weights
        self.x = x
        return x @ (self.weights * self.weights)

    def backward(self, e):
        np.multiply(2 * self._held, self.x.T @ e, out=self.gradient_weights)
        return e @ (self.weights * self.weights).T


def test_a_stale_weight_gradient_in_a_buffer_is_told_from_the_rebound_one():
    # the gradient after the in-place move and the one after the rebinding are two readings of the same buffer:
    # each is copied when backward returns, or they would always agree
    report = check_layer(WeightGradientThroughHeldArray(), (5, 4))
    assert any(p.startswith("stale parameters") for p in report.problems), report.problems


class StatefulWithNaN:
    """Output ``2 x`` plus 1e-3 per earlier call (a counter the layer keeps), and a NaN at (0, 0) on every call:
    it carries state, and once its attributes are put back it gives the first output again, NaN included."""

    def __init__(self) -> None:
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        y = 2.0 * x + 1e-3 * self.calls
        y[0, 0] = np.nan
        return y

    def backward(self, e):
        return 2.0 * e


def test_state_carried_between_calls_is_told_from_randomness_with_a_nan_in_the_output():
    report = check_layer(StatefulWithNaN(), (3, 4))
    assert any(p.startswith("forward depends on earlier calls") for p in report.problems), report.problems


def test_a_ladder_of_one_round_takes_only_the_first_rounds_steps():
    # rounds=1 (the fast screen's) settles every estimate where it stands, undecided ones too: here |x| at its
    # kink, which a second round could tell from a bend. The steps taken are H and H/2 of round 0, none smaller
    x = np.array([0.0, 0.5, -1.0, 2.0])
    start, seen = x.copy(), []

    def readout(magnitudes, total=False, terms=False):
        seen.append(x.copy())
        return _readout(np.abs(x), np.ones_like(x), magnitudes, total, terms)

    step = 1e-3
    finite_differences(x, element_probes(x.size), readout, np.sign(x), step, float(np.finfo(float).eps),
                       confirm=False, rounds=1)
    moves = np.abs(np.array(seen) - start)
    smallest = (moves / (step * np.maximum(np.abs(start), 1.0)))[moves > 0].min()
    assert smallest >= 0.5 * (1 - 1e-9), smallest
    np.testing.assert_array_equal(x, start)


def test_a_check_stopped_before_its_numeric_pass_names_its_mode_and_claims_no_step():
    from gradcheck import default_mode
    from tests.test_gradcheck_laws import Sleeps
    for mode in (None, "fast"):
        report = check_layer(Sleeps(), (2, 2), timeout=0.5, mode=mode)
        header = str(report).splitlines()[0]
        assert report.mode == (mode or default_mode()) and f"mode {report.mode}," in header, header
        assert "no step taken" in header and "steps" not in header, header
        assert report.step == report.rtol == 0.0, (report.step, report.rtol)     # nor, in JSON, a tolerance


class HeldScale:
    """``y = c x`` for a float ``c`` the layer holds; ``wrong``: backward multiplies by ``c`` once too often."""

    def __init__(self, c: float, wrong: bool = True) -> None:
        self.c, self.wrong = c, wrong

    def forward(self, x):
        return self.c * x

    def backward(self, e):
        return self.c * (self.c if self.wrong else 1.0) * e


@pytest.mark.parametrize("c", [2.0, -2.0, 1e3, 1e-3])
def test_a_factor_that_equals_a_held_scalar_is_named_up_to_its_range_ends(c):
    # 2 and -2 are scales as much as 0.5 is (only 0 and +-1 say nothing); 1e-3 and 1e3 are the ends of the range
    report = check_layer(HeldScale(c), (3, 4))
    assert not report.ok and f"the layer holds c = {c:g}" in str(report), str(report)
    assert check_layer(HeldScale(c, wrong=False), (3, 4)).ok


def test_an_atol_at_least_half_a_tensors_gradient_is_a_problem_whatever_its_size():
    # a right layer whose gradients are below 1: atol 0.5 would pass a zero gradient there, as atol >= 1 would
    report = check_layer(HeldScale(0.1, wrong=False), (3, 4), atol=0.5)
    assert report.tensors[0].scale < 1 and not report.ok, str(report)
    assert any("atol 0.5 is at least half" in p for p in report.problems), report.problems
    assert check_layer(HeldScale(0.1, wrong=False), (3, 4), atol=1e-9).ok


def test_an_atol_is_no_problem_for_a_tensor_whose_gradient_is_zero():
    # half of a zero gradient is no bound to compare atol with: ReLU at negative inputs passes with any atol
    report = check_layer(ReLU(), -1.0 - np.random.default_rng(0).random((3, 4)), atol=1e-9)
    assert report.tensors[0].scale == 0 and report.ok and not report.problems, str(report)


def test_a_right_layer_with_a_lossy_forward_at_many_elements_has_none_called_wrong():
    # more failing elements than the few looked at coarser first: once one is seen to be a stair, all are looked at
    from tests.broken_layers import LossySwish

    report = check_layer(LossySwish(), np.linspace(-30.5, -29.5, 24).reshape(2, 12))
    t = report.tensors[0]
    assert t.failed == 0 and t.skipped_count == 24 and not report.ok, str(report)
    assert "input: 24 element(s) skipped: forward is not precise enough" in str(report), str(report)


class Slotted:
    """A holder with ``__slots__`` (no ``__dict__``, so not walked): reached only by the paths a user names."""

    __slots__ = ("W", "dW")

    def __init__(self) -> None:
        self.W = np.random.default_rng(3).standard_normal((3, 2)).astype(np.float32)
        self.dW = None


class SlottedDense:
    """``y = x W`` with ``W`` in a slotted holder (or in the first of a list of them), its gradient beside it as
    ``dW``."""

    def __init__(self, in_list: bool = False) -> None:
        self.stores = [Slotted()] if in_list else None
        self.store = self.stores[0] if in_list else Slotted()

    def forward(self, x):
        self.x = x
        return x @ self.store.W

    def backward(self, e):
        self.store.dW = self.x.T @ e
        return e @ self.store.W.T


@pytest.mark.parametrize("path", ["store", "stores.0"])
def test_a_float32_parameter_reached_by_a_named_path_is_checked_as_float64_and_put_back(path):
    layer = SlottedDense(in_list=path != "store")
    start = layer.store.W.copy()
    report = check_layer(layer, (4, 3), parameters={f"{path}.W": f"{path}.dW"})
    assert report.ok and [t.name for t in report.tensors] == ["input", f"{path}.W"], str(report)
    assert any(f"{path}.W checked as float64 copies" in w for w in report.warnings), report.warnings
    assert layer.store.W.dtype == np.float32 and np.array_equal(layer.store.W, start)


class NonFiniteOutput:
    """The identity, but for an inf at (1, 2) and a NaN at (2, 0) of its output."""

    def forward(self, x):
        y = x.copy()
        y[1, 2], y[2, 0] = np.inf, np.nan
        return y

    def backward(self, e):
        return e


def test_a_non_finite_output_names_its_first_element():
    report = check_layer(NonFiniteOutput(), (3, 4))
    assert not report.ok and "2 NaN/inf value(s) of 12" in report.problems[0], report.problems
    assert "first at index (1, 2)" in report.problems[0], report.problems


def test_the_largest_tolerance_shown_is_that_of_the_smooth_elements():
    # kinks are judged against their one-sided slopes, not a tolerance: ReLU at exact zeros shows a tiny one
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[0] = 0.0
    t = check_layer(ReLU(), x).tensors[0]
    assert t.kinks == 4 and 0 < t.max_tolerance < 1e-3, (t.kinks, t.max_tolerance)


class _Sqrt32:
    """sqrt computed in float32, refusing negative inputs, as a layer that checks its domain does;
    ``factor`` scales its input gradient (1: right)."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def forward(self, x):
        if (x < 0).any():
            raise ValueError("negative input")
        self.y = np.sqrt(x.astype(np.float32))
        return self.y

    def backward(self, e):
        return (self.factor * e / (2 * self.y)).astype(np.float32)


def test_a_float32_layer_whose_domain_ends_within_one_value_of_the_input_is_checked():
    """Below float64 the rounding an estimate carries is found by moving each element by its whole value; where
    that move leaves forward's domain, every output counts toward the rounding (as in float64), and the check
    goes on: the right layer passes, one 1 % off fails (float32 resolves about 1e-3 here)."""
    x = np.random.default_rng(0).uniform(0.5, 2.0, (4, 3)).astype(np.float32)
    right = check_layer(_Sqrt32(), x)
    assert right.ok and right.precision == "float32", str(right)
    wrong = check_layer(_Sqrt32(1.01), x)
    assert not wrong.ok and wrong.tensors[0].failed > 0, str(wrong)
