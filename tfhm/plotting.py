"""Pictures of a Helmholtz machine: sample grids, reconstructions, learning curves.

Grids are built in NumPy and written with Pillow, so their size in pixels is
exact and known in advance (`grid_size`); `annotate` adds a title band (and
row labels) above and beside a grid. Small images are upscaled so that a grid
is at least `MIN_GRID_PIXELS` wide (`auto_scale`). Every picture says what it
shows: Bernoulli means `p(x = 1 | z)` or 0/1 samples. The learning curves use
matplotlib (Agg backend, imported only when a curve is drawn). Files are
written atomically (`tfhm._io`), so a reader never sees half a PNG; the title
is also stored in the PNG's `Title` text chunk.

Imports no TensorFlow (the model's methods do the sampling).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfhm._io import atomic_path, replace_atomically

__all__ = [
    "MIN_GRID_PIXELS",
    "annotate",
    "atomic_path",
    "auto_scale",
    "grid_size",
    "image_shape",
    "plot_curves",
    "RECONSTRUCTION_TITLE",
    "reconstruction_grid",
    "sample_grid",
    "sample_title",
    "save_png",
    "tile_images",
]

# Grids of small images (4x4 bars, 8x8 digits) are upscaled to at least this
# width in pixels, so that they can be read without zooming.
MIN_GRID_PIXELS = 400
_MAX_SCALE = 32
_FONT_SIZE = 14
_LINE_HEIGHT = 18  # pixels per line of the title band
_BACKGROUND = 255  # white margins around the grey-bordered grid


def image_shape(data_dim: int, shape=None) -> tuple[int, int]:
    """`(height, width)` of one example drawn as a picture.

    Args:
      data_dim: pixels per example.
      shape: None, or `(height, width)`, two positive ints whose product is
        `data_dim` (checked and returned).

    Returns:
      `shape` if given; else a square when `data_dim` is a perfect square
      (64 -> 8 x 8, 784 -> 28 x 28, bars 16 -> 4 x 4), else the most nearly
      square factorization with height <= width (60 -> 6 x 10; a prime
      `data_dim` can only be one row).

    Raises:
      ValueError: a `shape` that is not two positive ints multiplying to
        `data_dim`.
    """
    data_dim = int(data_dim)
    if shape is not None:
        values = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        if (len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                                    or v < 1 for v in values)
                or values[0] * values[1] != data_dim):
            raise ValueError(
                "`image_shape` must be (height, width), two positive ints whose "
                f"product is data_dim={data_dim}. Received: image_shape={shape!r}")
        return int(values[0]), int(values[1])
    height = math.isqrt(data_dim)
    while data_dim % height:
        height -= 1
    return height, data_dim // height


def grid_size(num_images: int, data_dim: int, cols: int | None = None,
              scale: int = 4, pad: int = 1, shape=None) -> tuple[int, int]:
    """`(height, width)` in pixels of the grid `tile_images` draws."""
    height, width = image_shape(data_dim, shape)
    cols = cols or math.ceil(math.sqrt(num_images))
    rows = math.ceil(num_images / cols)
    return (rows * (height * scale + pad) + pad,
            cols * (width * scale + pad) + pad)


def auto_scale(num_images: int, data_dim: int, cols: int | None = None,
               min_pixels: int = MIN_GRID_PIXELS, pad: int = 1, shape=None) -> int:
    """The smallest scale (screen pixels per data pixel) giving a grid at
    least `min_pixels` wide (at most 32; at least 1).

    For 64 bars images of 4x4 in 8 columns: 13 (a 425-pixel grid).
    """
    _, width = image_shape(data_dim, shape)
    cols = cols or math.ceil(math.sqrt(num_images))
    cols = min(cols, num_images)
    needed = (min_pixels - pad - cols * pad) / (cols * width)
    return int(min(max(1, math.ceil(needed)), _MAX_SCALE))


def tile_images(images: Any, cols: int | None = None, scale: int = 4,
                pad: int = 1, shape=None) -> np.ndarray:
    """Tiles examples into one grey-scale picture (1 = white, as in MNIST).

    Args:
      images: array `[num_images, data_dim]` of values in [0, 1]
        (0/1 samples or Bernoulli means).
      cols: images per row; default `ceil(sqrt(num_images))`.
      scale: every pixel becomes a `scale x scale` block.
      pad: grey border between images, in pixels.
      shape: `(height, width)` of one image; None: `image_shape(data_dim)`.

    Returns:
      uint8 array `[grid_height, grid_width]`, see `grid_size`.
    """
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    num, data_dim = images.shape
    height, width = image_shape(data_dim, shape)
    cols = cols or math.ceil(math.sqrt(num))
    grid = np.full(grid_size(num, data_dim, cols, scale, pad, (height, width)), 96,
                   np.uint8)
    cell_h, cell_w = height * scale + pad, width * scale + pad
    pixels = np.round(images * 255).astype(np.uint8).reshape(num, height, width)
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    for i in range(num):
        r, c = divmod(i, cols)
        top, left = pad + r * cell_h, pad + c * cell_w
        grid[top:top + height * scale, left:left + width * scale] = pixels[i]
    return grid


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except TypeError:  # Pillow < 10.1: one bitmap size only
        return ImageFont.load_default()


def _wrap(text: str, font: Any, width: int) -> list[str]:
    """`text` broken at spaces into lines at most `width` pixels long."""
    lines = [""]
    for word in text.split():
        candidate = f"{lines[-1]} {word}".strip()
        if lines[-1] and font.getlength(candidate) > width:
            lines.append(word)
        else:
            lines[-1] = candidate
    return lines


def annotate(grid: np.ndarray, title: str,
             row_labels: Sequence[tuple[int, int, str]] = ()) -> np.ndarray:
    """A grid with a title band above it and labels left of its rows.

    Args:
      grid: uint8 `[height, width]` (e.g. from `tile_images`).
      title: one line of text drawn in a white band above the grid.
      row_labels: `(top, bottom, text)` triples in grid pixels; each text is
        drawn in a white margin left of the grid, centred on its rows.

    Returns:
      uint8 `[height + title band, width + label margin]`; the band holds
      the title in as many lines as the width needs.
    """
    from PIL import Image, ImageDraw

    font = _font()
    margin = 0
    if row_labels:
        margin = 8 + max(int(font.getlength(text)) for _, _, text in row_labels)
    height, width = grid.shape
    lines = _wrap(title, font, width + margin - 8)
    band = _LINE_HEIGHT * len(lines) + 6
    canvas = Image.new("L", (width + margin, height + band), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((4, 3 + i * _LINE_HEIGHT), line, fill=0, font=font)
    canvas.paste(Image.fromarray(np.asarray(grid, np.uint8), mode="L"),
                 (margin, band))
    for top, bottom, text in row_labels:
        middle = band + (top + bottom) // 2
        draw.text((4, middle - _FONT_SIZE // 2), text, fill=0, font=font)
    return np.asarray(canvas)


def save_png(array: np.ndarray, path: str | os.PathLike,
             title: str | None = None) -> None:
    """Writes a uint8 `[height, width]` array as a grey-scale PNG, atomically.

    Args:
      array: the picture.
      path: the file to (re)write.
      title: stored in the PNG's `Title` text chunk when given.
    """
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if title:
        info.add_text("Title", title)
    image = Image.fromarray(np.asarray(array, np.uint8), mode="L")
    replace_atomically(path, lambda tmp: image.save(tmp, format="PNG", pnginfo=info))


def sample_title(num_samples: int, binary: bool) -> str:
    """What a `sample_grid` shows, in one line."""
    if binary:
        return f"{num_samples} samples x ~ p(x | z_1), z ~ p(z) (0/1 pixels)"
    return (f"Bernoulli means p(x = 1 | z_1) of {num_samples} dreams z ~ p(z) "
            "(not samples)")


def sample_grid(model: Any, num_samples: int, seed: Any, binary: bool = False,
                cols: int | None = None, scale: int | None = None,
                title: bool = True, shape=None) -> np.ndarray:
    """A grid of generated images ("dreams") of `model`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      num_samples: how many images.
      seed: int or int32 `[2]` stateless seed; the same seed, the same grid.
      binary: draw the 0/1 samples x ~ p(x | z_1) instead of the Bernoulli
        means `p(x = 1 | z_1)` (the means are easier to read).
      cols: as `tile_images`.
      scale: as `tile_images`; None upscales to `MIN_GRID_PIXELS` (`auto_scale`).
      title: add a title band that says "samples" or "Bernoulli means"
        (`sample_title`); False gives the bare grid of `grid_size`.
      shape: `(height, width)` of one image; None: `image_shape(data_dim)`.

    Returns:
      uint8 `[height, width]`.
    """
    shape = image_shape(model.data_dim, shape)  # checked before drawing
    out = model.sample(num_samples, seed=seed)
    images = (out["x"] if binary else out["x_probs"]).numpy()  # [n, data_dim]
    if scale is None:
        scale = auto_scale(num_samples, images.shape[1], cols, shape=shape)
    grid = tile_images(images, cols=cols, scale=scale, shape=shape)
    return annotate(grid, sample_title(num_samples, binary)) if title else grid


RECONSTRUCTION_TITLE = ("Data and reconstructions: Bernoulli means "
                        "p(x = 1 | z_1), one draw z ~ q(z | x)")


def reconstruction_grid(model: Any, x: Any, seed: Any, cols: int = 8,
                        scale: int | None = None, title: bool = True,
                        shape=None) -> np.ndarray:
    """Data and their reconstructions, in alternating labelled rows.

    Row 2i holds `cols` examples ("data"), row 2i + 1 their reconstructions
    ("reconstruction"): the Bernoulli means `p(x = 1 | z_1)` with one draw
    `z ~ q(z | x)`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[n, data_dim]` 0/1 examples; n a multiple of `cols` is tidiest.
      seed: int32 `[2]` stateless seed of the draw of z.
      cols: examples per row.
      scale: as `sample_grid`.
      title: add the title band and the row labels; False gives the bare grid.
      shape: `(height, width)` of one image; None: `image_shape(data_dim)`.

    Returns:
      uint8 `[height, width]` with `2 * ceil(n / cols)` rows of images.
    """
    import tensorflow as tf

    x = np.asarray(x, np.float32)
    latents, _ = model.recognizer.sample(tf.constant(x), 1, seed)
    recon = model.generator(latents[0][0]).numpy()  # [n, data_dim]
    rows = []
    for start in range(0, len(x), cols):
        block = x[start:start + cols]
        filler = np.zeros((cols - len(block), x.shape[1]), np.float32)
        rows.append(np.concatenate([block, filler]))
        rows.append(np.concatenate([recon[start:start + cols], filler]))
    shape = image_shape(x.shape[1], shape)
    if scale is None:
        scale = auto_scale(cols, x.shape[1], cols, shape=shape)
    grid = tile_images(np.concatenate(rows), cols=cols, scale=scale, shape=shape)
    if not title:
        return grid
    cell = shape[0] * scale + 1
    labels = [(1 + r * cell, 1 + (r + 1) * cell - 1,
               "data" if r % 2 == 0 else "reconstruction")
              for r in range(len(rows))]
    return annotate(grid, RECONSTRUCTION_TITLE, labels)


def plot_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike,
                width: int = 800, height: int = 350) -> None:
    """Learning curves per epoch: ELBO and log-likelihood, wake and sleep loss.

    Args:
      history: list of per-epoch dicts with keys `epoch`, `elbo` and
        optionally `val_elbo`, `val_log_likelihood`, `wake_loss`,
        `sleep_loss` (the rows of `metrics.csv`).
      path: where to write the PNG (`width x height` pixels, atomically).
      width, height: the picture's size in pixels.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    dpi = 100
    fig, (left, right) = plt.subplots(1, 2, figsize=(width / dpi, height / dpi),
                                      dpi=dpi)
    epochs = [row["epoch"] for row in history]
    for key, label in (("elbo", "train ELBO"), ("val_elbo", "valid ELBO"),
                       ("val_log_likelihood", "valid log-likelihood (IS)")):
        values = [row.get(key) for row in history]
        if values and all(v is not None and v == v for v in values):
            left.plot(epochs, values, marker=".", label=label)
    left.set_title("Bound and log-likelihood (higher is better)", fontsize=9)
    left.set_xlabel("epoch")
    left.set_ylabel("nats per example")
    left.legend(fontsize=8)
    for key in ("wake_loss", "sleep_loss"):
        values = [row.get(key) for row in history]
        if values and all(v is not None for v in values):
            right.plot(epochs, values, marker=".", label=key.replace("_", " "))
    right.set_title("Training losses (lower is better)", fontsize=9)
    right.set_xlabel("epoch")
    right.set_ylabel("loss (nats per example)")
    right.legend(fontsize=8)
    fig.suptitle("Learning curves", fontsize=10)
    fig.tight_layout()
    try:
        replace_atomically(path, lambda tmp: fig.savefig(
            tmp, dpi=dpi, format="png", metadata={"Title": "Learning curves"}))
    finally:
        plt.close(fig)
