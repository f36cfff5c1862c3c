"""Laws of the checks made at moved parameters (an optimizer step rebinds or rewrites them) and of the hint for
a sub-layer run per step.

A value derived from the parameters once (a transposed copy, a view of the first array) is wrong only after
an update. The check moves the parameters twice, in place and as new arrays, and judges the gradients there:
each layer below is correct at its first point and wrong after one step, in one way; each has a fault the
check must name, whatever else the layer does (a tensor without a gradient, a parameter held in a tuple).
"""
import numpy as np

from gradcheck import check_layer
from tests.broken_layers import StepwiseRNN, TransposeCopiedOnce, _StepFC


class TransposeViewForBackward:
    """``x @ W`` with forward on the live weights and backward through ``W.T`` taken once as a view: written
    in place, the view follows; bound to a new array, backward keeps the old one, forward does not."""

    def __init__(self) -> None:
        self.weights, self._wt = np.random.default_rng(30).standard_normal((4, 3)), None

    def forward(self, x):
        if self._wt is None:
            self._wt = self.weights.T
        self.x = x
        return x @ self.weights

    def backward(self, e):
        self.gradient_weights = self.x.T @ e
        return e @ self._wt


class SquaredWeights:
    """``x @ (W * W)`` (a positive weight by parametrisation); the weight gradient ``2 W (x.T @ e)`` takes ``W``
    from a copy made on the first forward, the input gradient uses the live weights: only the weight gradient
    is wrong after a step."""

    def __init__(self) -> None:
        self.weights, self._first = np.random.default_rng(31).standard_normal((4, 3)), None

    def forward(self, x):
        if self._first is None:
            self._first = self.weights.copy()
        self.x = x
        return x @ (self.weights * self.weights)

    def backward(self, e):
        self.gradient_weights = 2 * self._first * (self.x.T @ e)
        return e @ (self.weights * self.weights).T


class GradientKeyedByFirstArray:
    """A correct ``x @ W + b`` whose weight gradient lives in a registry under the id of the array ``weights``
    was at construction: after an optimizer binds a new array, ``gradient_weights`` finds nothing."""

    def __init__(self) -> None:
        rng = np.random.default_rng(33)
        self.weights, self.bias = rng.standard_normal((4, 3)), rng.standard_normal(3)
        self._key, self._grads = id(self.weights), {}

    def forward(self, x):
        self.x = x
        return x @ self.weights + self.bias

    def backward(self, e):
        self._grads[self._key], self.gradient_bias = self.x.T @ e, e.sum(axis=0)
        return e @ self.weights.T

    @property
    def gradient_weights(self):
        return self._grads.get(id(self.weights))


class CopiedOnceBiasGradientMissing(TransposeCopiedOnce):
    """The stale ``W.T`` copy, and a bias whose gradient is never set: two faults, both to be named."""

    def backward(self, e):
        out = super().backward(e)
        self.gradient_bias = None
        return out


class CopiedOnceTupleHeldBias:
    """The stale ``W.T`` copy beside a bias held in a tuple (``params = (b,)``, ``grads = (db,)``), which
    cannot be rebound as an optimizer would."""

    def __init__(self) -> None:
        rng = np.random.default_rng(32)
        self.weights, self.params, self._wt = rng.standard_normal((4, 3)), (rng.standard_normal(3),), None

    def forward(self, x):
        if self._wt is None:
            self._wt = self.weights.T.copy()
        self.x = x
        return x @ self.weights + self.params[0]

    def backward(self, e):
        self.gradient_weights, self.grads = self.x.T @ e, (e.sum(axis=0),)
        return e @ self._wt


def _problem(report, start: str) -> str:
    found = [p for p in report.problems if p.startswith(start)]
    assert len(found) == 1, str(report)
    return found[0]


def test_a_view_only_backward_reads_is_stale_in_the_gradients_not_in_the_output():
    report = check_layer(TransposeViewForBackward(), (5, 4))
    assert "the gradients backward gave differed" in _problem(report, "stale parameters: with weights bound")


def test_a_copy_made_once_is_named_with_every_moved_parameter_and_only_the_attribute_that_holds_it():
    problem = _problem(check_layer(TransposeCopiedOnce(once=True), (5, 4)), "stale values")
    assert "with weights, bias moved to new values" in problem
    assert "_wt holds the earlier values of weights" in problem
    assert "x holds" not in problem and "holds the earlier values of bias" not in problem


def test_a_stale_value_in_the_parameter_gradient_alone_is_found():
    problem = _problem(check_layer(SquaredWeights(), (5, 4)), "stale values")
    assert "the gradient of weights disagrees" in problem


def test_a_gradient_lost_when_the_parameter_is_rebound_is_stale():
    report = check_layer(GradientKeyedByFirstArray(), (5, 4))
    assert "the gradients backward gave differed" in _problem(report, "stale parameters: with weights, bias")


def test_a_tensor_without_a_gradient_does_not_hide_another_fault():
    report = check_layer(CopiedOnceBiasGradientMissing(once=True), (5, 4))
    assert "the gradient of input disagrees" in _problem(report, "stale values")


def test_a_parameter_held_in_a_tuple_does_not_hide_the_others_faults():
    report = check_layer(CopiedOnceTupleHeldBias(), (5, 4))
    assert [t.name for t in report.tensors] == ["input", "weights", "params.0"], str(report)
    assert "the gradient of input disagrees" in _problem(report, "stale values: with weights moved")


# ------------------------------------------------------------------------------ a sub-layer run per step


class KeywordStepwiseRNN(StepwiseRNN):
    """StepwiseRNN calling its sub-layers' forward by keyword (``fc_y.forward(x=h)``)."""

    def forward(self, x):
        h, self.steps, out = np.zeros((1, self.hidden)), [], []
        for t in range(len(x)):
            joined = np.hstack([x[t:t + 1], h])
            h = np.tanh(self.fc_h.forward(x=joined))
            self.steps.append((joined, h))
            out.append(self.fc_y.forward(x=h))
        return np.vstack(out)


class _SlotStepFC:
    """_StepFC without a ``__dict__``: its forward cannot be wrapped on the instance."""

    __slots__ = ("weights", "x", "gradient_weights")
    forward, backward = _StepFC.forward, _StepFC.backward


def test_a_sub_layer_called_by_keyword_is_counted_like_one_called_by_position():
    failing = [t for t in check_layer(KeywordStepwiseRNN(), (5, 3)).tensors if not t.ok]
    assert [t.name for t in failing] == ["fc_y.weights"]
    assert "fc_y ran 5 times in one forward" in failing[0].hint


def test_a_sub_layer_without_a_dict_beside_one_run_per_step_leaves_the_hint_intact():
    layer = StepwiseRNN()
    slots = _SlotStepFC()
    slots.weights = layer.fc_h.weights
    layer.fc_h = slots                      # its weights are the layer's own ``weights`` (a property)
    report = check_layer(layer, (5, 3))
    failing = [t for t in report.tensors if not t.ok]
    assert [t.name for t in failing] == ["fc_y.weights"], str(report)
    assert "fc_y ran 5 times in one forward" in failing[0].hint
    assert any("fc_h has no __dict__" in w for w in report.warnings), report.warnings


def test_a_sub_layer_run_twice_is_named_as_one_run_many_times():
    # the fewest runs that make a last-call gradient differ from the sum: two steps
    failing = [t for t in check_layer(StepwiseRNN(), (2, 3)).tensors if not t.ok]
    assert [t.name for t in failing] == ["fc_y.weights"]
    assert "fc_y ran 2 times in one forward" in failing[0].hint
