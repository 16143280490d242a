# ---
# jupyter:
#   colab:
#     name: 07_your_own_conditionals.ipynb
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
# # 7. Your own conditionals
#
# Every layer of a Helmholtz machine, the prior `p(z_L)`, each `p(z_l | z_(l+1))`,
# `p(x | z_1)` and each layer of the recognizer `q(z | x)`, is a **conditional**:
# a Keras layer that maps its parent to a distribution over a binary vector.
# Until now every one was a factorized Bernoulli (eq. 1-2: independent units
# given the parent, the sigmoid belief net). This notebook
#
# * opens one conditional and checks it against enumeration;
# * trains the digits model with three recognizers by name: `sbn` (factorized),
#   `darn` (autoregressive, Gregor et al. 2014) and `nade` (Larochelle & Murray
#   2011), and compares their exact log-likelihoods;
# * brings a convolutional Keras network as the recognizer;
# * registers a conditional of its own under a name.
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

import pathlib
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfhm import conditionals

keras.utils.set_random_seed(0)
tf.get_logger().setLevel("ERROR")   # keep TensorFlow's notes out of the outputs
x_train, x_test = tfhm.datasets.load_digits()   # 8 x 8 binarized digits
LATENTS = 8 if FAST else 16   # 2**LATENTS states: the exact log-likelihood enumerates them
EPOCHS = 3 if FAST else 40
print("conditionals:", ", ".join(conditionals.names()))

# %% [markdown]
# ## One conditional, against enumeration
#
# A conditional has three methods, and the networks sample and score through them
# alone:
#
# * `sample(parent, seed, sample_shape)`: stateless draws, float32 zeros and ones;
# * `log_prob(parent, value)`: nats, summed over the units;
# * `mean_field(parent)`: deterministic probabilities (the exact means where the
#   units are independent).
#
# A factorized layer also has `compute_logits(parent)`, the fast path that DisARM,
# inpainting and the per-pixel figures need; the others refuse it. DARN's unit j
# has the logit `b_j + (parent U)_j + sum_(i<j) W_ij v_i`: it sees the units before
# it, so its four units below are not independent, and `sample` draws them one after
# another in the same order in which `log_prob` scores them.

# %%
darn = conditionals.make("darn", 4, 3, seed=0)     # 4 binary units given a parent of 3
parent = tf.constant([[1.0, 0.0, 1.0]])
states = ((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(np.float32)
p = np.exp(darn.log_prob(parent, states).numpy().astype(np.float64))   # [16]
n = 20_000 if FAST else 200_000
draws = darn.sample(parent, seed=tf.constant([0, 1]), sample_shape=(n,)).numpy()[:, 0]
freq = np.bincount(draws.astype(np.int64) @ (1 << np.arange(4)), minlength=16) / n
tv = 0.5 * np.abs(freq - p).sum()
# E[TV] <= 0.5 sum_s sqrt(p(s) / n) (Jensen), plus a McDiarmid margin for 1e-4.
bound = 0.5 * np.sqrt(p / n).sum() + np.sqrt(np.log(1e4) / (2 * n))
print(f"sum of p over the 16 states: {p.sum():.6f}")
print(f"total variation of {n:,} draws from p: {tv:.4f} (bound {bound:.4f})")
assert abs(p.sum() - 1.0) < 1e-5 and tv < bound
try:
    darn.compute_logits(parent)
except TypeError as error:
    print("compute_logits:", error)


# %% [markdown]
# ## Recognizers by name
#
# `HelmholtzMachine(..., recognizer_conditional=NAME)` (and
# `generator_conditional=NAME`) builds every layer of that network from a registered
# name; `hidden_units` and `activation` keep their meaning, the deterministic path
# from a layer's parent into it. The generator stays the same SBN below, so the
# exact log-likelihood of the test digits (summed over all `2**LATENTS` latent
# states) measures only what each recognizer taught it. Reweighted wake-sleep uses
# q as its proposal; an autoregressive q can put its mass on correlated latents,
# which a factorized one cannot.

# %%
def train(hm):
    """Fits `hm` by RWS (K = 5); returns the test log p(x) before and after, and seconds."""
    hm.compile(wake_optimizer=keras.optimizers.Adam(6e-3),
               sleep_optimizer=keras.optimizers.Adam(6e-3),
               algorithm="reweighted_wake_sleep", num_samples=5)
    before = float(np.mean(hm.exact_log_likelihood(x_test)))
    start = time.perf_counter()
    hm.fit(x_train, batch_size=100, epochs=EPOCHS, verbose=0)
    seconds = time.perf_counter() - start
    return before, float(np.mean(hm.exact_log_likelihood(x_test))), seconds


results = {}
for kind in ("sbn", "darn", "nade"):
    hm = tfhm.HelmholtzMachine(64, (LATENTS,), hidden_units=(64,),
                               recognizer_conditional=kind, seed=0)
    results[kind] = train(hm)
    print(f"{kind:5s} q: test log p(x) {results[kind][0]:.2f} -> {results[kind][1]:.2f} "
          f"nats in {results[kind][2]:.0f} s")

# %% [markdown]
# ## A convolutional recognizer
#
# Any Keras network that maps `[batch, parent_dim]` to `[batch, units]` logits is a
# factorized conditional with `conditionals.KerasBernoulli`. Here q's logits come
# from two 3 x 3 convolutions of the 8 x 8 image; the full form of the constructor
# takes the two networks built from their layers (`Generator(prior=...,
# conditionals=[...])` likewise). The model saves and loads with its network.

# %%
body = keras.Sequential([
    keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
    keras.layers.Conv2D(16, 3, padding="same", activation="tanh"),
    keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="tanh"),
    keras.layers.Flatten(), keras.layers.Dense(LATENTS)])
conv_hm = tfhm.HelmholtzMachine(
    generator=tfhm.Generator(64, (LATENTS,), hidden_units=(64,), seed=0),
    recognizer=tfhm.Recognizer(conditionals=[conditionals.KerasBernoulli(
        body, units=LATENTS, parent_dim=64, name="conv_q")]),
    seed=0)
results["conv"] = train(conv_hm)
path = pathlib.Path(tempfile.mkdtemp()) / "conv.keras"   # a scratch folder
conv_hm.save(path)
back = tfhm.load_model(path)
assert np.array_equal(back.exact_log_likelihood(x_test), conv_hm.exact_log_likelihood(x_test))
print("| recognizer | test log p(x) before | after | seconds |")
print("|---|---|---|---|")
for kind, (before, after, seconds) in results.items():
    print(f"| {kind} | {before:.2f} | {after:.2f} | {seconds:.0f} |")
# Every recognizer taught the generator: several nats above the random start.
assert all(after > before + 3.0 for before, after, _ in results.values())


# %% [markdown]
# The autoregressive recognizers cost more per step: each draw is a loop over
# the latent units (a `tf.while_loop`, compiled, and exported in SavedModels),
# where a factorized layer draws all units at once. On the 1,437 training digits
# the figures above come from a few epochs; `benchmarks/RESULTS.md` (section
# `conditionals_digits`) compares the four at equal epochs and at an equal
# wall-clock budget, and section `conditionals_speed` gives the step's
# examples/s on MNIST.

# %% [markdown]
# ## A conditional of your own, by name
#
# `conditionals.register(NAME)` adds a builder `builder(units, parent_dim,
# **arch)`; the name then works in the constructor's shorthand as the built-in
# ones do (`tfhm train` takes the built-in names only). The estimators have a
# registry of the same shape, `tfhm.estimators.register`. A layer whose units
# are not independent subclasses `conditionals.Conditional` and defines
# `sample`, `log_prob` and `mean_field`.

# %%
def relu_mlp(units, parent_dim, hidden_units=(), activation="tanh", seed=None,
             dtype=None, name=None):
    """A factorized q layer with ReLU hidden layers, whatever `activation` says."""
    if parent_dim is None:
        raise ValueError("relu_mlp is a conditional layer, not a prior")
    layers = [keras.Input((parent_dim,))]
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden_units or (64,)]
    return conditionals.KerasBernoulli(
        keras.Sequential(layers + [keras.layers.Dense(units)]), units=units,
        parent_dim=parent_dim, name=name)


if "relu_mlp" not in conditionals.names():   # the cell may run twice
    conditionals.register("relu_mlp")(relu_mlp)
mine = tfhm.HelmholtzMachine(64, (LATENTS,), hidden_units=(64,),
                             recognizer_conditional="relu_mlp", seed=0)
print([type(layer).__name__ for layer in mine.recognizer.conditionals],
      "registered:", ", ".join(conditionals.names()))
assert mine.recognizer_conditional == "relu_mlp"

# %% [markdown]
# ## Which to choose
#
# | layer | units given the parent | draws | what needs the factorized form |
# |---|---|---|---|
# | `sbn` | independent | all at once | works everywhere |
# | `darn` | each sees the ones before it (logit linear in them) | a loop over the units | DisARM, inpainting and per-pixel figures refuse it, by name |
# | `nade` | each sees the ones before it through a hidden layer | a loop over the units | likewise |
# | `KerasBernoulli(network)` | independent; logits from any Keras network | all at once | works everywhere |
#
# Every score-function estimator (VIMCO, NVIL, REINFORCE, REINFORCE-LOO) and both
# wake-sleep estimators train any of them; `tests/test_estimators.py` checks the
# unbiased ones against exact gradients on a DARN/NADE model as on SBN ones.
