"""The checker is sound (correct layers pass) and sensitive (broken variants fail) over the whole domain.

No ``assume`` and no bounds keep hypothesis away from the checker's hard cases (inputs at and beside kinks,
exact zero probabilities, saturated logits); where a bug is invisible to any finite difference, the law says
so explicitly (an oracle decides whether the wrong gradient differs enough to be seen).
"""
import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
from gradcheck import check_layer, check_loss
from gradcheck.strategies import batches
from properties.strategies import (
    BATCH,
    CHECKER_INPUTS,
    EXTREME,
    KINKED_MATRICES,
    MATRICES,
    SEEDS,
    WIDTH,
    logits_with_row_scales,
    matrices,
    predictions_and_labels,
)
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
LOGITS = st.one_of(CHECKER_INPUTS, MATRICES, matrices(EXTREME), logits_with_row_scales())


def _fc(cls, n_in, n_out, seed):
    return cls(n_in, n_out, np.random.default_rng(seed))


def _no_wrong_element(report) -> bool:
    """Nothing called wrong and no problem; a tensor may still fail for what could not be checked."""
    return not report.problems and all(t.failed == 0 for t in report.tensors)


@given(st.tuples(WIDTH, WIDTH).flatmap(lambda s: st.tuples(st.just(s[1]), batches(s[0]))), SEEDS, MODES)
def test_fully_connected_passes(case, seed, mode):
    n_out, x = case
    report = check_layer(_fc(FullyConnected, x.shape[1], n_out, seed), x, mode=mode, seed=seed % 1000)
    assert report.ok, str(report)


@given(KINKED_MATRICES, MODES)
def test_relu_passes_even_at_kinks(x, mode):
    report = check_layer(ReLU(), x, mode=mode)
    assert report.ok, str(report)


@given(LOGITS, MODES)
def test_softmax_passes(x, mode):
    report = check_layer(SoftMax(), x, mode=mode)
    assert report.ok, str(report)


@given(predictions_and_labels(), MODES)
def test_cross_entropy_is_never_called_wrong(case, mode):
    """Exact zeros are outside the domain one step down: skipped, and a fail only when most are."""
    p, y = case
    report = check_loss(CrossEntropyLoss(), p, y, mode=mode)
    assert _no_wrong_element(report), str(report)
    assert report.ok == (report.tensors[0].coverage_problem is None)


@given(FC_SHAPES, SEEDS, st.sampled_from([MissingBiasGradient, SignFlippedInput, ScaleError1e5]), MODES)
def test_broken_fully_connected_is_flagged(shape, seed, cls, mode):
    batch, n_in, n_out = shape
    report = check_layer(_fc(cls, n_in, n_out, seed), (batch, n_in), mode=mode, seed=seed % 1000)
    assert not report.ok


@given(KINKED_MATRICES, MODES)
def test_unmasked_relu_is_flagged_wherever_the_step_can_see_it(x, mode):
    """Below -h/2 no step reaches the kink: each such element is a failure. Within h/2 below it, an
    element fails or is counted as a kink (only 'between the one-sided slopes' is certified there)."""
    report = check_layer(UnmaskedReLU(), x, mode=mode)
    h = report.step * np.maximum(np.abs(x), 1.0)
    t = report.tensors[0]
    assert t.failed >= int((x < -0.51 * h).sum()), str(report)
    assert t.failed + t.kinks >= int((x < 0).sum()), str(report)
    assert report.ok == (t.failed == 0)


def _offdiagonal_weight(x: np.ndarray) -> float:
    """The largest off-diagonal entry |y_i y_j| of any row's softmax Jacobian (an independent loop)."""
    largest = 0.0
    for row in x:
        z = np.exp(row - row.max())
        y = z / z.sum()
        for i in range(len(y)):
            for j in range(len(y)):
                if i != j:
                    largest = max(largest, y[i] * y[j])
    return largest


@given(LOGITS, MODES)
def test_diagonal_softmax_is_flagged_when_the_off_diagonal_terms_matter(x, mode):
    """One class, or rows saturated to one-hot, leave no off-diagonal term: the diagonal is all of it."""
    if _offdiagonal_weight(x) > 1e-4:
        report = check_layer(DiagonalSoftMax(), x, mode=mode)
        assert not report.ok and report.tensors[0].failed, str(report)


@given(predictions_and_labels(), MODES)
# found by the stress profile: an error of 4.5e15 against a tolerance of 0 overflowed in the order of the worst
@example(case=(np.array([[1.0, 2.21822782e-16]]), np.array([[1.0, 0.0]])), mode="full")
def test_label_blind_loss_is_flagged_where_a_label_is_zero(case, mode):
    """-1/p instead of -y/p is wrong exactly where y = 0 and p can be moved both ways."""
    p, y = case
    report = check_loss(LabelBlindLoss(), p, y, mode=mode)
    assert report.tensors[0].failed >= int(((y == 0) & (p > report.step)).sum()), str(report)
    assert report.ok == (report.tensors[0].failed == 0 and report.tensors[0].coverage_problem is None)
