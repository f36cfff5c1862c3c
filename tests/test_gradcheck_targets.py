"""Issue 18: every way people hold parameters, inputs and outputs.

Each test here failed on the checker before it: a wrong layer passed, a correct one failed, or the check
crashed. The layers are in tests/broken_layers.py.
"""
import numpy as np
import pytest

from gradcheck import check_layer
from gradcheck.cli import main
from tests.broken_layers import DictParams, ListParams, StepwiseRNN

MODES = ["full", "fast"]

# ------------------------------------------------------------------------------ parameters as paths


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layer_class, names", [(DictParams, ["params.W", "params.b"]),
                                                (ListParams, ["params.0", "params.1"])])
def test_parameters_in_containers_are_paired_with_the_gradient_container(layer_class, names, mode):
    right = check_layer(layer_class(), (5, 4), mode=mode)
    assert right.ok and [t.name for t in right.tensors] == ["input"] + names, str(right)
    wrong = check_layer(layer_class(wrong=True), (5, 4), mode=mode)
    assert not wrong.ok, str(wrong)
    assert [t.name for t in wrong.tensors if not t.ok] == [names[0] if layer_class is DictParams else names[1]]


def test_a_path_selects_one_entry_and_an_exclusion_leaves_one_out():
    report = check_layer(DictParams(wrong=True), (5, 4), parameters=["params.b"])
    assert report.ok and [t.name for t in report.tensors] == ["input", "params.b"]
    assert any("params.W: left out by parameters=" in w for w in report.warnings), report.warnings
    report = check_layer(DictParams(wrong=True), (5, 4), parameters=["!params.W"])
    assert report.ok and [t.name for t in report.tensors] == ["input", "params.b"]
    report = check_layer(DictParams(), (5, 4), parameters=["params.C"])
    assert not report.ok and "'params.C' named by the caller is missing" in report.problems[0]


def test_an_array_the_outer_layer_exposes_is_checked_once_under_its_name_against_its_gradient():
    """fc_h runs once per step; its weights are the RNN's ``weights``, whose gradient is the sum over steps.
    fc_y runs per step too, and keeps only one step in its own gradient attribute."""
    right = check_layer(StepwiseRNN(), (5, 3), parameters=["!fc_y"])
    assert right.ok and [t.name for t in right.tensors] == ["input", "weights"], str(right)
    # the inner path selects the same array, still checked under the outer name
    inner = check_layer(StepwiseRNN(), (5, 3), parameters=["fc_h.weights"])
    assert inner.ok and [t.name for t in inner.tensors] == ["input", "weights"], str(inner)
    wrong = check_layer(StepwiseRNN(wrong_sum=True), (5, 3), parameters=["!fc_y"])
    assert not wrong.ok and [t.name for t in wrong.tensors if not t.ok] == ["weights"], str(wrong)


def test_a_sub_layer_run_per_step_is_named_in_the_hint_and_its_sum_can_be_paired():
    report = check_layer(StepwiseRNN(), (5, 3))
    failing = [t for t in report.tensors if not t.ok]
    assert [t.name for t in failing] == ["fc_y.weights"]
    assert "fc_y ran 5 times in one forward" in failing[0].hint and "'!fc_y'" in failing[0].hint
    paired = check_layer(StepwiseRNN(), (5, 3), parameters={"weights": "gradient_weights",
                                                           "fc_y.weights": "_output_gradient"})
    assert paired.ok and [t.name for t in paired.tensors] == ["input", "weights", "fc_y.weights"], str(paired)


def test_float_arrays_without_any_gradient_are_not_a_pass():
    class Unpaired:
        def __init__(self):
            self.W = np.random.default_rng(0).standard_normal((4, 3))

        def forward(self, x):
            self.x = x
            return x @ self.W

        def backward(self, e):
            self.W_gradient = self.x.T @ e * 3.0        # a name the checker does not know: wrong, and unseen
            return e @ self.W.T

    report = check_layer(Unpaired(), (5, 4))
    assert not report.ok and "W (4, 3) looks like a parameter" in report.problems[0], str(report)
    assert check_layer(Unpaired(), (5, 4), parameters=[]).ok      # "it has none": the input alone
    assert not check_layer(Unpaired(), (5, 4), parameters={"W": "W_gradient"}).ok


def test_the_command_takes_parameter_paths(tmp_path, monkeypatch, capsys):
    module = tmp_path / "rnn_layers.py"
    module.write_text("from tests.broken_layers import StepwiseRNN\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3"]) == 1
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3", "--parameters", "!fc_y"]) == 0
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3", "--parameters", "weights,fc_y.weights"]) == 1
    assert main(["rnn_layers:StepwiseRNN", "--shape", "5,3", "--parameters", "a b"]) == 2
    capsys.readouterr()
