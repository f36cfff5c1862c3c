"""Our network against scikit-learn's MLPClassifier on the same split: accuracy and fit time.

    python -m benchmarks.compare_sklearn [--seeds 3]
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from core.train import DEFAULTS, accuracy, build_network


def _ours(dataset: str, seed: int) -> tuple[float, float, object]:
    net = build_network(dataset, seed=seed)
    start = time.perf_counter()
    net.train(DEFAULTS[dataset][5])
    return accuracy(net), time.perf_counter() - start, net.data_layer


def _sklearn(data, hidden: int, seed: int) -> tuple[float, float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, y_train = data.get_train_set()
    x_test, y_test = data.get_test_set()
    model = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", max_iter=2000, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train.argmax(axis=1))
    elapsed = time.perf_counter() - start
    return float(np.mean(model.predict(x_test) == y_test.argmax(axis=1))), elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    print("| data set | seed | ours: accuracy | ours: fit s | MLPClassifier: accuracy | MLPClassifier: fit s | "
          "fit time ours / sklearn |")
    print("|---|---|---|---|---|---|---|")
    for dataset in DEFAULTS:
        for seed in range(args.seeds):
            acc, fit, data = _ours(dataset, seed)
            sk_acc, sk_fit = _sklearn(data, DEFAULTS[dataset][3], seed)
            print(f"| {dataset} | {seed} | {acc:.3f} | {fit:.2f} | {sk_acc:.3f} | {sk_fit:.2f} | {fit / sk_fit:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
