"""The fuzzer finds bugs that only appear at special arguments or inputs, shrinks them, and is quiet otherwise."""
import json

import numpy as np
import pytest
from hypothesis import strategies as st

from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
from gradcheck import GradientCheckError
from gradcheck.cli import main
from gradcheck.fuzz import assert_fuzz, fuzz_layer, fuzz_loss, layer_builder, loss_builder
from gradcheck.strategies import arrays, batches
from tests.broken_layers import CORRECT, FUZZ, LabelBlindLoss, WindowSumSymmetricPadding, _windows


@pytest.mark.parametrize("name", list(FUZZ))
def test_the_fuzzer_finds_and_shrinks_each_special_case_bug(name):
    build, correct, minimal = FUZZ[name]
    result = fuzz_layer(build)
    assert not result.ok and any(minimal(r) for r in [result] + result.others), str(result)
    assert "minimal failing example" in str(result) and result.examples > 1
    assert fuzz_layer(correct).ok


def test_the_even_kernel_bug_comes_with_its_cause():
    from gradcheck import check_layer
    from tests.broken_layers import WindowSumSymmetricPadding

    for kernel in (2, 4):
        assert "moved by one place along axis 1" in str(check_layer(WindowSumSymmetricPadding(kernel), (3, 7)))
    assert check_layer(WindowSumSymmetricPadding(3), (3, 7)).ok


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_quiet_on_core(mode):
    def fully_connected(draw):
        n_in = draw(st.integers(1, 6))
        return FullyConnected(n_in, draw(st.integers(1, 6)), draw(st.integers(0, 99))), draw(batches(n_in, 8))

    for build in [fully_connected, layer_builder(ReLU, 5, 8), layer_builder(SoftMax, 4, 8)]:
        result = fuzz_layer(build, mode=mode)
        assert result.ok, str(result)
    assert fuzz_loss(loss_builder(CrossEntropyLoss, 3, 8), mode=mode).ok


@pytest.mark.parametrize("name", list(CORRECT))
def test_quiet_on_the_correct_layer_list(name):
    factory, shape = CORRECT[name]
    shape = shape if isinstance(shape, tuple) else shape.shape
    result = fuzz_layer(lambda draw: (factory(), draw(arrays(shape))), max_examples=50)
    assert result.ok, str(result)


def test_a_search_is_deterministic_for_a_seed():
    build = FUZZ["batch centring with a shortcut for a batch of one"][0]
    first, again, other = fuzz_layer(build, seed=3), fuzz_layer(build, seed=3), fuzz_layer(build, seed=4)
    assert first.examples == again.examples and np.array_equal(first.input, again.input)
    assert not other.ok


def test_result_fields_when_everything_passes():
    result = fuzz_layer(layer_builder(ReLU, 3, 4), max_examples=20)
    assert result.ok and result.report.ok and isinstance(result.layer, ReLU)
    assert result.input.shape[1] == 3 and len(result.draws) == 1 and result.examples >= 20
    assert "no failure found" in str(result)


def test_a_layer_that_raises_on_some_input_is_a_finding():
    class RaisesOnLargeInput(ReLU):
        def forward(self, input_tensor):
            if np.abs(input_tensor).max() > 100:
                raise KeyError("too large")
            return super().forward(input_tensor)

    result = fuzz_layer(layer_builder(RaisesOnLargeInput, 2, 4))
    # the simplest input is 100 itself: the first step up leaves forward's range
    assert not result.ok and result.error.startswith("KeyError") and np.abs(result.input).max() >= 100


def test_assert_fuzz_raises_with_the_minimal_example():
    with pytest.raises(GradientCheckError) as info:
        assert_fuzz(FUZZ["window sum, padding right for odd kernels only"][0])
    text = str(info.value)
    assert text.startswith("WindowSumSymmetricPadding(2): wrong gradient of input")
    assert "minimal failing example" in text.splitlines()[1]
    with pytest.raises(GradientCheckError, match="LabelBlindLoss"):
        assert_fuzz(loss_builder(LabelBlindLoss, 3, 4), loss=True)
    assert assert_fuzz(layer_builder(ReLU, 2, 3), max_examples=10).ok


def test_fuzz_from_the_command(capsys):
    assert main(["tests.broken_layers:CenterOverBatchShortcut", "--features", "3", "--fuzz", "50"]) == 1
    out = capsys.readouterr().out
    assert "fuzz tests.broken_layers:CenterOverBatchShortcut(), input (1-8, 3)" in out
    assert "minimal failing example" in out and "input: shape (1, 3)" in out
    assert main(["core:SoftMax", "--shape", "4,5", "--fuzz", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["checks"][0]["fuzz"]["examples"] >= 30
    assert main(["core:ReLU", "--features", "3", "--fuzz", "0"]) == 2


def test_each_distinct_failure_gets_its_own_minimal_example():
    from tests.broken_layers import WindowSumTwoBugs

    result = fuzz_layer(_windows(WindowSumTwoBugs))
    kinds = sorted([result.error or "wrong"] + [o.error or "wrong" for o in result.others])
    assert not result.ok and len(result.others) == 1, str(result)
    assert kinds[0].startswith("IndexError") and kinds[1] == "wrong", kinds
    both = [result] + result.others
    raised = next(r for r in both if r.error)
    wrong = next(r for r in both if not r.error)
    assert raised.draws[0] == 3 and raised.input.shape[0] == 1
    assert wrong.draws[0] == 2 and wrong.input.shape[0] == 1      # the smallest even kernel, one row
    text = str(result)
    assert text.startswith("fuzz: 2 distinct failures") and "raised IndexError" in text and "2 element(s) wrong" in text
    assert "ExceptionGroup" not in text


def test_the_time_budget_ends_the_search_and_says_so():
    import time

    class Slow(WindowSumSymmetricPadding):
        def forward(self, input_tensor):
            time.sleep(0.02)
            return super().forward(input_tensor)

    start = time.perf_counter()
    result = fuzz_layer(_windows(Slow), max_seconds=1.0)
    assert time.perf_counter() - start < 10, "a budget of 1 s, plus the example running when it ended"
    assert result.budget_ended and "the time budget ended" in str(result)
    assert not result.ok        # whatever was found before the budget ended is kept


def test_a_search_on_a_small_convolution_ends_quickly_and_reaches_kernel_one():
    """Kernels 1-5, strides 1-3, 1-D and 2-D: the bias bug fails everywhere, so the minimal kernel is 1."""
    from hypothesis import strategies as st

    from gradcheck.strategies import batches
    from tests.broken_layers import BiasScaledConv

    def build(draw):
        spatial = draw(st.integers(1, 2))
        kernel = tuple(draw(st.integers(1, 5)) for _ in range(spatial))
        stride = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
        channels = draw(st.integers(1, 2))
        size = tuple(draw(st.integers(1, 6)) for _ in range(spatial))
        return BiasScaledConv(stride, (channels, *kernel), draw(st.integers(1, 3)), 0), \
            draw(batches((channels, *size), 3))

    result = fuzz_layer(build)
    assert not result.ok and result.seconds < 30 and not result.budget_ended, str(result)
    assert result.draws[:3] == [1, 1, 1], result.draws       # 1-D, kernel 1, stride 1


def test_every_line_of_a_search_stopped_by_time_is_true(monkeypatch, capsys):
    """Issue 29: where hypothesis's own shrinking limit runs out (our budget sets it), hypothesis would print
    that it "spent more than five minutes" shrinking; the result says instead that the time budget ended the
    shrinking. Its limit at 0 is what 30 s of shrinking reaches."""
    from hypothesis.internal.conjecture import engine

    from gradcheck.fuzz import fuzz_layer, layer_builder
    from tests.broken_layers import MissingBiasGradient

    monkeypatch.setattr(engine, "MAX_SHRINKING_SECONDS", 0)
    result = fuzz_layer(layer_builder(lambda: MissingBiasGradient(8, 3), (8,), 6), max_examples=20)
    printed = capsys.readouterr()
    assert "five minutes" not in printed.out + printed.err
    assert not result.ok and "the time budget ended the shrinking" in str(result)
