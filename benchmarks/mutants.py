"""Mutation testing of the checker: single-token mutants of ``gradcheck/`` run against the checker's own tests.

    python benchmarks/mutants.py                                  # every mutant of the default files
    python benchmarks/mutants.py gradcheck/report.py --jobs 2     # one file
    python benchmarks/mutants.py gradcheck/check.py:132,225       # the mutants of two lines of it
    python benchmarks/mutants.py --sample 40 --seed 0             # 40 mutants sampled evenly over the files
    python benchmarks/mutants.py --out m.json && python benchmarks/mutants.py --rerun m.json   # survivors again

A mutant changes one token (an operator, a comparison, a number, ``and``/``or``, ``True``/``False``, a
``not`` removed) or deletes one simple statement, outside docstrings, comments and annotations. A baseline run
of the killer tests (the checker's zoo and law tests) records which lines of the mutated files each test runs;
each mutant then runs, with ``-x``, the tests that run its statement, fastest first (a mutant on a line no test
runs, a module constant or a default value, runs them all). Each run happens in a copy of the working tree that
holds the mutant, in a process forked from a worker that has numpy, scipy, hypothesis and pytest imported, in
its own process group, stopped at its time limit (a mutant that hangs is killed: that is a detected change).
``--confirm`` runs every survivor once more against all the killers.

The table says, per mutant: file, line, the mutation, and the test that killed it, or ``survived``. Survivors
listed in ``benchmarks/equivalent_mutants.json`` (file, the line's code, the mutation, where on the line, a kind and
the reason) are reported by their kind: ``equivalent`` (no test can tell it from the original, with the argument),
``boundary`` (a float comparison whose two sides are equal only to the last bit), ``margin`` (a constant inside a
safety margin: no verdict of the suite, nor of ``benchmarks/mutant_battery.py``, changes), ``stricter`` (it
decides more than the original and called no right layer wrong), ``open`` (its verdicts differ only where no law
is known yet). Only ``equivalent`` ones leave the score: the others count as not killed.
Not part of the default test run: a developer runs it on demand. Exit status 1 when the share killed is below
``--require`` (of the mutants not listed as equivalent).
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
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = Path(__file__).with_name("equivalent_mutants.json")
FILES = ["gradcheck/numeric.py", "gradcheck/tensor_check.py", "gradcheck/check.py", "gradcheck/parameters.py",
         "gradcheck/report.py", "gradcheck/reference.py", "gradcheck/carry.py"]
KILLERS = ["tests/test_gradcheck_laws.py", "tests/test_gradcheck_edge_laws.py",
           "tests/test_gradcheck_moved_parameters.py",
           "tests/test_gradcheck_flags_broken_layers.py",
           "tests/test_gradcheck_passes_correct_layers.py", "tests/test_gradcheck_soundness.py",
           "tests/test_gradcheck_step_ladder.py", "tests/test_gradcheck_report.py",
           "tests/test_gradcheck_targets.py", "tests/test_gradcheck_state.py", "tests/test_gradcheck_any_layer.py",
           "tests/test_gradcheck_pictures.py", "tests/test_gradcheck_parallel.py", "tests/test_gradcheck_torch.py",
           "tests/test_gradcheck_cli.py", "tests/test_gradcheck_reference.py", "tests/test_core_against_torch.py"]
COPIED = ["gradcheck", "core", "tests", "properties", "conftest.py", "pyproject.toml"]

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
    at: int             # where on the stripped line the mutated token starts
    span: tuple[int, int]   # the lines of the statement that holds it
    nth: int            # how many lines above it in the file read the same (0: the first such line)
    source: str         # the whole mutated file
    result: str = ""    # the killing test, "timeout", "survived" or the kind it is listed as (KINDS)
    seconds: float = 0.0
    tests: int = 0      # how many tests it was run against

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        """What names the mutant across edits elsewhere in the file (line numbers move)."""
        return self.file, self.code, self.mutation, self.at, self.nth


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


def _statement_spans(tree: ast.AST) -> dict[int, tuple[int, int]]:
    """For each line, the lines of the innermost statement that holds it (of a compound statement, its header):
    a test that runs any of them runs a mutant on that line, whichever of them the tracer reports."""
    spans: dict[int, tuple[int, int]] = {}
    for node in ast.walk(tree):                      # breadth first: inner statements overwrite outer ones
        if isinstance(node, ast.stmt):
            body = getattr(node, "body", None)
            end = body[0].lineno - 1 if isinstance(body, list) and body else node.end_lineno
            end = max(end, node.lineno)
            for line in range(node.lineno, end + 1):
                spans[line] = (node.lineno, end)
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
    statements = _statement_spans(tree)
    out: list[Mutant] = []

    def add(line: int, col: int, end_col: int, new: str, what: str) -> None:
        old = lines[line - 1]
        mutated_line = old[:col] + new + old[end_col:]
        source = "".join(lines[:line - 1] + [mutated_line] + lines[line:])
        try:
            compile(source, path, "exec")
        except SyntaxError:
            return
        indent = len(old) - len(old.lstrip())
        nth = sum(earlier.strip() == old.strip() for earlier in lines[:line - 1])
        out.append(Mutant(path, line, col, old.strip(), what, col - indent, statements.get(line, (line, line)),
                          nth, source))

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


# --- the worker: a process with the heavy imports done, which forks one child per run ---------------------

class _Recorder:
    """A pytest plugin for the child: the first test that fails and, when tracing, the lines of ``files``
    each test runs (in the main thread and in threads it starts)."""

    def __init__(self, files: set[str] | None) -> None:
        self.files, self.failed, self.coverage = files, None, {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.failed and self.failed is None:
            self.failed = report.nodeid

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.files is None:
            yield
            return
        lines: set[tuple[str, int]] = set()

        def local(frame, event, arg):
            if event == "line":
                lines.add((frame.f_code.co_filename, frame.f_lineno))
            return local

        def call(frame, event, arg):
            if frame.f_code.co_filename in self.files:
                lines.add((frame.f_code.co_filename, frame.f_lineno))
                return local
            return None

        start = time.perf_counter()
        sys.settrace(call)
        threading.settrace(call)
        try:
            yield                   # setup, call and teardown of the test, traced
        finally:
            sys.settrace(None)
            threading.settrace(None)
        by_file: dict[str, list[int]] = {}
        for name, line in lines:
            by_file.setdefault(os.path.relpath(name), []).append(line)
        self.coverage[item.nodeid] = {"seconds": time.perf_counter() - start, "lines": by_file}


def _child(request: dict, result_path: str) -> None:
    files = {os.path.abspath(f) for f in FILES} if request["trace"] else None
    recorder = _Recorder(files)
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", *([] if request["trace"] else ["-x"]),
            *request["tests"]]
    try:
        code, failed = int(pytest.main(args, plugins=[recorder])), recorder.failed
    except BaseException as exc:            # an import error the mutant causes, seen before any test
        code, failed = 3, f"pytest raised {type(exc).__name__}: {str(exc)[:160]}"
    Path(result_path).write_text(json.dumps({"code": code, "failed": failed, "coverage": recorder.coverage}))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def serve() -> None:
    """The worker's loop: a request per line on stdin (the mutated file's path and source, the tests, the time
    limit), a forked child runs it in its own process group, which is killed once the run ends or its time is
    up; the file is put back and the answer written as a line on stdout."""
    import hypothesis  # noqa: F401  the heavy imports, done once for every child
    import numpy  # noqa: F401
    import scipy.stats  # noqa: F401
    running = {"pid": 0}

    def stop(signum, frame):
        if running["pid"]:
            _kill_group(running["pid"])
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    parent = os.getppid()
    out = sys.stdout
    for raw in sys.stdin:
        request = json.loads(raw)
        target = Path(request["file"]) if request["file"] else None
        original = target.read_text() if target else None
        result_path = os.path.abspath(".mutant-result.json")     # in the worker's own copy of the tree
        start = time.perf_counter()
        try:
            if target:
                target.write_text(request["source"])
            pid = os.fork()
            if pid == 0:                                    # the child: its own group, output to a log
                try:
                    os.setpgid(0, 0)
                    log = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(log, 1)
                    os.dup2(log, 2)
                    _child(request, result_path)
                    os._exit(0)
                except BaseException:
                    os._exit(3)
            running["pid"] = pid
            try:
                os.setpgid(pid, pid)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = start + request["timeout"]
            status = None
            while status is None:
                done, raw_status = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = raw_status
                elif time.perf_counter() > deadline or os.getppid() != parent:
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    status = -1
                else:
                    time.sleep(0.02)
            _kill_group(pid)                                # whatever the run started, on every path
            running["pid"] = 0
            if status == -1:
                answer = {"result": "timeout"}
            elif os.path.exists(result_path):
                answer = json.loads(Path(result_path).read_text())
            else:
                answer = {"result": f"the run crashed (status {status})"}
        finally:
            if target:
                target.write_text(original)
            if os.path.exists(result_path):
                os.remove(result_path)
        answer["seconds"] = time.perf_counter() - start
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if os.getppid() != parent:
            break


class Worker:
    """A copy of the working tree and a serving process inside it."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gradcheck-mutants-"))
        for name in COPIED:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, self.dir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, self.dir / name)
        env = dict(os.environ, PYTHONPATH=str(self.dir), PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_PROFILE="ci")
        # each run is a test run of its own: the root conftest ends every process that carries its run's id
        # when that run ends, and an id inherited from a test run outside would make this worker one of them
        env.pop("GRADCHECK_TEST_RUN", None)
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve"], cwd=self.dir,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     start_new_session=True)

    def run(self, tests: list[str], timeout: float, mutant: Mutant | None = None, trace: bool = False) -> dict:
        request = {"file": str(self.dir / mutant.file) if mutant else None,
                   "source": mutant.source if mutant else None, "tests": tests, "timeout": timeout, "trace": trace}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the worker ended")
        answer = json.loads(line)
        if "result" not in answer:
            answer["result"] = "survived" if answer["code"] == 0 else (
                answer["failed"] or f"pytest exit {answer['code']}")
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()                       # the worker kills its running child's group
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(self.proc.pid)
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


KINDS = ("equivalent", "boundary", "margin", "stricter", "open")


def _equivalents() -> dict[tuple[str, str, str, int, int], tuple[str, str]]:
    """Listed survivors: (kind, reason) by mutant key."""
    if not EQUIVALENT.exists():
        return {}
    return {(e["file"], e["code"], e["mutation"], e["at"], e.get("nth", 0)): (e.get("kind", "equivalent"), e["reason"])
            for e in json.loads(EQUIVALENT.read_text())}


def _tests_for(m: Mutant, coverage: dict, everything: list[str]) -> list[str]:
    """The tests that run the mutant's statement, fastest first; all of them when no test does."""
    lines = set(range(m.span[0], m.span[1] + 1))
    hits = [(c["seconds"], node) for node, c in coverage.items() if lines & set(c["lines"].get(m.file, ()))]
    return [node for _, node in sorted(hits)] or everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=FILES, help="FILE or FILE:LINE,LINE,... (those lines only)")
    parser.add_argument("--killers", nargs="+", default=KILLERS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 60 + 5x its tests' baseline)")
    parser.add_argument("--sample", type=int, help="run this many mutants, sampled evenly")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rerun", type=Path, help="run only the mutants an earlier --out file has as survived")
    parser.add_argument("--confirm", action="store_true", help="run each survivor again against all the killers")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--require", type=float, default=0.0, help="share killed below which the exit status is 1")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    killers = [k for k in args.killers if (ROOT / k).exists()]
    mutants = []
    for spec in args.files:
        path, _, lines = spec.partition(":")
        wanted = {int(n) for n in lines.split(",")} if lines else None
        mutants += [m for m in mutants_of(path) if wanted is None or m.line in wanted]
    if args.sample is not None and args.sample < len(mutants):
        rng = random.Random(args.seed)
        stride = len(mutants) / args.sample
        mutants = [mutants[int(i * stride + rng.random() * stride)] for i in range(args.sample)]
    if args.rerun:
        earlier = {(e["file"], e["code"], e["mutation"], e["at"], e.get("nth", 0))
                   for e in json.loads(args.rerun.read_text()) if e["result"] in ("survived",) + KINDS}
        mutants = [m for m in mutants if m.key in earlier]
    print(f"{len(mutants)} mutants of {', '.join(args.files)}; killers: {' '.join(killers)}", flush=True)
    known = _equivalents()
    for signum in (signal.SIGTERM, signal.SIGHUP):      # so that the workers are stopped on these too
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))
    workers = [Worker() for _ in range(max(1, args.jobs))]
    print("workers: " + " ".join(f"{w.proc.pid}:{w.dir}" for w in workers), flush=True)
    free, lock = list(workers), threading.Lock()
    pool = ThreadPoolExecutor(len(workers))
    done: list[Mutant] = []
    try:
        baseline = workers[0].run(killers, args.timeout or 3600.0, trace=True)
        if baseline["result"] != "survived":
            print(f"the killer tests fail without a mutant ({baseline['result']}): fix that first", file=sys.stderr)
            return 2
        coverage = baseline["coverage"]
        print(f"baseline: {len(coverage)} killer tests pass in {baseline['seconds']:.0f} s (traced)", flush=True)
        seconds = {node: c["seconds"] for node, c in coverage.items()}

        def one(m: Mutant) -> Mutant:
            tests = _tests_for(m, coverage, killers)
            limit = args.timeout or 60.0 + 5 * sum(seconds.get(t, 30.0) for t in tests)
            with lock:
                worker = free.pop()
            try:
                answer = worker.run(tests, limit, m)
                if answer["result"] == "survived" and args.confirm and tests is not killers:
                    tests = killers
                    answer = worker.run(killers, args.timeout or 60.0 + 5 * sum(seconds.values()), m)
            finally:
                with lock:
                    free.append(worker)
            m.result, m.seconds, m.tests = answer["result"], answer["seconds"], len(tests)
            if m.result == "survived" and m.key in known:
                m.result = known[m.key][0]
            print(f"{m.file}:{m.line}  {m.mutation:<28}  {m.result}  ({m.seconds:.1f} s, {m.tests} tests)",
                  flush=True)
            return m

        random.Random(args.seed).shuffle(mutants)       # so that a run stopped early is an even sample
        for future in as_completed([pool.submit(one, m) for m in mutants]):
            done.append(future.result())
            if args.out:                                 # what is done is kept, even if the run is stopped
                _write(args.out, done)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.stop()
    done.sort(key=lambda m: (m.file, m.line, m.col, m.mutation))
    _table(done, known)
    if args.out:
        _write(args.out, done)
    return 1 if _score(done) < args.require else 0


def _write(path: Path, done: list[Mutant]) -> None:
    path.write_text(json.dumps([{k: v for k, v in asdict(m).items() if k != "source"} for m in done], indent=1))


def _killed(m: Mutant) -> bool:
    return m.result not in ("survived",) + KINDS


def _score(done: list[Mutant]) -> float:
    """The share killed of the mutants not listed as equivalent."""
    counted = [m for m in done if m.result != "equivalent"]
    return sum(map(_killed, counted)) / len(counted) if counted else 1.0


def _table(done: list[Mutant], known: dict) -> None:
    print("\n| file | line | mutation | code | result |\n|---|---|---|---|---|")
    for m in done:
        result = f"{m.result}: {known[m.key][1]}" if m.result in KINDS else m.result
        print(f"| {m.file} | {m.line} | {m.mutation} | `{m.code[:60]}` | {result} |")
    killed = sum(map(_killed, done))
    kinds = ", ".join(f"{sum(m.result == k for m in done)} {k}" for k in KINDS)
    print(f"\n{killed} of {len(done)} killed ({100 * killed / max(len(done), 1):.0f} %); listed: {kinds}; "
          f"{sum(m.result == 'survived' for m in done)} survived; score (killed of those not equivalent) "
          f"{100 * _score(done):.0f} %")


if __name__ == "__main__":
    sys.exit(main())
