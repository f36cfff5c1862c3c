"""Finite differences and the comparison with an analytic gradient.

Every numeric derivative is a central difference taken twice, with step ``h`` and ``h/2``
(``h = step * max(|value|, 1)``, made exactly representable). The second is the estimate; the gap
between them measures truncation error, and ``eps * scale / h`` bounds rounding error, so the tolerance
follows the function instead of being one fixed atol. The same four evaluations give one-sided
differences, which recognise kinks (ReLU at 0, ties of a max): there the left and right slopes differ by
a jump that does not shrink with the step.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SAFETY", "DOMAIN_ERRORS", "Readout", "Differences", "Comparison", "element_groups", "column_groups",
           "finite_differences", "directional_difference", "compare"]

SAFETY = 8.0        # how many error estimates the tolerance allows
_STEPS = ((1.0, 1.0), (-1.0, 1.0), (1.0, 0.5), (-1.0, 0.5))   # (sign, fraction of h): +h, -h, +h/2, -h/2
DOMAIN_ERRORS = (ValueError, ArithmeticError)   # what a forward may raise outside its domain

# Readout: evaluates the checked function at the current state and returns its per-row values (shape (R,))
# and their magnitudes (for the rounding estimate), both float64.
Readout = Callable[[], tuple[np.ndarray, np.ndarray]]
# A group is perturbed at once: flat indices into the tensor, and for each the readout row it alone moves
# (None: the group is one element and the whole readout is summed).
Group = tuple[np.ndarray, np.ndarray | None]


def element_groups(size: int) -> list[Group]:
    """One element at a time; the function is the sum of all readout rows."""
    return [(np.array([i]), None) for i in range(size)]


def column_groups(shape: tuple[int, ...]) -> list[Group]:
    """One feature across every batch row at once (valid only when rows are independent)."""
    batch, features = shape[0], int(np.prod(shape[1:], dtype=int))
    rows = np.arange(batch)
    return [(rows * features + j, rows) for j in range(features)]


@dataclass
class Differences:
    """Per-element results of :func:`finite_differences` (flat arrays of the tensor's size)."""

    numeric: np.ndarray     # central difference with step h/2
    coarse: np.ndarray      # central difference with step h
    left: np.ndarray        # one-sided differences with step h/2 ...
    right: np.ndarray
    left_h: np.ndarray      # ... and with step h
    right_h: np.ndarray
    rounding: np.ndarray    # eps * scale / (h/2): how far rounding alone can move the estimate
    skipped: dict[int, str]


def _read(readout: Readout, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    values, scale = readout()
    if rows is None:
        return values.sum(), scale.sum()
    return values[rows], scale[rows]


def finite_differences(tensor: np.ndarray, groups: Sequence[Group], readout: Readout, step: float,
                       eps: float) -> Differences:
    """Perturb ``tensor`` in place group by group, always restoring it, and difference the readout."""
    n = tensor.size
    f = np.full((4, n), np.nan)
    h = np.full((4, n), np.nan)
    base = np.full(n, np.nan)
    scale = np.zeros(n)
    skipped: dict[int, str] = {}
    base_values, base_scale = readout()
    for flat, rows in groups:
        where = np.unravel_index(flat, tensor.shape)
        orig = tensor[where].copy()
        nominal = step * np.maximum(np.abs(orig), 1.0)
        if rows is None:
            base[flat], scale[flat] = base_values.sum(), base_scale.sum()
        else:
            base[flat], scale[flat] = base_values[rows], base_scale[rows]
        try:
            for k, (sign, frac) in enumerate(_STEPS):
                tensor[where] = orig + sign * frac * nominal
                h[k, flat] = np.abs(tensor[where].astype(np.float64) - orig)   # the step actually taken
                f[k, flat], s = _read(readout, rows)
                scale[flat] = np.maximum(scale[flat], s)
        except DOMAIN_ERRORS as exc:
            reason = f"forward raised {type(exc).__name__} at a perturbed value ({exc})"
            skipped.update({int(i): reason for i in flat})
        finally:
            tensor[where] = orig
    with np.errstate(all="ignore"):
        nonfinite = ~np.isfinite(f).all(axis=0) & np.isfinite(h).all(axis=0)
        skipped.update({int(i): "non-finite output at a perturbed value" for i in np.flatnonzero(nonfinite)})
        fp1, fm1, fp2, fm2 = f
        hp1, hm1, hp2, hm2 = h
        return Differences(
            numeric=(fp2 - fm2) / (hp2 + hm2), coarse=(fp1 - fm1) / (hp1 + hm1),
            left=(base - fm2) / hm2, right=(fp2 - base) / hp2,
            left_h=(base - fm1) / hm1, right_h=(fp1 - base) / hp1,
            rounding=eps * (scale + np.abs(base)) / np.minimum(hp2, hm2),
            skipped=skipped)


def directional_difference(tensor: np.ndarray, direction: np.ndarray, readout: Readout, step: float,
                           eps: float) -> tuple[float, float, float]:
    """Central differences of the readout sum along ``direction``, the tensor always restored.

    Returns ``(numeric at h/2, numeric at h, rounding estimate)``; a domain error propagates.
    """
    original = tensor.copy()
    values, scales = [], []
    try:
        for sign, frac in _STEPS:
            np.copyto(tensor, original + sign * frac * step * direction)
            v, s = readout()
            values.append(v.sum())
            scales.append(s.sum())
    finally:
        np.copyto(tensor, original)
    fp1, fm1, fp2, fm2 = values
    return (fp2 - fm2) / step, (fp1 - fm1) / (2 * step), eps * max(scales) / (0.5 * step)


@dataclass
class Comparison:
    """Element-wise verdicts (flat arrays)."""

    error: np.ndarray
    tolerance: np.ndarray
    failed: np.ndarray      # bool
    kink: np.ndarray        # bool: accepted because a kink lies within the step
    checked: np.ndarray     # bool: not skipped


def compare(analytic: np.ndarray, d: Differences, rtol: float, atol: float) -> Comparison:
    """Hold ``analytic`` (flat) against the numeric estimate with a tolerance built from the error estimates."""
    checked = np.ones(analytic.size, dtype=bool)
    checked[list(d.skipped)] = False
    with np.errstate(all="ignore"):
        smooth_tol = atol + rtol * np.abs(d.numeric) + SAFETY * d.rounding
        tolerance = smooth_tol + SAFETY * np.abs(d.coarse - d.numeric)
        error = np.abs(analytic - d.numeric)
        failed = checked & ~(error <= tolerance)
        # A kink: the one-sided slopes disagree by more than noise, the gap does not halve with the step
        # (a smooth function's does), and the analytic value lies between them.
        jump, jump_h = np.abs(d.right - d.left), np.abs(d.right_h - d.left_h)
        lo, hi = np.minimum(d.left, d.right), np.maximum(d.left, d.right)
        kink = failed & (jump > smooth_tol) & (jump_h < 1.9 * jump) & \
            (analytic >= lo - smooth_tol) & (analytic <= hi + smooth_tol)
    return Comparison(error=np.where(checked, error, 0.0), tolerance=tolerance, failed=failed & ~kink,
                      kink=kink, checked=checked)
