"""Mutation testing of the checker: single-token mutants of ``gradcheck/`` run against the checker's own tests.

    python benchmarks/mutants.py                                  # every mutant of the default files
    python benchmarks/mutants.py gradcheck/report.py --jobs 2     # one file
    python benchmarks/mutants.py --sample 40 --seed 0             # 40 mutants sampled evenly over the files

A mutant changes one token (an operator, a comparison, a number, ``and``/``or``, ``True``/``False``, a
``not`` removed) or deletes one simple statement, outside docstrings, comments and annotations. Each runs
the killer tests (the checker's zoo and law tests, ``-x``) in a copy of the working tree that holds the
mutant, in its own process group, stopped at ``--timeout`` seconds (a mutant that hangs is killed: that is a
detected change). The table says, per mutant: file, line, the mutation, and the test that killed it, or
``survived``. Survivors listed in ``benchmarks/equivalent_mutants.json`` (file, the line's code, the mutation,
and why no test can tell it from the original) are reported as ``equivalent`` and not counted against the
score. Not part of the default test run: a developer runs it on demand. Exit status 1 when the share killed
is below ``--require`` (of the mutants not listed as equivalent).
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = Path(__file__).with_name("equivalent_mutants.json")
FILES = ["gradcheck/numeric.py", "gradcheck/tensor_check.py", "gradcheck/check.py", "gradcheck/parameters.py",
         "gradcheck/report.py"]
KILLERS = ["tests/test_gradcheck_flags_broken_layers.py", "tests/test_gradcheck_passes_correct_layers.py",
           "tests/test_gradcheck_soundness.py", "tests/test_gradcheck_step_ladder.py",
           "tests/test_gradcheck_report.py", "tests/test_gradcheck_targets.py", "tests/test_gradcheck_laws.py"]
COPIED = ["gradcheck", "core", "tests", "conftest.py", "pyproject.toml"]

OPERATORS = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "/", "%": "*", "**": "*", "<": "<=", "<=": "<",
             ">": ">=", ">=": ">", "==": "!=", "!=": "==", "+=": "-=", "-=": "+=", "*=": "/=", "/=": "*=",
             "&": "|", "|": "&"}
NAMES = {"and": "or", "or": "and", "True": "False", "False": "True", "not": ""}


@dataclass
class Mutant:
    file: str
    line: int
    col: int
    code: str           # the original line, stripped
    mutation: str       # "'<' -> '<='", "0.5 -> 1.0", "statement deleted"
    source: str         # the whole mutated file
    result: str = ""    # the killing test, "timeout", "survived" or "equivalent"
    seconds: float = 0.0

    @property
    def key(self) -> tuple[str, str, str]:
        return self.file, self.code, self.mutation


def _annotation_spans(tree: ast.AST) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where annotations are (postponed by ``from __future__ import annotations``: mutating them changes
    nothing), and the ``__all__`` lists."""
    spans = []
    for node in ast.walk(tree):
        parts = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            parts.append(node.returns)
        if isinstance(node, ast.arg) and node.annotation is not None:
            parts.append(node.annotation)
        if isinstance(node, ast.AnnAssign):
            parts.append(node.annotation)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            parts.append(node)
        spans += [((p.lineno, p.col_offset), (p.end_lineno, p.end_col_offset)) for p in parts]
    return spans


def _inside(pos: tuple[int, int], spans) -> bool:
    return any(start <= pos < end for start, end in spans)


def _number(text: str) -> str | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int):
        return str(value + 1)
    return repr(value * 2) if value else "1.0"


def mutants_of(path: str) -> list[Mutant]:
    """Every single-token mutant and every simple-statement deletion of the file at ``path`` (relative to
    the repository) that still compiles."""
    text = (ROOT / path).read_text()
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    skip = _annotation_spans(tree)
    out: list[Mutant] = []

    def add(line: int, col: int, end_col: int, new: str, what: str) -> None:
        old = lines[line - 1]
        mutated_line = old[:col] + new + old[end_col:]
        source = "".join(lines[:line - 1] + [mutated_line] + lines[line:])
        try:
            compile(source, path, "exec")
        except SyntaxError:
            return
        out.append(Mutant(path, line, col, old.strip(), what, source))

    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        (line, col), (end_line, end_col) = tok.start, tok.end
        if line != end_line or _inside(tok.start, skip):
            continue
        if tok.type == tokenize.OP and tok.string in OPERATORS:
            add(line, col, end_col, OPERATORS[tok.string], f"{tok.string!r} -> {OPERATORS[tok.string]!r}")
        elif tok.type == tokenize.NAME and tok.string in NAMES:
            new = NAMES[tok.string]
            add(line, col, end_col + (1 if not new else 0), new, f"{tok.string!r} -> {new!r}" if new else
                "'not' removed")
        elif tok.type == tokenize.NUMBER:
            new = _number(tok.string)
            if new is not None:
                add(line, col, end_col, new, f"{tok.string} -> {new}")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) and node.lineno == node.end_lineno and \
                not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) and \
                not _inside((node.lineno, node.col_offset), skip):
            old = lines[node.lineno - 1]
            add(node.lineno, node.col_offset, len(old.rstrip("\n")), "pass", "statement deleted")
    return sorted(out, key=lambda m: (m.file, m.line, m.col, m.mutation))


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ")[0]
    return "a test (see its output)"


class Sandbox:
    """A copy of the working tree for one worker; a mutant is written into it, run, and put back."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gradcheck-mutants-"))
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, self.dir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, self.dir / name)

    def run(self, killers: list[str], timeout: float, mutant: Mutant | None = None) -> tuple[str, float]:
        target = self.dir / mutant.file if mutant else None
        original = target.read_text() if target else None
        if target:
            target.write_text(mutant.source)
        env = dict(os.environ, PYTHONPATH=str(self.dir), PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_PROFILE="ci")
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rfE",
                                 *killers], cwd=self.dir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout)
            result = "survived" if proc.returncode == 0 else _first_failure(output)
            if proc.returncode not in (0, 1):
                result = f"pytest exit {proc.returncode}: {_first_failure(output)}"
        except subprocess.TimeoutExpired:
            result = "timeout"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)     # the mutant's whole process group, on every path
            except ProcessLookupError:
                pass
            proc.wait()
            if target:
                target.write_text(original)
        return result, time.perf_counter() - start

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _equivalents() -> dict[tuple[str, str, str], str]:
    if not EQUIVALENT.exists():
        return {}
    return {(e["file"], e["code"], e["mutation"]): e["reason"] for e in json.loads(EQUIVALENT.read_text())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=FILES)
    parser.add_argument("--killers", nargs="+", default=KILLERS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant (default %(default)s)")
    parser.add_argument("--sample", type=int, help="run this many mutants, sampled evenly")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--require", type=float, default=0.0, help="share killed below which the exit status is 1")
    args = parser.parse_args(argv)
    killers = [k for k in args.killers if (ROOT / k).exists()]
    mutants = [m for f in args.files for m in mutants_of(f)]
    if args.sample is not None and args.sample < len(mutants):
        rng = random.Random(args.seed)
        stride = len(mutants) / args.sample
        mutants = [mutants[int(i * stride + rng.random() * stride)] for i in range(args.sample)]
    print(f"{len(mutants)} mutants of {', '.join(args.files)}; killers: {' '.join(killers)}", flush=True)
    sandboxes = [Sandbox() for _ in range(max(1, args.jobs))]
    free, lock = list(sandboxes), threading.Lock()
    try:
        baseline, seconds = sandboxes[0].run(killers, args.timeout)
        if baseline != "survived":
            print(f"the killer tests fail without a mutant ({baseline}): fix that first", file=sys.stderr)
            return 2
        print(f"baseline: the killers pass in {seconds:.0f} s", flush=True)
        known = _equivalents()

        def one(m: Mutant) -> Mutant:
            with lock:
                box = free.pop()
            try:
                m.result, m.seconds = box.run(killers, args.timeout, m)
            finally:
                with lock:
                    free.append(box)
            if m.result == "survived" and m.key in known:
                m.result = "equivalent"
            print(f"{m.file}:{m.line}  {m.mutation:<28}  {m.result}  ({m.seconds:.0f} s)", flush=True)
            return m

        with ThreadPoolExecutor(len(sandboxes)) as pool:
            done = list(pool.map(one, mutants))
    finally:
        for box in sandboxes:
            box.remove()
    _table(done, known)
    if args.out:
        args.out.write_text(json.dumps([{k: v for k, v in asdict(m).items() if k != "source"} for m in done],
                                       indent=1))
    counted = [m for m in done if m.result != "equivalent"]
    killed = sum(m.result != "survived" for m in counted)
    share = killed / len(counted) if counted else 1.0
    return 1 if share < args.require else 0


def _table(done: list[Mutant], known: dict) -> None:
    print("\n| file | line | mutation | code | result |\n|---|---|---|---|---|")
    for m in done:
        result = m.result if m.result != "equivalent" else f"equivalent: {known[m.key]}"
        print(f"| {m.file} | {m.line} | {m.mutation} | `{m.code[:60]}` | {result} |")
    counted = [m for m in done if m.result != "equivalent"]
    killed = sum(m.result != "survived" for m in counted)
    print(f"\n{killed} of {len(counted)} killed ({100 * killed / max(len(counted), 1):.0f} %), "
          f"{len(done) - len(counted)} listed as equivalent, {len(counted) - killed} survived")


if __name__ == "__main__":
    sys.exit(main())
