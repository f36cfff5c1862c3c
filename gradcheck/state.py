"""Hold the checked objects still and put every bit of them back afterwards, even on error.

- Every attribute binding of every held object is snapshot, with the values of every array it holds (also
  inside a list, tuple or dict attribute), and put back on exit; so are the contents of list and dict
  attributes and numpy's global random state.
- Every attribute holding an optimizer (an object with ``calculate_update``) is set to None while the
  check runs, whatever its name (``optimizer``, ``_bias_optimizer``, ...), also inside a list or dict.
- numpy random Generators and RandomStates held in attributes get their state back.

Parameters are found in :mod:`gradcheck.parameters`.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HeldState", "held", "is_layer", "with_sublayers", "arrays_in", "public_names"]

def _is_optimizer(value: object) -> bool:
    return callable(getattr(value, "calculate_update", None)) and not isinstance(value, type)


def is_layer(value: object) -> bool:
    """An object with callable ``forward`` and ``backward`` (not a class)."""
    return not isinstance(value, type) and callable(getattr(value, "forward", None)) and \
        callable(getattr(value, "backward", None))


def _holds_arrays(value: object) -> bool:
    """A plain object (not a class, a module, a function or an optimizer) with a float array in an attribute
    (or in a list, tuple or dict attribute)."""
    if isinstance(value, (type, np.ndarray)) or callable(value) or _is_optimizer(value) or \
            not hasattr(value, "__dict__") or type(value).__module__.split(".")[0] in ("numpy", "builtins"):
        return False
    return any(a.dtype.kind == "f" for v in vars(value).values() for a in arrays_in(v))


def _dotted(label: str, name: object) -> str:
    return f"{label}.{name}" if label else str(name)


def with_sublayers(objects: Sequence[tuple[str, object]]) -> list[tuple[str, object]]:
    """``objects`` and every sub-layer they hold, depth first, each once, with dotted labels.

    A sub-layer is an attribute that is a layer, or a list, tuple or dict of them at any depth
    (``hidden``, ``layers.1``, ``blocks.encoder.0``); so is a plain object that holds a float array as an
    attribute or in a container attribute (``self.params = Params()`` with ``params.weights``), whose arrays
    may be parameters too. A layer reachable twice (shared) is listed once, under the first name it was
    reached by. Optimizers are not walked (they are detached while the check runs)."""
    out: list[tuple[str, object]] = []
    seen: set[int] = set()

    def visit(label: str, value: object) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(_dotted(label, i), item)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(_dotted(label, key), item)
        elif (is_layer(value) or _holds_arrays(value)) and id(value) not in seen:
            seen.add(id(value))
            out.append((label, value))
            for name, attr in (vars(value) if hasattr(value, "__dict__") else {}).items():
                if isinstance(attr, (list, tuple, dict)) or is_layer(attr) or _holds_arrays(attr):
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


def arrays_in(value: object) -> list[np.ndarray]:
    """The arrays in ``value``: itself, or those in a list, tuple or dict at any depth."""
    if isinstance(value, np.ndarray):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return [arr for item in items for arr in arrays_in(item)]


def _containers_in(value: object) -> list[list | dict]:
    """The lists and dicts in ``value`` (itself included) at any depth."""
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return [value] + [c for item in items for c in _containers_in(item)]
    if isinstance(value, tuple):
        return [c for item in value for c in _containers_in(item)]
    return []


def _random_state(value: object) -> object | None:
    """The state of a numpy random Generator or RandomState (to put back), else None."""
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if isinstance(value, np.random.RandomState):
        return value.get_state()
    return None


class _Snapshot:
    """Attribute bindings, array values and list/dict contents of one object."""

    def __init__(self, obj: object) -> None:
        self.obj = obj
        self.attrs = dict(vars(obj)) if hasattr(obj, "__dict__") else None
        self.arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.contents: list[tuple[list | dict, list | dict]] = []
        self.generators: list[tuple[object, object]] = []
        for value in (self.attrs or {}).values():
            for arr in arrays_in(value):
                self.arrays[id(arr)] = (arr, arr.copy())
            for container in _containers_in(value):
                self.contents.append((container, list(container) if isinstance(container, list) else dict(container)))
            for item in [value] + [v for c in _containers_in(value)
                                   for v in (c.values() if isinstance(c, dict) else c)]:
                state = _random_state(item)
                if state is not None:
                    self.generators.append((item, state))

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
        for generator, state in self.generators:
            if isinstance(generator, np.random.Generator):
                generator.bit_generator.state = state
            else:
                generator.set_state(state)

    def unchanged_array(self, name: str, arr: np.ndarray) -> bool:
        """``arr``, held at attribute ``name`` (or in its container) at the snapshot, is still held there, with
        the same values."""
        now = vars(self.obj).get(name) if self.attrs is not None else None
        return self.attrs is not None and now is self.attrs.get(name) and \
            any(a is arr for a in arrays_in(now)) and id(arr) in self.arrays and \
            np.array_equal(arr, self.arrays[id(arr)][1], equal_nan=True)


@dataclass
class HeldState:
    snapshots: list[tuple[str, _Snapshot]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)   # labels of float32/16 tensors checked as float64
    # undo callables for what no snapshot reaches (a float32 parameter in an object without __dict__)
    put_back: list = field(default_factory=list)
    # where an optimizer was detached: (object, attribute, key in its list or dict, or None)
    detached: list[tuple[object, str, object]] = field(default_factory=list)

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
            state.detached.append((obj, name, None))
        elif isinstance(value, (list, tuple, dict)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            held_ones = [k for k, v in items if _is_optimizer(v)]
            if not held_ones:
                continue
            d[name] = {k: None if k in held_ones else v for k, v in value.items()} if isinstance(value, dict) \
                else type(value)(None if k in held_ones else v for k, v in enumerate(value))
            state.detached.extend((obj, name, k) for k in held_ones)
    for name in public_names(obj):
        if "optimizer" not in name.lower():
            continue
        try:
            if _is_optimizer(getattr(obj, name)):
                setattr(obj, name, None)
                state.detached.append((obj, name, None))
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
        for undo in reversed(state.put_back):
            undo()
        np.random.set_state(rng_state)


# ------------------------------------------------------------------------------------ names

def public_names(obj: object) -> list[str]:
    names = [n for n in (vars(obj) if hasattr(obj, "__dict__") else {}) if not n.startswith("_")]
    for cls in reversed(type(obj).__mro__):     # base classes first: their properties come in definition order
        names += [n for n, v in vars(cls).items() if isinstance(v, property) and not n.startswith("_")]
    return list(dict.fromkeys(names))


