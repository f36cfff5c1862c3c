"""Train the seed's network on a bundled data set: ``python -m core.train --dataset iris``."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from core.cross_entropy_loss import CrossEntropyLoss
from core.datasets import DigitsData, IrisData, SklearnData
from core.fully_connected import FullyConnected
from core.neural_network import NeuralNetwork
from core.relu import ReLU
from core.sgd import Sgd
from core.softmax import SoftMax

__all__ = ["build_network", "accuracy", "main", "DEFAULTS"]

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__)
    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="iris")
    parser.add_argument("--iterations", type=int, help="default: 4000 (iris), 3000 (digits)")
    parser.add_argument("--lr", type=float, help="SGD learning rate; default: 1e-3 (iris), 5e-3 (digits)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--hidden", type=int, help="hidden width; default: 3 (iris), 64 (digits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PNG", help="save the loss curve to this file")
    args = parser.parse_args(argv)
    iterations = DEFAULTS[args.dataset][5] if args.iterations is None else args.iterations
    if iterations < 1:
        parser.error(f"--iterations must be >= 1, got {iterations}")

    net = build_network(args.dataset, hidden=args.hidden, batch_size=args.batch_size,
                        learning_rate=args.lr, seed=args.seed)
    print(f"{args.dataset}: {[repr(layer) for layer in net.layers]}, {net.optimizer!r}, {iterations} iterations")
    start = time.perf_counter()
    report_every = max(1, iterations // 10)
    while len(net.loss) < iterations:
        net.train(min(report_every, iterations - len(net.loss)))
        print(f"  iteration {len(net.loss):6d}  mean loss {np.mean(net.loss[-report_every:]):10.4f}")
    elapsed = time.perf_counter() - start
    print(f"test accuracy {accuracy(net):.4f}  ({elapsed:.2f} s)")
    if args.plot:
        _save_plot(net.loss, args.plot, f"{args.dataset}, seed {args.seed}")
        print(f"loss curve saved to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
