"""gradcheck: check every layer of core, or layers of your own, and print what is wrong.

  gradcheck                                        core's layers, losses and networks
  gradcheck mypkg.layers:Tanh --features 5         your layer, batch 8 of width 5
  gradcheck mypkg.layers:Conv --args "(1, 1)" "(3, 3, 3)" 4 --shape 2,3,8,8
  gradcheck mypkg.layers:Dropout --args 0.5 --reseed 0 --features 5
  gradcheck mypkg.layers:RNN --args 3 4 2 --set memorize=False --shape 6,3
  gradcheck mypkg.layers --features 5              every layer class there that builds without arguments
  gradcheck mypkg.layers:Conv --args ... --shape 4,3,8,8 --fuzz 200
                                                   search batches 1-4 and input values for a failure
  gradcheck mypkg.layers:Conv --args 1 "(3, 4)" 2 --shape 2,3,9 --reference core:Conv
                                                   forward and backward held to core's Conv (same --args)
  gradcheck mypkg:Linear --args 5 3 --reference torch.nn:Linear   ... or to a torch module

  gradcheck grade --out graded submissions/*      grade a course's submissions (gradcheck grade --help)

Exit status: 0 all checks passed, 1 a check failed, 2 a usage error or a target that cannot be imported or built,
130 stopped by Ctrl-C (SIGINT), 143 stopped by SIGTERM, 141 its output closed (gradcheck | head).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import math
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gradcheck.check import _is_loss, check_layer, check_loss
from gradcheck.frameworks import framework_of
from gradcheck.fuzz import FuzzResult, fuzz_layer, fuzz_loss, index_builder, layer_builder, loss_builder
from gradcheck.parallel import default_jobs
from gradcheck.prepare import validate_settings
from gradcheck.report import GradcheckReport
from gradcheck.state import is_layer
from gradcheck.suite import default_suite
from gradcheck.supervisor import (
    CheckTimedOut,
    ChildRaised,
    Stopped,
    end_all,
    run_here_limited,
    run_limited,
    stopping_signals,
)

__all__ = ["main", "default_suite"]

DEFAULT_TIMEOUT = 600.0     # seconds a check of the command may take

_TARGET = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")


class UsageError(Exception):
    """A usage error or a target that cannot be imported or built: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:     # raise instead of exiting, so --json can still answer
        raise UsageError(message)


@dataclass
class _Check:
    label: str
    run: Callable[[], GradcheckReport | FuzzResult]
    report: GradcheckReport | None = None
    fuzz: FuzzResult | None = None
    error: str | None = None
    trace: str | None = None
    seconds: float = 0.0
    in_process: bool = False        # JAX: a forked child would deadlock in its multithreaded runtime


@dataclass
class _Plan:
    checks: list[_Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ arguments

def _parser() -> _Parser:
    parser = _Parser(prog="gradcheck", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="package.module:LayerClass, or package.module for every layer "
                                                  "class in it (default: all of core's layers)")
    parser.add_argument("--args", nargs="*", default=[], metavar="ARG",
                        help="constructor arguments, each a Python literal (quote strings: \"'relu'\"; "
                             "default: none)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="assignments",
                        help="set an attribute after the layer is built, VALUE a Python literal; repeatable "
                             "(--set testing_phase=True --set memorize=False)")
    parser.add_argument("--batch", type=int, default=8,
                        help="batch size of a (batch, features) input (default: %(default)s)")
    parser.add_argument("--features", type=int, help="input width (default: the layer's input_size)")
    parser.add_argument("--shape", nargs="+", metavar="B,D1,...",
                        help="the whole input shape B,D1,D2,... for inputs of any rank (default: (batch, "
                             "features)); a torch or JAX function of several inputs takes one shape each")
    parser.add_argument("--framework", choices=["numpy", "torch", "jax"],
                        help="what the target is written in (default: told from the target: a torch Module or "
                             "autograd.Function, a JAX custom_vjp, or the framework its module imports)")
    parser.add_argument("--reseed", type=int, metavar="N",
                        help="np.random.seed(N) before every forward (default: off)")
    parser.add_argument("--mode", choices=["full", "fast"], default="full",
                        help="full: every element; fast: sparse random directions (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the input, the upstream error and directions (default: %(default)s)")
    parser.add_argument("--rtol", type=float, help="relative tolerance (default 1e-6, in every precision)")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default: %(default)s)")
    parser.add_argument("--step", "--eps", type=float, dest="step",
                        help="relative finite-difference step (default cbrt(machine eps)); --eps is the old name")
    parser.add_argument("--fuzz", nargs="?", const=100, type=int, metavar="N",
                        help="search N inputs (default N: 100): batch from 1 up to --batch (or the first --shape "
                             "dimension), values with zeros, ties, tiny and large magnitudes; the simplest "
                             "failing input is shown")
    parser.add_argument("--order", type=int, choices=[1, 2], default=1,
                        help="torch and JAX targets: 2 also checks the derivatives of the VJP (a double backward) "
                             "(default: %(default)s)")
    parser.add_argument("--modes", default="rev", metavar="rev,fwd",
                        help="torch and JAX targets: rev (backward), fwd (forward mode, a jvp), or both, "
                             "comma-separated (default: %(default)s)")
    parser.add_argument("--batched", action="store_true",
                        help="torch and JAX targets: also vmap of the function and of its VJP against the "
                             "per-sample calls (a custom vmap rule)")
    parser.add_argument("--complex", action="store_true",
                        help="torch and JAX targets: complex128 inputs of the --shape values (checked in their real "
                             "and imaginary parts)")
    parser.add_argument("--reference", metavar="TARGET",
                        help="hold the layer to a reference instead of checking its gradient: package.module:Class "
                             "(a layer, or a torch nn.Module), built with --reference-args; output, input gradient "
                             "and parameter gradients are compared, the layer's parameters carried over")
    parser.add_argument("--reference-args", nargs="*", metavar="ARG",
                        help="the reference's constructor arguments (default: the same as --args)")
    parser.add_argument("--phase", choices=["train", "test"],
                        help="with --reference: the phase both run in (testing_phase, or a torch module's "
                             "train()/eval()); default: as they are built")
    parser.add_argument("--mapping", metavar="MODULE:FUNCTION",
                        help="with --reference: mapping(params) -> the reference's tensors by name, where the "
                             "automatic carry-over cannot find them")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="worker processes for long full checks (default: the number of cores; 1: none)")
    parser.add_argument("--progress", action="store_true", default=None,
                        help="show the expected cost and progress on stderr (default: only on a terminal, for checks "
                             "expected to take more than about 2 s)")
    parser.add_argument("--indices", type=int, metavar="V",
                        help="integer inputs: indices drawn uniformly from 0..V-1 in the --shape (an embedding's "
                             "vocabulary size); they are never perturbed")
    parser.add_argument("--parameters", metavar="PATHS",
                        help="the parameters to check, comma-separated paths (weights,fc_y.weights,params.W); "
                             "!path excludes (!fc_y); an empty string: the layer has none (default: every one found)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="stop a check that takes longer and report it failed, with the method and line the "
                             "layer was in; the run goes on with the next check (default: %(default)g; 0: no "
                             "limit). Each check runs in a child process of its own")
    parser.add_argument("--max-memory", type=float, metavar="GIB",
                        help="cap the memory of each check: its process may take this much more address space "
                             "than it starts with; a forward that asks for more ends that check, naming the cap and "
                             "the layer's line, and the run goes on. A check estimated larger is refused before it "
                             "starts (default: half the available memory)")
    parser.add_argument("--max-seconds", type=float, metavar="SECONDS",
                        help="refuse a check whose estimate (from one timed forward) is longer (default: no limit)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run full passes on the workers of this Dask scheduler (tcp://host:8786; needs the "
                             "'cluster' extra)")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON")
    parser.add_argument("--html", metavar="FILE",
                        help="also write one self-contained HTML page of every check, failures first, with a "
                             "picture of every tensor (the pictures need the 'plot' extra: matplotlib)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every report, and the traceback of a layer that raised")
    return parser


def _literal(text: str, what: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UsageError(f"{what}: {text!r} is not a Python literal (quote strings, e.g. \"'relu'\")") from None


_NUMBER_OPTIONS = ("--step", "--eps", "--rtol", "--atol", "--seed", "--reseed", "--batch", "--features", "--jobs",
                   "--fuzz", "--indices", "--timeout", "--max-seconds", "--max-memory")
_NEGATIVE = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)


def _joined_negatives(argv: Sequence[str]) -> list[str]:
    """``--step -1e-3`` as ``--step=-1e-3``: argparse takes a value like -1e-3 for an option and says
    "expected one argument"; joined, the value reaches the check that names what is wrong with it."""
    out: list[str] = []
    for item in argv:
        if out and out[-1] in _NUMBER_OPTIONS and _NEGATIVE.match(item):
            out[-1] = f"{out[-1]}={item}"
        else:
            out.append(item)
    return out


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    args = _parser().parse_args(_joined_negatives(argv))
    # `--args 4 3 core:FullyConnected`: the target was swallowed by --args; a bare name is never a literal
    if args.target is None:
        for i, item in enumerate(args.args):
            if _TARGET.match(item) and not _is_literal(item):
                args.target = args.args.pop(i)
                break
    args.ctor_args = [_literal(a, "--args") for a in args.args]
    args.assign = []
    for item in args.assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise UsageError(f"--set: expected NAME=VALUE, got {item!r}")
        args.assign.append((name, _literal(value, f"--set {name}")))
    for name in ("batch", "features", "fuzz", "jobs", "indices"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} must be >= 1, got {value}")
    if args.max_memory is None:
        import psutil

        args.max_memory = psutil.virtual_memory().available / 2
    elif not (math.isfinite(args.max_memory) and args.max_memory > 0):
        raise UsageError(f"--max-memory must be a positive number of GiB, got {args.max_memory}")
    else:
        args.max_memory *= 2 ** 30
    if args.max_seconds is not None and not (math.isfinite(args.max_seconds) and args.max_seconds > 0):
        raise UsageError(f"--max-seconds must be a positive number of seconds, got {args.max_seconds}")
    if not (math.isfinite(args.timeout) and args.timeout >= 0):
        raise UsageError(f"--timeout must be a number of seconds >= 0, got {args.timeout}")
    for name in ("seed", "reseed"):
        value = getattr(args, name)
        if value is not None and not 0 <= value < 2 ** 32:
            raise UsageError(f"--{name} must be an integer from 0 to 2**32 - 1, got {value}")
    cores = default_jobs()
    if args.jobs is not None and args.jobs > cores:
        print(f"gradcheck: --jobs {args.jobs} is more than the {cores} core(s) here: using {cores}", file=sys.stderr)
        args.jobs = cores
    try:
        validate_settings(args.mode, args.step, args.rtol, args.atol)
    except ValueError as exc:
        raise UsageError(str(exc).replace("gradcheck: ", "--", 1)) from None
    if args.parameters is not None:
        args.parameters = [p.strip() for p in args.parameters.split(",") if p.strip()]
        if any(not p.lstrip("!") or " " in p for p in args.parameters):
            raise UsageError(f"--parameters: expected comma-separated paths like weights,!fc_y, got {args.parameters}")
    if args.html is not None:
        folder = os.path.dirname(os.path.abspath(args.html))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError(f"--html: cannot write {args.html!r}: {folder} is not a writable folder")
    if args.shape is not None:
        args.shapes = [_shape(text) for text in args.shape]
        args.shape = args.shapes[0]
    args.modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not args.modes or any(m not in ("rev", "fwd") for m in args.modes):
        raise UsageError(f"--modes: expected rev, fwd or rev,fwd, got {','.join(args.modes) or 'nothing'!r}")
    if args.reference is None:
        if args.reference_args is not None or args.phase or args.mapping:
            raise UsageError("--reference-args, --phase and --mapping need --reference TARGET")
    elif not _TARGET.match(args.reference) or ":" not in args.reference:
        raise UsageError(f"--reference: expected package.module:Class, got {args.reference!r}")
    args.reference_ctor = [_literal(a, "--reference-args") for a in args.reference_args] \
        if args.reference_args is not None else None
    return args


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--shape: expected integers B,D1,D2,..., got {text!r}") from None
    if min(shape) < 1:
        raise UsageError(f"--shape: every dimension must be >= 1, got {shape}")
    return shape


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
        return True
    except (ValueError, SyntaxError):
        return False


# ------------------------------------------------------------------------------------------ building checks

def _import(module_name: str) -> object:
    if os.getcwd() not in sys.path:     # like `python -m`: the user's own modules import from where they stand
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except SyntaxError as exc:
        raise UsageError(f"cannot import {module_name!r}: SyntaxError in {exc.filename}, line {exc.lineno}: "
                         f"{exc.msg}") from None
    except Exception as exc:  # noqa: BLE001 - the module raised while importing: one line, exit 2
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise UsageError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc} ({where.filename}, line "
                         f"{where.lineno})") from None


def _build(factory: Callable, name: str, ctor_args: list, assign: list) -> object:
    try:
        obj = factory(*ctor_args)
    except TypeError as exc:
        hint = " (give constructor arguments with --args)" if "argument" in str(exc) else ""
        raise UsageError(f"{name}({', '.join(map(repr, ctor_args))}) raised TypeError: {exc}{hint}") from None
    except Exception as exc:  # noqa: BLE001 - the user's constructor: report, don't trace back
        raise UsageError(f"{name}({', '.join(map(repr, ctor_args))}) raised {type(exc).__name__}: {exc}") from None
    for attr, value in assign:
        try:
            setattr(obj, attr, value)
        except Exception as exc:  # noqa: BLE001
            raise UsageError(f"--set {attr}={value!r} on {name} raised {type(exc).__name__}: {exc}") from None
    return obj


def _factory(cls: Callable, name: str, args: argparse.Namespace) -> Callable[[], object]:
    """A fresh, configured object on every call (a fuzz search builds one per example)."""
    return lambda: _build(cls, name, args.ctor_args, args.assign)


def _input_shape(obj: object, name: str, args: argparse.Namespace) -> tuple[int, ...]:
    if args.shape is not None:
        return args.shape
    features = args.features if args.features is not None else getattr(obj, "input_size", None)
    if not isinstance(features, (int, np.integer)) or isinstance(features, bool):
        raise UsageError(f"cannot tell the input shape of {name}; give --features N or --shape B,D1,...")
    return (args.batch, int(features))


_COPIES = 10        # arrays of the input's size a check holds at once: input, output, error, copies, probes


def _parameter_elements(obj: object) -> int:
    return sum(v.size for v in vars(obj).values() if isinstance(v, np.ndarray) and v.dtype.kind == "f") \
        if hasattr(obj, "__dict__") else 0


def _guard_cost(obj: object, shape: tuple[int, ...], name: str, args: argparse.Namespace) -> None:
    """Refuse a check that would not fit before anything of its size is allocated: the memory from the shape,
    and (with --max-seconds) the time from one timed forward and the forwards the check takes."""
    elements = int(np.prod(shape, dtype=np.int64))
    need = 8 * _COPIES * elements
    if need > args.max_memory:
        raise UsageError(f"{name} on an input of shape {shape} needs about {need / 2**30:.3g} GiB "
                         f"(the input alone {8 * elements / 2**30:.3g} GiB), more than --max-memory "
                         f"{args.max_memory / 2**30:.3g} GiB; check a smaller input")
    if args.max_seconds is None:
        return
    x = np.random.default_rng(args.seed).standard_normal(shape) if not args.indices else \
        np.random.default_rng(args.seed).integers(0, args.indices, shape)
    start = time.perf_counter()
    try:
        obj.forward(x)
    except Exception:  # noqa: BLE001 - the check itself reports a forward that raises
        return
    per_forward = time.perf_counter() - start
    groups = int(np.prod(shape[1:], dtype=np.int64)) + _parameter_elements(obj)
    forwards = 2.5 * groups if args.mode == "full" else 8 * (groups ** (1 / 3) + 1) * 3
    if forwards * per_forward > args.max_seconds:
        raise UsageError(f"{name} on {shape}: about {forwards:,.0f} forwards of {per_forward * 1e3:.3g} ms, about "
                         f"{forwards * per_forward:,.0f} s, more than --max-seconds {args.max_seconds:g}"
                         f"{'; --mode fast takes far fewer' if args.mode == 'full' else ''}")


def _attribute(target: str, what: str) -> object:
    module_name, _, attr = target.partition(":")
    value = getattr(_import(module_name), attr, None)
    if value is None:
        raise UsageError(f"{what}: module {module_name!r} has no attribute {attr!r}")
    return value


def _reference_check(factory: Callable[[], object], name: str, shape: tuple[int, ...],
                     args: argparse.Namespace) -> _Check:
    """The layer against ``--reference``: one input, or with ``--fuzz`` a search over batches and values."""
    from gradcheck.fuzz import fuzz_against
    from gradcheck.reference import check_against
    from gradcheck.strategies import batches

    cls = _attribute(args.reference, "--reference")
    ctor = args.reference_ctor if args.reference_ctor is not None else args.ctor_args
    build_reference = lambda: _build(cls, args.reference, ctor, [])     # noqa: E731 - a fresh one per example
    build_reference()                                       # a usage error now, not in the child
    mapping = _attribute(args.mapping, "--mapping") if args.mapping else None
    kw = {"mapping": mapping, "phase": args.phase, "parameters": args.parameters, "rtol": args.rtol or 0.0,
          "atol": args.atol, "seed": args.seed}
    label = f"{name}({', '.join(map(repr, args.ctor_args))}) against {args.reference}({', '.join(map(repr, ctor))})"
    if args.fuzz:
        build = lambda draw: (factory(), build_reference(), draw(batches(shape[1:], shape[0])))   # noqa: E731
        return _Check(f"fuzz {label}, input (1-{shape[0]}, {', '.join(map(str, shape[1:]))})",
                      lambda: fuzz_against(build, max_examples=args.fuzz, **kw))
    return _Check(f"{label}, input {shape}", lambda: check_against(factory(), build_reference(), shape, **kw))


def _check_of(factory: Callable[[], object], name: str, args: argparse.Namespace) -> _Check:
    if args.order != 1 or args.modes != ("rev",) or args.batched or args.complex:
        raise UsageError("--order 2, --modes fwd, --batched and --complex are for torch and JAX targets; a numpy "
                         "layer's backward is checked at order 1 in reverse mode, in real numbers")
    obj = factory()
    shape = _input_shape(obj, name, args)
    if args.reference:
        if _is_loss(obj):
            raise UsageError(f"--reference holds a layer (forward(x), backward(e)) to another; {name} is a loss")
        return _reference_check(factory, name, shape, args)
    _guard_cost(obj, shape, name, args)
    kw = {"mode": args.mode, "seed": args.seed, "rtol": args.rtol, "atol": args.atol, "step": args.step,
          "progress": args.progress, "jobs": args.jobs, "parameters": args.parameters}
    if args.scheduler:
        kw["scheduler"] = args.scheduler
    ctor = ", ".join(map(repr, args.ctor_args))
    sets = "".join(f", {k}={v!r}" for k, v in args.assign)
    if args.fuzz:
        label = f"fuzz {name}({ctor}){sets}, input (1-{shape[0]}, {', '.join(map(str, shape[1:]))})"
        if _is_loss(obj):
            return _Check(label, lambda: fuzz_loss(loss_builder(factory, shape[-1], shape[0]),
                                                   max_examples=args.fuzz, **kw))
        build = layer_builder(factory, shape[1:], shape[0]) if not args.indices else \
            index_builder(factory, shape[1:], shape[0], args.indices)
        return _Check(label, lambda: fuzz_layer(build, max_examples=args.fuzz, reseed=args.reseed, **kw))
    label = f"{name}({ctor}){sets}, input {shape}"
    if _is_loss(obj):
        return _Check(label, lambda: check_loss(obj, shape, **kw))
    if args.indices:
        x = np.random.default_rng(args.seed).integers(0, args.indices, shape)
        return _Check(f"{label}, indices 0..{args.indices - 1}",
                      lambda: check_layer(obj, x, reseed=args.reseed, **kw))
    return _Check(label, lambda: check_layer(obj, shape, reseed=args.reseed, **kw))


def framework_check(framework: str, factory: object, name: str, args: argparse.Namespace) -> _Check:
    """A check of a torch or JAX target: a Module (class or instance), an autograd.Function (its ``apply``) or
    a function; its inputs are the --shape values (or (batch, features))."""
    if args.fuzz or args.indices or args.parameters is not None or args.scheduler:
        raise UsageError(f"--fuzz, --indices, --parameters and --scheduler are for numpy layers, not {framework} "
                         "targets")
    if args.shape is None and args.features is None:
        raise UsageError(f"{name}: give the input shape of the {framework} function: --shape B,D1,... (one per "
                         "input)")
    shapes = getattr(args, "shapes", None) or [(args.batch, args.features)]
    inputs = shapes
    if args.complex:         # complex128 values drawn with --seed, real and imaginary parts standard normal
        rng = np.random.default_rng(args.seed)
        inputs = [rng.standard_normal(s) + 1j * rng.standard_normal(s) for s in shapes]
        if framework == "torch":
            import torch

            inputs = [torch.tensor(z).requires_grad_(True) for z in inputs]
    kw = {"mode": args.mode, "seed": args.seed, "rtol": args.rtol, "atol": args.atol, "step": args.step,
          "progress": args.progress, "reseed": args.reseed}
    if args.order != 1 or args.modes != ("rev",):
        kw.update(order=args.order, modes=args.modes)
    if args.batched:
        kw["batched"] = True
    try:
        adapter = importlib.import_module(f"gradcheck.{framework}")
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    target = factory
    if framework == "torch":
        import torch

        if isinstance(factory, type) and issubclass(factory, torch.autograd.Function):
            target = factory.apply
        elif isinstance(factory, type):
            target = _build(factory, name, args.ctor_args, args.assign)
        if isinstance(target, torch.nn.Module):
            return _Check(f"{name}, inputs {', '.join(map(str, shapes))}",
                          lambda: adapter.check_module(target, *inputs, **kw))
    elif not callable(factory):
        raise UsageError(f"{name} is a {type(factory).__name__}, not a JAX function")
    what = "complex inputs" if args.complex else "inputs"
    return _Check(f"{name}, {what} {', '.join(map(str, shapes))}",
                  lambda: adapter.check_function(target, *inputs, **kw), in_process=framework == "jax")


def _layer_classes(module: object) -> list[tuple[str, type]]:
    return [(n, c) for n, c in inspect.getmembers(module, inspect.isclass)
            if callable(getattr(c, "forward", None)) and callable(getattr(c, "backward", None))]


def _plan(args: argparse.Namespace) -> _Plan:
    if not args.target:
        if args.ctor_args or args.assign or args.shape or args.features or args.reseed is not None:
            raise UsageError("--args, --set, --shape, --features and --reseed need a target (package.module:Class)")
        return _Plan([_Check(label, run) for label, run in default_suite(args.mode, args.seed)])
    if not _TARGET.match(args.target):
        raise UsageError(f"expected package.module:LayerClass or package.module, got {args.target!r}")
    module_name, _, attr = args.target.partition(":")
    module = _import(module_name)
    if attr:
        factory = getattr(module, attr, None)
        if factory is None:
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
        framework = args.framework or framework_of(factory, module)
        if framework != "numpy":
            return _Plan([framework_check(framework, factory, args.target, args)])
        if len(getattr(args, "shapes", [])) > 1:
            raise UsageError("several --shape values are for torch and JAX functions of several inputs; a numpy "
                             "layer takes one input")
        obj = _build(factory, args.target, args.ctor_args, args.assign)
        if not (is_layer(obj) or _is_loss(obj)):
            from gradcheck.targets import protocol_problem

            raise UsageError(f"{args.target}: {protocol_problem(obj)}")
        return _Plan([_check_of(_factory(factory, args.target, args), args.target, args)])
    plan = _Plan()
    for name, cls in _layer_classes(module):
        try:
            _build(cls, f"{module_name}:{name}", args.ctor_args, args.assign)
        except UsageError as exc:
            plan.skipped.append(f"{module_name}:{name} ({exc})")
            continue
        plan.checks.append(_check_of(_factory(cls, f"{module_name}:{name}", args), f"{module_name}:{name}", args))
    if not plan.checks:
        raise UsageError(f"no layer class in {module_name!r} could be built without arguments"
                         + "".join(f"\n  skipped {s}" for s in plan.skipped))
    return plan


# ------------------------------------------------------------------------------------------ running, output

def _run(check: _Check, timeout: float, max_bytes: float) -> None:
    """Run one check in a child process of its own (JAX: in this one), within ``timeout`` seconds (0: no
    limit) and the memory cap, and keep what it gave; ``seconds`` is the check's own time."""
    start = time.perf_counter()
    try:
        if check.in_process:
            result, check.seconds = run_here_limited(check.run, timeout or None)
        else:
            result, check.seconds = run_limited(check.run, timeout or None, max_bytes)
    except CheckTimedOut as exc:
        check.error, check.trace, check.seconds = str(exc), exc.stack, exc.seconds
    except ChildRaised as exc:
        check.error, check.trace, check.seconds = str(exc), exc.trace, time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - a layer that raises is a failed check, shown as such
        check.error, check.trace = f"{type(exc).__name__}: {exc}", traceback.format_exc()
        check.seconds = time.perf_counter() - start
    else:
        if isinstance(result, FuzzResult):
            check.fuzz, check.report, check.error = result, result.report, result.error
            if result.error:        # the simplest input the search found makes the layer raise
                check.report = None
        else:
            check.report = result


def _summary_row(c: _Check, width: int) -> str:
    """The check's line of the table, written as soon as it ends."""
    if c.report is None:
        return f"{c.label:<{width}} ERROR  {c.error}"
    r = c.report
    rel = max((t.max_rel_error for t in r.tensors), default=0.0)
    return (f"{c.label:<{width}} {'PASS' if r.ok else 'FAIL':<5} {sum(t.checked for t in r.tensors):>7} "
            f"{sum(t.failed for t in r.tensors):>6} {sum(t.kinks for t in r.tensors):>5} {rel:>11.2e} "
            f"{c.seconds:>8.3f}")


def _header(plan: _Plan) -> str:
    width = max(len(c.label) for c in plan.checks)
    return f"{'check':<{width}} {'':<5} {'checked':>7} {'failed':>6} {'kinks':>5} {'max rel err':>11} {'seconds':>8}"


def _print_details(plan: _Plan, ok: bool, mode: str, verbose: bool) -> None:
    """After the rows: what was skipped, the report of every failed check (every check with ``verbose``)."""
    for s in plan.skipped:
        print(f"skipped {s}")
    for c in plan.checks:
        failed = c.report is None or not c.report.ok
        if c.fuzz is not None and (verbose or failed):
            print(f"\n{c.label}\n{c.fuzz}")
        elif c.report is not None and (verbose or failed):
            print(f"\n{c.label}\n{c.report}")
        elif c.report is None and verbose:
            print(f"\n{c.label}\n{c.trace}")
    n = len(plan.checks)
    print(f"\n{'all checks passed' if ok else 'SOME CHECKS FAILED'} ({n} check{'s' if n != 1 else ''}, mode {mode})")


def _write_html(path: str, plan: _Plan) -> None:
    from gradcheck.pictures import write_html

    write_html(path, [(c.label, c.fuzz if c.fuzz is not None else c.report if c.report is not None else
                       _Raised(f"{c.label}: {c.error}")) for c in plan.checks])


@dataclass
class _Raised:
    """A check that raised, for the HTML page."""

    text: str
    ok: bool = False

    def __str__(self) -> str:
        return self.text


def _nonfinite(value: float) -> str:
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def strict_json(value: object) -> object:
    """``value`` with every NaN and inf replaced by null, so that strict parsers take it: a dict entry gets a
    sibling ``<key>_nonfinite`` saying which; a list entry, ``<key>_nonfinite`` on the dict holding the list,
    mapping the entry's position to it."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, float) and not math.isfinite(item):
                out[key], out[f"{key}_nonfinite"] = None, _nonfinite(item)
            elif isinstance(item, list):
                flat = {}
                out[key] = _strict_list(item, flat, "")
                if flat:
                    out[f"{key}_nonfinite"] = flat
            else:
                out[key] = strict_json(item)
        return out
    if isinstance(value, list):
        return _strict_list(value, {}, "")
    return value


def _strict_list(items: list, flat: dict, prefix: str) -> list:
    out = []
    for i, item in enumerate(items):
        if isinstance(item, float) and not math.isfinite(item):
            flat[f"{prefix}{i}"] = _nonfinite(item)
            out.append(None)
        elif isinstance(item, list):
            out.append(_strict_list(item, flat, f"{prefix}{i}."))
        else:
            out.append(strict_json(item))
    return out


def _json(ok: bool, code: int, error: str | None, plan: _Plan | None, verbose: bool = False) -> str:
    checks = [{"label": c.label, "seconds": c.seconds, "error": c.error,
               **({"traceback": c.trace} if verbose and c.trace else {}),
               **({"fuzz": {"examples": c.fuzz.examples, "draws": [repr(d) for d in c.fuzz.draws],
                            "input": np.asarray(c.fuzz.input).tolist() if c.fuzz.input is not None else None}}
                  if c.fuzz is not None else {}),
               "report": c.report.to_dict() if c.report else None} for c in (plan.checks if plan else [])]
    return json.dumps(strict_json({"ok": ok, "exit_code": code, "error": error, "checks": checks,
                                   "skipped": plan.skipped if plan else []}), indent=2, allow_nan=False)


def _main(argv: Sequence[str]) -> int:
    """Parse, plan, run and report, each row written as its check ends. SIGINT and SIGTERM end it at any
    point with one line (130, 143); every child process is ended before it returns, on every path."""
    current = None
    try:
        with stopping_signals():        # on the way out through a signal, every child is killed
            try:
                args = _parse(argv)
                plan = _plan(args)
            except UsageError as exc:
                if "--json" in argv:
                    print(_json(False, 2, str(exc), None))
                else:
                    print(f"gradcheck: error: {exc}\n(gradcheck --help for usage)", file=sys.stderr)
                return 2
            if not args.json:
                print(_header(plan), flush=True)
            width = max(len(c.label) for c in plan.checks)
            for current in plan.checks:
                _run(current, args.timeout, args.max_memory)
                if not args.json:
                    print(_summary_row(current, width), flush=True)
            current = None
    except (KeyboardInterrupt, Stopped) as exc:
        name, code = ("SIGTERM", 143) if isinstance(exc, Stopped) else ("SIGINT", 130)
        during = f" during {current.label}" if current is not None else ""
        print(f"gradcheck: stopped by {name}{during}", file=sys.stderr)
        return code
    ok = all(c.report is not None and c.report.ok for c in plan.checks)
    code = 0 if ok else 1
    if args.html:
        _write_html(args.html, plan)
    if args.json:
        print(_json(ok, code, None, plan, args.verbose))
    else:
        _print_details(plan, ok, args.mode, args.verbose)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gradcheck`` command; returns the exit status (0 pass, 1 a check failed, 2 usage error; 130 and
    143 stopped by SIGINT and SIGTERM; 141 its output closed, as ``| head`` does)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["grade"]:               # gradcheck grade SUBMISSION...: a course's submissions
        from gradcheck.grading.command import main as grade_main

        return grade_main(argv[1:])
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:     # `gradcheck | head`: the reader left; end quietly, nothing left running
        end_all()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
