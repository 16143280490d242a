"""Binary data sets: digits (embedded), binarized MNIST (from a file), bars.

All loaders return float32 NumPy arrays `[num_examples, data_dim]` of exact
zeros and ones, ready for `HelmholtzMachine.fit`. Nothing is downloaded.
`load_spec` reads the command line's `--data` values (`digits`, `bars`,
`mnist:PATH`, `npy:PATH`). Imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers
import os
from typing import Any

import numpy as np

from tfhm import _checks

__all__ = [
    "BarsModel",
    "DATA_SPEC_HELP",
    "DIGITS_NUM_TEST",
    "binarize",
    "check_spec",
    "hold_out",
    "load_binarized_mnist",
    "load_digits",
    "load_npy",
    "load_spec",
    "load_test_spec",
    "make_bars",
]

# scikit-learn's digits has 1,797 images; the last 20% (360) are held out.
DIGITS_NUM_TEST = 360
_DIGITS_SPLIT_SEED = 0
_MNIST_SPLITS = ("train", "valid", "test")
# The first bytes of the two NumPy file formats (.npz files are zip archives).
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits, binarized, with a fixed split.

    Pixels (grey levels 0..16) are set to 1 where the value is >= 8. The
    split is fixed: the images are permuted with
    `np.random.default_rng(0).permutation(1797)`; the first 1,437 are the
    training set and the last 360 the test set (an 80/20 split).

    Returns:
      `(x_train, x_test)`: float32 `[1437, 64]` and `[360, 64]`.
    """
    from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top

    images = sk_datasets.load_digits().data
    x = (images >= 8).astype(np.float32)
    order = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(len(x))
    x = x[order]
    return x[:-DIGITS_NUM_TEST], x[-DIGITS_NUM_TEST:]


def load_binarized_mnist(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Loads binarized MNIST (Larochelle & Murray 2011) from local files.

    Args:
      path: one of
        - an `.npz` archive (`numpy.savez`) with the arrays `x_train`,
          `x_valid` and optionally `x_test`, each `[n, 784]` of 0/1;
        - a directory holding Larochelle's text files
          `binarized_mnist_{train,valid,test}.amat` (any subset);
        - a single `.amat` file (returned under the key "x").

    Returns:
      A dict from split name (`x_train`, `x_valid`, `x_test`, or `x`) to
      float32 arrays `[n, 784]`.

    Raises:
      FileNotFoundError: nothing at `path`, or a directory without `.amat`
        files.
      ValueError: arrays that are not `[n, 784]` of 0/1 values, an `.npz`
        without `x_train`, or a file that is not an `.npz` archive (e.g. a
        single `.npy` array: load that with `load_npy`).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No binarized MNIST at {path!r}: expected an .npz file, an .amat "
            "file or a directory of binarized_mnist_*.amat files.")
    if os.path.isdir(path):
        found = {}
        for split in _MNIST_SPLITS:
            name = os.path.join(path, f"binarized_mnist_{split}.amat")
            if os.path.exists(name):
                found[f"x_{split}"] = np.loadtxt(name, dtype=np.float32)
        if not found:
            raise FileNotFoundError(
                f"No binarized_mnist_{{train,valid,test}}.amat in {path!r}.")
    elif path.endswith(".amat"):
        found = {"x": np.loadtxt(path, dtype=np.float32)}
    else:
        _check_magic(path, _ZIP_MAGIC, "an .npz archive (numpy.savez) with the "
                     "arrays x_train and x_valid")
        with np.load(path, allow_pickle=False) as archive:
            if "x_train" not in archive.files:
                raise ValueError(
                    f"{path!r} has no 'x_train' array. Received arrays: "
                    f"{sorted(archive.files)}")
            found = {k: archive[k] for k in archive.files if k.startswith("x_")}
    result = {}
    for key, array in found.items():
        try:
            array = _checks.binary_array(array, name=key)
        except ValueError as error:
            raise ValueError(f"{path!r}: {key} must be [n, 784] of 0/1 values: "
                             f"{error}") from None
        if array.shape[1] != 784:
            raise ValueError(f"{key} in {path!r} must have 784 columns. "
                             f"Received: shape {array.shape}")
        result[key] = array
    return result


def _check_magic(path: str, magic: bytes, expected: str) -> None:
    """Raises a ValueError that says what `path` is when it does not start with `magic`."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head.startswith(magic):
        return
    if head.startswith(_NPY_MAGIC):
        kind = "a single .npy array (numpy.save; pass it as npy:PATH)"
    elif head.startswith(_ZIP_MAGIC):
        kind = "a zip archive (an .npz file?)"
    elif not head:
        kind = "an empty file"
    elif all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        kind = f"a text file starting {head[:24].decode('ascii')!r}"
    else:
        kind = f"a binary file starting {head[:8]!r}"
    raise ValueError(f"{path!r} is not {expected}: it is {kind}.")


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Reads a `.npy` file of observations: float32 `[n, D]` of 0/1.

    Raises:
      FileNotFoundError: nothing at `path`.
      ValueError: not a `.npy` file (says what the file is instead), a
        pickled object array, or not a 2-D array of 0/1 values.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No .npy file at {path!r}.")
    _check_magic(path, _NPY_MAGIC, "a .npy array file (numpy.save)")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:  # object arrays need pickle: refused
        raise ValueError(f"{path!r} holds an array of Python objects, not "
                         f"numbers ({error}).") from None
    return _checks.binary_array(array, name="x")


# How the held-out rows of a file without a validation split are chosen:
# "random" (tfhm >= 0.2: a seeded random 10%) or "last" (tfhm 0.1.0: the last
# 10%, which run folders of 0.1.0 were trained with).
HOLD_OUT_SCHEMES = ("random", "last")


def hold_out(x: np.ndarray, seed: int, fraction: float = 0.1,
             scheme: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Splits `x` into training and held-out rows, in a seeded random order.

    The rows are permuted with `np.random.default_rng(seed)`, so sorted data
    (all zeros first, say) still gives a representative validation set, and
    a run that is resumed or evaluated with its own seed gets the same split.

    Args:
      x: `[n, D]`, n >= 2.
      seed: the run's int seed.
      fraction: share held out (at least one row).
      scheme: "random" (the above) or "last" (the last rows, unshuffled: the
        split of tfhm 0.1.0, kept so that its run folders are resumed and
        evaluated on the rows they were trained and validated on).

    Returns:
      `(x_train, x_valid)`: `[n - m, D]` and `[m, D]`, m = max(1, n * fraction).
    """
    if scheme not in HOLD_OUT_SCHEMES:
        raise ValueError(f"Unknown hold-out scheme: expected one of {HOLD_OUT_SCHEMES}. "
                         f"Received: scheme={scheme!r}")
    held = max(1, int(len(x) * fraction))
    if scheme == "last":
        return x[:-held], x[-held:]
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order[held:]], x[order[:held]]


# What `--data` accepts (the command line's help shows this text).
DATA_SPEC_HELP = (
    "digits (embedded 8x8 digits), bars (4x4 bars), mnist:PATH (binarized "
    "MNIST: an .npz archive with the arrays x_train and x_valid (x_test "
    "optional), each [n, 784] of 0/1; a folder of binarized_mnist_"
    "{train,valid,test}.amat; or one .amat file) or npy:PATH (one .npy array "
    "[examples, pixels] of 0/1; 10% held out at random, seeded by --seed)")


def check_spec(spec: str) -> str:
    """Returns `spec` if it has the form of a `--data` value, else raises ValueError."""
    name, _, path = spec.partition(":")
    if (name in ("digits", "bars") and not path) or (
            name in ("mnist", "npy") and path):
        return spec
    raise ValueError("expected digits, bars, mnist:PATH or npy:PATH. "
                     f"Received: {spec!r}")


def load_spec(spec: str, seed: int = 0, hold_out_scheme: str = "random"
              ) -> tuple[np.ndarray, np.ndarray, str]:
    """The training and validation data of a `--data` value.

    Args:
      spec: `digits`, `bars`, `mnist:PATH` or `npy:PATH` (see
        `DATA_SPEC_HELP`).
      seed: the run's seed: the held-out rows of `npy:` (and of MNIST files
        without `x_valid`/`x_test`) are chosen with it (`hold_out`).
      hold_out_scheme: "random", or "last" for run folders of tfhm 0.1.0
        (see `hold_out`).

    Returns:
      `(x_train, x_valid, description)`: float32 `[n, D]`, `[m, D]` and a
      short text for the console.

    Raises:
      ValueError: a malformed spec, a missing or unreadable file, or data
        that are not `[n, D]` of 0/1; the message starts with `--data SPEC:`.
    """
    name, _, path = check_spec(spec).partition(":")
    if name == "digits":
        x_train, x_valid = load_digits()
        return x_train, x_valid, "digits (8x8, scikit-learn)"
    if name == "bars":
        x_train, _ = make_bars(2000, seed=0)
        x_valid, _ = make_bars(500, seed=1)
        return x_train, x_valid, "bars (4x4, p=0.2)"
    if not os.path.exists(path):
        raise ValueError(f"--data {spec}: no such file or folder: {path!r}")
    try:
        if name == "mnist":
            splits = load_binarized_mnist(path)
            x_train = splits.get("x_train", splits.get("x"))
            x_valid = splits.get("x_valid", splits.get("x_test"))
            note = f"binarized MNIST from {path}"
        else:
            x_train, x_valid = load_npy(path), None
            note = (f"{path} (10% held out at random, seed {seed})"
                    if hold_out_scheme == "random" else f"{path} (last 10% held out)")
    except (ValueError, OSError) as error:
        raise ValueError(f"--data {spec}: {error}") from None
    if x_train is None:
        raise ValueError(f"--data {spec}: no training split (x_train, "
                         f"binarized_mnist_train.amat) in {path!r}")
    if x_valid is None:
        if len(x_train) < 2:
            raise ValueError(
                f"--data {spec}: expected at least 2 examples (one is held "
                f"out). Received: shape {x_train.shape}")
        x_train, x_valid = hold_out(x_train, seed, scheme=hold_out_scheme)
    return x_train, x_valid, note


def load_test_spec(spec: str) -> tuple[np.ndarray, str]:
    """The test split of a `--data` value: the `x_test` of an `mnist:` file.

    Only binarized MNIST files hold a test split (an `.npz` array `x_test`
    or `binarized_mnist_test.amat` in a folder); `digits`, `bars` and `npy:`
    have none.

    Args:
      spec: a `--data` value (see `DATA_SPEC_HELP`).

    Returns:
      `(x_test, description)`: float32 `[n, 784]` and a short text.

    Raises:
      ValueError: a spec without a test split, a file without `x_test`
        (naming the arrays it holds), a missing or malformed file.
    """
    name, _, path = check_spec(spec).partition(":")
    if name != "mnist":
        raise ValueError(
            f"--split test: --data {spec} has no test split; only an mnist: file "
            "holding x_test (an .npz array, or binarized_mnist_test.amat in a "
            "folder) has one. Use --split valid.")
    if not os.path.exists(path):
        raise ValueError(f"--data {spec}: no such file or folder: {path!r}")
    try:
        splits = load_binarized_mnist(path)
    except (ValueError, OSError) as error:
        raise ValueError(f"--data {spec}: {error}") from None
    if "x_test" not in splits:
        raise ValueError(
            f"--split test: {path!r} holds no x_test (it holds "
            f"{', '.join(sorted(splits))}). Use --split valid, or a file with x_test.")
    return splits["x_test"], f"binarized MNIST test split from {path}"


def binarize(images: Any, seed: int | None = None,
             threshold: float | None = None) -> np.ndarray:
    """Binarizes grey-scale images: dynamically (sampled) or by a threshold.

    Dynamic binarization draws each pixel as Bernoulli(intensity) afresh,
    the usual augmentation for MNIST in [0, 1].

    Args:
      images: array `[..., pixels]` of intensities in [0, 1].
      seed: int or None, seeds the dynamic draw (not with `threshold`).
      threshold: None for dynamic binarization, else a float in (0, 1]:
        pixels >= threshold become 1.

    Returns:
      float32 array of the same shape, values 0/1.

    Raises:
      ValueError: intensities outside [0, 1] or NaN; a threshold outside
        (0, 1] (every pixel would become 1, or 0), or a seed with it.
    """
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (
                0.0 < threshold <= 1.0):  # NaN fails the comparison too
            raise ValueError("`threshold` must be a float in (0, 1] (intensities are "
                             f"in [0, 1]). Received: threshold={threshold!r}")
        if seed is not None:
            raise ValueError("Pass `seed` (dynamic binarization) or `threshold`, not "
                             f"both. Received: seed={seed!r}, threshold={threshold!r}")
    images = np.asarray(images, dtype=np.float64)
    if not np.all((images >= 0) & (images <= 1)):
        raise ValueError(
            "binarize expects intensities in [0, 1] (divide 8-bit images by "
            f"255). Received: min={np.nanmin(images)!r}, "
            f"max={np.nanmax(images)!r}, NaN={bool(np.isnan(images).any())}")
    if threshold is not None:
        return (images >= threshold).astype(np.float32)
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape) < images).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class BarsModel:
    """The true generative model of the bars data, exactly known.

    Each of the `2 * size` bars (rows then columns) is on independently with
    probability `p`; a pixel is on when any bar covers it, and with `noise`
    > 0 each pixel is then flipped with that probability.
    """

    size: int  # The grid is size x size pixels.
    p: float  # Probability that each bar is on.
    noise: float  # Probability that a pixel is flipped after the bars are drawn.
    bars: np.ndarray  # [2 * size, size * size] 0/1 masks, rows then columns.

    @property
    def data_dim(self) -> int:
        return self.size * self.size

    @property
    def num_bars(self) -> int:
        return 2 * self.size

    def log_prob(self, x: Any) -> np.ndarray:
        """Exact `log p(x)` in nats by summing over all `2**num_bars` bar sets.

        Args:
          x: array `[n, size * size]` of 0/1.

        Returns:
          float64 array `[n]`.
        """
        x = np.asarray(x, dtype=np.float64)
        configs = np.array(list(itertools.product([0, 1], repeat=self.num_bars)),
                           dtype=np.float64)  # [2**num_bars, num_bars]
        on = configs.sum(axis=1)
        log_prior = on * np.log(self.p) + (self.num_bars - on) * np.log1p(-self.p)
        images = (configs @ self.bars > 0).astype(np.float64)  # [configs, D]
        mismatches = np.abs(x[:, None, :] - images[None, :, :]).sum(axis=2)
        if self.noise == 0:
            log_lik = np.where(mismatches == 0, 0.0, -np.inf)
        else:
            log_lik = (mismatches * np.log(self.noise)
                       + (self.data_dim - mismatches) * np.log1p(-self.noise))
        return np.logaddexp.reduce(log_lik + log_prior[None, :], axis=1)

    def sample(self, num_examples: int, seed: int | None = None) -> np.ndarray:
        """Draws `num_examples` images, float32 `[n, size * size]`."""
        rng = np.random.default_rng(seed)
        on = (rng.random((num_examples, self.num_bars)) < self.p).astype(np.float64)
        images = (on @ self.bars > 0)
        flips = rng.random(images.shape) < self.noise
        return np.logical_xor(images, flips).astype(np.float32)


def make_bars(num_examples: int, size: int = 4, p: float = 0.2, noise: float = 0.0,
              seed: int | None = 0) -> tuple[np.ndarray, BarsModel]:
    """The bars data of the Helmholtz machine papers, and its true model.

    Args:
      num_examples: number of images to draw.
      size: the grid is size x size; there are 2 * size bars.
      p: probability that each bar is on (0.2 in Dayan et al. 1995).
      noise: probability that each pixel is flipped afterwards.
      seed: int seed of the draw.

    Returns:
      `(x, model)`: float32 `[num_examples, size * size]`, and the `BarsModel`
      whose `log_prob` scores any image exactly. With the defaults the true
      model's expected log-likelihood is about -4.0 nats per image.

    #### References

    [1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
         machine. Neural Computation 7(5) (1995).
    """
    _checks.positive_int("num_examples", num_examples)
    _checks.positive_int("size", size)
    if not 0 < p < 1:
        raise ValueError(f"`p` must be in (0, 1). Received: p={p!r}")
    if not 0 <= noise < 0.5:
        raise ValueError(f"`noise` must be in [0, 0.5). Received: noise={noise!r}")
    grid = np.arange(size * size).reshape(size, size)
    bars = np.zeros((2 * size, size * size), dtype=np.float64)
    for i in range(size):
        bars[i, grid[i, :]] = 1  # row i
        bars[size + i, grid[:, i]] = 1  # column i
    model = BarsModel(size=size, p=float(p), noise=float(noise), bars=bars)
    return model.sample(num_examples, seed=seed), model
