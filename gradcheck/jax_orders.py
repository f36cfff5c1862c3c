"""Second order and forward mode for JAX functions, as for torch (see gradcheck.torch_orders):

- ``order=2``: the VJP of the VJP. ``h(x, v) = vjp(f, x)(v)`` is checked as a function of the inputs and the
  upstream gradient (``vjp.x``, ``vjp.grad_output``): JAX differentiates a ``custom_vjp``'s bwd rule, or the
  transposed ``custom_jvp``, and finite differences of ``h`` judge it.
- ``modes=("rev", "fwd")``: ``jax.jvp`` along every unit direction, projected on the check's upstream error
  (``jvp.x``), against central differences, and along a random direction against the sum of the unit ones. A
  ``custom_vjp`` function has no forward mode in JAX: told apart, as a problem that says so.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gradcheck.jax import JaxTarget, _flat

__all__ = ["vjp_function", "ForwardModeTarget", "without_forward_mode"]


def vjp_function(f: Callable, tree: object, n: int) -> Callable:
    """``h(*leaves, v)``: the VJP of ``f`` at the leaves applied to ``v``, as one flat array."""
    def h(*args):
        leaves, v = args[:n], args[n]

        def flat(*xs):
            return _flat(f(*jax.tree_util.tree_unflatten(tree, xs)))
        out, pullback = jax.vjp(flat, *leaves)
        return jnp.concatenate([jnp.ravel(g) for g in pullback(v.astype(out.dtype).reshape(out.shape))])
    return h


class ForwardModeTarget(JaxTarget):
    """A JAX function whose analytic gradient of ``sum(f * E)`` comes from forward mode: the Jacobian by
    ``jax.jacfwd`` (a JVP per unit direction), contracted with ``E``."""

    def __init__(self, f: Callable, label: str, arrays: dict, dtypes: list, tree: object, rng, before_forward
                 ) -> None:
        super().__init__(f, label, arrays, dtypes, tree, rng, before_forward)

        def flat(*leaves):
            return _flat(f(*jax.tree_util.tree_unflatten(tree, leaves)))

        def forward_gradient(args, e):
            jacobians = jax.jacfwd(flat, argnums=tuple(range(len(args))))(*args)
            return tuple(jnp.tensordot(e.astype(j.dtype).reshape(-1), j.reshape(e.size, *a.shape), axes=1)
                         for j, a in zip(jacobians, args))

        def along(args, tangents):
            return jax.jvp(flat, tuple(args), tuple(tangents))[1]

        self._pullback, self._along = jax.jit(forward_gradient), jax.jit(along)

    def hygiene(self, grads: dict, problems: list[str]) -> None:
        """Linearity: the JVP along a random direction of every input at once is the sum of the unit ones."""
        if any(g is None for g in grads.values()) or self.error is None:
            return
        rng = np.random.default_rng(11)
        args = self._args(list(self.inputs.values()))
        directions = [rng.standard_normal(np.shape(a)) for a in args]
        out = self._along(args, [jnp.asarray(d, dtype=a.dtype) for d, a in zip(directions, args)])
        along = float(np.sum(np.asarray(out, dtype=np.float64).reshape(-1) * self.error.reshape(-1)))
        summed = sum(float(np.sum(g * d)) for g, d in zip(grads.values(), directions))
        if not np.isclose(along, summed, rtol=1e-6, atol=1e-9 * (abs(summed) + 1)):
            problems.append(f"the JVP is not linear in its tangent: along a random direction it gives {along:.6g}, "
                            f"the sum of the unit directions {summed:.6g}")


def without_forward_mode(f: Callable, arrays: dict, tree: object) -> str | None:
    """Why ``f`` has no forward mode in JAX (a custom_vjp function), or None."""
    leaves = [jnp.asarray(a) for a in arrays.values()]

    def flat(*xs):
        return _flat(f(*jax.tree_util.tree_unflatten(tree, xs)))
    try:
        jax.jvp(flat, tuple(leaves), tuple(jnp.zeros_like(v) for v in leaves))
    except TypeError as exc:
        text = (str(exc).strip().splitlines() or [""])[0]
        if "custom_vjp" in text or "forward-mode" in text:
            return f"it has no forward mode in JAX ({text}): a custom_jvp rule is checkable in forward mode"
        raise
    return None


BATCH = 3       # samples in the batched call


def batched(f: Callable, label: str, arrays: dict, tree: object, seed: int, report_of: Callable) -> object:
    """``jax.vmap`` of the function and of its VJP against the per-sample calls, over ``BATCH`` samples (the
    inputs moved by small random amounts): tensors ``output`` and one per input, compared as two computations
    of the same values are (gradcheck.reference's rule). ``report_of()`` makes the empty report."""
    from gradcheck.reference import compare_tensors

    report = report_of()
    rng = np.random.default_rng([seed, 3])
    names = list(arrays)
    samples = [[np.asarray(a) + 0.1 * rng.standard_normal(np.shape(a)) for a in arrays.values()]
               for _ in range(BATCH)]

    def flat(*xs):
        return _flat(f(*jax.tree_util.tree_unflatten(tree, xs)))

    def vjp(*args):
        out, pullback = jax.vjp(flat, *args[:-1])
        return pullback(args[-1].astype(out.dtype).reshape(out.shape))

    outs = [np.asarray(flat(*map(jnp.asarray, s))) for s in samples]
    cotangents = rng.standard_normal((BATCH, *outs[0].shape))
    stacked = [jnp.asarray(np.stack([s[k] for s in samples])) for k in range(len(names))]
    together = np.asarray(jax.vmap(flat)(*stacked))
    grads = jax.vmap(vjp)(*stacked, jnp.asarray(cotangents))
    eps = float(np.finfo(np.float64).eps)
    report.tensors.append(compare_tensors("output", together, np.stack(outs), eps, 0.0, 0.0, method="batched"))
    per_sample = [vjp(*map(jnp.asarray, s), jnp.asarray(v)) for s, v in zip(samples, cotangents)]
    for k, name in enumerate(names):
        report.tensors.append(compare_tensors(name, np.asarray(grads[k]), np.stack([np.asarray(g[k]) for g in
                                                                                    per_sample]),
                                              eps, 0.0, 0.0, method="batched"))
    return report
