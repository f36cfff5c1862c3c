"""Checking one gradient tensor: the full and the fast comparison, tied groups, the stale-cache re-check."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from gradcheck.diagnosis import diagnose, pattern
from gradcheck.numeric import (
    DOMAIN_ERRORS,
    SAFETY,
    SHRINK,
    CountedReadout,
    Estimates,
    Probe,
    Readout,
    Verdicts,
    _read,
    direction_count,
    direction_probes,
    element_probes,
    finite_differences,
    group_probe,
    judge,
    working_dtype,
)
from gradcheck.prepare import Settings
from gradcheck.report import ElementArrays, ElementError, GradcheckReport, TensorCheck

__all__ = ["check_tensor", "expected_forwards", "mark_stale", "probes_for"]

_WORST = 5          # worst elements kept per tensor


class _Elements:
    """Element-level results of one tensor, filled in by whichever probes reached each element."""

    def __init__(self, size: int) -> None:
        self.numeric = np.full(size, np.nan)
        self.error = np.zeros(size)
        self.tolerance = np.full(size, np.nan)
        self.failed = np.zeros(size, dtype=bool)
        self.kink = np.zeros(size, dtype=bool)
        self.checked = np.zeros(size, dtype=bool)
        self.skipped: dict[str, int] = {}
        self.one_sided = np.zeros(size, dtype=bool)
        self.smooth = np.ones(size, dtype=bool)
        self.level = np.zeros(size, dtype=int)      # the round each element was settled at
        self.noisy = np.zeros(size, dtype=bool)     # forward's measured noise is in its tolerance
        self.excess = np.zeros(size)                # that noise over the rounding assumed for forward
        self.worst: list[tuple[float, ElementError]] = []
        self.tie_hint: str | None = None
        self.outside = np.zeros(size, dtype=bool)   # failed at a kink, outside its one-sided slopes

    def add(self, flat: np.ndarray, e: Estimates, v: Verdicts) -> None:
        self.numeric[flat], self.error[flat], self.tolerance[flat] = e.numeric, v.error, v.tolerance
        self.failed[flat], self.kink[flat], self.checked[flat] = v.failed, v.kink, v.checked
        self.outside[flat] = v.outside
        self.one_sided[flat] = e.one_sided & v.checked
        self.smooth[flat] = v.smooth | ~v.checked
        self.level[flat], self.noisy[flat] = e.level, e.noisy & v.checked
        self.excess[flat] = np.where(e.noisy & v.checked, e.excess, 0.0)
        for reason in e.skipped.values():
            self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _probe_flat(probes: Sequence[Probe]) -> np.ndarray:
    """The element behind each estimate of per-element probes, in estimate order."""
    return np.concatenate([p.flat for p in probes]) if probes else np.zeros(0, dtype=int)


def _singles(flat: np.ndarray, features: int | None) -> list[Probe]:
    """One probe per element; with independent rows each reads only its own row."""
    return [Probe(np.array([i]), np.ones(1), None if features is None else np.array([i // features]))
            for i in flat]


def _rule(s: Settings, terms: int = 1, quick: bool = True, plan: Callable[[int], None] | None = None) -> dict:
    """The keyword arguments of :func:`finite_differences` for a check with settings ``s``."""
    return {"rtol": s.rtol if terms == 1 else 0.0, "atol": s.atol, "terms": terms, "quick": quick, "noise": s.noise,
            "plan": plan}


def probes_for(flat: np.ndarray, features: int | None) -> list[Probe]:
    """Probes that check just the elements ``flat`` (by column when rows are independent)."""
    return _by_column(np.sort(np.asarray(flat, dtype=np.intp)), features)


def _by_column(flat: np.ndarray, features: int | None) -> list[Probe]:
    """The elements ``flat`` moved a feature column at a time when rows are independent (each row read
    separately, so every element still gets its own estimate), else one at a time."""
    if features is None:
        return _singles(flat, None)
    column = flat % features
    return [Probe(flat[column == j], np.ones(int((column == j).sum())), flat[column == j] // features)
            for j in np.unique(column)]


def _elementwise(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, probes: Sequence[Probe],
                 s: Settings, out: _Elements, features: int | None = None, parallel: tuple | None = None,
                 plan: Callable[[int], None] | None = None) -> None:
    """Per-element estimates and verdicts. Elements of a column that left forward's domain as a whole (on
    one side or both) are tried again one by one, so only the elements that really cannot move are skipped.
    ``parallel = (workers, locate, tick)`` spreads a long pass over worker processes."""
    if not probes:
        return
    rule = _rule(s, plan=plan)
    e = None
    if parallel is not None and parallel[0].worth_it(len(probes)):
        workers, locate, tick = parallel
        e = workers.differences(locate, probes, analytic, s.step, s.machine_eps, _rule(s), tick)
    if e is None:
        e = finite_differences(tensor, probes, readout, analytic, s.step, s.machine_eps, **rule)
    flat = _probe_flat(probes)
    retry = sorted(set(e.skipped) | set(np.flatnonzero(e.one_sided).tolist())) if len(probes) < len(flat) else []
    for k in retry:
        e.skipped.pop(k, None)
    out.add(flat, e, judge(e, s.rtol, s.atol))
    if retry:
        if plan is not None:
            plan(2 * len(retry))
        _elementwise(tensor, analytic, readout, _singles(flat[retry], features), s, out, plan=plan)


def _tied_groups(values: np.ndarray, candidates: np.ndarray, step: float, level: np.ndarray,
                 features: int | None) -> list[np.ndarray]:
    """Candidate elements whose values lie within the step they were settled at of each other (ties of a max
    share one kink; values the ladder told apart at a smaller step are not tied), within one batch row when
    the rows are independent (elements of different rows share no kink)."""
    idx = np.flatnonzero(candidates)
    if len(idx) < 2:
        return []
    row = np.zeros(len(values), dtype=int) if features is None else np.arange(len(values)) // features
    idx = idx[np.lexsort((values[idx], row[idx]))]
    v = values[idx]
    reach = step * np.maximum(np.abs(v), 1.0) * SHRINK ** -level[idx].astype(float)
    breaks = np.flatnonzero((np.diff(v) > np.maximum(reach[1:], reach[:-1])) | (np.diff(row[idx]) != 0)) + 1
    return [g for g in np.split(idx, breaks) if len(g) >= 2]


def _check_ties(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, s: Settings, out: _Elements,
                features: int | None, plan: Callable[[int], None] | None = None) -> None:
    """Tied elements are judged together: moving the group must match the sum of their analytic values.

    Alone, an element at a kink only has to lie between its one-sided slopes. That misses a max that copies
    its gradient to every tied element, and it is no law at all for a tie shared by overlapping windows with
    errors of both signs (the sum of maxima is then neither convex nor concave). A group that shares one kink
    moves smoothly as one (a tie moves as one), and its slope is a sharp test: if it disagrees with the sum of
    the analytic values the group fails; if it agrees, the members' one-by-one verdicts give way to it.
    Kinks that merely lie close (two ReLU units near 0) stay kinked when moved together, and keep their
    one-by-one verdicts."""
    # near a kink: settled as not smooth (a kink at the point), or judged with what the ladder measured as
    # noise, which several kinks at different distances can pass for
    groups = _tied_groups(tensor.ravel(), out.checked & (~out.smooth | out.noisy), s.step,
                          out.level, features)
    if not groups:
        return
    probes = [group_probe(g) for g in groups]
    if plan is not None:
        plan(4 * len(probes))
    e = finite_differences(tensor, probes, readout, analytic, s.step, s.machine_eps, **_rule(s, quick=False, plan=plan))
    v = judge(e, s.rtol, s.atol)
    for k in np.flatnonzero(v.smooth & v.checked & ~e.noisy):     # a move that noise decides says nothing
        g = groups[k]
        if not v.failed[k]:
            out.kink[g], out.failed[g] = out.kink[g] | out.failed[g], False
            continue
        out.failed[g], out.kink[g], out.outside[g] = True, False, False     # wrong as a tie, on a smooth move
        index = tuple(int(i) for i in np.unravel_index(g[0], tensor.shape))
        out.worst.append((float(v.error[k] / v.tolerance[k]), ElementError(
            index, float(e.analytic[k]), float(e.numeric[k]), float(v.error[k]), float(v.tolerance[k]))))
        members = [tuple(int(i) for i in np.unravel_index(j, tensor.shape)) for j in g[:6]]
        out.tie_hint = (f"elements {', '.join(map(str, members))}{' ...' if len(g) > 6 else ''} are tied (equal "
                        f"within the step) and were judged together: moved together they change the output at "
                        f"{e.numeric[k]:.6g} per unit, but their analytic gradients sum to {e.analytic[k]:.6g}: "
                        "the gradient of a tie must go to one of them (or be split), not be copied to each")


def _screen(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, s: Settings, probes: Sequence[Probe],
            terms: int, plan: Callable[[int], None] | None = None
            ) -> tuple[Estimates, Verdicts, np.ndarray, np.ndarray]:
    """Fast mode's first round on the directions ``probes``: estimates, verdicts, which are indecisive, and
    which are unsure (their elements are then checked one by one)."""
    e = finite_differences(tensor, probes, readout, analytic, s.step, s.machine_eps, **_rule(s, terms, plan=plan),
                           confirm=False, rounds=1)
    v = judge(e, 0.0, s.atol, terms)
    # agreeing only within a truncation allowance above the worst-case rounding is no agreement: at a step that
    # does not resolve the function (an offset of 1e4) a wrong element hides in that allowance. An affine
    # direction's Richardson term is rounding, and stays under this floor
    with np.errstate(all="ignore"):
        truncation = np.where(np.isnan(e.model), np.abs(e.coarse - e.numeric) / 3, e.model)
        indecisive = SAFETY * truncation > s.atol + SAFETY * e.rounding
    return e, v, indecisive, v.failed | v.kink | ~v.checked | ~v.smooth | indecisive


def _fast(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, s: Settings, rng: np.random.Generator,
          features: int | None, terms: int, out: _Elements, plan: Callable[[int], None] | None) -> tuple[int, str]:
    """Sparse random directions, each element in exactly one; the elements of every direction that fails,
    leaves the domain or crosses a kink are then checked one by one (a feature column at a time when rows
    are independent, as the full check does), so a verdict is always element-level and never costs more
    forwards than the full check's.

    A direction is judged on ``+-h`` (and ``+-h/2`` where that does not settle it, no further and without
    confirmation: it is a screen), without rtol (a per-element allowance, applied when elements are checked
    one by one) and with the typical, not the worst-case, rounding of the ``terms`` output terms, so one wrong
    element is not hidden in the sum of the others. A failure, a kink, the edge of the domain or a round that
    is not smooth send its elements to the full rule, which costs them no more than the full check would:
    fast mode takes at most the full check's forwards plus four per direction."""
    n = tensor.size
    count = direction_count(n)
    probes = direction_probes(n, count, rng)
    e, v, indecisive, doubtful = _screen(tensor, analytic, readout, s, probes, terms, plan)
    unsure = [probes[k] for k in np.flatnonzero(doubtful)]
    recheck = np.sort(_probe_flat(unsure))
    again = _by_column(recheck, features)
    if plan is not None and again:
        plan(2 * len(again))
    _elementwise(tensor, analytic, readout, again, s, out, plan=plan)
    passed = count - len(unsure)
    checked = passed + int(out.checked[recheck].sum())
    reasons = {"failed": int(v.failed.sum()), "crossed a kink": int(v.kink.sum()),
               "left the domain": int((~v.checked).sum()),
               "were not smooth at the first step": int((v.checked & ~v.smooth & ~v.kink & ~v.failed).sum()),
               "were not resolved at the first step": int((v.checked & v.smooth & ~v.failed & indecisive).sum())}
    why = ", ".join(f"{k} {r}" for r, k in reasons.items() if k)
    note = f"{passed} of {count} sparse random directions agree (every element lies in exactly one)"
    if unsure:
        note += f"; the {len(recheck)} elements of the other {len(unsure)} ({why}) were checked one by one"
    return checked, note


def check_tensor(name: str, tensor: np.ndarray, analytic: np.ndarray | None, readout: Readout,
                 probes: Sequence[Probe] | None, method: str, features: int | None, s: Settings,
                 rng: np.random.Generator, batch: int | None, terms: int,
                 parallel: tuple | None = None, plan: Callable[[int], None] | None = None,
                 factors: dict[str, float] | None = None, coarser: bool = True) -> TensorCheck | None:
    """Compare ``analytic`` with finite differences of ``readout`` over ``tensor`` (perturbed in place).

    ``probes`` are those of the full check (None: one element at a time, built only when needed);
    ``parallel = (workers, locate)`` lets a long full pass run in worker processes; ``plan(n)`` is told of
    forwards the ladder adds beyond the first round's (for the progress estimate); ``factors`` are scalars
    the layer holds, for naming a constant factor in the hint. ``coarser=False`` leaves failing elements as the
    ladder judged them (the pilot: a fixed cost that would not extrapolate)."""
    if analytic is None:        # already reported as a problem (missing or wrong shape)
        return None
    start = time.perf_counter()
    readout = CountedReadout(readout)

    a = analytic.ravel()
    out, note = _Elements(tensor.size), None
    full_groups = tensor.size if probes is None else len(probes)
    if s.mode == "fast" and full_groups > direction_count(tensor.size):
        checked, note = _fast(tensor, a, readout, s, rng, features, terms, out, plan)
        method = "directions"
    else:
        if s.mode == "fast":
            note = (f"checked as in full mode: its {full_groups} {method} are no more than the "
                    f"{direction_count(tensor.size)} directions fast mode would take")
        def tick(count: int) -> None:
            readout.calls += count
            progress_tick(count)

        spread = None if parallel is None else (parallel[0], parallel[1], tick)
        progress_tick = parallel[2] if parallel is not None else (lambda count: None)
        _elementwise(tensor, a, readout, element_probes(tensor.size) if probes is None else probes, s, out, features,
                     spread, plan)
        checked = int(out.checked.sum())
    _check_ties(tensor, a, readout, s, out, features, plan)
    if coarser:
        was = out.checked.copy()
        _coarser_steps(tensor, a, readout, s, out, features)
        checked -= int((was & ~out.checked).sum())      # elements the coarser steps found not checkable
    checked -= _kinks_meet(out)
    checked -= _too_noisy(a, out)
    check = _summarise(name, tensor, a, out, method, checked, note, batch, factors)
    check.evaluations, check.seconds = readout.calls, time.perf_counter() - start
    return check


COARSER = (1, 2, 3)     # the steps H0 * 8^k a failing element is looked at again with ...
COARSEST = 0.01         # ... while at most this fraction of max(|value|, 1)
COARSE_LIMIT = 1e-3     # the loosest relative tolerance a coarser step may certify an element with
_SAMPLE = 8             # failing elements looked at before the rest: none explained, the rest are not either
_JUMP = 2.0 ** -24      # a change between adjacent floats this share of the residual bisected, or more, is a jump
_HALVINGS = 80          # a backstop for the bisection: adjacent floats end it first
_STAIRS_AT_THE_STEP = ("forward is not precise enough at this point to check its gradient: it jumps within the "
                       "step (a lossy formula whose output moves in rounding stairs, like 0.5 + 0.5 tanh(x / 2) far "
                       "below 0 in float32), and in this precision no coarser step stays close to the point")
_STAIRS = ("forward is not precise enough at this point to check its gradient: its estimates at steps 8 to "
           f"{SHRINK ** COARSER[-1]:g} times larger settle far from the first steps' (a lossy formula whose output "
           "moves in rounding stairs, like 1 + tanh(x) far below 0)")


def _coarser_steps(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, s: Settings, out: _Elements,
                   features: int | None = None) -> None:
    """A failing element looked at again with steps 8, 64 and 512 times its first one.

    A lossy formula's output moves in rounding stairs (``1 + tanh(x)`` far below 0), or scatters by far more
    than a few ulps; steps that stay inside one stair see it exactly linear, at the stair's slope, and call a
    right gradient wrong. Larger steps cross many stairs and see the function. Their central differences,
    Richardson-extrapolated (``R(H) = (4 D(H/2) - D(H)) / 3``, free of the H^2 term), judge it where either

    - they agree at two steps in a row far better (8x) than they agree with the first steps' estimate: the
      element **passes** if the analytic value agrees with ``R`` within ``atol + rtol |R| + 8 |R(H) - R(8H)|``,
      that tolerance is at most :data:`COARSE_LIMIT` of ``|R|``, and no kink lies within the steps (the
      one-sided gap grows 8x from one step to the next, as curvature's does; a kink's stays put); it is
      **not checked** otherwise (which fails the check, saying why): forward is not precise enough there;
    - or they settle as noise does (each spread 4x below the one before, as a share of ``D(H)`` falling as
      ``1/H``) on a value neither the first steps' estimate nor 0, far beyond what the remaining spreads could
      add, and forward jumps within the coarsest step (see :func:`_jump`): the element is **not checked**.
      One jump nearby (a threshold) makes the estimates fall back to the first steps' as ``1/H``; a function
      that saturates at the coarser steps makes them fall to 0; a kink keeps its gap: all stay **wrong**.

    Elsewhere the element stays wrong: a wrong gradient on a smooth function gives the same estimate at
    every step. An element that agreed only within a noise allowance wider than 1 % of the tensor's largest
    gradient (see :func:`_too_noisy`) is judged by the coarser steps where they agree to 0.1 % with no kink
    between them.

    Only while 512x the step is at most 1 % of ``max(|value|, 1)``, and for elements the ladder followed below
    its first rounds only where forward jumps within the first step: what the ladder followed is then a
    rounding stair, not a function that varies on a scale the coarser steps would jump over (``x / |x|`` on
    values of 1e-6 looks flat to them, and a backward returning 0 would agree).

    With ``features`` (rows independent) each element is read on its own row: the rounding of the other
    rows' values would otherwise hide a small element's stairs.
    """
    settled = out.checked & ~out.kink & out.smooth
    failing = np.flatnonzero(out.failed & settled)
    loose = np.flatnonzero(_loose(analytic, out) & settled & (out.level <= 1))
    if not (len(failing) or len(loose)) or not tensor.flags.c_contiguous:
        return
    with np.errstate(over="ignore"):         # a huge error against a zero tolerance is simply the worst
        order = failing[np.argsort(-(out.error[failing] / np.maximum(out.tolerance[failing], 1e-300)))]
    flat = tensor.reshape(-1)

    def row(i: int) -> int | None:
        return None if features is None else i // features

    if s.step * SHRINK ** COARSER[-1] > COARSEST:
        _stairs_within_the_step(flat, order.tolist(), readout, s, out, row)
        return
    seen = 0
    for count, i in enumerate(order.tolist()):
        if count == _SAMPLE and not seen:
            break                   # a wrong gradient, not a lossy forward: the rest would cost 12 forwards each
        seen += _look_coarser(flat, i, analytic[i], readout, s, out, row=row(i))
    for i in loose.tolist():
        _look_coarser(flat, i, analytic[i], readout, s, out, loose=True, row=row(i))


def _stairs_within_the_step(flat: np.ndarray, order: list[int], readout: Readout, s: Settings, out: _Elements,
                            row: Callable[[int], int | None]) -> None:
    """Below float64 no coarser step stays close to the point (512 times float32's first step is 2.5 times the
    value): a failing element whose forward jumps within its first step, as a lossy formula's rounding stairs
    do (``0.5 + 0.5 tanh(x / 2)`` far below 0 in float32), is not checked, with that reason. Forward flat
    there (a missing mask) or smooth (a wrong formula) leaves it wrong."""
    seen = 0
    for count, i in enumerate(order):
        if count == _SAMPLE and not seen:
            break                   # a wrong gradient, not a lossy forward: the rest would cost 60 forwards each
        if _jump(flat, i, out.numeric[i], readout, s.step * max(abs(float(flat[i])), 1.0), s, row(i)):
            _not_checked(out, i, _STAIRS_AT_THE_STEP)
            seen += 1


def _coarser_estimates(flat: np.ndarray, i: int, readout: Readout, h: float,
                       row: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Element ``i``'s Richardson estimates and one-sided gaps at the steps ``h 8^k`` of :data:`COARSER`, or
    None where a step leaves forward's domain or an estimate is not finite."""
    orig = flat[i]
    estimates, gaps = [], []
    try:
        base = _read(readout, row)
        for k in COARSER:
            step = h * SHRINK ** k
            f, t = [], []                   # at +H, -H, +H/2, -H/2: the value and the step actually taken
            for move in (step, -step, step / 2, -step / 2):
                flat[i] = orig + move
                t.append(float(flat[i]) - float(orig))
                f.append(_read(readout, row))
            flat[i] = orig
            (fp, fm, fp2, fm2), (tp, tm, tp2, tm2) = f, t
            d, d2 = (fp - fm) / (tp - tm), (fp2 - fm2) / (tp2 - tm2)
            estimates.append((4 * d2 - d) / 3)
            gaps.append(abs((fp - base) / tp - (base - fm) / -tm))
    except DOMAIN_ERRORS:
        return None                 # the larger steps leave forward's domain: the verdict stands
    finally:
        flat[i] = orig
    r = np.array(estimates, dtype=float)
    return (r, np.array(gaps, dtype=float)) if np.isfinite(r).all() else None


def _look_coarser(flat: np.ndarray, i: int, a: float, readout: Readout, s: Settings, out: _Elements,
                  loose: bool = False, row: int | None = None) -> bool:
    """Re-judge failing element ``i`` at coarser steps (see :func:`_coarser_steps`); True if they disagree with
    the first steps' estimate (the element passed, or is not checked). ``loose``: an element that agreed only
    within a noise allowance too wide to certify anything, judged again by coarser steps that agree to 0.1 %
    (or left to :func:`_too_noisy`). ``row``: the readout row the element is read on (None: the total)."""
    h = s.step * max(abs(float(flat[i])), 1.0)
    measured = _coarser_estimates(flat, i, readout, h, row)
    if measured is None:
        return False
    r, gaps = measured
    first, deep = out.numeric[i], out.level[i] > 1
    spreads = np.abs(np.diff(r))
    for k in range(len(r) - 1):
        spread = spreads[k:].max()      # two noisy estimates can agree by chance; the steps above show it
        tolerance = s.atol + s.rtol * abs(r[k]) + SAFETY * spread
        # a kink within the coarser steps keeps its one-sided gap from one step to the next (curvature's grows
        # 8x, noise's shrinks 8x): there the first steps' verdict stands (an unmasked ReLU 0.6 steps from its
        # kink is wrong, not imprecise)
        if 0.25 * gaps[k] <= gaps[k + 1] <= 4 * gaps[k] and gaps[k + 1] > tolerance:
            return False
        # certified only where the gap grows as curvature's does, or is within the tolerance
        curved = gaps[k + 1] >= 4 * gaps[k] or gaps[k + 1] <= tolerance
        if loose:
            if SAFETY * spread > COARSE_LIMIT * abs(r[k]) or not curved:
                continue
            _judged_coarser(out, i, a, r[k], tolerance)
            return True
        # the larger steps agree with each other far better than with the first steps' estimate
        if not (SAFETY * spread < abs(r[k] - first) and abs(r[k] - first) > out.tolerance[i] + tolerance):
            continue
        if deep and not _jump(flat, i, first, readout, h, s, row):
            return False            # the ladder followed a function below the first step, not a stair
        if curved and tolerance <= COARSE_LIMIT * abs(r[k]):
            _judged_coarser(out, i, a, r[k], tolerance)     # precise enough: right or wrong by this estimate
        else:
            _not_checked(out, i, _STAIRS)
        return True
    if loose or not _settles_elsewhere(r, first, out.tolerance[i] + s.atol + s.rtol * abs(r[-1])) or \
            not _jump(flat, i, first, readout, h if deep else h * SHRINK ** COARSER[-1], s, row):
        return False
    _not_checked(out, i, _STAIRS)
    return True


def _settles_elsewhere(r: np.ndarray, first: float, tolerance: float) -> bool:
    """The coarser estimates ``r`` settle as forward's noise does (the last spread at least 4x below the one
    before: noise's share of ``D(H)`` falls as ``1/H``) on a value that is neither 0 nor the first steps'
    estimate (``first``, with its ``tolerance``), by more than 8x the tail the spreads still to come could add
    (a geometric series)."""
    before, last = abs(r[-3] - r[-2]), abs(r[-2] - r[-1])
    if not 4 * last <= before:
        return False
    tail = SAFETY * (last / (before / last - 1) if last else 0.0)
    return abs(r[-1] - first) > tolerance + tail and abs(r[-1]) > tail


def _jump(flat: np.ndarray, i: int, slope: float, readout: Readout, span: float, s: Settings,
          row: int | None = None) -> bool:
    """Whether forward jumps (is discontinuous, as a rounding stair is) within ``span`` of element ``i``.

    The residual ``r(t) = f(x + t) - f(x) - slope t`` is taken at ``+-span``; where the larger one is above
    forward's rounding, the point where ``r`` crosses half of it is bisected down to adjacent floats. A
    continuous function's change across the interval shrinks with it (a kink's and a steep function's
    included), and the search ends once it falls below :data:`_JUMP` of that residual; a jump keeps its size.
    Against a slope other than the stairs' own (the function's), rounding stairs are a sawtooth whose crossing
    can fall on a ramp: the search then says continuous, which keeps the verdict it guards (the safe side)."""
    orig = flat[i]
    x0 = float(orig)
    try:
        values, magnitudes = readout(True)
        noise = np.zeros_like(values) if s.noise is None else np.broadcast_to(s.noise, np.shape(values))
        pick = (lambda v: float(np.sum(v))) if row is None else (lambda v: float(v[row]))
        base, floor = pick(values), SAFETY * (s.machine_eps * pick(magnitudes) + pick(noise))

        def residual(at: float) -> float:
            return _read(readout, row) - base - slope * (at - x0)

        # below float64 the outputs the ends leave unchanged cancel exactly: only the rest round (as the ladder
        # allows, see numeric._Ladder._dependence)
        first = readout(False, terms=True)[1] if working_dtype(s.machine_eps) is not None else None
        ends, moved = [], None if first is None else np.zeros(first.shape, dtype=bool)
        for t in (span, -span):
            flat[i] = orig + t
            if moved is None:
                ends.append((float(flat[i]), residual(float(flat[i]))))
                continue
            terms = readout(False, terms=True)[1]
            moved |= terms != first
            ends.append((float(flat[i]), pick(terms.sum(axis=1)) - base - slope * (float(flat[i]) - x0)))
        if moved is not None:
            floor = SAFETY * (s.machine_eps * pick(np.where(moved, np.abs(first), 0.0).sum(axis=1)) + pick(noise))
        hi, r_hi = max(ends, key=lambda e: abs(e[1]))
        sign, half = np.sign(r_hi), abs(r_hi) / 2
        if half <= floor:
            return False
        lo, r_lo, threshold = x0, 0.0, max(_JUMP * half, floor)
        for _ in range(_HALVINGS):
            flat[i] = lo + (hi - lo) / 2
            mid = float(flat[i])
            if mid in (lo, hi):
                break
            r_mid = residual(mid)
            if sign * r_mid >= half:
                hi, r_hi = mid, r_mid
            else:
                lo, r_lo = mid, r_mid
            if sign * (r_hi - r_lo) < threshold:
                return False        # continuous: the change shrinks with the interval
        # adjacent floats (or the backstop) with the last change still above the threshold, or ends already
        # adjacent (the change is then the whole 2 * half): a jump
        return True
    except DOMAIN_ERRORS:
        return False
    finally:
        flat[i] = orig


KINKS_MEET = ("at a kink no step can step around, outside its one-sided slopes (where several kinks meet, as for a "
              "ReLU after a layer whose output is 0 there, the chain rule's value may lie outside them): move the "
              "input off the kink to check it")


def _kinks_meet(out: _Elements) -> int:
    """Elements still failing at a kink no step steps around, outside its one-sided slopes: one kink's gradient
    lies between them, but where several meet (a ReLU after a layer whose output is 0 there) the chain rule's
    value need not. They are not checked, never wrong; how many."""
    where = out.failed & out.outside & out.checked
    if where.any():
        _not_checked(out, where, KINKS_MEET)
    return int(where.sum())


def _not_checked(out: _Elements, where: int | np.ndarray, reason: str) -> None:
    """Elements ``where`` (an index or a mask) are not checked, which fails the check with ``reason``."""
    out.checked[where] = out.failed[where] = False
    count = 1 if np.ndim(where) == 0 else int(np.count_nonzero(where))
    out.skipped[reason] = out.skipped.get(reason, 0) + count


def _judged_coarser(out: _Elements, i: int, a: float, numeric: float, tolerance: float) -> None:
    """Element ``i`` judged by the coarser steps' estimate: forward's noise is in its tolerance, as measured
    there (so :func:`_too_noisy` no longer applies)."""
    out.numeric[i], out.error[i], out.tolerance[i] = numeric, abs(a - numeric), tolerance
    out.failed[i], out.noisy[i], out.excess[i] = abs(a - numeric) > tolerance, True, 0.0
    out.outside[i] = False          # a verdict on estimates that settled: no longer one at a kink


NOISE_LIMIT = 0.01      # the largest tolerance forward's measured noise may give, of the tensor's largest gradient
NOISE_EXCESS = 1e7      # ... where that noise is this many times the rounding assumed for forward, or more


def _too_noisy(analytic: np.ndarray, out: _Elements) -> int:
    """Elements where forward is not precise enough to check the gradient are not checked: its measured noise
    is :data:`NOISE_EXCESS` times the rounding assumed for it or more (a formula that cancels lost seven
    digits there), and widens the tolerance beyond :data:`NOISE_LIMIT` of the tensor's largest gradient, so
    that a gradient wrong by a large part of itself would pass. They count as skipped (which fails the check);
    how many. (A gradient that merely vanishes where forward is fine, a cancellation at an offset of 1e3, keeps
    its verdict: its noise is a few hundred roundings.)"""
    loose = _loose(analytic, out)
    count = int(loose.sum())
    if count:
        reason = (f"forward is not precise enough at this point to check its gradient: its noise there (measured "
                  f"by the ladder of steps, over {NOISE_EXCESS:.0e} times the rounding assumed) would allow more "
                  f"than {NOISE_LIMIT:.0%} of the tensor's largest gradient (a formula that cancels, like "
                  "1 + tanh(x) far below 0)")
        _not_checked(out, loose, reason)
    return count


def _loose(analytic: np.ndarray, out: _Elements) -> np.ndarray:
    """Elements that agreed only within a noise allowance too wide to certify anything (see :func:`_too_noisy`)."""
    with np.errstate(invalid="ignore"):
        scale = np.nanmax(np.where(out.checked, np.fmax(np.abs(analytic), np.abs(out.numeric)), np.nan), initial=0.0)
        return out.checked & out.noisy & ~out.failed & (out.excess >= NOISE_EXCESS) & \
            ~(out.tolerance <= NOISE_LIMIT * scale)


def _summarise(name: str, tensor: np.ndarray, a: np.ndarray, out: _Elements, method: str, checked: int,
               note: str | None, batch: int | None, factors: dict[str, float] | None = None) -> TensorCheck:
    with np.errstate(all="ignore"):
        # relative to the gradient's size, floored at the tolerance so a gradient below the noise is not 100 %
        size = np.maximum(np.maximum(np.abs(a), np.abs(out.numeric)), np.maximum(out.tolerance, 1e-300))
        smooth = out.checked & ~out.kink
        rel = np.where(smooth, out.error / size, 0.0)
        # a NaN error (a NaN analytic value) is the worst there is
        badness = np.where(out.checked, np.nan_to_num(out.error / np.maximum(out.tolerance, 1e-300), nan=np.inf), -1.0)
    pool = np.flatnonzero(out.failed & out.checked) if out.failed.any() else np.flatnonzero(out.checked)
    order = pool[np.argsort(-badness[pool], kind="stable")][:_WORST]
    worst = [(float(badness[i]), ElementError(tuple(int(v) for v in np.unravel_index(i, tensor.shape)),
                                              float(a[i]), float(out.numeric[i]), float(out.error[i]),
                                              float(out.tolerance[i]))) for i in order]
    seen: set[tuple] = set()
    worst = [w for _, w in sorted(out.worst + worst, key=lambda t: -t[0])
             if not (w.index in seen or seen.add(w.index))][:_WORST]       # each index once, at its worst
    shape = tensor.shape
    hint = out.tie_hint or diagnose(name, a.reshape(shape), out.numeric.reshape(shape),
                                    (out.failed & out.checked).reshape(shape), out.tolerance.reshape(shape), batch,
                                    factors)
    check = TensorCheck(name=name, shape=tuple(shape), method=method, checked=checked, failed=int(out.failed.sum()),
                        max_abs_error=float(np.where(smooth, out.error, 0.0).max(initial=0.0)),
                        max_rel_error=float(rel.max(initial=0.0)), worst=worst, kinks=int(out.kink.sum()),
                        one_sided=int(out.one_sided.sum()), refined=int((out.checked & (out.level > 0)).sum()),
                        noisy=int(out.noisy.sum()), scale=float(np.nanmax(np.abs(out.numeric), initial=0.0)),
                        max_tolerance=float(np.where(smooth, out.tolerance, 0.0).max(initial=0.0)),
                        skipped=out.skipped, hint=hint, note=note,
                        pattern=pattern(a.reshape(shape), out.numeric.reshape(shape),
                                        (out.failed & out.checked).reshape(shape), out.tolerance.reshape(shape)))
    # every element, for the pictures (not part of to_dict or the text): NaN where an element was not reached
    # out's arrays and the analytic copy are this check's own; the tensor is the caller's live array
    check.elements = ElementArrays(a.reshape(shape), out.numeric.reshape(shape), out.tolerance.reshape(shape),
                                   (out.failed & out.checked).reshape(shape), out.checked.reshape(shape),
                                   out.level.reshape(shape), np.array(tensor, dtype=np.float64, copy=True),
                                   (out.kink & out.checked).reshape(shape))
    return check


def expected_forwards(tensor: np.ndarray, analytic: np.ndarray, readout: Readout, probes: Sequence[Probe] | None,
                      features: int | None, s: Settings, rng: np.random.Generator, batch: int | None, terms: int,
                      samples: Callable[[int], int], modes: Sequence[str] = ("full", "fast")) -> dict[str, float]:
    """Forwards the full and the fast check of this tensor will take, from a pilot on some of its groups and
    directions (``samples(n)`` of ``n``): the ladder's depth and the share of directions fast mode's screen
    sends to one-by-one checks depend on the function, which no count made before any forward can know.

    Full: the groups' forwards per group (down the ladder, the tie check included). Fast: its directions'
    forwards per direction, plus, for the share the screen doubts, the groups holding their elements at what
    those groups took in the pilot. Both are extrapolated from the sample, which costs forwards of its own;
    only the ``modes`` asked for are measured."""
    groups = tensor.size if probes is None else len(probes)
    full = replace(s, mode="full")

    def per_group(group_probes: Sequence[Probe]) -> float:
        if not group_probes:
            return 0.0
        pick = np.sort(rng.choice(len(group_probes), samples(len(group_probes)), replace=False))
        check = check_tensor("pilot", tensor, analytic.reshape(tensor.shape), readout,
                             [group_probes[j] for j in pick], "", features, full, rng, batch, terms, coarser=False)
        return check.evaluations / len(pick)

    count = direction_count(tensor.size)
    cost = {}
    if "full" in modes or groups <= count:
        cost["full"] = groups * per_group(element_probes(tensor.size) if probes is None else probes)
    if "fast" not in modes:
        return cost
    if groups <= count:
        cost["fast"] = cost["full"]
        return cost
    directions = direction_probes(tensor.size, count, rng)
    sample = [directions[j] for j in rng.choice(count, samples(count), replace=False)]
    counted = CountedReadout(readout)
    doubtful = _screen(tensor, analytic.ravel(), counted, s, sample, terms)[3]
    share = float(doubtful.mean())
    # a group is re-checked when any of its elements lies in a doubted direction
    size = tensor.size // groups
    rechecked = groups * (1.0 - (1.0 - share) ** size)
    doubted = _by_column(np.sort(_probe_flat([p for p, d in zip(sample, doubtful) if d])), features)
    cost["fast"] = count * counted.calls / len(sample) + rechecked * per_group(doubted)
    return cost


def mark_stale(report: GradcheckReport, recheck: Callable[[], list[TensorCheck | None]]) -> None:
    """If the worst failing elements are right for the input of the earlier forward call (``recheck`` checks
    them there), say it is a stale cache."""
    failed = {t.name for t in report.tensors if t.failed}
    again = [c for c in recheck() if c is not None and c.name in failed]
    if failed and len(again) == len(failed) and all(c.ok and c.checked for c in again):
        for t in report.tensors:
            if t.failed:
                t.hint = "backward returned the gradient for the input of an earlier forward call, not the " \
                         "latest one (stale cache): store the input (or what backward needs) on every forward"
