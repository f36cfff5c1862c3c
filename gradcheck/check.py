"""The checks: ``check_layer``, ``check_loss``, ``check_network`` and ``assert_gradients``.

Each is a short pipeline: prepare inputs -> hold the state -> analytic pass (with hygiene checks) ->
numeric differences per tensor -> compare and diagnose -> report.
"""
from __future__ import annotations

import inspect

import numpy as np

from gradcheck.analytic import STATE_LEAKS, analytic_layer_pass, gradient_of, same_gradients
from gradcheck.numeric import column_groups, element_groups
from gradcheck.prepare import as_float64, input_array, is_shape, one_hot_like, probabilities, settings_for
from gradcheck.report import GradcheckReport, GradientCheckError, TensorCheck
from gradcheck.state import HeldState, held
from gradcheck.tensor_check import check_tensor, layer_readout, mark_stale, rows_independent, scalar_readout

__all__ = ["check_layer", "check_loss", "check_network", "assert_gradients"]


def _describe(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 and " at 0x" not in text else type(obj).__name__


def _finish(report: GradcheckReport, state: HeldState, checks: list[TensorCheck | None]) -> GradcheckReport:
    report.tensors.extend(c for c in checks if c is not None)
    report.warnings.extend(state.warnings)
    if state.promoted:
        report.warnings.append(f"{', '.join(state.promoted)} checked as float64 copies (restored afterwards)")
    return report


# ------------------------------------------------------------------------------------------- public API

def check_layer(layer, inputs, *, mode: str = "full", eps: float | None = None, rtol: float | None = None,
                atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Check ``layer.backward`` (and ``gradient_weights``) against finite differences of ``layer.forward``.

    Parameters
    ----------
    layer : object with ``forward(x)`` and ``backward(e)``; optionally ``weights``/``gradient_weights``
        (and ``bias``/``gradient_bias``) and ``optimizer``, which is detached during the check.
    inputs : ndarray of shape (batch, ...) or tuple of int
        The input, or its shape (standard normal values drawn with ``seed``). Never modified.
    mode : {"full", "fast"}
        "full" checks every element; "fast" checks random directional derivatives and falls back to the
        full check for a tensor that fails, so failures still come with indices.
    eps : float, optional
        Relative step; default the cube root of the machine epsilon of the precision the layer computes in.
    rtol, atol : float
        Added to the tolerance derived from the error estimates. rtol defaults to 1e-6 (1e-3 for a layer
        that computes in float32).
    seed : int
        Seeds the input (when a shape is given), the upstream error E and the fast-mode directions.

    Returns
    -------
    GradcheckReport
        The checked scalar is ``sum(forward(x) * E)``; one entry for the input and one per parameter.
    """
    rng = np.random.default_rng(seed)
    x = input_array(inputs, rng)
    x_other = x * rng.uniform(0.5, 1.5, x.shape) + 0.1 * rng.standard_normal(x.shape)
    report = GradcheckReport(target=_describe(layer), mode=mode, seed=seed, step=0.0, rtol=0.0, atol=atol)
    with held([("", layer)]) as state:
        y = layer.forward(x_other.copy())      # first call on another input: a cache that sticks shows up
        s = settings_for(mode, eps, rtol, atol, y, report)
        error = rng.standard_normal(np.shape(y))
        grads = analytic_layer_pass(layer, x, error, state.parameters, report.problems)
        independent = rows_independent(layer, x, np.asarray(layer.forward(x.copy())), rng)
        groups, method = (column_groups(x.shape), "columns") if independent else (element_groups(x.size),
                                                                                  "elements")

        def compare_at(point: np.ndarray) -> list[TensorCheck | None]:
            readout = layer_readout(layer, point, error)
            return [check_tensor("input", point, grads["input"], readout, groups, method, s, rng, len(x))] + \
                [check_tensor(p.label, p.live, grads[p.label], readout, element_groups(p.live.size),
                               "elements", s, rng, len(x)) for p in state.parameters]

        _finish(report, state, compare_at(x))
        if not report.ok:
            mark_stale(report, lambda: compare_at(x_other.copy()))
    return report


def check_loss(loss_layer, prediction, label=None, *, mode: str = "full", eps: float | None = None,
               rtol: float | None = None, atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Check ``loss_layer.backward(label)`` against finite differences of ``loss_layer.forward(p, label)``.

    ``prediction`` is an array or a shape (random probability rows are drawn); ``label`` defaults to
    random one-hot rows of the same shape. Other parameters as :func:`check_layer`.
    """
    rng = np.random.default_rng(seed)
    p = probabilities(tuple(prediction), rng) if is_shape(prediction) else as_float64(prediction, "prediction")
    y = one_hot_like(p.shape, rng) if label is None else as_float64(label, "label")
    report = GradcheckReport(target=_describe(loss_layer), mode=mode, seed=seed, step=0.0, rtol=0.0, atol=atol)

    def gradient(pred: np.ndarray, problems: list[str]) -> np.ndarray | None:
        p_in, y_in = pred.copy(), y.copy()
        loss_layer.forward(p_in, y_in)
        if not (np.array_equal(p_in, pred) and np.array_equal(y_in, y)):
            problems.append("forward writes into its prediction or label array")
        y_in = y.copy()
        grad = loss_layer.backward(y_in)
        if not np.array_equal(y_in, y):
            problems.append("backward writes into the label array it is given")
        return gradient_of(grad, p.shape, "backward's return value (the prediction gradient)", problems)

    with held([("", loss_layer)]) as state:
        p_other = np.clip(p * rng.uniform(0.5, 1.5, p.shape), 0.0, None)
        s = settings_for(mode, eps, rtol, atol, loss_layer.forward(p_other.copy(), y.copy()), report)
        grad = gradient(p, report.problems)
        if not same_gradients({"g": grad}, {"g": gradient(p, [])}):
            report.problems.append(STATE_LEAKS)

        def compare_at(point: np.ndarray) -> list[TensorCheck | None]:
            readout = scalar_readout(lambda: loss_layer.forward(point.copy(), y.copy()))
            return [check_tensor("prediction", point, grad, readout, element_groups(point.size), "elements",
                                  s, rng, len(p))]

        _finish(report, state, compare_at(p))
        if not report.ok:
            mark_stale(report, lambda: compare_at(p_other.copy()))
    return report


class _FixedBatch:
    """Serves the same batch on every call, so the network's loss is a function of its weights alone."""

    def __init__(self, batch: tuple[np.ndarray, np.ndarray]) -> None:
        self.batch = batch

    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        return self.batch

    next = forward


def check_network(network, *, mode: str = "full", eps: float | None = None, rtol: float | None = None,
                  atol: float = 0.0, seed: int = 0) -> GradcheckReport:
    """Check the gradient of the network's loss w.r.t. every trainable layer's weights.

    One batch is drawn from ``network.data_layer`` and served again for every evaluation; the data layer,
    the optimizers, the weights and ``network.loss`` are all as before when the check returns.
    """
    rng = np.random.default_rng(seed)
    layers = [(f"layers[{i}]", layer) for i, layer in enumerate(network.layers)]
    names = ", ".join(_describe(layer) for layer in network.layers)
    report = GradcheckReport(target=f"NeuralNetwork[{names}] + {_describe(network.loss_layer)}", mode=mode,
                             seed=seed, step=0.0, rtol=0.0, atol=atol)
    data_layer, losses = network.data_layer, list(network.loss)
    fetch = getattr(data_layer, "forward", None) or getattr(data_layer, "next", None)
    if fetch is None:
        raise TypeError(f"check_network: network.data_layer must have forward() or next() returning "
                        f"(input_tensor, label_tensor), got {type(data_layer).__name__}")
    network.data_layer = _FixedBatch(tuple(np.array(b, copy=True) for b in fetch()))
    try:
        with held(layers) as state:
            s = settings_for(mode, eps, rtol, atol, network.forward(), report)
            network.backward()
            grads = {p.label: gradient_of(getattr(p.owner, p.grad_name, None), p.start.shape,
                                        f"{p.label}.{p.grad_name}", report.problems) for p in state.parameters}
            for p in state.parameters:
                if p.reset():
                    report.problems.append(f"network.backward changed {p.label} although the optimizers "
                                           "were detached")
            readout = scalar_readout(network.forward)
            _finish(report, state, [check_tensor(p.label, p.live, grads[p.label], readout,
                                                  element_groups(p.live.size), "elements", s, rng, None)
                                    for p in state.parameters])
    finally:
        network.data_layer = data_layer
        network.loss[:] = losses
    return report


def _is_loss(obj: object) -> bool:
    try:
        params = inspect.signature(obj.forward).parameters.values()
    except (TypeError, ValueError, AttributeError):
        return False
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 2


def assert_gradients(target, *args, **kwargs) -> GradcheckReport:
    """Run the right check for ``target`` and raise :class:`GradientCheckError` if it fails.

    A network (``layers`` and ``loss_layer``) -> :func:`check_network`; an object whose ``forward`` takes
    two arguments -> :func:`check_loss`; anything else -> :func:`check_layer`. Returns the report on success::

        assert_gradients(FullyConnected(4, 3), (8, 4))
        assert_gradients(CrossEntropyLoss(), (8, 3))
    """
    if hasattr(target, "layers") and hasattr(target, "loss_layer"):
        report = check_network(target, *args, **kwargs)
    elif _is_loss(target):
        report = check_loss(target, *args, **kwargs)
    else:
        report = check_layer(target, *args, **kwargs)
    if not report.ok:
        raise GradientCheckError(report)
    return report
