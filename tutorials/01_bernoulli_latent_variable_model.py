# ---
# jupyter:
#   colab:
#     name: 01_bernoulli_latent_variable_model.ipynb
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
# # 1. The Bernoulli latent-variable model
#
# A Helmholtz machine (Dayan, Hinton, Neal & Zemel 1995) is a latent-variable model built
# from binary pieces:
#
# * a prior over K binary latents, `p(z | beta) = prod_k beta_k^z_k (1 - beta_k)^(1 - z_k)` (eq. 1),
# * a network that maps z to the Bernoulli means of L binary pixels,
#   `p(x | z) = Bernoulli(x | DNN(z))` (eq. 2),
# * the marginal likelihood `log p(x) = log sum_z p(x | z) p(z)` (eq. 3),
# * a recognition model `q(z | phi(x)) = prod_k phi_k^z_k (1 - phi_k)^(1 - z_k)` (eq. 4).
#
# This notebook builds each piece with tfhm: we write a generator by hand so that
# its latents mean something, draw from it, compute eq. 3 exactly, time it to see
# why it breaks at 32 latent bits, and fit a recognition model.
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

import time

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

tf.get_logger().setLevel("ERROR")   # no retracing notes in the outputs

print("tfhm", tfhm.__version__, "| TensorFlow", tf.__version__, "| fast mode:", FAST)


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
# ## A generator we can read: the bars
#
# The bars of the Helmholtz-machine papers live on a 4 x 4 grid: each of the
# 8 bars (4 rows, 4 columns) is on with probability `beta = 0.2`, a pixel is on
# when a bar covers it, and then every pixel is flipped with probability 0.01.
# That is a Bernoulli latent-variable model with K = 8 latents (one per bar) and
# L = 16 pixels. `tfhm.datasets.make_bars` draws from it and knows its exact
# likelihood.

# %%
SIZE, BETA, NOISE = 4, 0.2, 0.01
x_bars, bars = tfhm.datasets.make_bars(40, size=SIZE, p=BETA, noise=NOISE, seed=0)
bar_masks = bars.bars.astype(np.float32)  # [8, 16]: rows, then columns
show_grid(bar_masks, SIZE, ncols=8, title="the 8 bars: what each latent z_k draws")
show_grid(x_bars[:20], SIZE, title="20 images of the bars data");

# %% [markdown]
# We now write the same model as a `tfhm.Generator`: a learnable prior (eq. 1)
# and a `DenseBernoulli` layer whose network is `DNN(z)` (eq. 2). Weights are set
# by hand: the hidden layer counts the bars over each pixel, `c = z @ bars`, and
# `min(c, 1) = relu(c) - relu(c - 1)` turns the count into "covered or not".
# The output logit is `+a` for a covered pixel and `-a` otherwise, with
# `a = log((1 - 0.01) / 0.01)`, so a pixel is on with probability 0.99 or 0.01.

# %%
gen = tfhm.Generator(data_dim=SIZE * SIZE, latent_dims=(8,), hidden_units=(32,),
                     activation="relu")
a = np.log((1 - NOISE) / NOISE)
D = SIZE * SIZE

gen.prior.logits.assign(np.full(8, np.log(BETA / (1 - BETA)), np.float32))   # eq. 1
dnn = gen.conditionals[0]                                                     # eq. 2
dnn.hidden_layers[0].kernel.assign(np.concatenate([bar_masks, bar_masks], axis=1))
dnn.hidden_layers[0].bias.assign(np.concatenate([np.zeros(D), -np.ones(D)]).astype(np.float32))
dnn.logits_layer.kernel.assign(
    np.concatenate([2 * a * np.eye(D), -2 * a * np.eye(D)]).astype(np.float32))
dnn.logits_layer.bias.assign(np.full(D, -a, np.float32))
print("prior beta:", tf.sigmoid(gen.prior.logits).numpy().round(3))

# %% [markdown]
# ## The generation procedure
#
# Sampling takes three steps: 1. sample `z ~ p(z | beta)`; 2. map it through
# `DNN(z)`; 3. sample `x ~ p(x | z)`. Each step is one line; every sampler in
# tfhm takes an explicit stateless seed, so the pictures are reproducible.

# %%
n = 8
seeds = tf.random.experimental.stateless_split(tf.constant([0, 1]), 2)
# 1. z ~ p(z | beta), [n, 8]; 2. DNN(z) = p(x_i = 1 | z), [n, 16]; 3. x ~ p(x | z), [n, 16]
z = tfhm.layers.sample_bernoulli(gen.prior(tf.zeros([n, 0])), seeds[0])   # 1.
probs = gen(z)                                                            # 2.
x = tfhm.layers.sample_bernoulli(dnn(z), seeds[1])                        # 3.

fig, axes = plt.subplots(3, 1, figsize=(6, 3.2))
show_grid(z.numpy() @ bar_masks > 0, SIZE, ncols=n, ax=axes[0], title="1. z: the bars that are on")
show_grid(probs.numpy(), SIZE, ncols=n, ax=axes[1], title="2. DNN(z): pixel probabilities")
show_grid(x.numpy(), SIZE, ncols=n, ax=axes[2], title="3. x ~ p(x | z)")
plt.tight_layout()

# %% [markdown]
# `gen.sample(n, seed)` runs the three steps at once (these draws are "dreams"
# in wake-sleep). Drawn from our hand-written network, they look like the data:

# %%
dreams = gen.sample(40, seed=tf.constant([0, 2]))
show_grid(dreams["x"].numpy(), SIZE, title="40 samples of the hand-built generator");

# %% [markdown]
# ## The marginal likelihood, eq. 3, by enumeration
#
# `log p(x) = log sum_z p(x | z) p(z)`: with K = 8 latents the sum has `2^8 = 256`
# terms. First in plain NumPy, term by term, for one image: every `z`, its prior
# `log p(z)` and the likelihood `log p(x | z)` of the network, then a stable
# log-sum-exp.

# %%
from itertools import product


def log_bernoulli(y, p):
    return np.sum(y * np.log(p) + (1 - y) * np.log1p(-p), axis=-1)

x0 = x_bars[0]
beta = tf.sigmoid(gen.prior.logits).numpy().astype(np.float64)
terms = []
for bits in product([0.0, 1.0], repeat=8):
    z0 = np.array([bits], np.float32)
    log_prior = log_bernoulli(z0[0], beta)                                 # log p(z), eq. 1
    log_lik = log_bernoulli(x0, gen(z0).numpy()[0].astype(np.float64))     # log p(x | z), eq. 2
    terms.append(log_prior + log_lik)
log_px_numpy = np.logaddexp.reduce(terms)                                   # eq. 3
print(f"{len(terms)} terms, log p(x) = {log_px_numpy:.4f} nats")

# %% [markdown]
# tfhm computes the same sum for a whole batch (`tfhm.evaluation.exact_log_likelihood`,
# chunked over the latent states). Because our network *is* the bars model, both
# must agree with the bars' own likelihood, and `p(x)` must sum to one over all
# `2^16` possible images:

# %%
log_px = tfhm.evaluation.exact_log_likelihood(gen, x_bars).numpy()
log_px_true = bars.log_prob(x_bars)
print(f"NumPy loop {log_px_numpy:.4f} | tfhm {log_px[0]:.4f} | "
      f"bars model {log_px_true[0]:.4f} nats")
print(f"largest difference to the bars model over {len(x_bars)} images: "
      f"{np.max(np.abs(log_px - log_px_true)):.1e} nats")

all_images = np.array(list(product([0.0, 1.0], repeat=D)), np.float32)   # [65536, 16]
total = np.exp(tfhm.evaluation.exact_log_likelihood(gen, all_images).numpy()
               .astype(np.float64)).sum()
print(f"sum of p(x) over all {len(all_images)} images: {total:.5f}")

assert abs(log_px[0] - log_px_numpy) < 1e-3
assert np.max(np.abs(log_px - log_px_true)) < 1e-3
assert abs(total - 1.0) < 1e-3

# %% [markdown]
# ## Why 32 latent bits are out of reach
#
# The catch: with 32 binary latents, eq. 3 sums over
# `2^32`, over 4 billion terms, for *every* image. We time the exact sum for
# random generators of growing K on 100 images of 8 x 8 digits; once a fixed
# overhead is paid, the cost doubles with each bit.

# %%
x_digits = tfhm.datasets.load_digits()[1][:100]
bit_range = list(range(8, 19, 2) if FAST else range(8, 21, 2))
seconds = []
for k in bit_range:
    g = tfhm.Generator(data_dim=64, latent_dims=(k,), seed=0)
    tfhm.evaluation.exact_log_likelihood(g, x_digits[:2])      # trace once, not timed
    start = time.perf_counter()
    tfhm.evaluation.exact_log_likelihood(g, x_digits)
    seconds.append(time.perf_counter() - start)
    print(f"K = {k:2d}: {2**k:>9,} terms per image, {seconds[-1]:7.3f} s for 100 images")

# %%
per_image_32 = seconds[-1] / 100 * 2 ** (32 - bit_range[-1])   # cost grows like 2^K
days_for_mnist = per_image_32 * 50_000 / 86_400
print(f"2^32 = {2**32:,} terms per image")
print(f"extrapolated: {per_image_32:.0f} s per image, {days_for_mnist:.0f} days for one pass "
      f"over 50,000 images (the size of MNIST's training set), and these are 8 x 8 images")

plt.figure(figsize=(5, 3.2))
plt.semilogy(bit_range, seconds, "o-", label="measured (100 images)")
ks = np.arange(bit_range[-1], 33)
plt.semilogy(ks, seconds[-1] * 2.0 ** (ks - bit_range[-1]), "--", label="x2 per bit")
plt.axhline(86_400, color="gray", lw=0.8)
plt.text(bit_range[0], 86_400 / 4, "one day")
plt.xlabel("latent bits K")
plt.ylabel("seconds")
plt.legend()
plt.title("exact log p(x), eq. 3")

assert 2**32 > 4e9                       # "over 4 billion terms"
assert seconds[-1] > seconds[0]          # more terms, more time
assert days_for_mnist > 1                # out of reach for training

# %% [markdown]
# tfhm refuses exact enumeration beyond `tfhm.evaluation.MAX_EXACT_LATENT_BITS`
# and points to the importance-sampled estimate of notebook 2 instead:

# %%
big = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(32,), seed=0)
try:
    big.exact_log_likelihood(x_digits[:1])
    raise AssertionError("expected a ValueError")
except ValueError as error:
    print(error)

# %% [markdown]
# ## The recognition model, eq. 4
#
# Learning needs the posterior `p(z | x)`: which latents explain an image. By
# Bayes' rule `p(z | x) = p(x | z) p(z) / p(x)` (eq. 6), and `p(x)` is the
# intractable sum. A recognition model guesses it directly, with one network
# `phi(x)` that outputs K Bernoulli means:
# `q(z | phi(x)) = prod_k phi_k^z_k (1 - phi_k)^(1 - z_k)` (eq. 4).
#
# For our 8 bars we can still enumerate, so we compute the true posterior
# marginals `p(z_k = 1 | x)` and compare them with a `tfhm.Recognizer`, before
# and after training it.

# %%
all_z = tfhm.evaluation.enumerate_latents((8,), 0, 2**8)                # [[256, 8]]
log_joint = gen.log_prob(x_bars, [all_z[0][:, None, :]])                # [256, n]: log p(x, z)
posterior = tf.nn.softmax(log_joint, axis=0)                            # p(z | x), eq. 6
true_marginals = tf.transpose(posterior) @ all_z[0]                     # [n, 8]: p(z_k = 1 | x)

rec = tfhm.Recognizer(data_dim=D, latent_dims=(8,), seed=0)
phi_before = rec(x_bars)[0]                                             # [n, 8]: phi(x) of eq. 4
error_before = np.mean(np.abs(phi_before - true_marginals))
print(f"untrained: mean |phi(x) - p(z_k = 1 | x)| = {error_before:.3f}")

# %% [markdown]
# We train `phi` on samples of the generator: draw `(z, x) ~ p`, then make `q`
# predict that `z` from that `x` by minimizing `-log q(z | x)`. This is the sleep
# phase of wake-sleep (`tfhm.objectives.sleep_loss`), the subject of notebook 3.

# %%
optimizer = tf.keras.optimizers.Adam(1e-2)

@tf.function
def sleep_step(seed):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tfhm.objectives.sleep_loss(gen, rec, 100, seed))
    grads = tape.gradient(loss, rec.trainable_variables)
    optimizer.apply_gradients(zip(grads, rec.trainable_variables))
    return loss

losses = [float(sleep_step(tf.constant([step, 0]))) for step in range(600 if FAST else 2000)]
phi_after = rec(x_bars)[0]
error_after = np.mean(np.abs(phi_after - true_marginals))
print(f"trained:   mean |phi(x) - p(z_k = 1 | x)| = {error_after:.3f}")
assert error_before > 0.2 and error_after < 0.1

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 3.6), gridspec_kw={"width_ratios": [0.8, 3, 3, 3]})
show_grid(x_bars[:6], SIZE, ncols=1, ax=axes[0], title="x")
for ax, values, title in ((axes[1], true_marginals, "p(z_k = 1 | x), exact"),
                          (axes[2], phi_before, "phi(x), untrained"),
                          (axes[3], phi_after, "phi(x), after sleep")):
    ax.imshow(np.asarray(values)[:6], cmap="Blues", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xlabel("bar k (rows 0-3, columns 4-7)")
    ax.set_yticks([])
plt.tight_layout()

# %% [markdown]
# Each row is one image: the trained recognizer names the bars that are on, one
# network call per image instead of a sum over all `2^K` latent states.
# Notebook 2 measures how good such a `q` is: the variational lower bound.
