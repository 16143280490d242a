# ---
# jupyter:
#   colab:
#     name: 03_wake_sleep.ipynb
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
# # 3. Wake-sleep and reweighted wake-sleep
#
# The wake-sleep algorithm (Hinton, Dayan, Frey & Neal 1995) trains the two networks in turns:
#
# * **wake**: take `x ~ p_data`, draw `z ~ q(z | phi(x))`, and raise
#   `log p(z | beta) + log p(x | z, theta)` (the generator's part of the VLB, eq. 10);
# * **sleep**: dream `z ~ p(z | beta)`, `x ~ p(x | z, theta)`, and train `q` to recover
#   that `z` from that `x` (lowering `-log q(z | x)`).
#
# `HelmholtzMachine.fit` runs one wake and one sleep phase per batch, each with its
# own optimizer. We train on the bars and on the digits, watch the bound and the
# exact log-likelihood climb, compare with reweighted wake-sleep (Bornschein &
# Bengio 2015), look at samples and dreams, and put numbers on the remark of Hinton et al. (1995)
# that the sleep phase optimizes a different objective.
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


class ExactCurves(keras.callbacks.Callback):
    """Records the exact log p(x) (eq. 3) and the VLB (eq. 10) of x_eval per epoch."""

    def __init__(self, x_eval):
        super().__init__()
        self.x_eval = x_eval
        self.log_px, self.vlb = [], []

    def _record(self):
        self.log_px.append(float(np.mean(self.model.exact_log_likelihood(self.x_eval))))
        self.vlb.append(float(np.mean(self.model.elbo(self.x_eval, num_samples=20, seed=0))))

    def on_train_begin(self, logs=None):
        if not self.log_px:
            self._record()          # epoch 0: before training

    def on_epoch_end(self, epoch, logs=None):
        self._record()


def train(x_train, x_eval, algorithm, epochs, learning_rate, batch_size, **model_args):
    """A Helmholtz machine trained by `algorithm`, with its exact learning curves."""
    hm = tfhm.HelmholtzMachine(**model_args, seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(learning_rate),
               sleep_optimizer=keras.optimizers.Adam(learning_rate), algorithm=algorithm)
    curves = ExactCurves(x_eval)
    hm.fit(x_train, batch_size=batch_size, epochs=epochs, callbacks=[curves], verbose=0)
    return hm, curves


# %% [markdown]
# ## The bars
#
# 4 x 4 bars with pixel noise 0.01 (notebook 1). The true model's log-likelihood
# is known exactly and is the ceiling any model can reach on average. Our
# Helmholtz machine has 8 latents, a logistic (sigmoid belief net) generator and
# recognizer; with only 8 latent bits, the exact `log p(x)` costs 256 terms per
# image and we can afford it after every epoch.

# %%
x_bars, bars = tfhm.datasets.make_bars(2000, size=4, p=0.2, noise=0.01, seed=0)
x_bars_test, _ = tfhm.datasets.make_bars(500, size=4, p=0.2, noise=0.01, seed=1)
true_log_px = bars.log_prob(x_bars_test).mean()
BARS_EPOCHS = 4 if FAST else 40

ws, ws_curves = train(x_bars, x_bars_test, "wake_sleep", BARS_EPOCHS, 3e-2, 20,
                      data_dim=16, latent_dims=(8,))
print(f"wake-sleep, {BARS_EPOCHS} epochs: exact log p(x) {ws_curves.log_px[0]:.2f} -> "
      f"{ws_curves.log_px[-1]:.2f} nats (true model {true_log_px:.2f})")
assert ws_curves.log_px[-1] > ws_curves.log_px[0] + 1.0                    # it climbs
assert all(v <= l + 0.05 for v, l in zip(ws_curves.vlb, ws_curves.log_px))  # the bound stays below

# %% [markdown]
# Reweighted wake-sleep draws K = 5 samples of `q` per image and weights them by
# their normalized importance weights `w_k / sum_j w_j`,
# `w_k = p(x, z_k) / q(z_k | x)` (notebook 2), for the generator's update, and
# trains `q` on those weighted samples of real data as well as on dreams. Same
# data, same initial weights, same number of epochs. (Fast mode runs the first
# epochs of the same run, so the numbers at epoch 4 are the same in both modes.)

# %%
rws, rws_curves = train(x_bars, x_bars_test, "reweighted_wake_sleep", BARS_EPOCHS, 3e-2, 20,
                        data_dim=16, latent_dims=(8,))
print(f"reweighted wake-sleep: exact log p(x) {rws_curves.log_px[0]:.2f} -> "
      f"{rws_curves.log_px[-1]:.2f} nats")
print(f"after 4 epochs: wake-sleep {ws_curves.log_px[4]:.2f}, "
      f"reweighted {rws_curves.log_px[4]:.2f} nats")
assert rws_curves.log_px[4] > ws_curves.log_px[4] + 0.5   # RWS climbs faster

epochs = np.arange(BARS_EPOCHS + 1)
plt.figure(figsize=(6, 3.6))
for curves, name, color in ((ws_curves, "wake-sleep", "tab:blue"),
                            (rws_curves, "reweighted WS", "tab:orange")):
    plt.plot(epochs, curves.log_px, color=color, label=f"{name}: log p(x), exact")
    plt.plot(epochs, curves.vlb, color=color, ls="--", label=f"{name}: VLB")
plt.axhline(true_log_px, color="k", lw=0.8, label="true bars model")
plt.xlabel("epoch")
plt.ylabel("nats per test image")
plt.legend(fontsize=8);

# %% [markdown]
# Samples (dreams) of both models next to the data. A good model dreams clean
# bars; a poorer one blurs them or invents shapes the data never shows.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 2.6))
show_grid(x_bars_test[:40], 4, ax=axes[0], title="data")
show_grid(ws.sample(40, seed=0)["x"].numpy(), 4, ax=axes[1], title="wake-sleep dreams")
show_grid(rws.sample(40, seed=0)["x"].numpy(), 4, ax=axes[2], title="reweighted WS dreams")
plt.tight_layout()

# %% [markdown]
# ## The digits
#
# The 8 x 8 binarized digits (1,437 training and 360 test images, bundled with
# tfhm), 16 latents and one hidden layer of 64 units in every network. 16 bits
# are 65,536 latent states: still enumerable, so the curves are exact.

# %%
x_train, x_test = tfhm.datasets.load_digits()
DIGIT_EPOCHS = 3 if FAST else 40
digit_args = dict(data_dim=64, latent_dims=(16,), hidden_units=(64,))
ws_d, ws_d_curves = train(x_train, x_test, "wake_sleep", DIGIT_EPOCHS, 3e-3, 50, **digit_args)
rws_d, rws_d_curves = train(x_train, x_test, "reweighted_wake_sleep", DIGIT_EPOCHS, 3e-3, 50,
                            **digit_args)
for name, c in (("wake-sleep", ws_d_curves), ("reweighted WS", rws_d_curves)):
    print(f"{name:14s}: exact log p(x) {c.log_px[0]:.1f} -> {c.log_px[-1]:.1f} nats, "
          f"VLB {c.vlb[-1]:.1f}")
assert ws_d_curves.log_px[-1] > ws_d_curves.log_px[0] + 5
assert rws_d_curves.log_px[-1] > rws_d_curves.log_px[0] + 5

plt.figure(figsize=(6, 3.6))
for curves, name, color in ((ws_d_curves, "wake-sleep", "tab:blue"),
                            (rws_d_curves, "reweighted WS", "tab:orange")):
    plt.plot(np.arange(DIGIT_EPOCHS + 1), curves.log_px, color=color,
             label=f"{name}: log p(x), exact")
    plt.plot(np.arange(DIGIT_EPOCHS + 1), curves.vlb, color=color, ls="--", label=f"{name}: VLB")
plt.xlabel("epoch")
plt.ylabel("nats per test image")
plt.legend(fontsize=8);

# %% [markdown]
# A dream has two parts: the latent code `z ~ p(z)` and the image. Below, the
# pixel probabilities `p(x = 1 | z)` of 40 dreams (smooth), and the binary
# dreams `x ~ p(x | z)` themselves.

# %%
dreams = rws_d.sample(40, seed=3)
fig, axes = plt.subplots(1, 3, figsize=(13, 2.6))
show_grid(x_test[:40], 8, ax=axes[0], title="test data")
show_grid(dreams["x_probs"].numpy(), 8, ax=axes[1], title="dreams: p(x = 1 | z)")
show_grid(dreams["x"].numpy(), 8, ax=axes[2], title="dreams: x ~ p(x | z)")
plt.tight_layout()

# %% [markdown]
# ## The sleep phase optimizes a different objective
#
# Why: the wake phase maximizes the VLB on *data*, but the sleep phase
# minimizes a KL divergence on *dreams*, `E_{x ~ p_model} KL[p(z | x) || q(z | x)]`,
# while the bound's gap on the data is `E_{x ~ p_data} KL[q(z | x) || p(z | x)]`
# (eq. 8). Other direction, other distribution of x.
#
# To see it in numbers, freeze the wake-sleep generator of the bars and train two
# copies of its recognizer from the same start: one with the sleep phase only,
# one on the data (reweighted wake-sleep's wake update of `q`, which fits `q` to
# the weighted posterior samples of real images). With 8 latent bits both KL
# divergences are exact sums over 256 states.

# %%
all_z = [z[:, None, :] for z in tfhm.evaluation.enumerate_latents((8,), 0, 256)]

def kl_both_ways(generator, recognizer, x):
    """Exact mean KL[q || p(z|x)] and KL[p(z|x) || q] over the images x."""
    log_joint = generator.log_prob(x, all_z)                            # [256, n]
    log_post = log_joint - tf.reduce_logsumexp(log_joint, axis=0)       # log p(z | x)
    log_q = recognizer.log_prob(x, all_z)
    reverse = tf.reduce_sum(tf.exp(log_q) * (log_q - log_post), axis=0)
    forward = tf.reduce_sum(tf.exp(log_post) * (log_post - log_q), axis=0)
    return float(tf.reduce_mean(reverse)), float(tf.reduce_mean(forward))

generator = ws.generator
dreamed = generator.sample(1000, seed=tf.constant([5, 5]))["x"]
start_weights = [v.numpy() for v in ws.recognizer.trainable_variables]

def train_recognizer(update, steps):
    recognizer = tfhm.Recognizer(data_dim=16, latent_dims=(8,))
    for v, w in zip(recognizer.trainable_variables, start_weights):
        v.assign(w)
    # A decaying step size, so that each recognizer settles at the optimum of its objective.
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, steps))

    @tf.function
    def step(seed, x):
        with tf.GradientTape() as tape:
            if update == "sleep":     # -log q(z | x) on dreams (z, x) ~ p
                loss = tfhm.objectives.sleep_loss(generator, recognizer, 100, seed)
            else:                     # -sum_k w~_k log q(z_k | x) on data
                loss = tfhm.objectives.wake_losses(generator, recognizer, x, 10, seed,
                                                   tfhm.Algorithm.REWEIGHTED_WAKE_SLEEP)["recognizer"]
            loss = tf.reduce_mean(loss)
        grads = tape.gradient(loss, recognizer.trainable_variables)
        optimizer.apply_gradients(zip(grads, recognizer.trainable_variables))

    for i in range(steps):
        start = (i * 100) % (len(x_bars) - 100)
        step(tf.constant([i, 1]), x_bars[start:start + 100])
    return recognizer

STEPS = 1000 if FAST else 3000
results = {}
for update in ("sleep", "wake"):
    recognizer = train_recognizer(update, STEPS)
    results[update] = {"dreams": kl_both_ways(generator, recognizer, dreamed),
                       "data": kl_both_ways(generator, recognizer, x_bars_test)}

print("                         sleep objective:            bound's gap:")
print("                         KL[p||q] on dreams          KL[q||p] on data")
for update, name in (("sleep", "q trained on dreams"), ("wake", "q trained on data")):
    r = results[update]
    print(f"{name:24s} {r['dreams'][1]:10.4f}                  {r['data'][0]:10.4f}")

# Each recognizer wins on its own objective:
assert results["sleep"]["dreams"][1] < results["wake"]["dreams"][1]
assert results["wake"]["data"][0] < results["sleep"]["data"][0]

# %% [markdown]
# The recognizer trained by the sleep phase is the better one on the sleep
# phase's own objective, yet it leaves a larger gap under the bound on the real
# data than a recognizer trained on the data. Minimizing the sleep loss does not
# maximize the VLB: that is why the wake-sleep bound is not guaranteed to get
# tight, and one motivation for reweighted wake-sleep's wake update of `q`.
