"""Finding the parameters of held objects, as paths, after a first backward.

A parameter is a float array reachable from an owner (the layer or a sub-layer) by a *path*: an attribute,
then dict keys or list indices (``weights``, ``params.W``, ``params.0``), paired with its gradient by the
path of the same shape in a gradient container:

- an attribute ``X`` with ``gradient_X`` (the exercise API; ``grad_X`` and ``X_grad`` too), plain or property;
- the arrays in a dict or list attribute ``X`` with those in its gradient container of the same structure:
  ``params``/``grads`` (the CS231n convention), ``parameters``/``gradients``, ``gradient_X``, ``grad_X``,
  ``X_grad``, ``X_grads``, key by key (a key ``k`` may also pair with ``dk``);
- or the pairs a user gives (``{"params.W": "grads.dW"}``).

An attribute that did not exist before the check and that every forward binds anew (``self.inputs = inputs``,
``self.output = ...``) is forward's cache, never a parameter, whatever its name: ``inputs`` does not pair
with ``dinputs``.

An array reachable twice (a sub-layer's weights that the outer layer exposes as its own) is checked once, under
the first name it was reached by that has a gradient (``wx`` held as an attribute and exposed as a
``weights`` property with ``gradient_weights``: checked as ``weights``). Owners are walked from the outside in,
so the outer name and the outer gradient win (an RNN's summed gradient, not its sub-layer's last step).
``parameters=`` selects by path: ``"weights"`` is the top-level attribute, ``"fc_y"`` every parameter under
that sub-layer, ``"params.W"`` one entry; ``"!fc_y"`` excludes, alone or after selections.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from gradcheck.state import HeldState, public_names

__all__ = ["Parameter", "find_parameters", "per_call_arrays", "resolve", "assign", "dotted_path"]

# names of arrays that are state, not parameters, when they have no gradient (no look-alike warning)
_NOT_PARAMETER = re.compile(r"mean|var|avg|average|running|moving|mask|cache|input|output|state|buffer|grad|"
                            r"momentum|velocity|memory|hidden", re.IGNORECASE)
_GRADIENT_LIKE = re.compile(r"^d([A-Z_]|[a-z]\d*$)")      # dW, db, d_weights, dx: a gradient, not a parameter
_CONTAINER_PAIRS = (("parameters", "gradients"), ("params", "grads"), ("param", "grad"))

Path = tuple


def resolve(owner: object, path: Path) -> object:
    """The value at ``path`` from ``owner``: an attribute, then keys or indices."""
    value = getattr(owner, path[0])
    for key in path[1:]:
        value = value[key] if isinstance(value, (dict, list, tuple)) else getattr(value, key)
    return value


def assign(owner: object, path: Path, value: np.ndarray) -> None:
    if len(path) == 1:
        setattr(owner, path[0], value)
    else:
        container = resolve(owner, path[:-1])
        if isinstance(container, tuple):
            raise TypeError("a tuple entry cannot be replaced")
        if isinstance(container, (dict, list)):
            container[path[-1]] = value
        else:
            setattr(container, path[-1], value)


def dotted_path(label: str, path: Path) -> str:
    return ".".join([label] * bool(label) + [str(p) for p in path])


@dataclass
class Parameter:
    """A trainable tensor, as the check sees it."""

    owner: object
    path: Path          # from the owner, e.g. ("weights",) or ("params", "W")
    grad_path: Path     # e.g. ("gradient_weights",) or ("grads", "W")
    label: str          # name in the report, e.g. "weights", "hidden.weights", "params.W", "layers.0.weights"
    start: np.ndarray   # values at the start of the numeric pass (in the dtype checked)
    recorder: object | None = None      # judged by what the layer hands this recorder (gradcheck.recorded)

    @property
    def live(self) -> np.ndarray:
        return resolve(self.owner, self.path)

    @property
    def grad_name(self) -> str:
        return "the gradient handed to the optimizer" if self.recorder is not None else dotted_path("", self.grad_path)

    def gradient(self) -> object:
        if self.recorder is not None:
            return self.recorder.total(self.live)
        return resolve(self.owner, self.grad_path)

    def reset(self) -> bool:
        """Put the start values back; True if they had changed."""
        try:
            live = self.live
        except (AttributeError, KeyError, IndexError, TypeError):
            live = None
        changed = not (isinstance(live, np.ndarray) and np.array_equal(live, self.start, equal_nan=True))
        if changed:
            if isinstance(live, np.ndarray) and live.shape == self.start.shape and live.flags.writeable:
                np.copyto(live, self.start, casting="unsafe")
            else:
                assign(self.owner, self.path, self.start.copy())
        return changed


def _is_float_array(value: object) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size > 0


def _probe(owner: object, path: Path) -> tuple[bool, object, Exception | None]:
    """(exists, value, exception raised by a property)."""
    try:
        return True, resolve(owner, path), None
    except (AttributeError, KeyError, IndexError, TypeError):
        return False, None, None
    except Exception as exc:  # noqa: BLE001 - a property that raises is reported by the caller
        return True, None, exc


def _leaves(value: object, path: Path) -> list[tuple[Path, np.ndarray]]:
    """Float arrays in a dict, list or tuple (at any depth), with their paths."""
    if _is_float_array(value):
        return [(path, value)]
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, (list, tuple)) else ()
    return [leaf for key, item in items for leaf in _leaves(item, path + (key,))]


def _gradient_names(name: str) -> list[str]:
    names = [f"gradient_{name}", f"grad_{name}", f"{name}_grad", f"{name}_grads", f"d{name}"]
    for param, grad in _CONTAINER_PAIRS:
        if param in name:
            names.append(name.replace(param, grad, 1))
            break
    return names


def _gradient_path(owner: object, path: Path) -> tuple[Path | None, Exception | None]:
    """Where the gradient of the array at ``path`` lives (the first that exists), and an exception a
    gradient property raised."""
    tails = [path[1:]] + ([path[1:-1] + (f"d{path[-1]}",)] if len(path) > 1 and isinstance(path[-1], str) else [])
    for name in _gradient_names(path[0]):
        for tail in tails:
            exists, _, exc = _probe(owner, (name,) + tail)
            if exists:
                return (name,) + tail, exc
    return None, None


def _candidates(owner: object) -> list[tuple[Path, np.ndarray]]:
    """Every float array reachable from the owner's public attributes, with its path."""
    out = []
    for name in public_names(owner):
        if name.startswith(("gradient_", "grad_")) or name.endswith(("_grad", "_grads")) or _GRADIENT_LIKE.match(name):
            continue
        exists, value, _ = _probe(owner, (name,))
        if exists and not any(name == grad for _, grad in _CONTAINER_PAIRS):
            out += _leaves(value, (name,))
    return out


class _Selection:
    """What ``parameters=`` asks for: paths (a path selects itself and everything under it) and exclusions
    (``"!path"``); explicit pairs ``{path: gradient path}``. None selects everything found."""

    def __init__(self, names: Sequence[str] | Mapping[str, str] | None) -> None:
        if isinstance(names, str):
            raise TypeError(f"parameters= takes a list of paths, got the string {names!r}; write [{names!r}]")
        self.pairs = dict(names) if isinstance(names, Mapping) else {}
        entries = list(names) if names is not None and not self.pairs else None
        self.include = None if entries is None else [n for n in entries if not n.startswith("!")]
        self.exclude = [] if entries is None else [n[1:] for n in entries if n.startswith("!")]
        if self.include is not None and not self.include and self.exclude:
            self.include = None            # exclusions alone: everything else
        self.used: set[str] = set()

    @staticmethod
    def _under(label: str, entry: str) -> bool:
        return label == entry or label.startswith(entry + ".")

    def wants(self, label: str) -> bool:
        if any(self._under(label, e) for e in self.exclude):
            return False
        if self.include is None:
            return True
        hits = [e for e in self.include if self._under(label, e)]
        self.used.update(hits)
        return bool(hits)

    @property
    def explicit(self) -> bool:
        return self.include is not None


def _hold(owner: object, path: Path, grad_path: Path, label: str, state: HeldState) -> Parameter:
    original = resolve(owner, path)
    if original.dtype != np.float64:
        try:
            assign(owner, path, original.astype(np.float64))
        except (AttributeError, TypeError, ValueError):
            pass
        if resolve(owner, path).dtype == np.float64:
            state.promoted.append(label)
            state.put_back.append(lambda: assign(owner, path, original))
    live = resolve(owner, path)
    if resolve(owner, path) is not live:
        raise TypeError(f"gradcheck: {label} returns a new array on every access; the check perturbs the "
                        "layer's own array in place, so the attribute must return it (not a copy)")
    return Parameter(owner, path, grad_path, label, live.copy())


def _path_of(text: str) -> Path:
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def _explicit_pairs(owners: Sequence[tuple[str, object]], pairs: dict[str, str], state: HeldState,
                    seen: set[int], problems: list[str]) -> list[Parameter]:
    """``{param path: gradient path}`` as the user gave them, from the outermost owner (its labels may name a
    sub-layer: ``"fc.weights"``)."""
    out = []
    label0, owner0 = owners[0]
    for path_text, grad_text in pairs.items():
        path, grad_path = _path_of(path_text), _path_of(grad_text)
        exists, value, _ = _probe(owner0, path)
        if not _is_float_array(value):
            problems.append(f"parameter {path_text!r} named by the caller is "
                            f"{'missing' if not exists else type(value).__name__} on {label0 or 'layer'}, "
                            "expected a float ndarray")
            continue
        if not _probe(owner0, grad_path)[0]:
            problems.append(f"parameter {path_text!r}: its gradient {grad_text!r} named by the caller is missing")
            continue
        seen.add(id(value))
        out.append(_hold(owner0, path, grad_path, dotted_path(label0, path), state))
    return out


def per_call_arrays(state: HeldState, owners: Sequence[tuple[str, object]], forward: Callable[[], object]
                    ) -> set[tuple[int, str]]:
    """``(id(owner), name)`` of every attribute that is forward's state, not the layer's: one that did not
    exist before the check and that ``forward()`` binds to a new array (a cached input, ``self.inputs =
    inputs``; an output, ``self.output = ...``). A parameter is held across calls: weights made on the first
    forward are not bound again by the next, and weights that forward rebinds existed before it."""
    def bound() -> dict[tuple[int, str], int]:      # instance attributes (a property is not bound by forward)
        return {(id(owner), path[0]): id(value) for _, owner in owners for path, value in _candidates(owner)
                if path[0] in getattr(owner, "__dict__", {}) and path[0] not in (state.snapshot_of(owner).attrs or {})}
    before = bound()
    forward()
    return {key for key, ident in bound().items() if key in before and before[key] != ident}


def find_parameters(state: HeldState, owners: Sequence[tuple[str, object]],
                    names: Sequence[str] | Mapping[str, str] | None, problems: list[str],
                    per_call: set[tuple[int, str]] = frozenset()) -> list[Parameter]:
    """The parameters of every held object, found after one backward (see the module docstring); the
    attributes in ``per_call`` (:func:`per_call_arrays`) are forward's caches, never parameters.

    Selected paths that are missing, not float arrays, or without a gradient are problems; an unselected
    float array set before forward, never changed, and without a gradient is named in a warning, and a
    problem when no parameter at all was found (``parameters=[]`` says there are none)."""
    select = _Selection(names)
    seen: set[int] = set()
    params = _explicit_pairs(owners, select.pairs, state, seen, problems) if select.pairs else []
    # every float array under every name it is reachable by, the outermost first: it is checked once, under
    # that name and against that gradient, if any of its names is selected
    reach: dict[int, list[tuple[str, object, Path]]] = {}
    for label, owner in ([] if select.pairs else owners):
        for path, value in _candidates(owner):
            if (id(owner), path[0]) not in per_call:
                reach.setdefault(id(value), []).append((dotted_path(label, path), owner, path))
    no_gradient: dict[str, str] = {}
    left_out = []
    for names_of in reach.values():
        # of the names that reach one array (the outermost first), the first with a gradient decides: a
        # ``weights`` property over ``self.wx`` pairs with ``gradient_weights``
        paired = [name for name in names_of if _gradient_path(name[1], name[2])[0] is not None]
        full, owner, path = (paired or names_of)[0]
        if not any([select.wants(alias) for alias, _, _ in names_of]):
            if _gradient_path(owner, path)[0] is not None:
                left_out.append(full)
            continue
        grad_path, exc = _gradient_path(owner, path)
        if exc is not None:
            problems.append(f"{full}: its gradient {dotted_path('', grad_path)} raised {type(exc).__name__} after "
                            f"backward: {exc}")
        if grad_path is None:
            for alias, _, alias_path in names_of:
                no_gradient.setdefault(alias, f"gradient_{alias_path[0]}" if len(alias_path) == 1 else
                                       f"a gradient container for {alias_path[0]} "
                                       f"({', '.join(_gradient_names(alias_path[0])[:2])})")
            continue
        seen.add(id(resolve(owner, path)))
        params.append(_hold(owner, path, grad_path, full, state))
    if left_out:
        state.warnings.append(f"{', '.join(left_out)}: left out by parameters= (NOT checked)")
    if select.explicit:
        for entry in select.include:
            if entry in no_gradient:
                problems.append(f"parameter {entry!r} has no gradient attribute {no_gradient[entry]} on "
                                f"{owners[0][0] or 'layer'}")
            elif entry not in select.used:
                problems.append(f"parameter {entry!r} named by the caller is missing on {owners[0][0] or 'layer'}, "
                                f"expected a float ndarray (found: {', '.join(p.label for p in params) or 'none'})")
    elif not select.pairs:
        _lookalikes(state, owners, seen, bool(params), select, problems)
    return params


def _lookalikes(state: HeldState, owners: Sequence[tuple[str, object]], found: set[int], any_found: bool,
                select: _Selection, problems: list[str]) -> None:
    """Float arrays set before forward and untouched by it, without a gradient: maybe missed parameters.
    Named in a warning; with no parameter found at all, a problem (the check would certify nothing of them)."""
    missed = []
    for label, owner in owners:
        snap = state.snapshot_of(owner)
        for name, value in (snap.attrs or {}).items():
            for path, arr in _leaves(value, (name,)):
                full = dotted_path(label, tuple([name.lstrip("_")]) + path[1:])
                if id(arr) in found or _NOT_PARAMETER.search(name) or _GRADIENT_LIKE.match(name.lstrip("_")) \
                        or not select.wants(full) or not snap.unchanged_array(name, arr):
                    continue
                missed.append(f"{full} {arr.shape}")
    if not missed:
        return
    one = len(missed) == 1
    text = (f"{', '.join(missed[:6])}{' ...' if len(missed) > 6 else ''} "
            f"{'looks like a parameter (a float array' if one else 'look like parameters (float arrays'} set "
            f"before forward and not changed by forward or backward) but no gradient was found for "
            f"{'it' if one else 'them'} (gradient_X, or a container like grads for params): NOT checked; if "
            "trainable, set its gradient in backward, or name the parameters with parameters=[...] "
            "(parameters=[] if there are none)")
    if any_found:
        state.warnings.append(text)
    else:
        problems.append(text)
