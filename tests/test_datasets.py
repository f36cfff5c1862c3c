import numpy as np
import pytest

from core import DigitsData, IrisData, one_hot


def test_iris_split_scaling_and_one_hot():
    data = IrisData(50, np.random.default_rng(0))
    x_train, y_train = data.get_train_set()
    x_test, y_test = data.get_test_set()
    assert x_train.shape == (100, 4) and x_test.shape == (50, 4)
    assert y_train.shape == (100, 3) and y_test.shape == (50, 3)
    all_x = np.vstack([x_train, x_test])
    assert np.abs(all_x).max() == 1.0
    np.testing.assert_array_equal(np.vstack([y_train, y_test]).sum(axis=1), 1.0)
    assert set(np.unique(y_test)) == {0.0, 1.0}


def test_batches_cover_the_train_split_once_per_epoch_and_reshuffle():
    data = IrisData(30, np.random.default_rng(0))
    x_train, _ = data.get_train_set()
    epochs = []
    for _ in range(2):
        batches = [data.forward() for _ in range(4)]  # 30 + 30 + 30 + 10
        assert [len(b[0]) for b in batches] == [30, 30, 30, 10]
        epoch = np.vstack([b[0] for b in batches])
        np.testing.assert_array_equal(np.sort(epoch, axis=0), np.sort(x_train, axis=0))
        epochs.append(epoch)
    assert not np.array_equal(epochs[0], epochs[1])
    x, y = data.next()
    assert x.shape == (30, 4) and y.shape == (30, 3)


def test_test_set_never_served_as_a_batch():
    data = IrisData(25, np.random.default_rng(3))
    test_rows = {tuple(r) for r in data.get_test_set()[0]}
    train_rows = {tuple(r) for r in data.get_train_set()[0]}
    for _ in range(12):
        assert all(tuple(r) in train_rows for r in data.forward()[0])
    # iris has duplicate rows, so only rows unique to the test split are checked as absent
    assert test_rows - train_rows


def test_digits_shapes():
    data = DigitsData(64, np.random.default_rng(0))
    x, y = data.forward()
    assert x.shape == (64, 64) and y.shape == (64, 10)
    assert data.get_test_set()[0].shape == (599, 64)


def test_bad_batch_size_and_labels():
    with pytest.raises(ValueError, match="batch_size"):
        IrisData(0)
    with pytest.raises(ValueError, match="1-D int"):
        one_hot(np.array([0.5, 1.0]))
