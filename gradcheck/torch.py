"""Check torch functions and modules: analytic gradients from autograd, numeric ones from this checker.

    from gradcheck.torch import check_function, check_module
    check_function(MyExp.apply, torch.randn(8, 5, dtype=torch.float64, requires_grad=True))
    check_module(torch.nn.Linear(5, 3), (8, 5))

The function is evaluated on float64 copies of its tensors where it allows (a module is checked as a float64
deep copy), and in its own dtype otherwise; the tolerance follows the precision it really computes in, as for
numpy layers. The checked scalar is ``sum(fn(*inputs) * E)`` for a fixed random ``E``; autograd's
vector-Jacobian product with that ``E`` is the analytic side. Needs the ``torch`` extra; nothing in the
numpy path imports this module.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np

from gradcheck.check import _input_names, _new_report, _run, _time_limited
from gradcheck.frameworks import Flat, argument_names, flatten, merged, orders_and_modes, reseeding
from gradcheck.prepare import is_shape, validate_settings
from gradcheck.report import GradcheckReport, GradientCheckError
from gradcheck.targets import FunctionTarget

try:
    import torch
except ImportError as exc:  # pragma: no cover - exercised where torch is missing
    raise ImportError("gradcheck.torch needs PyTorch: pip install 'numpy-gradcheck-layers[torch]' "
                      "(or pip install torch)") from exc

__all__ = ["check_function", "check_module", "assert_gradients"]


class TorchTarget(FunctionTarget):
    """A torch callable seen through the functional protocol: its checked tensors are float64 (or own-dtype)
    numpy arrays that this target turns into fresh leaf tensors for every call.

    ``call(tensors)`` runs the function with the checked tensors in order and returns its output.
    """

    def __init__(self, call: Callable[[list], object], label: str, arrays: dict[str, np.ndarray],
                 dtypes: list, rng: np.random.Generator, before_forward: Callable[[], None] | None) -> None:
        super().__init__(self._forward, self._backward, arrays, rng, before_forward)
        self.label, self._user_call, self._dtypes = label, call, dtypes
        self._requires = [True] * len(arrays)

    # -- the functional pair the engine calls

    def _forward(self, *arrays: np.ndarray) -> tuple[np.ndarray, object]:
        tensors = [torch.tensor(a, dtype=d).requires_grad_(r) for a, d, r in zip(arrays, self._dtypes, self._requires)]
        out = _one_tensor(self._user_call(tensors))
        for a, t in zip(arrays, tensors):
            if t._version:                  # written in place (inside a custom Function's forward): shown to
                a[...] = t.detach().to(torch.float64).numpy()   # the engine, which names the write
        return out.detach().to(torch.float64).numpy().copy(), (out, tensors)

    def _backward(self, dout: np.ndarray, cache: tuple) -> list[np.ndarray]:
        out, tensors = cache
        wanted = [t for t in tensors if t.requires_grad]
        e = torch.tensor(dout, dtype=out.dtype).reshape(out.shape)
        # no path from any input to the output (computed outside autograd): every gradient is zero
        grads = iter(torch.autograd.grad(out, wanted, grad_outputs=e, allow_unused=True)
                     if wanted and out.requires_grad else [None] * len(wanted))
        result = []
        for t in tensors:
            g = next(grads) if t.requires_grad else None
            # no path from this tensor to the output: autograd's None is a zero gradient
            result.append(np.zeros(tuple(t.shape)) if g is None else g.detach().to(torch.float64).numpy())
        return result

    # -- hygiene beyond the numpy protocol

    def hygiene(self, grads: dict[str, np.ndarray | None], problems: list[str]) -> None:
        """Each tensor's gradient again with only that tensor requiring grad: a custom backward's
        ``ctx.needs_input_grad`` branches run then, and must give the same gradient (or none at all); and with
        only one output used, where the function has several (see :meth:`_undefined_output_gradients`)."""
        self._undefined_output_gradients(problems)
        if len(self.inputs) < 2:
            return
        for i, name in enumerate(self.inputs):
            if grads.get(name) is None:
                continue
            self._requires = [j == i for j in range(len(self.inputs))]
            try:
                _, cache = self._call([v.copy() for v in self.inputs.values()])     # the hook, then forward
                alone = self._backward(self.error.copy(), cache)[i]
            except Exception as exc:  # noqa: BLE001 - a backward that fails here is the finding
                problems.append(f"with only {name} requiring grad, backward raised {type(exc).__name__}: "
                                f"{_first_line(exc)} (a ctx.needs_input_grad branch?)")
                continue
            finally:
                self._requires = [True] * len(self.inputs)
            if not np.allclose(alone, grads[name], rtol=1e-10, atol=0, equal_nan=True):
                diff = np.abs(alone - grads[name])
                idx = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.ndim else ()
                problems.append(f"with only {name} requiring grad, backward gives another gradient of {name} "
                                f"(max difference {float(diff[idx]):.3g} at index {tuple(int(k) for k in idx)}): "
                                "a ctx.needs_input_grad branch computes it differently")


    def _undefined_output_gradients(self, problems: list[str]) -> None:
        """With several outputs, the VJP of each alone: autograd hands a backward ``None`` for the outputs not
        used (zeros unless ``ctx.set_materialize_grads(False)``), a branch a backward must take, and the result
        must be the full VJP with those outputs' errors zero."""
        tensors = [torch.tensor(a, dtype=d).requires_grad_(True) for a, d in zip(self.inputs.values(), self._dtypes)]
        self._hook()
        floats = [v for v in Flat(self._user_call(tensors), _is_leaf).leaves
                  if isinstance(v, torch.Tensor) and v.is_floating_point() and v.requires_grad]
        if len(floats) < 2 or self.error is None:
            return
        errors = np.split(self.error.reshape(-1), np.cumsum([v.numel() for v in floats])[:-1])
        for k, (out, e) in enumerate(zip(floats, errors)):
            e_k = torch.tensor(e, dtype=out.dtype).reshape(out.shape)
            try:
                alone = torch.autograd.grad(out, tensors, e_k, retain_graph=True, allow_unused=True)
            except Exception as exc:  # noqa: BLE001 - a backward that fails on None is the finding
                problems.append(f"with only output {k} used (the other outputs' gradients undefined, None), backward "
                                f"raised {type(exc).__name__}: {_first_line(exc)}")
                continue
            masked = [torch.zeros_like(v) if j != k else e_k for j, v in enumerate(floats)]
            full = torch.autograd.grad(floats, tensors, masked, retain_graph=True, allow_unused=True)
            for name, a, b in zip(self.inputs, alone, full):
                a = np.zeros(1) if a is None else a.detach().to(torch.float64).numpy()
                b = np.zeros(1) if b is None else b.detach().to(torch.float64).numpy()
                if not np.allclose(a, b, rtol=1e-10, atol=1e-300):
                    problems.append(f"with only output {k} used, backward gives another gradient of {name} than "
                                    "with the other outputs' errors zero: its branch for an undefined (None) "
                                    "gradient computes it differently")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _one_tensor(value: object):
    """The output as one tensor: tuples, lists and dicts of tensors are checked as the concatenation of their
    floating tensors (integer ones, indices, have no gradient; other values are not outputs)."""
    if isinstance(value, torch.Tensor):
        return value
    floats = [v for v in Flat(value, _is_leaf).leaves
              if isinstance(v, torch.Tensor) and (v.is_floating_point() or v.is_complex())]
    if not floats:
        raise TypeError(f"gradcheck.torch: the function returned {type(value).__name__} without a floating "
                        "tensor; expected a tensor (or a tuple, list or dict of tensors)")
    return floats[0] if floats[0] is value else torch.cat([v.reshape(-1) for v in floats])


def _is_leaf(value: object) -> bool:
    return isinstance(value, torch.Tensor) or is_shape(value)


# ------------------------------------------------------------------------------------------- the inputs

def _as_tensor(value: object, rng: np.random.Generator) -> object:
    """A shape becomes a standard normal float64 tensor that requires grad; anything else stays as it is."""
    if is_shape(value):
        return torch.tensor(rng.standard_normal(tuple(value))).requires_grad_(True)
    return value


def _checked_positions(args: Sequence[object]) -> list[int]:
    """Floating tensors that require grad are checked (torch's own rule); when none does, every floating
    tensor is. Other arguments (integer tensors, Python numbers, None) are passed as they are."""
    floats = [i for i, a in enumerate(args)
              if isinstance(a, torch.Tensor) and (a.is_floating_point() or a.is_complex())]
    wanted = [i for i in floats if args[i].requires_grad]
    return wanted or floats


def _substituted(args: Sequence[object], positions: Sequence[int], tensors: Sequence) -> list:
    """The arguments of one call: the checked ``tensors`` at their ``positions``, and the other tensors
    (indices, constants) as clones, so a function that writes into one can neither change the caller's tensor
    nor the next call. Tensors beyond ``positions`` (a module's parameters) are not arguments."""
    full = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args]
    for i, t in zip(positions, tensors):
        full[i] = t
    return full


class _Arguments:
    """The positional arguments as leaves (tensors in tuples, lists and dicts included), each named by its
    argument and path (``params.w``), shapes drawn as tensors; ``call_with(tensors)`` builds the arguments of
    one call with ``tensors`` at the checked leaves."""

    def __init__(self, inputs: Sequence[object], names: list[str], rng: np.random.Generator) -> None:
        self.flat, self.names = flatten(inputs, names, _is_leaf)
        self.leaves = [_as_tensor(v, rng) for v in self.flat.leaves]
        self.checked = _checked_positions(self.leaves)

    def call_with(self, tensors: Sequence) -> tuple:
        return tuple(self.flat.rebuild(_substituted(self.leaves, self.checked, tensors)))


def _prepared(who: str, inputs: Sequence[object], names: list[str], mode, step, rtol, atol, seed, reseed,
              before_forward, progress) -> tuple[_Arguments, np.random.Generator, dict]:
    """Settings validated, the arguments' leaves found and shapes drawn as tensors: (arguments, rng,
    settings)."""
    validate_settings(mode, step, rtol, atol)
    if not inputs:
        raise TypeError(f"gradcheck.torch.{who}: give at least one input (a tensor or a shape)")
    rng = np.random.default_rng(seed)
    kw = {"mode": mode, "step": step, "rtol": rtol, "atol": atol, "seed": seed, "reseed": reseed,
          "before_forward": before_forward, "progress": progress}
    return _Arguments(inputs, names, rng), rng, kw


def _real_view(call: Callable[[list], object], names: list[str], tensors: list) -> tuple[Callable, list[str], list]:
    """Complex tensors as two real ones (``z.real``, ``z.imag``) and a complex output as its real view
    (``torch.view_as_real``), so the checker's real finite differences perturb both parts, and autograd's
    gradients of the parts follow torch's convention for complex numbers (the gradient of a real loss is
    dL/da + i dL/db): a backward that forgets a conjugation differs. Unchanged where nothing is complex."""
    try:
        with torch.no_grad():       # on clones: a function that writes into its input must not reach the caller's
            complex_out = _one_tensor(call([t.detach().clone() for t in tensors])).is_complex()
    except (RuntimeError, TypeError, ValueError):
        complex_out = False         # the check itself reports a function that raises
    if not complex_out and not any(t.is_complex() for t in tensors):
        return call, names, tensors
    parts, labels, widths = [], [], []
    for name, t in zip(names, tensors):
        pieces = [t.detach().real.clone(), t.detach().imag.clone()] if t.is_complex() else [t]
        parts += [p.requires_grad_(t.requires_grad) if p is not t else p for p in pieces]
        labels += [f"{name}.real", f"{name}.imag"] if t.is_complex() else [name]
        widths.append(len(pieces))

    def real_call(real: list):
        it = iter(real)
        args = [torch.complex(next(it), next(it)) if w == 2 else next(it) for w in widths]
        out = _one_tensor(call(args))
        return torch.view_as_real(out) if out.is_complex() else out
    return real_call, labels, parts


def _runs_in_float64(call: Callable[[list], object], tensors: list) -> bool:
    """Whether the function accepts float64 copies and returns float64."""
    try:
        with torch.no_grad():
            out = _one_tensor(call([t.detach().to(torch.float64, copy=True) for t in tensors]))
    except (RuntimeError, TypeError, ValueError):
        return False
    return out.dtype == torch.float64


@contextmanager
def _torch_held(threads: int = 1):
    """torch's global random state and thread count put back afterwards; one intra-op thread meanwhile
    (a check makes thousands of small calls, as numpy layers are checked with one BLAS thread)."""
    rng_state, before = torch.random.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        torch.random.set_rng_state(rng_state)


def _names(fn: Callable, count: int) -> list[str]:
    """fn's positional parameter names (a custom Function's ``forward`` after ``ctx`` for its ``apply``), or
    ``arg0``, ``arg1``... where there are none to read (a builtin)."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        # the style torch.func needs (setup_context given) has no ctx in forward
        has_ctx = owner.setup_context is torch.autograd.Function.setup_context
        try:
            return _input_names(owner.forward, count + has_ctx)[has_ctx:]
        except TypeError:
            pass
    return argument_names(fn, count)


def _label(fn: object) -> str:
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):                         # MyFunction.apply
        return f"{owner.__name__}.apply"
    return getattr(fn, "__qualname__", None) or type(fn).__name__


# ------------------------------------------------------------------------------------------- the checks

def _check(call: Callable[[list], object], label: str, names: list[str], tensors: list, dtypes64: bool,
           rng: np.random.Generator, kw: dict, target_class: type | None = None) -> GradcheckReport:
    own = [t.dtype for t in tensors]
    dtypes = [torch.float64] * len(tensors) if dtypes64 else own
    arrays = {n: t.detach().to(torch.float64).numpy().copy() for n, t in zip(names, tensors)}
    hook = reseeding(kw["reseed"], kw["before_forward"], torch.manual_seed)
    target = (target_class or TorchTarget)(call, label, arrays, dtypes, rng, hook)
    report = _new_report(label, kw["mode"], kw["seed"], kw["atol"])
    with _torch_held():
        _run(target, report, rng, step=kw["step"], rtol=kw["rtol"], atol=kw["atol"], parameters=[],
             progress=kw["progress"], jobs=1, scheduler=None)
    if not dtypes64 and any(d != torch.float64 for d in own):
        report.warnings.append(f"the function does not run on float64 copies, so it is checked in its own "
                               f"dtypes ({', '.join(sorted({str(d) for d in own}))})")
    return report


def _orders_and_modes(call: Callable[[list], object], label: str, names: list[str], tensors: list, dtypes64: bool,
                      rng: np.random.Generator, kw: dict, order: int, modes: Sequence[str], batched: bool = False
                      ) -> GradcheckReport:
    """The checks asked for, in one report: reverse mode (the tensors by name), forward mode (``jvp.name``),
    at order 2 the VJP's own derivatives (``vjp.name``, ``vjp.grad_output``), and batched, vmap against the
    per-sample calls (``vmap.output``, ``vmap.name``); see gradcheck.torch_orders."""
    modes = orders_and_modes(order, modes, "gradcheck.torch")
    seed = kw["seed"]
    report = _check(call, label, names, tensors, dtypes64, rng, kw) if "rev" in modes else None
    if order == 1 and modes == ("rev",) and not batched:
        return report
    from gradcheck import torch_orders

    def fresh() -> GradcheckReport:
        return GradcheckReport(target=label, mode=kw["mode"] or _new_report(label, None, seed, 0.0).mode, seed=seed,
                               step=0.0, rtol=0.0, atol=kw["atol"])

    if "fwd" in modes:
        fwd = torch_orders.forward_mode(
            call, label, names, tensors, dtypes64, np.random.default_rng(seed), kw,
            lambda cls: _check(call, label, names, tensors, dtypes64, np.random.default_rng(seed), kw, cls))
        if report is None:
            report = fresh()
            report.step, report.rtol, report.precision = fwd.step, fwd.rtol, fwd.precision
        report = merged(report, fwd, "jvp")
    if order == 2:
        report = merged(report, torch_orders.second_order(call, label, names, tensors, dtypes64,
                                                                       np.random.default_rng(seed), kw, _check),
                                     "vjp")
    if batched:
        report = merged(report, torch_orders.batched(call, label, names, tensors, kw), "vmap")
    return report


@_time_limited
def check_function(fn: Callable, *inputs, mode: str | None = None, step: float | None = None,
                   rtol: float | None = None, atol: float = 0.0, seed: int = 0, reseed: int | None = None,
                   before_forward: Callable[[], None] | None = None, progress: bool | None = None,
                   timeout: float | None = None, order: int = 1, modes: Sequence[str] = ("rev",),
                   batched: bool = False) -> GradcheckReport:
    """Check autograd's gradients of ``fn(*inputs)`` (a custom ``autograd.Function.apply``, a module, a
    closure) against finite differences.

    Parameters
    ----------
    fn : callable returning a tensor (or a tuple, list or dict of tensors, checked as their concatenation)
    inputs : tensors, shapes, tuples, lists and dicts of them, or other arguments
        Floating tensors that require grad are checked (every floating tensor when none does), named by
        their argument and their path in it (``params.w``, ``pair.0``); a shape ``(8, 5)`` is a standard
        normal float64 tensor drawn with ``seed``. Other arguments are passed as they are. The caller's
        tensors are never modified.
    mode, step, rtol, atol, seed, progress, timeout
        As for :func:`gradcheck.check_layer`.
    reseed : int, optional
        ``torch.manual_seed(reseed)`` and ``np.random.seed(reseed)`` before every call, for a function that
        draws random numbers (dropout); torch's random state is put back afterwards.
    before_forward : callable, optional
        Called before every call (after ``reseed``).
    order : {1, 2}
        2: also the derivatives of the VJP itself (a double backward), tensors ``vjp.x``, ``vjp.grad_output``.
    modes : subset of ("rev", "fwd")
        "fwd": also forward mode (a custom Function's ``jvp``), tensors ``jvp.x``; see gradcheck.torch_orders.
    batched : bool
        Also ``torch.func.vmap`` of the function and of its VJP against per-sample calls (``vmap.output``,
        ``vmap.x``): a Function's vmap rule (``generate_vmap_rule`` or a ``vmap`` staticmethod).

    Returns
    -------
    GradcheckReport
        One entry per checked tensor, named after ``fn``'s parameters (``arg0``... when it takes ``*args``).
    """
    args, rng, kw = _prepared("check_function", inputs, _names(fn, len(inputs)), mode, step, rtol, atol, seed,
                              reseed, before_forward, progress)
    if not args.checked:
        raise TypeError("gradcheck.torch.check_function: no floating tensor among the inputs "
                        f"({', '.join(type(a).__name__ for a in args.leaves)}); give tensors or shapes")

    def call(tensors: list) -> object:
        return fn(*args.call_with(tensors))

    call, names, tensors = _real_view(call, [args.names[i] for i in args.checked],
                                      [args.leaves[i] for i in args.checked])
    return _orders_and_modes(call, _label(fn), names, tensors, _runs_in_float64(call, tensors), rng, kw, order, modes,
                             batched)


@_time_limited
def check_module(module, *inputs, mode: str | None = None, step: float | None = None, rtol: float | None = None,
                 atol: float = 0.0, seed: int = 0, reseed: int | None = None,
                 before_forward: Callable[[], None] | None = None, progress: bool | None = None,
                 timeout: float | None = None, order: int = 1, modes: Sequence[str] = ("rev",),
                 batched: bool = False) -> GradcheckReport:
    """Check a ``torch.nn.Module``: its floating inputs and every parameter that requires grad, by name
    (``"weight"``, ``"0.bias"``, ``"conv.weight"``).

    The module is checked as a float64 deep copy where it can be copied and converted (the caller's module is
    then untouched); otherwise as it is, in its own dtype, with every parameter and buffer put back
    afterwards. Its buffers (running statistics) are carried between calls as in normal use: state that
    changes the output from call to call is refused as "not deterministic". Other parameters as
    :func:`check_function`.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"gradcheck.torch.check_module: expected a torch.nn.Module, got {type(module).__name__}")
    args, rng, kw = _prepared("check_module", inputs, _names(module.forward, len(inputs)), mode, step, rtol, atol,
                              seed, reseed, before_forward, progress)
    checked_inputs = args.checked

    def caller(subject, params):
        def call(tensors: list) -> object:
            replaced = dict(zip((n for n, _ in params), tensors[len(checked_inputs):]))
            return torch.func.functional_call(subject, replaced, args.call_with(tensors))
        return call

    # the float64 copy where it runs in float64; else the module itself, in its own dtypes
    copied = _float64_copy(module)
    for subject in ([copied] if copied is not None else []) + [module]:
        params = [(n, p) for n, p in subject.named_parameters() if p.requires_grad]
        tensors = [args.leaves[i] for i in checked_inputs] + [p for _, p in params]
        call = caller(subject, params)
        in64 = subject is copied and _runs_in_float64(call, tensors)
        if in64 or subject is module:
            break
    names = [args.names[i] for i in checked_inputs] + [n for n, _ in params]
    viewed, names, tensors = _real_view(call, names, tensors)
    if viewed is not call:          # complex: the real view decides the precision
        call, in64 = viewed, subject is copied and _runs_in_float64(viewed, tensors)
    with _module_held(subject):
        return _orders_and_modes(call, type(module).__name__, names, tensors, in64, rng, kw, order, modes, batched)


def _float64_copy(module):
    """A float64 deep copy of ``module``, or None when it cannot be copied or converted."""
    try:
        return copy.deepcopy(module).to(torch.float64)
    except Exception:  # noqa: BLE001 - any failure to copy means: check the module itself
        return None


@contextmanager
def _module_held(module):
    """Every parameter and buffer of ``module`` put back afterwards, even when the check raises."""
    saved = {k: v.detach().clone() for k, v in module.state_dict(keep_vars=True).items()}
    training = module.training
    try:
        yield
    finally:
        with torch.no_grad():
            for k, v in module.state_dict(keep_vars=True).items():
                v.copy_(saved[k])
        module.train(training)


def assert_gradients(target, *inputs, **kwargs) -> GradcheckReport:
    """:func:`check_module` for a module, :func:`check_function` otherwise; raises :class:`GradientCheckError`
    (an ``AssertionError``) when the check fails, and returns the report when it passes::

        assert_gradients(MyExp.apply, (8, 5))
    """
    check = check_module if isinstance(target, torch.nn.Module) else check_function
    report = check(target, *inputs, **kwargs)
    if not report.ok:
        raise GradientCheckError(report)
    return report
