"""Tests of tfhm.plotting: grid geometry, titles and labels, upscaling, curves."""

import numpy as np
import pytest
from PIL import Image

import tfhm
from tfhm import plotting


@pytest.fixture(scope="module")
def bars_model():
    """An untrained 4x4-bars model: pictures need only its shapes."""
    return tfhm.HelmholtzMachine(data_dim=16, latent_dims=(3,), hidden_units=(), seed=0)


def test_tile_images_geometry_is_exact():
    images = np.linspace(0, 1, 10 * 16).reshape(10, 16)
    grid = plotting.tile_images(images, cols=4, scale=4)
    assert grid.shape == plotting.grid_size(10, 16, cols=4, scale=4) == (3 * 17 + 1, 4 * 17 + 1)
    assert grid.dtype == np.uint8 and grid[0, 0] == 96  # the grey border
    assert grid[1, 1] == 0 and grid[1 + 3 * 4, 1 + 3 * 4 + 17 * 3] == round(
        images[3, 15] * 255)


@pytest.mark.parametrize("num, data_dim, cols, scale", [
    (64, 16, 8, 13),  # bars: 8 * (4 * 13 + 1) + 1 = 425
    (64, 64, 8, 7),  # digits: 8 * (8 * 7 + 1) + 1 = 457
    (64, 784, 8, 2),  # MNIST: 8 * (28 * 2 + 1) + 1 = 457
    (1, 16, None, 32),  # one 4x4 image: capped at 32 screen pixels per pixel
])
def test_auto_scale_makes_grids_at_least_400_pixels_wide(num, data_dim, cols, scale):
    # Issue 11.13: small images are upscaled (the old bars grid was 137 px).
    assert plotting.auto_scale(num, data_dim, cols) == scale
    width = plotting.grid_size(num, data_dim, cols, scale)[1]
    assert width >= 400 or scale == 32
    if scale > 1:
        assert plotting.grid_size(num, data_dim, cols, scale - 1)[1] < 400  # the smallest


def _text_rows(picture, top, bottom, left, right):
    """Rows of `picture[top:bottom, left:right]` that hold dark (text) pixels."""
    return np.flatnonzero((picture[top:bottom, left:right] < 128).any(axis=1))


@pytest.mark.parametrize("binary, words", [(False, "Bernoulli means"),
                                           (True, "samples x ~ p(x | z_1)")])
def test_sample_grid_says_means_or_samples(bars_model, binary, words, tmp_path):
    # Issue 11.13: a title band says what the grid shows; it is also the
    # PNG's Title text.
    picture = plotting.sample_grid(bars_model, 64, seed=0, binary=binary, cols=8)
    bare = plotting.sample_grid(bars_model, 64, seed=0, binary=binary, cols=8, title=False)
    assert bare.shape == (425, 425)
    band = picture.shape[0] - 425
    assert picture.shape[1] == 425 and band >= 18
    np.testing.assert_array_equal(picture[band:], bare)
    assert len(_text_rows(picture, 0, band, 0, 425)) > 5  # the title is drawn
    title = plotting.sample_title(64, binary)
    assert words in title and ("not samples" in title) != binary
    path = tmp_path / "s.png"
    plotting.save_png(picture, path, title=title)
    with Image.open(path) as image:
        assert image.text["Title"] == title and image.size == (425, picture.shape[0])


def test_reconstruction_rows_are_labelled(bars_model):
    # Issue 11.13: rows alternate data / reconstruction, each labelled at the left.
    x, _ = tfhm.datasets.make_bars(16, seed=0)
    picture = plotting.reconstruction_grid(bars_model, x, seed=[1, 2], cols=8)
    bare = plotting.reconstruction_grid(bars_model, x, seed=[1, 2], cols=8, title=False)
    assert bare.shape == (4 * 53 + 1, 425)  # 2 data rows + 2 reconstruction rows
    band = picture.shape[0] - bare.shape[0]
    margin = picture.shape[1] - bare.shape[1]
    assert margin > 60  # wide enough for "reconstruction"
    np.testing.assert_array_equal(picture[band:, margin:], bare)
    np.testing.assert_array_equal(bare[1:53, 1:425 - 1][:, :16], np.repeat(np.repeat(
        (x[0] * 255).reshape(4, 4), 13, 0), 13, 1)[:52, :16])  # row 0 is the data
    for r in range(4):  # a label beside every row
        rows = _text_rows(picture, band + 1 + r * 53, band + (r + 1) * 53, 0, margin)
        assert len(rows) > 3, r
    # The "data" and "reconstruction" labels differ in width.
    def label_width(r):
        block = picture[band + 1 + r * 53: band + (r + 1) * 53, :margin] < 128
        return np.flatnonzero(block.any(axis=0)).max()
    assert label_width(1) > label_width(0) and label_width(3) == label_width(1)
    assert "reconstructions" in plotting.RECONSTRUCTION_TITLE


def test_curves_have_titles_and_a_right_y_label(tmp_path, monkeypatch):
    # Issue 11.13: the loss panel had no y-label or unit.
    from matplotlib import pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    history = [{"epoch": e, "elbo": -10.0 + e, "val_elbo": -10.5 + e,
                "val_log_likelihood": -10.2 + e, "wake_loss": 10.0 - e,
                "sleep_loss": 4.0 - e / 10} for e in (1, 2, 3)]
    plotting.plot_curves(history, tmp_path / "curves.png")
    (figure,) = figures
    left, right = figure.axes
    assert right.get_ylabel() == "loss (nats per example)"
    assert left.get_ylabel() == "nats per example"
    assert left.get_title() and right.get_title() and figure._suptitle.get_text()
    with Image.open(tmp_path / "curves.png") as image:
        assert image.size == (800, 350) and image.text["Title"] == "Learning curves"
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary left


def test_image_shape_is_nearly_square_for_non_square_data_or_given():
    # Issue 25.8: non-square data was drawn as 1-pixel strips (60 -> 1 x 60).
    assert plotting.image_shape(60) == (6, 10)
    assert plotting.image_shape(784) == (28, 28) and plotting.image_shape(16) == (4, 4)
    assert plotting.image_shape(2 * 392) == (28, 28)
    assert plotting.image_shape(98) == (7, 14)
    assert plotting.image_shape(13) == (1, 13)  # a prime has no other shape
    assert plotting.image_shape(60, (3, 20)) == (3, 20)
    for bad in [(7, 9), (60,), (0, 60), (6.0, 10), (True, 60)]:
        with pytest.raises(ValueError, match=r"product is data_dim=60\. Received: "
                                             r"image_shape="):
            plotting.image_shape(60, bad)
    # The grid draws each image in the shape given (NumPy reference).
    images = np.linspace(0, 1, 2 * 60).reshape(2, 60)
    grid = plotting.tile_images(images, cols=2, scale=1, pad=1, shape=(3, 20))
    assert grid.shape == plotting.grid_size(2, 60, 2, 1, 1, (3, 20)) == (5, 43)
    np.testing.assert_array_equal(grid[1:4, 22:42],
                                  np.round(images[1].reshape(3, 20) * 255).astype(np.uint8))
    assert plotting.tile_images(images, cols=2, scale=1).shape == (8, 23)  # 6 x 10
