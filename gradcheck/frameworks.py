"""What the torch and JAX adapters share; imports neither framework."""
from __future__ import annotations

import sys
import types
from collections.abc import Callable

import numpy as np

from gradcheck.check import _input_names

__all__ = ["argument_names", "reseeding", "framework_of"]


def argument_names(fn: Callable, count: int) -> list[str]:
    """fn's positional parameter names, or ``arg0``, ``arg1``... where there are none to read (a builtin)."""
    try:
        return _input_names(fn, count)
    except TypeError:
        return [f"arg{i}" for i in range(count)]


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
