"""No false alarms: correct layers pass in both modes, including the awkward cases."""
import numpy as np
import pytest

from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
from core.train import build_network
from gradcheck import assert_gradients, check_layer
from tests.broken_layers import CORRECT, BatchCentering, Float32Only, LayerNorm, RowMax, Tanh, big_weights_fc


def _normal(shape, seed, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


# every case builds its own layer and input from fixed seeds: no test depends on another's draws
CASES = {
    "FullyConnected(4, 3) batch 8": (lambda: FullyConnected(4, 3, 1), (8, 4)),
    "FullyConnected(1, 1) batch 1": (lambda: FullyConnected(1, 1, 2), (1, 1)),
    "FullyConnected(13, 7) batch 1": (lambda: FullyConnected(13, 7, 3), (1, 13)),
    "FullyConnected weights ~1e3": (lambda: big_weights_fc(4), (6, 5)),
    "FullyConnected large inputs": (lambda: FullyConnected(3, 2, 5), _normal((4, 3), 5, 1e3)),
    "FullyConnected float32 weights": (lambda: FullyConnected(6, 4, 6, dtype=np.float32), (3, 6)),
    "ReLU": (ReLU, (7, 5)),
    "ReLU batch 1 width 1": (ReLU, (1, 1)),
    "SoftMax": (SoftMax, (6, 5)),
    "SoftMax saturated logits": (SoftMax, _normal((6, 5), 7, 100)),
    "SoftMax one class": (SoftMax, (4, 1)),
    "Tanh": (Tanh, (6, 5)),
    "Tanh saturated": (Tanh, _normal((6, 5), 8, 20)),
    "BatchCentering (rows not independent)": (BatchCentering, (5, 3)),
    "CrossEntropyLoss": (CrossEntropyLoss, (8, 3)),
    "CrossEntropyLoss batch 1": (CrossEntropyLoss, (1, 4)),
    **CORRECT,      # the correct twins of the zoo's bug classes
}


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("name", list(CASES))
def test_correct_layer_passes(name, mode):
    factory, inputs = CASES[name]
    for seed in range(3):
        assert_gradients(factory(), inputs, mode=mode, seed=seed)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("dataset, kw", [("iris", {}), ("digits", {"hidden": 8, "batch_size": 4})])
def test_networks_pass(dataset, kw, mode):
    assert_gradients(build_network(dataset, seed=1, **kw), mode=mode)


def test_relu_exactly_at_zero_is_a_counted_kink_not_a_failure():
    x = _normal((6, 4), 9)
    x[::2, 1] = 0.0
    x[1, 3] = 1e-7                       # within the step of the kink too
    report = assert_gradients(ReLU(), x)
    assert report.tensors[0].kinks >= 3


def test_max_ties_are_kinks():
    x = _normal((6, 4), 10)
    x[:, 2] = x.max(axis=1)              # every row has a tie for the max
    report = assert_gradients(RowMax(), x)
    assert report.tensors[0].kinks >= 6


def test_rows_independence_is_checked_not_assumed():
    assert check_layer(FullyConnected(3, 2), (4, 3)).tensors[0].method == "columns"
    assert check_layer(BatchCentering(), (4, 3)).tensors[0].method == "elements"


def test_float32_only_layer_is_checked_at_float32_precision_and_says_so():
    report = assert_gradients(Float32Only(), (5, 4))
    assert report.precision == "float32" and report.step > 1e-3 and report.rtol == 1e-6
    assert any("float32" in w and "step widened" in w for w in report.warnings), report.warnings
    assert "(float32, mode full" in str(report)


def test_float32_weights_are_promoted_and_say_so():
    layer = FullyConnected(6, 4, dtype=np.float32)
    report = assert_gradients(layer, (3, 6))
    assert report.rtol == 1e-6
    assert any("weights checked as float64" in w for w in report.warnings)
    assert layer.weights.dtype == np.float32


def _counting(cls):
    calls = []

    class Counting(cls):
        def forward(self, input_tensor):
            calls.append(1)
            return super().forward(input_tensor)
    return Counting, calls


def test_full_mode_counts_forward_calls_per_feature_column_not_per_element():
    counting, calls = _counting(ReLU)
    report = check_layer(counting(), (64, 5))
    # a piecewise-linear layer away from its kinks settles at +-h: 2 evaluations per column (+1 at the base),
    # 2 per bit of the batch index to prove the rows independent (6 bits for 64), and a fixed number for the
    # set-up checks (determinism, hygiene, the analytic passes)
    assert report.tensors[0].evaluations == 2 * 5 + 1
    assert len(calls) <= 2 * 5 + 1 + 2 * 6 + 12
    calls.clear()
    check_layer(counting(), (64, 50), mode="fast")
    # 2 evaluations per direction: 2 * 3200^(1/3) ~ 30 directions, not 3200 elements or 50 columns
    assert len(calls) <= 2 * 30 + 1 + 2 * 6 + 12


def test_full_mode_needs_at_most_two_and_a_half_forwards_per_group():
    """+-h settles an affine layer; +-h/2 is added only where the first look is not conclusive."""
    counting, calls = _counting(FullyConnected)
    report = check_layer(counting(16, 8, 0), (8, 16))
    groups = 16 + 17 * 8                     # input columns (rows independent) + weight elements
    assert sum(t.evaluations for t in report.tensors) <= 2.5 * groups
    assert report.ok
    # curvature: +-h settles it too when the gap it implies is far below the tolerance (issue 17)
    for cls, shape in ((SoftMax, (4, 6)), (Tanh, (8, 5)), (LayerNorm, (4, 6))):
        tensor = check_layer(cls(), shape).tensors[0]
        groups = shape[1] if tensor.method == "columns" else shape[0] * shape[1]
        assert tensor.ok and tensor.evaluations <= 2.5 * groups + 1, (cls, tensor)


def test_wrong_mode_and_inputs():
    with pytest.raises(ValueError, match="mode"):
        check_layer(ReLU(), (2, 2), mode="slow")
    with pytest.raises(ValueError, match="finite"):
        check_layer(ReLU(), np.array([[np.nan]]))
    with pytest.raises(TypeError, match="numeric"):
        check_layer(ReLU(), np.array([["a"]]))


class PlainAffine:
    """A user's layer written without core: plain attributes, no base class, bias as a separate tensor."""

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.weights = rng.standard_normal((n_in, n_out))
        self.bias = rng.standard_normal(n_out)
        self.gradient_weights = self.gradient_bias = None

    def forward(self, x):
        self.x = x
        return np.tanh(x @ self.weights + self.bias)

    def backward(self, e):
        d = e * (1 - np.tanh(self.x @ self.weights + self.bias) ** 2)
        self.gradient_weights, self.gradient_bias = self.x.T @ d, d.sum(axis=0)
        return d @ self.weights.T


def test_any_object_with_the_protocol_is_checked_including_a_separate_bias():
    report = assert_gradients(PlainAffine(4, 3), (5, 4))
    assert [t.name for t in report.tensors] == ["input", "weights", "bias"]

    class NoBiasGradient(PlainAffine):
        def backward(self, e):
            grad = super().backward(e)
            self.gradient_bias = np.zeros_like(self.gradient_bias)
            return grad

    report = check_layer(NoBiasGradient(4, 3), (5, 4))
    assert [t.name for t in report.tensors if not t.ok] == ["bias"]
