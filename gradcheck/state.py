"""Hold a layer's state still during a check and put every bit of it back afterwards, even on error."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["PARAMETERS", "Parameter", "HeldState", "held"]

# (attribute, gradient attribute): the trainable tensors gradcheck knows how to find on a layer.
PARAMETERS = (("weights", "gradient_weights"), ("bias", "gradient_bias"))


@dataclass
class Parameter:
    """A trainable tensor of a layer, as the check sees it."""

    owner: object
    name: str           # attribute, e.g. "weights"
    grad_name: str      # e.g. "gradient_weights"
    label: str          # name in the report, e.g. "weights" or "layers[0].weights"
    start: np.ndarray   # values at the start of the check (in the dtype checked)

    @property
    def live(self) -> np.ndarray:
        return getattr(self.owner, self.name)

    def reset(self) -> bool:
        """Put the start values back; True if they had changed."""
        changed = not np.array_equal(self.live, self.start)
        if changed:
            np.copyto(self.live, self.start)
        return changed


@dataclass
class HeldState:
    parameters: list[Parameter] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)   # labels of float32/16 tensors checked as float64


def _put_back(layer: object, name: str, original: np.ndarray, snapshot: np.ndarray) -> None:
    try:
        setattr(layer, name, original)
    except (AttributeError, TypeError, ValueError):
        pass
    np.copyto(original, snapshot)
    live = getattr(layer, name, None)
    if isinstance(live, np.ndarray) and live is not original and live.shape == snapshot.shape:
        np.copyto(live, snapshot, casting="unsafe")


def _detach_optimizer(label: str, layer: object, state: HeldState, restore: list) -> None:
    if not hasattr(layer, "optimizer"):
        return
    saved = layer.optimizer
    try:
        layer.optimizer = None
    except Exception as exc:  # noqa: BLE001 - any refusal is reported, the check goes on
        state.warnings.append(f"{label or 'layer'}: could not detach the optimizer ({exc}); "
                              "backward may update the weights during the check")
        return
    restore.append(lambda: setattr(layer, "optimizer", saved))


def _hold_parameter(label: str, layer: object, name: str, grad_name: str, state: HeldState, restore: list) -> None:
    original = getattr(layer, name, None)
    if not isinstance(original, np.ndarray) or not hasattr(layer, grad_name):
        return
    snapshot = original.copy()
    restore.append(lambda: _put_back(layer, name, original, snapshot))
    full = f"{label}.{name}" if label else name
    if original.dtype != np.float64:
        try:
            setattr(layer, name, original.astype(np.float64))
        except (AttributeError, TypeError, ValueError):
            pass
        if getattr(layer, name).dtype == np.float64:
            state.promoted.append(full)
    live = getattr(layer, name)
    if getattr(layer, name) is not live:
        raise TypeError(f"gradcheck: {full} returns a new array on every access; the check perturbs the "
                        "layer's own array in place, so the attribute must return it (not a copy)")
    state.parameters.append(Parameter(layer, name, grad_name, full, live.copy()))


@contextmanager
def held(layers: Sequence[tuple[str, object]]) -> Iterator[HeldState]:
    """Detach optimizers, snapshot (and where possible promote to float64) every parameter; restore on exit.

    ``layers`` pairs a label ("" for a single layer, "layers[0]" in a network) with each layer.
    """
    state, restore = HeldState(), []
    try:
        for label, layer in layers:
            _detach_optimizer(label, layer, state, restore)
            for name, grad_name in PARAMETERS:
                _hold_parameter(label, layer, name, grad_name, state, restore)
        yield state
    finally:
        for undo in reversed(restore):
            undo()
