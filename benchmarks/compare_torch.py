"""FullyConnected against torch's CPU ``nn.Linear`` (optional: needs torch installed; no test depends on it).

    python -m benchmarks.compare_torch
"""
from __future__ import annotations

import statistics
import timeit

import numpy as np

from core import FullyConnected

SIZES = [(32, 64, 32), (256, 512, 256), (4096, 1024, 1024)]


def _median_seconds(fn, budget: float = 0.5) -> float:
    fn()
    number = max(1, int(budget / 5 / max(timeit.timeit(fn, number=1), 1e-7)))
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=5))


def main() -> int:
    try:
        import torch
    except ImportError:
        print("torch is not installed: pip install torch (CPU build) to run this comparison")
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}\n")
    print("| (batch, in, out) dtype | forward: ours | forward: torch | ours / torch | fwd+bwd: ours | "
          "fwd+bwd: torch | ours / torch |")
    print("|---|---|---|---|---|---|---|")
    for batch, n_in, n_out in SIZES:
        for dtype, tdtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
            rng = np.random.default_rng(0)
            layer = FullyConnected(n_in, n_out, rng, dtype=dtype)
            x = rng.standard_normal((batch, n_in)).astype(dtype)
            e = rng.standard_normal((batch, n_out)).astype(dtype)
            linear = torch.nn.Linear(n_in, n_out, dtype=tdtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weights[:-1].T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.weights[-1].copy()))
            xt, et = torch.from_numpy(x), torch.from_numpy(e)
            xg = xt.clone().requires_grad_(True)

            def torch_forward():
                with torch.no_grad():
                    return linear(xt)

            def torch_round_trip():
                linear.zero_grad(set_to_none=True)
                xg.grad = None
                linear(xg).backward(et)

            def ours_round_trip():
                layer.forward(x)
                layer.backward(e)

            fwd = _median_seconds(lambda: layer.forward(x))
            tfwd = _median_seconds(torch_forward)
            both = _median_seconds(ours_round_trip)
            tboth = _median_seconds(torch_round_trip)
            name = f"{batch}x{n_in}x{n_out} {np.dtype(dtype).name}"
            print(f"| {name} | {fwd * 1e6:.1f} us | {tfwd * 1e6:.1f} us | {fwd / tfwd:.2f} | "
                  f"{both * 1e6:.1f} us | {tboth * 1e6:.1f} us | {both / tboth:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
