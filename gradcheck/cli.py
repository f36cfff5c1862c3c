"""``gradcheck``: check every layer of ``core``, or a layer of your own, and print what is wrong.

    gradcheck                                         # core's layers, losses and the iris network
    gradcheck mypkg.layers:Tanh --features 5          # your layer, batch 8 of width 5
    gradcheck core:FullyConnected --args 4 3 --batch 8 --mode fast --json
"""
from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from gradcheck.check import _is_loss, check_layer, check_loss, check_network
from gradcheck.report import GradcheckReport

__all__ = ["main", "default_suite"]


def _kinked_input(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Normal values with every third element exactly 0 (ReLU's kink)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    x.flat[::3] = 0.0
    return x


def default_suite(mode: str = "full", seed: int = 0) -> list[tuple[str, Callable[[], GradcheckReport]]]:
    """(label, check) pairs covering every layer and loss of ``core`` at several shapes, seeds fixed."""
    from core import CrossEntropyLoss, FullyConnected, ReLU, SoftMax
    from core.train import build_network

    kw = {"mode": mode, "seed": seed}
    rng = np.random.default_rng(seed)
    return [
        ("FullyConnected(4, 3), batch 8", lambda: check_layer(FullyConnected(4, 3, rng), (8, 4), **kw)),
        ("FullyConnected(1, 1), batch 1", lambda: check_layer(FullyConnected(1, 1, rng), (1, 1), **kw)),
        ("FullyConnected(16, 8), batch 5, float32",
         lambda: check_layer(FullyConnected(16, 8, rng, dtype=np.float32), (5, 16), **kw)),
        ("ReLU, batch 8 x 6, zeros in input", lambda: check_layer(ReLU(), _kinked_input((8, 6), seed), **kw)),
        ("SoftMax, batch 8 x 5", lambda: check_layer(SoftMax(), (8, 5), **kw)),
        ("SoftMax, logits ~ +-100", lambda: check_layer(SoftMax(), 100 * _kinked_input((6, 4), seed), **kw)),
        ("CrossEntropyLoss, batch 8 x 3", lambda: check_loss(CrossEntropyLoss(), (8, 3), **kw)),
        ("NeuralNetwork (iris, seed settings)", lambda: check_network(build_network("iris", seed=seed), **kw)),
        ("NeuralNetwork (digits, hidden 16)",
         lambda: check_network(build_network("digits", hidden=16, batch_size=8, seed=seed), **kw)),
    ]


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _load(spec: str) -> object:
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise SystemExit(f"gradcheck: expected package.module:LayerClass, got {spec!r}")
    if os.getcwd() not in sys.path:     # like `python -m`: the user's own modules import from where they stand
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"gradcheck: cannot import {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"gradcheck: module {module_name!r} has no attribute {attr!r}") from None


def _user_check(args: argparse.Namespace) -> list[tuple[str, Callable[[], GradcheckReport]]]:
    factory = _load(args.target)
    ctor_args = [_literal(a) for a in args.args]
    try:
        obj = factory(*ctor_args)
    except Exception as exc:  # noqa: BLE001 - the user's constructor: report, don't trace back
        raise SystemExit(f"gradcheck: {args.target}({', '.join(map(repr, ctor_args))}) raised "
                         f"{type(exc).__name__}: {exc}") from None
    features = args.features if args.features is not None else getattr(obj, "input_size", None)
    if features is None:
        raise SystemExit(f"gradcheck: cannot tell the input width of {args.target}; give --features N")
    shape = (args.batch, features)
    kw = {"mode": args.mode, "seed": args.seed, "rtol": args.rtol, "atol": args.atol, "step": args.step}
    label = f"{args.target}({', '.join(map(repr, ctor_args))}), input {shape}"
    check = check_loss if _is_loss(obj) else check_layer
    return [(label, lambda: check(obj, shape, **kw))]


def _summary_row(label: str, report: GradcheckReport | None, seconds: float, error: str | None,
                 width: int) -> str:
    if report is None:
        return f"{label:<{width}} ERROR  {error}"
    failed = sum(t.failed for t in report.tensors)
    checked = sum(t.checked for t in report.tensors)
    rel = max((t.max_rel_error for t in report.tensors), default=0.0)
    kinks = sum(t.kinks for t in report.tensors)
    status = "PASS" if report.ok else "FAIL"
    return f"{label:<{width}} {status:<5} {checked:>7} {failed:>6} {kinks:>5} {rel:>11.2e} {seconds:>8.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="package.module:LayerClass (default: all of core)")
    parser.add_argument("--args", nargs="*", default=[], metavar="ARG",
                        help="constructor arguments (Python literals)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--features", type=int, help="input width (default: the layer's input_size)")
    parser.add_argument("--mode", choices=["full", "fast"], default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rtol", type=float)
    parser.add_argument("--atol", type=float, default=0.0)
    parser.add_argument("--step", "--eps", type=float, dest="step",
                        help="relative finite-difference step (--eps is the old name)")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every report, not only failures")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be >= 1, got {args.batch}")

    checks = _user_check(args) if args.target else default_suite(args.mode, args.seed)
    results = []
    for label, run in checks:
        start = time.perf_counter()
        try:
            report, error = run(), None
        except Exception as exc:  # noqa: BLE001 - a layer that raises is a failed check, shown as such
            report, error = None, f"{type(exc).__name__}: {exc}"
        results.append((label, report, time.perf_counter() - start, error))

    ok = all(r is not None and r.ok for _, r, _, _ in results)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [{"label": label, "seconds": sec, "error": err,
                                                "report": r.to_dict() if r else None}
                                               for label, r, sec, err in results]}, indent=2))
        return 0 if ok else 1
    width = max(len(label) for label, *_ in results)
    print(f"{'check':<{width}} {'':<5} {'checked':>7} {'failed':>6} {'kinks':>5} {'max rel err':>11} {'seconds':>8}")
    for label, report, seconds, error in results:
        print(_summary_row(label, report, seconds, error, width))
    for label, report, _, _ in results:
        if report is not None and (args.verbose or not report.ok):
            print(f"\n{label}\n{report}")
    print(f"\n{'all checks passed' if ok else 'SOME CHECKS FAILED'} ({len(results)} checks, mode {args.mode})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
