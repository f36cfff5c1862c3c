"""Adapters: a layer, a loss or a network, each seen as the same three things.

- ``inputs``: the tensors to perturb besides the parameters (the layer's input, the loss's prediction);
- a scalar function of the current state, read out per row (``readout``);
- an analytic pass (``backward_pass``): forward then backward at the current point, returning the
  gradients of the inputs; parameter gradients are read from the owners afterwards.

So ``check_layer``, ``check_loss`` and ``check_network`` are one pipeline over a :class:`Target`.
"""
from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from gradcheck.numeric import DOMAIN_ERRORS, Readout, column_probes, element_probes
from gradcheck.state import with_sublayers

__all__ = ["Target", "LayerTarget", "LossTarget", "NetworkTarget", "FunctionTarget", "gradient_of", "describe",
           "as_output", "other_point_of"]


def describe(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 and " at 0x" not in text else type(obj).__name__


def _changed(what: str, before: np.ndarray, after: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(~((before == after) | (np.isnan(before) & np.isnan(after))))[0])
    return f"{what} (element {idx} changed from {before[idx]:.6g} to {after[idx]:.6g})"


class ShapeProblem(str):
    """A gradient of the wrong shape but the right size, checked as ``how`` (reshaped, or transposed for a 2-D
    gradient of the swapped shape): the report ends its text with whether the values of ``tensor`` agree."""

    tensor: str
    how: str

    def verdict(self, agree: bool) -> str:
        return f"{self}; the values {'agree' if agree else 'do not agree either'} after {self.how}"


def gradient_of(value: object, expected_shape: tuple[int, ...], what: str, problems: list[str],
                tensor: str | None = None) -> np.ndarray | None:
    """``value`` as a float64 copy if it has the expected shape; otherwise a problem, and None. With the
    ``tensor``'s name, a gradient of the right size in another shape (``(1, 5)`` for ``(5,)``) is reshaped (a
    2-D one of the swapped shape: transposed) and checked: still a problem, whose text says whether the
    values agree."""
    if value is None:
        problems.append(f"{what} is None after backward: backward must set it")
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        problems.append(f"{what} has dtype {arr.dtype}, expected a real float array")
        return None
    if arr.shape != expected_shape:
        swapped = arr.ndim == 2 and arr.shape == expected_shape[::-1]
        text = f"{what} has shape {arr.shape}, expected {expected_shape}{' (transposed?)' if swapped else ''}"
        if tensor is None or arr.size != int(np.prod(expected_shape)):
            problems.append(text)
            return None
        problem = ShapeProblem(text)
        problem.tensor, problem.how = tensor, "transposing" if swapped else "reshaping"
        problems.append(problem)
        arr = arr.T if swapped else arr.reshape(expected_shape)
    return arr.astype(np.float64, copy=True)


def _what(value: object) -> str:
    """What came back, in a few words (for the errors below)."""
    if isinstance(value, (tuple, list)):
        kinds = ", ".join(f"{type(v).__name__}{getattr(v, 'shape', '')}" for v in value[:4])
        return f"a {type(value).__name__} of {len(value)} ({kinds}{', ...' if len(value) > 4 else ''})"
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype}, shape {value.shape}"
    return f"a {type(value).__name__}"


def as_output(value: object, who: str) -> np.ndarray:
    """Forward's output as our own float array, copied at once (a buffer the layer reuses, or a view of its
    input, cannot change under the check); a TypeError saying what came back for anything else."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.copy()
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray) and value.ndim == 0 and
                                                   value.dtype.kind in "iu"):
        return np.array(value, dtype=np.float64)
    hint = " (a layer returning (output, cache): check it with check_function)" \
        if isinstance(value, tuple) and len(value) == 2 else ""
    raise TypeError(f"gradcheck: {who} returned {_what(value)}; expected one float ndarray{hint}")


def _scalar(value: object, magnitudes: bool = True, total: bool = False,
            terms: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """A loss's value as the readout (one row); it has no terms to tell apart (``terms``: None)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = float(value)
    v = float(as_output(value, "the loss's forward").sum())
    return np.array([v]), (None if terms else np.array([abs(v)]))


class Target:
    """What a check needs from the thing it checks; subclasses fill it in."""

    label: str
    held: list[tuple[str, object]]      # objects whose state is snapshot and restored
    owners: list[tuple[str, object]]    # objects whose parameters are found and checked
    inputs: dict[str, np.ndarray]       # name -> our own array, perturbed in place
    batch: int | None = None            # rows of the input, for hints

    def output(self) -> np.ndarray:
        """The raw output at the current point (for determinism, finiteness and precision)."""
        raise NotImplementedError  # abstract

    def readout(self) -> Readout:
        raise NotImplementedError  # abstract

    def backward_pass(self, problems: list[str]) -> dict[str, np.ndarray | None]:
        raise NotImplementedError  # abstract

    def warm_up(self) -> None:
        """One forward and backward at another point: the pass after which parameters are found, and the
        call before the analytic pass, so that a cache stuck on an earlier call shows up."""
        with self.at(self.other_point()):
            self.backward_pass([])

    def other_point(self) -> dict[str, np.ndarray]:
        """The inputs of :meth:`warm_up` (for the stale-cache re-check)."""
        return {}

    def use_checked_point_as_other(self) -> None:
        """Make :meth:`other_point` the checked point (when forward cannot run at the other one)."""

    fixed: dict[str, np.ndarray] = {}   # inputs that are not perturbed (integer and boolean: indices, masks)

    @contextmanager
    def at(self, point: dict[str, np.ndarray]) -> Iterator[None]:
        """Move the inputs to ``point`` (name -> values) for the duration; our own arrays, restored after."""
        arrays = {**self.fixed, **self.inputs}
        saved = {name: arr.copy() for name, arr in arrays.items()}
        try:
            for name, arr in point.items():
                arrays[name][...] = arr
            yield
        finally:
            for name, arr in saved.items():
                arrays[name][...] = arr

    def hygiene(self, grads: dict[str, np.ndarray | None], problems: list[str]) -> None:
        """Target-specific checks after the analytic pass."""

    def integers_taken_as_numbers(self) -> list[str]:
        """The integer inputs (not differentiated: taken as indices) that forward computes with as numbers."""
        return []

    def input_probes(self, name: str, rng: np.random.Generator):
        """(probes for the full check, method name, features per row or None) of an input tensor: feature
        columns when the output's rows depend on this input's rows alone, else single elements."""
        x = self.inputs[name]
        if self.batch_rows and x.ndim >= 1 and self._rows_independent(name, rng):
            return column_probes(x.shape), "columns", x.size // len(x)
        return element_probes(x.size), "elements", None

    batch_rows = False      # whether the inputs have a batch axis worth testing for independence
    output_spread = 0.0     # how much forward's output varies between calls at rounding level (0: not at all)

    def _rows_independent(self, name: str, rng: np.random.Generator) -> bool:
        """Output row i depends on row i of input ``name`` alone (checked, not assumed).

        For every bit of the row index, the rows with that bit set are moved, then the others: every pair
        of rows differs in some bit, so each row is moved once while any given other row stays put. Any
        change to an output row whose input row did not move means the rows are not independent.
        """
        x = self.inputs[name]
        y = self.output()
        if y.ndim == 0 or len(y) != len(x):
            return False
        if len(x) == 1:
            return True
        index = np.arange(len(x))
        for bit in range(int(np.ceil(np.log2(len(x))))):
            for moved in ((index >> bit) & 1 == 1, (index >> bit) & 1 == 0):
                x2 = x.copy()
                x2[moved] = x2[moved] * rng.uniform(0.5, 1.5, x2[moved].shape) + \
                    0.1 * rng.standard_normal(x2[moved].shape)
                try:
                    with self.at({name: x2}):
                        y2 = self.output()
                except DOMAIN_ERRORS:
                    return False
                if y2.shape != y.shape or not _same(y2[~moved], y[~moved], self.output_spread):
                    return False
        return True


def other_point_of(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A second point for the stale-cache test: floats moved by a random factor and shift; integers and
    booleans (indices, masks) shuffled, so every value stays one the layer accepts."""
    if x.dtype.kind != "f":
        return rng.permutation(x.ravel()).reshape(x.shape)
    return x * rng.uniform(0.5, 1.5, x.shape) + 0.1 * rng.standard_normal(x.shape)


def _same(a: np.ndarray, b: np.ndarray, spread: float) -> bool:
    """Equal, or within 4x forward's run-to-run spread where it has one."""
    if spread == 0.0:
        return np.array_equal(a, b, equal_nan=True)
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(a - b) <= 4 * spread))


def _readout(y: np.ndarray, error: np.ndarray, magnitudes: bool, total: bool = False,
             terms: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row values of ``sum(y * error)`` (``total``: only their sum, one dot product), and with
    ``magnitudes`` the per-row sums of ``|y * error|``; with ``terms`` the terms ``y * error`` themselves,
    one row per readout row."""
    if y.shape != error.shape:
        raise RuntimeError(f"gradcheck: forward returned shape {y.shape} for a perturbed input, "
                           f"but {error.shape} before")
    if total and not magnitudes:
        return np.vdot(y, error), None
    rows = len(y) if y.ndim else 1
    y2, e2 = y.reshape(rows, -1), error.reshape(rows, -1)
    values = np.einsum("ij,ij->i", y2, e2)          # one pass, no temporary
    if terms:
        return values, y2 * e2
    return values, (np.abs(y2 * e2).sum(axis=1) if magnitudes else None)


TRAINING_FLAGS = ("training", "train", "is_training")


def _training_flag(layer) -> tuple:
    """``(True,)`` for a forward that requires a training flag after its input (``forward(inputs,
    training)``, the nnfs book's final classes), else ``()``; a TypeError for another required argument."""
    try:
        params = list(inspect.signature(layer.forward).parameters.values())
    except (TypeError, ValueError):
        return ()
    required = [p for p in params if p.default is p.empty and
                p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) < 2:
        return ()
    if len(required) == 2 and required[1].name in TRAINING_FLAGS:
        return (True,)
    raise TypeError(f"gradcheck: {type(layer).__name__}.forward takes "
                    f"({', '.join(p.name for p in required)}); expected forward(input_tensor) (or forward(inputs, "
                    "training)): wrap it, e.g. a class whose forward(x) calls it with the other arguments")


class LayerTarget(Target):
    """``sum(layer.forward(x) * E)`` for a fixed random upstream error ``E``."""

    batch_rows = True

    def __init__(self, layer, x: np.ndarray, rng: np.random.Generator,
                 before_forward: Callable[[], None] | None = None) -> None:
        missing = protocol_problem(layer)
        if missing:
            raise TypeError(missing)
        self.layer, self.label = layer, describe(layer)
        self.held = self.owners = with_sublayers([("", layer)])
        # integer and boolean inputs (indices, masks) are not perturbed and not converted; their second point
        # is a shuffle of the same values, so indices stay in range
        self.x = x
        self.inputs, self.fixed = ({"input": x}, {}) if x.dtype.kind == "f" else ({}, {"input": x})
        self.batch = len(x) if x.ndim else None
        self.x_other = other_point_of(x, rng)
        self._hook = self._user_hook = before_forward or (lambda: None)
        self._rng = rng
        self.error: np.ndarray | None = None
        self.copy_input = True      # until forward is seen not to write into its input
        self._writes_input = False
        self._extra = _training_flag(layer)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self._hook()
        return as_output(self._layer_forward(x), "forward")

    def _layer_forward(self, x: np.ndarray) -> object:
        """The layer's forward, in the nnfs book's convention too: ``forward(inputs, training)`` (called with
        training=True, as before a backward), returning None with the result in ``self.output``."""
        out = self.layer.forward(x, *self._extra)
        if out is None and isinstance(getattr(self.layer, "output", None), np.ndarray):
            return self.layer.output
        return out

    def _layer_backward(self, e: np.ndarray) -> object:
        """The layer's backward; one returning None has its result in ``self.dinputs`` (the nnfs book)."""
        grad = self.layer.backward(e)
        if grad is None and isinstance(getattr(self.layer, "dinputs", None), np.ndarray):
            return self.layer.dinputs
        return grad

    def before_each_forward(self, run: Callable[[], None] | None) -> None:
        """``run()`` before every forward, after the caller's hook (None: only the caller's hook again)."""
        user = self._user_hook
        self._hook = user if run is None else (lambda: (user(), run()))

    def output(self) -> np.ndarray:
        """Forward at the checked point, the first run of every check: a forward that raises there on a width
        the layer says it does not take gets the width it takes added to the message."""
        try:
            y = self._forward(self.x.copy())
        except (ValueError, IndexError) as error:
            clue = width_clue(self.layer, self.x, error)
            if clue is None:
                raise
            raise ValueError(f"{type(self.layer).__name__}.forward raised {type(error).__name__} on an input of "
                             f"shape {self.x.shape}: {error}; {clue}") from error
        if self.error is None:
            self.error = self._rng.standard_normal(y.shape)
        return y

    def readout(self) -> Readout:
        x = self.x
        return lambda *how, **kw: _readout(self._forward(x.copy() if self.copy_input else x), self.error, *how, **kw)

    def backward_pass(self, problems: list[str]) -> dict[str, np.ndarray | None]:
        x = self.x
        x_in, e_in = x.copy(), self.error.copy()
        self._forward(x_in)
        if not np.array_equal(x_in, x, equal_nan=True):
            problems.append(_changed("forward writes into its input array", x, x_in))
            self._writes_input = True
        # once forward is seen to leave its input alone, the numeric pass hands it our own array, uncopied
        self.copy_input = self._writes_input
        grad = self._layer_backward(e_in)
        if not np.array_equal(e_in, self.error, equal_nan=True):
            problems.append(_changed("backward writes into the error_tensor it is given", self.error, e_in))
        if not self.inputs:         # indices: whatever backward returns for them is not a gradient to check
            return {}
        return {"input": gradient_of(grad, x.shape, "backward's return value (the input gradient)", problems,
                                     "input")}

    def other_point(self) -> dict[str, np.ndarray]:
        return {"input": self.x_other}

    def integers_taken_as_numbers(self) -> list[str]:
        """["input"] when the input holds integers and forward gives the same output for the same values as
        floats: it computes with them as numbers (indices refuse floats, or pick other rows)."""
        x = self.fixed.get("input")
        if x is None or x.dtype.kind not in "iu":
            return []
        try:
            as_ints, as_floats = self._forward(x.copy()), self._forward(x.astype(np.float64))
        except Exception:  # noqa: BLE001 - floats refused: indices
            return []
        same = as_ints.shape == as_floats.shape and np.allclose(as_ints, as_floats, rtol=1e-12, atol=0,
                                                                  equal_nan=True)
        return ["input"] if same else []

    def use_checked_point_as_other(self) -> None:
        self.x_other = self.x.copy()

    def hygiene(self, grads: dict[str, np.ndarray | None], problems: list[str]) -> None:
        """An output sharing memory with the input must not let a caller's write corrupt backward. The very
        array forward returned is written NaN, which changes whatever backward computes from it (a mask, a
        clip, a product; any bound a finite write could miss: a clip to (-10, 10) of values in (-2, 2))."""
        if grads.get("input") is None:
            return
        x_in = self.x.copy()
        self._hook()
        y = self._layer_forward(x_in)
        if isinstance(y, np.ndarray) and y.flags.writeable and np.shares_memory(y, x_in) and y.dtype.kind == "f":
            y[...] = np.nan                                     # what a caller writing into the output could do
            try:
                with np.errstate(all="ignore"):
                    scribbled = gradient_of(self._layer_backward(self.error.copy()), x_in.shape, "input gradient",
                                            [])
            except Exception:  # noqa: BLE001 - backward failing on the written values read them
                scribbled = None
            if scribbled is None or not np.allclose(scribbled, grads["input"], rtol=1e-12, atol=0, equal_nan=True):
                problems.append("forward returns an array that shares memory with its input, and backward reads "
                                "it: writing into the output changed the gradient")

class LossTarget(Target):
    """``loss_layer.forward(prediction, label)`` as a function of the prediction; the label is fixed."""

    def __init__(self, loss_layer, prediction: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> None:
        self.loss, self.label = loss_layer, describe(loss_layer)
        self.held = self.owners = with_sublayers([("", loss_layer)])
        self.inputs = {"prediction": prediction}
        self.target_label = label
        self.batch = len(prediction) if prediction.ndim else None
        self.p_other = np.clip(prediction * rng.uniform(0.5, 1.5, prediction.shape), 0.0, None)

    def output(self) -> np.ndarray:
        value = self.loss.forward(self.inputs["prediction"].copy(), self.target_label.copy())
        return as_output(float(value) if isinstance(value, (int, np.integer)) else value, "the loss's forward")

    def readout(self) -> Readout:
        return lambda *how, **kw: _scalar(self.loss.forward(self.inputs["prediction"].copy(), self.target_label.copy()),
                                          *how, **kw)

    def backward_pass(self, problems: list[str]) -> dict[str, np.ndarray | None]:
        p, y = self.inputs["prediction"], self.target_label
        p_in, y_in = p.copy(), y.copy()
        self.loss.forward(p_in, y_in)
        if not (np.array_equal(p_in, p, equal_nan=True) and np.array_equal(y_in, y, equal_nan=True)):
            problems.append("forward writes into its prediction or label array")
        y_in = y.copy()
        grad = self.loss.backward(y_in)
        if not np.array_equal(y_in, y, equal_nan=True):
            problems.append("backward writes into the label array it is given")
        return {"prediction": gradient_of(grad, p.shape, "backward's return value (the prediction gradient)",
                                          problems)}

    def other_point(self) -> dict[str, np.ndarray]:
        return {"prediction": self.p_other}

    def use_checked_point_as_other(self) -> None:
        self.p_other = self.inputs["prediction"].copy()


class _FixedBatch:
    """Serves the same batch on every call, so the network's loss is a function of its weights alone."""

    def __init__(self, batch: tuple[np.ndarray, np.ndarray]) -> None:
        self.batch = batch

    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        return self.batch

    next = forward


def next_batch_without_advancing(data_layer) -> tuple[np.ndarray, np.ndarray]:
    """The batch ``data_layer`` would serve next, taken from a deep copy: the data layer itself, and numpy's
    global random state, are left as they were."""
    fetch_name = "forward" if hasattr(data_layer, "forward") else "next" if hasattr(data_layer, "next") else None
    if fetch_name is None:
        raise TypeError(f"check_network: network.data_layer must have forward() or next() returning "
                        f"(input_tensor, label_tensor), got {type(data_layer).__name__}")
    try:
        twin = copy.deepcopy(data_layer)
    except Exception as exc:  # noqa: BLE001 - any failure to copy means: ask for the batch
        raise TypeError(f"check_network: cannot copy the data layer {type(data_layer).__name__} to take a batch "
                        f"without advancing it ({type(exc).__name__}: {exc}); pass batch=(input, label)") from None
    state = np.random.get_state()
    try:
        batch = getattr(twin, fetch_name)()
    finally:
        np.random.set_state(state)
    return tuple(np.array(b, copy=True) for b in batch)


class NetworkTarget(Target):
    """``network.forward()`` (the loss) on one fixed batch, as a function of every layer's parameters."""

    def __init__(self, network, batch: tuple[np.ndarray, np.ndarray]) -> None:
        self.network = network
        names = ", ".join(describe(layer) for layer in network.layers)
        self.label = f"NeuralNetwork[{names}] + {describe(network.loss_layer)}"
        self.owners = with_sublayers([(f"layers.{i}", layer) for i, layer in enumerate(network.layers)])
        self.held = [("network", network), ("loss_layer", network.loss_layer)] + self.owners
        self.inputs = {}
        self.batch_data = batch

    def install(self) -> None:
        """Serve the fixed batch (the network's own data layer is put back with the rest of its state)."""
        self.network.data_layer = _FixedBatch(self.batch_data)

    def output(self) -> np.ndarray:
        value = self.network.forward()
        return as_output(float(value) if isinstance(value, (int, np.integer)) else value, "network.forward()")

    def readout(self) -> Readout:
        return lambda *how, **kw: _scalar(self.network.forward(), *how, **kw)

    def backward_pass(self, problems: list[str]) -> dict[str, np.ndarray | None]:
        self.network.forward()
        self.network.backward()
        return {}


class FunctionTarget(Target):
    """A functional pair: ``out, cache = forward(*inputs)``, ``grads = backward(dout, cache)``; the checked
    scalar is ``sum(out * E)`` and ``grads`` are the gradients of every input, in order."""

    batch_rows = True

    def __init__(self, forward: Callable, backward: Callable, inputs: dict[str, np.ndarray],
                 rng: np.random.Generator, before_forward: Callable[[], None] | None = None) -> None:
        self.forward, self.backward = forward, backward
        self.label = f"{getattr(forward, '__name__', 'forward')} / {getattr(backward, '__name__', 'backward')}"
        self.held, self.owners, self.inputs = [], [], inputs
        first = next(iter(inputs.values()))
        self.batch = len(first) if first.ndim else None
        self.others = {k: v * rng.uniform(0.5, 1.5, v.shape) + 0.1 * rng.standard_normal(v.shape)
                       for k, v in inputs.items()}
        self._hook = before_forward or (lambda: None)
        self._rng = rng
        self.error: np.ndarray | None = None

    def _call(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, object]:
        self._hook()
        result = self.forward(*arrays)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(f"check_function: forward must return (out, cache), got {type(result).__name__}"
                            f"{f' of length {len(result)}' if isinstance(result, tuple) else ''}")
        return as_output(result[0], "forward's out"), result[1]

    def output(self) -> np.ndarray:
        y, _ = self._call([v.copy() for v in self.inputs.values()])
        if self.error is None:
            self.error = self._rng.standard_normal(y.shape)
        return y

    def readout(self) -> Readout:
        return lambda *how, **kw: _readout(self._call([v.copy() for v in self.inputs.values()])[0], self.error, *how,
                                           **kw)

    def backward_pass(self, problems: list[str]) -> dict[str, np.ndarray | None]:
        copies = [v.copy() for v in self.inputs.values()]
        _, cache = self._call(copies)
        for (name, v), c in zip(self.inputs.items(), copies):
            if not np.array_equal(v, c, equal_nan=True):
                problems.append(_changed(f"forward writes into its input {name}", v, c))
        e_in = self.error.copy()
        grads = self.backward(e_in, cache)
        if not np.array_equal(e_in, self.error, equal_nan=True):
            problems.append(_changed("backward writes into the dout it is given", self.error, e_in))
        if len(self.inputs) == 1 and not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if not isinstance(grads, (tuple, list)) or len(grads) != len(self.inputs):
            got = f"{len(grads)} values" if isinstance(grads, (tuple, list)) else type(grads).__name__
            problems.append(f"backward must return one gradient per input ({', '.join(self.inputs)}), got {got}")
            return {name: None for name in self.inputs}
        return {name: gradient_of(g, v.shape, f"backward's gradient of {name}", problems)
                for (name, v), g in zip(self.inputs.items(), grads)}

    def other_point(self) -> dict[str, np.ndarray]:
        return self.others

    def use_checked_point_as_other(self) -> None:
        self.others = {k: v.copy() for k, v in self.inputs.items()}


_WIDTH_NAMES = ("input_size", "in_features", "input_dim", "n_in", "fan_in", "num_features", "in_channels")


def width_clue(layer, x: np.ndarray, error: BaseException | None = None) -> str | None:
    """What the layer says its input width is, where that differs from ``x``'s (axis 1), or None: an integer
    attribute named like an input size, else the rows of a 2-D float array it holds where ``error``'s message
    names both sizes (numpy's matmul does): "the layer expects width 5 (input_size = 5), the input has width 4".
    Called when forward has raised, so a layer that names its width and agrees with the input is left alone
    (the error is elsewhere), and an embedding's table (rows by index, not by width) is not taken for one."""
    if x.ndim < 2:
        return None
    width = x.shape[1]
    named = [(int(v), f"{name} = {int(v)}") for name in _WIDTH_NAMES
             if isinstance(v := getattr(layer, name, None), (int, np.integer)) and not isinstance(v, bool)]
    text = re.findall(r"\d+", str(error)) if error is not None else []
    held = [(v.shape[0], f"{name} of shape {v.shape}") for name, v in sorted(getattr(layer, "__dict__", {}).items())
            if isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind == "f"
            and str(v.shape[0]) in text and str(width) in text]
    says = named or held
    if not says or any(w == width for w, _ in says):
        return None
    expected, source = says[0]
    shape = (x.shape[0], expected, *x.shape[2:])
    return (f"the layer expects width {expected} ({source}), the input has width {width}: give an input of shape "
            f"{shape} (from the command, --features {expected} or --shape {','.join(map(str, shape))})")


def protocol_problem(layer) -> str | None:
    """What a layer lacks of the protocol (callable ``forward(input_tensor)`` and ``backward(error_tensor)``),
    naming the methods it has that look like the missing one; None when it has both."""
    if isinstance(layer, type):
        return (f"{layer.__name__} is a class: pass an instance ({layer.__name__}(...)), built with its "
                "constructor's arguments")
    missing = [name for name in ("forward", "backward") if not callable(getattr(layer, name, None))]
    if not missing:
        return None
    methods = [m for m in dir(layer) if not m.startswith("__") and callable(getattr(layer, m, None))]
    words = ("forward", "backward", "grad", "backprop", "call", "predict")
    near = [m for m in methods if m not in ("forward", "backward") and any(w in m.lower() for w in words)]
    text = (f"{type(layer).__name__} has no {' and no '.join(f'{name}()' for name in missing)}: a layer needs "
            "forward(input_tensor) and backward(error_tensor) (a loss: forward(prediction, label) and "
            "backward(label))")
    return text + (f"; it has {', '.join(near)}: rename it, or wrap the layer" if near else "")
