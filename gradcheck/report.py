"""What a gradient check found, and the one function that turns it into text."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod
from typing import ClassVar

import numpy as np

from gradcheck.numeric import TOLERANCE_TEXT

__all__ = ["ElementArrays", "ElementError", "TensorCheck", "GradcheckReport", "GradientCheckError", "format_report",
           "crux", "invariants", "compared", "settings_text"]


@dataclass
class ElementError:
    """One checked element: where it is, both gradients, and the tolerance it was held to."""

    index: tuple[int, ...]
    analytic: float
    numeric: float
    abs_error: float
    tolerance: float


@dataclass
class ElementArrays:
    """Every element of a checked tensor, in its shape: what the pictures draw."""

    analytic: np.ndarray
    numeric: np.ndarray         # NaN where no estimate reached the element (fast mode's passed directions)
    tolerance: np.ndarray
    failed: np.ndarray          # bool
    checked: np.ndarray         # bool
    level: np.ndarray           # the round of the ladder each element was settled at (its step: h / 8^level)
    values: np.ndarray          # the tensor's values at the checked point
    kink: np.ndarray | None = None      # bool: passed at a kink, between its one-sided slopes (None: no kinks)

    @property
    def smooth(self) -> np.ndarray:
        """Checked away from a kink: where the tolerance is the smooth one."""
        return self.checked if self.kink is None else self.checked & ~self.kink

    @property
    def badness(self) -> np.ndarray:
        """|analytic - numeric| / tolerance: above 1 fails; NaN where the element has no estimate."""
        with np.errstate(all="ignore"):
            ratio = np.abs(self.analytic - self.numeric) / np.maximum(self.tolerance, 1e-300)
        return np.where(self.checked & np.isfinite(self.numeric), ratio, np.nan)


@dataclass
class TensorCheck:
    """The comparison of one gradient tensor (``input``, ``weights``, ``layers.0.weights`` ...)."""

    name: str
    shape: tuple[int, ...]
    method: str                     # "elements", "columns" (rows independent) or "directions" (fast mode)
    checked: int                    # comparisons made: elements, or in fast mode directions + single elements
    failed: int
    max_abs_error: float
    max_rel_error: float
    worst: list[ElementError] = field(default_factory=list)
    kinks: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    one_sided: int = 0              # elements at the edge of forward's domain, checked from one side
    refined: int = 0                # elements settled at a smaller step than the first (the ladder went down)
    noisy: int = 0                  # elements whose tolerance holds forward's measured noise
    scale: float = 0.0              # the largest |numeric gradient| of the tensor
    max_tolerance: float = 0.0      # the largest tolerance applied to a smooth element (what could pass)
    evaluations: int = 0            # forward evaluations of the numeric pass for this tensor
    seconds: float = 0.0            # wall time of the numeric pass for this tensor
    hint: str | None = None
    pattern: str | None = None      # where the wrong elements are and what they look like, one line
    note: str | None = None
    # every element (set by the check; not a field, so neither to_dict nor repr carry it)
    elements: ClassVar[ElementArrays | None] = None

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    @property
    def coverage_problem(self) -> str | None:
        """Why too little of the tensor was checked for a pass to mean anything, or None."""
        size = prod(self.shape)
        if self.checked == 0:
            return f"nothing was checked: all {size} elements were skipped ({'; '.join(self.skipped)})"
        if self.skipped_count:
            return (f"{self.skipped_count} of {size} elements could not be checked ({'; '.join(self.skipped)}), even "
                    "at the smallest step the ladder took")
        return None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.coverage_problem is None


@dataclass
class GradcheckReport:
    """Everything one check found. ``ok`` is False if any tensor failed or any hygiene problem was seen."""

    target: str
    mode: str
    seed: int
    step: float
    rtol: float
    atol: float
    precision: str = "float64"      # the precision the function computes in, which the tolerance follows
    against: str = ""               # a reference check (mode "reference"): the reference and the carry-over
    tensors: list[TensorCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(t.ok for t in self.tensors)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``json.dumps(report.to_dict())``)."""
        out = asdict(self)
        out["ok"] = self.ok
        for tensor, check in zip(out["tensors"], self.tensors):
            tensor["ok"] = check.ok
            tensor["coverage_problem"] = check.coverage_problem
        return out

    def __str__(self) -> str:
        return format_report(self)

    def _repr_html_(self) -> str:
        """The report as HTML with a picture of every tensor (Jupyter shows this)."""
        from gradcheck.pictures import report_html

        return report_html(self)

    def step_curve(self, tensor: str, index: tuple[int, ...], steps: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(steps, |D(h) - analytic|) of one element, evaluated again now: h from 1e-1 to 1e-14 of
        max(|value|, 1) unless ``steps`` are given. Needs the checked objects, which the report keeps."""
        differences = getattr(self, "_differences", None)
        t = next((t for t in self.tensors if t.name == tensor), None)
        index = tuple(int(i) for i in index)
        cached = getattr(self, "_curves", {}).get((tensor, index))
        if differences is None and cached is not None and steps is None:
            return cached           # evaluated where the check ran (a child process of the command)
        if differences is None or t is None or t.elements is None:
            raise ValueError(f"step_curve: no tensor {tensor!r} with element data in this report "
                             f"(tensors: {', '.join(t.name for t in self.tensors)})")
        index = tuple(int(i) for i in index)
        size = max(abs(float(t.elements.values[index])), 1.0)
        steps = size * np.logspace(-1, -14, 27) if steps is None else np.asarray(steps, dtype=float)
        return steps, np.abs(differences(tensor, index, steps) - t.elements.analytic[index])

    def keep_worst_curves(self) -> None:
        """Evaluate the step curve of every failing tensor's worst element now, and keep it, for a report
        that leaves the process that holds the checked objects."""
        self._curves = {}
        for t in self.tensors:
            full = [w for w in t.worst if len(w.index) == len(t.shape)]
            if not t.ok and full and getattr(self, "_differences", None) is not None:
                index = tuple(int(i) for i in full[0].index)
                try:
                    self._curves[(t.name, index)] = self.step_curve(t.name, index)
                except Exception:  # noqa: BLE001 - a layer that no longer runs: no curve
                    pass

    def plot_steps(self, tensor: str, index: tuple[int, ...], steps: np.ndarray | None = None):
        """A matplotlib Figure of :meth:`step_curve`: a right gradient dips to the tolerance at the step
        the check used, a wrong one has a floor above it, a kink a floor that does not fall."""
        from gradcheck.pictures import step_figure

        steps, errors = self.step_curve(tensor, index, steps)
        t = next(t for t in self.tensors if t.name == tensor)
        index = tuple(int(i) for i in index)
        size = max(abs(float(t.elements.values[index])), 1.0)
        used = self.step * size * 8.0 ** -int(t.elements.level[index]) / 2
        return step_figure(steps, errors, used=used, tolerance=float(t.elements.tolerance[index]), name=tensor,
                           index=index)


class GradientCheckError(AssertionError):
    """Raised by ``assert_gradients``; ``.report`` is the :class:`GradcheckReport`.

    The first line of the message is the crux (the layer, the failing tensors, the worst error), which is
    what pytest's ``-ra`` summary shows; the full report follows."""

    def __init__(self, report: GradcheckReport, context: str | None = None) -> None:
        middle = f"{context}\n" if context else ""
        super().__init__(f"{crux(report)}\n{middle}{format_report(report)}")
        self.report = report


def crux(report: GradcheckReport) -> str:
    """One line: the layer, what failed, and the worst error."""
    if report.problems:
        first = report.problems[0]
        more = f" (and {len(report.problems) - 1} more problem(s))" if len(report.problems) > 1 else ""
        return f"{report.target}: {first[:160]}{'...' if len(first) > 160 else ''}{more}"
    wrong = [t for t in report.tensors if t.failed]
    if wrong:
        worst = max(wrong, key=lambda t: t.max_abs_error)
        left, right, _ = compared(report, worst)
        where = f"; worst {worst.name}{list(worst.worst[0].index)}: {left} {_g(worst.worst[0].analytic)}, " \
                f"{right} {_g(worst.worst[0].numeric)}" if worst.worst else ""
        counts = ", ".join(f"{t.name} ({t.failed} element(s))" for t in wrong)
        what = f"differs from {report.against.split(' (carried')[0]} in" if report.mode == "reference" else \
            "wrong gradient of"
        return f"{report.target}: {what} {counts}{where}"
    unchecked = [t for t in report.tensors if t.coverage_problem]
    if unchecked:
        return f"{report.target}: {unchecked[0].name} not checked: {unchecked[0].coverage_problem}"
    return f"{report.target}: {'PASS' if report.ok else 'FAIL'}"


def _g(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def compared(report: GradcheckReport, tensor: TensorCheck | None = None) -> tuple[str, str, str]:
    """What the two compared sides are called, and the tolerance rule: analytic against numeric, the layer
    against its reference, a batched call against the per-sample ones, or the layer's gradient against
    finite differences of a reference function."""
    from gradcheck.reference import REFERENCE_TOLERANCE_TEXT

    method = tensor.method if tensor is not None else ("reference" if report.mode == "reference" else "")
    if method == "reference":
        return "layer", "reference", REFERENCE_TOLERANCE_TEXT
    if method == "batched":
        return "batched", "per sample", REFERENCE_TOLERANCE_TEXT
    return ("layer" if report.mode == "reference" else "analytic"), "numeric", TOLERANCE_TEXT


def settings_text(report: GradcheckReport) -> str:
    """Mode, seed, steps and tolerance in force; a check stopped before its numeric pass took no step."""
    if report.mode == "reference":
        added = f", + atol {report.atol:g} + rtol {report.rtol:g} |reference|" if report.atol or report.rtol else ""
        return f"against {report.against}, seed {report.seed}{added}"
    steps = (f"steps {report.step:.2g} x max(|value|, 1) / 8^r, rtol {report.rtol:g}" if report.step > 0 else
             "no step taken: stopped before any gradient was estimated")
    return f"mode {report.mode}, seed {report.seed}, {steps}, atol {report.atol:g}"


def format_report(report: GradcheckReport) -> str:
    """The readable text of a report: a header, one table row per tensor, then details of every failure."""
    status = "PASS" if report.ok else "FAIL"
    lines = [f"gradcheck {report.target}: {status}  ({report.precision}, {settings_text(report)})"]
    header = f"  {'tensor':<24} {'shape':<14} {'method':<10} {'checked':>7} {'failed':>6} {'kinks':>5} " \
             f"{'skipped':>7} {'max abs err':>11} {'max tol':>9} {'max rel err':>11} {'forwards':>8} {'seconds':>7}"
    lines.append(header)
    rules: dict[str, None] = {}
    for t in report.tensors:
        lines.append(f"  {t.name:<24} {str(t.shape):<14} {t.method:<10} {t.checked:>7} {t.failed:>6} {t.kinks:>5} "
                     f"{sum(t.skipped.values()):>7} {t.max_abs_error:>11.3g} {t.max_tolerance:>9.3g} "
                     f"{t.max_rel_error:>11.3g} "
                     f"{t.evaluations:>8} {t.seconds:>7.3f}  {'ok' if t.ok else 'FAIL'}")
    for t in report.tensors:
        if t.note:
            lines.append(f"  note on {t.name}: {t.note}")
        for reason, count in t.skipped.items():
            lines.append(f"  {t.name}: {count} element(s) skipped: {reason}")
        if t.coverage_problem:
            lines.append(f"  {t.name}: FAIL, {t.coverage_problem}: a pass must mean every element was checked")
        if not t.failed:
            continue
        left, right, rule = compared(report, t)
        rules.setdefault(rule, None)
        lines.append(f"  {t.name}: {t.failed} element(s) wrong; the worst, by err/tol (over 1 fails):")
        lines.append(f"    {'index':<16} {left:>13} {right:>13} {'abs err':>11} {'tolerance':>11} {'err/tol':>9}")
        for e in t.worst:
            lines.append(f"    {str(e.index):<16} {_g(e.analytic):>13} {_g(e.numeric):>13} "
                         f"{e.abs_error:>11.3g} {e.tolerance:>11.3g} {worst_ratio(e):>9.3g}")
        if t.pattern:
            lines.append(f"    pattern: {t.pattern}")
        if t.hint:
            lines.append(f"    hint: {t.hint}")
    lines.extend(f"  PROBLEM: {p}" for p in report.problems)
    lines.extend(f"  warning: {w}" for w in report.warnings)
    lines.extend(f"  {rule}" for rule in rules)          # the rule in force, once, under the tensors it judged
    return "\n".join(lines)


def worst_ratio(e: ElementError) -> float:
    """``|error| / tolerance`` of a worst-list element, the key the list is sorted by (NaN counts as inf)."""
    with np.errstate(all="ignore"):
        return float(np.nan_to_num(np.float64(e.abs_error) / max(e.tolerance, 1e-300), nan=np.inf))


def invariants(report: GradcheckReport) -> list[str]:
    """What every report must satisfy, as the laws the tests hold every check to (``GRADCHECK_VALIDATE=1``
    makes every check raise when one fails): the verdict is its tensors' and problems'; a tensor's counts are
    its elements'; checked and not-checked elements add up to the tensor in full mode, and a full PASS has
    every element checked; the worst list is in order of ``|error| / tolerance`` and no failing element is
    worse than its first."""
    out = []
    if report.ok != (not report.problems and all(t.ok for t in report.tensors)):
        out.append("report.ok is not 'no problems and every tensor ok'")
    for t in report.tensors:
        e, size = t.elements, prod(t.shape)
        if e is None:
            continue
        failed = e.failed & e.checked
        if t.failed != int(failed.sum()):
            out.append(f"{t.name}: failed = {t.failed}, but {int(failed.sum())} elements failed")
        if report.mode == "full" or (t.note or "").startswith("checked as in full mode"):
            if t.checked != int(e.checked.sum()):
                out.append(f"{t.name}: checked = {t.checked}, but {int(e.checked.sum())} elements were checked")
            if t.checked + t.skipped_count != size:
                out.append(f"{t.name}: {t.checked} checked + {t.skipped_count} not checked != {size} elements")
            if t.ok and t.checked != size:
                out.append(f"{t.name}: PASS with {t.checked} of {size} elements checked")
            _summary_laws(t, e, out)
        if t.pattern and not t.pattern.startswith(f"{t.failed} of {size} wrong"):
            out.append(f"{t.name}: the pattern {t.pattern!r} does not start with its {t.failed} wrong of {size}")
        for text, what in ((t.hint, "hint"), (t.note, "note")):
            if text is not None and (not text.strip() or text.rstrip().endswith(";") or "; None" in text):
                out.append(f"{t.name}: the {what} is not well formed: {text!r}")
        with np.errstate(all="ignore"):
            badness = [worst_ratio(w) for w in t.worst]
        if any(a < b for a, b in zip(badness, badness[1:])):
            out.append(f"{t.name}: the worst list is not in order of |error| / tolerance")
        if t.failed and t.worst:
            with np.errstate(all="ignore"):
                bad = np.nan_to_num(np.abs(e.analytic - e.numeric) / np.maximum(e.tolerance, 1e-300), nan=np.inf)
            worst_failed = float(np.max(np.where(failed, bad, -np.inf)))
            if not (badness[0] == worst_failed or badness[0] >= worst_failed * (1 - 1e-9)):
                out.append(f"{t.name}: a failing element is worse than the first of the worst list")
    return out


def _summary_laws(t: TensorCheck, e: ElementArrays, out: list[str]) -> None:
    """In full mode a tensor's summary is its elements': the largest error and tolerance are those of the
    elements checked away from a kink, ``refined`` counts those settled below the first step, and each element
    checked away from a kink that passed is within its tolerance."""
    smooth = e.smooth
    with np.errstate(all="ignore"):
        error = np.abs(e.analytic - e.numeric)
    for value, column, name in ((t.max_tolerance, e.tolerance, "max tol"), (t.max_abs_error, error, "max abs err")):
        largest = float(np.max(np.where(smooth, np.nan_to_num(column, nan=np.inf), 0.0), initial=0.0))
        value = float(np.nan_to_num(value, nan=np.inf))        # a NaN error (a NaN analytic value) is the worst
        if not (value == largest or abs(value - largest) <= 1e-12 * abs(largest)):
            out.append(f"{t.name}: {name} = {value:.6g}, but the elements checked away from a kink give {largest:.6g}")
    refined = int((e.checked & (e.level > 0)).sum())
    if t.refined != refined:
        out.append(f"{t.name}: refined = {t.refined}, but {refined} checked elements were settled below the first step")
    passed = smooth & ~e.failed & np.isfinite(e.numeric)
    over = passed & ~(error <= e.tolerance * (1 + 1e-12))
    if over.any():
        k = tuple(int(i) for i in np.argwhere(over)[0])
        out.append(f"{t.name}: element {k} passed away from a kink with |analytic - numeric| = {error[k]:.6g} over "
                   f"its tolerance {e.tolerance[k]:.6g}")
