"""The gradient handed to the optimizer: what training uses, judged where a layer has an optimizer slot.

A layer whose sub-layer runs once per time step keeps the sum over the steps somewhere of its own, or only in
the call that updates the weights (``fc_y.weights = optimizer.calculate_update(fc_y.weights, summed)``); the
sub-layer's ``gradient_weights`` holds its last step. The check installs a recording optimizer in the layer's
optimizer slots (every slot that held an optimizer; in a layer given without one, its ``optimizer``, as a
network sets it), runs one forward and backward, and reads what ``calculate_update`` received for each weight
array (a weight handed over several times, once per step: the sum). A sub-layer's weights are judged by that
gradient, in place of its gradient attribute; the layer's own are judged by their attribute (its API, what
the course's tests read), and where the gradient handed over differs from it, that is checked too, as
``weights (optimizer)``. Weights handed over that no gradient attribute pairs with are judged by it. The
recording optimizer returns the weights unchanged, so the layer is held still as with no optimizer; copies of
it (``copy.deepcopy`` for each sub-layer) record into the same log.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gradcheck.parameters import Parameter, _candidates, _hold, dotted_path
from gradcheck.state import HeldState

__all__ = ["RecordingOptimizer", "record_the_optimizer"]


class RecordingOptimizer:
    """Stands in for a layer's optimizers: records ``(weights, gradient)`` and returns the weights unchanged."""

    regularizer = None

    def __init__(self) -> None:
        self.log: list[tuple[np.ndarray, np.ndarray]] = []

    def calculate_update(self, weight_tensor, gradient_tensor):
        self.log.append((weight_tensor, np.array(gradient_tensor, dtype=np.float64, copy=True)))
        return weight_tensor

    def add_regularizer(self, regularizer) -> None:
        """Regularisers are the network's loss, not the layer's gradient: ignored here."""

    def __copy__(self) -> RecordingOptimizer:
        return self

    def __deepcopy__(self, memo: dict) -> RecordingOptimizer:
        return self

    def clear(self) -> None:
        self.log.clear()

    def handed(self, weights: np.ndarray) -> list[np.ndarray]:
        """The gradients handed over with ``weights`` (the very array) since the last forward."""
        return [g for w, g in self.log if w is weights]

    def total(self, weights: np.ndarray) -> np.ndarray | None:
        gradients = self.handed(weights)
        return np.sum(gradients, axis=0) if gradients else None


def _install(owners: Sequence[tuple[str, object]], state: HeldState, recorder: RecordingOptimizer) -> bool:
    """The recorder where the check found optimizers (and detached them), as training runs; in a layer given
    without any, in its ``optimizer`` (the exercise API, set by the network; its setter hands sub-layers their
    copies). True if any slot took it."""
    took = False
    slots = list(state.detached) or ([(owners[0][1], "optimizer", None)] if hasattr(owners[0][1], "optimizer")
                                     else [])
    for obj, name, key in slots:
        try:
            if key is None:
                if getattr(obj, name, None) is None:
                    setattr(obj, name, recorder)
                    took = True
            else:
                container = getattr(obj, name)
                if isinstance(container, tuple):
                    setattr(obj, name, tuple(recorder if k == key else v for k, v in enumerate(container)))
                elif container[key] is None:
                    container[key] = recorder
                took = True
        except Exception:  # noqa: BLE001 - a slot that refuses the recorder keeps no optimizer, as before
            continue
    return took


def record_the_optimizer(target, state: HeldState, params: list[Parameter], warnings: list[str],
                         wanted: Callable[[str], bool] = lambda label: True) -> None:
    """What the layer hands its optimizer, judged (see the module docstring): installs the recorder, runs one
    forward and backward, points a sub-layer's parameters (and weights no gradient attribute was found for) at
    it, and adds the layer's own where they differ from their attribute. Says in ``warnings`` which gradients
    are judged so where they differ from the attribute or there is none. ``wanted(label)``: what
    ``parameters=`` selects, for weights found only here."""
    if not hasattr(target, "before_each_forward"):     # a layer's optimizers (a network's are its layers')
        return
    recorder = RecordingOptimizer()
    checkpoint = state.checkpoint()
    if not _install(target.owners, state, recorder):
        checkpoint.restore()
        return
    target.before_each_forward(recorder.clear)
    try:
        target.backward_pass([])
    except Exception:  # noqa: BLE001 - the analytic pass reports a backward that raises
        recorder.clear()
    weights = list({id(w): w for w, _ in recorder.log if isinstance(w, np.ndarray)}.values())
    if not weights:
        target.before_each_forward(None)
        checkpoint.restore()
        return
    outer = target.owners[0][1]
    for w in weights:
        p = next((p for p in params if p.live is w), None)
        if p is None:
            p = _parameter_for(target.owners, state, w, wanted)
            if p is None:
                continue
            params.append(p)
            warnings.append(f"{p.label}: judged by the gradient handed to the optimizer (no gradient attribute "
                            "was found for it)")
            p.recorder = recorder
            continue
        attribute, handed, count = _attribute_gradient(p), recorder.total(w), len(recorder.handed(w))
        same = attribute is not None and attribute.shape == handed.shape and \
            np.allclose(attribute, handed, rtol=1e-12, atol=0, equal_nan=True)
        sum_of = f" (the sum of {count} calls)" if count > 1 else ""
        if p.owner is outer and attribute is not None:
            if not same:
                params.append(Parameter(p.owner, p.path, p.grad_path, f"{p.label} (optimizer)", p.start, recorder))
                warnings.append(f"{p.label} (optimizer): the gradient backward hands the optimizer for {p.label}"
                                f"{sum_of} differs from {p.grad_name} ({_difference(attribute, handed)}): both are "
                                "checked (training uses the one handed over)")
            continue
        if not same:
            warnings.append(f"{p.label}: judged by the gradient handed to the optimizer{sum_of}, which differs "
                            f"from {p.grad_name}")
        p.recorder = recorder
    for p in params:
        p.reset()


def _difference(attribute: np.ndarray, handed: np.ndarray) -> str:
    if attribute.shape != handed.shape:
        return f"shape {handed.shape} against {attribute.shape}"
    diff = np.abs(attribute - handed)
    where = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.ndim else ()
    return f"max difference {float(diff[where]):.3g} at index {tuple(int(i) for i in where)}"


def _attribute_gradient(p: Parameter) -> np.ndarray | None:
    try:
        value = p.gradient()
    except Exception:  # noqa: BLE001 - a gradient attribute that cannot be read is no attribute here
        return None
    return np.asarray(value, dtype=np.float64) if isinstance(value, np.ndarray) else None


def _parameter_for(owners: Sequence[tuple[str, object]], state: HeldState, weights: np.ndarray,
                   wanted: Callable[[str], bool]) -> Parameter | None:
    """A parameter for a weight array handed to the optimizer that no gradient attribute pairs with: found by
    identity among the owners' float arrays, under the first name that reaches it (if selected)."""
    for label, owner in owners:
        for path, value in _candidates(owner):
            if value is weights:
                name = dotted_path(label, path)
                return _hold(owner, path, path, name, state) if wanted(name) else None
    return None
