"""The hot path against its bare numpy baselines, interleaved in one process.

    python -m benchmarks.hot_path [--rounds N]

pytest-benchmark times one contender after the other, so a change of load between them (this machine is
shared) moves the ratio. Here every round times the layer and its baseline back to back; reported are the
median over rounds of the per-round ratios and the ratio of the two fastest rounds. Baselines: ``X @ W``
forward and ``E @ W.T``, ``X.T @ E`` backward for FullyConnected; the one-line expressions of
``benchmarks/test_activation_loss_bench.py`` for ReLU, SoftMax and CrossEntropyLoss.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from benchmarks.test_activation_loss_bench import _ce_numpy, _relu_numpy, _softmax_numpy
from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax

FC_SIZES = {"256x512x256": (256, 512, 256), "2048x1024x1024": (2048, 1024, 1024)}
ACTIVATION_SHAPE = (4096, 1000)
Pair = tuple[Callable[[], object], Callable[[], object]]


def _fc_pairs(batch: int, n_in: int, n_out: int, dtype: type) -> dict[str, Pair]:
    rng = np.random.default_rng(0)
    layer = FullyConnected(n_in, n_out, rng, dtype=dtype)
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    e = rng.standard_normal((batch, n_out)).astype(dtype)
    w = layer.weights[:-1].copy()
    layer.forward(x)
    return {
        "forward": (lambda: layer.forward(x), lambda: x @ w),
        "backward": (lambda: layer.backward(e), lambda: (e @ w.T, x.T @ e)),
        "forward+backward": (lambda: (layer.forward(x), layer.backward(e)), lambda: (x @ w, e @ w.T, x.T @ e)),
    }


def _activation_pairs() -> dict[str, Pair]:
    rng = np.random.default_rng(0)
    x, e = rng.standard_normal(ACTIVATION_SHAPE), rng.standard_normal(ACTIVATION_SHAPE)
    z = np.exp(x - x.max(axis=1, keepdims=True))
    p = z / z.sum(axis=1, keepdims=True)
    y = np.eye(ACTIVATION_SHAPE[1])[rng.integers(0, ACTIVATION_SHAPE[1], ACTIVATION_SHAPE[0])]

    def round_trip(layer):
        layer.forward(x)
        return layer.backward(e)

    def loss_round_trip():
        loss = CrossEntropyLoss()
        loss.forward(p, y)
        return loss.backward(y)

    return {
        "ReLU forward+backward": (lambda: round_trip(ReLU()), lambda: _relu_numpy(x, e)),
        "SoftMax forward+backward": (lambda: round_trip(SoftMax()), lambda: _softmax_numpy(x, e)),
        "CrossEntropyLoss forward+backward": (loss_round_trip, lambda: _ce_numpy(p, y)),
    }


def _seconds(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def interleaved(layer: Callable[[], object], bare: Callable[[], object], rounds: int) -> tuple[float, float, float]:
    """Median of the per-round ratios layer / bare, the ratio of the fastest rounds (interference only ever
    adds time, so the minimum is the steadiest estimate of the cost itself), and the layer's median time."""
    once = _seconds(layer, 1)
    number = max(1, int(0.02 / max(once, 1e-7)))      # about 20 ms per timing
    t_layer, t_bare = [], []
    for _ in range(rounds):
        t_layer.append(_seconds(layer, number))
        t_bare.append(_seconds(bare, number))
    ratios = np.array(t_layer) / np.array(t_bare)
    return float(np.median(ratios)), min(t_layer) / min(t_bare), float(np.median(t_layer))


def _format_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} us"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case (default 15)")
    args = parser.parse_args(argv)
    print("| case | layer / bare: median of per-round ratios | fastest / fastest | layer median |")
    print("|---|---|---|---|")
    cases: list[tuple[str, Pair]] = []
    for size, shape in FC_SIZES.items():
        for dtype in (np.float64, np.float32):
            for what, pair in _fc_pairs(*shape, dtype).items():
                cases.append((f"FullyConnected {what} {size} {np.dtype(dtype).name}", pair))
    cases += [(f"{name} {ACTIVATION_SHAPE[0]}x{ACTIVATION_SHAPE[1]}", pair)
              for name, pair in _activation_pairs().items()]
    for name, (layer, bare) in cases:
        ratio, fastest, seconds = interleaved(layer, bare, args.rounds)
        print(f"| {name} | {ratio:.3f}x | {fastest:.3f}x | {_format_seconds(seconds)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
