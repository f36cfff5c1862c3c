"""A zoo of torch custom autograd Functions and modules, written for the project: the mistakes people make
in hand-written backward passes, each beside a correct twin.

``BROKEN`` and ``CORRECT`` map a name to ``(callable, inputs factory)``; the factory returns fresh tensors
(float64 unless the case is about another dtype) so every checker gets its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().requires_grad_(True)


def _normal(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return _leaf(torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype))


# ------------------------------------------------------------------------------------------- correct

class Exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


class Sigmoid32(torch.autograd.Function):
    """A sigmoid computed in float32 whatever it is given (so it is checked in float32)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x.to(torch.float32))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g.to(torch.float32) * y * (1 - y)


class Linear(torch.autograd.Function):
    """x @ w + b, with the needs_input_grad branches done right."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = g @ w.T if ctx.needs_input_grad[0] else None
        gw = x.T @ g if ctx.needs_input_grad[1] else None
        gb = g.sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0)


class LeakyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, 0.01 * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.where(x > 0, 1.0, 0.01).to(g.dtype)


class SinCos(torch.autograd.Function):
    """Two outputs: backward must use both cotangents."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin(), x.cos()

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        return g_sin * x.cos() - g_cos * x.sin()


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * g * x


def square_then_shift(x):
    """Square of an intermediate; the intermediate is not touched afterwards."""
    h = x * 1.5
    return Square.apply(h) + h


def layer_norm(x):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + 1e-5)


def max_pool(x):
    return F.max_pool2d(x, 2)


def _tied_image() -> torch.Tensor:
    """Pooling windows with ties: 2x2 blocks of equal values beside distinct ones."""
    x = torch.arange(32, dtype=torch.float64).reshape(1, 2, 4, 4) / 7.0
    x[0, 0, :2, :2] = 1.0
    x[0, 1, 2:, 2:] = -0.5
    return _leaf(x)


def _kinked(*shape: int) -> torch.Tensor:
    """Normal values with every third element exactly 0."""
    x = _normal(*shape).detach()
    x.view(-1)[::3] = 0.0
    return _leaf(x)


class Counter(torch.nn.Module):
    """A module whose buffer counts calls and scales the output: correct gradient for each call, but the
    output changes from call to call (state carried between calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.lin(x) * (1 + 1e-3 * self.calls)


def affine(params: dict, x: torch.Tensor) -> dict:
    """Parameters in a dict, a dict out (the functional style of torch.func): every tensor is named by its
    path (params.w, params.b)."""
    return {"y": Linear.apply(x, params["w"], params["b"]), "w_norm": (params["w"] ** 2).sum()}


def pair_product(pair: list) -> tuple:
    """Two tensors in a list, two outputs in a tuple."""
    a, b = pair
    return Exp.apply(a) * b, Sigmoid.apply(b)


def _params() -> dict:
    return {"w": _normal(4, 3, seed=1), "b": _normal(3, seed=2)}


CORRECT = {
    "exp": (Exp.apply, lambda: (_normal(6, 4),)),
    "sigmoid": (Sigmoid.apply, lambda: (_normal(6, 4),)),
    "linear": (Linear.apply, lambda: (_normal(5, 4), _normal(4, 3, seed=1), _normal(3, seed=2))),
    "relu at exact zeros": (ReLU.apply, lambda: (_kinked(6, 5),)),
    "leaky relu at exact zeros": (LeakyReLU.apply, lambda: (_kinked(6, 5),)),
    "two outputs": (SinCos.apply, lambda: (_normal(5, 3),)),
    "square of an intermediate": (square_then_shift, lambda: (_normal(5, 3),)),
    "layer norm at an offset of 1e3": (layer_norm, lambda: (_leaf(_normal(4, 6).detach() + 1e3),)),
    "max pool with ties": (max_pool, lambda: (_tied_image(),)),
    "float32 Linear module": (torch.nn.Linear(6, 4), lambda: (_normal(5, 6, dtype=torch.float32),)),
    "float32 Exp": (Exp.apply, lambda: (_normal(6, 4, dtype=torch.float32),)),
    "sigmoid computed in float32": (Sigmoid32.apply, lambda: (_normal(6, 4, dtype=torch.float32),)),
    "parameters in a dict, a dict out": (affine, lambda: (_params(), _normal(5, 4))),
    "tensors in a list, a tuple out": (pair_product, lambda: ([_normal(4, 3), _normal(4, 3, seed=1)],)),
}


# ------------------------------------------------------------------------------------------- broken

class SigmoidForgetsFactor(Sigmoid):
    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y                                # the (1 - y) factor is missing


class Sigmoid32OneElement(Sigmoid32):
    """Its gradient 0.3 % off in one element: float32 resolves about 1e-5 here, the others agree to 3e-6."""

    @staticmethod
    def backward(ctx, g):
        grad = Sigmoid32.backward(ctx, g)
        grad[2, 1] *= 1.003
        return grad


def exp_one_element_off(relative: float) -> type:
    """Exp whose gradient is off by ``relative`` in one element: an indexing slip in a hand-written loop
    (1e-3), or a float32 constant in one spot (1e-5)."""
    class ExpOneElement(Exp):
        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            grad = g * y
            grad[2, 1] *= 1 + relative
            return grad
    return ExpOneElement


class LinearBiasMean(Linear):
    """The bias gradient averaged over the batch."""

    @staticmethod
    def backward(ctx, g):
        gx, gw, gb = Linear.backward(ctx, g)
        return gx, gw, (None if gb is None else gb / len(g))


def affine_bias_mean(params: dict, x: torch.Tensor) -> dict:
    return {"y": LinearBiasMean.apply(x, params["w"], params["b"]), "w_norm": (params["w"] ** 2).sum()}


class LinearBranchSlip(Linear):
    """Copy-pasted needs_input_grad index: w's gradient is computed only when x needs one."""

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = g @ w.T if ctx.needs_input_grad[0] else None
        gw = x.T @ g if ctx.needs_input_grad[0] else None
        gb = g.sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


class LinearBranchShape(Linear):
    """When x needs no gradient, backward returns the bias gradient in w's slot (a wrong shape)."""

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            return g @ w.T, x.T @ g, g.sum(0)
        return None, g.sum(0), g.sum(0)


class SinCosDropsCotangent(SinCos):
    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        return g_sin * x.cos()                      # the cos output's cotangent is dropped


class SquareStashed(torch.autograd.Function):
    """Keeps its input as an attribute instead of save_for_backward, so autograd cannot see that the
    caller modifies it in place afterwards: backward uses the modified value."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g * ctx.x


def square_then_modify(x):
    h = x * 1.5
    y = SquareStashed.apply(h)
    h.add_(1.0)                                     # the caller reuses the buffer
    return y + h.detach()


def square_saved_then_modify(x):
    """save_for_backward done right, and the caller still modifies the saved tensor in place afterwards:
    autograd's version counter sees it and backward raises."""
    h = x * 1.5
    y = Square.apply(h)
    h.add_(1.0)
    return y + h.detach()


class ClampInPlace(torch.autograd.Function):
    """Writes into its input inside forward (no autograd error there): the caller's tensor changes."""

    @staticmethod
    def forward(ctx, x):
        x.clamp_(min=-1.0)
        ctx.save_for_backward(x)
        return x.exp()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.exp() * (x > -1.0)


class ReLUMaskFromError(ReLU):
    """Masks by the sign of the incoming error instead of the input (a slip between g and x)."""

    @staticmethod
    def backward(ctx, g):
        return g * (g > 0)


class LayerNormNoMeanGradient(torch.autograd.Function):
    """Layer norm whose backward forgets the mean's and the variance's dependence on x."""

    @staticmethod
    def forward(ctx, x):
        mu = x.mean(-1, keepdim=True)
        sd = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5)
        ctx.save_for_backward(sd)
        return (x - mu) / sd

    @staticmethod
    def backward(ctx, g):
        (sd,) = ctx.saved_tensors
        return g / sd


class MemoExp(torch.autograd.Function):
    """Caches its output by input shape (a 'speed-up'): every later call of that shape gets the first
    call's output, and backward multiplies by it."""

    memo: dict = {}

    @staticmethod
    def forward(ctx, x):
        y = MemoExp.memo.setdefault(tuple(x.shape), x.exp())
        ctx.save_for_backward(y)
        return y.clone()

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


def _fresh_memo(make):
    """The inputs of ``make``, with MemoExp's memo emptied first, as in a new process."""
    def inputs():
        MemoExp.memo.clear()
        return make()
    return inputs


class ExpGradientOnceForAll(Exp):
    """Backward returns the gradient summed over the batch in every row (a broadcast slip)."""

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g * y).mean(0, keepdim=True).expand_as(y).clone()


BROKEN = {
    "sigmoid forgets (1 - y)": (SigmoidForgetsFactor.apply, CORRECT["sigmoid"][1]),
    "one element off by 1e-3": (exp_one_element_off(1e-3).apply, CORRECT["exp"][1]),
    "one element off by 1e-5": (exp_one_element_off(1e-5).apply, CORRECT["exp"][1]),
    "needs_input_grad index slip": (LinearBranchSlip.apply, CORRECT["linear"][1]),
    "needs_input_grad branch, wrong shape": (LinearBranchShape.apply, CORRECT["linear"][1]),
    "drops a cotangent": (SinCosDropsCotangent.apply, CORRECT["two outputs"][1]),
    "stashed input modified in place": (square_then_modify, CORRECT["square of an intermediate"][1]),
    "saved tensor modified in place": (square_saved_then_modify, CORRECT["square of an intermediate"][1]),
    "writes into its input": (ClampInPlace.apply, lambda: (_leaf(_normal(6, 4).detach() * 2),)),
    "relu masked by the error's sign": (ReLUMaskFromError.apply, CORRECT["relu at exact zeros"][1]),
    "layer norm without the mean's gradient": (LayerNormNoMeanGradient.apply,
                                               CORRECT["layer norm at an offset of 1e3"][1]),
    "output memoised by shape": (MemoExp.apply, _fresh_memo(CORRECT["exp"][1])),
    "batch-mean gradient in every row": (ExpGradientOnceForAll.apply, CORRECT["exp"][1]),
    "buffer changes the output each call": (Counter().double(), lambda: (_normal(5, 4),)),
    "float32 sigmoid one element off by 0.3 %": (Sigmoid32OneElement.apply, CORRECT["sigmoid computed in float32"][1]),
    "bias gradient averaged, parameters in a dict": (affine_bias_mean, CORRECT["parameters in a dict, a dict out"][1]),
}
