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

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from gradcheck.check import check_layer, check_loss
from gradcheck.report import GradcheckReport, GradientCheckError
from gradcheck.strategies import batches
from gradcheck.targets import describe

__all__ = ["FuzzResult", "fuzz_layer", "fuzz_loss", "assert_fuzz", "layer_builder", "loss_builder"]

# Health checks that make no sense for a checker: its inputs are as large as the layer needs, and drawing
# them for a big layer is slow; a check takes as long as the layer takes (hence no deadline either). The
# others stay on: a build() that rejects most of its draws, say, is worth hearing about.
_IRRELEVANT = [HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large]


@dataclass
class FuzzResult:
    """The outcome of a search: the minimal failing example, or the last one tried when all passed."""

    ok: bool
    report: GradcheckReport | None       # None when the minimal example raised instead (see ``error``)
    layer: object
    input: object
    draws: list = field(default_factory=list)
    examples: int = 0
    error: str | None = None

    def __str__(self) -> str:
        return self.example_text() + (f"\n{self.report}" if self.report is not None else "")

    def example_text(self) -> str:
        """The search's outcome and the example, without the report."""
        what = "no failure found" if self.ok else "minimal failing example"
        shape = getattr(self.input, "shape", None)
        lines = [f"fuzz {describe(self.layer)}: {'PASS' if self.ok else 'FAIL'} ({self.examples} examples tried; "
                 f"{what})",
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
    """A check failed (the example is kept by the search)."""


def _search(build: Callable, check: Callable, *, max_examples: int, seed: int) -> FuzzResult:
    last: dict = {"examples": 0}

    def example(data: st.DataObject) -> None:
        draws: list = []

        def draw(strategy: st.SearchStrategy, label: str | None = None):
            value = data.draw(strategy, label=label)
            draws.append(value)
            return value

        last.update(examples=last["examples"] + 1, draws=draws, report=None, error=None, built=None)
        built = build(draw)
        if not isinstance(built, tuple) or len(built) < 2:
            raise TypeError(f"fuzz: build(draw) must return (layer, input), got {type(built).__name__}")
        last["built"] = built
        report = check(*built)
        last["report"] = report
        if not report.ok:
            raise _Failed

    configured = settings(settings.get_profile("default"), max_examples=max_examples, database=None,
                          deadline=None, derandomize=False, suppress_health_check=_IRRELEVANT)
    search = hypothesis_seed(seed)(configured(given(st.data())(example)))
    ok, error = True, None
    try:
        search()
    except _Failed:
        ok = False
    except Exception as exc:  # noqa: BLE001 - build or the layer raised: the minimal example that does
        if last.get("built") is None and last.get("report") is None and not last["draws"]:
            raise                                   # build itself is broken for every draw: a usage error
        ok, error = False, f"{type(exc).__name__}: {exc}"
    built = last.get("built") or (None, None)
    return FuzzResult(ok=ok, report=last.get("report"), layer=built[0], input=built[1], draws=last["draws"],
                      examples=last["examples"], error=error)


def fuzz_layer(build: Callable, *, max_examples: int = 100, seed: int = 0, mode: str | None = None,
               **check_kwargs) -> FuzzResult:
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
    mode, **check_kwargs
        Passed to :func:`~gradcheck.check_layer` (``mode``, ``reseed``, ``rtol`` ...).
    """
    return _search(build, lambda layer, x: check_layer(layer, x, mode=mode, **check_kwargs),
                   max_examples=max_examples, seed=seed)


def fuzz_loss(build: Callable, *, max_examples: int = 100, seed: int = 0, mode: str | None = None,
              **check_kwargs) -> FuzzResult:
    """As :func:`fuzz_layer` for a loss: ``build(draw) -> (loss_layer, prediction, label)``."""
    return _search(build, lambda loss, p, y=None: check_loss(loss, p, y, mode=mode, **check_kwargs),
                   max_examples=max_examples, seed=seed)


def assert_fuzz(build: Callable, *, loss: bool = False, **kwargs) -> FuzzResult:
    """:func:`fuzz_layer` (``loss=True``: :func:`fuzz_loss`) that raises :class:`GradientCheckError` with the
    minimal failing example, for pytest::

        def test_my_conv_for_every_kernel():
            assert_fuzz(build_my_conv)
    """
    __tracebackhide__ = True
    result = (fuzz_loss if loss else fuzz_layer)(build, **kwargs)
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
