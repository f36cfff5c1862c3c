"""The checks: ``check_layer``, ``check_loss``, ``check_network`` and ``assert_gradients``.

Each builds a :class:`~gradcheck.targets.Target` and runs one pipeline over it:
hold the state -> determinism and finiteness at the base point -> a first backward (parameters are found
after it) -> the analytic pass with its hygiene checks -> numeric differences per tensor -> report.
"""
from __future__ import annotations

import functools
import inspect
import os
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial

import numpy as np
from threadpoolctl import threadpool_limits

from gradcheck.analytic import analytic_pass
from gradcheck.diagnosis import one_row
from gradcheck.numeric import (
    DOMAIN_ERRORS,
    CountedReadout,
    direction_count,
    direction_probes,
    finite_differences,
    judge,
)
from gradcheck.parallel import Workers, default_jobs, input_of, parameter_of
from gradcheck.parameters import _Selection, assign, dotted_path, find_parameters, per_call_arrays, resolve
from gradcheck.prepare import (
    Settings,
    as_float64,
    input_array,
    is_shape,
    one_hot_like,
    probabilities,
    settings_for,
    validate_settings,
)
from gradcheck.progress import Progress
from gradcheck.recorded import record_the_optimizer
from gradcheck.report import GradcheckReport, GradientCheckError, TensorCheck, invariants
from gradcheck.state import HeldState, held
from gradcheck.supervisor import CheckTimedOut, run_limited
from gradcheck.targets import (
    TRAINING_FLAGS,
    FunctionTarget,
    LayerTarget,
    LossTarget,
    NetworkTarget,
    ShapeProblem,
    Target,
    describe,
    next_batch_without_advancing,
    other_point_of,
)
from gradcheck.tensor_check import check_tensor, expected_forwards, mark_stale, probes_for

__all__ = ["check_layer", "check_loss", "check_network", "check_function", "assert_gradients", "set_default_mode",
           "default_mode"]


# ------------------------------------------------------------------------------------------- the pipeline

def _first_difference(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    with np.errstate(invalid="ignore"):
        diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), a.shape) if a.ndim else ()
    return f"max difference {float(diff[idx]):.3g} at index {tuple(int(i) for i in idx)}"


def _usable_other_point(target: Target, report: GradcheckReport) -> None:
    """The other point must lie in forward's domain too; if it does not, the checked point stands in."""
    try:
        with target.at(target.other_point()):
            target.output()
    except DOMAIN_ERRORS as exc:
        target.use_checked_point_as_other()
        report.warnings.append(f"forward raised {type(exc).__name__} at a second, randomly moved input ({exc}); "
                               "the earlier call is made at the checked input itself, so a stale cache that "
                               "keeps an earlier call's input cannot show")


_ROUNDING_LEVEL = 2.0 ** 20 * np.finfo(np.float64).eps   # ~2.3e-10 of the output's scale: rounding, not randomness


def _determinism(target: Target, state: HeldState) -> tuple[str | None, float]:
    """(None, 0) if forward gives the same output twice; (None, spread) if the two outputs differ by rounding
    only (at most ``_ROUNDING_LEVEL`` of the output's scale: a parallel or blocked reduction), which is then
    measured and put in the tolerance; otherwise a problem saying whether it is random (differs again once the
    held objects are put back) or memorising (does not). Run at the other point: the first forward a layer
    sees is not the checked point, so a cache stuck on the first call shows up."""
    checkpoint = state.checkpoint()
    with target.at(target.other_point()):
        first = target.output()
        second = target.output()
    if first.shape == second.shape and np.array_equal(first, second, equal_nan=True):
        return None, 0.0
    if first.shape == second.shape and np.isfinite(first).all() and np.isfinite(second).all():
        spread = float(np.max(np.abs(first - second)))
        if spread <= _ROUNDING_LEVEL * float(np.max(np.abs(first))):
            return None, spread
    what = _first_difference(first, second)
    checkpoint.restore()
    with target.at(target.other_point()):
        third = target.output()
    if first.shape == third.shape and np.array_equal(first, third, equal_nan=True):
        owner = target.owners[0][1] if target.owners else None
        flag = f" (it has memorize={owner.memorize!r})" if hasattr(owner, "memorize") else ""
        return (f"forward depends on earlier calls{flag}: the same input gave different outputs on two calls in a "
                f"row ({what}), and the first output again once the layer's attributes were put back, so it "
                "carries state from call to call. Its gradients are not checked: switch the memory off "
                "(e.g. memorize=False) and check again"), 0.0
    return (f"forward is not deterministic: the same input gave different outputs on two calls in a row ({what}), "
            "even with the layer's attributes put back, so it draws random numbers (dropout?). Finite differences "
            "need a fixed function: pass reseed=N (np.random.seed(N) before every forward) or before_forward=..., "
            "or check it in its testing phase"), 0.0


def _run_to_run_noise(target: Target, spread: float, report: GradcheckReport) -> np.ndarray:
    """Forward's run-to-run noise of each readout row at the checked point: the range of four readouts, and
    at least the output spread seen before times the row's sum of |E|."""
    readout = target.readout()
    values = np.array([readout(False)[0] for _ in range(4)])
    error = getattr(target, "error", None)
    floor = spread * (np.abs(error).reshape(len(values[0]), -1).sum(axis=1) if error is not None else 1.0)
    noise = np.maximum(values.max(axis=0) - values.min(axis=0), floor)
    report.warnings.append(f"forward's output varies between calls by up to {spread:.3g} (rounding-level: a parallel "
                           "or blocked reduction?); that noise, measured at the checked point (up to "
                           f"{noise.max():.3g} per readout row), is part of every tolerance")
    return noise


def _non_finite_problem(output: np.ndarray) -> str | None:
    if np.isfinite(output).all():
        return None
    bad = np.argwhere(~np.isfinite(output))
    first = tuple(int(i) for i in bad[0])
    return (f"forward returned {len(bad)} NaN/inf value(s) of {output.size} at the unperturbed input, first at "
            f"index {first}: {output[first]}; nothing can be checked there")


WIDE_TOLERANCE = 0.01       # a pass within a tolerance over this share of the tensor's largest gradient is warned


def _wide_passes(t: TensorCheck) -> int:
    """How many elements passed away from a kink within a tolerance over :data:`WIDE_TOLERANCE` of the
    tensor's largest gradient."""
    e = t.elements
    if e is None or not t.scale:
        return 0
    return int((e.smooth & ~e.failed & (e.tolerance > WIDE_TOLERANCE * t.scale)).sum())


def _finish(report: GradcheckReport, state: HeldState, checks: list[TensorCheck | None]) -> None:
    report.tensors.extend(c for c in checks if c is not None)
    verdicts = {t.name: t.ok for t in report.tensors}
    report.problems[:] = [p.verdict(verdicts[p.tensor]) if isinstance(p, ShapeProblem) and p.tensor in verdicts
                          else str(p) for p in report.problems]
    report.warnings.extend(state.warnings)
    if state.promoted:
        report.warnings.append(f"{', '.join(state.promoted)} checked as float64 copies (restored afterwards)")
    for t in report.tensors:
        if report.atol > 0 and t.scale > 0 and report.atol >= 0.5 * t.scale:
            report.problems.append(f"atol {report.atol:g} is at least half the largest numeric gradient of {t.name} "
                                   f"({t.scale:.3g}): it would pass a zero gradient there, so that tensor certifies "
                                   "nothing; use an atol well below the size of the gradients")
        if t.noisy:
            report.warnings.append(f"{t.name}: {t.noisy} element(s) were judged with forward's own noise in the "
                                   "tolerance (measured by the ladder of steps, above the few ulps of the output "
                                   "that are assumed elsewhere): a lossy formula or a cancellation there")
        if t.one_sided:
            report.warnings.append(f"{t.name}: {t.one_sided} element(s) at the edge of forward's domain (one side "
                                   "raised or gave NaN/inf) were checked with one-sided differences")
        if t.kinks:
            report.warnings.append(f"{t.name}: {t.kinks} element(s) lie within the step of a kink; there only "
                                   "'analytic lies between the one-sided slopes' is certified")
        wide = _wide_passes(t)
        if wide:
            report.warnings.append(f"{t.name}: {wide} element(s) passed within a tolerance over "
                                   f"{WIDE_TOLERANCE:.0%} of the tensor's largest gradient ({t.scale:.3g}): a "
                                   "gradient wrong by less than that passes there. Forward rounds by more than the "
                                   "step resolves (an output with a large offset, as 1e6 + 0.01 sin(x)): check it "
                                   "where the outputs are smaller")


_PILOT_SHARE, _PILOT_SECONDS, _PILOT_MOST = 0.05, 0.02, 32


def _expected(target: Target, s: Settings, grads: dict, tensors: list[tuple], terms: int,
              seconds_per_forward: float) -> dict[str, float]:
    """Forwards the check is expected to take in full and in fast mode (fast only in fast mode), and the
    seconds one takes with the check's bookkeeping ("seconds"), from a pilot
    on each tensor: it samples 5 % of the groups and directions or 0.02 s of forwards, whichever is more
    (1 to 32). Its own random numbers, so the verdict does not depend on whether a pilot ran."""
    rng, total = np.random.default_rng(0), {"full": 0.0, "fast": 0.0}

    def samples(n: int) -> int:
        return int(min(n, _PILOT_MOST, max(1, _PILOT_SHARE * n, _PILOT_SECONDS / max(seconds_per_forward, 1e-9) / 4)))

    modes = ("fast",) if s.mode == "fast" else ("full", "fast")
    start = time.perf_counter()
    with target.at({}):
        readout = CountedReadout(target.readout())
        for name, arr, (plist, _, features) in tensors:
            if grads.get(name) is None or not arr.size:
                continue
            for mode, forwards in expected_forwards(arr, grads[name], readout, plist, features, s, rng,
                                                    target.batch, terms, samples, modes).items():
                total[mode] += forwards
    # what a forward costs inside the check, its bookkeeping included
    total["seconds"] = (time.perf_counter() - start) / max(readout.calls, 1)
    return total


def _progress(report: GradcheckReport, tensors: list[tuple], seconds_per_forward: float, enabled: bool | None,
              measured: dict[str, float] | None) -> Progress:
    """The expected cost: the pilot's, or without one 2.5 forwards per group (2 when +-h settles a group, more
    when the ladder goes on) and about 3 per direction of fast mode."""
    if measured is None:
        groups = [(arr.size if plist is None else len(plist), arr.size) for _, arr, (plist, _, _) in tensors]
        measured = {"full": sum(2.5 * g for g, _ in groups),
                    "fast": sum(3 * direction_count(n) if g > direction_count(n) else 2.5 * g for g, n in groups)}
        pilot = False
    else:
        pilot = True
    return Progress(report.target, sum(arr.size for _, arr, _ in tensors), len(tensors), measured[report.mode],
                    measured["fast"], seconds_per_forward, report.mode, enabled, measured=pilot)


def _scalars(owners: Sequence[tuple[str, object]]) -> dict[str, float]:
    """Float scalars the checked objects hold (a dropout probability, a scale), by name: a constant factor
    between analytic and numeric that equals one of them, or its inverse, is named in the hint."""
    found = {}
    for label, obj in owners:
        for name, value in (vars(obj) if hasattr(obj, "__dict__") else {}).items():
            if isinstance(value, (float, np.floating)) and np.isfinite(value) and value not in (0.0, 1.0, -1.0) \
                    and 1e-3 <= abs(value) <= 1e3:
                found[f"{label}.{name}" if label else name.lstrip("_")] = float(value)
    return found


def _counting(bound: Callable, key: int, counts: dict[int, int]) -> Callable:
    def counting(*args, **kwargs):
        counts[key] = counts.get(key, 0) + 1
        return bound(*args, **kwargs)
    return counting


def _forward_calls(target: Target) -> dict[int, int]:
    """How many times each owner's forward ran in one forward of the target (by id), counted by wrapping
    each owner's ``forward`` for that one call."""
    counts: dict[int, int] = {}
    wrapped = []
    for _, obj in target.owners:
        d = getattr(obj, "__dict__", None)
        if d is None or not callable(getattr(obj, "forward", None)):
            continue
        original, had = d.get("forward"), "forward" in d
        d["forward"] = _counting(obj.forward, id(obj), counts)
        wrapped.append((d, had, original))
    try:
        target.output()
    except Exception:  # noqa: BLE001 - only a hint depends on it; the check itself reports forward's errors
        return {}
    finally:
        for d, had, original in wrapped:
            if had:
                d["forward"] = original
            else:
                d.pop("forward", None)
    return counts


def _reused_sublayer_hints(target: Target, report: GradcheckReport, params: list) -> None:
    """A failing parameter of a sub-layer that ran several times in one forward (a step of a recurrent
    layer): its gradient attribute holds what its last backward set, not the layer's summed gradient."""
    failing = {t.name for t in report.tensors if not t.ok}
    suspects = [p for p in params if p.label in failing and p.owner is not target.owners[0][1]]
    if not suspects:
        return
    calls, labels = _forward_calls(target), {id(obj): label for label, obj in target.owners}
    for t in report.tensors:
        p = next((p for p in suspects if p.label == t.name), None)
        if p is None or calls.get(id(p.owner), 0) < 2:
            continue
        owner, runs = labels[id(p.owner)], calls[id(p.owner)]
        if p.recorder is not None:
            note = (f"{owner} ran {runs} times in one forward: the gradient handed to the optimizer for {t.name} "
                    f"is what training uses, and must be the sum over the calls (a sub-layer's gradient "
                    f"attribute holds what its last backward set)")
        else:
            note = (f"{owner} ran {runs} times in one forward: its {p.grad_name} holds what its last backward "
                    f"set, not the sum over the calls, unless the layer writes the sum there; if the layer keeps "
                    f"the sum elsewhere, check that with parameters={{'{t.name}': '<path of the sum>'}}, or "
                    f"leave {owner} out with parameters=['!{owner}']")
        t.hint = note if not t.hint else f"{note}; {t.hint}"


def _one_row_hints(target: Target, report: GradcheckReport) -> None:
    """A failing parameter added to the output (its numeric gradient is the upstream error
    summed over the batch), whose analytic gradient is one batch row's share alone: the sum is missing."""
    error = getattr(target, "error", None)
    if error is None or np.ndim(error) < 2 or len(error) < 2:
        return
    for t in report.tensors:
        if t.ok or t.elements is None or t.name == "input":
            continue
        hint = one_row(t.elements.analytic, t.elements.numeric, t.elements.tolerance, error)
        if hint:
            t.hint = hint if not t.hint else f"{hint}; {t.hint}"


def _stale_parameters(target: Target, params: list, report: GradcheckReport, rng: np.random.Generator,
                      s: Settings) -> None:
    """Forward and backward follow a parameter that is rebound to a new array, as an optimizer step does
    (``weights = optimizer.calculate_update(weights, g)``): the same new values written into the old array
    and bound as a new array must give the same output and gradients. A copy or view of the earlier array
    kept by the layer (a cached ``W.T``) passes every in-place perturbation of the check, and trains wrong.

    There, at the parameters' new values, the gradients must also agree with forward along a few random
    directions per tensor (judged as an element is): a value derived from the parameters once (``self._wt =
    self.weights.T.copy()`` on the first forward) is stale in both bindings alike, and only the gradient at
    the new point shows it."""
    movable = [p for p in params if not (len(p.path) > 1 and isinstance(resolve(p.owner, p.path[:-1]), tuple))]
    if not movable:
        return
    new = {p.label: other_point_of(p.start, rng) for p in movable}

    def run() -> tuple[np.ndarray, list[np.ndarray | None]]:
        out = target.output()
        grads = target.backward_pass([])
        return out, [grads.get(name) for name in sorted(grads)] + [_copy_of(p.gradient()) for p in movable]

    originals = {p.label: p.live for p in movable}
    try:
        for p in movable:
            np.copyto(p.live, new[p.label], casting="unsafe")
        in_place = run()
        for p in movable:
            p.reset()
            assign(p.owner, p.path, new[p.label].astype(p.live.dtype, copy=True))
        rebound = run()
        passed = {t.name for t in report.tensors if t.ok}      # a gradient already wrong says nothing new here
        disagree = [n for n in _disagree_along_directions(target, movable, s, rng) if n in passed]
    except DOMAIN_ERRORS + (TypeError, AttributeError):
        return              # a layer that refuses a moved parameter or a new array: nothing to compare
    finally:
        for p in movable:
            if p.live is not originals[p.label]:
                assign(p.owner, p.path, originals[p.label])
            p.reset()
    same_out = in_place[0].shape == rebound[0].shape and \
        np.allclose(in_place[0], rebound[0], rtol=1e-9, atol=4 * target.output_spread, equal_nan=True)
    same_grads = all(a is None and b is None or (a is not None and b is not None and a.shape == b.shape and
                                                 np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True))
                     for a, b in zip(in_place[1], rebound[1]))
    if not (same_out and same_grads):
        which = "forward's output" if not same_out else "the gradients backward gave"
        report.problems.append(
            f"stale parameters: with {', '.join(new)} bound to new arrays (as an optimizer step does), {which} "
            "differed from the same values written into the old arrays: the layer computes with a copy or a "
            "view of the earlier array (a W.T or a reshaped kernel cached once) and will train wrong after the "
            "first update; derive it from the parameter on every forward")
    elif disagree:
        held_old = _holding_earlier_values(target.owners, movable)
        first_names: dict[int, str] = {}        # one name per array (a weight checked twice: its attribute's)
        for p in movable:
            first_names.setdefault(id(p.live), p.label)
        report.problems.append(
            f"stale values: with {', '.join(first_names.values())} moved to new values (as an optimizer step moves "
            f"them), the gradient of {', '.join(disagree)} disagrees with forward there{held_old}: the layer "
            "computes it with a value derived from the parameters once (a W.T copied on the first forward) and "
            "will train wrong after the first update; derive it from the parameters on every forward")


def _disagree_along_directions(target: Target, movable: list, s: Settings, rng: np.random.Generator) -> list[str]:
    """The tensors whose gradient at the current point disagrees with forward along up to three sparse random
    directions (down the ladder, each failure confirmed, the element rule's tolerance)."""
    grads = target.backward_pass([])
    grads.update({p.label: _copy_of(p.gradient()) for p in movable})
    tensors = list(target.inputs.items()) + [(p.label, p.live) for p in movable]
    readout = target.readout()
    wrong = []
    for name, arr in tensors:
        a = grads.get(name)
        if a is None or a.shape != arr.shape or not arr.size or not arr.flags.c_contiguous:
            continue
        probes = direction_probes(arr.size, min(3, arr.size), rng)
        e = finite_differences(arr, probes, readout, a.ravel(), s.step, s.machine_eps, rtol=s.rtol, atol=s.atol,
                               noise=None if s.noise is None else s.noise.sum())
        if judge(e, s.rtol, s.atol).failed.any():
            wrong.append(name)
    return wrong


def _holding_earlier_values(owners: Sequence[tuple[str, object]], movable: list) -> str:
    """`` (x.y holds the earlier values of weights)`` for attributes that hold a parameter's start values in
    another shape or order (a transposed copy), or ''."""
    found = []
    for label, owner in owners:
        for name, value in (vars(owner) if hasattr(owner, "__dict__") else {}).items():
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
                continue
            for p in movable:
                if value is not p.live and value.size == p.start.size and \
                        np.array_equal(np.sort(value, axis=None), np.sort(p.start, axis=None)):
                    found.append(f"{dotted_path(label, (name,))} holds the earlier values of {p.label}")
    return f" ({'; '.join(found)})" if found else ""


def _copy_of(value: object) -> np.ndarray | None:
    return np.array(value, dtype=np.float64, copy=True) if value is not None else None


def _step_differences(target: Target, params: list, name: str, index: tuple[int, ...],
                      steps: np.ndarray) -> np.ndarray:
    """The central difference of the checked scalar along one element at each step, evaluated again with
    the target held (every attribute put back afterwards)."""
    with threadpool_limits(1), held(target.held):
        if isinstance(target, NetworkTarget):
            target.install()
        p = next((p for p in params if p.label == name), None)
        arr = target.inputs[name] if p is None else p.live
        if p is not None:
            p.reset()
        flat, base = np.ravel_multi_index(index, arr.shape), arr.flat[np.ravel_multi_index(index, arr.shape)]
        readout = target.readout()

        def total() -> float:
            return float(np.sum(readout(False, True)[0]))
        out = []
        try:
            for h in steps:
                arr.flat[flat] = base + h
                plus = total()
                arr.flat[flat] = base - h
                out.append((plus - total()) / (2 * h))
        finally:
            arr.flat[flat] = base
        return np.array(out)


def _output_off_float32(target: Target) -> np.ndarray | None:
    """Forward's output with every input moved by 2^-40 of its size (float64 numbers that are not float32
    ones), or None where there is no input or forward refuses the point."""
    if not target.inputs:
        return None
    point = {name: arr + 2.0 ** -40 * np.maximum(np.abs(arr), 1.0) for name, arr in target.inputs.items()}
    try:
        with target.at(point):
            return target.output()
    except DOMAIN_ERRORS:
        return None


def _base_point(target: Target, state: HeldState, report: GradcheckReport, step: float | None,
                rtol: float | None, atol: float) -> tuple[Settings, np.ndarray, float] | None:
    """Determinism, precision and finiteness at the base point: the settings, the output and the time one
    forward takes; None when a problem already decides the report."""
    checkpoint = state.checkpoint()
    _usable_other_point(target, report)
    numbers = target.integers_taken_as_numbers()
    checkpoint.restore()
    for name in numbers:
        x = target.fixed[name]
        report.problems.append(f"{name} holds integers ({x.dtype}), and forward computes with them as numbers (the "
                               "same values as floats give the same output): taken as indices, its gradient was "
                               f"NOT checked; pass floats ({name}.astype(float)) to check it")
    problem, spread = _determinism(target, state)
    timer = time.perf_counter()
    out = target.output()
    seconds_per_forward = time.perf_counter() - timer
    s, precision_warnings = settings_for(report.mode, step, rtol, atol, out, partial(_output_off_float32, target))
    if spread > 0 and not problem:
        s = replace(s, noise=_run_to_run_noise(target, spread, report))
        target.output_spread = spread
    report.step, report.rtol, report.atol = s.step, s.rtol, s.atol
    report.precision = s.precision
    report.warnings.extend(precision_warnings)
    problem = problem or _non_finite_problem(out)
    if problem:
        report.problems.append(problem)
        return None
    return s, out, seconds_per_forward


def _run(target: Target, report: GradcheckReport, rng: np.random.Generator, *, step: float | None,
         rtol: float | None, atol: float, parameters: Sequence[str] | Mapping[str, str] | None,
         progress: bool | None = None, jobs: int | None = None, scheduler: object | None = None) -> GradcheckReport:
    """The pipeline: hold the state -> the base point -> a first backward, then the parameters -> the
    analytic pass -> numeric differences per tensor (in workers when long) -> the stale-cache re-check.

    BLAS runs one thread here: a check makes thousands of small products, which extra BLAS threads barely
    speed up and which stall when another process holds a core (measured: 14 ms against 40-180 ms for a fast
    check of FullyConnected(128, 64) with the other core busy); long checks use worker processes instead."""
    with threadpool_limits(1), held(target.held) as state:
        if isinstance(target, NetworkTarget):
            target.install()
        base = _base_point(target, state, report, step, rtol, atol)
        if base is None:
            _finish(report, state, [])
            return report
        s, out, seconds_per_forward = base
        target.warm_up()
        params = find_parameters(state, target.owners, parameters, report.problems,
                                 per_call_arrays(state, target.owners, target.output))
        if not params and not target.inputs:
            report.problems.append("no parameters were found (no float array attribute X with a gradient_X after "
                                   "backward): there is nothing to check")
        if not isinstance(parameters, Mapping):       # explicit pairs name the gradients themselves
            record_the_optimizer(target, state, params, report.warnings, _Selection(parameters).wants)
        grads = analytic_pass(target, params, report.problems)
        probes = {name: target.input_probes(name, rng) for name in target.inputs}
        tensors = [(name, arr, probes[name]) for name, arr in target.inputs.items()] + \
            [(p.label, p.live, (None, "elements", None)) for p in params]
        shown = progress if progress is not None else getattr(sys.stderr, "isatty", lambda: False)()
        measured = _expected(target, s, grads, tensors, out.size, seconds_per_forward) if shown else None
        meter = _progress(report, tensors, seconds_per_forward, progress, measured)
        workers = Workers(default_jobs() if jobs is None else jobs, target, seconds_per_forward, scheduler)
        owner_index = {id(obj): i for i, (_, obj) in enumerate(target.owners)}
        factors = _scalars(target.owners)

        def spread(locate, main_pass: bool) -> tuple | None:
            """Long full passes may go to the workers; the stale-cache re-check stays in this process."""
            return (workers, locate, meter.tick) if s.mode == "full" and main_pass else None

        def compare_at(point: dict[str, np.ndarray],
                       only: dict[str, np.ndarray] | None = None) -> list[TensorCheck | None]:
            """Every tensor compared at ``point`` (our inputs moved there), or only the elements (flat indices)
            that ``only`` names for each tensor it names."""
            with target.at(point):
                readout = CountedReadout(target.readout(), meter.tick)
                # the stale-cache re-check is of tensors known to fail: a fast screen there would only cost
                common = (s if not point else replace(s, mode="full"), rng, target.batch, out.size)
                def probes_of(name: str, full: tuple) -> tuple:
                    if only is None:
                        return full
                    return probes_for(only[name], full[2]), full[1], full[2]

                checks = [check_tensor(name, arr, grads[name], readout, *probes_of(name, probes[name]), *common,
                                       spread(partial(input_of, name), not point), meter.expect, factors)
                          for name, arr in target.inputs.items() if only is None or name in only]
                return checks + [check_tensor(p.label, p.live, grads[p.label], readout,
                                              *probes_of(p.label, (None, "elements", None)), *common,
                                              spread(partial(parameter_of, owner_index[id(p.owner)], p.path),
                                                     not point), meter.expect, factors)
                                 for p in params if only is None or p.label in only]

        _finish(report, state, compare_at({}))
        _one_row_hints(target, report)
        _reused_sublayer_hints(target, report, params)
        _stale_parameters(target, params, report, np.random.default_rng(1), s)
        if workers.failure:
            report.warnings.append(f"checked in this process only: the target could not be run in worker processes "
                                   f"({workers.failure})")
        if workers.redone:
            report.warnings.append(f"the cluster lost a worker during the check: {workers.redone} chunk(s) of work "
                                   "were run again on other workers")
        # the stale-cache re-check asks whether the worst failing elements are right for the earlier input
        worst = {t.name: np.array([np.ravel_multi_index(w.index, t.shape) for w in t.worst if len(w.index) ==
                                   len(t.shape)], dtype=np.intp) for t in report.tensors if t.failed}
        if worst and all(len(v) for v in worst.values()) and target.other_point():
            meter.expect(8 * sum(len(v) for v in worst.values()))
            mark_stale(report, lambda: compare_at(target.other_point(), worst))
        meter.finish()
    report._differences = partial(_step_differences, target, params)      # for report.step_curve
    if os.environ.get("GRADCHECK_VALIDATE"):        # the test suite holds every check to the report's laws
        broken = invariants(report)
        if broken:
            raise AssertionError(f"gradcheck report of {report.target} breaks its invariants: {'; '.join(broken)}")
    return report


def _step(step: float | None, eps: float | None) -> float | None:
    if eps is not None:
        warnings.warn("gradcheck: eps= is deprecated, use step=", DeprecationWarning, stacklevel=3)
        return eps if step is None else step
    return step


def _new_report(label: str, mode: str | None, seed: int, atol: float) -> GradcheckReport:
    return GradcheckReport(target=label, mode=mode or _DEFAULTS["mode"], seed=seed, step=0.0, rtol=0.0, atol=atol)


def _hook(reseed: int | None, before_forward: Callable[[], None] | None) -> Callable[[], None] | None:
    """What runs before every forward: ``np.random.seed(reseed)``, then ``before_forward``."""
    hooks = ([lambda: np.random.seed(reseed)] if reseed is not None else []) + \
        ([before_forward] if before_forward is not None else [])
    if not hooks:
        return None

    def run() -> None:
        for h in hooks:
            h()
    return run


def _input_names(forward: Callable, count: int) -> list[str]:
    """Names of forward's positional parameters (``arg0``... for ``*args``), one per input."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        names += [f"arg{i}" for i in range(len(names), count)]
    if len(names) < count:
        raise TypeError(f"check_function: {count} inputs given, but forward takes {len(names)} positional "
                        f"argument(s) ({', '.join(names) or 'none'})")
    return names[:count]


def _time_limited(check: Callable[..., GradcheckReport], runner: Callable = run_limited
                  ) -> Callable[..., GradcheckReport]:
    """``timeout=SECONDS``: the check runs in a child process (see :mod:`gradcheck.supervisor`; ``runner`` may
    keep it in this process instead); past the limit it is stopped and the report fails, saying where the
    checked code was."""
    @functools.wraps(check)
    def limited(*args, timeout: float | None = None, **kwargs) -> GradcheckReport:
        if timeout is None:
            return check(*args, **kwargs)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise ValueError(f"gradcheck: timeout must be a positive number of seconds, got {timeout!r}")
        try:
            return runner(partial(check, *args, **kwargs), float(timeout))[0]
        except CheckTimedOut as exc:
            subject = args[0] if args else kwargs.get("layer", kwargs.get("network"))
            label = getattr(subject, "__name__", None) or describe(subject)
            report = _new_report(label, kwargs.get("mode"), kwargs.get("seed", 0), kwargs.get("atol", 0.0))
            report.problems.append(f"the check {exc}: the checked code did not return in time (an endless loop, "
                                   "or a check far larger than expected); raise timeout= if it only needs longer")
            return report
    return limited


# ------------------------------------------------------------------------------------------- public API

@_time_limited
def check_layer(layer, inputs, *, mode: str | None = None, step: float | None = None, rtol: float | None = None,
                atol: float = 0.0, seed: int = 0, parameters: Sequence[str] | Mapping[str, str] | None = None,
                reseed: int | None = None, before_forward: Callable[[], None] | None = None,
                eps: float | None = None, progress: bool | None = None, jobs: int | None = None,
                timeout: float | None = None,
                scheduler: object | None = None) -> GradcheckReport:
    """Check ``layer.backward`` and its parameter gradients against finite differences of ``layer.forward``.

    Parameters
    ----------
    layer : object with ``forward(x)`` and ``backward(e)``
        Its parameters are found after a first backward: every float array attribute ``X`` (plain or
        property) with a gradient attribute ``gradient_X``. Every attribute holding an optimizer (an object
        with ``calculate_update``) is set to None during the check; everything is put back afterwards.
    inputs : ndarray of shape (batch, ...) or tuple of int
        The input, or its shape (standard normal values drawn with ``seed``). Never modified.
    mode : {"full", "fast"}, optional
        "full" checks every element; "fast" checks sparse random directions (every element in exactly one)
        and checks the elements of any direction that fails or crosses a kink one by one. Default "full",
        or what :func:`set_default_mode` (pytest's ``--gradcheck-mode``) chose.
    step : float, optional
        Relative step; default the cube root of the machine epsilon of the precision the layer computes in.
    rtol, atol : float
        Added to the tolerance derived from the error estimates. rtol defaults to 1e-6 in every precision:
        a layer that computes in float32 is allowed float32 rounding of the outputs each step moves.
    seed : int
        Seeds the input (when a shape is given), the upstream error E and the fast-mode directions.
    parameters : list of str, or dict of str to str, optional
        Check only these parameters, by path: ``"weights"`` (a top-level attribute, with ``gradient_weights``),
        ``"fc_y"`` (everything under that sub-layer), ``"params.W"`` (an entry of a container, with the same
        entry of its gradient container, ``grads``); ``"!fc_y"`` excludes; ``[]`` says there are none. A dict
        pairs each parameter path with its gradient's path (``{"params.W": "grads.dW"}``). Default: every
        parameter found (see :mod:`gradcheck.parameters`).
    reseed : int, optional
        Call ``np.random.seed(reseed)`` before every forward, so a layer drawing from numpy's global random
        state (dropout) is checked with one fixed draw.
    before_forward : callable, optional
        Called before every forward (after ``reseed``).
    eps : float, optional
        Deprecated alias of ``step``.
    progress : bool, optional
        Show the expected cost and then progress on stderr: None (default) when stderr is a terminal and the
        check should take more than about 2 s; True always; False never.
    jobs : int, optional
        Worker processes for long full checks (default: the number of cores; 1: this process only). Each
        worker is a forked copy of the check, with BLAS limited to one thread, for one pass; they are killed
        when the pass ends. A worker that raises or dies sends the pass back here, and the report says so.
    scheduler : str or distributed.Client, optional
        A Dask scheduler (``"tcp://host:8786"``): the full pass's groups of every tensor of 8 or more groups
        run on its workers (the ``cluster`` extra), each checking a pickled copy of the layer with one BLAS
        thread, as the local workers do; a chunk on a worker that dies is run again elsewhere, and the report
        counts it. Workers that cannot import the layer's module raise ``ClusterFailed`` at once.
    timeout : float, optional
        Seconds the whole check may take. With a timeout the check runs in a child process (a copy of the
        layer); past it the child and everything it started are killed and the report fails, naming the
        method and line the layer was in. None (default): no limit, in this process.

    Returns
    -------
    GradcheckReport
        The checked scalar is ``sum(forward(x) * E)``; one entry for the input and one per parameter.
        ``ok`` is True only if every element of every tensor was checked and agreed (within the step of a
        kink: lies between the one-sided slopes) and no problem was seen.
    """
    validate_settings(mode, _step(step, eps), rtol, atol)
    rng = np.random.default_rng(seed)
    x = input_array(inputs, rng)
    target = LayerTarget(layer, x, rng, _hook(reseed, before_forward))
    return _run(target, _new_report(target.label, mode, seed, atol), rng, step=_step(step, eps),
                rtol=rtol, atol=atol, parameters=parameters, progress=progress, jobs=jobs, scheduler=scheduler)


@_time_limited
def check_loss(loss_layer, prediction, label=None, *, mode: str | None = None, step: float | None = None,
               rtol: float | None = None, atol: float = 0.0, seed: int = 0,
               parameters: Sequence[str] | Mapping[str, str] | None = None, eps: float | None = None,
               progress: bool | None = None, jobs: int | None = None, timeout: float | None = None,
                scheduler: object | None = None) -> GradcheckReport:
    """Check ``loss_layer.backward(label)`` against finite differences of ``loss_layer.forward(p, label)``.

    ``prediction`` is an array or a shape (random probability rows are drawn); ``label`` defaults to
    random one-hot rows of the same shape. Other parameters as :func:`check_layer`.
    """
    validate_settings(mode, _step(step, eps), rtol, atol)
    rng = np.random.default_rng(seed)
    p = probabilities(tuple(prediction), rng) if is_shape(prediction) else as_float64(prediction, "prediction")
    y = one_hot_like(p.shape, rng) if label is None else as_float64(label, "label")
    target = LossTarget(loss_layer, p, y, rng)
    return _run(target, _new_report(target.label, mode, seed, atol), rng, step=_step(step, eps),
                rtol=rtol, atol=atol, parameters=parameters, progress=progress, jobs=jobs, scheduler=scheduler)


@_time_limited
def check_network(network, *, batch: tuple[np.ndarray, np.ndarray] | None = None, mode: str | None = None,
                  step: float | None = None, rtol: float | None = None, atol: float = 0.0, seed: int = 0,
                  eps: float | None = None, progress: bool | None = None, jobs: int | None = None,
                  parameters: Sequence[str] | Mapping[str, str] | None = None,
                  timeout: float | None = None,
                scheduler: object | None = None) -> GradcheckReport:
    """Check the gradient of the network's loss w.r.t. every trainable layer's parameters (``parameters=``
    selects by path, as in :func:`check_layer`: ``"layers.0"``, ``"!layers.2.bias"``).

    The loss is taken on one batch: ``batch=(input, label)`` if given, otherwise the batch
    ``network.data_layer`` would serve next, taken from a deep copy of it, so the data layer is left as it
    was (the next batch after the check is the one that would have come without it). A data layer that
    cannot be deep-copied raises ``TypeError``: pass ``batch``. The layers, their optimizers and
    ``network.loss`` are all as before when the check returns.
    """
    validate_settings(mode, _step(step, eps), rtol, atol)
    rng = np.random.default_rng(seed)
    data = next_batch_without_advancing(network.data_layer) if batch is None else \
        tuple(np.array(b, copy=True) for b in batch)
    target = NetworkTarget(network, data)
    return _run(target, _new_report(target.label, mode, seed, atol), rng, step=_step(step, eps),
                rtol=rtol, atol=atol, parameters=parameters, progress=progress, jobs=jobs, scheduler=scheduler)


@_time_limited
def check_function(forward: Callable, backward: Callable, *inputs, mode: str | None = None, step: float | None = None,
                   rtol: float | None = None, atol: float = 0.0, seed: int = 0, reseed: int | None = None,
                   before_forward: Callable[[], None] | None = None, progress: bool | None = None,
                   jobs: int | None = None, timeout: float | None = None,
                scheduler: object | None = None) -> GradcheckReport:
    """Check a functional pair: ``out, cache = forward(*inputs)`` and ``backward(dout, cache)``, which returns
    the gradients of every input, in order (a single array when there is one input).

    ``inputs`` are arrays or shapes (standard normal values drawn with ``seed``) of any rank; each tensor is
    named after forward's parameter (``x``, ``w``, ``b`` for ``affine_forward(x, w, b)``)::

        check_function(affine_forward, affine_backward, (8, 5), (5, 3), (3,))

    Other parameters as :func:`check_layer`.
    """
    validate_settings(mode, step, rtol, atol)
    if not inputs:
        raise TypeError("check_function: give at least one input (an array or a shape)")
    rng = np.random.default_rng(seed)
    names = _input_names(forward, len(inputs))
    arrays = {name: input_array(value, rng, name) for name, value in zip(names, inputs)}
    target = FunctionTarget(forward, backward, arrays, rng, _hook(reseed, before_forward))
    return _run(target, _new_report(target.label, mode, seed, atol), rng, step=_step(step, eps=None),
                rtol=rtol, atol=atol, parameters=None, progress=progress, jobs=jobs, scheduler=scheduler)


def _is_loss(obj: object) -> bool:
    try:
        params = inspect.signature(obj.forward).parameters.values()
    except (TypeError, ValueError, AttributeError):
        return False
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 2 and required[1].name not in TRAINING_FLAGS      # forward(inputs, training): a layer


_DEFAULTS = {"mode": "full"}


def set_default_mode(mode: str) -> str:
    """Make ``mode`` the default of every check that is not given one; returns the previous default.

    The pytest plugin's ``--gradcheck-mode`` uses it: fast in everyday CI, full before a release."""
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    previous, _DEFAULTS["mode"] = _DEFAULTS["mode"], mode
    return previous


def default_mode() -> str:
    return _DEFAULTS["mode"]


def assert_gradients(target, *args, **kwargs) -> GradcheckReport:
    """Run the right check for ``target`` and raise :class:`GradientCheckError` if it fails.

    A network (``layers`` and ``loss_layer``) -> :func:`check_network`; an object whose ``forward`` takes
    two arguments -> :func:`check_loss`; anything else -> :func:`check_layer`. Returns the report on success::

        assert_gradients(FullyConnected(4, 3), (8, 4))
        assert_gradients(CrossEntropyLoss(), (8, 3))
    """
    __tracebackhide__ = True    # pytest shows the caller's line, not these frames
    if hasattr(target, "layers") and hasattr(target, "loss_layer"):
        report = check_network(target, *args, **kwargs)
    elif _is_loss(target):
        report = check_loss(target, *args, **kwargs)
    else:
        report = check_layer(target, *args, **kwargs)
    if not report.ok:
        raise GradientCheckError(report)
    return report
