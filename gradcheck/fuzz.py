"""Search constructor arguments and inputs for a wrong gradient, and shrink it to the simplest example.

Every other checker checks one point; hand-written layers break at special arguments and inputs (even
kernel sizes, a batch of one, exact zeros and ties, logits far apart). ``fuzz_layer`` lets hypothesis search::

    def build(draw):
        k = draw(st.integers(1, 5))
        layer = MyConv1D(kernel=k)
        return layer, draw(batches((2, 9)))

    result = fuzz_layer(build)          # FuzzResult: ok, report, layer, input, draws, examples
    print(result)                       # the minimal failing example and its report
"""
from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import reporting as hypothesis_reporting
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from gradcheck.check import check_layer, check_loss
from gradcheck.report import GradcheckReport, GradientCheckError
from gradcheck.strategies import batches
from gradcheck.targets import describe

__all__ = ["FuzzResult", "fuzz_layer", "fuzz_loss", "fuzz_against", "assert_fuzz", "layer_builder", "loss_builder",
           "index_builder"]

try:                                        # several distinct failures come as one group
    _ExceptionGroup = BaseExceptionGroup    # noqa: F821 - a builtin from Python 3.11
except NameError:                           # pragma: no cover - Python 3.10: hypothesis's backport
    from exceptiongroup import BaseExceptionGroup as _ExceptionGroup

# Health checks that make no sense for a checker: its inputs are as large as the layer needs, and drawing
# them for a big layer is slow; a check takes as long as the layer takes (hence no deadline either). The
# others stay on: a build() that rejects most of its draws, say, is worth hearing about.
_IRRELEVANT = [HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large]


@dataclass
class FuzzResult:
    """The outcome of a search: the minimal failing example (and one for every other distinct failure, in
    ``others``), or the last example tried when all passed."""

    ok: bool
    report: GradcheckReport | None       # None when the minimal example raised instead (see ``error``)
    layer: object
    input: object
    draws: list = field(default_factory=list)
    examples: int = 0
    error: str | None = None
    others: list[FuzzResult] = field(default_factory=list)   # the other distinct failures, each minimal
    budget_ended: bool = False          # the time budget stopped the search or its shrinking
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = [self]
        for other in self.others:
            parts.append(other)
        head = f"fuzz: {len(parts)} distinct failures\n" if len(parts) > 1 else ""
        return head + "\n".join(p.example_text() + (f"\n{p.report}" if p.report is not None else "")
                                 for p in parts)

    def _repr_html_(self) -> str:
        """Each failure's example and report as HTML, with pictures (Jupyter shows this)."""
        from gradcheck.pictures import report_html

        parts = [self] + list(self.others)
        return "".join(f"<pre>{html.escape(p.example_text())}</pre>" +
                       (report_html(p.report) if p.report is not None else "") for p in parts)

    def example_text(self) -> str:
        """The search's outcome and the example, without the report."""
        what = "no failure found" if self.ok else "minimal failing example"
        if self.budget_ended:
            what += (", the time budget ended the search" if self.ok else
                     "; the time budget ended the shrinking, so a smaller failing example may exist")
        shape = getattr(self.input, "shape", None)
        tried = f"{self.examples} example{'s' if self.examples != 1 else ''} tried"
        lines = [f"fuzz {describe(self.layer)}: {'PASS' if self.ok else 'FAIL'} ({tried}"
                 f"{f' in {self.seconds:.1f} s' if self.seconds else ''}; {what})",
                 f"  draws: {', '.join(_short(d) for d in self.draws)}",
                 f"  input: shape {shape}" if shape is not None else f"  input: {_short(self.input)}"]
        if shape is not None and np.size(self.input) <= 24:
            lines.append("  " + np.array2string(np.asarray(self.input), precision=6).replace("\n", "\n  "))
        if self.error:
            lines.append(f"  raised {self.error}")
        return "\n".join(lines)


def _short(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"array{value.shape}" if value.size > 6 else np.array2string(value, precision=4).replace("\n", "")
    return repr(value)


class _Failed(Exception):
    """A check failed, or the layer raised; ``record`` holds the example. Each kind of failure gets its own
    subclass, so hypothesis shrinks each to its own minimal example."""

    def __init__(self, record: dict) -> None:
        super().__init__(record["signature"])
        self.record = record


def _signature(report: GradcheckReport | None, error: str | None) -> str:
    """What kind of failure: the exception a layer raised, the first problem, or the tensors that failed."""
    if error is not None:
        return f"raised {error.split(':')[0]}"
    if report.problems:       # its words, not its numbers: "forward returned N NaN/inf value(s) of N ..."
        words = re.sub(r"[-+]?\d[\d.e+-]*", "N", report.problems[0].split(":")[0]).split()
        return "problem: " + " ".join(words[:8])
    what = "differs in " if report.mode == "reference" else "wrong gradient of "
    return what + ", ".join(sorted(t.name for t in report.tensors if not t.ok))


def _key(draws: list) -> tuple:
    """The draws of an example as a hashable value (arrays by dtype, shape and bytes)."""
    return tuple((v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else repr(v) for v in draws)


@contextmanager
def _shrinking_limited_to(seconds: float):
    """Hypothesis shrinks for up to 300 s (``MAX_SHRINKING_SECONDS`` of its engine, not a setting): held to
    our budget while the search runs. Where a hypothesis version lacks it, the budget still holds: past it
    no example is checked, and every shrink attempt passes at once."""
    try:
        from hypothesis.internal.conjecture import engine
    except ImportError:         # pragma: no cover - a hypothesis without that module
        yield
        return
    before = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if before is not None:
        engine.MAX_SHRINKING_SECONDS = min(before, max(1.0, seconds))
    try:
        yield
    finally:
        if before is not None:
            engine.MAX_SHRINKING_SECONDS = before


def _search(build: Callable, check: Callable, *, max_examples: int, seed: int, max_seconds: float) -> FuzzResult:
    """The search and its shrinking, within ``max_seconds``: after that, only examples already seen to fail
    are checked again (from memory), so hypothesis ends its shrinking at once with the smallest found."""
    last: dict = {"examples": 0, "budget": False}
    classes: dict[str, type] = {}
    seen: dict[tuple, dict] = {}
    start = time.perf_counter()

    def example(data: st.DataObject) -> None:
        draws: list = []

        def draw(strategy: st.SearchStrategy, label: str | None = None):
            value = data.draw(strategy, label=label)
            draws.append(value)
            return value

        built = build(draw)
        if not isinstance(built, tuple) or len(built) < 2:
            raise TypeError(f"fuzz: build(draw) must return (layer, input), got {type(built).__name__}")
        key = _key(draws)
        record = seen.get(key) or _checked(built, draws)
        if record is None:
            return
        seen[key] = record
        # one raise for every kind: hypothesis tells failures apart by exception type and line
        raise classes.setdefault(record["signature"], type("FuzzFailure", (_Failed,), {}))(record)

    def _checked(built: tuple, draws: list) -> dict | None:
        """Check an example not seen before; None when it passes or the budget is spent (then it is not
        checked, and shrinking, which only tries new examples, ends)."""
        if time.perf_counter() - start > max_seconds:
            last["budget"] = True
            return None
        last.update(examples=last["examples"] + 1, draws=draws, built=built, report=None, error=None)
        try:
            report, error = check(*built), None
        except Exception as exc:  # noqa: BLE001 - the layer raised: a failure of its own kind
            report, error = None, f"{type(exc).__name__}: {exc}"
        last.update(report=report, error=error)
        if error is None and report.ok:
            return None
        return {"built": built, "draws": draws, "report": report, "error": error,
                "signature": _signature(report, error)}

    configured = settings(settings.get_profile("default"), max_examples=max_examples, database=None,
                          deadline=None, derandomize=False, suppress_health_check=_IRRELEVANT,
                          report_multiple_bugs=True)
    search = hypothesis_seed(seed)(configured(given(st.data())(example)))
    failures: list[dict] = []
    def reported(value: object) -> None:
        """What hypothesis prints, but its warning that shrinking took "more than five minutes": the limit
        it means is ours (our budget), and the result says that the shrinking was stopped."""
        if "spent more than five minutes" in str(value):
            last["budget"] = True
        else:
            hypothesis_reporting.default(value)

    try:
        with _shrinking_limited_to(max_seconds), hypothesis_reporting.with_reporter(reported):
            search()
    except _Failed as exc:
        failures = [exc.record]
    except _ExceptionGroup as group:
        failures = [e.record for e in group.exceptions if isinstance(e, _Failed)]
        if len(failures) < len(group.exceptions):
            raise
    seconds = time.perf_counter() - start

    def result(record: dict | None) -> FuzzResult:
        if record is None:
            built = last.get("built") or (None, None)
            return FuzzResult(ok=True, report=last.get("report"), layer=built[0], input=built[1],
                              draws=last.get("draws", []), examples=last["examples"], budget_ended=last["budget"],
                              seconds=seconds)
        return FuzzResult(ok=False, report=record["report"], layer=record["built"][0], input=record["built"][1],
                          draws=record["draws"], examples=last["examples"], error=record["error"],
                          budget_ended=last["budget"], seconds=seconds)

    if not failures:
        return result(None)
    first = result(failures[0])
    first.others = [result(record) for record in failures[1:]]
    return first


MAX_SECONDS = 30.0     # the default time budget of a search, its shrinking included


def fuzz_layer(build: Callable, *, max_examples: int = 100, seed: int = 0, mode: str | None = None,
               max_seconds: float = MAX_SECONDS, **check_kwargs) -> FuzzResult:
    """Search for a failing :func:`~gradcheck.check_layer` and shrink it to the simplest example.

    Parameters
    ----------
    build : callable ``build(draw) -> (layer, input)``
        ``draw(strategy)`` draws a value (constructor arguments, an input from
        :mod:`gradcheck.strategies`); a new layer each call.
    max_examples : int
        Examples to try (shrinking a failure takes more).
    seed : int
        The search is deterministic for a given seed and ignores hypothesis's example database.
    max_seconds : float
        Time budget of the search and its shrinking (default 30 s). Past it, no new example is checked and
        shrinking ends with the smallest failing example found; the result says so (``budget_ended``).
    mode, **check_kwargs
        Passed to :func:`~gradcheck.check_layer` (``mode``, ``reseed``, ``rtol`` ...).
    """
    return _search(build, lambda layer, x: check_layer(layer, x, mode=mode, **check_kwargs),
                   max_examples=max_examples, seed=seed, max_seconds=max_seconds)


def fuzz_loss(build: Callable, *, max_examples: int = 100, seed: int = 0, mode: str | None = None,
              max_seconds: float = MAX_SECONDS, **check_kwargs) -> FuzzResult:
    """As :func:`fuzz_layer` for a loss: ``build(draw) -> (loss_layer, prediction, label)``."""
    return _search(build, lambda loss, p, y=None: check_loss(loss, p, y, mode=mode, **check_kwargs),
                   max_examples=max_examples, seed=seed, max_seconds=max_seconds)


def fuzz_against(build: Callable, *, max_examples: int = 100, seed: int = 0, max_seconds: float = MAX_SECONDS,
                 **check_kwargs) -> FuzzResult:
    """Search for an input on which a layer and its reference differ (:func:`~gradcheck.reference.check_against`)
    and shrink it to the simplest: ``build(draw) -> (layer, reference, input)``, both built with the same drawn
    constructor arguments (kernel sizes, strides, channels), in a drawn phase where that matters (set
    ``testing_phase`` on the layer and ``eval()`` on a torch module in ``build``)::

        def build(draw):
            k = draw(st.integers(1, 5))
            return MyConv1D(kernel=k), core.Conv(1, (2, k), 3), draw(batches((2, 9)))

    ``check_kwargs`` go to ``check_against`` (``mapping``, ``rtol`` ...)."""
    from gradcheck.reference import check_against

    def reordered(draw):
        built = build(draw)
        if not isinstance(built, tuple) or len(built) != 3:
            raise TypeError(f"fuzz_against: build(draw) must return (layer, reference, input), got "
                            f"{type(built).__name__}{f' of length {len(built)}' if isinstance(built, tuple) else ''}")
        return built[0], built[2], built[1]

    return _search(reordered, lambda layer, x, reference: check_against(layer, reference, x, **check_kwargs),
                   max_examples=max_examples, seed=seed, max_seconds=max_seconds)


def assert_fuzz(build: Callable, *, loss: bool = False, against: bool = False, **kwargs) -> FuzzResult:
    """:func:`fuzz_layer` (``loss=True``: :func:`fuzz_loss`; ``against=True``: :func:`fuzz_against`) that raises
    :class:`GradientCheckError` with the minimal failing example, for pytest::

        def test_my_conv_for_every_kernel():
            assert_fuzz(build_my_conv)
    """
    __tracebackhide__ = True
    result = (fuzz_against if against else fuzz_loss if loss else fuzz_layer)(build, **kwargs)
    if not result.ok:
        report = result.report or GradcheckReport(target=describe(result.layer), mode="-", seed=0, step=0.0,
                                                  rtol=0.0, atol=0.0, problems=[f"raised {result.error}"])
        raise GradientCheckError(report, context=result.example_text())
    return result


def layer_builder(factory: Callable[[], object], trailing: int | tuple[int, ...], max_batch: int = 16) -> Callable:
    """A ``build`` for :func:`fuzz_layer`: a fresh ``factory()`` and a ``(batch, *trailing)`` input from
    :func:`~gradcheck.strategies.batches`, batch from 1 to ``max_batch``."""
    return lambda draw: (factory(), draw(batches(trailing, max_batch)))


def loss_builder(factory: Callable[[], object], classes: int, max_batch: int = 16) -> Callable:
    """A ``build`` for :func:`fuzz_loss`: probability rows (the softmax of drawn logits, so exact zeros from
    underflow included) and one-hot labels, batch from 1 to ``max_batch``."""
    def build(draw):
        z = draw(batches(classes, max_batch))
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        labels = draw(st.lists(st.integers(0, classes - 1), min_size=len(p), max_size=len(p)))
        return factory(), p, np.eye(classes)[labels]
    return build


def index_builder(factory: Callable[[], object], trailing: tuple[int, ...], max_batch: int,
                  vocabulary: int) -> Callable:
    """A ``build`` for :func:`fuzz_layer` with integer inputs: indices in ``0..vocabulary-1`` (repeats and the
    extremes included) of shape ``(batch, *trailing)``, batch from 1 to ``max_batch``."""
    from hypothesis.extra import numpy as hnp

    def build(draw):
        batch = draw(st.integers(1, max_batch))
        return factory(), draw(hnp.arrays(np.int64, (batch, *trailing), elements=st.integers(0, vocabulary - 1)))
    return build
