"""Recognise the usual shapes of a wrong gradient and say what probably caused them."""
from __future__ import annotations

import numpy as np

__all__ = ["diagnose", "pattern", "one_row"]


def _near(value: float, target: float, rel: float = 1e-3) -> bool:
    return abs(value - target) <= rel * abs(target)


def _ratio_hint(ratio: float, batch: int | None, where: str, factors: dict[str, float]) -> str:
    """``where``: "everywhere", or which elements the factor holds on."""
    if _near(ratio, -1.0):
        return f"analytic = -numeric {where}: the sign is flipped"
    deviation = abs(ratio - 1.0)
    digits = 4 if deviation >= 1e-3 or deviation == 0 else int(2 - np.floor(np.log10(deviation)))
    text = f"analytic = {ratio:.{digits}g} x numeric {where} (a constant factor)"
    for name, value in factors.items():         # a probability, a rate, a scale the layer holds
        if _near(ratio, value):
            return text + f": the layer holds {name} = {value:g}; backward multiplies by it once too often, or " \
                          f"misses a 1/{name} that forward applies (a 1/p scaling, as in dropout)?"
        if _near(ratio, 1.0 / value):
            return text + f": the layer holds {name} = {value:g}; backward divides by it once too often (a 1/p " \
                          f"scaling, as in dropout), or misses the factor {name} that forward applies?"
    if batch and batch > 1:
        if _near(ratio, 1.0 / batch):
            return text + f": divided by the batch size {batch} (mean instead of sum)?"
        if _near(ratio, float(batch)):
            return text + f": multiplied by the batch size {batch}?"
    if _near(abs(ratio), 2.0) or _near(abs(ratio), 0.5):
        return text + ": a factor 2 (from a square, a symmetric term counted twice, or a 1/p scaling with " \
                      "p = 0.5)?"
    return text + ": a scale factor in backward (a learning rate, a normalisation, a 1/p) that forward does " \
                  "not have?"


def _where(name: str, failed: np.ndarray) -> str | None:
    """Where the errors are, when that is telling (one wrong element of one is not)."""
    if failed.sum() == 1 and failed.size > 1:
        index = tuple(int(i) for i in np.argwhere(failed)[0])
        return f"a single element is wrong, at index {index}: an indexing slip (an off-by-one, a wrong index)?"
    if name.endswith("weights") and failed.ndim == 2 and failed.shape[0] > 1:
        if failed[-1].any() and not failed[:-1].any():
            return "errors only in the last row (the bias row): its gradient is the error summed over the batch"
        if failed[:-1].any() and not failed[-1].any():
            return "the bias row (last row) is right but the weight rows are not: check X.T @ E"
    return None


def _shifted(analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray, tolerance: np.ndarray) -> str | None:
    """Analytic equals numeric moved by one place along an axis (an off-by-one in padding or indexing)."""
    if not np.isfinite(numeric).all():
        return None
    for axis in range(analytic.ndim):
        n = analytic.shape[axis]
        if n < 3:
            continue
        for shift in (1, -1):
            a = np.take(analytic, range(max(0, -shift), n - max(0, shift)), axis=axis)
            b = np.take(numeric, range(max(0, shift), n - max(0, -shift)), axis=axis)
            tol = np.take(tolerance, range(max(0, shift), n - max(0, -shift)), axis=axis)
            if a.size >= 2 and _close(a, b, tol).all():
                return (f"analytic equals the numeric gradient moved by one place along axis {axis} (analytic[i] = "
                        f"numeric[i {'+' if shift > 0 else '-'} 1]): an off-by-one in padding or indexing "
                        "(padding that is right for odd kernels only?)")
    return None


def _close(a: np.ndarray, b: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Where ``a`` equals ``b`` within ``tol`` (and the last digits of ``b``): the hints' one comparison."""
    return np.abs(a - b) <= tol + 1e-9 * np.abs(b)


def _same(a: np.ndarray, b: np.ndarray, tol: np.ndarray, failed: np.ndarray) -> bool:
    """``a`` equals ``b`` within ``tol`` wherever ``b`` is known (fast mode leaves the elements of agreeing
    directions without an estimate), and that covers every failed element."""
    known = np.isfinite(b) & np.isfinite(tol)
    if not known[failed].all() or known.sum() < 2:
        return False
    return bool(_close(a, b, tol)[known].all())


def _reordered(analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray, tolerance: np.ndarray) -> str | None:
    """Analytic equals numeric reversed along an axis, or with two axes of one length swapped (a flipped or
    transposed kernel; the 2-D transpose is :func:`_what`'s)."""
    for axis in range(analytic.ndim):
        if analytic.shape[axis] >= 2 and \
                _same(analytic, np.flip(numeric, axis), np.flip(tolerance, axis), failed):
            return (f"analytic equals the numeric gradient reversed along axis {axis}: a flipped kernel or index "
                    "(convolution where forward correlates, or k - 1 - j for j)?")
    if analytic.ndim > 2:
        for i in range(analytic.ndim):
            for j in range(i + 1, analytic.ndim):
                if analytic.shape[i] == analytic.shape[j] >= 2 and \
                        _same(analytic, np.swapaxes(numeric, i, j), np.swapaxes(tolerance, i, j), failed):
                    return (f"analytic equals the numeric gradient with axes {i} and {j} swapped: a transposed "
                            "kernel (or its two spatial axes) in backward?")
    return None


def _unreached(analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray, tolerance: np.ndarray) -> str | None:
    """Backward leaves a trailing block of positions along an axis exactly zero (in every row) where forward
    depends on them: it reaches only the first positions, as a stride or dilation dropped from backward's index
    arithmetic does (o + k where forward reads o * stride + k)."""
    for axis in range(analytic.ndim - 1, 0, -1):        # axis 0 is the batch, whose rows are alike
        n = analytic.shape[axis]
        other = tuple(k for k in range(analytic.ndim) if k != axis)
        zero = np.all(analytic == 0, axis=other)
        reached = np.flatnonzero(~zero)
        if not len(reached) or reached[-1] >= n - 1:
            continue
        first = int(reached[-1]) + 1
        tail = np.take(failed, range(first, n), axis=axis)
        if tail.any() and np.take(np.abs(numeric) > tolerance, range(first, n), axis=axis).any():
            return (f"the analytic gradient is exactly 0 at positions {first}-{n - 1} of axis {axis} in every row, "
                    f"where the numeric one is not: backward reaches only the first {first} of {n} positions (a "
                    "stride or dilation ignored in backward, or a loop that stops early?)")
    return None


def _row_coupling(analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray, tolerance: np.ndarray) -> str | None:
    """Numeric rows that sum to zero (forward ignores a constant added to a row) while analytic rows do not."""
    if analytic.ndim != 2 or analytic.shape[1] < 2 or not np.isfinite(numeric).all():
        return None
    slack = tolerance.sum(axis=1) + 1e-9 * np.abs(numeric).sum(axis=1)
    zero_numeric = np.abs(numeric.sum(axis=1)) <= slack
    rows = failed.any(axis=1)
    if zero_numeric.all() and (np.abs(analytic.sum(axis=1))[rows] > slack[rows]).any():
        return "the numeric gradient sums to zero over each row (forward ignores a constant added to a row, as " \
               "softmax does) but the analytic one does not: backward misses a term that couples the entries of " \
               "a row (for softmax, the -y * <e, y> part of the Jacobian-vector product)"
    return None


def _what(analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray, tolerance: np.ndarray,
          batch: int | None, factors: dict[str, float]) -> str | None:
    """What the wrong values look like."""
    a, n, tol = analytic[failed], numeric[failed], tolerance[failed]
    small_a, small_n = np.abs(a) <= tol, np.abs(n) <= tol
    if small_a.all() and not small_n.all():
        return "the analytic gradient is zero where the numeric one is not: backward does not produce it " \
               "(never set, or overwritten with zeros)?"
    if small_n.all() and not small_a.all():
        return "the analytic gradient is non-zero where the numeric one is zero: a missing mask (e.g. ReLU " \
               "backward not masked by input > 0), or a term whose forward has no effect?"
    known = np.isfinite(numeric).all() and np.isfinite(tolerance).all()      # fast mode leaves gaps
    if analytic.ndim == 2 and analytic.shape[0] == analytic.shape[1] > 1 and known \
            and np.allclose(analytic, numeric.T, rtol=1e-6, atol=float(np.max(tolerance))):
        return "analytic equals the transpose of the numeric gradient: a transpose is missing or extra"
    valid = np.abs(n) > tol
    if valid.sum() >= 2:        # one wrong element has a ratio, but no pattern
        ratios = a[valid] / n[valid]
        spread, mean = np.ptp(ratios), float(ratios.mean())
        # constant: the same to 1e-3, and, for a factor near 1, the same to a tenth of its distance from 1
        if spread <= 1e-3 * abs(mean) + 1e-12 and (abs(mean - 1) > 1e-3 or spread <= 0.1 * abs(mean - 1)):
            # "everywhere": every element agrees with analytic = factor x numeric (those that passed, within
            # their tolerance), not just the wrong ones
            with np.errstate(invalid="ignore"):
                fits = np.abs(analytic - mean * numeric) <= 2 * tolerance + 1e-9 * np.abs(analytic)
            everywhere = bool((fits | ~np.isfinite(numeric)).all())
            where = "everywhere" if everywhere else f"on the {int(failed.sum())} wrong elements"
            return _ratio_hint(mean, batch, where, factors)
    return None


def _non_finite(analytic: np.ndarray, failed: np.ndarray) -> str | None:
    bad = failed & ~np.isfinite(analytic)
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"the analytic gradient is {analytic[index]} at {int(bad.sum())} element(s), first at index {index}, "
            "where forward is finite: an overflow or a division by zero in backward (1/x or log at 0, exp of a "
            "large value)?")


def diagnose(name: str, analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray,
             tolerance: np.ndarray, batch: int | None = None, factors: dict[str, float] | None = None) -> str | None:
    """A hint for a failed tensor, or None. Arrays have the tensor's shape; ``failed`` is boolean.
    ``factors`` are scalars the layer holds (a probability, a rate), for naming a constant factor; a hint
    is only given where its pattern fits the failing elements."""
    if not failed.any():
        return None
    non_finite = _non_finite(analytic, failed)
    if non_finite:
        return non_finite
    what = _what(analytic, numeric, failed, tolerance, batch, factors or {}) or \
        _shifted(analytic, numeric, failed, tolerance) or _reordered(analytic, numeric, failed, tolerance) or \
        _unreached(analytic, numeric, failed, tolerance) or _row_coupling(analytic, numeric, failed, tolerance)
    hints = [h for h in (_where(name, failed), what) if h]
    return "; ".join(hints) or None


def _positions(axis: int, hit: np.ndarray, size: int) -> str | None:
    """Which positions of ``axis`` hold failures, when they are not all of them."""
    idx = np.flatnonzero(hit)
    if len(idx) == size:
        return None
    if len(idx) == 1:
        return f"only at position {int(idx[0])} of axis {axis}"
    run = bool(np.all(np.diff(idx) == 1))
    if run and idx[-1] == size - 1:
        return f"only in the last {len(idx)} positions of axis {axis} (from {int(idx[0])})"
    if run and idx[0] == 0:
        return f"only in the first {len(idx)} positions of axis {axis}"
    if run:
        return f"only at positions {int(idx[0])}-{int(idx[-1])} of axis {axis}"
    step = np.diff(idx)
    if len(idx) >= 3 and np.all(step == step[0]):
        return f"only at every {int(step[0])}th position of axis {axis} (from {int(idx[0])})"
    if len(idx) <= 4:
        return f"only at positions {', '.join(str(int(i)) for i in idx)} of axis {axis}"
    return None


def pattern(analytic: np.ndarray, numeric: np.ndarray, failed: np.ndarray, tolerance: np.ndarray) -> str | None:
    """One line on where a tensor's wrong elements are and what their values look like, or None when none
    failed: how many, the axes they are confined to (one position, the first or last positions, a stride),
    and a value pattern they all share (analytic or numeric zero, the sign, a constant ratio)."""
    if not failed.any():
        return None
    parts = [f"{int(failed.sum())} of {failed.size} wrong"]
    if failed.ndim:
        for axis in range(failed.ndim):
            other = tuple(k for k in range(failed.ndim) if k != axis)
            where = _positions(axis, failed.any(axis=other) if other else failed, failed.shape[axis])
            if where:
                parts.append(where)
    a, n, tol = analytic[failed], numeric[failed], tolerance[failed]
    with np.errstate(all="ignore"):
        if np.all(np.abs(a) <= tol):
            parts.append("analytic is 0 at each")
        elif np.all(np.abs(n) <= tol):
            parts.append("numeric is 0 at each (analytic is not)")
        elif np.all(np.abs(n) > tol):
            ratio = a / n
            if np.ptp(ratio) <= 1e-3 * np.abs(ratio).mean():
                parts.append(f"analytic = {float(ratio.mean()):.4g} x numeric at each")
            elif np.all(ratio < 0):
                parts.append("the sign differs at each")
    return ", ".join(parts)


def one_row(analytic: np.ndarray, numeric: np.ndarray, tolerance: np.ndarray, error: np.ndarray) -> str | None:
    """A parameter added to every row of the output (a bias: its numeric gradient is the upstream error
    ``error``, batch first, summed over the batch and the axes the parameter is broadcast along) whose analytic
    gradient is the share of a single batch row: the first's or the last's."""
    shape = analytic.shape
    if not shape or not np.isfinite(numeric).all():
        return None
    if error.shape[-len(shape):] == shape:              # a bias along the trailing axes: (D,) of (B, D)
        axes = tuple(range(1, error.ndim - len(shape)))
    elif len(shape) == 1 and error.shape[1] == shape[0]:    # a channel's bias: (C,) of (B, C, ...)
        axes = tuple(range(2, error.ndim))
    else:
        return None
    rows = error.sum(axis=axes) if axes else error           # (B, *shape): each row's share
    if rows.shape[1:] != shape:
        return None
    if not _close(numeric, rows.sum(axis=0), tolerance).all():
        return None                                         # not a parameter added to the output
    for b, which in ((0, "first"), (len(rows) - 1, "last")):
        if _close(analytic, rows[b], tolerance).all():
            return (f"analytic is the {which} batch row's share alone (row {b} of the upstream error): the "
                    f"gradient of a parameter added to every row is the error summed over the batch ({len(rows)} "
                    "rows), a missing sum or a loop that keeps only one row?")
    return None
