"""Pictures of a Helmholtz machine: sample grids, reconstructions, learning curves.

Grids are built in NumPy and written with Pillow, so their size in pixels is
exact and known in advance (`grid_size`); the learning curves use matplotlib
(Agg backend, imported only when a curve is drawn). Every file is written
atomically: to a temporary file in the same folder, then `os.replace`d, so a
reader never sees half a PNG.
"""

import math
import os

import numpy as np
import tensorflow as tf

__all__ = [
    "atomic_path",
    "grid_size",
    "image_shape",
    "plot_curves",
    "reconstruction_grid",
    "sample_grid",
    "save_png",
    "tile_images",
]


def image_shape(data_dim):
    """`(height, width)` of one example drawn as a picture.

    A square side when `data_dim` is a perfect square (64 -> 8 x 8,
    784 -> 28 x 28, bars 16 -> 4 x 4), else one row `(1, data_dim)`.
    """
    side = math.isqrt(int(data_dim))
    if side * side == data_dim:
        return side, side
    return 1, int(data_dim)


def grid_size(num_images, data_dim, cols=None, scale=4, pad=1):
    """`(height, width)` in pixels of the grid `tile_images` draws."""
    height, width = image_shape(data_dim)
    cols = cols or math.ceil(math.sqrt(num_images))
    rows = math.ceil(num_images / cols)
    return (rows * (height * scale + pad) + pad,
            cols * (width * scale + pad) + pad)


def tile_images(images, cols=None, scale=4, pad=1):
    """Tiles examples into one grey-scale picture (1 = white, as in MNIST).

    Args:
      images: array `[num_images, data_dim]` of values in [0, 1]
        (0/1 samples or Bernoulli means).
      cols: images per row; default `ceil(sqrt(num_images))`.
      scale: every pixel becomes a `scale x scale` block.
      pad: grey border between images, in pixels.

    Returns:
      uint8 array `[grid_height, grid_width]`, see `grid_size`.
    """
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    num, data_dim = images.shape
    height, width = image_shape(data_dim)
    cols = cols or math.ceil(math.sqrt(num))
    grid = np.full(grid_size(num, data_dim, cols, scale, pad), 96, np.uint8)
    cell_h, cell_w = height * scale + pad, width * scale + pad
    pixels = np.round(images * 255).astype(np.uint8).reshape(num, height, width)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    for i in range(num):
        r, c = divmod(i, cols)
        top, left = pad + r * cell_h, pad + c * cell_w
        grid[top:top + height * scale, left:left + width * scale] = pixels[i]
    return grid


def atomic_path(path):
    """A temporary name in the folder of `path` with the same extension."""
    folder, name = os.path.split(os.fspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}.tmp-{os.getpid()}{ext}")


def save_png(array, path):
    """Writes a uint8 `[height, width]` array as a grey-scale PNG, atomically."""
    from PIL import Image  # pylint: disable=g-import-not-at-top

    tmp = atomic_path(path)
    Image.fromarray(np.asarray(array, np.uint8), mode="L").save(tmp, format="PNG")
    os.replace(tmp, path)


def sample_grid(model, num_samples, seed, binary=False, cols=None, scale=4):
    """A grid of generated images ("dreams") of `model`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      num_samples: how many images.
      seed: int or int32 `[2]` stateless seed; the same seed, the same grid.
      binary: draw the 0/1 samples x ~ p(x | z_1) instead of the Bernoulli
        means `p(x = 1 | z_1)` (the means are easier to read).
      cols, scale: as `tile_images`.

    Returns:
      uint8 `[grid_height, grid_width]`.
    """
    out = model.sample(num_samples, seed=seed)
    images = out["x"] if binary else out["x_probs"]
    return tile_images(images.numpy(), cols=cols, scale=scale)


def reconstruction_grid(model, x, seed, cols=8, scale=4):
    """Data and their reconstructions, in alternating rows.

    Row 2i holds `cols` examples, row 2i + 1 their reconstructions
    `p(x = 1 | z_1)` with one draw `z ~ q(z | x)`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[n, data_dim]` 0/1 examples; n a multiple of `cols` is tidiest.
      seed: int32 `[2]` stateless seed of the draw of z.

    Returns:
      uint8 `[grid_height, grid_width]` with `2 * ceil(n / cols)` rows.
    """
    x = np.asarray(x, np.float32)
    latents, _ = model.recognizer.sample(tf.constant(x), 1, seed)
    recon = model.generator(latents[0][0]).numpy()  # [n, data_dim]
    rows = []
    for start in range(0, len(x), cols):
        block = x[start:start + cols]
        filler = np.zeros((cols - len(block), x.shape[1]), np.float32)
        rows.append(np.concatenate([block, filler]))
        rows.append(np.concatenate([recon[start:start + cols], filler]))
    return tile_images(np.concatenate(rows), cols=cols, scale=scale)


def plot_curves(history, path, width=800, height=350):
    """Learning curves per epoch: ELBO and log-likelihood, wake and sleep loss.

    Args:
      history: list of per-epoch dicts with keys `epoch`, `elbo` and
        optionally `val_elbo`, `val_log_likelihood`, `wake_loss`,
        `sleep_loss` (the rows of `metrics.csv`).
      path: where to write the PNG (`width x height` pixels, atomically).
    """
    import matplotlib  # pylint: disable=g-import-not-at-top

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

    dpi = 100
    fig, (left, right) = plt.subplots(1, 2, figsize=(width / dpi, height / dpi),
                                      dpi=dpi)
    epochs = [row["epoch"] for row in history]
    for key, label in (("elbo", "train ELBO"), ("val_elbo", "valid ELBO"),
                       ("val_log_likelihood", "valid log-likelihood (IS)")):
        values = [row.get(key) for row in history]
        if values and all(v is not None and v == v for v in values):
            left.plot(epochs, values, marker=".", label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("nats per example")
    left.legend(fontsize=8)
    for key in ("wake_loss", "sleep_loss"):
        values = [row.get(key) for row in history]
        if values and all(v is not None for v in values):
            right.plot(epochs, values, marker=".", label=key.replace("_", " "))
    right.set_xlabel("epoch")
    right.legend(fontsize=8)
    fig.tight_layout()
    tmp = atomic_path(path)
    fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    os.replace(tmp, path)
