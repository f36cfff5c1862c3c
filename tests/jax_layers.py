"""A zoo of JAX functions with custom VJPs, written for the project: the mistakes people make in
``jax.custom_vjp`` rules, each beside a correct twin.

``BROKEN`` and ``CORRECT`` map a name to ``(function, inputs factory)``; the factory returns fresh numpy
arrays (float64 unless the case is about float32).
"""
from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np


def _normal(*shape: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _kinked(*shape: int) -> np.ndarray:
    x = _normal(*shape)
    x.reshape(-1)[::3] = 0.0
    return x


def _vjp(fwd, bwd):
    """A custom_vjp function from its rule ``fwd(*args) -> (out, residuals)`` and ``bwd(residuals, g)``; the
    primal takes fwd's name and parameters, so reports name it and x, w, b."""
    def primal(*args):
        return fwd(*args)[0]
    primal.__name__ = primal.__qualname__ = fwd.__name__.strip("_").removesuffix("_fwd")
    primal.__signature__ = inspect.signature(fwd)
    f = jax.custom_vjp(primal)
    f.defvjp(fwd, bwd)
    return f


# ------------------------------------------------------------------------------------------- correct

def _softplus_fwd(x):
    return jnp.logaddexp(x, 0.0), x


softplus = _vjp(_softplus_fwd, lambda x, g: (g * jax.nn.sigmoid(x),))


def _linear_fwd(x, w, b):
    return x @ w + b, (x, w)


linear = _vjp(_linear_fwd, lambda res, g: (g @ res[1].T, res[0].T @ g, g.sum(0)))


def _relu_fwd(x):
    return jnp.maximum(x, 0.0), x


relu = _vjp(_relu_fwd, lambda x, g: (g * (x > 0),))


def _leaky_relu_fwd(x):
    return jnp.where(x > 0, x, 0.01 * x), x


leaky_relu = _vjp(_leaky_relu_fwd, lambda x, g: (g * jnp.where(x > 0, 1.0, 0.01).astype(g.dtype),))


def _sincos_fwd(x):
    return (jnp.sin(x), jnp.cos(x)), x


sincos = _vjp(_sincos_fwd, lambda x, g: (g[0] * jnp.cos(x) - g[1] * jnp.sin(x),))


def _norm_fwd(x):
    mu = x.mean(-1, keepdims=True)
    sd = jnp.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    y = (x - mu) / sd
    return y, (y, sd)


def _norm_bwd(res, g):
    y, sd = res
    n = y.shape[-1]
    return ((g - g.mean(-1, keepdims=True) - y * (g * y).sum(-1, keepdims=True) / n) / sd,)


layer_norm = _vjp(_norm_fwd, _norm_bwd)


def _exp_fwd(x):
    y = jnp.exp(x)
    return y, y


exp = _vjp(_exp_fwd, lambda y, g: (g * y,))

def _sigmoid32_fwd(x):
    y = jax.nn.sigmoid(x.astype(jnp.float32))     # float32 whatever it is given: checked in float32
    return y, y


sigmoid32 = _vjp(_sigmoid32_fwd, lambda y, g: (g * y * (1 - y),))


def _affine_fwd(params, x):
    return x @ params["w"] + params["b"], (params, x)


def _affine_bwd(res, g):
    params, x = res
    return {"w": x.T @ g, "b": g.sum(0)}, g @ params["w"].T


affine = _vjp(_affine_fwd, _affine_bwd)        # parameters in a dict: checked as params.w, params.b


def _pair_product_fwd(pair):
    a, b = pair
    return {"ab": a * b, "a": jnp.sin(a)}, pair     # a tuple in, a dict out


pair_product = _vjp(_pair_product_fwd, lambda pair, g: ((g["ab"] * pair[1] + g["a"] * jnp.cos(pair[0]),
                                                          g["ab"] * pair[0]),))


def _params():
    return {"w": _normal(4, 3, seed=1), "b": _normal(3, seed=2)}


CORRECT = {
    "softplus": (softplus, lambda: (_normal(6, 4),)),
    "linear": (linear, lambda: (_normal(5, 4), _normal(4, 3, seed=1), _normal(3, seed=2))),
    "relu at exact zeros": (relu, lambda: (_kinked(6, 5),)),
    "leaky relu at exact zeros": (leaky_relu, lambda: (_kinked(6, 5),)),
    "two outputs": (sincos, lambda: (_normal(5, 3),)),
    "layer norm at an offset of 1e3": (layer_norm, lambda: (_normal(4, 6) + 1e3,)),
    "float32 exp": (exp, lambda: (_normal(6, 4, dtype=np.float32),)),
    "float32 linear": (linear, lambda: tuple(a.astype(np.float32) for a in CORRECT["linear"][1]())),
    "sigmoid computed in float32": (sigmoid32, lambda: (_normal(6, 4, dtype=np.float32),)),
    "parameters in a dict": (affine, lambda: (_params(), _normal(5, 4))),
    "a tuple in, a dict out": (pair_product, lambda: ((_normal(4, 3), _normal(4, 3, seed=1)),)),
}


# ------------------------------------------------------------------------------------------- broken

def _drops_cotangent(x, g):
    return (g[0] * jnp.cos(x),)                    # the cos output's cotangent is dropped


def _one_element(y, g, rel):
    return ((g * y).at[2, 1].multiply(1 + rel),)


def _bias_mean(res, g):
    return (g @ res[1].T, res[0].T @ g, g.mean(0))    # the bias gradient averaged over the batch


def _norm_no_mean(res, g):
    return (g / res[1],)                           # the mean's and variance's dependence forgotten


def _relu_by_cotangent(x, g):
    return (g * (g > 0),)                          # masked by the cotangent's sign instead of the input's


def _softplus_residual_is_output(x, g):
    y = jnp.logaddexp(x, 0.0)
    return (g * jax.nn.sigmoid(y),)                # sigmoid of the output, not the input


BROKEN = {
    "drops a cotangent": (_vjp(_sincos_fwd, _drops_cotangent), CORRECT["two outputs"][1]),
    "one element off by 1e-3": (_vjp(_exp_fwd, lambda y, g: _one_element(y, g, 1e-3)), CORRECT["softplus"][1]),
    "one element off by 1e-5": (_vjp(_exp_fwd, lambda y, g: _one_element(y, g, 1e-5)), CORRECT["softplus"][1]),
    "bias gradient averaged": (_vjp(_linear_fwd, _bias_mean), CORRECT["linear"][1]),
    "layer norm without the mean's gradient": (_vjp(_norm_fwd, _norm_no_mean),
                                               CORRECT["layer norm at an offset of 1e3"][1]),
    "relu masked by the cotangent's sign": (_vjp(_relu_fwd, _relu_by_cotangent),
                                            CORRECT["relu at exact zeros"][1]),
    "sigmoid of the output": (_vjp(_softplus_fwd, _softplus_residual_is_output), CORRECT["softplus"][1]),
    "float32 one element off by 1e-3": (_vjp(_exp_fwd, lambda y, g: _one_element(y, g, 1e-3)),
                                        CORRECT["float32 exp"][1]),
    # float32 resolves about 1e-5 here: 0.3 % (and 1 %) passed a tolerance of rtol 1e-3 plus rounding assumed
    "bias gradient averaged, parameters in a dict": (
        _vjp(_affine_fwd, lambda res, g: ({"w": res[1].T @ g, "b": g.mean(0)}, g @ res[0]["w"].T)),
        CORRECT["parameters in a dict"][1]),
    "the pair's gradients swapped": (
        _vjp(_pair_product_fwd, lambda pair, g: ((g["ab"] * pair[0] + g["a"] * jnp.cos(pair[0]), g["ab"] * pair[1]),)),
        CORRECT["a tuple in, a dict out"][1]),
    "float32 sigmoid one element off by 0.3 %": (_vjp(_sigmoid32_fwd, lambda y, g: _one_element(y * (1 - y), g, 3e-3)),
                                               CORRECT["sigmoid computed in float32"][1]),
}
