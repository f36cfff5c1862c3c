"""FullyConnected and Conv against torch's CPU ``nn.Linear`` and ``functional.conv2d`` (optional: needs torch
installed; no test depends on it).

    python -m benchmarks.compare_torch
"""
from __future__ import annotations

import statistics
import timeit

import numpy as np

from core import Conv, FullyConnected

SIZES = [(32, 64, 32), (256, 512, 256), (4096, 1024, 1024)]


def _median_seconds(fn, budget: float = 0.5) -> float:
    fn()
    number = max(1, int(budget / 5 / max(timeit.timeit(fn, number=1), 1e-7)))
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=5))


def _row(torch, batch: int, n_in: int, n_out: int, dtype: type) -> str:
    """Median times of one size and dtype: ours and torch, forward alone and forward+backward."""
    tdtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
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

    fwd, tfwd = _median_seconds(lambda: layer.forward(x)), _median_seconds(torch_forward)
    both, tboth = _median_seconds(ours_round_trip), _median_seconds(torch_round_trip)
    return (f"| {batch}x{n_in}x{n_out} {np.dtype(dtype).name} | {fwd * 1e6:.1f} us | {tfwd * 1e6:.1f} us | "
            f"{fwd / tfwd:.2f} | {both * 1e6:.1f} us | {tboth * 1e6:.1f} us | {both / tboth:.2f} |")


def _conv_row(torch, batch: int, c_in: int, c_out: int, size: int, k: int) -> str:
    """Conv (odd kernel, stride 1, same padding) against torch.nn.functional.conv2d(padding="same"), float64."""
    rng = np.random.default_rng(0)
    layer = Conv(1, (c_in, k, k), c_out, rng)
    x = rng.standard_normal((batch, c_in, size, size))
    e = rng.standard_normal((batch, c_out, size, size))
    xt, et = torch.from_numpy(x), torch.from_numpy(e)
    wt = torch.from_numpy(layer.weights.copy()).requires_grad_(True)
    bt = torch.from_numpy(layer.bias.copy()).requires_grad_(True)
    xg = xt.clone().requires_grad_(True)
    conv2d = torch.nn.functional.conv2d
    ours = layer.forward(x)
    theirs = conv2d(xt, wt, bt, padding="same").detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)

    def torch_forward():
        with torch.no_grad():
            return conv2d(xt, wt, bt, padding="same")

    def torch_round_trip():
        for t in (xg, wt, bt):
            t.grad = None
        conv2d(xg, wt, bt, padding="same").backward(et)

    def ours_round_trip():
        layer.forward(x)
        layer.backward(e)

    fwd, tfwd = _median_seconds(lambda: layer.forward(x)), _median_seconds(torch_forward)
    both, tboth = _median_seconds(ours_round_trip), _median_seconds(torch_round_trip)
    return (f"| conv {batch}x{c_in}x{size}x{size} -> {c_out}, {k}x{k} | {fwd * 1e3:.2f} ms | {tfwd * 1e3:.2f} ms | "
            f"{fwd / tfwd:.2f} | {both * 1e3:.2f} ms | {tboth * 1e3:.2f} ms | {both / tboth:.2f} |")


def _gradcheck_row(torch, n_in: int, n_out: int, batch: int) -> str:
    """Our checker (full, fast) against torch.autograd.gradcheck (slow, fast_mode) on the same affine layer."""
    from gradcheck import check_layer

    layer = FullyConnected(n_in, n_out, 0)
    x = np.random.default_rng(0).standard_normal((batch, n_in))
    linear = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
    xt = torch.from_numpy(x).requires_grad_(True)
    inputs = (xt, linear.weight, linear.bias)

    def torch_check(fast: bool):
        return torch.autograd.gradcheck(lambda a, w, b: torch.nn.functional.linear(a, w, b), inputs,
                                        fast_mode=fast)

    times = {}
    for name, run in [("ours full", lambda: check_layer(layer, x)), ("ours fast", lambda: check_layer(layer, x,
                                                                                                     mode="fast")),
                      ("torch slow", lambda: torch_check(False)), ("torch fast", lambda: torch_check(True))]:
        start = timeit.default_timer()
        run()
        times[name] = timeit.default_timer() - start
    return (f"| {n_in} -> {n_out}, batch {batch} | {times['ours full']:.3f} s | {times['torch slow']:.3f} s | "
            f"{times['ours full'] / times['torch slow']:.2f} | {times['ours fast'] * 1e3:.1f} ms | "
            f"{times['torch fast'] * 1e3:.1f} ms | {times['ours fast'] / times['torch fast']:.2f} |")


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
        for dtype in (np.float64, np.float32):
            print(_row(torch, batch, n_in, n_out, dtype))
    print("\n| convolution, float64 | forward: ours | forward: torch | ours / torch | fwd+bwd: ours | "
          "fwd+bwd: torch | ours / torch |")
    print("|---|---|---|---|---|---|---|")
    print(_conv_row(torch, 32, 16, 32, 28, 3))
    print(_conv_row(torch, 8, 3, 8, 16, 5))
    print("\n| gradient check, FullyConnected float64 | ours full | torch gradcheck | ours / torch | ours fast | "
          "torch fast_mode | ours / torch |")
    print("|---|---|---|---|---|---|---|")
    print(_gradcheck_row(torch, 64, 32, 16))
    print(_gradcheck_row(torch, 128, 64, 64))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
