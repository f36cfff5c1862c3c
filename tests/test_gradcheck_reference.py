"""check_against: a layer held to a reference, its forward as well as its backward.

The zoo (tests/reference_layers.py) holds wrong forwards with exact backwards: a gradient check passes them, a
reference check does not; their correct twins pass both."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import strategies as st

import core
from gradcheck import GradientCheckError, assert_matches, check_against, check_layer
from gradcheck.fuzz import fuzz_against
from gradcheck.strategies import batches
from tests import reference_layers
from tests.reference_layers import ZOO, PaddedConv1D, RowSoftMax

HINTS = {"a convolution's kernel flipped": "reversed along axis 2",
         "same padding off by one for an even kernel": "moved by one place along axis 2",
         "the end padded with the last value, not zeros": "only the last position along axis 2 differs",
         "the last pooling window dropped": "one position fewer along axis 2, 3",
         "softmax over the batch axis": None,
         "batch norm with the unbiased variance": "variance divided by n - 1"}


@pytest.mark.parametrize("name", list(ZOO))
def test_a_wrong_forward_with_its_exact_backward_passes_a_gradient_check_and_fails_against_its_reference(name):
    wrong, right, reference, shape = ZOO[name]
    assert check_layer(wrong(), shape).ok and check_layer(right(), shape).ok
    report = check_against(wrong(), reference(), shape)
    assert not report.ok, str(report)
    if HINTS[name]:
        assert HINTS[name] in str(report), str(report)
    assert check_against(right(), reference(), shape).ok, str(check_against(right(), reference(), shape))


def test_the_hints_read_both_ways_and_at_a_batch_of_one():
    # the reference may be the one off by one: the shift is the other way round, and still named
    for layer, reference in ((PaddedConv1D(2, 4, 3), core.Conv(1, (2, 4), 3)),
                             (core.Conv(1, (2, 4), 3), PaddedConv1D(2, 4, 3))):
        output = check_against(layer, reference, (2, 2, 7)).tensors[0]
        assert "moved by one place along axis 2" in (output.hint or ""), output.hint
    # a constant factor at a batch of one, where no variance has an n - 1
    report = check_against(Doubled(), lambda x: x, (1, 4))
    assert "equals 2 x the reference's everywhere: a constant factor" in str(report), str(report)
    report = check_against(Doubled(), lambda x: -2 * x, (3, 4))
    assert "equals -1 x the reference's everywhere: the sign is flipped" in str(report), str(report)
    # a reference check takes no step: it claims nothing of the ladder
    for tensor in check_against(Doubled(), Doubled(), (3, 4)).to_dict()["tensors"]:
        assert tensor["one_sided"] == tensor["refined"] == tensor["kinks"] == tensor["evaluations"] == 0, tensor


def test_a_layer_reversed_along_an_axis_of_two_is_named():
    # the shortest axis a reversal can show on: two positions swapped
    report = check_against(Reversed(), lambda x: x, (3, 2))
    assert "the reference's reversed along axis 1" in (report.tensors[0].hint or ""), str(report)


def test_atol_and_rtol_widen_the_tolerance_of_a_reference_check():
    # every output off by 5e-4 of itself (1e-3 to 2e-3, for outputs 2 to 4): outside the default tolerance,
    # inside atol=2e-3, and inside rtol=1e-3
    shifted = lambda x: 2 * x + 5e-4 * np.abs(2 * x)       # noqa: E731 - a reference function
    x = np.random.default_rng(0).uniform(1.0, 2.0, (3, 4))
    assert not check_against(Doubled(), shifted, x).ok
    assert check_against(Doubled(), shifted, x, atol=2e-3).tensors[0].ok
    # the input gradient against the function's finite differences takes the same rtol: all of it passes
    assert check_against(Doubled(), shifted, x, rtol=1e-3).ok


def test_the_phase_is_set_on_the_layer_too():
    # dropout in its testing phase is the identity; in training it draws a mask, which no reference matches
    assert check_against(core.Dropout(0.5), lambda x: x, (4, 5), phase="test").ok


def test_the_phase_is_set_before_the_layer_first_runs():
    # a layer that, like torch's batch norm, refuses a batch of one in training: in its testing phase it is
    # the identity (running statistics 0 and 1), and a batch of one is fine, from the very first forward
    assert check_against(TrainingNeedsABatch(), lambda x: x, (1, 3), phase="test").ok


class TrainingNeedsABatch:
    testing_phase = False

    def forward(self, x):
        if not self.testing_phase and len(x) < 2:
            raise ValueError("expected more than 1 value per channel when training")
        return x if self.testing_phase else (x - x.mean(axis=0)) / x.std(axis=0)

    def backward(self, e):
        if self.testing_phase:
            return e
        raise NotImplementedError("only the testing phase is used here")


def test_a_shift_along_an_axis_of_three_is_named():
    report = check_against(Rolled(), lambda x: x, (2, 3))
    assert "moved by one place along axis 1" in (report.tensors[0].hint or ""), str(report)


def test_one_position_more_or_fewer_is_named_both_ways():
    fewer = check_against(LastDropped(), lambda x: x, (2, 5))
    more = check_against(core.ReLU(), lambda x: np.maximum(x, 0)[:, :-1], (2, 5))
    assert "one position fewer along axis 1" in str(fewer), str(fewer)
    assert "one position more along axis 1" in str(more), str(more)


def test_only_the_last_position_along_axis_one_is_named():
    report = check_against(LastColumnDoubled(), lambda x: x, (3, 4))
    assert "only the last position along axis 1 differs" in (report.tensors[0].hint or ""), str(report)


def test_the_variance_hint_reads_both_ways():
    from tests.reference_layers import VarianceBatchNorm

    for layer, reference in ((VarianceBatchNorm(3), VarianceBatchNorm(3, wrong=False)),
                             (VarianceBatchNorm(3, wrong=False), VarianceBatchNorm(3))):
        report = check_against(layer, reference, (6, 3))
        assert "for the batch n = 6" in str(report), str(report)


def test_a_phase_asked_of_a_layer_without_one_is_warned_about_and_only_then():
    without = check_against(Doubled(), Doubled(), (3, 4), phase="test")
    assert any("has no testing_phase attribute" in w for w in without.warnings), without.warnings
    with_phase = check_against(core.Dropout(0.5), lambda x: x, (3, 4), phase="test")
    assert not any("testing_phase" in w for w in with_phase.warnings), with_phase.warnings


def test_assert_matches_passes_its_settings_on():
    shifted = lambda x: 2 * x * (1 + 5e-4)      # noqa: E731 - a reference function
    with pytest.raises(GradientCheckError):
        assert_matches(Doubled(), shifted, (3, 4))
    assert assert_matches(Doubled(), shifted, (3, 4), rtol=1e-3).ok


class LastColumnDoubled:
    """``y = x``, its last column doubled."""

    def forward(self, x):
        y = x.copy()
        y[:, -1] *= 2
        return y

    def backward(self, e):
        g = e.copy()
        g[:, -1] *= 2
        return g


class Rolled:
    """``y[:, i] = x[:, i + 1]``, cyclically."""

    def forward(self, x):
        return np.roll(x, -1, axis=1)

    def backward(self, e):
        return np.roll(e, 1, axis=1)


class LastDropped:
    """``y = x`` without its last column."""

    def forward(self, x):
        self.width = x.shape[1]
        return x[:, :-1].copy()

    def backward(self, e):
        return np.concatenate([e, np.zeros((len(e), 1))], axis=1)


class Reversed:
    """``y = x`` with its last axis reversed."""

    def forward(self, x):
        return x[:, ::-1].copy()

    def backward(self, e):
        return e[:, ::-1].copy()


class Doubled:
    """``y = 2 x``."""

    def forward(self, x):
        return 2 * x

    def backward(self, e):
        return 2 * e


class NoInputGradient(Doubled):
    def backward(self, e):
        return None


def test_a_side_without_an_input_gradient_is_named():
    report = check_against(NoInputGradient(), Doubled(), (3, 4))
    assert not report.ok and any("input gradient: the layer gives none" in p for p in report.problems), \
        report.problems


class Affine:
    """CS231n's convention: ``y = x W + b`` with ``W`` (in, out) and ``b`` (out,) in ``params``/``grads``."""

    def __init__(self, n_in: int, n_out: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {"W": rng.standard_normal((n_in, n_out)), "b": rng.standard_normal(n_out)}
        self.grads = {}

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, e):
        self.grads = {"W": self.x.T @ e, "b": e.sum(axis=0)}
        return e @ self.params["W"].T


class OutInLinear:
    """torch's convention in numpy: ``y = x weight^T + bias`` with ``weight`` (out, in)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        self.weight, self.bias = np.zeros((n_out, n_in)), np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.weight.T + self.bias

    def backward(self, e):
        self.gradient_weight, self.gradient_bias = e.T @ self.x, e.sum(axis=0)
        return e @ self.weight


def test_core_fully_connected_agrees_with_itself_and_with_other_layouts_of_the_same_map():
    report = check_against(core.FullyConnected(4, 3), core.FullyConnected(4, 3), (5, 4))
    assert report.ok and [t.name for t in report.tensors] == ["output", "input", "weights"], str(report)
    # the bias row of core's weights split off for a (out, in) weight and a bias
    report = check_against(core.FullyConnected(4, 3), OutInLinear(4, 3), (5, 4))
    assert report.ok and "weight <- weights[:-1].T, bias <- weights[-1]" in report.against, str(report)
    # a square weight fits as it is and transposed: the layout is the one under which the outputs agree
    report = check_against(Affine(4, 4), OutInLinear(4, 4), (5, 4))
    assert report.ok and "weight <- params.W.T, bias <- params.b" in report.against, str(report)
    report = check_against(Affine(4, 3), core.FullyConnected(4, 3), (5, 4))
    assert not report.ok and "carry-over" in report.problems[0], str(report)      # two tensors into one: mapping=


@pytest.mark.parametrize("layer, reference, n_in", [(lambda: core.FullyConnected(1, 2), lambda: OutInLinear(1, 2), 1),
                                                    (lambda: Affine(3, 3), lambda: OutInLinear(3, 3), 3)],
                         ids=["bias-row-or-column", "square"])
def test_an_input_that_cannot_tell_layouts_apart_does_not_choose_the_layout(layer, reference, n_in):
    # found by the search against torch: at x = 0 every layout gives the bias; core's (2, 2) weights of
    # FullyConnected(1, 2) split as rows or as columns, a square W as it is or transposed
    for x in (np.zeros((2, n_in)), (2, n_in)):
        report = check_against(layer(), reference(), x)
        assert report.ok, str(report)


class KernelLastConv1D(reference_layers._Conv1D):
    """A 1-D convolution whose kernel is stored (kernel, channels, kernels), as channels-last code keeps it."""

    def __init__(self, channels: int, kernel: int, kernels: int) -> None:
        super().__init__(channels, kernel, kernels)
        self.weights = np.ascontiguousarray(self.weights.transpose(2, 1, 0))

    def _kernel(self) -> np.ndarray:
        return self.weights.transpose(2, 1, 0)

    def _unkernel(self, grad: np.ndarray) -> np.ndarray:
        return grad.transpose(2, 1, 0)


def test_a_kernel_in_another_axis_order_is_carried_over_with_its_axes_permuted():
    layer = KernelLastConv1D(2, 3, 4)
    assert check_layer(layer, (2, 2, 7)).ok
    report = check_against(layer, core.Conv(1, (2, 3), 4), (2, 2, 7))
    assert report.ok and "weights <- weights.transpose(2, 1, 0)" in report.against, str(report)


def test_a_mapping_carries_what_the_automatic_carry_over_cannot_and_must_only_rearrange():
    join = lambda p: {"weights": np.concatenate([p["params.W"], p["params.b"][None]])}     # noqa: E731
    report = check_against(Affine(4, 3), core.FullyConnected(4, 3), (5, 4), mapping=join)
    assert report.ok and [t.name for t in report.tensors] == ["output", "input", "params.W", "params.b"], str(report)
    # a wrong bias gradient is found through the mapping, on the layer's own tensor
    broken = Affine(4, 3)
    broken.backward = lambda e: (Affine.backward(broken, e), broken.grads.update(b=2 * e.sum(axis=0)))[0]
    report = check_against(broken, core.FullyConnected(4, 3), (5, 4), mapping=join)
    assert [t.name for t in report.tensors if not t.ok] == ["params.b"], str(report)
    scaled = lambda p: {"weights": 2 * np.concatenate([p["params.W"], p["params.b"][None]])}   # noqa: E731
    report = check_against(Affine(4, 3), core.FullyConnected(4, 3), (5, 4), mapping=scaled)
    assert not report.ok and "may only select, reorder" in report.problems[0], report.problems
    ones = lambda p: {"weights": np.concatenate([p["params.W"], np.ones_like(p["params.b"])[None]])}   # noqa: E731
    report = check_against(Affine(4, 3), core.FullyConnected(4, 3), (5, 4), mapping=ones)
    assert not report.ok and "carry-over" in report.problems[0], report.problems      # only zeros stand in
    missing = lambda p: {}      # noqa: E731
    report = check_against(Affine(4, 3), core.FullyConnected(4, 3), (5, 4), mapping=missing)
    assert "missing weights" in report.problems[0] and "weights (5, 3)" in report.problems[0], report.problems


class TwoVectors:
    """``y = x * first + second`` for two vectors named as asked."""

    def __init__(self, names=("a", "c")) -> None:
        self.names = names
        for n in names:
            setattr(self, n, np.ones(3))

    def forward(self, x):
        self.x = x
        return x * getattr(self, self.names[0]) + getattr(self, self.names[1])

    def backward(self, e):
        for n, g in zip(self.names, ((e * self.x).sum(0), e.sum(0))):
            setattr(self, f"gradient_{n}", g)
        return e * getattr(self, self.names[0])


def test_a_carry_over_that_names_cannot_decide_is_a_problem_that_names_both_sides():
    report = check_against(TwoVectors(), TwoVectors(("u", "v")), (4, 3))
    assert not report.ok and "ambiguous" in report.problems[0], report.problems
    assert "a (3,), c (3,)" in report.problems[0] and "u (3,), v (3,)" in report.problems[0], report.problems
    # names decide the pairing, not behaviour: a reference whose "bias" scales and whose "weights" shifts is
    # paired by name, and its gradients differ (gamma and beta swapped is a bug, not a layout)
    swapped = check_against(TwoVectors(("weights", "bias")), TwoVectors(("bias", "weights")), (4, 3))
    assert "bias <- bias, weights <- weights" in swapped.against, swapped.against
    assert [t.name for t in swapped.tensors if not t.ok] == ["weights", "bias"], str(swapped)


def test_nothing_of_the_layer_the_reference_or_the_input_changes():
    layer, reference = core.BatchNormalization(3), core.BatchNormalization(3)
    layer.weights = np.array([1.0, 2.0, 3.0])
    reference.forward(np.random.default_rng(1).standard_normal((6, 3)))     # its moving averages exist
    before = copy.deepcopy((vars(layer), vars(reference)))
    x = np.random.default_rng(0).standard_normal((6, 3))
    x0 = x.copy()
    assert check_against(layer, reference, x).ok
    assert check_against(layer, reference, x, phase="test").ok is False       # different moving averages
    for now, then in zip((vars(layer), vars(reference)), before):
        assert set(now) == set(then)
        for key, value in then.items():
            assert np.array_equal(now[key], value) if isinstance(value, np.ndarray) else True, key
    assert np.array_equal(reference.weights, np.ones(3)) and np.array_equal(x, x0)


def test_layers_that_draw_from_numpys_random_state_are_compared_on_the_same_draws():
    # each side runs from the same numpy global random state (held puts it back), so core's Dropout in
    # training draws the same mask on both sides, and a different probability is a different layer
    assert check_against(core.Dropout(0.5), core.Dropout(0.5), (4, 5), phase="train").ok
    assert not check_against(core.Dropout(0.5), core.Dropout(0.8), (4, 5), phase="train").ok


def test_the_phase_is_set_on_the_layer_and_the_reference():
    # core's Dropout in the test phase is the identity on both sides, whatever its probability
    assert check_against(core.Dropout(0.5), core.Dropout(0.8), (4, 5), phase="test").ok
    report = check_against(RowSoftMax(wrong=False), core.SoftMax(), (4, 5), phase="test")
    assert report.ok and "no testing_phase" in " ".join(report.warnings), report.warnings


class Float32Linear:
    """core's FullyConnected's map (the bias as the last row of ``weights``) computed in float32, off by ``error``
    (relative) when asked."""

    def __init__(self, n_in: int, n_out: int, error: float = 0.0) -> None:
        self.weights = np.random.default_rng(0).uniform(size=(n_in + 1, n_out))
        self.error = error

    def forward(self, x):
        self.x32 = np.c_[x, np.ones(len(x))].astype(np.float32)
        return (self.x32 @ self.weights.astype(np.float32)) * np.float32(1 + self.error)

    def backward(self, e):
        e32 = e.astype(np.float32)
        self.gradient_weights = self.x32.T @ e32
        return (e32 @ self.weights[:-1].T.astype(np.float32)) * np.float32(1 + self.error)


def test_a_float32_layer_is_held_to_float32_rounding_and_no_more():
    report = check_against(Float32Linear(20, 8), core.FullyConnected(20, 8), (6, 20))
    assert report.ok and report.precision == "float32", str(report)
    assert report.tensors[0].max_abs_error > 0          # float32 rounding was there, and allowed
    wrong = check_against(Float32Linear(20, 8, error=1e-3), core.FullyConnected(20, 8), (6, 20))
    assert [t.name for t in wrong.tensors if not t.ok] == ["output", "input"], str(wrong)


def test_a_function_reference_holds_the_output_and_the_input_gradient():
    assert check_against(core.ReLU(), lambda x: np.maximum(x, 0), (4, 5)).ok
    softmax = lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)    # noqa: E731
    assert check_against(RowSoftMax(wrong=False), softmax, (4, 5)).ok
    report = check_against(RowSoftMax(), softmax, (4, 5))
    assert [t.name for t in report.tensors if not t.ok] == ["output", "input"], str(report)
    report = check_against(core.FullyConnected(4, 3), lambda x: x, (5, 4))
    assert not report.ok and "a function reference has none" in report.problems[0], report.problems


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="phase must be None, 'train' or 'test', got 'eval'"):
        check_against(core.ReLU(), core.ReLU(), (2, 3), phase="eval")
    with pytest.raises(TypeError, match="the reference ReLU is a class"):
        check_against(core.ReLU(), core.ReLU, (2, 3))
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        check_against(core.ReLU(), core.ReLU(), (2, 3), rtol=-1.0)
    with pytest.raises(ValueError, match="must be finite"):
        check_against(core.ReLU(), core.ReLU(), np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="a torch nn.Module or a function"):
        check_against(core.ReLU(), 3, (2, 3))


def test_assert_matches_raises_with_the_crux_first():
    with pytest.raises(GradientCheckError) as info:
        assert_matches(RowSoftMax(), core.SoftMax(), (4, 5))
    first = str(info.value).splitlines()[0]
    assert first.startswith("RowSoftMax: differs from SoftMax() in output (20 element(s))"), first
    assert assert_matches(RowSoftMax(wrong=False), core.SoftMax(), (4, 5)).ok


def _padded(wrong: bool):
    def build(draw):
        k, c = draw(st.integers(1, 4), label="kernel"), draw(st.integers(1, 2), label="channels")
        return PaddedConv1D(c, k, 2, wrong=wrong), core.Conv(1, (c, k), 2), draw(batches((c, 6), 3))
    return build


def test_a_search_over_kernel_sizes_finds_the_even_kernel_and_shrinks_to_the_smallest():
    result = fuzz_against(_padded(wrong=True), max_examples=40)
    assert not result.ok and result.draws[0] == 2 and result.draws[1] == 1, str(result)
    assert "moved by one place" in str(result.report), str(result)
    assert fuzz_against(_padded(wrong=False), max_examples=20).ok


def test_a_torch_module_is_a_reference_with_its_own_layout():
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    linear = torch.nn.Linear(4, 3)
    before = linear.weight.detach().clone()
    report = check_against(core.FullyConnected(4, 3), linear, (5, 4))
    assert report.ok and "weight <- weights[:-1].T" in report.against, str(report)
    assert torch.equal(linear.weight, before) and linear.weight.dtype == torch.float32     # copied, not changed
    report = check_against(RowSoftMax(), torch.nn.Softmax(dim=1), (4, 5))
    assert not report.ok


# ------------------------------------------------------------------------------------------ the command

def test_the_command_holds_a_layer_to_a_reference_with_its_own_arguments(capsys):
    from gradcheck.cli import main

    padded = ["tests.reference_layers:PaddedConv1D", "--shape", "2,2,7", "--reference", "core:Conv"]
    assert main([*padded, "--args", "2", "3", "3", "--reference-args", "1", "(2, 3)", "3"]) == 0     # odd kernel
    assert "against core:Conv(1, (2, 3), 3)" in capsys.readouterr().out
    assert main([*padded, "--args", "2", "4", "3", "--reference-args", "1", "(2, 4)", "3"]) == 1
    assert "moved by one place along axis 2" in capsys.readouterr().out
    assert main(["tests.reference_layers:RowSoftMax", "--features", "5", "--reference", "core:SoftMax",
                 "--reference-args", "--phase", "test"]) == 1
    assert main(["tests.reference_layers:RowSoftMax", "--args", "False", "--features", "5", "--reference",
                 "core:SoftMax", "--reference-args", "--fuzz", "10"]) == 0
    assert "fuzz tests.reference_layers:RowSoftMax(False) against core:SoftMax()" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["core:ReLU", "--features", "3", "--phase", "test"], "need --reference TARGET"),
    (["core:ReLU", "--features", "3", "--reference", "core"], "expected package.module:Class"),
    (["core:ReLU", "--features", "3", "--reference", "core:NoSuch"], "--reference: module 'core' has no attribute"),
    (["core:FullyConnected", "--args", "4", "3", "--reference", "core:Conv"], "core:Conv(4, 3) raised"),
    (["core:CrossEntropyLoss", "--features", "3", "--reference", "core:CrossEntropyLoss"], "is a loss"),
])
def test_the_commands_reference_usage_errors_exit_2(argv, message, capsys):
    from gradcheck.cli import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_command_against_a_reference_in_a_pipe_ends_with_its_check(processes):
    import subprocess
    import sys

    command = [sys.executable, "-m", "gradcheck", "tests.reference_layers:FlippedConv1D", "--args", "4", "5", "8",
               "--shape", "16,4,64", "--reference", "core:Conv", "--reference-args", "1", "(4, 5)", "8"]
    head = processes.start(["head", "-n", "3"], stdin=subprocess.PIPE)
    done = processes.run(command, timeout=120, stdout=head.stdin)
    head.stdin.close()
    out = head.stdout.read()
    head.wait(timeout=30)
    # 1 (failed) when the report fitted in the pipe before head left, else 141 (its output closed) (docs/checking.md)
    assert done.returncode in (1, 141) and "FAIL" in out and done.stderr == "", (done.returncode, out, done.stderr)
