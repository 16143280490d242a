# ---
# jupyter:
#   colab:
#     name: 04_keras_fit_and_tensorboard.ipynb
#     provenance: []
#   jupytext:
#     notebook_metadata_filter: colab,language_info
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   language_info:
#     name: python
# ---

# %% [markdown]
# # 4. Keras `fit`, callbacks and TensorBoard
#
# `HelmholtzMachine` is a `keras.Model`: `fit` takes the usual callbacks. Here a
# deep Helmholtz machine (three stochastic layers, `z_3 -> z_2 -> z_1 -> x`) is
# trained with
#
# * `ModelCheckpoint`, which keeps the best model as a `.keras` file,
# * `EarlyStopping` on the validation log-likelihood (higher is better, so `mode="max"`),
# * `TensorBoard`, which logs the curves.
#
# With more than 24 latent bits, `log p(x)` can no longer be enumerated (notebook 1):
# the `val_log_likelihood` that `fit` reports is the importance-sampled estimate
# of notebook 2 with `eval_num_samples` samples per image.
#
# *Equation numbers (eq. 1-10) are those of J. V. da Silva Guerra, *Latent variable
# models* (lesson no. 04), the text tfhm starts from.*

# %% [markdown]
# **Install.** The next cell installs tfhm only if it is missing. Run next to a
# checkout of tfhm (this notebook in its `tutorials/` folder) it installs that
# checkout. tfhm is not published yet, so anywhere else (Colab included) build
# a wheel in a clone (`pip wheel --no-deps . -w dist`), copy it next to the
# notebook and set the environment variable `TFHM_SOURCE` to its path (or to
# the path or git URL of your own copy). The cell also imports TensorFlow with
# its C++ start-up log lines (absl, oneDNN, CUDA) hidden, as `tfhm` on the
# command line does.

# %%
import importlib.util
import os
import pathlib

if importlib.util.find_spec("tfhm") is None:
    checkout = pathlib.Path.cwd().parent  # this notebook in <checkout>/tutorials
    if (checkout / "setup.py").exists() and (checkout / "tfhm").is_dir():
        SOURCE = str(checkout)
    else:
        SOURCE = os.environ.get("TFHM_SOURCE")  # a wheel, a folder or a git URL
        if not SOURCE:
            raise ModuleNotFoundError(
                "tfhm is not installed and not published yet: build a wheel in a "
                "clone (pip wheel --no-deps . -w dist) and set TFHM_SOURCE to it")
    # %pip install -q {SOURCE}
import tfhm
from tfhm.cli import load_tensorflow

load_tensorflow(verbose=False)  # TensorFlow's C++ start-up lines hidden

# %%
import os

# TFHM_TUTORIAL_FAST=1 (set by the test suite) shrinks sizes and epochs only;
# every cell runs in both modes, and every number the text states is asserted.
FAST = os.environ.get("TFHM_TUTORIAL_FAST", "0") == "1"

import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
tf.get_logger().setLevel("ERROR")   # keep TensorFlow's notes out of the outputs


# %%
def show_grid(images, side, ncols=10, title=None, ax=None):
    """Draws `images` [n, side * side] (values in [0, 1]) as one grid."""
    images = np.asarray(images).reshape(-1, side, side)
    nrows = -(-len(images) // ncols)
    canvas = np.full((nrows * (side + 1) + 1, ncols * (side + 1) + 1), 0.75)  # grey frames
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[1 + r * (side + 1):(r + 1) * (side + 1),
               1 + c * (side + 1):(c + 1) * (side + 1)] = 1.0 - image
    ax = ax or plt.figure(figsize=(ncols * 0.45, nrows * 0.45)).gca()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


# %% [markdown]
# ## Data: binarized MNIST if you have it, else the digits
#
# tfhm downloads nothing. Point `TFHM_MNIST` at a binarized-MNIST `.npz` file
# (arrays `x_train`, `x_valid`, `x_test`, 784 columns of 0/1), or put one at
# `../shared/data/binarized_mnist.npz`; without it the notebook uses the 8 x 8
# digits that ship with tfhm.

# %%
mnist_path = os.environ.get("TFHM_MNIST",
                            os.path.join("..", "shared", "data", "binarized_mnist.npz"))
if os.path.exists(mnist_path):
    mnist = tfhm.datasets.load_binarized_mnist(mnist_path)
    x_train, x_valid = mnist["x_train"], mnist["x_valid"]
    if FAST:
        x_train, x_valid = x_train[:5000], x_valid[:1000]
    data_name, side, latent_dims = "binarized MNIST", 28, (200, 200, 200)
else:
    x_train, x_valid = tfhm.datasets.load_digits()
    data_name, side, latent_dims = "8 x 8 digits", 8, (32, 16, 8)
print(f"{data_name}: {len(x_train)} training and {len(x_valid)} validation images, "
      f"model {'-'.join(map(str, latent_dims))}")

# %% [markdown]
# ## A deep Helmholtz machine and its callbacks
#
# `latent_dims` lists the stochastic layers from the data up. Reweighted wake-sleep
# with K = 5, each phase with its own Adam. The callbacks write into a temporary
# directory.

# %% [markdown]
# In fast mode the notebook starts from a model that ships with tfhm
# (`tfhm.pretrained`): `digits_rws_16` on the digits (one stochastic layer of 16
# units), `mnist_sbn200x3_rws5` on MNIST (SBN 200-200-200, trained to
# convergence), and trains it a few epochs more, so that its pictures show digits
# after seconds; full mode trains the deep model from scratch.

# %%
PRETRAINED = {"8 x 8 digits": "digits_rws_16", "binarized MNIST": "mnist_sbn200x3_rws5"}
if FAST:
    hm = tfhm.pretrained.load(PRETRAINED[data_name])   # sha256-checked, compiled as trained
    print("started from", tfhm.pretrained.card(PRETRAINED[data_name])["title"])
else:
    hm = tfhm.HelmholtzMachine(data_dim=x_train.shape[1], latent_dims=latent_dims, seed=0)
hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3), sleep_optimizer=keras.optimizers.Adam(1e-3),
           algorithm="reweighted_wake_sleep", num_samples=5, eval_num_samples=100)

workdir = tempfile.mkdtemp(prefix="tfhm_tutorial_")
checkpoint_path = os.path.join(workdir, "best.keras")
log_dir = os.path.join(workdir, "logs")
callbacks = [
    keras.callbacks.ModelCheckpoint(checkpoint_path, monitor="val_log_likelihood", mode="max",
                                    save_best_only=True),
    keras.callbacks.EarlyStopping(monitor="val_log_likelihood", mode="max", patience=5,
                                  restore_best_weights=True),
    keras.callbacks.TensorBoard(log_dir=log_dir),
]
EPOCHS = 4 if FAST else 60
history = hm.fit(x_train, batch_size=100, epochs=EPOCHS, validation_data=(x_valid,),
                 callbacks=callbacks, verbose=2)

# %% [markdown]
# `fit` reports, per epoch, the training `elbo` (the VLB of eq. 10 under the
# current `q`), the wake and sleep losses, the effective sample size `ess` of the
# K importance weights, and on the validation set the `val_elbo` and the
# importance-sampled `val_log_likelihood`.

# %%
h = history.history
best_epoch = int(np.argmax(h["val_log_likelihood"]))
print(f"ran {len(h['elbo'])} of {EPOCHS} epochs; best val_log_likelihood "
      f"{h['val_log_likelihood'][best_epoch]:.2f} nats at epoch {best_epoch + 1}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(h["elbo"], label="train VLB")
axes[0].plot(h["val_elbo"], label="validation VLB")
axes[0].plot(h["val_log_likelihood"], label="validation log p(x), K = 100")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("nats")
axes[0].legend()
axes[1].plot(h["ess"])
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("effective sample size (of 5)")
plt.tight_layout()

assert set(h) >= {"elbo", "wake_loss", "sleep_loss", "ess", "val_elbo", "val_log_likelihood"}
if not FAST:                         # trained from scratch: it learned
    assert h["val_log_likelihood"][-1] > h["val_log_likelihood"][0]
else:                                # the pretrained model stays where it was
    assert abs(h["val_log_likelihood"][-1] - h["val_log_likelihood"][0]) < 0.5
assert all(e <= l + 0.5 for e, l in zip(h["val_elbo"], h["val_log_likelihood"]))

# %% [markdown]
# ## The checkpoint
#
# `ModelCheckpoint` saved the model of the best epoch; `EarlyStopping` with
# `restore_best_weights=True` put the same weights back into `hm` at the end.
# `keras.models.load_model` rebuilds the `HelmholtzMachine` from the `.keras`
# file, with its weights and its compile settings.

# %%
best = keras.models.load_model(checkpoint_path)
print(type(best).__name__, best.latent_dims, "algorithm:", best.algorithm.value)
for saved, restored in zip(best.weights, hm.weights):
    np.testing.assert_array_equal(saved.numpy(), restored.numpy())
assert isinstance(best, tfhm.HelmholtzMachine)

samples = best.sample(40, seed=0)
fig, axes = plt.subplots(1, 2, figsize=(10, 2.4))
show_grid(x_valid[:40], side, ax=axes[0], title=f"{data_name}: validation data")
show_grid(samples["x_probs"].numpy(), side, ax=axes[1],
          title="best model: p(x = 1 | z) of 40 dreams")
plt.tight_layout()

# %% [markdown]
# ## TensorBoard
#
# The `TensorBoard` callback wrote one run for training and one for validation
# under `log_dir`. In Colab or Jupyter, look at them live with
#
# ```
# %load_ext tensorboard
# %tensorboard --logdir {log_dir}
# ```
#
# or from a shell, `tensorboard --logdir <log_dir>`. The logs are ordinary event
# files; here we read the validation curve back from them and plot it.

# %%
from tensorboard.backend.event_processing import event_accumulator


def read_scalars(run_dir, tag):
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={"tensors": 0})
    acc.Reload()
    events = acc.Tensors(tag)
    return [e.step for e in events], [float(tf.make_ndarray(e.tensor_proto)) for e in events]

print("runs:", sorted(os.listdir(log_dir)))
steps, values = read_scalars(os.path.join(log_dir, "validation"), "epoch_log_likelihood")
plt.figure(figsize=(5, 3))
plt.plot(steps, values, "o-")
plt.xlabel("epoch")
plt.ylabel("val log p(x), nats")
plt.title("read back from the TensorBoard logs")

assert len(values) == len(h["val_log_likelihood"])
np.testing.assert_allclose(values, h["val_log_likelihood"], rtol=1e-5)
