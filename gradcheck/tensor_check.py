"""Checking one gradient tensor: readouts, the full and the fast comparison, the stale-cache re-check."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradcheck.diagnosis import diagnose
from gradcheck.numeric import (
    DOMAIN_ERRORS,
    SAFETY,
    Readout,
    compare,
    directional_difference,
    finite_differences,
)
from gradcheck.prepare import Settings
from gradcheck.report import ElementError, GradcheckReport, TensorCheck

__all__ = ["layer_readout", "scalar_readout", "rows_independent", "check_tensor", "mark_stale"]

_WORST = 5          # worst elements kept per tensor
_DIRECTIONS = 2     # random directions per tensor in fast mode

def layer_readout(layer, x: np.ndarray, error: np.ndarray) -> Readout:
    """Per-row values of sum(forward(x) * E) and their magnitudes (row i only depends on row i if independent)."""
    def readout() -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(layer.forward(x.copy()))
        if y.shape != error.shape:
            raise RuntimeError(f"gradcheck: forward returned shape {y.shape} for a perturbed input, "
                               f"but {error.shape} before")
        terms = (y * error).reshape(len(y), -1)
        return terms.sum(axis=1), np.abs(terms).sum(axis=1)
    return readout


def scalar_readout(evaluate: Callable[[], float]) -> Readout:
    def readout() -> tuple[np.ndarray, np.ndarray]:
        value = float(evaluate())
        return np.array([value]), np.array([abs(value)])
    return readout


def rows_independent(layer, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> bool:
    """Moving some rows of x must leave the other rows of the output bit-for-bit alone (checked, not assumed)."""
    if len(x) == 1:
        return True
    moved = np.zeros(len(x), dtype=bool)
    moved[rng.permutation(len(x))[: len(x) // 2]] = True
    for rows in (moved, ~moved):
        x2 = x.copy()
        x2[rows] *= rng.uniform(0.5, 1.5, x2[rows].shape)
        x2[rows] += rng.standard_normal(x2[rows].shape) * 0.1
        try:
            y2 = np.asarray(layer.forward(x2))
        except DOMAIN_ERRORS:
            return False
        if y2.shape != y.shape or not np.array_equal(y2[~rows], y[~rows]):
            return False
    return True


def _worst(index_shape: tuple[int, ...], flat: np.ndarray, analytic: np.ndarray, numeric: np.ndarray,
           error: np.ndarray, tolerance: np.ndarray) -> list[ElementError]:
    return [ElementError(tuple(int(v) for v in np.unravel_index(i, index_shape)), float(analytic[i]),
                         float(numeric[i]), float(error[i]), float(tolerance[i])) for i in flat]


def _full_check(name: str, tensor: np.ndarray, analytic: np.ndarray, readout: Readout, groups, method: str,
                s: Settings, batch: int | None) -> TensorCheck:
    d = finite_differences(tensor, groups, readout, s.step, s.eps)
    a = analytic.ravel()
    c = compare(a, d, s.rtol, s.atol)
    with np.errstate(all="ignore"):
        # relative to the gradient's size, floored at the rounding noise so tiny gradients don't read as 100 %
        size = np.maximum(np.maximum(np.abs(a), np.abs(d.numeric)), np.maximum(SAFETY * d.rounding, 1e-300))
        rel = np.where(c.checked & ~c.kink, c.error / size, 0.0)
        badness = np.where(c.checked, c.error / np.maximum(c.tolerance, 1e-300), -1.0)
    pool = np.flatnonzero(c.failed) if c.failed.any() else np.flatnonzero(c.checked)
    order = pool[np.argsort(-badness[pool], kind="stable")][:_WORST]
    skipped: dict[str, int] = {}
    for reason in d.skipped.values():
        skipped[reason] = skipped.get(reason, 0) + 1
    hint = diagnose(name, analytic, d.numeric.reshape(tensor.shape), c.failed.reshape(tensor.shape),
                    c.tolerance.reshape(tensor.shape), batch)
    max_abs = float(np.where(c.kink, 0.0, c.error).max(initial=0.0))
    return TensorCheck(name=name, shape=tuple(tensor.shape), method=method, checked=int(c.checked.sum()),
                       failed=int(c.failed.sum()), max_abs_error=max_abs, max_rel_error=float(rel.max(initial=0.0)),
                       worst=_worst(tensor.shape, order, a, d.numeric, c.error, c.tolerance),
                       kinks=int(c.kink.sum()), skipped=skipped, hint=hint)


def _fast_check(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, s: Settings,
                rng: np.random.Generator) -> tuple[bool, float, float, str]:
    """Directional derivatives along random directions: O(1) evaluations whatever the tensor's size."""
    worst_err, worst_rel, detail = 0.0, 0.0, ""
    for _ in range(_DIRECTIONS):
        u = rng.standard_normal(tensor.shape)
        direction = u / np.abs(u).max() * np.maximum(np.abs(tensor), 1.0)
        try:
            numeric, coarse, rounding = directional_difference(tensor, direction, readout, s.step, s.eps)
        except DOMAIN_ERRORS as exc:     # the full check skips just the elements outside the domain
            return False, worst_err, worst_rel, f"forward raised {type(exc).__name__} along a random direction"
        expected = float(np.sum(analytic * direction))
        error = abs(expected - numeric)
        tol = s.atol + s.rtol * abs(numeric) + SAFETY * (abs(coarse - numeric) + rounding)
        worst_err = max(worst_err, error)
        worst_rel = max(worst_rel, error / max(abs(expected), abs(numeric), 1e-300))
        if not error <= tol:
            return False, worst_err, worst_rel, f"directional derivative: analytic {expected:.6g}, " \
                                                f"numeric {numeric:.6g}, tolerance {tol:.3g}"
        detail = f"{_DIRECTIONS} random directions agree"
    return True, worst_err, worst_rel, detail


def check_tensor(name: str, tensor: np.ndarray, analytic: np.ndarray | None, readout: Readout, groups,
                  method: str, s: Settings, rng: np.random.Generator, batch: int | None) -> TensorCheck | None:
    if analytic is None:        # already reported as a problem (missing or wrong shape)
        return None
    if s.mode == "fast":
        passed, err, rel, detail = _fast_check(tensor, analytic, readout, s, rng)
        if passed:
            return TensorCheck(name, tuple(tensor.shape), "directions", tensor.size, 0, err, rel, note=detail)
        check = _full_check(name, tensor, analytic, readout, groups, method, s, batch)
        verdict = "localised the wrong elements" if not check.ok else \
            f"passed{f' ({check.kinks} kinks within the step)' if check.kinks else ''}"
        check.note = f"fast check failed ({detail}); the full check {verdict}"
        return check
    return _full_check(name, tensor, analytic, readout, groups, method, s, batch)


def mark_stale(report: GradcheckReport, recheck: Callable[[], list[TensorCheck | None]]) -> None:
    """If the failed gradients are right for the input of the earlier forward call, say it is a stale cache."""
    failed = {t.name for t in report.tensors if not t.ok}
    again = [c for c in recheck() if c is not None and c.name in failed]
    if failed and len(again) == len(failed) and all(c.ok for c in again):
        for t in report.tensors:
            if not t.ok:
                t.hint = "backward returned the gradient for the input of an earlier forward call, not the " \
                         "latest one (stale cache): store the input (or what backward needs) on every forward"

