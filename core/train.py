"""Train the seed's network on a bundled data set: ``python -m core.train --dataset iris``."""
from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
import time
from collections.abc import Sequence

import numpy as np

from core.adam import Adam
from core.constant import Constant
from core.conv import Conv
from core.cross_entropy_loss import CrossEntropyLoss
from core.datasets import DigitsData, IrisData, RunningSumSigns, SklearnData
from core.flatten import Flatten
from core.fully_connected import FullyConnected
from core.he import He
from core.lstm import LSTM
from core.neural_network import NeuralNetwork
from core.pooling import Pooling
from core.relu import ReLU
from core.sgd import Sgd
from core.softmax import SoftMax
from core.xavier import Xavier

__all__ = ["build_network", "build_cnn", "build_lstm", "accuracy", "sequence_accuracy", "main", "DEFAULTS",
           "CNN_DEFAULTS", "LSTM_DEFAULTS"]

# the CNN on digits: batch size, iterations, Adam's learning rate, hidden width
CNN_DEFAULTS = {"batch_size": 32, "iterations": 2000, "learning_rate": 2e-3, "hidden": 64}

# dataset -> (data class, input width, classes, default hidden width, batch size, iterations, learning rate)
DEFAULTS = {
    "iris": (IrisData, 4, 3, 3, 50, 4000, 1e-3),
    "digits": (DigitsData, 64, 10, 64, 64, 3000, 5e-3),
}


def build_network(dataset: str = "iris", *, hidden: int | None = None, batch_size: int | None = None,
                  learning_rate: float | None = None, seed: int | None = 0) -> NeuralNetwork:
    """FC -> ReLU -> FC -> SoftMax with cross-entropy loss and SGD, on ``dataset`` ("iris" or "digits")."""
    if dataset not in DEFAULTS:
        raise ValueError(f"build_network: dataset must be one of {sorted(DEFAULTS)}, got {dataset!r}")
    data_cls, n_in, n_out, d_hidden, d_batch, _, d_lr = DEFAULTS[dataset]
    rng = np.random.default_rng(seed)
    hidden = d_hidden if hidden is None else hidden
    net = NeuralNetwork(Sgd(d_lr if learning_rate is None else learning_rate))
    net.data_layer = data_cls(d_batch if batch_size is None else batch_size, rng)
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(FullyConnected(n_in, hidden, rng))
    net.append_layer(ReLU())
    net.append_layer(FullyConnected(hidden, n_out, rng))
    net.append_layer(SoftMax())
    return net


def build_cnn(*, hidden: int | None = None, batch_size: int | None = None, learning_rate: float | None = None,
              seed: int | None = 0) -> NeuralNetwork:
    """Conv((1,1),(1,3,3),8) -> ReLU -> Pooling((2,2),(2,2)) -> Flatten -> FC(128, hidden) -> ReLU ->
    FC(hidden, 10) -> SoftMax on digits as (batch, 1, 8, 8) images, with Adam, He weights and 0.1 biases."""
    d = CNN_DEFAULTS
    rng = np.random.default_rng(seed)
    hidden = d["hidden"] if hidden is None else hidden
    net = NeuralNetwork(Adam(d["learning_rate"] if learning_rate is None else learning_rate),
                        He(rng), Constant(0.1))
    net.data_layer = DigitsData(d["batch_size"] if batch_size is None else batch_size, rng, images=True)
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(Conv((1, 1), (1, 3, 3), 8, rng))
    net.append_layer(ReLU())
    net.append_layer(Pooling((2, 2), (2, 2)))
    net.append_layer(Flatten())
    net.append_layer(FullyConnected(8 * 4 * 4, hidden, rng))
    net.append_layer(ReLU())
    net.append_layer(FullyConnected(hidden, 10, rng))
    net.append_layer(SoftMax())
    return net


# the LSTM on running-sum signs: sequence length, iterations (one sequence each), Adam's learning rate, hidden width
LSTM_DEFAULTS = {"length": 20, "iterations": 3000, "learning_rate": 1e-2, "hidden": 8}


def build_lstm(*, hidden: int | None = None, learning_rate: float | None = None, seed: int | None = 0,
               **_: object) -> NeuralNetwork:
    """LSTM(1, hidden, hidden) -> FullyConnected(hidden, 2) -> SoftMax on :class:`RunningSumSigns`, with Adam."""
    d = LSTM_DEFAULTS
    rng = np.random.default_rng(seed)
    hidden = d["hidden"] if hidden is None else hidden
    net = NeuralNetwork(Adam(d["learning_rate"] if learning_rate is None else learning_rate), Xavier(rng),
                        Constant(0.0))
    net.data_layer = RunningSumSigns(d["length"], rng)
    net.loss_layer = CrossEntropyLoss()
    net.append_layer(LSTM(1, hidden, hidden, rng))
    net.append_layer(FullyConnected(hidden, 2, rng))
    net.append_layer(SoftMax())
    return net


def sequence_accuracy(net: NeuralNetwork) -> float:
    """The fraction of time steps of the data layer's test sequences classified correctly."""
    pairs = net.data_layer.get_test_set()
    return float(np.mean([np.mean(net.test(x).argmax(axis=1) == y.argmax(axis=1)) for x, y in pairs]))


def accuracy(net: NeuralNetwork, data: SklearnData | None = None) -> float:
    """Fraction of the test set (of ``data``, default the network's data layer) classified correctly."""
    x, y = (data or net.data_layer).get_test_set()
    return float(np.mean(net.test(x).argmax(axis=1) == y.argmax(axis=1)))


def _save_plot(losses: Sequence[float], path: str, title: str) -> None:
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install -e '.[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(losses)
    ax.set(xlabel="iteration", ylabel="cross-entropy loss (batch sum)", title=title, yscale="log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


_PLOT_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace, iterations: int) -> None:
    """Every argument checked before any training (a usage error, exit status 2): sizes positive, the
    learning rate finite and positive, the plot path writable with an extension matplotlib writes."""
    for flag, value in (("--iterations", iterations), ("--batch-size", args.batch_size), ("--hidden", args.hidden)):
        if value is not None and value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be finite and > 0, got {args.lr}")
    if args.plot is not None:
        path = pathlib.Path(args.plot)
        if path.suffix.lower() not in _PLOT_FORMATS:
            parser.error(f"--plot: {args.plot!r} must end in one of {', '.join(_PLOT_FORMATS)}")
        folder = path.parent if str(path.parent) else pathlib.Path(".")
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            parser.error(f"--plot: cannot write {args.plot!r}: {folder} is not a writable folder")
        if args.plot and _matplotlib_missing():
            parser.error("--plot needs matplotlib: pip install -e '.[plot]'")


def _matplotlib_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__)
    parser.add_argument("--dataset", choices=sorted(DEFAULTS) + ["running-sum"], default="iris",
                        help="running-sum: the sign of a running sum at every step of a sequence (model lstm)")
    parser.add_argument("--model", choices=["mlp", "cnn", "lstm"], default="mlp",
                        help="mlp: FC-ReLU-FC-SoftMax with SGD; cnn (digits only): Conv-ReLU-Pooling-Flatten-FC-ReLU-"
                             "FC-SoftMax with Adam; lstm (running-sum only): LSTM-FC-SoftMax with Adam")
    parser.add_argument("--iterations", type=int, help="default: 4000 (iris), 3000 (digits), 2000 (cnn)")
    parser.add_argument("--lr", type=float, help="learning rate; default: 1e-3 (iris), 5e-3 (digits), 2e-3 (cnn, Adam)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--hidden", type=int, help="hidden width; default: 3 (iris), 64 (digits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="save the loss curve to this file")
    args = parser.parse_args(argv)
    if args.model == "cnn" and args.dataset != "digits":
        parser.error("--model cnn needs --dataset digits (iris has no images)")
    if (args.model == "lstm") != (args.dataset == "running-sum"):
        parser.error("--model lstm goes with --dataset running-sum, and only with it")
    default_iterations = {"cnn": CNN_DEFAULTS["iterations"], "lstm": LSTM_DEFAULTS["iterations"]}.get(
        args.model) or DEFAULTS[args.dataset][5]
    iterations = default_iterations if args.iterations is None else args.iterations
    _validate(parser, args, iterations)

    build = {"cnn": build_cnn, "lstm": build_lstm}.get(args.model) or \
        (lambda **kw: build_network(args.dataset, **kw))
    net = build(hidden=args.hidden, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    print(f"{args.dataset}: {[repr(layer) for layer in net.layers]}, {net.optimizer!r}, {iterations} iterations")
    start = time.perf_counter()
    report_every = max(1, iterations // 10)
    while len(net.loss) < iterations:
        net.train(min(report_every, iterations - len(net.loss)))
        print(f"  iteration {len(net.loss):6d}  mean loss {np.mean(net.loss[-report_every:]):10.4f}")
    elapsed = time.perf_counter() - start
    score = sequence_accuracy(net) if args.model == "lstm" else accuracy(net)
    print(f"test accuracy {score:.4f}  ({elapsed:.2f} s)")
    if args.plot:
        _save_plot(net.loss, args.plot, f"{args.dataset}, seed {args.seed}")
        print(f"loss curve saved to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
