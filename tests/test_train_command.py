import pytest

from core.train import build_network, main


def test_main_prints_accuracy_and_saves_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs the 'plot' extra")
    png = tmp_path / "loss.png"
    assert main(["--dataset", "iris", "--iterations", "50", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "iteration     50" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        main(["--dataset", "mnist"])
    with pytest.raises(SystemExit):
        main(["--iterations", "0"])


def test_build_network_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="iris"):
        build_network("cifar")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_cnn_reaches_97_percent(seed):
    from core.train import CNN_DEFAULTS, accuracy, build_cnn

    net = build_cnn(seed=seed)
    net.train(CNN_DEFAULTS["iterations"])
    assert accuracy(net) >= 0.97


def test_cnn_command_shows_progress_and_refuses_iris(capsys):
    assert main(["--dataset", "digits", "--model", "cnn", "--iterations", "20"]) == 0
    out = capsys.readouterr().out
    assert "Conv((1, 1), (1, 3, 3), 8)" in out and "iteration     20" in out and "test accuracy" in out
    with pytest.raises(SystemExit):
        main(["--dataset", "iris", "--model", "cnn"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lstm_learns_the_sign_of_a_running_sum(seed):
    """Per-step accuracy on 100 fixed sequences of 20 steps; the memoryless guess sign(x_t) gets 0.63."""
    from core.train import LSTM_DEFAULTS, build_lstm, sequence_accuracy

    net = build_lstm(seed=seed)
    net.train(LSTM_DEFAULTS["iterations"])
    assert sequence_accuracy(net) >= 0.95


def test_lstm_command_and_its_pairing_with_the_data_set(capsys):
    assert main(["--dataset", "running-sum", "--model", "lstm", "--iterations", "10"]) == 0
    assert "LSTM(1, 8, 8)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--dataset", "running-sum"])


@pytest.mark.parametrize("argv, said", [
    (["--lr", "nan"], "--lr must be finite and > 0"), (["--lr", "0"], "--lr must be finite and > 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1"), (["--hidden", "0"], "--hidden must be >= 1"),
    (["--iterations", "0"], "--iterations must be >= 1"),
    (["--plot", "/nonexistent-folder/loss.png"], "is not a writable folder"),
    (["--plot", "loss.txt"], "must end in one of .png")])
def test_bad_arguments_are_usage_errors_before_any_training(argv, said, capsys, monkeypatch):
    import core.train as train

    monkeypatch.setattr(train, "build_network", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2 and said in capsys.readouterr().err
