"""core held to torch: each layer's forward, input gradient and parameter gradients against torch's, searched
over constructor arguments, shapes and values (fuzz_against shrinks a disagreement to the smallest case), and
one step of each optimizer against torch.optim. Needs the torch extra."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import core
from gradcheck.fuzz import fuzz_against
from gradcheck.strategies import batches

torch = pytest.importorskip("torch", reason="the torch extra is not installed (pip install -e '.[torch]')")
nn, F = torch.nn, torch.nn.functional
EXAMPLES = 25


def _agrees(build, examples: int = EXAMPLES, **kwargs) -> None:
    result = fuzz_against(build, max_examples=examples, **kwargs)
    assert result.ok, str(result)


def test_fully_connected_is_torch_linear():
    def build(draw):
        n_in, n_out = draw(st.integers(1, 6), label="in"), draw(st.integers(1, 6), label="out")
        return core.FullyConnected(n_in, n_out), nn.Linear(n_in, n_out), draw(batches(n_in, 5))
    _agrees(build)


class SameConv(nn.Module):
    """torch's convolution with core's "same" padding: (k - 1) // 2 zeros before and k // 2 after on each axis
    (torch's padding="same" allows no stride), then the stride."""

    def __init__(self, stride: tuple[int, ...], shape: tuple[int, ...], kernels: int) -> None:
        super().__init__()
        channels, *kernel = shape
        self.pads = [p for k in reversed(kernel) for p in ((k - 1) // 2, k // 2)]     # F.pad: the last axis first
        self.conv = (nn.Conv1d if len(kernel) == 1 else nn.Conv2d)(channels, kernels, tuple(kernel), stride=stride)

    def forward(self, x):
        return self.conv(F.pad(x, self.pads))


@pytest.mark.parametrize("spatial", [1, 2])
def test_conv_is_torch_conv_with_same_padding_for_every_kernel_and_stride(spatial):
    def build(draw):
        c, kernels = draw(st.integers(1, 3), label="channels"), draw(st.integers(1, 3), label="kernels")
        kernel = tuple(draw(st.integers(1, 4), label="kernel") for _ in range(spatial))      # even ones too
        stride = tuple(draw(st.integers(1, 3), label="stride") for _ in range(spatial))
        size = tuple(draw(st.integers(1, 7), label="size") for _ in range(spatial))
        return (core.Conv(stride, (c, *kernel), kernels), SameConv(stride, (c, *kernel), kernels),
                draw(batches((c, *size), 3)))
    _agrees(build)


def test_pooling_is_torch_max_pool():
    def build(draw):
        pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        size = (draw(st.integers(pool[0], 7)), draw(st.integers(pool[1], 7)))
        x = draw(batches((draw(st.integers(1, 2)), *size), 3))
        return core.Pooling(stride, pool), nn.MaxPool2d(pool, stride), x
    _agrees(build)


@pytest.mark.parametrize("phase", ["train", "test"])
@pytest.mark.parametrize("image", [False, True], ids=["vectors", "images"])
def test_batch_normalization_is_torch_batch_norm(phase, image):
    def build(draw):
        c = draw(st.integers(1, 3), label="channels")
        shape = (c, 2, 3) if image else (c,)
        layer = core.BatchNormalization(c)
        layer.weights = draw(batches(c, 1))[0]
        layer.bias = draw(batches(c, 1))[0]
        reference = (nn.BatchNorm2d if image else nn.BatchNorm1d)(c, eps=core.batch_normalization.EPS)
        if phase == "test":        # both normalise with core's moving averages of a training batch
            layer.forward(draw(batches(shape, 4)) if not image else np.random.default_rng(0).normal(size=(3, *shape)))
            layer.testing_phase = True
            reference.running_mean = torch.tensor(layer.moving_mean)
            reference.running_var = torch.tensor(layer.moving_var)
            reference.eval()
        rows = 2 if not image else 1      # a training batch needs two rows per channel to have a variance
        return layer, reference, draw(batches(shape, 5)) if phase == "test" else \
            np.concatenate([draw(batches(shape, 4)), np.random.default_rng(1).normal(size=(rows, *shape))])
    _agrees(build)


@pytest.mark.parametrize("layer, module", [(core.ReLU, nn.ReLU), (core.Sigmoid, nn.Sigmoid), (core.TanH, nn.Tanh),
                                           (core.SoftMax, lambda: nn.Softmax(dim=1))],
                         ids=["relu", "sigmoid", "tanh", "softmax"])
def test_activations_are_torchs(layer, module):
    _agrees(lambda draw: (layer(), module(), draw(batches(draw(st.integers(1, 6)), 5))))


def test_embedding_is_torch_embedding_on_indices_with_repeats():
    from hypothesis.extra import numpy as hnp

    def build(draw):
        vocabulary, size = draw(st.integers(1, 6), label="vocabulary"), draw(st.integers(1, 4), label="size")
        x = draw(hnp.arrays(np.int64, (draw(st.integers(1, 4)), draw(st.integers(1, 5))),
                            elements=st.integers(0, vocabulary - 1)))
        return core.Embedding(vocabulary, size), nn.Embedding(vocabulary, size), x
    _agrees(build)


def test_dropout_in_the_test_phase_is_torch_dropout_in_eval():
    def build(draw):
        p = draw(st.floats(0.05, 0.95))
        layer, reference = core.Dropout(p), nn.Dropout(1 - p)      # core's p is the probability of keeping
        layer.testing_phase = True
        return layer, reference.eval(), draw(batches(4, 5))
    _agrees(build)


class Recurrent(nn.Module):
    """core's RNN and LSTM as torch computes them: a sequence (time, input) through nn.RNN or nn.LSTM from a
    zero state, then a sigmoid of a Linear of each hidden state."""

    def __init__(self, cell: type, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.rnn, self.fc = cell(n_in, n_hidden), nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return torch.sigmoid(self.fc(self.rnn(x)[0]))


@pytest.mark.parametrize("lstm", [False, True], ids=["rnn", "lstm"])
def test_recurrent_layers_are_torch_rnn_and_lstm_where_they_correspond(lstm):
    # carried over by the known convention: one gate layer of [x, h, 1] into torch's W_ih, W_hh, b_ih (b_hh zero),
    # the LSTM's gates f, i, g, o reordered as torch's i, f, g, o
    def build(draw):
        n_in, n_h, n_out = (draw(st.integers(1, 4), label=k) for k in ("in", "hidden", "out"))
        cls, cell = (core.LSTM, nn.LSTM) if lstm else (core.RNN, nn.RNN)
        return cls(n_in, n_h, n_out), Recurrent(cell, n_in, n_h, n_out), draw(batches(n_in, 6))
    _agrees(build)


def test_an_rnn_is_not_carried_over_as_an_lstm():
    from gradcheck.reference import check_against

    report = check_against(core.RNN(2, 3, 2), Recurrent(nn.LSTM, 2, 3, 2), (4, 2))
    assert not report.ok and "carry-over" in report.problems[0], report.problems


def test_cross_entropy_differs_from_torchs_exactly_by_the_courses_eps():
    """core's loss is -sum log(p + eps) (the course's eps keeps p = 0 finite); torch's NLL of log p has none.
    The difference is exactly that eps, in the loss and in the gradient."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, 6)
    y = np.eye(4)[labels]
    loss = core.CrossEntropyLoss()
    ours = loss.forward(p, y)
    grad = loss.backward(y)
    t = torch.tensor(p, requires_grad=True)
    theirs = F.nll_loss(torch.log(t), torch.tensor(labels), reduction="sum")
    theirs.backward()
    eps = core.cross_entropy_loss.EPS
    picked = p[np.arange(6), labels]
    assert np.isclose(ours - theirs.item(), np.sum(np.log(picked) - np.log(picked + eps)), rtol=1e-6, atol=1e-15)
    assert np.allclose(grad * (p + eps), t.grad.numpy() * p, rtol=1e-12, atol=0)      # -y/(p+eps) against -y/p
    assert not np.array_equal(grad, t.grad.numpy())


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_three_steps_of_each_optimizer_are_torch_optims(name):
    rng = np.random.default_rng(0)
    w0, grads = rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(3)]
    ours = {"sgd": lambda: core.Sgd(0.1), "momentum": lambda: core.SgdWithMomentum(0.1, 0.9),
            "adam": lambda: core.Adam(0.01, 0.9, 0.999)}[name]()
    param = torch.nn.Parameter(torch.tensor(w0))
    theirs = {"sgd": lambda: torch.optim.SGD([param], lr=0.1),
              "momentum": lambda: torch.optim.SGD([param], lr=0.1, momentum=0.9),
              "adam": lambda: torch.optim.Adam([param], lr=0.01, betas=(0.9, 0.999), eps=core.adam.EPS)}[name]()
    w = w0.copy()
    for g in grads:
        w = ours.calculate_update(w, g)
        param.grad = torch.tensor(g)
        theirs.step()
        assert np.allclose(w, param.detach().numpy(), rtol=1e-12, atol=1e-15), name
