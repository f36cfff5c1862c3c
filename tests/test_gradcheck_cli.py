import json

from gradcheck.cli import main


def test_default_suite_passes(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "all checks passed" in out
    for name in ["FullyConnected", "ReLU", "SoftMax", "CrossEntropyLoss", "NeuralNetwork"]:
        assert name in out


def test_users_layer_passes_and_fails(capsys):
    assert main(["core:FullyConnected", "--args", "4", "3", "--batch", "2"]) == 0
    assert main(["tests.broken_layers:SignFlippedInput", "--args", "4", "3", "--mode", "fast"]) == 1
    out = capsys.readouterr().out
    assert "SOME CHECKS FAILED" in out and "sign is flipped" in out


def test_loss_and_features_and_json(capsys):
    assert main(["core:CrossEntropyLoss", "--features", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["checks"][0]["report"]["tensors"][0]["name"] == "prediction"


def test_usage_errors(capsys):
    import pytest

    for argv, message in [(["core:ReLU"], "--features"), (["nosuchmodule:X"], "cannot import"),
                          (["core:NoSuchLayer"], "no attribute"), (["core"], "package.module:LayerClass"),
                          (["core:FullyConnected", "--args", "0", "3"], "raised ValueError")]:
        with pytest.raises(SystemExit, match=message):
            main(argv)


def test_step_option_and_its_old_name(capsys):
    for flag in ("--step", "--eps"):
        assert main(["core:ReLU", "--features", "3", flag, "1e-5", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["checks"][0]["report"]["step"] == 1e-5
