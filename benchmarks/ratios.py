"""Turn a ``--benchmark-json`` file into a table of medians and ratios to the baseline of each group.

    pytest benchmarks --benchmark-only --benchmark-json=bench.json
    python -m benchmarks.ratios bench.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

# the baseline contender of each group
BASELINES = ("bare-matmul", "numpy", "checks-100", "bare-im2col", "forwards-only", "torch-gradcheck", "check-layer")


def _contender(bench: dict) -> str:
    params = bench.get("params") or {}
    return str(params.get("contender") or params.get("mode") or params.get("dataset") or bench["name"])


def ratio_table(data: dict) -> list[str]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench["group"]].append(bench)
    lines = ["| group | contender | median | ratio to baseline, median / min |", "|---|---|---|---|"]
    for group in sorted(groups):
        members = groups[group]
        base = next((b for b in members if _contender(b) in BASELINES), None)
        for bench in sorted(members, key=lambda b: b["stats"]["median"]):
            median = bench["stats"]["median"]
            ratio = f"{median / base['stats']['median']:.2f}x / {bench['stats']['min'] / base['stats']['min']:.2f}x" \
                if base else ""
            lines.append(f"| {group} | {_contender(bench)} | {_format_seconds(median)} | {ratio} |")
    return lines


def _format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as fh:
        data = json.load(fh)
    machine = data.get("machine_info", {})
    print(f"machine: {machine.get('cpu', {}).get('brand_raw', '?')}, {machine.get('cpu', {}).get('count', '?')} "
          f"cores, python {machine.get('python_version', '?')}\n")
    print("\n".join(ratio_table(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
