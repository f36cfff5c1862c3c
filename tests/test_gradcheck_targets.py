"""Issue 18: every way people hold parameters, inputs and outputs.

Each test here failed on the checker before it: a wrong layer passed, a correct one failed, or the check
crashed. The layers are in tests/broken_layers.py.
"""
import numpy as np
import pytest

from core import Dropout, Embedding, FullyConnected, ReLU
from gradcheck import check_layer, check_network
from gradcheck.cli import main
from tests.broken_layers import (
    CachedTranspose,
    ClipReadsOutput,
    DictParams,
    DropoutMissingScale,
    GeneratorDropout,
    ListParams,
    MaxPairsCopiesTies,
    NaNInGradient,
    ReusedOutputBuffer,
    ScatterEmbedding,
    SingleWrongElement,
    StepwiseRNN,
    _tied_pairs,
)

MODES = ["full", "fast"]

# ------------------------------------------------------------------------------ parameters as paths


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layer_class, names", [(DictParams, ["params.W", "params.b"]),
                                                (ListParams, ["params.0", "params.1"])])
def test_parameters_in_containers_are_paired_with_the_gradient_container(layer_class, names, mode):
    right = check_layer(layer_class(), (5, 4), mode=mode)
    assert right.ok and [t.name for t in right.tensors] == ["input"] + names, str(right)
    wrong = check_layer(layer_class(wrong=True), (5, 4), mode=mode)
    assert not wrong.ok, str(wrong)
    assert [t.name for t in wrong.tensors if not t.ok] == [names[0] if layer_class is DictParams else names[1]]


def test_a_path_selects_one_entry_and_an_exclusion_leaves_one_out():
    report = check_layer(DictParams(wrong=True), (5, 4), parameters=["params.b"])
    assert report.ok and [t.name for t in report.tensors] == ["input", "params.b"]
    assert any("params.W: left out by parameters=" in w for w in report.warnings), report.warnings
    report = check_layer(DictParams(wrong=True), (5, 4), parameters=["!params.W"])
    assert report.ok and [t.name for t in report.tensors] == ["input", "params.b"]
    report = check_layer(DictParams(), (5, 4), parameters=["params.C"])
    assert not report.ok and "'params.C' named by the caller is missing" in report.problems[0]


def test_an_array_the_outer_layer_exposes_is_checked_once_under_its_name_against_its_gradient():
    """fc_h runs once per step; its weights are the RNN's ``weights``, whose gradient is the sum over steps.
    fc_y runs per step too, and keeps only one step in its own gradient attribute."""
    right = check_layer(StepwiseRNN(), (5, 3), parameters=["!fc_y"])
    assert right.ok and [t.name for t in right.tensors] == ["input", "weights"], str(right)
    # the inner path selects the same array, still checked under the outer name
    inner = check_layer(StepwiseRNN(), (5, 3), parameters=["fc_h.weights"])
    assert inner.ok and [t.name for t in inner.tensors] == ["input", "weights"], str(inner)
    wrong = check_layer(StepwiseRNN(wrong_sum=True), (5, 3), parameters=["!fc_y"])
    assert not wrong.ok and [t.name for t in wrong.tensors if not t.ok] == ["weights"], str(wrong)


def test_a_sub_layer_run_per_step_is_named_in_the_hint_and_its_sum_can_be_paired():
    report = check_layer(StepwiseRNN(), (5, 3))
    failing = [t for t in report.tensors if not t.ok]
    assert [t.name for t in failing] == ["fc_y.weights"]
    assert "fc_y ran 5 times in one forward" in failing[0].hint and "'!fc_y'" in failing[0].hint
    assert not failing[0].hint.endswith("None"), failing[0].hint        # the note alone where no hint was
    paired = check_layer(StepwiseRNN(), (5, 3), parameters={"weights": "gradient_weights",
                                                           "fc_y.weights": "_output_gradient"})
    assert paired.ok and [t.name for t in paired.tensors] == ["input", "weights", "fc_y.weights"], str(paired)


def test_float_arrays_without_any_gradient_are_not_a_pass():
    class Unpaired:
        def __init__(self):
            self.W = np.random.default_rng(0).standard_normal((4, 3))

        def forward(self, x):
            self.x = x
            return x @ self.W

        def backward(self, e):
            self.W_gradient = self.x.T @ e * 3.0        # a name the checker does not know: wrong, and unseen
            return e @ self.W.T

    report = check_layer(Unpaired(), (5, 4))
    assert not report.ok and "W (4, 3) looks like a parameter" in report.problems[0], str(report)
    assert check_layer(Unpaired(), (5, 4), parameters=[]).ok      # "it has none": the input alone
    assert not check_layer(Unpaired(), (5, 4), parameters={"W": "W_gradient"}).ok


def test_the_command_takes_parameter_paths(tmp_path, monkeypatch, capsys):
    module = tmp_path / "rnn_layers.py"
    module.write_text("from tests.broken_layers import StepwiseRNN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3"]) == 1
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3", "--parameters", "!fc_y"]) == 0
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3", "--parameters", "weights,fc_y.weights"]) == 1
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3", "--parameters", "a b"]) == 2
    capsys.readouterr()


# ------------------------------------------------------------------------------ outputs, inputs, state


def test_a_reused_output_buffer_is_harmless_and_a_random_one_is_not_deterministic():
    assert check_layer(ReusedOutputBuffer(), (6, 5)).ok
    report = check_layer(ReusedOutputBuffer(noisy=True), (6, 5))
    assert not report.ok and "not deterministic" in str(report) and "state leaks" not in str(report), str(report)


@pytest.mark.parametrize("value, said", [
    (lambda x: (2 * x, {"x": x}), "a tuple of 2 (ndarray(5, 4), dict)"),
    (lambda x: [x, x[:, :2]], "a list of 2 (ndarray(5, 4), ndarray(5, 2))"),
    (lambda x: x.astype(object), "an array of dtype object"),
    (lambda x: np.array(["a"] * len(x)), "an array of dtype <U1"),
    (lambda x: None, "a NoneType")])
def test_a_forward_that_does_not_return_one_float_array_gets_a_type_error_saying_what_came_back(value, said):
    class Odd:
        def forward(self, x):
            return value(x)

        def backward(self, e):
            return e

    with pytest.raises(TypeError, match="expected one float ndarray") as info:
        check_layer(Odd(), (5, 4))
    assert said in str(info.value)


def test_a_list_of_integers_is_neither_a_shape_nor_data():
    with pytest.raises(TypeError, match=r"give a shape as a tuple \(8, 5\)"):
        check_layer(ReLU(), [8, 5])


@pytest.mark.parametrize("mode", MODES)
def test_integer_inputs_are_not_perturbed_and_the_parameters_are_checked(mode):
    idx = np.array([[1, 9], [0, 3], [9, 9]])            # 9 three times: a scatter that drops repeats fails
    right = check_layer(Embedding(10, 4, 0), idx, mode=mode)
    assert right.ok and [t.name for t in right.tensors] == ["weights"], str(right)
    assert not check_layer(ScatterEmbedding(), idx, mode=mode).ok
    leaking = check_layer(ScatterEmbedding(accumulate=True), idx, mode=mode)
    assert not leaking.ok and "state leaks" in str(leaking)
    booleans = check_layer(Dropout(0.5), np.ones((4, 3), dtype=bool), reseed=0, mode=mode)
    assert not any("input" == t.name for t in booleans.tensors)


def test_a_generator_the_layer_holds_is_put_back():
    layer = GeneratorDropout()
    before = layer.rng.bit_generator.state
    check_layer(layer, (4, 3))
    assert layer.rng.bit_generator.state == before
    legacy = GeneratorDropout()
    legacy.rng = np.random.RandomState(0)
    state = legacy.rng.get_state()[1].copy()
    check_layer(legacy, (4, 3))
    assert np.array_equal(legacy.rng.get_state()[1], state)


def test_the_caller_write_changes_sign_and_size_of_every_output_value():
    """min(x, 1) returning its input itself; the values lie in (-1, 1), where -2y - 1 keeps them below 1."""
    x = np.clip(0.3 * np.random.default_rng(0).standard_normal((5, 4)), -0.9, 0.9)
    report = check_layer(ClipReadsOutput(), x)
    assert not report.ok and any("writing into the output changed the gradient" in p for p in report.problems)


@pytest.mark.parametrize("mode", MODES)
def test_a_weight_cache_that_does_not_follow_a_new_array_fails(mode):
    report = check_layer(CachedTranspose(), (5, 4), mode=mode)
    assert not report.ok and any(p.startswith("stale parameters: with weights bound to new arrays")
                                 for p in report.problems), str(report)
    assert check_layer(CachedTranspose(refresh=True), (5, 4), mode=mode).ok


def test_the_stale_parameter_test_puts_every_array_back():
    layer = CachedTranspose(refresh=True)
    weights, values = layer.weights, layer.weights.copy()
    check_layer(layer, (5, 4))
    assert layer.weights is weights and np.array_equal(layer.weights, values)


# ------------------------------------------------------------------------------ hints that fit


def test_one_wrong_element_is_not_a_constant_factor():
    hint = check_layer(SingleWrongElement(4, 3), (6, 4)).tensors[1].hint
    assert "single element" in hint and "constant factor" not in hint and "everywhere" not in hint


def test_a_missing_one_over_p_is_named_after_the_layer_s_probability():
    hint = check_layer(DropoutMissingScale(0.5), (5, 4), reseed=0).tensors[0].hint
    assert "the layer holds probability = 0.5" in hint and "1/p" in hint and "square" not in hint, hint


def test_an_infinite_gradient_gets_its_own_hint():
    report = check_layer(NaNInGradient(np.inf, (1, 2)), (4, 3))
    hint = report.tensors[0].hint
    assert "inf at 1 element(s), first at index (1, 2)" in hint and "indexing" not in hint, str(report)


def test_the_worst_elements_are_listed_once_each():
    report = check_layer(MaxPairsCopiesTies(), _tied_pairs())
    indices = [w.index for w in report.tensors[0].worst]
    assert not report.ok and len(indices) == len(set(indices)), indices


def test_the_command_draws_integer_inputs(tmp_path, monkeypatch, capsys):
    module = tmp_path / "lookups.py"
    module.write_text("from tests.broken_layers import ScatterEmbedding\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["core:Embedding", "--args", "10", "4", "--shape", "3,5", "--indices", "10"]) == 0
    assert main(["core:Embedding", "--args", "10", "4", "--shape", "3,5", "--indices", "10", "--fuzz", "10"]) == 0
    assert main(["lookups:ScatterEmbedding", "--shape", "3,5", "--indices", "10"]) == 1   # repeats in 15 draws
    assert main(["core:Embedding", "--args", "10", "4", "--shape", "3,5", "--indices", "0"]) == 2
    capsys.readouterr()


def test_a_network_check_selects_parameters_by_path():
    from core import CrossEntropyLoss, FullyConnected, IrisData, NeuralNetwork, Sgd, SoftMax

    net = NeuralNetwork(Sgd(1e-3))
    net.data_layer, net.loss_layer = IrisData(50), CrossEntropyLoss()
    for layer in (FullyConnected(4, 3, 0), ReLU(), FullyConnected(3, 3, 1), SoftMax()):
        net.append_layer(layer)
    assert [t.name for t in check_network(net, parameters=["layers.0"]).tensors] == ["layers.0.weights"]
    assert [t.name for t in check_network(net, parameters=["!layers.0"]).tensors] == ["layers.2.weights"]


def test_generators_in_a_container_are_put_back_too():
    layer = GeneratorDropout()
    layer.streams = {"mask": layer.rng}
    layer.rng = None

    def forward(x, layer=layer):
        if layer.mask is None:
            layer.mask = (layer.streams["mask"].random(x.shape) < 0.5) * 2.0
        layer.streams["mask"].random()          # advances the stream on every call
        return x * layer.mask
    layer.forward = forward
    before = layer.streams["mask"].bit_generator.state
    check_layer(layer, (4, 3))
    assert layer.streams["mask"].bit_generator.state == before


def test_forward_s_own_arrays_are_caches_and_held_arrays_parameters():
    """Issue 29: an attribute made by forward and bound anew by every forward (``self.inputs = inputs``) is a
    cache, not a parameter paired with ``dinputs``; weights held before the check stay parameters even when
    forward rebinds them, and weights made on the first forward are parameters too."""
    from gradcheck import check_layer
    from tests.broken_layers import CachingDense, LazyWeights, RebindsWeights

    assert [t.name for t in check_layer(CachingDense(), (6, 4)).tensors] == ["input", "weights", "biases"]
    assert [t.name for t in check_layer(LazyWeights(), (5, 4)).tensors] == ["input", "weights"]
    rebound = check_layer(RebindsWeights(), (5, 4))
    assert "weights" in [t.name for t in rebound.tensors] and not rebound.ok


def test_integers_given_to_a_layer_that_computes_with_numbers_are_not_a_silent_pass(capsys):
    """Issue 29: integers are taken as indices and not differentiated. Given to a layer that multiplies its
    input (the same values as floats give the same output), the check cannot pass without a word: the
    input gradient was not checked. An embedding, which refuses float indices, still passes."""
    from core import Embedding, FullyConnected
    from gradcheck import check_layer
    from gradcheck.cli import main

    report = check_layer(FullyConnected(5, 3), np.arange(40).reshape(8, 5))
    assert not report.ok and [t.name for t in report.tensors] == ["weights"]
    assert any("input holds integers (int64)" in p and "NOT checked" in p and "astype(float)" in p
               for p in report.problems), report.problems
    assert check_layer(FullyConnected(5, 3), np.arange(40.0).reshape(8, 5)).ok
    assert check_layer(Embedding(10, 4), np.arange(15).reshape(3, 5) % 10).ok
    assert main(["core:FullyConnected", "--args", "5", "3", "--shape", "8,5", "--indices", "10"]) == 1
    assert "input holds integers" in capsys.readouterr().out


class NestedParams:
    """``params = [{"W": W}]`` (a list of per-block dicts) with its gradient beside it as ``grads = [{"dW": dW}]``
    (the gradient named d + the parameter's key, at the same depth); ``wrong`` halves it."""

    def __init__(self, wrong: bool = False) -> None:
        self.params = [{"W": np.random.default_rng(34).standard_normal((4, 3))}]
        self.wrong = wrong

    def forward(self, x):
        self.x = x
        return x @ self.params[0]["W"]

    def backward(self, e):
        self.grads = [{"dW": (0.5 if self.wrong else 1.0) * (self.x.T @ e)}]
        return e @ self.params[0]["W"].T


def test_a_nested_container_parameter_is_paired_with_the_d_named_gradient_at_the_same_depth():
    right = check_layer(NestedParams(), (5, 4))
    assert right.ok and [t.name for t in right.tensors] == ["input", "params.0.W"], str(right)
    assert not right.warnings, right.warnings
    wrong = check_layer(NestedParams(wrong=True), (5, 4))
    assert [t.name for t in wrong.tensors if not t.ok] == ["params.0.W"], str(wrong)


class HoldsBuffersAndAScale:
    """``x @ W * s``: ``W`` has its gradient; ``running_mean`` and ``mask`` are buffers by name, never
    parameters; ``scale`` is trainable-looking (a float array set before forward, no gradient)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(35)
        self.weights, self.scale = rng.standard_normal((4, 3)), np.full(3, 2.0)
        self.running_mean, self.mask = np.zeros(3), np.ones(3)

    def forward(self, x):
        self.x = x
        return x @ self.weights * self.scale

    def backward(self, e):
        self.gradient_weights = self.x.T @ (e * self.scale)
        return (e * self.scale) @ self.weights.T


def test_only_an_array_that_looks_trainable_and_has_no_gradient_is_warned_about():
    assert not check_layer(FullyConnected(4, 3), (5, 4)).warnings
    report = check_layer(HoldsBuffersAndAScale(), (5, 4))
    assert report.ok and [t.name for t in report.tensors] == ["input", "weights"], str(report)
    (warning,) = [w for w in report.warnings if "looks like a parameter" in w]
    assert warning.startswith("scale (3,) looks like a parameter"), warning
    assert "weights" not in warning and "running_mean" not in warning and "mask" not in warning
