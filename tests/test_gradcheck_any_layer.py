"""Layers people write next: sub-layers, N-D inputs, phases, seeded randomness, functional pairs."""
import numpy as np
import pytest

from core import FullyConnected, ReLU, Sgd
from gradcheck import check_function, check_layer
from tests.broken_layers import HeldInAnObject, MissingBiasGradient, RunningSum
from tests.user_layers import (
    Conv2D,
    PhaseDropout,
    Sequential,
    TwoLayerPerceptron,
    affine_backward,
    affine_backward_wrong_db,
    affine_forward,
    tanh_backward,
    tanh_forward,
)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_sub_layers_in_attributes_are_checked_and_a_shared_one_once(mode):
    report = check_layer(TwoLayerPerceptron(), (6, 4), mode=mode)
    assert report.ok and [t.name for t in report.tensors] == ["input", "hidden.weights", "out.weights"]
    report = check_layer(TwoLayerPerceptron(bug=True), (6, 4), mode=mode)
    assert [t.name for t in report.tensors if not t.ok] == ["out.weights"]
    assert "bias row" in str(report)


def test_sub_layers_in_lists_get_dotted_names_and_the_blame():
    report = check_layer(Sequential(FullyConnected(4, 5, 0), ReLU(), MissingBiasGradient(5, 3, 1)), (6, 4))
    assert [t.name for t in report.tensors] == ["input", "layers.0.weights", "layers.2.weights"]
    assert [t.name for t in report.tensors if not t.ok] == ["layers.2.weights"]
    nested = Sequential(Sequential(FullyConnected(4, 4, 2)), {"head": FullyConnected(4, 2, 3)})
    nested.forward = lambda x: nested.layers[1]["head"].forward(nested.layers[0].forward(x))
    nested.backward = lambda e: nested.layers[0].backward(nested.layers[1]["head"].backward(e))
    assert [t.name for t in check_layer(nested, (3, 4)).tensors] == \
        ["input", "layers.0.layers.0.weights", "layers.1.head.weights"]


@pytest.mark.parametrize("where", ["attribute", "float32", "dict"])
def test_parameters_held_in_a_plain_object_are_checked(where):
    # a PASS must mean every parameter was checked: one held by a helper object is a parameter too
    kwargs = {"dtype": np.float32} if where == "float32" else {"in_dict": True} if where == "dict" else {}
    name = "params.parameters.W" if where == "dict" else "params.weights"
    right, layer = check_layer(HeldInAnObject(**kwargs), (4, 3)), HeldInAnObject(wrong=True, **kwargs)
    start = layer._w().copy()
    wrong = check_layer(layer, (4, 3))
    assert right.ok and [t.name for t in right.tensors] == ["input", name], str(right)
    assert [t.name for t in wrong.tensors if not t.ok] == [name], str(wrong)
    assert layer._w().dtype == start.dtype and np.array_equal(layer._w(), start)


def test_sub_layer_optimizers_are_detached_and_put_back():
    mlp = TwoLayerPerceptron()
    mlp.hidden.optimizer, mlp.out.optimizer = Sgd(1.0), Sgd(1.0)
    optimizers, weights = (mlp.hidden.optimizer, mlp.out.optimizer), mlp.hidden.weights.copy()
    assert check_layer(mlp, (6, 4)).ok
    assert (mlp.hidden.optimizer, mlp.out.optimizer) == optimizers
    np.testing.assert_array_equal(mlp.hidden.weights, weights)


def test_a_4d_convolution():
    report = check_layer(Conv2D(3, 2, 2, 3), (2, 3, 5, 6))
    assert report.ok and [(t.name, t.shape) for t in report.tensors] == \
        [("input", (2, 3, 5, 6)), ("weights", (2, 3, 2, 3)), ("bias", (2,))]
    assert report.tensors[0].method == "columns"      # batch rows of a convolution are independent
    wrong = check_layer(Conv2D(3, 2, 2, 3, flipped_bias=True), (2, 3, 5, 6))
    assert [t.name for t in wrong.tensors if not t.ok] == ["bias"] and "sign is flipped" in str(wrong)


def test_a_phase_dependent_layer_in_either_phase():
    layer = PhaseDropout()
    layer.testing_phase = True
    assert check_layer(layer, (4, 3)).ok and layer.testing_phase is True
    layer.testing_phase = False
    assert "forward is not deterministic" in str(check_layer(layer, (4, 3)))
    assert check_layer(layer, (4, 3), reseed=0).ok


def test_before_forward_runs_before_every_forward():
    calls = {"hook": 0, "forward": 0}

    class Counting(ReLU):
        def forward(self, input_tensor):
            calls["forward"] += 1
            return super().forward(input_tensor)

    check_layer(Counting(), (4, 3), before_forward=lambda: calls.__setitem__("hook", calls["hook"] + 1))
    assert calls["hook"] == calls["forward"] > 0


def test_a_memorising_layer_is_reported_with_how_to_switch_it_off():
    text = str(check_layer(RunningSum(), (4, 3)))
    assert "forward depends on earlier calls (it has memorize=True)" in text and "memorize=False" in text
    assert "wrong" not in text


def test_functional_pairs_named_from_the_signature():
    report = check_function(affine_forward, affine_backward, (6, 4), (4, 3), (3,))
    assert report.ok and [t.name for t in report.tensors] == ["x", "w", "b"]
    report = check_function(affine_forward, affine_backward_wrong_db, (6, 4), (4, 3), (3,), mode="fast")
    assert [t.name for t in report.tensors if not t.ok] == ["b"] and "mean instead of sum" in str(report)


def test_functional_pairs_of_any_rank_and_arity():
    assert check_function(tanh_forward, tanh_backward, (2, 3, 4, 5)).ok

    def mix(*arrays):
        return sum(a * (i + 1) for i, a in enumerate(arrays)), len(arrays)

    def mix_backward(dout, n):
        return tuple(dout * (i + 1) for i in range(n))

    report = check_function(mix, mix_backward, (3, 2), (3, 2), (3, 2))
    assert report.ok and [t.name for t in report.tensors] == ["arg0", "arg1", "arg2"]


def test_functional_pair_mistakes_are_named():
    with pytest.raises(TypeError, match=r"forward must return \(out, cache\)"):
        check_function(lambda x: np.tanh(x), tanh_backward, (3, 2))
    report = check_function(affine_forward, lambda dout, cache: affine_backward(dout, cache)[:2], (6, 4), (4, 3),
                            (3,))
    assert "one gradient per input (x, w, b), got 2 values" in str(report)
    with pytest.raises(TypeError, match="forward takes 3 positional"):
        check_function(affine_forward, affine_backward, (6, 4), (4, 3), (3,), (1,))


class _AffineDGrads:
    """``params["W"]``, ``params["b"]`` with their gradients keyed ``grads["dW"]``, ``grads["db"]`` (a common
    variant of CS231n's layout); ``wrong``: the weight gradient 1 % off."""

    def __init__(self, wrong: bool = False) -> None:
        rng = np.random.default_rng(0)
        self.params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, e):
        self.grads = {"dW": self.x.T @ e * (1.01 if self.wrong else 1.0), "db": e.sum(axis=0)}
        return e @ self.params["W"].T


def test_a_gradient_container_keyed_dw_pairs_with_its_parameters():
    right = check_layer(_AffineDGrads(), (5, 4))
    assert right.ok and [t.name for t in right.tensors] == ["input", "params.W", "params.b"], str(right)
    wrong = check_layer(_AffineDGrads(wrong=True), (5, 4))
    assert [t.name for t in wrong.tensors if not t.ok] == ["params.W"], str(wrong)
