"""Tests of tfhm.datasets: embedded digits, MNIST files, bars and its true model."""

import itertools

import numpy as np
import pytest

from tfhm import datasets


def test_load_digits_split_is_fixed_and_binary():
    x_train, x_test = datasets.load_digits()
    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == np.float32
    assert set(np.unique(x_train)) == {0.0, 1.0}
    again_train, again_test = datasets.load_digits()
    np.testing.assert_array_equal(x_train, again_train)
    np.testing.assert_array_equal(x_test, again_test)
    from sklearn.datasets import load_digits as sk_load
    images = sk_load().data
    order = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(x_test, (images[order[-360:]] >= 8).astype(np.float32))


def test_load_binarized_mnist_npz_and_amat(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 2, (5, 784)).astype(np.uint8)
    valid = rng.integers(0, 2, (3, 784)).astype(np.uint8)
    np.savez(tmp_path / "m.npz", x_train=train, x_valid=valid)
    data = datasets.load_binarized_mnist(tmp_path / "m.npz")
    assert set(data) == {"x_train", "x_valid"}
    np.testing.assert_array_equal(data["x_valid"], valid.astype(np.float32))
    np.savetxt(tmp_path / "binarized_mnist_train.amat", train, fmt="%d")
    np.savetxt(tmp_path / "binarized_mnist_test.amat", valid, fmt="%d")
    data = datasets.load_binarized_mnist(tmp_path)
    assert set(data) == {"x_train", "x_test"}
    np.testing.assert_array_equal(data["x_train"], train)
    single = datasets.load_binarized_mnist(tmp_path / "binarized_mnist_test.amat")
    np.testing.assert_array_equal(single["x"], valid)


def test_load_binarized_mnist_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        datasets.load_binarized_mnist(tmp_path / "nowhere.npz")
    np.savez(tmp_path / "grey.npz", x_train=np.full((2, 784), 0.3))
    with pytest.raises(ValueError, match="0/1.*0.3"):
        datasets.load_binarized_mnist(tmp_path / "grey.npz")
    np.savez(tmp_path / "narrow.npz", x_train=np.zeros((2, 100)))
    with pytest.raises(ValueError, match="784 columns.*100"):
        datasets.load_binarized_mnist(tmp_path / "narrow.npz")
    np.savez(tmp_path / "nokey.npz", images=np.zeros((2, 784)))
    with pytest.raises(ValueError, match="x_train.*images"):
        datasets.load_binarized_mnist(tmp_path / "nokey.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="amat"):
        datasets.load_binarized_mnist(tmp_path / "empty")


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_bars_true_model_normalizes(noise):
    _, model = datasets.make_bars(10, size=2, p=0.3, noise=noise)
    all_x = np.array(list(itertools.product([0, 1], repeat=4)))
    assert abs(np.exp(model.log_prob(all_x)).sum() - 1.0) < 1e-12


def test_bars_default_data_and_log_likelihood():
    x, model = datasets.make_bars(20_000, seed=1)
    assert x.shape == (20_000, 16) and model.num_bars == 8
    # Each bar set covering the same pixels is one image; the 8 independent
    # Bernoulli(0.2) bars have entropy 8 * H(0.2) = 4.003 nats, and merging
    # the rare ambiguous sets lowers it a little.
    mean = model.log_prob(x).mean()
    # Sampling s.d. of log p(x) is about 1.6 nats; 5 s.e. = 0.06.
    assert -4.06 < mean < -3.90
    # Bars: each image is a union of full rows and columns.
    on = model.sample(100, seed=2)
    assert np.all(np.isfinite(model.log_prob(on)))
    # The frequency of a pixel is 1 - (1 - p)^2 = 0.36 (one row, one column).
    assert abs(x.mean() - 0.36) < 0.01  # s.e. of the mean ~0.001


def test_binarize_dynamic_and_threshold():
    grey = np.full((200, 50), 0.25)
    dyn = datasets.binarize(grey, seed=0)
    assert set(np.unique(dyn)) == {0.0, 1.0}
    assert abs(dyn.mean() - 0.25) < 0.02  # s.e. = sqrt(.25*.75/10000) = 0.004
    np.testing.assert_array_equal(dyn, datasets.binarize(grey, seed=0))
    np.testing.assert_array_equal(datasets.binarize(np.array([[0.2, 0.7]]), threshold=0.5),
                                  [[0.0, 1.0]])
    with pytest.raises(ValueError, match=r"\[0, 1\].*max=.*255"):
        datasets.binarize(np.array([[0.0, 255.0]]))
    with pytest.raises(ValueError, match="NaN=True"):
        datasets.binarize(np.array([[np.nan, 0.5]]))
    np.testing.assert_array_equal(datasets.binarize(np.array([[0.2, 1.0]]), threshold=1),
                                  [[0.0, 1.0]])


@pytest.mark.parametrize("kwargs, match", [
    # These made every pixel 1 (threshold <= 0) or 0 (> 1, NaN) without a word.
    (dict(threshold=0.0), r"`threshold` must be a float in \(0, 1\].*threshold=0\.0"),
    (dict(threshold=128), r"`threshold` must be.*threshold=128"),
    (dict(threshold=float("nan")), r"`threshold` must be.*threshold=nan"),
    (dict(threshold=True), r"`threshold` must be.*threshold=True"),
    # The seed was ignored.
    (dict(threshold=0.5, seed=0), r"`seed`.*or `threshold`, not both.*seed=0"),
])
def test_binarize_refuses_a_threshold_that_decides_nothing(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.binarize(np.array([[0.2, 0.7]]), **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_examples": 0}, "num_examples=0"),
    ({"num_examples": 5, "p": 1.5}, "p=1.5"),
    ({"num_examples": 5, "noise": 0.7}, "noise=0.7"),
])
def test_make_bars_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.make_bars(**kwargs)


def test_npy_hold_out_is_shuffled_with_the_run_seed(tmp_path):
    # Issue 11.15: the held-out 10% of sorted data was its last rows (all
    # ones here); now a seeded random 10%, the same for the same seed.
    rows = np.arange(200)[:, None] >= 100  # 100 rows of zeros, then 100 of ones
    x = np.repeat(rows, 4, axis=1).astype(np.uint8)
    x[:, 0] = (np.arange(200) % 2)  # make rows distinguishable
    x[:, 1] = (np.arange(200) // 2) % 2
    np.save(tmp_path / "sorted.npy", x)
    spec = f"npy:{tmp_path / 'sorted.npy'}"
    x_train, x_valid, note = datasets.load_spec(spec, seed=0)
    assert x_train.shape == (180, 4) and x_valid.shape == (20, 4)
    assert 0 < x_valid[:, 2].sum() < 20  # both halves are represented
    order = np.random.default_rng(0).permutation(200)
    np.testing.assert_array_equal(x_valid, x[order[:20]])
    np.testing.assert_array_equal(x_train, x[order[20:]])
    again = datasets.load_spec(spec, seed=0)[1]
    other = datasets.load_spec(spec, seed=1)[1]
    np.testing.assert_array_equal(again, x_valid)
    assert not np.array_equal(other, x_valid)
    assert "held out at random, seed 0" in note


@pytest.mark.parametrize("content, spec, match", [
    (b"hello, my notes\n", "npy", "is not a .npy array file.*it is a text file starting 'hello"),
    (b"", "npy", "it is an empty file"),
    ("npy-array", "mnist", r"is not an .npz archive \(numpy.savez\) with the arrays x_train "
                           r"and x_valid: it is a single .npy array"),
    ("npz-array", "npy", "is not a .npy array file.*zip archive"),
])
def test_malformed_files_say_what_they_are(content, spec, match, tmp_path):
    # Issues 11.6 and 11.9: mnist: given a .npy file raised a TypeError; a
    # text file given as npy: said "pickled (object) data".
    path = tmp_path / "data.bin"
    if content == "npy-array":
        with open(path, "wb") as handle:
            np.save(handle, np.zeros((3, 784)))
    elif content == "npz-array":
        with open(path, "wb") as handle:
            np.savez(handle, x_train=np.zeros((3, 784)))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=f"--data {spec}:.*" + match):
        datasets.load_spec(f"{spec}:{path}")


def test_object_npy_and_bad_specs(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds an array of Python objects"):
        datasets.load_npy(tmp_path / "objects.npy")  # never unpickled
    with pytest.raises(ValueError, match="expected digits, bars, mnist:PATH or "
                                         "npy:PATH. Received: 'npy:'"):
        datasets.check_spec("npy:")
    assert datasets.check_spec("mnist:x.npz") == "mnist:x.npz"
    for name in ("x_train", "x_valid"):
        assert name in datasets.DATA_SPEC_HELP and name in datasets.load_binarized_mnist.__doc__


def test_hold_out_last_is_the_split_of_0_1_0():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    train, valid = datasets.hold_out(x, seed=3, scheme="last")
    np.testing.assert_array_equal(valid, x[-2:])
    np.testing.assert_array_equal(train, x[:-2])
    with pytest.raises(ValueError, match="Received: scheme='first'"):
        datasets.hold_out(x, seed=3, scheme="first")
