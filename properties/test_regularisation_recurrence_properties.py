"""Laws of BatchNormalization, Dropout, the regularizers and the recurrent layers."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from core import LSTM, RNN, BatchNormalization, Dropout, L1Regularizer, L2Regularizer
from gradcheck import check_function
from gradcheck.strategies import arrays
from properties.strategies import SEEDS

EPS = 1e-10
IMAGES_OR_VECTORS = st.one_of(
    st.tuples(st.integers(2, 12), st.integers(1, 4)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
).flatmap(arrays)


def _per_channel(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 2 else np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


@given(IMAGES_OR_VECTORS)
def test_batch_norm_training_output_has_mean_0_and_variance_1_per_channel(x):
    """With gamma = 1 and beta = 0; a channel whose variance is not far above eps keeps var / (var + eps).

    The mean is 0 up to rounding: ``x - mean`` carries the mean's rounding, up to (n + 2) eps max|x| for n
    rows, and normalising multiplies it by 1 / sqrt(var + eps), 1e5 for a constant channel (a constant channel
    of 682.77 gave 1.1e-8: one ulp of 682.77 times 1e5)."""
    y = _per_channel(BatchNormalization(x.shape[1]).forward(x))
    xc = _per_channel(x)
    var = xc.var(axis=0)
    rounding = (len(xc) + 2) * np.finfo(float).eps * np.abs(xc).max(axis=0) / np.sqrt(var + EPS)
    assert (np.abs(y.mean(axis=0)) <= np.maximum(1e-9, rounding)).all()
    np.testing.assert_allclose(y.var(axis=0), var / (var + EPS), rtol=1e-6, atol=1e-12)


@given(IMAGES_OR_VECTORS, SEEDS, st.floats(-2, 2))
def test_batch_norm_testing_phase_is_deterministic_and_affine_per_channel(x, seed, a):
    rng = np.random.default_rng(seed)
    layer = BatchNormalization(x.shape[1])
    layer.weights, layer.bias = rng.standard_normal(x.shape[1]), rng.standard_normal(x.shape[1])
    for _ in range(3):
        layer.forward(rng.standard_normal(x.shape) * 2 + 1)
    layer.testing_phase = True
    x2 = rng.standard_normal(x.shape)
    y1, y2 = layer.forward(x), layer.forward(x2)
    np.testing.assert_array_equal(layer.forward(x), y1)
    mixed = layer.forward(a * x + (1 - a) * x2)          # an affine map keeps affine combinations
    scale = 1.0 + np.abs(a * y1).max() + np.abs((1 - a) * y2).max()
    np.testing.assert_allclose(mixed, a * y1 + (1 - a) * y2, rtol=0, atol=1e-9 * scale)


@given(st.floats(0.05, 1.0), SEEDS)
def test_dropout_keeps_about_p_preserves_the_expectation_and_is_the_identity_in_testing(p, seed):
    np.random.seed(seed % 2**32)
    n = 20000
    x = np.full((4, n // 4), 3.0)
    y = Dropout(p).forward(x)
    kept = np.count_nonzero(y) / n
    assert abs(kept - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1 / n          # five binomial standard deviations
    assert abs(y.mean() - 3.0) <= 3.0 * 5 * np.sqrt((1 - p) / (p * n)) + 1e-12
    layer = Dropout(p)
    layer.testing_phase = True
    np.testing.assert_array_equal(layer.forward(x), x)


@given(st.sampled_from([RNN, LSTM]), st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), SEEDS)
def test_a_sequence_equals_its_steps_carried_one_at_a_time(cls, steps, n_in, hidden, seed):
    """memorize=True over single steps gives the output of one forward over the whole sequence."""
    x = np.random.default_rng(seed).standard_normal((steps, n_in))
    whole, stepwise = cls(n_in, hidden, 2, seed), cls(n_in, hidden, 2, seed)
    stepwise.memorize = True
    expected = whole.forward(x)
    np.testing.assert_allclose(np.vstack([stepwise.forward(x[t:t + 1]) for t in range(steps)]), expected,
                               rtol=1e-12, atol=1e-14)


@given(arrays(st.tuples(st.integers(1, 4), st.integers(1, 4))), st.floats(1e-3, 10))
def test_regularizer_gradients_are_the_gradients_of_their_norms(w, alpha):
    """Checked by the checker itself: L1's gradient is d norm/dw (a subgradient at 0, where the checker sees a
    kink); the exercise's L2 pairs norm alpha*sum(w^2) with gradient alpha*w, half of d norm/dw."""
    for regularizer, factor in ((L1Regularizer(alpha), 1.0), (L2Regularizer(alpha), 2.0)):
        def norm(weights, reg=regularizer):
            return np.array(reg.norm(weights)), weights

        def gradient(dout, weights, reg=regularizer, k=factor):
            return dout * k * reg.calculate_gradient(weights)

        report = check_function(norm, gradient, w)
        assert report.ok, str(report)
