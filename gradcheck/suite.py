"""The default ``gradcheck`` run: every layer and loss of ``core`` at several shapes, seeds fixed, and a fuzz
search for each; the command (``gradcheck`` with no target) runs it, and the tests hold it green."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from gradcheck.check import check_layer, check_loss, check_network
from gradcheck.fuzz import FuzzResult, fuzz_layer, fuzz_loss, layer_builder, loss_builder
from gradcheck.report import GradcheckReport
from gradcheck.strategies import batches

__all__ = ["default_suite"]


def _kinked_input(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Normal values with every third element exactly 0 (ReLU's kink)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    x.flat[::3] = 0.0
    return x


def _fuzz_fully_connected(draw) -> tuple:
    from core import FullyConnected

    n_in, n_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return FullyConnected(n_in, n_out, draw(st.integers(0, 2**32 - 1))), draw(batches(n_in, 8))


def _batch_norm(cls: type, channels: int, seed: int, testing: tuple[int, ...] | None = None):
    """A BatchNormalization with gamma and beta away from 1 and 0; in the testing phase after one batch."""
    layer = cls(channels)
    rng = np.random.default_rng(seed)
    layer.weights, layer.bias = 1 + rng.standard_normal(channels), rng.standard_normal(channels)
    if testing is not None:
        layer.forward(rng.standard_normal(testing) * 2 + 1)
        layer.testing_phase = True
    return layer


def _fuzz_conv(draw) -> tuple:
    from core import Conv

    spatial = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    channels = draw(st.integers(1, 2))
    size = tuple(draw(st.integers(1, 6)) for _ in range(spatial))
    layer = Conv(stride, (channels, *kernel), draw(st.integers(1, 3)), draw(st.integers(0, 2**32 - 1)))
    return layer, draw(batches((channels, *size), 3))


def _fuzz_pooling(draw) -> tuple:
    from core import Pooling

    window = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = (draw(st.integers(window[0], 6)), draw(st.integers(window[1], 6)))
    return Pooling(stride, window), draw(batches((draw(st.integers(1, 2)), *size), 3))


def default_suite(mode: str = "full", seed: int = 0) -> list[tuple[str, Callable[[], GradcheckReport | FuzzResult]]]:
    """(label, check) pairs covering every layer and loss of ``core`` at several shapes, seeds fixed, and
    a search over sizes and inputs for each."""
    from core import (
        LSTM,
        RNN,
        BatchNormalization,
        Conv,
        CrossEntropyLoss,
        Dropout,
        Embedding,
        Flatten,
        FullyConnected,
        Pooling,
        ReLU,
        Sigmoid,
        SoftMax,
        TanH,
    )
    from core.train import build_cnn, build_network

    kw = {"mode": mode, "seed": seed}
    fuzz = {"mode": mode, "seed": seed, "max_examples": 50}
    rng = np.random.default_rng(seed)
    return [
        ("FullyConnected(4, 3), batch 8", lambda: check_layer(FullyConnected(4, 3, rng), (8, 4), **kw)),
        ("FullyConnected(1, 1), batch 1", lambda: check_layer(FullyConnected(1, 1, rng), (1, 1), **kw)),
        ("FullyConnected(16, 8), batch 5, float32",
         lambda: check_layer(FullyConnected(16, 8, rng, dtype=np.float32), (5, 16), **kw)),
        ("ReLU, batch 8 x 6, zeros in input", lambda: check_layer(ReLU(), _kinked_input((8, 6), seed), **kw)),
        ("SoftMax, batch 8 x 5", lambda: check_layer(SoftMax(), (8, 5), **kw)),
        ("SoftMax, logits ~ +-100", lambda: check_layer(SoftMax(), 100 * _kinked_input((6, 4), seed), **kw)),
        ("CrossEntropyLoss, batch 8 x 3", lambda: check_loss(CrossEntropyLoss(), (8, 3), **kw)),
        ("NeuralNetwork (iris, seed settings)", lambda: check_network(build_network("iris", seed=seed), **kw)),
        ("NeuralNetwork (digits, hidden 16)",
         lambda: check_network(build_network("digits", hidden=16, batch_size=8, seed=seed), **kw)),
        ("TanH, (4, 3, 5), zeros and +-20", lambda: check_layer(TanH(), 20 * _kinked_input((4, 15), seed)
                                                                 .reshape(4, 3, 5), **kw)),
        ("Sigmoid, (4, 3, 5), zeros and +-40", lambda: check_layer(Sigmoid(), 40 * _kinked_input((4, 15), seed)
                                                                   .reshape(4, 3, 5), **kw)),
        ("Flatten, (3, 2, 4, 5)", lambda: check_layer(Flatten(), (3, 2, 4, 5), **kw)),
        ("ReLU, (2, 3, 4, 4), zeros in input", lambda: check_layer(ReLU(), _kinked_input((2, 48), seed)
                                                                    .reshape(2, 3, 4, 4), **kw)),
        ("Conv 2-D, 3x3, stride 1", lambda: check_layer(Conv(1, (2, 3, 3), 3, rng), (2, 2, 6, 5), **kw)),
        ("Conv 2-D, even kernel 2x4, stride 1", lambda: check_layer(Conv(1, (2, 2, 4), 3, rng), (2, 2, 6, 7), **kw)),
        ("Conv 2-D, 3x2, stride (2, 3)", lambda: check_layer(Conv((2, 3), (3, 3, 2), 2, rng), (2, 3, 7, 8), **kw)),
        ("Conv 1-D, length 9, stride 3, kernel 3",
         lambda: check_layer(Conv(3, (2, 3), 2, rng), (3, 2, 9), **kw)),
        ("Conv 1-D, length 9, stride 3, kernel 4",
         lambda: check_layer(Conv([3], (2, 4), 2, rng), (3, 2, 9), **kw)),
        ("Conv 1-D, length 9, stride 3, kernel 5",
         lambda: check_layer(Conv((3,), (2, 5), 2, rng), (3, 2, 9), **kw)),
        ("Pooling 2x2, stride 2", lambda: check_layer(Pooling((2, 2), (2, 2)), (2, 3, 6, 6), **kw)),
        ("Pooling 3x2, stride (2, 1), overlapping", lambda: check_layer(Pooling((2, 1), (3, 2)), (2, 2, 7, 5), **kw)),
        ("Pooling 2x2, stride 1, all inputs tied at 0",
         lambda: check_layer(Pooling((1, 1), (2, 2)), np.zeros((2, 2, 4, 4)), **kw)),
        ("NeuralNetwork (digits CNN, Adam)", lambda: check_network(build_cnn(hidden=8, batch_size=4, seed=seed), **kw)),
        ("BatchNormalization(3), (6, 3), training", lambda: check_layer(_batch_norm(BatchNormalization, 3, seed),
                                                                        (6, 3), **kw)),
        ("BatchNormalization(3), (6, 3), testing",
         lambda: check_layer(_batch_norm(BatchNormalization, 3, seed, testing=(6, 3)), (6, 3), **kw)),
        ("BatchNormalization(2), (3, 2, 4, 3), training",
         lambda: check_layer(_batch_norm(BatchNormalization, 2, seed), (3, 2, 4, 3), **kw)),
        ("BatchNormalization(2), (3, 2, 4, 3), testing",
         lambda: check_layer(_batch_norm(BatchNormalization, 2, seed, testing=(3, 2, 4, 3)), (3, 2, 4, 3), **kw)),
        ("Dropout(0.6), reseed 0", lambda: check_layer(Dropout(0.6), (5, 4), reseed=0, **kw)),
        ("Embedding(10, 4), integer indices with repeats",
         lambda: check_layer(Embedding(10, 4, rng), np.array([[1, 9, 9], [0, 3, 9]]), **kw)),
        ("RNN(3, 4, 2), 6 steps, memorize=False", lambda: check_layer(RNN(3, 4, 2, rng), (6, 3), **kw)),
        ("LSTM(3, 4, 2), 6 steps, memorize=False", lambda: check_layer(LSTM(3, 4, 2, rng), (6, 3), **kw)),
        ("fuzz FullyConnected, sizes 1-6, batch 1-8", lambda: fuzz_layer(_fuzz_fully_connected, **fuzz)),
        ("fuzz ReLU, (1-8, 5)", lambda: fuzz_layer(layer_builder(ReLU, 5, 8), **fuzz)),
        ("fuzz SoftMax, (1-8, 4)", lambda: fuzz_layer(layer_builder(SoftMax, 4, 8), **fuzz)),
        ("fuzz CrossEntropyLoss, (1-8, 3)", lambda: fuzz_loss(loss_builder(CrossEntropyLoss, 3, 8), **fuzz)),
        ("fuzz Conv, kernels 1-4, strides 1-3, 1-D and 2-D", lambda: fuzz_layer(_fuzz_conv, **fuzz)),
        ("fuzz Pooling, windows 1-3, strides 1-3", lambda: fuzz_layer(_fuzz_pooling, **fuzz)),
    ]
