"""gradcheck.jax at order 2 and in forward mode, side by side with jax.test_util.check_grads.

Needs the ``jax`` extra; without JAX the module is skipped, saying so."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the jax extra is not installed (pip install -e '.[jax]')")
import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

from gradcheck.jax import check_function  # noqa: E402
from gradcheck.report import crux  # noqa: E402


def _cube(detached: bool):
    @jax.custom_vjp
    def cube(x):
        return x ** 3

    def fwd(x):
        return x ** 3, x

    def bwd(x, g):              # detached: the bwd's x behind stop_gradient, its derivative by x lost
        return (3 * (jax.lax.stop_gradient(x) if detached else x) ** 2 * g,)

    cube.defvjp(fwd, bwd)
    return cube


def _sine(jvp):
    @jax.custom_jvp
    def sine(x):
        return jnp.sin(x)

    @sine.defjvp
    def rule(primals, tangents):
        (x,), (t,) = primals, tangents
        return jnp.sin(x), jvp(x, t)
    return sine


SECOND = {"cube, bwd in jax ops": (_cube(False), True, None),
          "cube, bwd from a stop_gradient x": (_cube(True), False, "vjp.x")}
FORWARD = {"sine, right jvp": (_sine(lambda x, t: jnp.cos(x) * t), True, None),
           "sine, jvp 0.1 % off": (_sine(lambda x, t: 1.001 * jnp.cos(x) * t), False, "jvp.x"),
           "sine, jvp not linear in its tangent": (_sine(lambda x, t: jnp.cos(x) * t * jnp.linalg.norm(t)), False,
                                                   "not linear in its tangent"),
           "cube, a custom_vjp (no forward mode)": (_cube(False), False, "no forward mode")}
SHAPE = (4, 3)


def _complex_square(torch_convention: bool):
    """z^2 as a custom_vjp: JAX's cotangent rule for a holomorphic f is ``g f'(z)``; torch's conjugated one,
    ``g conj(f'(z))``, is a wrong conjugation in JAX."""
    @jax.custom_vjp
    def square(z):
        return z * z

    square.defvjp(lambda z: (z * z, z), lambda z, g: (g * (jnp.conj(2 * z) if torch_convention else 2 * z),))
    return square


COMPLEX = {"z^2, JAX's g f'(z)": (_complex_square(False), True),
           "z^2, torch's conjugated rule in a JAX bwd": (_complex_square(True), False)}
Z = np.random.default_rng(0).standard_normal(SHAPE) + 1j * np.random.default_rng(1).standard_normal(SHAPE)


@pytest.mark.parametrize("name", list(SECOND))
def test_the_second_order_check_of_a_custom_vjp(name):
    fn, right, why = SECOND[name]
    assert check_function(fn, SHAPE).ok
    report = check_function(fn, SHAPE, order=2)
    assert report.ok == right and (right or why in crux(report)), str(report)


@pytest.mark.parametrize("name", list(FORWARD))
def test_the_forward_mode_check_of_a_custom_jvp(name):
    # forward mode alone: JAX's reverse mode transposes the jvp, which fails outright for one not linear
    fn, right, why = FORWARD[name]
    report = check_function(fn, SHAPE, modes=("fwd",))
    assert report.ok == right and (right or why in crux(report)), str(report)
    if why == "no forward mode":
        assert all(t.failed == 0 for t in report.tensors), str(report)


@pytest.mark.parametrize("name", list(COMPLEX))
def test_complex_inputs_are_checked_in_their_real_and_imaginary_parts_with_jaxs_convention(name):
    fn, right = COMPLEX[name]
    report = check_function(fn, Z)
    assert report.ok == right and [t.name for t in report.tensors] == ["z.real", "z.imag"], str(report)


def _jax_says(fn, order: int, modes: tuple[str, ...], x: np.ndarray | None = None) -> bool:
    x = np.random.default_rng(0).standard_normal(SHAPE) if x is None else x
    try:
        with jax.enable_x64(True):
            check_grads(fn, (jnp.asarray(x),), order=order, modes=modes)
        return True
    except Exception:  # noqa: BLE001 - an AssertionError, or an error it raised: not a pass
        return False


def test_side_by_side_with_jax_check_grads(capsys):
    rows = [(f"order 2: {n}", r, check_function(fn, SHAPE, order=2).ok, _jax_says(fn, 2, ("rev",)))
            for n, (fn, r, _) in SECOND.items()]
    rows += [(f"forward: {n}", r, check_function(fn, SHAPE, modes=("fwd",)).ok, _jax_says(fn, 1, ("fwd",)))
             for n, (fn, r, _) in FORWARD.items()]
    rows += [(f"complex: {n}", r, check_function(fn, Z).ok, _jax_says(fn, 1, ("rev",), Z))
             for n, (fn, r) in COMPLEX.items()]
    with capsys.disabled():
        print("\n| case | truth | ours | check_grads |\n|---|---|---|---|")
        for n, r, o, t in rows:
            print(f"| {n} | {'right' if r else 'bug'} | {'PASS' if o else 'FAIL'} | {'PASS' if t else 'FAIL'} |")
    assert all(o == r for _, r, o, _ in rows), "ours: a miss or a false alarm"


def test_both_modes_and_bad_arguments():
    fn = FORWARD["sine, right jvp"][0]
    report = check_function(fn, SHAPE, modes=("rev", "fwd"), order=2)
    assert report.ok and [t.name for t in report.tensors] == ["x", "jvp.x", "vjp.x", "vjp.grad_output"], str(report)
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        check_function(fn, SHAPE, order=0)


stop_gradient_cube = SECOND["cube, bwd from a stop_gradient x"][0]      # for the command


def test_the_command_checks_a_jax_function_at_order_2(capsys):
    from gradcheck.cli import main

    assert main(["tests.test_gradcheck_jax_orders:stop_gradient_cube", "--shape", "4,3", "--order", "2"]) == 1
    assert "vjp.x" in capsys.readouterr().out


def _scale_by_mean(mixes: bool):
    """``x * mean(x)`` as a custom_vjp over a custom_vmap whose batching rule takes each sample's mean, or, when
    it ``mixes``, the whole batch's."""
    from jax import custom_batching

    @custom_batching.custom_vmap
    def scaled(x):
        return x * jnp.mean(x)

    @scaled.def_vmap
    def rule(axis_size, in_batched, x):
        mean = jnp.mean(x) if mixes else jnp.mean(x, axis=tuple(range(1, x.ndim)), keepdims=True)
        return x * mean, True

    @jax.custom_vjp
    def scale_by_mean(x):
        return scaled(x)

    scale_by_mean.defvjp(lambda x: (scaled(x), x), lambda x, g: (g * jnp.mean(x) + jnp.sum(g * x) / x.size,))
    return scale_by_mean


@pytest.mark.parametrize("mixes", [False, True], ids=["own-sample", "mixes-samples"])
def test_vmap_of_a_custom_batching_rule_is_held_to_the_per_sample_calls(mixes):
    fn = _scale_by_mean(mixes)
    assert check_function(fn, SHAPE).ok
    report = check_function(fn, SHAPE, batched=True)
    assert [t.name for t in report.tensors] == ["x", "vmap.output", "vmap.x"], str(report)
    assert report.ok != mixes and (not mixes or "vmap.output" in crux(report)), str(report)


torch_rule_square = COMPLEX["z^2, torch's conjugated rule in a JAX bwd"][0]      # for the command


def test_the_command_checks_a_jax_function_of_complex_inputs(capsys):
    from gradcheck.cli import main

    assert main(["tests.test_gradcheck_jax_orders:torch_rule_square", "--shape", "4,3", "--complex"]) == 1
    assert "z.imag" in capsys.readouterr().out
