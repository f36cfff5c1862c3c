"""Hold the checked objects still and put every bit of them back afterwards, even on error.

- Every attribute binding of every held object is snapshot, with the values of every array it holds (also
  inside a list, tuple or dict attribute), and put back on exit; so are the contents of list and dict
  attributes and numpy's global random state.
- Every attribute holding an optimizer (an object with ``calculate_update``) is set to None while the
  check runs, whatever its name (``optimizer``, ``_bias_optimizer``, ...), also inside a list or dict.
- Parameters are found *after* a first backward: every float array attribute ``X`` with a gradient
  attribute ``gradient_X`` (plain attribute or property), or the names the user gives.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Parameter", "HeldState", "held", "find_parameters", "is_layer", "with_sublayers"]

# names of arrays that are state, not parameters, when they have no gradient (no look-alike warning)
_NOT_PARAMETER = re.compile(r"mean|var|avg|average|running|moving|mask|cache|input|output|state|buffer|grad|"
                            r"momentum|velocity|memory|hidden", re.IGNORECASE)


@dataclass
class Parameter:
    """A trainable tensor, as the check sees it."""

    owner: object
    name: str           # attribute, e.g. "weights"
    grad_name: str      # e.g. "gradient_weights"
    label: str          # name in the report, e.g. "weights", "hidden.weights" or "layers.0.weights"
    start: np.ndarray   # values at the start of the numeric pass (in the dtype checked)

    @property
    def live(self) -> np.ndarray:
        return getattr(self.owner, self.name)

    def reset(self) -> bool:
        """Put the start values back; True if they had changed."""
        live = self.live
        changed = not (isinstance(live, np.ndarray) and np.array_equal(live, self.start, equal_nan=True))
        if changed:
            if isinstance(live, np.ndarray) and live.shape == self.start.shape and live.flags.writeable:
                np.copyto(live, self.start, casting="unsafe")
            else:
                setattr(self.owner, self.name, self.start.copy())
        return changed


def _is_optimizer(value: object) -> bool:
    return callable(getattr(value, "calculate_update", None)) and not isinstance(value, type)


def is_layer(value: object) -> bool:
    """An object with callable ``forward`` and ``backward`` (not a class)."""
    return not isinstance(value, type) and callable(getattr(value, "forward", None)) and \
        callable(getattr(value, "backward", None))


def _dotted(label: str, name: object) -> str:
    return f"{label}.{name}" if label else str(name)


def with_sublayers(objects: Sequence[tuple[str, object]]) -> list[tuple[str, object]]:
    """``objects`` and every sub-layer they hold, depth first, each once, with dotted labels.

    A sub-layer is an attribute that is a layer, or a list, tuple or dict of them at any depth
    (``hidden``, ``layers.1``, ``blocks.encoder.0``). A layer reachable twice (shared) is listed once, under
    the first name it was reached by."""
    out: list[tuple[str, object]] = []
    seen: set[int] = set()

    def visit(label: str, value: object) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(_dotted(label, i), item)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(_dotted(label, key), item)
        elif is_layer(value) and id(value) not in seen:
            seen.add(id(value))
            out.append((label, value))
            for name, attr in (vars(value) if hasattr(value, "__dict__") else {}).items():
                if isinstance(attr, (list, tuple, dict)) or is_layer(attr):
                    visit(_dotted(label, name.lstrip("_")), attr)

    for label, obj in objects:
        if id(obj) in seen:
            continue
        if is_layer(obj):
            visit(label, obj)
        else:                       # a network or a loss without backward: held, not walked
            seen.add(id(obj))
            out.append((label, obj))
    return out


def _arrays_in(value: object) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, np.ndarray)]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, np.ndarray)]
    return []


class _Snapshot:
    """Attribute bindings, array values and list/dict contents of one object."""

    def __init__(self, obj: object) -> None:
        self.obj = obj
        self.attrs = dict(vars(obj)) if hasattr(obj, "__dict__") else None
        self.arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.contents: list[tuple[list | dict, list | dict]] = []
        for value in (self.attrs or {}).values():
            for arr in _arrays_in(value):
                self.arrays[id(arr)] = (arr, arr.copy())
            if isinstance(value, list):
                self.contents.append((value, list(value)))
            elif isinstance(value, dict):
                self.contents.append((value, dict(value)))

    def restore(self) -> None:
        if self.attrs is not None:
            d = vars(self.obj)
            d.clear()
            d.update(self.attrs)
        for container, saved in self.contents:
            if isinstance(container, list):
                container[:] = saved
            else:
                container.clear()
                container.update(saved)
        for arr, saved in self.arrays.values():
            if arr.flags.writeable and not np.array_equal(arr, saved, equal_nan=True):
                np.copyto(arr, saved)

    def unchanged(self, name: str) -> bool:
        """The attribute is still bound to the same array, with the same values."""
        now = vars(self.obj).get(name) if self.attrs is not None else None
        before = (self.attrs or {}).get(name)
        return isinstance(before, np.ndarray) and now is before and \
            np.array_equal(before, self.arrays[id(before)][1], equal_nan=True)


@dataclass
class HeldState:
    snapshots: list[tuple[str, _Snapshot]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)   # labels of float32/16 tensors checked as float64

    def restore_objects(self) -> None:
        """Put every held object back as it was at the start (not numpy's global random state)."""
        for _, snap in reversed(self.snapshots):
            snap.restore()

    def checkpoint(self) -> _Checkpoint:
        """The held objects as they are now (optimizers detached), to be put back with ``.restore()``."""
        return _Checkpoint([_Snapshot(snap.obj) for _, snap in self.snapshots])

    def snapshot_of(self, obj: object) -> _Snapshot:
        return next(snap for _, snap in self.snapshots if snap.obj is obj)


@dataclass
class _Checkpoint:
    snapshots: list[_Snapshot]

    def restore(self) -> None:
        for snap in reversed(self.snapshots):
            snap.restore()


def _detach_optimizers(label: str, obj: object, state: HeldState) -> None:
    d = vars(obj) if hasattr(obj, "__dict__") else {}
    for name, value in list(d.items()):
        if _is_optimizer(value):
            d[name] = None
        elif isinstance(value, (list, tuple)) and any(_is_optimizer(v) for v in value):
            d[name] = type(value)(None if _is_optimizer(v) else v for v in value)
        elif isinstance(value, dict) and any(_is_optimizer(v) for v in value.values()):
            d[name] = {k: None if _is_optimizer(v) else v for k, v in value.items()}
    for name in _public_names(obj):
        if "optimizer" not in name.lower():
            continue
        try:
            if _is_optimizer(getattr(obj, name)):
                setattr(obj, name, None)
        except Exception as exc:  # noqa: BLE001 - any refusal is reported, the check goes on
            state.warnings.append(f"{label or 'layer'}.{name}: could not detach the optimizer ({exc}); "
                                  "backward may update the weights during the check")


@contextmanager
def held(objects: Sequence[tuple[str, object]]) -> Iterator[HeldState]:
    """Snapshot ``objects`` (label, object) and detach their optimizers; restore everything on exit."""
    state = HeldState()
    rng_state = np.random.get_state()
    try:
        for label, obj in objects:
            state.snapshots.append((label, _Snapshot(obj)))
            if not hasattr(obj, "__dict__"):
                state.warnings.append(f"{label or type(obj).__name__} has no __dict__: only its parameters' "
                                      "values are restored after the check")
            _detach_optimizers(label, obj, state)
        yield state
    finally:
        state.restore_objects()
        np.random.set_state(rng_state)


# ------------------------------------------------------------------------------------ finding parameters

def _public_names(obj: object) -> list[str]:
    names = [n for n in (vars(obj) if hasattr(obj, "__dict__") else {}) if not n.startswith("_")]
    for cls in reversed(type(obj).__mro__):     # base classes first: their properties come in definition order
        names += [n for n, v in vars(cls).items() if isinstance(v, property) and not n.startswith("_")]
    return list(dict.fromkeys(names))


def _probe(obj: object, name: str) -> tuple[bool, object, Exception | None]:
    """(exists, value, exception raised by a property)."""
    try:
        return True, getattr(obj, name), None
    except AttributeError:
        return False, None, None
    except Exception as exc:  # noqa: BLE001 - a property that raises is reported by the caller
        return True, None, exc


def _is_float_array(value: object) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0


def _hold_parameter(label: str, obj: object, name: str, state: HeldState) -> Parameter:
    full = f"{label}.{name}" if label else name
    original = getattr(obj, name)
    if original.dtype != np.float64:
        try:
            setattr(obj, name, original.astype(np.float64))
        except (AttributeError, TypeError, ValueError):
            pass
        if getattr(obj, name).dtype == np.float64:
            state.promoted.append(full)
    live = getattr(obj, name)
    if getattr(obj, name) is not live:
        raise TypeError(f"gradcheck: {full} returns a new array on every access; the check perturbs the "
                        "layer's own array in place, so the attribute must return it (not a copy)")
    return Parameter(obj, name, f"gradient_{name}", full, live.copy())


def find_parameters(state: HeldState, owners: Sequence[tuple[str, object]], names: Sequence[str] | None,
                    problems: list[str]) -> list[Parameter]:
    """The parameters of every held object, found after one backward (see the module docstring).

    Named parameters that are missing, not float arrays, or without a gradient attribute are problems;
    an unnamed float array that was set before forward, never changed, and has no gradient gets a warning.
    """
    params: list[Parameter] = []
    seen: set[int] = set()
    for label, obj in owners:
        snap, where = state.snapshot_of(obj), label or "layer"
        candidates = list(names) if names is not None else _public_names(obj)
        for name in candidates:
            if name.startswith("gradient_"):
                continue
            exists, value, exc = _probe(obj, name)
            if names is not None and not _is_float_array(value):
                problems.append(f"parameter {name!r} named by the caller is "
                                f"{'missing' if not exists else type(value).__name__} on {where}, "
                                "expected a float ndarray")
                continue
            if not _is_float_array(value) or id(value) in seen:
                continue
            has_grad, _, grad_exc = _probe(obj, f"gradient_{name}")
            if grad_exc is not None:
                problems.append(f"{where}.gradient_{name} raised {type(grad_exc).__name__} after backward: "
                                f"{grad_exc}")
            if not has_grad:
                if names is not None:
                    problems.append(f"parameter {name!r} has no gradient attribute gradient_{name} on {where}")
                continue
            seen.add(id(value))
            seen.update(id(a) for a in _arrays_in(value))
            params.append(_hold_parameter(label, obj, name, state))
        if names is None:
            _warn_lookalikes(label, snap, seen, state)
    return params


def _warn_lookalikes(label: str, snap: _Snapshot, found: set[int], state: HeldState) -> None:
    """A float array set before forward and untouched by it, without a gradient: maybe a missed parameter."""
    for name, value in (snap.attrs or {}).items():
        if not _is_float_array(value) or id(value) in found or _NOT_PARAMETER.search(name):
            continue
        if snap.unchanged(name) and not hasattr(snap.obj, f"gradient_{name.lstrip('_')}"):
            where = f"{label}.{name}" if label else name
            state.warnings.append(
                f"{where} {value.shape} looks like a parameter (a float array set before forward and not "
                f"changed by forward or backward) but has no gradient attribute gradient_{name.lstrip('_')}: "
                "it was NOT checked; if it is trainable, set its gradient in backward, or name the parameters "
                "with parameters=[...]")
