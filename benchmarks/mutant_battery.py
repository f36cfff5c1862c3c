"""A differential battery for the mutants no test kills: many small layers run on the checker and on a mutant of it,
and every verdict that differs.

    python benchmarks/mutant_battery.py --survivors m.json             # each survivor of a mutants.py --out file
    python benchmarks/mutant_battery.py --survivors m.json --cases 0-99

A case is an elementwise layer ``y = f(x * w)``: f one of eight functions (smooth, kinked, odd, fast), its output
kept as computed, rounded to float32 or float16, or to a grid of 1e-9 or 1e-6 (forwards that lose digits), or with
run-to-run noise, or computed in float32; inputs of several sizes, some at or near 0; the input gradient right or
wrong by 1e-4 to 0.5 in one element (the weight gradient is always right). A verdict here is per tensor: checked,
failed, not checked and kink counts. Where a survivor changes none, the suite's verdicts and these agree that the
mutation is inside a margin; where it changes some, the lines say which, with "a right tensor called wrong more
often" and "a wrong element found less often" counted apart: either is a law a new test can state.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

FUNCTIONS = {
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sin3": (lambda z: np.sin(3 * z), lambda z: 3 * np.cos(3 * z)),
    "exp": (np.exp, np.exp),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "abs": (np.abs, np.sign),
    "cube": (lambda z: z ** 3, lambda z: 3 * z ** 2),
    "square": (lambda z: z * z, lambda z: 2 * z),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z: 1 / (1 + np.exp(-z))),
}


class Elementwise:
    """``f(x * w)`` per element with a weight per feature; ``keep`` what forward returns (None, "f32", "f16" or a
    grid step), ``noise`` a relative run-to-run noise, ``error`` on one input-gradient element."""

    def __init__(self, f: str, keep=None, error: float = 0.0, noise: float = 0.0, dtype=np.float64,
                 seed: int = 0) -> None:
        self.f, self.df = FUNCTIONS[f]
        self.keep, self.error, self.noise, self.dtype = keep, error, noise, dtype
        self.weights = (1 + 0.3 * np.random.default_rng(seed).standard_normal(4)).astype(dtype)
        self.rng = np.random.default_rng(seed + 1)

    def forward(self, x):
        self.x = x
        y = self.f((x * self.weights).astype(self.dtype))
        if self.keep in ("f32", "f16"):
            y = y.astype(np.float32 if self.keep == "f32" else np.float16).astype(self.dtype)
        elif self.keep is not None:
            y = np.round(y / self.keep) * self.keep
        if self.noise:
            y = y * (1 + self.noise * self.rng.uniform(-1, 1, y.shape))
        return y.astype(self.dtype)

    def backward(self, e):
        d = self.df(self.x * self.weights) * e
        self.gradient_weights = (d * self.x).sum(axis=0).astype(self.dtype)
        grad = d * self.weights
        grad.flat[1] *= 1 + self.error
        return grad.astype(self.dtype)


def inputs(kind: str, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((3, 4))
    if kind == "nearzero":
        x.flat[::3] = np.random.default_rng(seed).choice([1e-9, -1e-9, 3e-7, -2e-6, 1e-5], 4)
    elif kind == "zeros":
        x.flat[::4] = 0.0
    return x * {"normal": 1.0, "small": 1e-3, "big": 1e3}.get(kind, 1.0)


def cases() -> list[tuple]:
    """(function, kept, input kind, error, noise, dtype), in a fixed order."""
    out = []
    for f in FUNCTIONS:
        for keep in (None, "f32", "f16", 1e-9, 1e-6):
            for kind in ("normal", "small", "big", "nearzero", "zeros"):
                out += [(f, keep, kind, err, 0.0, "f64") for err in (0.0, 1e-4, 1e-2, 0.5)
                        if not (f == "exp" and kind == "big")]
    for f in ("tanh", "sin3", "relu", "cube"):
        for noise in (1e-15, 1e-12, 1e-9):
            for kind in ("normal", "small", "nearzero"):
                out += [(f, None, kind, err, noise, "f64") for err in (0.0, 1e-3, 1e-1)]
    for f in ("tanh", "sin3", "relu", "exp", "square", "softplus"):
        for kind in ("normal", "small", "nearzero", "zeros"):
            out += [(f, None, kind, err, 0.0, "f32") for err in (0.0, 1e-3, 1e-1)]
    return out


def verdicts(which: list[int]) -> dict[int, list]:
    """Per case: [ok, (tensor, checked, failed, not checked, kinks)..., problems] (or the exception raised)."""
    from gradcheck import check_layer

    all_cases, out = cases(), {}
    for i in which:
        f, keep, kind, err, noise, dtype = all_cases[i]
        dt = np.float32 if dtype == "f32" else np.float64
        layer = Elementwise(f, keep, err, noise, dt, seed=i % 7)
        try:
            with np.errstate(all="ignore"):
                r = check_layer(layer, inputs(kind, i % 5).astype(dt))
            out[i] = [r.ok] + [[t.name, t.checked, t.failed, t.skipped_count, t.kinks] for t in r.tensors] + \
                [len(r.problems)]
        except Exception as exc:  # noqa: BLE001 - a crash is a verdict too
            out[i] = ["raised", type(exc).__name__]
    return out


def _run(tree: Path, which: list[int]) -> dict[int, list]:
    """The battery in a child process with ``tree`` first on the path (a copy that holds a mutant)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("GRADCHECK_TEST_RUN", None)
    code = f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import mutant_battery as b; " \
           f"print(json.dumps(b.verdicts({which!r})))"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, timeout=3600,
                          start_new_session=True)
    if done.returncode:
        raise RuntimeError(f"the battery failed in {tree}: {done.stderr[-2000:]}")
    return {int(k): v for k, v in json.loads(done.stdout).items()}


def _tensor(signature: list, name: str) -> list:
    return next((t for t in signature[1:-1] if isinstance(t, list) and t[0] == name), [name, 0, 0, 0, 0])


def compare(original: dict[int, list], mutant: dict[int, list]) -> dict[str, list[int]]:
    """Cases whose verdict differs; of them, where a right tensor (the weights, or an input without an error)
    has more failed elements or a right layer's pass became a fail, and where a wrong input has fewer failed
    elements without more not checked."""
    all_cases = cases()
    differ = [i for i in original if mutant.get(i) != original[i]]
    worse, missed = [], []
    for i in differ:
        a, b, err = original[i], mutant[i], all_cases[i][3]
        if "raised" in (a[0], b[0]):
            worse.append(i)
            continue
        if _tensor(b, "weights")[2] > _tensor(a, "weights")[2] or err == 0 and (
                _tensor(b, "input")[2] > _tensor(a, "input")[2] or a[0] is True and b[0] is not True):
            worse.append(i)
        if err >= 1e-2 and 0 < _tensor(a, "input")[2] and _tensor(b, "input")[2] < _tensor(a, "input")[2] and \
                _tensor(b, "input")[3] <= _tensor(a, "input")[3]:
            missed.append(i)
    return {"differ": differ, "right called wrong": worse, "wrong found less": missed}


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mutants import mutants_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--survivors", type=Path, required=True, help="a mutants.py --out file")
    parser.add_argument("--cases", default=None, help="a range of case numbers (a-b), default all")
    args = parser.parse_args(argv)
    total = len(cases())
    lo, hi = (int(v) for v in args.cases.split("-")) if args.cases else (0, total - 1)
    which = list(range(lo, min(hi, total - 1) + 1))
    wanted = [e for e in json.loads(args.survivors.read_text()) if e["result"] in ("survived", "equivalent")]
    original = _run(ROOT, which)
    print(f"{len(which)} cases; {len(wanted)} survivors", flush=True)
    by_file: dict[str, dict] = {}
    for e in wanted:
        if e["file"] not in by_file:
            by_file[e["file"]] = {m.key: m for m in mutants_of(e["file"])}
        m = by_file[e["file"]].get((e["file"], e["code"], e["mutation"], e["at"], e.get("nth", 0)))
        if m is None:
            print(f"{e['file']}:{e['line']}  {e['mutation']}: not in the current source", flush=True)
            continue
        with tempfile.TemporaryDirectory(prefix="gradcheck-battery-") as tree:
            shutil.copytree(ROOT / "gradcheck", Path(tree) / "gradcheck")
            (Path(tree) / m.file).write_text(m.source)
            found = compare(original, _run(Path(tree), which))
        print(f"{m.file}:{m.line}  {m.mutation:<24}  {len(found['differ'])} verdicts differ; right called wrong "
              f"more often: {found['right called wrong'][:5]}; wrong found less: {found['wrong found less'][:5]}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
