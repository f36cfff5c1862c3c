"""Second order and forward mode for torch functions, each checked as a first-order check of another function.

- **Second order** (``order=2``): the first-order VJP, ``h(x, v) = J(x)^T v``, is itself a function of the
  inputs and of the upstream gradient ``v``; autograd's gradient of ``h`` (through a custom Function's double
  backward, or a backward written in differentiable ops) is checked against finite differences of ``h`` with
  the same ladder, tolerance and report. Its tensors are named ``vjp.x`` (the derivative of the VJP by ``x``)
  and ``vjp.grad_output``. A backward marked ``once_differentiable`` cannot be differentiated: reported as
  such, never passed; a backward computed outside autograd (numpy, ``.detach()``) has no derivative, which is
  taken as 0 and said in a warning.
- **Forward mode** (``modes=("rev", "fwd")``): the JVP along every unit direction (forward AD, dual tensors),
  projected on the check's random upstream error ``E``, is the gradient of ``sum(f * E)`` forward mode gives;
  checked against central differences like a backward's (tensors ``jvp.x``). The JVP along one random
  direction must equal the sum of the unit ones (a JVP is linear in its tangent). A function without forward
  mode (a custom Function without ``jvp``) is told apart: a problem that says so, not a wrong gradient.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.autograd.forward_ad as fwad

from gradcheck.report import GradcheckReport
from gradcheck.torch import TorchTarget, _first_line, _one_tensor

__all__ = ["second_order", "forward_mode", "batched"]


def _untaken(label: str, kw: dict, problems: list[str]) -> GradcheckReport:
    """A report of a check that took no step (it cannot run, or it compares without finite differences)."""
    return GradcheckReport(target=label, mode=kw["mode"] or "full", seed=kw["seed"], step=0.0, rtol=0.0,
                           atol=kw["atol"], problems=problems)


# ------------------------------------------------------------------------------------------ second order

def _vjp(call: Callable[[list], object], n: int, grad_output_shape: tuple[int, ...]) -> Callable[[list], object]:
    """``h(x..., v) = J(x)^T v`` as one flat tensor (a zero block for an input without a path to the output)."""
    def h(tensors: list):
        # every input takes part in the inner VJP, whichever the outer derivative is asked of
        xs = [x if x.requires_grad else x.detach().requires_grad_(True) for x in tensors[:n]]
        v = tensors[n]
        out = _one_tensor(call(xs))
        grads = torch.autograd.grad(out, xs, v.reshape(out.shape), create_graph=True, allow_unused=True) \
            if out.requires_grad else [None] * n
        return torch.cat([(torch.zeros_like(x) if g is None else g).reshape(-1) for g, x in zip(grads, xs)])
    return h


def _refuses_differentiation(out) -> bool:
    """A node of the graph that raises when differentiated: the one ``@once_differentiable`` puts after a
    backward it ran without a graph."""
    todo, seen = [out.grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if fn.name() == "torch::autograd::Error":
            return True
        todo.extend(f for f, _ in fn.next_functions)
    return False


def _differentiable(h: Callable, tensors: list) -> tuple[str | None, str | None]:
    """(problem, warning) from one evaluation of ``h``: a backward marked once_differentiable is a problem; one
    computed outside autograd a warning."""
    out = h([t.detach().clone().requires_grad_(True) for t in tensors])
    if not out.requires_grad:
        return None, ("the backward's result does not require grad (computed outside autograd: numpy, .detach() "
                      "or torch.no_grad): its derivative is taken as 0")
    if _refuses_differentiation(out):
        return ("its backward is marked @once_differentiable, so it cannot be differentiated: not checkable at "
                "order 2 (remove the decorator and write backward in differentiable torch ops, or give a double "
                "backward)"), None
    return None, None


def second_order(call: Callable[[list], object], label: str, names: list[str], tensors: list, dtypes64: bool,
                 rng: np.random.Generator, kw: dict, check: Callable) -> GradcheckReport:
    """The order-2 check of ``call`` (see the module docstring); ``check`` is gradcheck.torch's ``_check``."""
    with torch.no_grad():
        shape = tuple(_one_tensor(call([t.detach() for t in tensors])).shape)
    v = torch.tensor(rng.standard_normal(shape), dtype=tensors[0].dtype)
    h = _vjp(call, len(tensors), shape)
    problem, warning = _differentiable(h, tensors + [v])
    if problem is not None:
        return _untaken(label, kw, [problem])
    report = check(h, label, names + ["grad_output"], tensors + [v], dtypes64, rng, kw)
    if warning:
        report.warnings.append(warning)
    return report


# ------------------------------------------------------------------------------------------ forward mode

class ForwardModeTarget(TorchTarget):
    """A torch callable whose analytic gradient of ``sum(f * E)`` comes from forward mode: ``E . J e_i`` for
    every element ``i`` of every input, one JVP each."""

    def _backward(self, dout: np.ndarray, cache: tuple) -> list[np.ndarray]:
        _, tensors = cache
        e = torch.tensor(dout, dtype=torch.float64)
        primals = [t.detach() for t in tensors]
        grads = []
        for k, p in enumerate(primals):
            g = np.zeros(p.numel())
            for i in range(p.numel()):
                tangent = torch.zeros(p.numel(), dtype=p.dtype)
                tangent[i] = 1
                g[i] = float((self.jvp(primals, k, tangent.reshape(p.shape)).to(torch.float64) *
                              e.reshape(-1)).sum())
            grads.append(g.reshape(tuple(p.shape)))
        return grads

    def jvp(self, primals: list, k: int, tangent, others=None):
        """The JVP of the function at ``primals`` along ``tangent`` in input ``k`` (``others``: tangents of the
        other inputs, zero by default), flat."""
        with fwad.dual_level():
            duals = [fwad.make_dual(p, tangent if j == k else (torch.zeros_like(p) if others is None else others[j]))
                     for j, p in enumerate(primals)]
            out = _one_tensor(self._user_call(duals))
            t = fwad.unpack_dual(out).tangent
        return torch.zeros(out.numel(), dtype=out.dtype) if t is None else t.reshape(-1)

    def hygiene(self, grads: dict, problems: list[str]) -> None:
        """Linearity: the JVP along a random direction of every input at once is the sum of the unit ones."""
        if any(g is None for g in grads.values()) or self.error is None:
            return
        rng = np.random.default_rng(11)
        primals = [torch.tensor(v, dtype=d) for v, d in zip(self.inputs.values(), self._dtypes)]
        directions = [torch.tensor(rng.standard_normal(tuple(p.shape)), dtype=p.dtype) for p in primals]
        along = float((self.jvp(primals, -1, None, directions).to(torch.float64) *
                       torch.tensor(self.error).reshape(-1)).sum())
        summed = sum(float((g * d.detach().to(torch.float64).numpy()).sum()) for g, d in zip(grads.values(),
                                                                                            directions))
        if not np.isclose(along, summed, rtol=1e-6, atol=1e-9 * (abs(summed) + 1)):
            problems.append(f"the JVP is not linear in its tangent: along a random direction it gives {along:.6g}, "
                            f"the sum of the unit directions {summed:.6g} (a jvp that squares, normalises or "
                            "ignores part of its tangent?)")


def _without_forward_mode(call: Callable[[list], object], tensors: list) -> str | None:
    """Why ``call`` has no forward mode (a custom Function without ``jvp``), or None."""
    with fwad.dual_level():
        try:
            call([fwad.make_dual(t.detach(), torch.zeros_like(t)) for t in tensors])
        except (NotImplementedError, RuntimeError) as exc:
            text = _first_line(exc)
            if "jvp" in text or "forward" in text.lower():
                return f"it has no forward mode ({text}): define a jvp staticmethod to check it in forward mode"
            raise
    return None


def forward_mode(call: Callable[[list], object], label: str, names: list[str], tensors: list, dtypes64: bool,
                 rng: np.random.Generator, kw: dict, run: Callable) -> GradcheckReport:
    """The forward-mode check of ``call``; ``run(target_class)`` runs gradcheck.torch's pipeline with it."""
    missing = _without_forward_mode(call, tensors)
    if missing is not None:
        return _untaken(label, kw, [missing])
    return run(ForwardModeTarget)


# ------------------------------------------------------------------------------------------ batched

BATCH = 3       # samples in the batched call


def batched(call: Callable[[list], object], label: str, names: list[str], tensors: list, kw: dict
            ) -> GradcheckReport:
    """``torch.func.vmap`` of the function and of its VJP against the per-sample calls: ``BATCH`` samples
    (the inputs moved by small random amounts), tensors ``vmap.output`` and ``vmap.<input>`` compared element
    by element as two computations of the same values are (``REFERENCE_TOLERANCE_TEXT``). A function that
    torch cannot vmap (an autograd.Function without ``setup_context``, or without ``generate_vmap_rule`` or a
    ``vmap`` staticmethod) is told apart: a problem that says so."""
    from gradcheck.reference import compare_tensors

    report = _untaken(label, kw, [])
    rng = np.random.default_rng([kw["seed"], 3])
    primal = [t.detach().to(torch.float64) if t.is_floating_point() else t.detach() for t in tensors]
    samples = [[p + 0.1 * torch.tensor(rng.standard_normal(tuple(p.shape)), dtype=p.dtype) for p in primal]
               for _ in range(BATCH)]
    stacked = [torch.stack([s[k] for s in samples]) for k in range(len(primal))]

    def flat(*xs):
        return _one_tensor(call(list(xs)))

    def vjp(*args):
        out, pullback = torch.func.vjp(flat, *args[:-1])
        return pullback(args[-1])

    outs = [flat(*s).detach() for s in samples]
    cotangents = torch.tensor(rng.standard_normal((BATCH, *outs[0].shape)), dtype=outs[0].dtype)
    try:
        together = torch.func.vmap(flat)(*stacked).detach()
        grads = torch.func.vmap(vjp)(*stacked, cotangents)
    except (RuntimeError, NotImplementedError) as exc:
        report.problems.append(f"it cannot be vmapped ({_first_line(exc)}): give the Function setup_context and "
                               "generate_vmap_rule = True (or a vmap staticmethod) to check its batched gradients")
        return report
    eps = float(np.finfo(np.float64).eps)
    report.tensors.append(compare_tensors("output", together.numpy(), torch.stack(outs).numpy(), eps, 0.0,
                                          kw["atol"], method="batched"))
    per_sample = []
    for s, v in zip(samples, cotangents):
        xs = [x.clone().requires_grad_(True) for x in s]
        per_sample.append(torch.autograd.grad(flat(*xs), xs, v, allow_unused=True))
    for k, name in enumerate(names):
        mine = grads[k].detach()
        theirs = torch.stack([g[k] if g[k] is not None else torch.zeros_like(s[k]) for g, s in
                              zip(per_sample, samples)])
        report.tensors.append(compare_tensors(name, mine.numpy(), theirs.numpy(), eps, 0.0, kw["atol"],
                                              method="batched"))
    return report
