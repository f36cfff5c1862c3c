"""The analytic pass, shared by layers, losses and networks, run so that the usual state bugs show up."""
from __future__ import annotations

import numpy as np

from gradcheck.parameters import Parameter
from gradcheck.targets import Target, gradient_of

__all__ = ["STATE_LEAKS", "same_gradients", "analytic_pass"]

STATE_LEAKS = "the same forward then backward, run twice, gave different gradients: backward depends on the " \
               "calls before it (state leaks between calls, e.g. a gradient accumulated with += )"


def same_gradients(a: dict, b: dict) -> bool:
    return all((a[k] is None) == (b[k] is None) and
               (a[k] is None or np.allclose(a[k], b[k], rtol=1e-12, atol=0, equal_nan=True)) for k in a)


def _read_gradient(p: Parameter, problems: list[str]) -> np.ndarray | None:
    try:
        value = p.gradient()
    except Exception as exc:  # noqa: BLE001 - a gradient property that raises is a finding, not a crash
        problems.append(f"{p.label}: reading {p.grad_name} after backward raised {type(exc).__name__}: {exc}")
        return None
    return gradient_of(value, p.start.shape, f"{p.label} gradient ({p.grad_name})", problems, p.label)


def _one_pass(target: Target, params: list[Parameter], problems: list[str]) -> dict[str, np.ndarray | None]:
    grads = target.backward_pass(problems)
    for p in params:
        grads[p.label] = _read_gradient(p, problems)
        if p.reset():
            problems.append(f"backward changed {p.label} although the optimizer was detached "
                            "(with no optimizer the weights must never change)")
    return grads


def _non_finite(grads: dict[str, np.ndarray | None], problems: list[str]) -> None:
    for name, g in grads.items():
        if g is not None and not np.isfinite(g).all():
            bad = np.argwhere(~np.isfinite(g))
            first = tuple(int(i) for i in bad[0])
            problems.append(f"the analytic gradient of {name} has {len(bad)} NaN/inf element(s), first at "
                            f"index {first}: {g[first]}")


def analytic_pass(target: Target, params: list[Parameter], problems: list[str]) -> dict[str, np.ndarray | None]:
    """The analytic gradients at the target's current point (the caller has just run it at another point,
    so a stale cache shows). A second identical pass must give the same gradients."""
    grads = _one_pass(target, params, problems)
    if not same_gradients(grads, _one_pass(target, params, [])):
        problems.append(STATE_LEAKS)
    _non_finite(grads, problems)
    target.hygiene(grads, problems)
    return grads
