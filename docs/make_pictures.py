"""Make the README's pictures from the code: ``python docs/make_pictures.py`` (needs the 'plot' extra)."""
from __future__ import annotations

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from core import TanH  # noqa: E402
from gradcheck import check_layer  # noqa: E402
from gradcheck.pictures import tensor_figure  # noqa: E402
from tests.broken_layers import OneChannelConv  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def main() -> None:
    report = check_layer(OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))
    weights = next(t for t in report.tensors if t.name == "weights")
    tensor_figure(weights).savefig(HERE / "conv_one_wrong_channel.png", dpi=90)
    report.plot_steps("weights", weights.worst[0].index).savefig(HERE / "step_curve_wrong.png", dpi=90)
    right = check_layer(TanH(), np.random.default_rng(0).standard_normal((4, 3)))
    right.plot_steps("input", (1, 2)).savefig(HERE / "step_curve_right.png", dpi=90)


if __name__ == "__main__":
    main()
