"""What a grading run checks: a spec of tests read from TOML (the default: ``course.toml`` beside this file)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:         # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["TestSpec", "Spec", "load_spec", "DEFAULT_SPEC", "CHECKS", "VISIBILITIES"]

DEFAULT_SPEC = Path(__file__).with_name("course.toml")
CHECKS = ("gradient", "reference", "loss", "optimizer")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")     # Gradescope's


@dataclass
class TestSpec:
    """One test: ``cls`` from the submission's file ``module`` (``Layers/Conv.py``), built with ``args``,
    checked on an input of shape ``input``; a reference check holds it to ``reference`` (default: core's class
    of the same name, with the same arguments)."""

    name: str
    module: str
    cls: str
    input: list[int]
    check: str
    points: float
    args: list = field(default_factory=list)
    visibility: str = "visible"
    phase: str | None = None
    reference: str | None = None

    @property
    def import_name(self) -> str:
        """``Layers/Conv.py`` -> ``Layers.Conv``."""
        return ".".join(Path(self.module).with_suffix("").parts)


@dataclass
class Spec:
    tests: list[TestSpec]
    timeout: float = 60.0           # seconds per test
    memory_gib: float = 4.0         # address space per test beyond what it starts with
    output_bytes: int = 65536       # what a test may print


def _test(entry: dict, where: str) -> TestSpec:
    known = {"name", "module", "class", "args", "input", "check", "points", "visibility", "phase", "reference"}
    unknown = set(entry) - known
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    for key in ("name", "module", "class", "input", "check", "points"):
        if key not in entry:
            raise ValueError(f"{where}: missing {key!r}")
    test = TestSpec(name=str(entry["name"]), module=str(entry["module"]), cls=str(entry["class"]),
                    input=[int(v) for v in entry["input"]], check=str(entry["check"]), points=float(entry["points"]),
                    args=list(entry.get("args", [])), visibility=str(entry.get("visibility", "visible")),
                    phase=entry.get("phase"), reference=entry.get("reference"))
    if test.check not in CHECKS:
        raise ValueError(f"{where}: check must be one of {', '.join(CHECKS)}, got {test.check!r}")
    if test.visibility not in VISIBILITIES:
        raise ValueError(f"{where}: visibility must be one of {', '.join(VISIBILITIES)}, got {test.visibility!r}")
    if test.phase not in (None, "train", "test"):
        raise ValueError(f"{where}: phase must be 'train' or 'test', got {test.phase!r}")
    if not test.module.endswith(".py") or Path(test.module).is_absolute() or ".." in Path(test.module).parts:
        raise ValueError(f"{where}: module must be a .py path inside the submission, got {test.module!r}")
    return test


def load_spec(path: str | Path | None = None) -> Spec:
    """The spec in the TOML file ``path`` (default :data:`DEFAULT_SPEC`); ValueError naming what is wrong."""
    path = Path(path) if path is not None else DEFAULT_SPEC
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    tests = [_test(entry, f"{path}: test {i + 1}") for i, entry in enumerate(data.get("test", []))]
    if not tests:
        raise ValueError(f"{path}: no [[test]] entries")
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: test names must differ ({', '.join(n for n in names if names.count(n) > 1)})")
    return Spec(tests, timeout=float(data.get("timeout", 60.0)), memory_gib=float(data.get("memory_gib", 4.0)),
                output_bytes=int(data.get("output_bytes", 65536)))
