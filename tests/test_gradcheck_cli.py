import json

import pytest

from gradcheck.cli import main


def test_default_suite_passes(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "all checks passed (37 checks" in out
    for name in ["FullyConnected", "ReLU", "SoftMax", "CrossEntropyLoss", "NeuralNetwork", "fuzz SoftMax"]:
        assert name in out


def test_users_layer_passes_and_fails(capsys):
    assert main(["core:FullyConnected", "--args", "4", "3", "--batch", "2"]) == 0
    assert "all checks passed (1 check, mode full)" in capsys.readouterr().out
    assert main(["tests.broken_layers:SignFlippedInput", "--args", "4", "3", "--mode", "fast"]) == 1
    out = capsys.readouterr().out
    assert "SOME CHECKS FAILED" in out and "sign is flipped" in out


def test_loss_and_features_and_json(capsys):
    assert main(["core:CrossEntropyLoss", "--features", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["exit_code"] == 0 and data["checks"][0]["report"]["tensors"][0]["name"] == "prediction"


def test_options_before_the_target(capsys):
    assert main(["--args", "4", "3", "core:FullyConnected"]) == 0
    assert "core:FullyConnected(4, 3), input (8, 4)" in capsys.readouterr().out
    assert main(["--features", "3", "--mode", "fast", "tests.broken_layers:UnmaskedReLU"]) == 1


def test_four_d_convolution_from_the_command(capsys):
    assert main(["tests.user_layers:Conv2D", "--args", "3", "2", "2", "3", "--shape", "2,3,5,6"]) == 0
    assert main(["tests.user_layers:Conv2D", "--args", "3", "2", "2", "3", "--shape", "2,3,5,6",
                 "--set", "flipped_bias=True"]) == 1
    assert "bias" in capsys.readouterr().out


def test_phase_and_reseed_from_the_command(capsys):
    assert main(["tests.user_layers:PhaseDropout", "--features", "4", "--set", "testing_phase=True"]) == 0
    assert main(["tests.user_layers:PhaseDropout", "--features", "4"]) == 1
    assert "forward is not deterministic" in capsys.readouterr().out
    assert main(["tests.user_layers:PhaseDropout", "--features", "4", "--reseed", "0"]) == 0
    assert main(["tests.broken_layers:DropoutMissingScale", "--features", "4", "--reseed", "0"]) == 1


def test_a_module_checks_every_layer_class_that_builds_without_arguments(capsys):
    assert main(["core", "--features", "3"]) == 0
    out = capsys.readouterr().out
    for name in ["core:ReLU", "core:SoftMax", "core:CrossEntropyLoss"]:
        assert f"{name}(), input (8, 3)" in out
    assert "skipped core:FullyConnected" in out and "--args" in out


@pytest.mark.parametrize("argv, message", [
    (["core:ReLU"], "--features N or --shape"),
    (["nosuchmodule:X"], "cannot import"),
    (["core:NoSuchLayer"], "no attribute"),
    (["core:FullyConnected"], "--args"),
    (["core:FullyConnected", "--args", "0", "3"], "raised ValueError"),
    (["core:FullyConnected", "--args", "garbage("], "not a Python literal"),
    (["core:ReLU", "--features", "0"], "--features must be >= 1"),
    (["core:ReLU", "--features", "3", "--rtol", "-1"], "--rtol must be"),
    (["core:ReLU", "--shape", "2,x"], "--shape"),
    (["core:ReLU", "--features", "3", "--set", "nonsense"], "NAME=VALUE"),
    (["core:Sgd", "--args", "0.1", "--features", "3"], "Sgd has no forward() and no backward(): a layer needs"),
    (["--no-such-option"], "unrecognized arguments"),
])
def test_usage_errors_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_json_is_valid_for_errors_too(capsys):
    assert main(["nosuchmodule:X", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["exit_code"] == 2 and "cannot import" in data["error"]


def test_verbose_shows_the_traceback_of_a_layer_that_raised(capsys):
    assert main(["tests.broken_layers:LogOfInput", "--features", "3", "-v"]) == 1
    assert main(["tests.test_gradcheck_cli:Explodes", "--features", "3", "-v"]) == 1
    out = capsys.readouterr().out
    assert "ERROR  RuntimeError: boom" in out and "Traceback (most recent call last)" in out


class Explodes:
    def forward(self, x):
        raise RuntimeError("boom")

    def backward(self, e):
        return e


def test_help_shows_defaults_without_markup(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "(default: 8)" in out and "(default: full)" in out and "``" not in out
    for status in ("0 all checks passed", "1 a check failed", "2 a usage error", "130 stopped by Ctrl-C",
                   "143 stopped by SIGTERM", "141 its output closed"):       # every status docs/checking.md documents
        assert status in out, status


def test_step_option_and_its_old_name(capsys):
    for flag in ("--step", "--eps"):
        assert main(["core:ReLU", "--features", "3", flag, "1e-5", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["checks"][0]["report"]["step"] == 1e-5
