"""Check JAX functions, custom VJPs included: analytic gradients from ``jax.vjp``, numeric ones from this
checker.

    from gradcheck.jax import check_function
    check_function(my_softplus, (8, 5))

float64 is enabled for the check (``jax_enable_x64``) and put back afterwards; arrays are checked as float64
copies unless the function insists on another dtype, and the tolerance follows the precision it really
computes in. The checked scalar is ``sum(f(*arrays) * E)`` for a fixed random ``E``, and ``jax.vjp``'s
cotangent map applied to that ``E`` is the analytic side. Needs the ``jax`` extra; nothing in the numpy path
imports this module.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from functools import partial

import numpy as np

from gradcheck.check import _new_report, _run, _time_limited
from gradcheck.frameworks import argument_names, merged, orders_and_modes, path_name, reseeding
from gradcheck.prepare import input_array, is_shape, validate_settings
from gradcheck.report import GradcheckReport, GradientCheckError
from gradcheck.supervisor import run_here_limited
from gradcheck.targets import FunctionTarget

try:
    import jax
    import jax.numpy as jnp
except ImportError as exc:  # pragma: no cover - exercised where jax is missing
    raise ImportError("gradcheck.jax needs JAX: pip install 'numpy-gradcheck-layers[jax]' "
                      "(or pip install jax)") from exc

__all__ = ["check_function", "assert_gradients"]


def _flat(out: object):
    """The output as one array: a pytree of arrays (a tuple, a dict) is checked as the concatenation of its
    leaves."""
    if hasattr(out, "dtype") and hasattr(out, "shape"):
        return out
    leaves = jax.tree_util.tree_leaves(out)
    if leaves and all(hasattr(v, "dtype") and hasattr(v, "shape") for v in leaves):
        return jnp.concatenate([jnp.ravel(v) for v in leaves])
    raise TypeError(f"gradcheck.jax: the function returned {type(out).__name__}; expected an array or a pytree "
                    "of arrays (a tuple, a dict)")


def _key(entry: object) -> object:
    """One step of a JAX key path, as it reads in a name: a dict's key, a sequence's index, an attribute."""
    for field in ("key", "idx", "name"):
        if hasattr(entry, field):
            return getattr(entry, field)
    return entry


def _leaves(inputs: tuple, names: list[str]) -> tuple[list, list[str], object]:
    """The inputs' leaves (arrays or shapes), each named by its argument and path (``params.w``), and the
    structure to rebuild the arguments from them."""
    pairs, tree = jax.tree_util.tree_flatten_with_path(tuple(inputs), is_leaf=is_shape)
    leaves = [v for _, v in pairs]
    labels = [path_name(names[_key(p[0])], [_key(k) for k in p[1:]]) for p, _ in pairs]
    return leaves, labels, tree


class JaxTarget(FunctionTarget):
    """A JAX function through the functional protocol; each call gets fresh jnp arrays of the checked
    dtypes. The forward and the VJP are compiled once with ``jax.jit`` (thousands of perturbed calls of one
    shape): a function ``jax.vjp`` can differentiate can be traced."""

    def __init__(self, f: Callable, label: str, arrays: dict[str, np.ndarray], dtypes: list, tree: object,
                 rng: np.random.Generator, before_forward: Callable[[], None] | None) -> None:
        super().__init__(self._forward, self._backward, arrays, rng, before_forward)
        self.label, self._dtypes = label, dtypes

        def flat(*leaves):
            return _flat(f(*jax.tree_util.tree_unflatten(tree, leaves)))

        def pullback(args, e):
            out, vjp = jax.vjp(flat, *args)
            return vjp(e.astype(out.dtype).reshape(out.shape))

        self._value, self._pullback = jax.jit(flat), jax.jit(pullback)

    def _args(self, arrays) -> tuple:
        return tuple(jnp.asarray(a, dtype=d) for a, d in zip(arrays, self._dtypes))

    def _forward(self, *arrays: np.ndarray) -> tuple[np.ndarray, object]:
        args = self._args(arrays)
        out = self._value(*args)
        return np.asarray(out, dtype=np.float64).copy(), args

    def _backward(self, dout: np.ndarray, args: tuple) -> list[np.ndarray]:
        grads = self._pullback(args, jnp.asarray(dout))
        return [np.asarray(g, dtype=np.float64) for g in grads]


@contextmanager
def _float64_enabled():
    before = bool(jax.config.read("jax_enable_x64"))
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def _own_dtype(value: object, name: str) -> np.dtype:
    """An input's dtype (float64 for a shape); a TypeError for anything but float arrays and shapes."""
    if not (is_shape(value) or hasattr(value, "dtype")):
        raise TypeError(f"gradcheck.jax.check_function: {name} is {type(value).__name__}; expected a float array, "
                        "a shape, or a pytree of them (close over other arguments: "
                        "check_function(lambda x: f(x, idx), x))")
    dtype = np.dtype(getattr(value, "dtype", np.float64))
    if dtype.kind != "f":
        raise TypeError(f"gradcheck.jax.check_function: {name} must be a float array or a shape, got dtype {dtype} "
                        "(close over integer arguments: check_function(lambda x: f(x, idx), x))")
    return dtype


@partial(_time_limited, runner=run_here_limited)     # a forked child would deadlock in JAX's runtime
def check_function(f: Callable, *inputs, mode: str | None = None, step: float | None = None,
                   rtol: float | None = None, atol: float = 0.0, seed: int = 0, reseed: int | None = None,
                   before_forward: Callable[[], None] | None = None, progress: bool | None = None,
                   timeout: float | None = None, order: int = 1, modes: Sequence[str] = ("rev",),
                   batched: bool = False) -> GradcheckReport:
    """Check ``jax.vjp``'s gradients of ``f(*inputs)`` (custom VJPs included) against finite differences.

    Parameters
    ----------
    f : callable of arrays returning an array (or a pytree of arrays, checked as the concatenation of its
        leaves)
    inputs : arrays, shapes, or pytrees of them (``{"w": w, "b": b}``, tuples, lists)
        Every array is checked, named by its argument and its path (``params.w``); a shape ``(8, 5)`` is a
        standard normal float64 array drawn with ``seed``.
        Close over other arguments (integer indices, PRNG keys): ``check_function(lambda x: f(x, key), x)``.
    mode, step, rtol, atol, seed, progress
        As for :func:`gradcheck.check_layer`.
    timeout : float, optional
        Seconds the check may take. It runs in this process (a forked child would deadlock in JAX's
        multithreaded runtime), stopped by a timer at the next Python instruction past the limit.
    reseed : int, optional
        ``np.random.seed(reseed)`` before every call (JAX's own randomness is explicit in its keys).
    before_forward : callable, optional
        Called before every call (after ``reseed``).
    order : {1, 2}
        2: also the VJP of the VJP, tensors ``vjp.x`` and ``vjp.grad_output`` (see gradcheck.jax_orders).
    modes : subset of ("rev", "fwd")
        "fwd": also ``jax.jvp`` along every unit direction, tensors ``jvp.x``; a custom_vjp function has none.
    batched : bool
        Also ``jax.vmap`` of the function and of its VJP against per-sample calls (``vmap.output``,
        ``vmap.x``): a custom batching rule (``jax.custom_batching.custom_vmap``) that mixes samples differs.
    """
    validate_settings(mode, step, rtol, atol)
    modes = orders_and_modes(order, modes, "gradcheck.jax")
    if not inputs:
        raise TypeError("gradcheck.jax.check_function: give at least one input (an array or a shape)")
    rng = np.random.default_rng(seed)
    leaves, names, tree = _leaves(inputs, argument_names(f, len(inputs)))
    label = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__
    with _float64_enabled():
        f, leaves, names, tree = _real_view(f, leaves, names, tree)
    own = [_own_dtype(v, n) for v, n in zip(leaves, names)]
    arrays = {n: input_array(np.asarray(v) if hasattr(v, "dtype") else v, rng, n) for n, v in zip(names, leaves)}
    report = _new_report(label, mode, seed, atol)
    with _float64_enabled():
        dtypes = [np.dtype(np.float64)] * len(own)
        if any(d != np.float64 for d in own) and not _runs_in_float64(f, arrays, tree):
            dtypes = own
            report.warnings.append("the function does not run on float64 copies, so it is checked in its own dtypes")
        def run(target_class: type, fn: Callable, arrays: dict, dtypes: list, tree: object) -> GradcheckReport:
            part = _new_report(label, mode, seed, atol)
            generator = np.random.default_rng(seed)
            target = target_class(fn, label, arrays, dtypes, tree, generator, reseeding(reseed, before_forward))
            _run(target, part, generator, step=step, rtol=rtol, atol=atol, parameters=[], progress=progress, jobs=1,
                 scheduler=None)
            return part

        if "rev" in modes:
            target = JaxTarget(f, label, arrays, dtypes, tree, rng, reseeding(reseed, before_forward))
            _run(target, report, rng, step=step, rtol=rtol, atol=atol, parameters=[], progress=progress, jobs=1,
                 scheduler=None)
        if "fwd" in modes:
            from gradcheck import jax_orders

            missing = jax_orders.without_forward_mode(f, arrays, tree)
            part = run(jax_orders.ForwardModeTarget, f, arrays, dtypes, tree) if missing is None else \
                _new_report(label, mode, seed, atol)
            part.problems.extend([missing] if missing else [])
            if "rev" not in modes:
                report.step, report.rtol, report.precision = part.step, part.rtol, part.precision
            merged(report, part, "jvp")
        if order == 2:
            from gradcheck import jax_orders

            leaves = [jnp.asarray(a, dtype=d) for a, d in zip(arrays.values(), dtypes)]
            shape = np.shape(_flat(f(*jax.tree_util.tree_unflatten(tree, leaves))))
            v = np.random.default_rng([seed, 2]).standard_normal(shape)
            h = jax_orders.vjp_function(f, tree, len(arrays))
            flat_tree = jax.tree_util.tree_structure(tuple(range(len(arrays) + 1)))
            merged(report, run(JaxTarget, h, {**arrays, "grad_output": v}, dtypes + [np.dtype(np.float64)],
                               flat_tree), "vjp")
        if batched:
            from gradcheck import jax_orders

            merged(report, jax_orders.batched(f, label, arrays, tree, seed,
                                              lambda: _new_report(label, mode, seed, atol)), "vmap")
    return report


def _real_view(f: Callable, leaves: list, names: list[str], tree: object) -> tuple[Callable, list, list[str], object]:
    """Complex arrays as two real ones (``z.real``, ``z.imag``) and a complex output as its real and imaginary
    parts stacked on a last axis, so the checker's real finite differences perturb both parts and JAX's VJP
    of the parts follows from its own complex convention: a bwd rule that forgets a conjugation differs.
    Unchanged where nothing is complex."""
    def sample(v):       # in float64 (complex128), as every call of the check is
        if not hasattr(v, "dtype"):
            return jnp.zeros(tuple(v))
        return jnp.asarray(v, dtype=jnp.complex128 if np.iscomplexobj(v) else jnp.float64)
    try:
        complex_out = jnp.iscomplexobj(_flat(f(*jax.tree_util.tree_unflatten(tree, [sample(v) for v in leaves]))))
    except Exception:  # noqa: BLE001 - the check itself reports a function that raises
        complex_out = False
    complex_in = [hasattr(v, "dtype") and np.iscomplexobj(v) for v in leaves]
    if not complex_out and not any(complex_in):
        return f, leaves, names, tree
    parts, labels = [], []
    for v, name, c in zip(leaves, names, complex_in):
        parts += [np.real(np.asarray(v)).copy(), np.imag(np.asarray(v)).copy()] if c else [v]
        labels += [f"{name}.real", f"{name}.imag"] if c else [name]

    def real_f(*real):
        it = iter(real)
        rebuilt = [jax.lax.complex(next(it), next(it)) if c else next(it) for c in complex_in]
        out = _flat(f(*jax.tree_util.tree_unflatten(tree, rebuilt)))
        return jnp.stack([jnp.real(out), jnp.imag(out)], axis=-1) if jnp.iscomplexobj(out) else out
    real_f.__name__ = real_f.__qualname__ = getattr(f, "__qualname__", "f")
    return real_f, parts, labels, jax.tree_util.tree_structure(tuple(range(len(parts))))


def _runs_in_float64(f: Callable, arrays: dict[str, np.ndarray], tree: object) -> bool:
    try:
        leaves = [jnp.asarray(a, dtype=jnp.float64) for a in arrays.values()]
        out = _flat(f(*jax.tree_util.tree_unflatten(tree, leaves)))
    except (TypeError, ValueError):
        return False
    return out.dtype == jnp.float64


def assert_gradients(f: Callable, *inputs, **kwargs) -> GradcheckReport:
    """:func:`check_function`, raising :class:`GradientCheckError` (an ``AssertionError``) when it fails."""
    report = check_function(f, *inputs, **kwargs)
    if not report.ok:
        raise GradientCheckError(report)
    return report
