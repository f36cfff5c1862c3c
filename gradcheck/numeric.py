"""Finite differences along probes, and the one tolerance rule every comparison uses.

A *probe* moves a set of elements of one tensor together. It is evaluated at four steps, ``+-h`` and
``+-h/2`` (``h = step * max(|value|, 1)`` per element, times the probe's direction), plus the base point.
Those five values give, per estimate:

- the central differences ``D(h)`` and ``D(h/2)`` (the estimate);
- the one-sided slopes at ``h`` and at ``h/2``.

A function smooth over ``[-h, h]`` has one-sided gaps that scale with the step: ``gap(h) = 2 gap(h/2)`` up
to ``O(h^3)``. When that holds, the error of ``D(h/2)`` is ``|D(h) - D(h/2)| / 3`` (Richardson). When it
does not, a kink lies within the step: the estimate is judged against the one-sided slopes at ``h/2``
only, which do not cross a kink that lies between ``h/2`` and ``h``; a kink within ``h/2`` leaves only the
certificate "analytic lies between the one-sided slopes", and is counted as such.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SAFETY", "TOLERANCE_TEXT", "DOMAIN_ERRORS", "Readout", "Probe", "Estimates", "Verdicts",
           "element_probes", "column_probes", "direction_count", "direction_probes", "group_probe",
           "finite_differences", "judge"]

SAFETY = 8.0        # how many error estimates the tolerance allows
_STEPS = ((1.0, 1.0), (-1.0, 1.0), (1.0, 0.5), (-1.0, 0.5))   # (sign, fraction of h): +h, -h, +h/2, -h/2
DOMAIN_ERRORS = (ValueError, ArithmeticError)   # what a forward may raise outside its domain

TOLERANCE_TEXT = (f"tolerance = atol + rtol*|numeric| + {SAFETY:g}*rounding + (smooth: {SAFETY:g}*|D(h) - D(h/2)|/3;"
                  " kink within the step: half the gap between the one-sided slopes at h/2)")

# Readout: evaluates the checked function at the current state and returns its per-row values (shape (R,))
# and, with magnitudes=True, their magnitudes (for the rounding estimate; None otherwise), float64; with
# magnitudes=False, total=True it may return just the total, as a scalar.
Readout = Callable[..., tuple[np.ndarray, np.ndarray | None]]


@dataclass
class Probe:
    """Elements of one tensor moved together.

    ``flat`` are flat indices; ``direction`` the displacement of each in units of its step (1 for single
    elements and columns). ``rows`` (same length as ``flat``) gives each element its own readout row, so one
    probe yields one estimate per element (valid only when rows are independent); ``None`` sums the readout
    and the probe yields one estimate, of the derivative along its direction.
    """

    flat: np.ndarray
    direction: np.ndarray
    rows: np.ndarray | None = None

    @property
    def estimates(self) -> int:
        return 1 if self.rows is None else len(self.flat)


def element_probes(size: int) -> list[Probe]:
    unit = np.ones(1)
    unit.setflags(write=False)          # one shared, read-only direction
    return [Probe(np.array([i]), unit) for i in range(size)]


def column_probes(shape: tuple[int, ...]) -> list[Probe]:
    """One feature across every batch row at once, each row read separately."""
    batch, features = shape[0], int(np.prod(shape[1:], dtype=int))
    rows = np.arange(batch)
    return [Probe(rows * features + j, np.ones(batch), rows) for j in range(features)]


def direction_count(size: int) -> int:
    """How many sparse random directions fast mode takes for a tensor of ``size`` elements: 2 size^(1/3), at
    least 8 (and at most one per element)."""
    return min(size, max(8, int(np.ceil(2 * size ** (1 / 3)))))


def direction_probes(size: int, count: int, rng: np.random.Generator) -> list[Probe]:
    """``count`` sparse random directions; every element lies in exactly one of them."""
    owner = rng.permutation(size) % count
    out = []
    for k in range(count):
        flat = np.flatnonzero(owner == k)
        u = rng.standard_normal(len(flat))
        out.append(Probe(flat, u / np.abs(u).max()))
    return out


def group_probe(flat: np.ndarray) -> Probe:
    """Elements moved together by the same amount (a tied group)."""
    return Probe(np.asarray(flat), np.ones(len(flat)))


@dataclass
class Estimates:
    """Per-estimate results of :func:`finite_differences` (flat arrays, one entry per estimate)."""

    analytic: np.ndarray    # the analytic derivative along the probe (an element's value, or the dot product)
    numeric: np.ndarray     # central difference with step h/2
    coarse: np.ndarray      # central difference with step h
    left: np.ndarray        # one-sided slopes with step h/2 ...
    right: np.ndarray
    left_h: np.ndarray      # ... and with step h
    right_h: np.ndarray
    rounding: np.ndarray    # how far rounding alone can move the estimate
    skipped: dict[int, str]  # estimate -> why it could not be taken
    one_sided: np.ndarray   # bool: taken from one side only (the other is outside forward's domain)


def _read(readout: Readout, rows: np.ndarray | None) -> np.ndarray | float:
    """The readout's values: the rows of ``rows``, or their total (the magnitudes are taken at the base only)."""
    if rows is None:
        values = readout(False, total=True)[0]
        return values.sum() if getattr(values, "ndim", 0) else values     # the total alone, or per-row values
    return readout(False)[0][rows]


def finite_differences(tensor: np.ndarray, probes: Sequence[Probe], readout: Readout, analytic: np.ndarray,
                       step: float, machine_eps: float,
                       settle: tuple[float, float, int] | None = None) -> Estimates:
    """Evaluate every probe at its steps (``tensor`` perturbed in place, always restored).

    ``analytic`` is the analytic gradient of the whole tensor, flat; for a probe that sums the readout the
    analytic value is its dot product with the displacement actually taken. Where forward raises a domain
    error or returns NaN/inf on one side only (the edge of its domain: a probability at 0), the other side's
    one-sided slopes give the estimate, extrapolated as ``2 R(h/2) - R(h)``; where neither side works, or the
    one-sided slopes do not settle, the estimate is skipped with the reason.

    ``settle = (rtol, atol, terms)`` takes ``+-h`` first and adds ``+-h/2`` only to the probes whose first look
    is not conclusive: a probe is settled at ``+-h`` when, for each of its estimates, the analytic value is
    within the floor of the tolerance (``atol + rtol*|numeric| + 8*rounding``) of ``D(h)`` and the one-sided
    slopes at ``h`` agree within it too. Then the function is linear over the step to within the noise, no
    truncation allowance is needed, and the four-step rule would pass it as well; everything else (a failure,
    curvature, a kink, the edge of the domain) gets the full four steps. Without ``settle``: four steps always.
    """
    n = sum(p.estimates for p in probes)
    f, t = np.full((4, n), np.nan), np.full((4, n), np.nan)
    base, scale = np.full(n, np.nan), np.zeros(n)
    displaced = np.zeros((4, sum(len(p.flat) for p in probes)))
    reasons: dict[int, str] = {}
    base_values, base_scale = readout(True)
    flat_view = tensor.reshape(-1) if tensor.flags.c_contiguous else None
    base_total, scale_total = base_values.sum(), base_scale.sum()
    layout = []                                     # per probe: (estimates slice, elements slice, where, nominal)
    start = first = 0
    for probe in probes:
        out, elems = slice(start, start + probe.estimates), slice(first, first + len(probe.flat))
        start, first = out.stop, elems.stop
        if flat_view is None:
            where = np.unravel_index(probe.flat, tensor.shape)
        else:                                       # a plain int indexes fastest
            where = int(probe.flat[0]) if len(probe.flat) == 1 else probe.flat
        target = flat_view if flat_view is not None else tensor
        nominal = step * probe.direction * np.maximum(np.abs(target[where]), 1.0)
        if isinstance(where, int):
            nominal = float(nominal[0])
        layout.append((out, elems, where, nominal))
        if probe.rows is None:
            base[out], scale[out] = base_total, scale_total
        else:
            base[out], scale[out] = base_values[probe.rows], base_scale[probe.rows]
        if not (probe.rows is not None or len(probe.flat) == 1):
            t[:, out] = (np.array([s * fr for s, fr in _STEPS]) * step)[:, None]   # along the direction

    def evaluate(indices: Sequence[int], steps: Sequence[int]) -> None:
        target = flat_view if flat_view is not None else tensor
        for i in indices:
            probe, (out, elems, where, nominal) = probes[i], layout[i]
            orig = target[where] if isinstance(where, int) else target[where].copy()   # a scalar is a copy
            try:
                for k in steps:
                    sign, frac = _STEPS[k]
                    target[where] = orig + sign * frac * nominal
                    taken = np.float64(target[where]) - orig                 # the step actually taken
                    displaced[k, elems] = taken
                    if probe.rows is not None or len(probe.flat) == 1:
                        t[k, out] = taken                                     # divide by its own step
                    try:
                        f[k, out] = _read(readout, probe.rows)
                    except DOMAIN_ERRORS as exc:
                        reasons.update({j: f"forward raised {type(exc).__name__} at a perturbed value ({exc})"
                                        for j in range(out.start, out.stop)})
            finally:
                target[where] = orig

    everything = range(len(probes))
    evaluate(everything, (0, 1))
    a = _analytic_along(probes, layout, analytic, displaced, t, 0, 1)
    if settle is None:
        refine = list(everything)
    else:
        ok = _settled_estimates(f, t, base, scale, a, machine_eps, settle)
        refine = [i for i in everything if not ok[layout[i][0]].all()]
        done = np.ones(len(probes), dtype=bool)
        done[refine] = False
        for i in np.flatnonzero(done):          # the h step stands for the h/2 one too
            out, elems = layout[i][0], layout[i][1]
            f[2:, out], t[2:, out], displaced[2:, elems] = f[:2, out], t[:2, out], displaced[:2, elems]
    evaluate(refine, (2, 3))
    a = _analytic_along(probes, layout, analytic, displaced, t, 2, 3)
    return _estimates(f, t, base, scale, a, reasons, machine_eps)


def _analytic_along(probes, layout, analytic, displaced, t, plus: int, minus: int) -> np.ndarray:
    """The analytic value of each estimate: the element's own, or the dot product with a direction's span."""
    a = np.zeros(t.shape[1])
    for probe, (out, elems, _, _) in zip(probes, layout):
        values = analytic[probe.flat]
        if probe.rows is not None or len(probe.flat) == 1:
            a[out] = values
        else:
            a[out] = values @ (displaced[plus, elems] - displaced[minus, elems]) / (t[plus, out] - t[minus, out])
    return a


def _settled_estimates(f, t, base, scale, a, machine_eps, settle) -> np.ndarray:
    """Per estimate: the +-h look alone is conclusive (see :func:`finite_differences`)."""
    rtol, atol, terms = settle
    with np.errstate(all="ignore"):
        fp, fm, tp, tm = f[0], f[1], t[0], t[1]
        d = (fp - fm) / (tp - tm)
        right, left = (fp - base) / tp, (base - fm) / -tm
        scale = np.maximum(scale, np.fmax(np.abs(fp), np.abs(fm)))
        rounding = machine_eps * (scale + np.abs(base)) / np.minimum(np.abs(tp), np.abs(tm))
        floor = atol + rtol * np.abs(d) + SAFETY * rounding / np.sqrt(terms)
        return (np.abs(a - d) <= floor) & (np.abs(right - left) <= floor)


def _estimates(f: np.ndarray, t: np.ndarray, base: np.ndarray, scale: np.ndarray, a: np.ndarray,
               reasons: dict[int, str], machine_eps: float) -> Estimates:
    """Central and one-sided slopes, rounding, and which estimates are one-sided or skipped."""
    with np.errstate(all="ignore"):
        ok = np.isfinite(f)
        plus, minus = ok[0] & ok[2], ok[1] & ok[3]
        both = plus & minus
        fp1, fm1, fp2, fm2 = f
        tp1, tm1, tp2, tm2 = t
        right, right_h = (fp2 - base) / tp2, (fp1 - base) / tp1
        left, left_h = (base - fm2) / -tm2, (base - fm1) / -tm1
        # one side only: R(t) = f' + f'' t / 2 + O(t^2), so 2 R(h/2) - R(h) is the estimate, and R(h/2) the
        # coarser one beside it (their gap, |R(h) - R(h/2)|, then stands for the truncation error). The gap
        # is f'' h / 4, a tiny fraction of f' for a function resolved at this step; a gap above 1 % of the
        # estimate (sqrt at 0, -log(p) at p = 1e-9) means the step cannot resolve it, and the element is skipped
        side, side_h = np.where(plus, right, left), np.where(plus, right_h, left_h)
        numeric = np.where(both, (fp2 - fm2) / (tp2 - tm2), 2 * side - side_h)
        coarse = np.where(both, (fp1 - fm1) / (tp1 - tm1), side)
        half = np.where(both, np.minimum(np.abs(tp2), np.abs(tm2)), np.where(plus, np.abs(tp2), np.abs(tm2)))
        # the terms' magnitude at the base, or the values reached within the step when larger (w^2 at w = 0)
        scale = np.maximum(scale, np.nanmax(np.where(ok, np.abs(f), 0.0), axis=0))
        rounding = machine_eps * (scale + np.abs(base)) / half
        one_sided = ~both & (plus | minus)
        unsettled = one_sided & ~(np.abs(side_h - side) <= 0.01 * np.abs(numeric) + SAFETY * rounding)
    skipped = {}
    for i in np.flatnonzero(~(plus | minus) | unsettled):
        i = int(i)
        if unsettled[i]:
            skipped[i] = "at the edge of forward's domain, and the one-sided slopes do not settle at this step"
        else:
            skipped[i] = reasons.get(i, "non-finite output at a perturbed value")
    return Estimates(analytic=a, numeric=numeric, coarse=coarse,
                     left=np.where(both, left, numeric), right=np.where(both, right, numeric),
                     left_h=np.where(both, left_h, coarse), right_h=np.where(both, right_h, coarse),
                     rounding=rounding, skipped=skipped, one_sided=one_sided & ~unsettled)


@dataclass
class Verdicts:
    """Per-estimate verdicts of :func:`judge` (flat arrays)."""

    error: np.ndarray
    tolerance: np.ndarray
    failed: np.ndarray      # bool
    kink: np.ndarray        # bool: a kink lies within h/2; only "between the one-sided slopes" is certified
    checked: np.ndarray     # bool: not skipped
    smooth: np.ndarray      # bool: no kink within [-h, h] (the one-sided gaps scale with the step)


def judge(e: Estimates, rtol: float, atol: float, terms: int = 1) -> Verdicts:
    """The one tolerance rule (see :data:`TOLERANCE_TEXT`), for elements, columns, directions and groups.

    ``rounding`` is a worst-case bound, ``eps * sum |terms|``. A screen that may fail without harm (fast
    mode re-checks the elements of a failed direction one by one) passes ``terms``, the number of terms
    summed, and is held to the typical rounding of such a sum instead, ``eps * sum |terms| / sqrt(terms)``.
    """
    checked = np.ones(e.numeric.size, dtype=bool)
    checked[list(e.skipped)] = False
    with np.errstate(all="ignore"):
        noise = SAFETY * e.rounding / np.sqrt(terms)
        gap, gap_h = e.right - e.left, e.right_h - e.left_h
        # smooth over [-h, h]: the one-sided gaps scale with the step (one-sided slopes carry ~4x the
        # rounding of the central difference, and the test combines four of them)
        smooth = np.abs(gap_h - 2 * gap) <= 4 * noise + rtol * (np.abs(e.right_h) + np.abs(e.left_h))
        floor = atol + rtol * np.abs(e.numeric) + noise
        tolerance = floor + np.where(smooth, SAFETY * np.abs(e.coarse - e.numeric) / 3, np.abs(gap) / 2)
        error = np.abs(e.analytic - e.numeric)
        failed = checked & ~(error <= tolerance)
        kink = checked & ~smooth & (np.abs(gap) / 2 > floor)
    return Verdicts(error=np.where(checked, error, 0.0), tolerance=tolerance, failed=failed, kink=kink & ~failed,
                    checked=checked, smooth=smooth)
