"""The checker is sound (correct layers pass) and sensitive (broken variants fail) for any drawn shape."""
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
from gradcheck import check_layer, check_loss
from properties.strategies import BATCH, KINKED_MATRICES, MATRICES, SEEDS, WIDTH, matrices, predictions_and_labels
from tests.broken_layers import (
    DiagonalSoftMax,
    LabelBlindLoss,
    MissingBiasGradient,
    ScaleError1e5,
    SignFlippedInput,
    UnmaskedReLU,
)

MODES = st.sampled_from(["full", "fast"])
FC_SHAPES = st.tuples(BATCH, WIDTH, WIDTH)
MODERATE_LOGITS = matrices(st.floats(-5, 5))


def _fc(cls, n_in, n_out, seed):
    return cls(n_in, n_out, np.random.default_rng(seed))


@given(FC_SHAPES, SEEDS, MODES)
def test_fully_connected_passes(shape, seed, mode):
    batch, n_in, n_out = shape
    report = check_layer(_fc(FullyConnected, n_in, n_out, seed), (batch, n_in), mode=mode, seed=seed % 1000)
    assert report.ok, str(report)


@given(KINKED_MATRICES, MODES)
def test_relu_passes_even_at_kinks(x, mode):
    report = check_layer(ReLU(), x, mode=mode)
    assert report.ok, str(report)


@given(MATRICES, MODES)
def test_softmax_passes(x, mode):
    report = check_layer(SoftMax(), x, mode=mode)
    assert report.ok, str(report)


@given(predictions_and_labels(allow_zero=False), MODES)
def test_cross_entropy_passes(case, mode):
    p, y = case
    report = check_loss(CrossEntropyLoss(), p, y, mode=mode)
    assert report.ok, str(report)


@given(FC_SHAPES, SEEDS, st.sampled_from([MissingBiasGradient, SignFlippedInput, ScaleError1e5]), MODES)
def test_broken_fully_connected_is_flagged(shape, seed, cls, mode):
    batch, n_in, n_out = shape
    report = check_layer(_fc(cls, n_in, n_out, seed), (batch, n_in), mode=mode, seed=seed % 1000)
    assert not report.ok


@given(KINKED_MATRICES, MODES)
def test_unmasked_relu_is_flagged_when_any_input_is_negative(x, mode):
    assume((x < -1e-3).any())       # with no clearly negative input the unmasked backward is right
    assert not check_layer(UnmaskedReLU(), x, mode=mode).ok


@given(MODERATE_LOGITS, MODES)
def test_diagonal_softmax_is_flagged_with_two_or_more_classes(x, mode):
    assume(x.shape[1] >= 2)         # one class: the Jacobian is 1x1, its diagonal is all of it
    assert not check_layer(DiagonalSoftMax(), x, mode=mode).ok


@given(predictions_and_labels(allow_zero=False), MODES)
def test_label_blind_loss_is_flagged_with_two_or_more_classes(case, mode):
    p, y = case
    assume(p.shape[1] >= 2)
    assert not check_loss(LabelBlindLoss(), p, y, mode=mode).ok
