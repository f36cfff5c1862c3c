"""Finite differences along probes, with a step that follows the function, and the one tolerance rule.

A *probe* moves a set of elements of one tensor together (an element, a feature column read per row, a
sparse random direction, a tied group). It is evaluated in *rounds*: round ``r`` moves it by ``+-H`` and
``+-H/2`` with ``H = h / 8^r`` (``h = step * max(|value|, 1)`` per element, times the probe's direction).
With the base point, a round gives the central differences ``D(H)`` and ``D(H/2)`` (the estimate) and the
one-sided slopes at both steps. What the gaps between one-sided slopes do as the step shrinks says what
the function is doing there:

- **smooth** over ``[-H, H]``: the gaps scale with the step, ``gap(H) = 2 gap(H/2)`` (up to 1/16 of the gap,
  what a function smooth on a scale above H leaves), and ``D(H)``, ``D(H/2)`` agree; the estimate's truncation
  error is ``|D(H) - D(H/2)| / 3`` (Richardson);
- **a kink** at the point (ReLU at 0, the ties of a max): the gap stays as the step shrinks, over two round
  pairs; only "analytic lies between the one-sided slopes" is certified there;
- **noise** (forward's own rounding, larger than a few ulps of its output: cancellation at a large offset, a
  lossy formula, a reduction whose order changes): no longer smooth below two smooth rounds, a Richardson
  term that stops shrinking like ``H^2``, a failure the next smooth round does not reproduce, or a band of
  rounds where the gap grows while ``D`` stays put. It is measured there (fourth differences cancel
  curvature) and the estimate is judged again, at the round with the tightest tolerance, with it included.

A failure is only settled once the next round confirms it (smooth, decisive, reproducing the estimate).
A probe goes down the ladder until its round is smooth and *decisive* (the truncation allowance no larger
than the rest of the tolerance, so a coarse step cannot hide an error), a kink or noise is established
across two rounds, or no round is left (rounding would outgrow truncation, the step would come within
``ULPS`` ulps of the value, or ``MAX_ROUNDS``). The scale a function varies on may be far below ``|value|``
(a normalisation at a large offset) or far below 1 (tiny values): the ladder finds it either way. Where
forward raises or gives NaN/inf on a side (the edge of its domain) the step shrinks too; on the last round a
one-sided estimate is used if its slopes settle, and otherwise the estimate is *skipped*, which fails the
check.

Round 0 first takes ``+-h`` alone, and settles a probe with two forwards when the analytic value agrees with
``D(h)`` and ``D(h)``'s truncation is negligible: the one-sided slopes agree within the tolerance's floor
(linear over the step), or the relative gap is below 1 % and the truncation it implies for a function with
one length scale, ``gap^2 / (6 |D|)`` (with ``SAFETY``), fits in the floor beside the error.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SAFETY", "SHRINK", "MAX_ROUNDS", "TOLERANCE_TEXT", "DOMAIN_ERRORS", "Readout", "CountedReadout", "Probe",
           "Estimates", "Verdicts", "element_probes", "column_probes", "direction_count", "direction_probes",
           "group_probe", "finite_differences", "judge", "working_dtype"]

SAFETY = 8.0        # how many error estimates the tolerance allows
SHRINK = 8.0        # the step of round r is h / SHRINK^r
MAX_ROUNDS = 16     # a backstop: the ULPS limit ends the ladder first (9 rounds for |value| >= 1, 15 at 0)
# the typical rounding of a sum of n terms is eps * sum |terms| / sqrt(n); a screen's tolerance takes twice
# that, for the tail: forward's own sums round too (measured on FullyConnected(1024, 1024): the discrepancy
# of a direction is 0.3 of 8 typical roundings at the median, and 1 in 1140 went above 8)
SUM_TAIL = 2.0
ULPS = 64           # the smaller step of a round stays at least this many ulps of the value
_STEPS = ((1.0, 1.0), (-1.0, 1.0), (1.0, 0.5), (-1.0, 0.5))   # (sign, fraction of H): +H, -H, +H/2, -H/2
DOMAIN_ERRORS = (ValueError, ArithmeticError, IndexError)   # what a forward may raise outside its domain
_F64_EPS = float(np.finfo(np.float64).eps)
_WORKING = {float(np.finfo(t).eps): t for t in (np.float32, np.float16)}

TOLERANCE_TEXT = (f"tolerance = atol + rtol*|numeric| + {SAFETY:g}*rounding (eps times the outputs the step moves, or "
                  f"measured where forward is noisier) + (smooth: {SAFETY:g}*|D(H) - D(H/2)|/3; kink at the point: "
                  "half the gap between the one-sided slopes at H/2), at the step H the element was settled at")

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
    """Per-estimate results of :func:`finite_differences` (flat arrays, one entry per estimate), taken at the
    round each estimate was settled at."""

    analytic: np.ndarray    # the analytic derivative along the probe (an element's value, or the dot product)
    numeric: np.ndarray     # central difference with step H/2
    coarse: np.ndarray      # central difference with step H
    left: np.ndarray        # one-sided slopes with step H/2 ...
    right: np.ndarray
    left_h: np.ndarray      # ... and with step H
    right_h: np.ndarray
    rounding: np.ndarray    # how far rounding alone can move the estimate (assumed, or measured: noise)
    skipped: dict[int, str]  # estimate -> why it could not be taken
    one_sided: np.ndarray   # bool: taken from one side only (the other is outside forward's domain)
    level: np.ndarray       # int: the round it was settled at (its step is h / 8^level)
    noisy: np.ndarray       # bool: forward's measured noise, above the assumed rounding, is in the tolerance
    model: np.ndarray       # truncation implied by the one-scale model where +-h alone settled it, else NaN
    half: np.ndarray        # the smaller step H/2 (in the probe's units)
    # forward's measured noise over the rounding assumed for it (eps * the terms' magnitude): 0 where none
    excess: np.ndarray | None = None
    held: np.ndarray | None = None      # bool: settled as a kink at the point (its gap held over round pairs)

    def __post_init__(self) -> None:
        if self.excess is None:
            self.excess = np.zeros(len(self.numeric))
        if self.held is None:
            self.held = np.zeros(len(self.numeric), dtype=bool)

    @classmethod
    def empty(cls, n: int) -> Estimates:
        nan = np.full(n, np.nan)
        return cls(*(nan.copy() for _ in range(8)), skipped={}, one_sided=np.zeros(n, dtype=bool),
                   level=np.zeros(n, dtype=int), noisy=np.zeros(n, dtype=bool), model=nan.copy(), half=nan.copy())

    def take(self, other: Estimates, where: np.ndarray) -> None:
        """Copy ``other``'s estimates at the indices ``where`` into this one."""
        for name in ("analytic", "numeric", "coarse", "left", "right", "left_h", "right_h", "rounding",
                     "one_sided", "level", "noisy", "model", "half", "excess", "held"):
            getattr(self, name)[where] = getattr(other, name)[where]
        for j in where.tolist():
            self.skipped.pop(j, None)
            if j in other.skipped:
                self.skipped[j] = other.skipped[j]


class CountedReadout:
    """``readout``, counting its evaluations (``calls``) and calling ``tick()`` before each."""

    def __init__(self, readout: Readout, tick: Callable[[], None] | None = None) -> None:
        self.readout, self.tick, self.calls = readout, tick, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.tick is not None:
            self.tick()
        return self.readout(*args, **kwargs)


def _per_row(terms: np.ndarray, rows: np.ndarray | None) -> np.ndarray | float:
    """The sums of ``terms`` (rows x terms) over the rows ``rows`` reads, one per row (None: over all)."""
    return terms.sum() if rows is None else terms.sum(axis=1)[rows]


def _read(readout: Readout, rows: np.ndarray | None) -> np.ndarray | float:
    """The readout's values: the rows of ``rows``, or their total (the magnitudes are taken at the base only)."""
    if rows is None:
        values = readout(False, total=True)[0]
        return values.sum() if getattr(values, "ndim", 0) else values     # the total alone, or per-row values
    return readout(False)[0][rows]


def _last_round(values: np.ndarray, steps: np.ndarray, work: type | None = None) -> np.ndarray:
    """Per element, the last round whose smaller step H/2 stays ``ULPS`` ulps (of the working precision
    ``work``, float64 for None) of the value moved (of the step itself for a zero), at most ``MAX_ROUNDS - 1``."""
    ulp = np.spacing(np.maximum(values, steps).astype(work or np.float64)).astype(np.float64)
    room = steps / 2 / (ULPS * ulp)
    with np.errstate(divide="ignore"):
        rounds = np.floor(np.log(np.maximum(room, 1.0)) / np.log(SHRINK))
    return np.minimum(MAX_ROUNDS - 1, rounds).astype(int)


class _Ladder:
    """The evaluations of one call of :func:`finite_differences`: the probes' layout, and one round's values."""

    def __init__(self, tensor: np.ndarray, probes: Sequence[Probe], readout: Readout, analytic: np.ndarray,
                 step: float, noise: np.ndarray | None, machine_eps: float = _F64_EPS) -> None:
        self.tensor, self.probes, self.readout, self.analytic = tensor, probes, readout, analytic
        self.n = sum(p.estimates for p in probes)
        self.work = working_dtype(machine_eps)
        self.known = np.zeros(self.n, dtype=bool)   # which outputs the probe moves is known (see _dependence)
        self.still = np.zeros(self.n)       # the terms of the outputs it does not move
        self.reach = np.ones(self.n)        # the move that leaves them unmoved (in the probe's units)
        self.total = np.zeros(self.n)       # every term of the readout rows behind each estimate
        base_values, base_scale = readout(True)
        self.flat_view = tensor.reshape(-1) if tensor.flags.c_contiguous else None
        target = self.flat_view if self.flat_view is not None else tensor
        self.base, self.scale = np.full(self.n, np.nan), np.zeros(self.n)
        self.noise = np.zeros(self.n)       # forward's run-to-run noise of the readout behind each estimate
        self.sigma = np.zeros(self.n)        # forward's noise where the ladder measured it
        self.confirming = np.zeros(self.n, dtype=bool)     # a failure found in the last round, to confirm
        self.held = np.zeros(self.n, dtype=bool)    # the gap held in the last round (a kink at the point?)
        self.band = np.zeros(self.n, dtype=bool)    # the last round looked like forward's noise band
        self.band_sigma = np.zeros(self.n)          # forward's noise measured by any round that did
        self.was_smooth = np.zeros(self.n, dtype=bool)  # the last round was smooth
        self.steady = np.zeros(self.n, dtype=bool)  # two rounds in a row were smooth
        self.layout = []                    # per probe: (estimates slice, elements slice, where, nominal)
        self.owner = np.zeros(self.n, dtype=int)
        row_noise = np.zeros(len(base_values)) if noise is None else np.broadcast_to(noise, base_values.shape)
        if self.flat_view is not None and all(len(p.flat) == 1 and p.rows is None for p in probes):
            self._singles(probes, step, base_values.sum(), base_scale.sum(), row_noise.sum())
            self._dependence(step)
            return
        moved, steps = [], []               # per element: |value| and |nominal step|
        start = first = 0
        for i, probe in enumerate(probes):
            out, elems = slice(start, start + probe.estimates), slice(first, first + len(probe.flat))
            start, first = out.stop, elems.stop
            if len(probe.flat) == 1 and self.flat_view is not None:     # a plain int indexes fastest
                where = int(probe.flat[0])
                value = abs(float(target[where]))
                nominal = step * float(probe.direction[0]) * max(value, 1.0)
                moved.append(value)
                steps.append(abs(nominal))
            else:
                where = probe.flat if self.flat_view is not None else np.unravel_index(probe.flat, tensor.shape)
                values = np.abs(np.asarray(target[where], dtype=np.float64)).reshape(-1)
                nominal = step * probe.direction * np.maximum(values, 1.0)
                moved.extend(values.tolist())
                steps.extend(np.abs(nominal).tolist())
            self.layout.append((out, elems, where, nominal))
            self.owner[out] = i
            if probe.rows is None:
                self.base[out], self.scale[out] = base_values.sum(), base_scale.sum()
                self.noise[out] = row_noise.sum()
            else:
                self.base[out], self.scale[out] = base_values[probe.rows], base_scale[probe.rows]
                self.noise[out] = row_noise[probe.rows]
        # per element where each estimate is one element's, else the fewest of the probe's elements
        rounds = _last_round(np.array(moved), np.array(steps), self.work)
        self.rounds_left = np.zeros(self.n, dtype=int)
        for probe, (out, elems, _, _) in zip(probes, self.layout):
            self.rounds_left[out] = rounds[elems] if probe.estimates == len(probe.flat) and probe.rows is not None \
                else rounds[elems].min()
        self.elements = first
        self._dependence(step)

    def _singles(self, probes: Sequence[Probe], step: float, base: float, scale: float, noise: float) -> None:
        """The layout of single-element probes read as a whole sum (parameters), built with whole arrays."""
        flat = np.fromiter((int(p.flat[0]) for p in probes), dtype=np.intp, count=len(probes))
        direction = np.fromiter((float(p.direction[0]) for p in probes), dtype=float, count=len(probes))
        values = np.abs(self.flat_view[flat].astype(np.float64))
        nominal = step * direction * np.maximum(values, 1.0)
        self.layout = [(slice(i, i + 1), slice(i, i + 1), w, n)
                       for i, (w, n) in enumerate(zip(flat.tolist(), nominal.tolist()))]
        self.owner = np.arange(self.n)
        self.base[:], self.scale[:], self.noise[:] = base, scale, noise
        self.rounds_left = _last_round(values, np.abs(nominal), self.work)
        self.elements = self.n

    def new_round(self, r: int) -> None:
        self.factor = SHRINK ** -r
        self.f, self.t = np.full((4, self.n), np.nan), np.full((4, self.n), np.nan)
        self.displaced = np.zeros((4, self.elements))
        self.reasons: dict[int, str] = {}
        for probe, (out, _, _, _) in zip(self.probes, self.layout):
            if not (probe.rows is not None or len(probe.flat) == 1):     # along the direction
                self.t[:, out] = (np.array([s * fr for s, fr in _STEPS]) * self.factor)[:, None]

    def evaluate(self, indices: Sequence[int], steps: Sequence[int]) -> None:
        """Move each probe of ``indices`` by the steps ``steps`` of this round and read the function."""
        target = self.flat_view if self.flat_view is not None else self.tensor
        moves = [(k, _STEPS[k][0] * _STEPS[k][1] * self.factor) for k in steps]
        f, t, displaced = self.f, self.t, self.displaced
        for i in indices:
            probe, (out, elems, where, nominal) = self.probes[i], self.layout[i]
            if isinstance(where, int) and probe.rows is None:     # one element, one sum: scalar writes only
                orig = target[where]
                origin = float(self._rounded(orig))
                try:
                    for k, move in moves:
                        target[where] = self._rounded(orig + move * nominal)
                        taken = float(target[where]) - origin      # the step the function actually sees
                        displaced[k, elems.start] = t[k, out.start] = taken
                        try:                    # only forward's own errors are its domain's edge
                            value = _read(self.readout, None)
                        except DOMAIN_ERRORS as exc:
                            self.reasons[out.start] = f"forward raised {type(exc).__name__} at a perturbed " \
                                                      f"value ({exc})"
                            continue
                        f[k, out.start] = value
                finally:
                    target[where] = orig
                continue
            orig = target[where].copy()
            origin = self._rounded(orig)
            try:
                for k, move in moves:
                    target[where] = self._rounded(orig + move * nominal)
                    taken = np.float64(target[where]) - origin      # the step the function actually sees
                    displaced[k, elems] = taken
                    if probe.rows is not None or len(probe.flat) == 1:
                        t[k, out] = taken                                     # divide by its own step
                    try:                        # only forward's own errors are its domain's edge
                        value = _read(self.readout, probe.rows)
                    except DOMAIN_ERRORS as exc:
                        self.reasons.update({j: f"forward raised {type(exc).__name__} at a perturbed value ({exc})"
                                             for j in range(out.start, out.stop)})
                        continue
                    f[k, out] = value
            finally:
                target[where] = orig

    def _rounded(self, value):
        """``value`` as the function sees it: rounded to its working precision (a float64 number), so that
        the step taken is the step the function sees, exactly."""
        if self.work is None:
            return value
        return np.asarray(value, dtype=np.float64).astype(self.work).astype(np.float64)

    def _dependence(self, step: float) -> None:
        """Below float64, which outputs each probe moves, for the rounding its estimates allow.

        A difference of two forwards carries the rounding of the outputs that differ; an output the probe
        cannot move cancels exactly. Those that a move of the whole value (``+-max(|x|, 1)``) and the first
        step both leave unchanged can only vary by less than their rounding over that move, so their share
        of an estimate's rounding shrinks by the ratio of the step to that move. In float32 this is what the
        rounding really is: a sigmoid's estimate carries its own output's rounding, not its row's. Where a
        move leaves forward's domain, or the readout has no terms (a loss), every term counts, as in float64.
        """
        if self.work is None:
            return
        first = self.readout(False, terms=True)[1]
        if first is None:
            return
        base = np.abs(first)
        target = self.flat_view if self.flat_view is not None else self.tensor
        for probe, (out, _, where, nominal) in zip(self.probes, self.layout):
            moved, reached = np.zeros(base.shape, dtype=bool), base.copy()
            orig = np.copy(target[where])
            try:
                for m in (1 / step, -1 / step, 1.0):     # the whole value both ways, and the first step
                    target[where] = self._rounded(orig + m * np.asarray(nominal))
                    try:
                        terms = self.readout(False, terms=True)[1]
                    except DOMAIN_ERRORS:
                        terms = None
                    if terms is None or terms.shape != base.shape or not np.isfinite(terms).all():
                        break
                    moved |= terms != first
                    if m == 1.0:
                        reached = np.maximum(base, np.abs(terms))
                else:
                    self.known[out] = True
                    self.scale[out] = _per_row(np.where(moved, reached, 0.0), probe.rows)
                    self.still[out] = _per_row(np.where(moved, 0.0, base), probe.rows)
                    self.total[out] = _per_row(base, probe.rows)
                    self.reach[out] = np.abs(nominal) / step if probe.rows is not None or len(probe.flat) == 1 \
                        else 1 / step
            finally:
                target[where] = orig

    def analytic_along(self, plus: int, minus: int) -> np.ndarray:
        """The analytic value of each estimate: the element's own, or the dot product with a direction's span."""
        a = np.zeros(self.n)
        for probe, (out, elems, _, _) in zip(self.probes, self.layout):
            values = self.analytic[probe.flat]
            if probe.rows is not None or len(probe.flat) == 1:
                a[out] = values
            else:
                span = self.displaced[plus, elems] - self.displaced[minus, elems]
                a[out] = values @ span / (self.t[plus, out] - self.t[minus, out])
        return a


def finite_differences(tensor: np.ndarray, probes: Sequence[Probe], readout: Readout, analytic: np.ndarray,
                       step: float, machine_eps: float, rtol: float = 0.0, atol: float = 0.0, terms: int = 1,
                       quick: bool = True, noise: np.ndarray | float | None = None,
                       plan: Callable[[int], None] | None = None, confirm: bool = True,
                       rounds: int = MAX_ROUNDS) -> Estimates:
    """Evaluate every probe down the ladder of steps (``tensor`` perturbed in place, always restored).

    ``analytic`` is the analytic gradient of the whole tensor, flat; for a probe that sums the readout the
    analytic value is its dot product with the displacement actually taken. ``rtol``, ``atol`` and ``terms``
    are those of the :func:`judge` call the estimates are for: the ladder stops where that rule can decide.
    ``quick`` lets ``+-h`` alone settle a probe (see the module's docstring). ``noise`` is forward's
    run-to-run noise of each readout row (or of the total), measured by re-evaluation at the base point: it
    is added to the rounding of every estimate. ``plan(n)`` is told of the ``n`` forwards each round after the
    first is about to take (for the progress estimate). ``confirm=False`` settles a failure where it is found,
    without the next round's confirmation, and ``rounds=1`` stops at the first round: a screen whose doubtful
    probes are re-checked element by element anyway (a direction taken down the ladder until it settles would
    let a small wrong element hide under a large one's allowance).
    """
    lad = _Ladder(tensor, probes, readout, analytic, step, None if noise is None else np.asarray(noise, float),
                  machine_eps)
    lad.rounds_left = np.minimum(lad.rounds_left, rounds - 1)
    final, rounds = Estimates.empty(lad.n), []
    settled = np.zeros(lad.n, dtype=bool)
    active = np.ones(len(probes), dtype=bool)
    for r in range(MAX_ROUNDS):
        lad.new_round(r)
        todo = np.flatnonzero(active)
        if r and plan is not None:
            plan(4 * len(todo))
        lad.evaluate(todo, (0, 1))
        fine = todo
        quick_ok = np.zeros(lad.n, dtype=bool)
        if r == 0 and quick:
            quick_ok, model = _quick(lad, machine_eps, rtol, atol, terms)
            done = [i for i in todo if quick_ok[lad.layout[i][0]].all()]
            for i in done:              # the H step stands for the H/2 one too
                out, elems = lad.layout[i][0], lad.layout[i][1]
                lad.f[2:, out], lad.t[2:, out], lad.displaced[2:, elems] = lad.f[:2, out], lad.t[:2, out], \
                    lad.displaced[:2, elems]
            fine = np.setdiff1d(todo, done)
        lad.evaluate(fine, (2, 3))
        e = _estimates(lad, lad.analytic_along(2, 3), machine_eps, r)
        if r == 0 and quick:
            e.model = np.where(quick_ok, model, np.nan)
        rounds.append(e)
        fresh = np.flatnonzero(active[lad.owner] & ~settled)
        decided = _decide(e, rounds, fresh, r, lad, rtol, atol, terms, final, confirm)
        settled[decided] = True
        _noise_verdicts(rounds, final, lad, decided, rtol, atol, terms)
        active[:] = False
        for j in np.flatnonzero(~settled):
            active[lad.owner[j]] = True
        if not active.any():
            break
    left = np.flatnonzero(~settled)          # cannot happen with rounds_left < MAX_ROUNDS; kept for safety
    final.take(rounds[-1], left)
    return final


def _quick(lad: _Ladder, machine_eps: float, rtol: float, atol: float, terms: int) -> tuple[np.ndarray, np.ndarray]:
    """Per estimate: ``+-h`` alone settles it (see the module's docstring), and the truncation it implies."""
    with np.errstate(all="ignore"):
        fp, fm, tp, tm = lad.f[0], lad.f[1], lad.t[0], lad.t[1]
        d = (fp - fm) / (tp - tm)
        right, left = (fp - lad.base) / tp, (lad.base - fm) / -tm
        gap = np.abs(right - left)
        a = lad.analytic_along(0, 1)
        half = np.minimum(np.abs(tp), np.abs(tm))
        rounding = _rounding(lad, machine_eps, np.fmax(np.abs(fp), np.abs(fm)), lad.noise, half)
        floor = atol + rtol * np.abs(d) + SAFETY * _typical(rounding, terms)
        model = SAFETY * gap ** 2 / (6 * np.abs(d))
        # linear over the step, on the worst-case rounding (as judge decides smoothness): rounding alone must
        # never make an affine function look bent
        linear = gap <= atol + rtol * np.abs(d) + SAFETY * rounding
        one_scale = (gap <= 0.01 * np.abs(d)) & (np.abs(a - d) + model <= floor)
        ok = np.isfinite(fp) & np.isfinite(fm) & (np.abs(a - d) <= floor) & (linear | one_scale)
        return ok, np.where(linear, np.minimum(model, gap / 2), model) / SAFETY


def _rounding(lad: _Ladder, machine_eps: float, reached: np.ndarray, noise: np.ndarray,
              half: np.ndarray) -> np.ndarray:
    """How far rounding can move each estimate at the step ``half``: ``eps`` times the terms' magnitude at the
    base, or the values ``reached`` within the step where larger (w^2 at w = 0), over the step. Where the
    outputs a probe moves are known (below float64, see ``_Ladder._dependence``), only theirs count at that
    step, those it does not move over the move that leaves them unmoved, and the float64 readout's own sum."""
    everything = (machine_eps * (np.maximum(lad.scale, reached) + np.abs(lad.base)) + noise) / half
    moved = (machine_eps * lad.scale + _F64_EPS * lad.total + noise) / half + machine_eps * lad.still / lad.reach
    return np.where(lad.known, moved, everything)


def _estimates(lad: _Ladder, a: np.ndarray, machine_eps: float, level: int) -> Estimates:
    """Central and one-sided slopes, rounding, and which estimates are one-sided or skipped, for one round."""
    f, t, base = lad.f, lad.t, lad.base
    noise = lad.noise
    with np.errstate(all="ignore"):
        ok = np.isfinite(f)
        plus, minus = ok[0] & ok[2], ok[1] & ok[3]
        both = plus & minus
        fp1, fm1, fp2, fm2 = f
        tp1, tm1, tp2, tm2 = t
        right, right_h = (fp2 - base) / tp2, (fp1 - base) / tp1
        left, left_h = (base - fm2) / -tm2, (base - fm1) / -tm1
        # one side only: R(t) = f' + f'' t / 2 + O(t^2), so 2 R(H/2) - R(H) is the estimate, and R(H/2) the
        # coarser one beside it (their gap, |R(H) - R(H/2)|, then stands for the truncation error). The gap
        # is f'' H / 4, a tiny fraction of f' for a function resolved at this step; a gap above 1 % of the
        # estimate (sqrt at 0, -log(p) at p = 1e-9) means the step cannot resolve it, and the element is skipped
        side, side_h = np.where(plus, right, left), np.where(plus, right_h, left_h)
        numeric = np.where(both, (fp2 - fm2) / (tp2 - tm2), 2 * side - side_h)
        coarse = np.where(both, (fp1 - fm1) / (tp1 - tm1), side)
        half = np.where(both, np.minimum(np.abs(tp2), np.abs(tm2)), np.where(plus, np.abs(tp2), np.abs(tm2)))
        rounding = _rounding(lad, machine_eps, np.nanmax(np.where(ok, np.abs(f), 0.0), axis=0), noise, half)
        one_sided = ~both & (plus | minus)
        unsettled = one_sided & ~(np.abs(side_h - side) <= 0.01 * np.abs(numeric) + SAFETY * rounding)
    skipped = {}
    for i in np.flatnonzero(~(plus | minus) | unsettled):
        i = int(i)
        if unsettled[i]:
            skipped[i] = "at the edge of forward's domain, and the one-sided slopes do not settle at any step"
        else:
            skipped[i] = lad.reasons.get(i, "non-finite output at a perturbed value")
    n = lad.n
    return Estimates(analytic=a, numeric=numeric, coarse=coarse,
                     left=np.where(both, left, numeric), right=np.where(both, right, numeric),
                     left_h=np.where(both, left_h, coarse), right_h=np.where(both, right_h, coarse),
                     rounding=rounding, skipped=skipped, one_sided=one_sided & ~unsettled,
                     level=np.full(n, level), noisy=np.zeros(n, dtype=bool), model=np.full(n, np.nan), half=half)


def _decide(e: Estimates, rounds: list[Estimates], fresh: np.ndarray, r: int, lad: _Ladder, rtol: float,
            atol: float, terms: int, final: Estimates, confirm_failures: bool = True) -> np.ndarray:
    """Settle what round ``r`` can settle of the ``fresh`` estimates (evaluated in it, not settled before):
    copy them into ``final`` and return them.

    - Smooth: settled when decisive (the truncation allowance within the rest of the tolerance) or when a
      smaller step cannot help (its rounding, 8x this one's, would pass this truncation). A failure found
      there is first confirmed by the next round: it stands when that round is smooth, decisive, and
      reproduces the estimate to within half the discrepancy; a smooth next round that does not is forward's
      noise, measured from how far the estimate moved.
    - Not smooth, from the second round on: a kink at the point when the gap held over two round pairs (or
      over one, where the next round could no longer tell it from a bend); noise below two smooth rounds in
      a row (fourth differences), where the Richardson term stopped shrinking like H^2, in a band where the
      gap grows while the central difference stays put, or at the end of the ladder where fourth differences
      show a band. A failure confirmed below a round that showed the band is noise too (the smaller steps went
      into one rounding stair of a lossy formula). Out of forward's domain on a side, or anything else: a
      smaller step.
    - Everything is settled on its last round. Noisy estimates are judged again by :func:`_noise_verdicts`."""
    if not len(fresh):
        return fresh
    v = judge(e, rtol, atol, terms)
    last = lad.rounds_left[fresh] <= r
    with np.errstate(all="ignore"):
        floor = atol + rtol * np.abs(e.numeric) + SAFETY * _typical(e.rounding, terms)
        truncation = np.where(np.isnan(e.model), np.abs(e.coarse - e.numeric) / 3, e.model)
        decisive = SAFETY * truncation <= floor
        helps = truncation > SHRINK * e.rounding
    domain = np.array([j in e.skipped for j in fresh.tolist()], dtype=bool) | e.one_sided[fresh]
    smooth = v.smooth[fresh] & ~domain
    firm = smooth & (decisive[fresh] | ~helps[fresh])
    confirm = firm & v.failed[fresh] & ~last & confirm_failures
    settle = last | (firm & ~confirm)
    earlier = np.zeros(len(fresh), dtype=bool)          # settled at the previous round (a confirmed failure)
    if r >= 1:
        prev = rounds[r - 1]
        prev_ok = ~prev.one_sided & np.isfinite(prev.numeric)
        prev_ok[list(prev.skipped)] = False
        gap, gap_h, before, before_h = e.right - e.left, e.right_h - e.left_h, prev.right - prev.left, \
            prev.right_h - prev.left_h
        with np.errstate(all="ignore"):
            q = np.abs(gap) / np.abs(before)
            # a kink at the point keeps its gap, sign and size, and what the gap still depends on the step
            # (curvature beside the kink) shrinks with it; a kink at a distance c below the step looks alike, but
            # there the dependence grows as the step shrinks toward c, so the ladder goes on until c is resolved
            held = prev_ok & (q >= 0.5) & (q <= 2.0) & (np.sign(gap) == np.sign(before)) & \
                (np.abs(gap_h - gap) <= np.abs(before_h - before) / 4 + 4 * SAFETY * e.rounding)
            # noise: the second difference |f(t) - 2 f(0) + f(-t)| = |gap| t, on these two rounds
            sigma = np.fmax(np.abs(gap) * e.half, np.abs(before) * prev.half) / np.sqrt(6)
            # a failure to confirm: the previous round's estimate against this one's
            vp = judge(prev, rtol, atol, terms)
            # confirmed by a smooth, decisive round that reproduces the failure: the two estimates within half
            # of the discrepancy found, so the failure is not the noise by which they differ
            shift = np.abs(e.numeric - prev.numeric)
            agree = v.smooth & decisive & (shift <= v.tolerance + vp.tolerance) & \
                (shift <= 0.5 * np.abs(prev.analytic - prev.numeric))
            # forward's noise: from this round's fourth difference where it is not smooth (the difference
            # cancels curvature), else from how far the estimate moved between the two steps
            fourth_now = np.abs(gap_h - 2 * gap) * e.half * 2 / np.sqrt(70)
            moved = np.where(v.smooth, np.abs(e.numeric - prev.numeric) * e.half * np.sqrt(2), fourth_now)
        checking = lad.confirming[fresh]
        lad.confirming[fresh] = False
        confirmed = checking & (agree[fresh] | domain)
        earlier |= confirmed
        # held in two rounds in a row too: several kinks at different distances can pass one round's test;
        # or held once, where a smaller step could no longer tell it from a smooth bend: its noise allowance
        # (8x this one's) would reach the gap, and the smoothness test would pass by noise
        with np.errstate(all="ignore"):
            blind = SHRINK * 4 * SAFETY * e.rounding >= np.abs(gap) / 2
        kinked = ~checking & ~smooth & ~domain & held[fresh] & (lad.held[fresh] | blind[fresh])
        lad.held[fresh] = held[fresh]
        e.held[fresh[kinked]] = True
        # the noise band: the gap grew (noise spreads the one-sided slopes as sigma / t) while the central
        # difference stayed put, within the gaps and within a tenth of itself (it scatters by sigma / t around
        # f'); a function that varies far below the step saturates instead, and there the central difference
        # itself keeps moving, by a factor per round
        with np.errstate(all="ignore"):
            moved_by = np.abs(e.numeric - prev.numeric)
            stable = (moved_by <= (np.abs(gap) + np.abs(before)) / 2) & (moved_by <= 0.1 * np.abs(prev.numeric))
        band_now = ~smooth & ~domain & ~held[fresh] & prev_ok[fresh] & (q[fresh] > 2) & stable[fresh]
        # on two round pairs in a row: a kink passed by the step can look so for one
        in_band = ~checking & band_now & lad.band[fresh]
        lad.band[fresh] = band_now
        lad.band_sigma[fresh[band_now]] = np.fmax(lad.band_sigma[fresh[band_now]], sigma[fresh][band_now])
        # a failure confirmed below a round that looked like the noise band: forward's noise was seen at the
        # larger steps, and the smaller ones went into a stretch too short to show it (a lossy formula's output
        # moves in rounding stairs, and within one stair it is exactly linear, at the stair's slope rather than
        # the function's). It is noise, measured where it was seen, and the round with the tightest tolerance
        # judges the estimate (a wrong gradient still fails there, beyond that noise)
        explained = confirmed & (lad.band_sigma[fresh] > 0)
        confirmed &= ~explained
        earlier &= ~explained
        # never smooth nor a kink down to the last round: noise too, where the fourth differences show its band
        at_end = ~checking & ~smooth & ~domain & ~held[fresh] & last & ~in_band
        candidates = in_band | at_end
        band = np.zeros(len(fresh))
        band[candidates] = _noise_band(rounds, fresh[candidates])
        noisy = candidates & ((band > 0) | in_band)
        sigma[fresh[noisy]] = np.where(band > 0, band, sigma[fresh])[noisy]
        # below smooth rounds, every smaller round lies in the same smooth stretch: not smooth there is noise,
        # measured by the fourth differences of this round and the last (they cancel the curvature). Two smooth
        # rounds in a row: an unresolved round (a function that varies far below its step) can pass one
        below = ~checking & ~smooth & ~domain & lad.steady[fresh]
        with np.errstate(all="ignore"):
            fourth = np.fmax(np.abs(gap_h - 2 * gap) * 2 * e.half, np.abs(before_h - 2 * before) * 2 * prev.half)
        # a failure the next smooth round does not confirm: noise moved the estimate between the two steps; a
        # next round that is not smooth says nothing yet (the failing round may have been unresolved): go on
        unsteady = checking & ~confirmed & smooth
        # converging stopped: between smooth rounds (after two already) the Richardson term must shrink like
        # H^2, 64x a round; where it shrinks less than 16x, noise has overtaken truncation (an assumed
        # rounding below forward's real noise kept the ladder going), measured from that term
        with np.errstate(all="ignore"):
            trunc_now, trunc_before = np.abs(e.coarse - e.numeric), np.abs(prev.coarse - prev.numeric)
            stalled = (trunc_now > trunc_before / 16) & (trunc_now > 4 * SAFETY * e.rounding)
        stall = ~checking & smooth & ~settle & lad.steady[fresh] & stalled[fresh]
        settle = (settle | kinked | noisy | unsteady | below | stall | explained) & ~confirmed
        lad.sigma[fresh[noisy]] = sigma[fresh][noisy]
        # below smooth rounds every estimator of the two rounds measures the same noise; one sample of it can
        # come out several times too small, so the largest of them is taken
        with np.errstate(all="ignore"):
            samples = np.nan_to_num(np.fmax(np.fmax(fourth / np.sqrt(70), moved_by * e.half * np.sqrt(2)),
                                            trunc_now * e.half))
        lad.sigma[fresh[unsteady]] = np.fmax(moved, samples)[fresh][unsteady]
        lad.sigma[fresh[below]] = samples[fresh][below]
        lad.sigma[fresh[stall]] = samples[fresh][stall]
        lad.sigma[fresh[explained]] = lad.band_sigma[fresh[explained]]
        noisy |= unsteady | below | stall | explained
        e.noisy[fresh[noisy]] = True        # judged again with the noise, by _noise_verdicts
    lad.confirming[fresh[confirm]] = True
    lad.steady[fresh] |= smooth & lad.was_smooth[fresh]
    lad.was_smooth[fresh] = smooth          # smooth at the last round
    final.take(e, fresh[settle])
    if earlier.any():
        final.take(rounds[r - 1], fresh[earlier])
    return fresh[settle | earlier]


def _noise_band(rounds: list[Estimates], which: np.ndarray) -> np.ndarray:
    """Forward's noise for the estimates ``which`` that no round settled, or 0 where there is none to see.

    The fourth difference of a round, ``f(-H) - 4 f(-H/2) + 6 f(0) - 4 f(H/2) + f(H) = H (gap(H) - 2 gap(H/2))``,
    cancels curvature: a smooth function leaves its fourth derivative times ``(H/2)^4`` (4096x less per
    round), a kink ``~delta H`` (8x less), and noise ``sqrt(70) sigma`` at every step wide enough to cross
    its rounding steps (a lossy formula is linear inside one of them). Two rounds in a row whose fourth
    differences do not shrink by more than 4x mark that band, and the smaller of the two measures sigma;
    without such a pair, 0."""
    fourth = []
    for e in rounds:
        with np.errstate(all="ignore"):
            f4 = np.abs((e.right_h - e.left_h) - 2 * (e.right - e.left)) * 2 * e.half
            f4 = np.where(np.isfinite(f4) & (f4 > 4 * SAFETY * e.rounding * e.half), f4, np.nan)
        fourth.append(f4[which])
    sigma = np.zeros(len(which))
    for before, now in zip(fourth, fourth[1:]):
        with np.errstate(invalid="ignore"):
            flat = now >= before / 4
        sigma = np.where(flat, np.fmax(sigma, np.fmin(before, now) / np.sqrt(70)), sigma)
    return np.nan_to_num(sigma)


def _noise_verdicts(rounds: list[Estimates], final: Estimates, lad: _Ladder, decided: np.ndarray, rtol: float,
                    atol: float, terms: int) -> None:
    """Estimates whose second difference stopped shrinking with the step: forward's own noise dominates
    there (``lad.sigma``, measured by :func:`_decide`). Every round taken is judged again with that noise in
    its rounding, and the estimate keeps the round with the tightest tolerance among the smooth ones (of
    all, if none is smooth)."""
    noisy = decided[final.noisy[decided]]
    if not len(noisy):
        return
    best, best_tol = Estimates.empty(lad.n), np.full(lad.n, np.inf)
    best_smooth = np.zeros(lad.n, dtype=bool)
    for e in rounds[:int(final.level[noisy].max()) + 1]:
        again = Estimates.empty(lad.n)
        again.take(e, noisy)
        with np.errstate(all="ignore"):
            extra = lad.sigma / again.half
            again.noisy[noisy] = extra[noisy] > again.rounding[noisy]
            again.excess[noisy] = extra[noisy] / again.rounding[noisy]
            again.rounding[noisy] = again.rounding[noisy] + extra[noisy]
        usable = np.zeros(lad.n, dtype=bool)
        usable[noisy] = np.isfinite(again.numeric[noisy]) & (again.level[noisy] <= final.level[noisy])
        usable[list(again.skipped)] = False
        v = judge(again, rtol, atol, terms)
        better = usable & ((v.smooth & ~best_smooth) | ((v.smooth == best_smooth) & (v.tolerance < best_tol)))
        where = np.flatnonzero(better)
        best.take(again, where)
        best_tol[where], best_smooth[where] = v.tolerance[where], v.smooth[where]
    chosen = noisy[np.isfinite(best_tol[noisy])]
    final.take(best, chosen)


@dataclass
class Verdicts:
    """Per-estimate verdicts of :func:`judge` (flat arrays)."""

    error: np.ndarray
    tolerance: np.ndarray
    failed: np.ndarray      # bool
    kink: np.ndarray        # bool: a kink lies within H/2; only "between the one-sided slopes" is certified
    checked: np.ndarray     # bool: not skipped
    smooth: np.ndarray      # bool: no kink within [-H, H] (the one-sided gaps scale with the step)
    outside: np.ndarray | None = None   # bool: failed at a kink, outside its one-sided slopes, forward exact there


def working_dtype(machine_eps: float) -> type | None:
    """The dtype a function computing at ``machine_eps`` holds its values in (None: float64)."""
    return _WORKING.get(float(machine_eps))


def _typical(rounding: np.ndarray, terms: int) -> np.ndarray:
    """The rounding a tolerance allows for an estimate whose worst case is ``rounding``, of a sum of ``terms``."""
    return rounding if terms == 1 else SUM_TAIL * rounding / np.sqrt(terms)


def judge(e: Estimates, rtol: float, atol: float, terms: int = 1) -> Verdicts:
    """The one tolerance rule (see :data:`TOLERANCE_TEXT`), for elements, columns, directions and groups.

    ``rounding`` is a worst-case bound, ``eps * sum |terms|`` (or forward's measured noise where larger). A
    screen that may fail without harm (fast mode re-checks the elements of a failed direction one by one)
    passes ``terms``, the number of terms summed, and its tolerance uses the typical rounding of such a sum,
    ``eps * sum |terms| / sqrt(terms)`` (twice that: :data:`SUM_TAIL`); whether the function is smooth is
    always decided on the worst case, so that rounding alone never makes a linear function look kinked.
    """
    checked = np.ones(e.numeric.size, dtype=bool)
    checked[list(e.skipped)] = False
    with np.errstate(all="ignore"):
        noise = SAFETY * _typical(e.rounding, terms)
        gap, gap_h = e.right - e.left, e.right_h - e.left_h
        # smooth over [-H, H]: the one-sided gaps scale with the step (one-sided slopes carry ~4x the
        # rounding of the central difference, and the test combines four of them); settled at +-h alone:
        # smooth by the one-scale model
        modelled = ~np.isnan(e.model)
        # beyond rounding, a smooth function leaves gap(H) - 2 gap(H/2) = (4th derivative) H^3 / 16, a
        # fraction (H / L)^2 / 16 of the gap itself (L the scale it varies on), where a kink at the point
        # leaves the whole gap: 1/16 of the gap tells them apart even where f' is ~0 and rtol allows nothing
        # ... and resolved: the central differences at H and H/2 agree to a quarter of the estimate, or to the
        # curvature signal itself (truncation is ~H/L of it), or to rounding. An odd function saturating far
        # below the step (x / |x|) has no gap at all, but its central difference doubles with every halving
        resolved = np.abs(e.coarse - e.numeric) <= np.abs(e.numeric) / 4 + np.abs(gap) + atol + SAFETY * e.rounding
        scaling = np.abs(gap_h - 2 * gap)
        allowance = rtol * (np.abs(e.right_h) + np.abs(e.left_h)) + np.abs(gap_h) / 16
        smooth = modelled | (resolved & (scaling <= 4 * SAFETY * e.rounding + allowance))
        truncation = np.where(modelled, e.model, np.abs(e.coarse - e.numeric) / 3)
        floor = atol + rtol * np.abs(e.numeric) + noise
        # smooth only by the rounding allowance, with a gap above the floor that stays nearer its size than its
        # double at twice the step (float32 at an exact kink): rounding cannot tell a kink at the point from a
        # smooth function there, so the element keeps a kink's allowance and is certified only between its
        # one-sided slopes. A gap that doubles, give or take rounding, is curvature (a nearly flat function)
        unsure = smooth & ~modelled & ~(resolved & (scaling <= allowance)) & (np.abs(gap) / 2 > floor) & \
            (np.abs(gap_h - gap) < scaling)
        kinked = ~smooth | unsure
        # the smooth allowance where smooth, a kink's where a kink may be there, the larger of the two
        tolerance = floor + np.maximum(np.where(smooth, SAFETY * truncation, 0.0), np.where(kinked, np.abs(gap) / 2,
                                                                                          0.0))
        error = np.abs(e.analytic - e.numeric)
        failed = checked & ~(error <= tolerance)
        kink = checked & kinked & (np.abs(gap) / 2 > floor)
    return Verdicts(error=np.where(checked, error, 0.0), tolerance=tolerance, failed=failed, kink=kink & ~failed,
                    checked=checked, smooth=smooth,
                    # outside its one-sided slopes at a kink (not checked, where several kinks may meet): only
                    # at an established kink, whose gap held over round pairs (or that rounding cannot tell
                    # from one, float32 at an exact kink); a round whose gaps are noise (a flat function at an
                    # offset of 1e4, never settled as a kink) leaves that element wrong
                    outside=kink & failed & ~e.noisy & (e.held | unsure))
