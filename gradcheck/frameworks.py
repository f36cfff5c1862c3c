"""What the torch and JAX adapters share; imports neither framework."""
from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence

import numpy as np

from gradcheck.check import _input_names

__all__ = ["argument_names", "reseeding", "framework_of", "path_name", "flatten", "Flat", "merged",
           "orders_and_modes"]


def argument_names(fn: Callable, count: int) -> list[str]:
    """fn's positional parameter names, or ``arg0``, ``arg1``... where there are none to read (a builtin)."""
    try:
        return _input_names(fn, count)
    except TypeError:
        return [f"arg{i}" for i in range(count)]


def path_name(name: str, keys: Sequence[object]) -> str:
    """A tensor's name from its argument's name and its path inside it: ``params.w``, ``pair.0``."""
    return ".".join([name, *(str(k) for k in keys)])


class Flat:
    """The leaves of nested tuples, lists and dicts (in order: dicts by insertion), each with its path, and how
    to build the same structure around new leaves (``rebuild``). A leaf is anything ``is_leaf`` says is one,
    or anything that is not a tuple, list or dict."""

    def __init__(self, value: object, is_leaf: Callable[[object], bool]) -> None:
        self.paths: list[tuple] = []
        self.leaves: list[object] = []
        self._shape = self._walk(value, (), is_leaf)

    def _walk(self, value: object, path: tuple, is_leaf: Callable[[object], bool]) -> object:
        if not is_leaf(value):
            if isinstance(value, dict):
                return dict, [(k, self._walk(v, path + (k,), is_leaf)) for k, v in value.items()]
            if isinstance(value, (tuple, list)):
                keys = getattr(value, "_fields", None) or range(len(value))       # a namedtuple's by field
                return type(value), [(k, self._walk(v, path + (k,), is_leaf)) for k, v in zip(keys, value)]
        self.paths.append(path)
        self.leaves.append(value)
        return None

    def rebuild(self, leaves: Sequence[object]) -> object:
        it = iter(leaves)

        def build(shape: object) -> object:
            if shape is None:
                return next(it)
            kind, children = shape
            if kind is dict:
                return {k: build(c) for k, c in children}
            parts = [build(c) for _, c in children]
            return kind(parts) if kind in (tuple, list) else kind(*parts)
        return build(self._shape)


def flatten(values: Sequence[object], names: Sequence[str],
            is_leaf: Callable[[object], bool]) -> tuple[Flat, list[str]]:
    """The leaves of the positional arguments ``values`` (a tuple), and each leaf's name (:func:`path_name`,
    the first key being the argument's position, replaced by its name)."""
    flat = Flat(tuple(values), is_leaf)
    return flat, [path_name(names[p[0]], p[1:]) for p in flat.paths]


def reseeding(reseed: int | None, before_forward: Callable[[], None] | None,
              seed_framework: Callable[[int], object] | None = None) -> Callable[[], None] | None:
    """What runs before every call: numpy's global seed (and the framework's, when given) set to ``reseed``,
    then ``before_forward``; None when there is nothing to run."""
    if reseed is None and before_forward is None:
        return None

    def run() -> None:
        if reseed is not None:
            np.random.seed(reseed)
            if seed_framework is not None:
                seed_framework(reseed)
        if before_forward is not None:
            before_forward()
    return run


def framework_of(obj: object, module: object) -> str:
    """"torch", "jax" or "numpy" for a command-line target, told without importing either framework: a torch
    Module or autograd.Function (class or instance), a JAX custom_vjp/custom_jvp or jitted function; a plain
    function by the one framework its module imports."""
    torch, jax = sys.modules.get("torch"), sys.modules.get("jax")
    if torch is not None:
        kinds = (torch.nn.Module, torch.autograd.Function)
        if isinstance(obj, torch.nn.Module) or (isinstance(obj, type) and issubclass(obj, kinds)):
            return "torch"
    if jax is not None and type(obj).__module__.split(".")[0] in ("jax", "jaxlib"):
        return "jax"
    if isinstance(obj, type) or not callable(obj) or (callable(getattr(obj, "forward", None))):
        return "numpy"
    imported = {getattr(v, "__name__", "").split(".")[0] for v in vars(module).values()
                if isinstance(v, types.ModuleType)} | \
        {getattr(v, "__module__", "").split(".")[0] for v in vars(module).values() if callable(v)}
    found = [name for name in ("torch", "jax") if name in imported]
    return found[0] if len(found) == 1 else "numpy"


def orders_and_modes(order: int, modes: Sequence[str], who: str) -> tuple[str, ...]:
    """``modes`` as a tuple, after checking ``order`` and ``modes`` (ValueError naming ``who``)."""
    if order not in (1, 2):
        raise ValueError(f"{who}: order must be 1 or 2, got {order!r}")
    modes = tuple(modes)
    if not modes or any(m not in ("rev", "fwd") for m in modes):
        raise ValueError(f"{who}: modes must be a non-empty subset of ('rev', 'fwd'), got {modes!r}")
    return modes


def merged(report, part, prefix: str):
    """``part``'s tensors (named ``prefix.name``), problems and warnings added to ``report`` (both
    GradcheckReports): a second-order or forward-mode check in the report of the first."""
    for t in part.tensors:
        t.name = f"{prefix}.{t.name}"
        report.tensors.append(t)
    report.problems.extend(f"{prefix}: {p}" for p in part.problems)
    report.warnings.extend(f"{prefix}: {w}" for w in part.warnings if w not in report.warnings)
    return report
