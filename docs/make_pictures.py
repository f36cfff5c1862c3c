"""Make the documentation's pictures from the code: ``python docs/make_pictures.py`` (the 'plot' and 'docs'
extras, and Debian's chromium for the two screenshots). Writes docs/images/*.png:

- the maps of the zoo's failing tensors that failures.md shows beside each hint;
- the step curves of pictures.md;
- a failing check's HTML page in headless Chromium at 1280 px, and the same report in an executed notebook
  (nbconvert's HTML of it), also in Chromium.
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import TanH  # noqa: E402
from gradcheck import check_layer  # noqa: E402
from gradcheck.pictures import tensor_figure, write_html  # noqa: E402
from tests import broken_layers as zoo  # noqa: E402

IMAGES = ROOT / "docs" / "images"
# the zoo case of each hint on failures.md, and the picture's name
HINTS = {"mean instead of sum": "hint_batch_mean", "batch mean without 1/batch": "hint_batch_times",
         "sign flipped": "hint_sign", "single wrong element": "hint_single_element",
         "missing bias gradient": "hint_bias_row", "transposed square weight gradient": "hint_transpose",
         "conv 2-D, weight gradient flipped": "hint_flipped_kernel",
         "conv 2-D, weight gradient's spatial axes swapped": "hint_swapped_axes",
         "strided conv 1-D, stride ignored in backward": "hint_stride_ignored", "unmasked ReLU": "hint_missing_mask",
         "bias gradient of the first batch row only": "hint_one_row",
         "diagonal-only softmax Jacobian": "hint_row_coupling", "repeatable NaN in the gradient": "hint_nan",
         "max copies the gradient to tied elements": "hint_ties"}
NOTEBOOK_CELL = """import numpy as np
from gradcheck import check_layer
from tests.broken_layers import OneChannelConv

check_layer(OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))"""


def _failing(report):
    return next(t for t in report.tensors if not t.ok)


def zoo_maps() -> None:
    for case, name in HINTS.items():
        make, x, _, _ = zoo.BROKEN[case]
        tensor_figure(_failing(check_layer(make(), x))).savefig(IMAGES / f"{name}.png", dpi=80)


def step_curves() -> None:
    report = check_layer(zoo.OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))
    weights = next(t for t in report.tensors if t.name == "weights")
    tensor_figure(weights).savefig(IMAGES / "conv_one_wrong_channel.png", dpi=90)
    report.plot_steps("weights", weights.worst[0].index).savefig(IMAGES / "step_curve_wrong.png", dpi=90)
    right = check_layer(TanH(), np.random.default_rng(0).standard_normal((4, 3)))
    right.plot_steps("input", (1, 2)).savefig(IMAGES / "step_curve_right.png", dpi=90)


def _screenshot(browser: str, page: pathlib.Path, out: pathlib.Path, height: int) -> None:
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--virtual-time-budget=5000", f"--screenshot={out}", f"--window-size=1280,{height}",
                    page.as_uri()], check=True, capture_output=True, timeout=120, start_new_session=True)


def screenshots() -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium: the screenshots are not made (apt-get install chromium)")
        return
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    with tempfile.TemporaryDirectory() as tmp:
        page = pathlib.Path(tmp) / "report.html"
        report = check_layer(zoo.OneChannelConv((1, 1), (3, 3, 3), 2, 0), (2, 3, 5, 5))
        write_html(str(page), [("gradcheck tests.broken_layers:OneChannelConv", report)])
        _screenshot(browser, page, IMAGES / "page_in_chromium.png", 1400)
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
        page = pathlib.Path(tmp) / "notebook.html"
        page.write_text(body)
        _screenshot(browser, page, IMAGES / "page_in_notebook.png", 1000)


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    zoo_maps()
    step_curves()
    screenshots()


if __name__ == "__main__":
    main()
