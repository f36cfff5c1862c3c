"""torch Functions for the second-order and forward-mode checks: each bug with its correct twin.

``SECOND`` and ``FORWARD`` map a name to (function, its input shape, right?, why it is wrong).
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from tests import torch_layers


class Cube(torch.autograd.Function):
    """x^3 with a backward in differentiable torch ops: its double backward is autograd's, and right."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


class CubeDetached(Cube):
    """The backward's x detached: its derivative by x (6 x g) is lost, the one by g (3 x^2) stays."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x.detach() ** 2 * g


class CubeGrad(torch.autograd.Function):
    """Cube's backward as a Function of its own, ``3 x^2 g``, with its double backward written out."""

    @staticmethod
    def forward(ctx, x, g):
        ctx.save_for_backward(x, g)
        return 3 * x ** 2 * g

    @staticmethod
    def backward(ctx, gg):
        x, g = ctx.saved_tensors
        return 6 * x * g * gg, 3 * x ** 2 * gg


class CubeGradMissingTerm(CubeGrad):
    """The double backward without the term of x (it returns None for it)."""

    @staticmethod
    def backward(ctx, gg):
        x, g = ctx.saved_tensors
        return None, 3 * x ** 2 * gg


class CubeDouble(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return CubeGrad.apply(x, g)


class CubeDoubleMissingTerm(Cube):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return CubeGradMissingTerm.apply(x, g)


class CubeOnce(Cube):
    """A right backward marked once_differentiable: not checkable at order 2."""

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


class Exp(torch_layers.Exp):
    """exp with a backward and a jvp (its forward saves y for both)."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        ctx.save_for_forward(y)
        return y

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return t * y


class ExpWrongJvp(Exp):
    """The jvp off by 0.1 %."""

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return 1.001 * t * y


class ExpNonlinearJvp(Exp):
    """The jvp scaled by the tangent's length: right along every unit direction, wrong along any other."""

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved_tensors
        return t * y * t.norm()


class ExpNoJvp(torch_layers.Exp):
    """tests.torch_layers' exp: a backward and no jvp, so no forward mode."""


SECOND = {
    "cube, backward in torch ops": (Cube.apply, (4, 3), True, None),
    "cube, double backward written out": (CubeDouble.apply, (4, 3), True, None),
    "cube, backward from a detached x": (CubeDetached.apply, (4, 3), False, "vjp.x"),
    "cube, double backward missing the x term": (CubeDoubleMissingTerm.apply, (4, 3), False, "vjp.x"),
    "cube, backward once_differentiable": (CubeOnce.apply, (4, 3), False, "once_differentiable"),
}
FORWARD = {
    "exp with its jvp": (Exp.apply, (4, 3), True, None),
    "exp, jvp 0.1 % off": (ExpWrongJvp.apply, (4, 3), False, "jvp.x"),
    "exp, jvp not linear in its tangent": (ExpNonlinearJvp.apply, (4, 3), False, "not linear in its tangent"),
    "exp without a jvp": (ExpNoJvp.apply, (4, 3), False, "no forward mode"),
}


class SinCosUndefined(torch.autograd.Function):
    """(sin x, cos x) with ``set_materialize_grads(False)``: backward is handed None for an unused output."""

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        grad = torch.zeros_like(x)
        if g_sin is not None:
            grad = grad + g_sin * x.cos()
        if g_cos is not None:
            grad = grad - g_cos * x.sin()
        return grad


class SinCosBreaksOnNone(SinCosUndefined):
    """The same, but backward multiplies by both gradients as if neither could be None."""

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        return g_sin * x.cos() - g_cos * x.sin()


class SinCosWrongOnNone(SinCosUndefined):
    """Handles None, but its branch for an unused cos output forgets the sign of the sin term."""

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        if g_cos is None:
            return -g_sin * x.cos()
        if g_sin is None:
            return -g_cos * x.sin()
        return g_sin * x.cos() - g_cos * x.sin()


class ExpGradNone(torch_layers.Exp):
    """A backward that returns None for an input that needs its gradient: autograd takes it as zero."""

    @staticmethod
    def backward(ctx, g):
        return None


UNDEFINED = {
    "sin and cos, None handled": (SinCosUndefined.apply, (4, 3), True, None),
    "sin and cos, backward breaks on None": (SinCosBreaksOnNone.apply, (4, 3), False, "raised TypeError"),
    "sin and cos, wrong in its None branch": (SinCosWrongOnNone.apply, (4, 3), False, "undefined (None) gradient"),
    "exp, backward returns None": (ExpGradNone.apply, (4, 3), False, "wrong gradient of x"),
}


class ComplexSquare(torch.autograd.Function):
    """z^2 for complex z: holomorphic, so torch's backward is ``g * conj(2 z)``."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * z

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * (2 * z).conj()


class ComplexSquareNoConj(ComplexSquare):
    """The conjugation forgotten: ``g * 2 z``."""

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * 2 * z


class ComplexAbs(torch.autograd.Function):
    """|z|, real: torch's backward is ``g * z / |z|`` (sgn z)."""

    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z.abs()

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * z / z.abs()


class ComplexAbsConjugated(ComplexAbs):
    """``g * conj(z) / |z|``: the imaginary part's sign wrong (as abs's gradient was, pytorch#68001)."""

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * z.conj() / z.abs()


def _complex(*shape: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g, dtype=torch.float64),
                         torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_(True)


COMPLEX = {
    "z^2, conj(2 z) in backward": (ComplexSquare.apply, lambda: _complex(4, 3), True, None),
    "z^2, conjugation forgotten": (ComplexSquareNoConj.apply, lambda: _complex(4, 3), False, "z.imag"),
    "|z|, sgn(z) in backward": (ComplexAbs.apply, lambda: _complex(4, 3), True, None),
    "|z|, conj(z) / |z| in backward": (ComplexAbsConjugated.apply, lambda: _complex(4, 3), False, "z.imag"),
}


class ExpVmap(torch.autograd.Function):
    """exp in the style torch.func needs (setup_context) with a generated vmap rule: right."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.exp()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class ScaleByMeanVmapRule(torch.autograd.Function):
    """``x * mean(x)`` per sample (the mean of its own elements) with a vmap staticmethod."""

    @staticmethod
    def forward(x):
        return x * x.mean()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.mean() + (g * x).sum() / x.numel()

    @staticmethod
    def vmap(info, in_dims, x):
        x = x.movedim(in_dims[0], 0)
        return x * x.mean(dim=tuple(range(1, x.dim())), keepdim=True), 0


class ScaleByMeanMixed(ScaleByMeanVmapRule):
    """Its vmap rule takes the mean over the whole batch: each sample's output depends on the others."""

    @staticmethod
    def vmap(info, in_dims, x):
        x = x.movedim(in_dims[0], 0)
        return x * x.mean(), 0          # the mean over the whole batch: samples mixed


BATCHED = {
    "exp, generated vmap rule": (ExpVmap.apply, (4, 3), True, None),
    "x mean(x), its own vmap rule": (ScaleByMeanVmapRule.apply, (4, 3), True, None),
    "x mean(x), a vmap rule that mixes samples": (ScaleByMeanMixed.apply, (4, 3), False, "vmap.output"),
    "exp without setup_context": (torch_layers.Exp.apply, (4, 3), False, "cannot be vmapped"),
}
