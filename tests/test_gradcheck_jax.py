"""gradcheck.jax: the verdict on JAX custom VJPs, side by side with ``jax.test_util.check_grads``.

Needs the ``jax`` extra (``.ci/run`` installs it); without JAX the module is skipped, saying so.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="the jax extra is not installed (pip install -e '.[jax]')")

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

from gradcheck.jax import assert_gradients, check_function  # noqa: E402
from gradcheck.report import GradientCheckError, crux  # noqa: E402
from tests.jax_layers import BROKEN, CORRECT  # noqa: E402
from tests.test_gradcheck_torch import table  # noqa: E402

WHY = {
    "drops a cotangent": "wrong gradient of x",
    "one element off by 1e-3": "wrong gradient of x (1 element",
    "one element off by 1e-5": "wrong gradient of x (1 element",
    "bias gradient averaged": "wrong gradient of b",
    "layer norm without the mean's gradient": "wrong gradient of x",
    "relu masked by the cotangent's sign": "wrong gradient of x",
    "sigmoid of the output": "wrong gradient of x",
    "float32 one element off by 1e-3": "wrong gradient of x (1 element",
    "float32 sigmoid one element off by 0.3 %": "wrong gradient of x (1 element",
    "bias gradient averaged, parameters in a dict": "wrong gradient of params.b",
    "the pair's gradients swapped": "wrong gradient of pair.0",
}


def ours(f, inputs) -> tuple[bool, str]:
    report = check_function(f, *inputs)
    return report.ok, crux(report)


def jaxs(f, inputs) -> bool:
    """check_grads in reverse mode (a custom_vjp has no forward mode), order 1, float64 enabled as for ours;
    raising counts as a failure."""
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        check_grads(f, tuple(jax.tree_util.tree_map(jnp.asarray, a) for a in inputs), order=1, modes=("rev",))
        return True
    except Exception:  # noqa: BLE001 - an AssertionError, or a crash: either way no PASS
        return False
    finally:
        jax.config.update("jax_enable_x64", before)


def test_the_zoo_has_a_reason_for_every_bug():
    assert set(WHY) == set(BROKEN)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_custom_vjps_pass(name):
    f, make = CORRECT[name]
    ok, text = ours(f, make())
    assert ok, text


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_custom_vjps_fail_for_their_reason(name):
    f, make = BROKEN[name]
    ok, text = ours(f, make())
    assert not ok
    assert WHY[name] in text, text


def test_side_by_side_with_check_grads(capsys):
    rows = []
    for kind, zoo in (("correct", CORRECT), ("bug", BROKEN)):
        for name, (f, make) in zoo.items():
            should_pass = kind == "correct"
            rows.append((name, kind, ours(f, make())[0] == should_pass, jaxs(f, make()) == should_pass))
    with capsys.disabled():
        print("\n" + table(rows, "jax.test_util.check_grads (order 1, reverse mode)"))
    assert all(our_right for _, _, our_right, _ in rows), [r for r in rows if not r[2]]


def test_float64_is_enabled_for_the_check_and_put_back():
    seen = []

    def spy(x):
        seen.append(x.dtype)
        return jnp.sin(x)

    assert jax.config.read("jax_enable_x64") is False
    assert check_function(spy, np.ones((3, 2), dtype=np.float32)).ok
    assert jax.config.read("jax_enable_x64") is False
    assert set(map(str, seen)) == {"float64"}


def test_a_function_that_insists_on_float32_is_checked_at_float32_precision():
    report = check_function(lambda x: jnp.tanh(x.astype(jnp.float32)), (4, 3))
    assert report.ok, str(report)
    assert report.precision == "float32" and any("float32" in w for w in report.warnings)


def test_assert_gradients_and_bad_arguments():
    assert_gradients(CORRECT["softplus"][0], (4, 3))
    with pytest.raises(GradientCheckError, match="wrong gradient of x"):
        assert_gradients(BROKEN["sigmoid of the output"][0], (4, 3))
    with pytest.raises(TypeError, match="at least one input"):
        check_function(jnp.sin)
    with pytest.raises(TypeError, match="integer arguments"):
        check_function(lambda i: i * 1.0, np.arange(3))


def test_the_command_checks_jax_functions(tmp_path, processes):
    (tmp_path / "ops.py").write_text(
        "import jax, jax.numpy as jnp\n"
        "@jax.custom_vjp\n"
        "def cube(x):\n"
        "    return x ** 3\n"
        "cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3 * g * x * x * 1.0001,))\n"
        "SCALE = jnp.ones(3) * 0.5      # computed at import: JAX's runtime starts in the command's process\n"
        "def gelu(x):\n"
        "    return jax.nn.gelu(x) * SCALE\n")
    run = [sys.executable, "-m", "gradcheck"]
    bad = processes.run(run + ["ops:cube", "--shape", "4,3"], cwd=tmp_path, timeout=300)
    assert bad.returncode == 1 and "element(s) wrong" in bad.stdout, bad.stdout + bad.stderr
    good = processes.run(run + ["ops:gelu", "--shape", "4,3", "--framework", "jax"], cwd=tmp_path, timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")   # an alarm a JAX gc hook swallowed
def test_a_timeout_stops_the_check_in_this_process_after_jax_has_started():
    """A forked child deadlocks once JAX's runtime runs (it warns so at os.fork): the time limit is a timer
    here, and the report names where the checked code was."""
    import time

    jnp.sin(jnp.ones(3)).block_until_ready()            # the runtime is up in this process
    assert check_function(jnp.tanh, (4, 3), timeout=60).ok

    def endless(x):
        while True:
            x = x + 0
    start = time.perf_counter()
    report = check_function(endless, (2, 2), timeout=1)
    assert time.perf_counter() - start < 10
    assert not report.ok and "timed out after 1 s, in endless" in report.problems[0]
    assert jax.config.read("jax_enable_x64") is False


def test_pytrees_are_checked_leaf_by_leaf_and_named_by_their_path():
    f, make = CORRECT["parameters in a dict"]
    params, x = make()
    before = {k: v.copy() for k, v in params.items()}
    report = check_function(f, params, x)
    assert report.ok and sorted(t.name for t in report.tensors) == ["params.b", "params.w", "x"], str(report)
    assert all(np.array_equal(params[k], before[k]) for k in before), "the caller's arrays are left as they were"
    f, make = CORRECT["a tuple in, a dict out"]
    assert sorted(t.name for t in check_function(f, *make()).tensors) == ["pair.0", "pair.1"]
    drawn = check_function(lambda p: jnp.tanh(p["w"]) * p["v"][1], {"w": (3, 2), "v": [(3, 2), (3, 2)]})
    assert sorted(t.name for t in drawn.tensors) == ["p.v.0", "p.v.1", "p.w"], str(drawn)
    with pytest.raises(TypeError, match="p.lr is str"):
        check_function(lambda p: p["w"] * 2, {"w": np.ones(3), "lr": "fast"})
