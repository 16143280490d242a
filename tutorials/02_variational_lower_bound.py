# ---
# jupyter:
#   colab:
#     name: 02_variational_lower_bound.ipynb
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
# # 2. The variational lower bound
#
# With a recognition model `q_x(z)` the log-likelihood splits in two (eq. 8; Neal & Hinton 1998):
#
# `log p(x) = E_{z ~ q_x}[log p(z) + log p(x | z) - log q_x(z)] + KL[q_x(z) || p(z | x)]`
#
# The first term is the variational lower bound (VLB, eqs. 9-10); the second, the
# KL divergence to the true posterior (eq. 7), is the gap, never negative. On a
# model small enough to enumerate we check eq. 8 with numbers, plot the gap, and
# watch importance sampling close it as the number of samples K grows.
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

# %% [markdown]
# ## A small model
#
# A Helmholtz machine on the 8 x 8 binarized digits with K = 12 latent bits
# (4,096 latent states, enumerable) and logistic networks (a sigmoid belief net
# and a logistic recognizer), trained briefly by wake-sleep (notebook 3).

# %%
x_train, x_test = tfhm.datasets.load_digits()
hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(12,), seed=0)
hm.compile(wake_optimizer=keras.optimizers.Adam(3e-3), sleep_optimizer=keras.optimizers.Adam(3e-3),
           algorithm="wake_sleep")
hm.fit(x_train, batch_size=100, epochs=5 if FAST else 40, verbose=0)
x = x_test[:200]

# %% [markdown]
# ## Eq. 8, term by term
#
# Three exact quantities, each a sum over all 4,096 latent states:
#
# * `log p(x)`, eq. 3 (`hm.exact_log_likelihood`);
# * the VLB, `sum_z q_x(z) [log p(x, z) - log q_x(z)]` (eq. 10), written out below;
# * `KL[q_x || p(z | x)]`, eq. 7 (`tfhm.evaluation.exact_posterior_kl`).
#
# and one estimate: the VLB by Monte Carlo, the average of `log p(x, z) - log q_x(z)`
# over S draws `z ~ q_x`, the quantity wake-sleep can compute at scale.

# %%
log_px = hm.exact_log_likelihood(x).numpy()                                          # eq. 3
kl = tfhm.evaluation.exact_posterior_kl(hm.generator, hm.recognizer, x).numpy()      # eq. 7

all_z = [z[:, None, :] for z in tfhm.evaluation.enumerate_latents(hm.latent_dims, 0, 2**12)]
log_joint = hm.generator.log_prob(x, all_z)       # [4096, 100]: log p(z) + log p(x | z)
log_q = hm.recognizer.log_prob(x, all_z)          # [4096, 100]: log q_x(z)
vlb = tf.reduce_sum(tf.exp(log_q) * (log_joint - log_q), axis=0).numpy()   # eq. 10, exact

S = 1000
log_w = tfhm.objectives.log_importance_weights(hm.generator, hm.recognizer, x, S,
                                               tf.constant([0, 0]))[0]
vlb_mc = tf.reduce_mean(log_w, axis=0).numpy()                             # eq. 10, S draws
vlb_mc_se = np.sqrt(np.sum(np.var(log_w.numpy(), axis=0) / S)) / len(x)    # std. error of the mean

print(f"mean over {len(x)} test images (nats):")
print(f"  log p(x)           {log_px.mean():9.4f}")
print(f"  VLB (exact)        {vlb.mean():9.4f}")
print(f"  VLB (S = {S})     {vlb_mc.mean():9.4f} +- {vlb_mc_se:.4f}")
print(f"  KL[q || p(z|x)]    {kl.mean():9.4f}")
print(f"  VLB + KL           {(vlb + kl).mean():9.4f}   (eq. 8: equals log p(x))")

assert np.max(np.abs(vlb + kl - log_px)) < 1e-3          # eq. 8, per image
assert np.all(kl > -1e-4) and np.all(vlb <= log_px + 1e-4)
assert abs(vlb_mc.mean() - vlb.mean()) < 4 * vlb_mc_se + 1e-3

# %% [markdown]
# ## The gap is the KL divergence
#
# For each image, the distance from the bound up to `log p(x)` is
# `KL[q_x || p(z | x)]`: small where the recognizer found the posterior, large
# where it did not.

# %%
order = np.argsort(log_px[:30])[::-1]      # the first 30 images, most likely first
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [2, 1]})
ax = axes[0]
ax.bar(np.arange(30), log_px[order] - vlb[order], bottom=vlb[order], color="tab:red",
       label="gap = KL[q || p(z|x)]")
ax.plot(np.arange(30), log_px[order], "k_", ms=10, label="log p(x), exact")
ax.plot(np.arange(30), vlb[order], "b_", ms=10, label="VLB")
ax.set_ylim(vlb[order].min() - 0.5, log_px[order].max() + 0.3)
ax.set_xlabel("test image")
ax.set_ylabel("nats")
ax.legend(loc="lower left")
ax = axes[1]
ax.plot(kl, log_px - vlb_mc, ".", alpha=0.6)
lim = [0, max(kl.max(), (log_px - vlb_mc).max()) * 1.05]
ax.plot(lim, lim, "k--", lw=0.8)
ax.set_xlabel("KL[q || p(z|x)], exact")
ax.set_ylabel("log p(x) - VLB (S draws)")
plt.tight_layout()

# %% [markdown]
# ## Importance sampling closes the gap
#
# Average the *weights* instead of the log-weights:
# `log p(x) ~ log (1/K) sum_k p(x, z_k) / q_x(z_k)`, `z_k ~ q_x`. For K = 1 this
# is a one-sample VLB; as K grows its expectation rises to `log p(x)`
# (Burda et al. 2016). `hm.log_likelihood(x, num_samples=K)` computes it in
# chunks, so large K fits in memory.

# %%
Ks = [1, 10, 100, 1000] if FAST else [1, 10, 100, 1000, 10000]
is_estimates = [hm.log_likelihood(x, num_samples=K, seed=1).numpy().mean() for K in Ks]
gaps = [log_px.mean() - e for e in is_estimates]
for K, e, g in zip(Ks, is_estimates, gaps):
    print(f"K = {K:5d}: log p(x) estimate {e:9.4f}, gap {g:.4f} nats")
print(f"The gap shrinks from {gaps[0]:.2f} nats at K = 1 (in expectation the KL, {kl.mean():.2f}) "
      f"to within {abs(gaps[-1]):.4f} nats of log p(x) at K = {Ks[-1]}.")

one_draw_se = np.sqrt(np.sum(np.var(log_w.numpy(), axis=0))) / len(x)   # std. error at K = 1
assert abs(gaps[0] - kl.mean()) < 4 * one_draw_se + 0.01  # K = 1 is the VLB: gap ~ KL
assert all(g > -0.02 for g in gaps)                       # a lower bound, up to noise
assert all(b < a + 0.02 for a, b in zip(gaps, gaps[1:]))  # never wider with more samples
assert gaps[0] > 0.1 and gaps[-1] < min(0.05, gaps[0] / 5)  # most of the gap is closed

# %%
plt.figure(figsize=(5, 3.4))
plt.semilogx(Ks, is_estimates, "o-", label="importance-sampled, K samples")
plt.axhline(log_px.mean(), color="k", label="log p(x), exact (eq. 3)")
plt.axhline(vlb.mean(), color="b", ls="--", label="VLB, exact (eq. 10)")
plt.xlabel("K")
plt.ylabel(f"mean nats over {len(x)} test images")
plt.legend();

# %% [markdown]
# Importance sampling trades compute for tightness; reweighted wake-sleep
# (notebook 3) uses the same K weighted samples to train both networks.
