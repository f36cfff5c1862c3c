"""gradcheck grade [--spec FILE] [--out DIR] SUBMISSION...: grade folders or zips of the course's layout.

Each test of each submission runs in isolation; DIR/<submission>/results.json (Gradescope's format) is written
as each submission ends and DIR/grades.csv at the end. A run started again skips what DIR already holds.
Exit status: 0 graded (whatever the scores), 2 a usage error (no submission, an unreadable spec).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gradcheck.grading import grade
from gradcheck.grading.spec import load_spec

__all__ = ["main"]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a folder or a zip per submission")
    parser.add_argument("--spec", help="the tests, a TOML file (default: the course's exercises 1-3)")
    parser.add_argument("--out", default="graded", help="where results go (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="submissions graded at once, in worker processes (default: %(default)s)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on the workers of this Dask scheduler (tcp://host:8786; the 'cluster' extra)")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return 2 if exc.code else 0
    try:
        spec = load_spec(args.spec)
    except (OSError, ValueError) as exc:
        print(f"gradcheck grade: cannot read the spec: {exc}", file=sys.stderr)
        return 2
    missing = [s for s in args.submissions if not Path(s).exists()]
    if missing:
        print(f"gradcheck grade: no such submission: {', '.join(missing)}", file=sys.stderr)
        return 2
    total = sum(t.points for t in spec.tests)
    if args.jobs < 1:
        print(f"gradcheck grade: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    for result in grade(args.submissions, spec, args.out, jobs=args.jobs, scheduler=args.scheduler,
                        progress=len(args.submissions) > 1):
        wrong = [t for t in result.tests if t.score < t.max_score]
        note = " (graded before)" if result.skipped else ""
        print(f"{result.name:<30} {result.score:>6g} / {total:g}{note}"
              + (f"  lost: {'; '.join(f'{t.name} ({t.status})' for t in wrong[:3])}" if wrong else ""))
    print(f"results in {args.out}/<submission>/results.json, all in {args.out}/grades.csv")
    return 0
