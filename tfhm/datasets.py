"""Binary data sets: digits (embedded), binarized MNIST (from a file), bars.

All loaders return float32 NumPy arrays `[num_examples, data_dim]` of exact
zeros and ones, ready for `HelmholtzMachine.fit`. Nothing is downloaded.
"""

import dataclasses
import itertools
import os

import numpy as np

__all__ = [
    "BarsModel",
    "DIGITS_NUM_TEST",
    "binarize",
    "load_binarized_mnist",
    "load_digits",
    "make_bars",
]

# scikit-learn's digits has 1,797 images; the last 20% (360) are held out.
DIGITS_NUM_TEST = 360
_DIGITS_SPLIT_SEED = 0
_MNIST_SPLITS = ("train", "valid", "test")


def _as_binary(array, name):
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D [examples, pixels]. "
                         f"Received: shape {array.shape}")
    bad = ~((array == 0) | (array == 1))
    if bad.any():
        raise ValueError(f"{name} must hold only 0/1 values. Received: "
                         f"{int(bad.sum())} other values, e.g. "
                         f"{array[bad].ravel()[0]!r}")
    return array.astype(np.float32)


def load_digits():
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


def load_binarized_mnist(path):
    """Loads binarized MNIST (Larochelle & Murray 2011) from local files.

    Args:
      path: one of
        - an `.npz` file with arrays `x_train`, `x_valid` and optionally
          `x_test`, each `[n, 784]` of 0/1;
        - a directory holding Larochelle's text files
          `binarized_mnist_{train,valid,test}.amat` (any subset);
        - a single `.amat` file (returned under the key "x").

    Returns:
      A dict from split name (`x_train`, `x_valid`, `x_test`, or `x`) to
      float32 arrays `[n, 784]`.

    Raises:
      FileNotFoundError: nothing at `path`, or a directory without `.amat`
        files.
      ValueError: arrays that are not `[n, 784]` of 0/1 values, or an `.npz`
        without `x_train`.
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
        with np.load(path) as archive:
            if "x_train" not in archive.files:
                raise ValueError(
                    f"{path!r} has no 'x_train' array. Received arrays: "
                    f"{sorted(archive.files)}")
            found = {k: archive[k] for k in archive.files if k.startswith("x_")}
    result = {}
    for key, array in found.items():
        array = _as_binary(array, f"{key} in {path!r}")
        if array.shape[1] != 784:
            raise ValueError(f"{key} in {path!r} must have 784 columns. "
                             f"Received: shape {array.shape}")
        result[key] = array
    return result


def binarize(images, seed=None, threshold=None):
    """Binarizes grey-scale images: dynamically (sampled) or by a threshold.

    Dynamic binarization draws each pixel as Bernoulli(intensity) afresh,
    the usual augmentation for MNIST in [0, 1].

    Args:
      images: array `[..., pixels]` of intensities in [0, 1].
      seed: int or None, seeds the dynamic draw (ignored with `threshold`).
      threshold: None for dynamic binarization, else pixels >= threshold
        become 1.

    Returns:
      float32 array of the same shape, values 0/1.

    Raises:
      ValueError: intensities outside [0, 1] or NaN.
    """
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
    def data_dim(self):
        return self.size * self.size

    @property
    def num_bars(self):
        return 2 * self.size

    def log_prob(self, x):
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

    def sample(self, num_examples, seed=None):
        """Draws `num_examples` images, float32 `[n, size * size]`."""
        rng = np.random.default_rng(seed)
        on = (rng.random((num_examples, self.num_bars)) < self.p).astype(np.float64)
        images = (on @ self.bars > 0)
        flips = rng.random(images.shape) < self.noise
        return np.logical_xor(images, flips).astype(np.float32)


def make_bars(num_examples, size=4, p=0.2, noise=0.0, seed=0):
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
    for name, value in (("num_examples", num_examples), ("size", size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive int. "
                             f"Received: {name}={value!r}")
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
