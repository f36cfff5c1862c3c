"""The notebook display: a notebook that checks a broken layer, executed by a real kernel (nbclient), shows
the report as HTML with its pictures."""
import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the 'test' extra (nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the 'test' extra (nbclient)")
pytest.importorskip("matplotlib", reason="the pictures need the 'plot' extra")

CELL = """
import numpy as np
from core import FullyConnected
from gradcheck import check_layer

class MeanInsteadOfSum(FullyConnected):
    def backward(self, error_tensor):
        grad = super().backward(error_tensor)
        self._gradient_weights /= len(error_tensor)
        return grad

check_layer(MeanInsteadOfSum(4, 3, 0), (6, 4))
"""


def test_a_report_displays_as_html_in_a_notebook(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[0].outputs
    html = next(o["data"]["text/html"] for o in outputs if o.get("output_type") == "execute_result")
    # red inline, not only by the page's <style>, which notebooks that sanitise outputs drop
    assert "gradcheck MeanInsteadOfSum(4, 3): " \
        "<span class=\"fail\" style=\"color:#c62828;font-weight:bold\">FAIL</span>" in html
    # input, weights, weights (optimizer): what backward hands the optimizer, right here, and the worst element by step
    assert html.count('src="data:image/png;base64,') == 4
    assert "divided by the batch size 6" in html
