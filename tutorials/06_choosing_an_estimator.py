# ---
# jupyter:
#   colab:
#     name: 06_choosing_an_estimator.ipynb
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
# # 6. Choosing an estimator
#
# `compile(algorithm=NAME)` picks how a Helmholtz machine's gradients are
# estimated. tfhm ships seven estimators (`tfhm.estimators.names()`); they differ
# in **what they climb** and in **how noisy** their steps are. This notebook
#
# * says what each one optimizes: the VLB (eq. 10), the K-sample bound, or no
#   objective at all (wake-sleep's biased updates), with the papers;
# * measures the variance and signal-to-noise ratio of the recognizer's gradient
#   against K for every estimator, with `tfhm.diagnostics.gradient_variance`;
# * trains every estimator on the digits for the same wall-clock budget and
#   compares their learning curves in exact log-likelihoods;
# * ends with a recommendation table.
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

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from tfhm import estimators

keras.utils.set_random_seed(0)
tf.get_logger().setLevel("ERROR")   # keep TensorFlow's notes out of the outputs
print("estimators:", ", ".join(estimators.names()))

# %% [markdown]
# ## What each estimator climbs
#
# With K draws `z_k ~ q(z | x)` and weights `w_k = p(x, z_k) / q(z_k | x)`:
#
# * the **VLB** (eq. 10), `L_1 = E_q[log p(x, z) - log q(z | x)]`, below `log p(x)` by
#   `KL[q || p(z | x)]` (eq. 8);
# * the **K-sample bound** of Burda, Grosse & Salakhutdinov (2016),
#   `L_K = E[log (1/K) sum_k w_k]`, with `L_1 <= L_K <= L_(K+1) <= log p(x)`: a tighter
#   bound, on which the recognizer's gradient carries less and less information as K
#   grows (Rainforth et al. 2018);
# * **no objective**: wake-sleep's sleep phase fits `q` to the model's own dreams,
#   `KL[p(z | x) || q]` under `x ~ p`, not to the data (notebook 3), and reweighted
#   wake-sleep's self-normalized weights make its steps biased for any finite K.
#
# In every estimator the generator's step is the exact gradient of its objective
# given the draws; the estimators differ in the recognizer's step, where z is
# discrete and cannot be differentiated through: all but the wake-sleep pair use
# the score function `grad log q(z | x)` (REINFORCE, Williams 1992), with
# different control variates.
#
# | `algorithm=` | objective (unbiased for) | recognizer's step | K here | paper |
# |---|---|---|---|---|
# | `wake_sleep` | none (biased) | sleep phase: `-log q(z | x)` on dreams | 1 | Hinton, Dayan, Frey & Neal 1995 |
# | `reweighted_wake_sleep` | none (biased) | wake (weighted draws of data) + sleep, `insomnia` 0.5 | K | Bornschein & Bengio 2015 |
# | `vimco` | K-sample bound | score function, leave-one-out control variate per draw | K | Mnih & Rezende 2016 |
# | `reinforce` | K-sample bound (VLB at K = 1) | score function, no control variate | 1 | Williams 1992 |
# | `nvil` | VLB (step scaled by `1/max(1, sd)`) | score function, learned baseline `C(x)` + running normalization | 1 | Mnih & Gregor 2014 |
# | `reinforce_loo` | VLB | score function, leave-one-out baseline of the other K - 1 draws | K | Kool, van Hoof & Welling 2019 |
# | `disarm` | VLB | antithetic pairs of draws, layer by layer | K = 2 per pair | Dong, Mnih & Tucker 2020 |
#
# "K here": the learning curves below give the multi-sample estimators the same K
# and the single-sample ones K = 1. The registry says the same:

# %%
TABLE = {  # the objective column above, as tfhm.estimators' registry spells it
    "wake_sleep": "none", "reweighted_wake_sleep": "none", "vimco": "bound",
    "reinforce": "bound", "nvil": "elbo", "reinforce_loo": "elbo", "disarm": "elbo"}
for name in estimators.names():
    spec = estimators.spec(name)
    print(f"{name:22s} objective {spec.objective:6s} default K {spec.default_num_samples}"
          f"{'' if spec.min_num_samples == 1 else f', K >= {spec.min_num_samples}'}"
          f"{', K even' if spec.even_num_samples else ''}")
assert {name: estimators.spec(name).objective for name in estimators.names()} == TABLE

# %% [markdown]
# ## How noisy is the recognizer's step?
#
# An unbiased estimator can still be useless if its noise swamps its signal. For
# one batch x and the current weights, `tfhm.diagnostics.gradient_variance(hm, x,
# NAME, num_samples=K, num_seeds=N)` draws N independent gradient estimates (each
# what one training step with one seed would use) and reports, per network,
#
# * `variance`: the sum over the weights of the estimates' variance
#   (`E ||g - E g||^2`, the trace of their covariance);
# * `snr`: the mean over the weights of `|E g_i| / sd(g_i)` (Rainforth et al. 2018).
#
# The model: a one-layer sigmoid belief net on the digits (64 pixels, 8 latent
# units), trained 10 epochs with reweighted wake-sleep, so the weights are those of a
# model in training rather than random ones; x is 20 test digits. Every estimator
# is evaluated at the same weights and K in 2, 8 (and 4, 16 in full mode).
#
# Two caveats. NVIL's baseline network learns during training; a fresh NVIL has an
# untrained one, so its row shows the variance NVIL *starts* with. And from N
# estimates a weight whose true gradient is zero still shows `|mean| / sd` of about
# `sqrt(2 / (pi N))` (0.04 for N = 400): SNRs near that floor mean "no signal
# measured".

# %%
x_digits, x_digits_test = tfhm.datasets.load_digits()
small = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
small.compile(wake_optimizer=keras.optimizers.Adam(6e-3),
              sleep_optimizer=keras.optimizers.Adam(6e-3), algorithm="reweighted_wake_sleep")
small.fit(x_digits, batch_size=100, epochs=10, verbose=0)
x_batch = x_digits_test[:20]

KS = (2, 8) if FAST else (2, 4, 8, 16)
NUM_SEEDS = 400 if FAST else 4000
variance, snr = {}, {}
start = time.perf_counter()
for name in estimators.names():
    for k in KS:
        stats = tfhm.diagnostics.gradient_variance(small, x_batch, name, num_samples=k,
                                                   num_seeds=NUM_SEEDS, seed=1)["recognizer"]
        variance[name, k], snr[name, k] = stats["variance"], stats["snr"]
print(f"{len(variance)} x {NUM_SEEDS} gradient estimates in {time.perf_counter() - start:.0f} s\n")
print(f"{'recognizer':22s}" + "".join(f"   variance K={k:<3d}" for k in KS)
      + "".join(f"  SNR K={k:<3d}" for k in KS))
for name in estimators.names():
    print(f"{name:22s}" + "".join(f"{variance[name, k]:17.4g}" for k in KS)
          + "".join(f"{snr[name, k]:10.3f}" for k in KS))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name in estimators.names():
    axes[0].loglog(KS, [variance[name, k] for k in KS], "o-", label=name)
    axes[1].semilogx(KS, [snr[name, k] for k in KS], "o-", label=name)
axes[1].axhline(np.sqrt(2 / (np.pi * NUM_SEEDS)), color="k", lw=0.8, ls=":",
                label="SNR floor of N estimates")
axes[0].set_ylabel("variance of the recognizer's gradient")
axes[1].set_ylabel("SNR of the recognizer's gradient")
for ax in axes:
    ax.set_xlabel("K")
    ax.set_xticks(KS)
    ax.set_xticklabels(KS)
axes[1].legend(fontsize=7, loc="upper left")
plt.tight_layout()

# %% [markdown]
# What the numbers say (the cell below asserts each statement):
#
# 1. **A control variate is worth orders of magnitude.** Plain REINFORCE and VIMCO
#    estimate the gradient of the same objective, the K-sample bound; VIMCO's
#    leave-one-out control variates cut the variance by more than 100 times at every K
#    (Mnih & Rezende 2016). REINFORCE's variance even *grows* with K: its learning
#    signal `log (1/K) sum_k w_k` multiplies the sum of K score functions.
# 2. **DisARM beats REINFORCE leave-one-out at K = 2** (one antithetic pair against two
#    independent draws, the comparison of Dong, Mnih & Tucker 2020), on the same
#    objective, the VLB, by more than 10%. With more draws, averaging the pairs does
#    not keep that advantage: at K = 8 DisARM's variance is the higher of the two
#    (by less than a factor of 2).
# 3. **More draws help the VLB's estimators**: REINFORCE leave-one-out's variance
#    falls about as 1/K (by more than half from K = 2 to K = 8), and its SNR rises.
# 4. **More draws do not help VIMCO's recognizer**: its SNR *falls* as K grows, the
#    effect Rainforth et al. (2018) named "tighter variational bounds are not
#    necessarily better": the gradient of `L_K` with respect to q shrinks faster than
#    its noise (here by more than 15% from K = 2 to K = 8). It shows on a model in
#    training, whose q is close to the posterior; at random weights it does not.
# 5. **Wake-sleep's recognizer step does not depend on K**: it learns from dreams
#    only, so K changes the generator's step and nothing else (its variance is the
#    same at every K, up to float rounding).
# 6. **NVIL needs its baseline trained.** A fresh NVIL's baseline network knows
#    nothing yet: its variance is more than 100 times REINFORCE leave-one-out's at
#    every K. During training the baseline learns the learning signal and the
#    variance falls (the learning curves below).

# %%
lo, hi = KS[0], 8
for k in KS:
    assert variance["vimco", k] < 0.01 * variance["reinforce", k]                     # 1
assert variance["reinforce", hi] > variance["reinforce", lo]                          # 1
assert variance["disarm", 2] < 0.9 * variance["reinforce_loo", 2]                     # 2
assert 1.0 < variance["disarm", hi] / variance["reinforce_loo", hi] < 2                # 2
assert variance["reinforce_loo", hi] < 0.5 * variance["reinforce_loo", lo]            # 3
assert snr["reinforce_loo", hi] > snr["reinforce_loo", lo]                            # 3
assert snr["vimco", hi] < 0.85 * snr["vimco", lo]                                     # 4
assert np.ptp([variance["wake_sleep", k] for k in KS]) < 1e-4 * variance["wake_sleep", 2]  # 5
for k in KS:
    assert variance["nvil", k] > 100 * variance["reinforce_loo", k]                   # 6
print(f"variance of VIMCO / REINFORCE at K = {lo}: "
      f"{variance['vimco', lo] / variance['reinforce', lo]:.1e}; DisARM / RLOO at K = 2: "
      f"{variance['disarm', 2] / variance['reinforce_loo', 2]:.2f}, at K = {hi}: "
      f"{variance['disarm', hi] / variance['reinforce_loo', hi]:.2f}")

# %% [markdown]
# ## Learning curves at an equal wall-clock budget
#
# Variance per step is half the story: the estimators also differ in the cost of a
# step (K draws, DisARM's pairs per layer, NVIL's baseline network). So we give every
# estimator the same seconds of training and compare what it reaches, on the main
# job's model (`tfhm train` on the digits: 64 pixels, a hidden layer of 64 tanh units
# in each network, 16 latent bits; Adam at 6e-3 for both networks, batch 100). With
# 16 latent bits the exact `log p(x)` of the 360 test digits sums 65,536 states: no
# estimate, no bound.
#
# The machine may be busy with other work, so the estimators take turns: the budget
# is cut into rounds, and each round gives every estimator the same slice of
# seconds; a load spike hits them all alike. Only training steps are timed (the
# exact evaluations after each slice are not); each step function is traced and run
# once before its clock starts. `benchmarks/estimators_digits.py` runs the same
# comparison with 3 seeds, a validation split for early stopping and a longer budget
# (`benchmarks/RESULTS.md`, section `estimators_digits`).

# %%
K = 4                                        # the multi-sample estimators' K
BUDGET = 1.2 if FAST else 8.0                # training seconds per estimator
ROUNDS = 3 if FAST else 8


class Contender:
    """One estimator's model, its compiled step, its data order and its clock."""

    def __init__(self, name, seed=0):
        k = 1 if estimators.spec(name).default_num_samples == 1 else K
        self.hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16,), hidden_units=(64,),
                                        seed=seed)
        self.hm.compile(wake_optimizer=keras.optimizers.Adam(6e-3),
                        sleep_optimizer=keras.optimizers.Adam(6e-3),
                        algorithm=name, num_samples=k)
        self.name, self.k, self.rng = name, k, np.random.default_rng(seed)
        self.step = tf.function(self.hm.train_step,
                                input_signature=[tf.TensorSpec([None, 64], tf.float32)])
        self.batches, self.seconds, self.examples = [], 0.0, 0
        self.step(x_digits[:100])            # trace and warm up, off the clock (one step)
        self.curve = [(0.0, 0.0, untrained)]  # seed 0: the same initial weights for all

    def test_log_px(self):
        return float(np.mean(self.hm.exact_log_likelihood(x_digits_test)))

    def train_for(self, seconds):
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            if not self.batches:             # a new epoch, in a new order
                self.batches = np.array_split(self.rng.permutation(len(x_digits)), 15)
            x = x_digits[self.batches.pop()]
            self.step(x)
            self.examples += len(x)
        self.seconds += time.perf_counter() - start
        self.curve.append((self.seconds, self.examples / len(x_digits), self.test_log_px()))


fresh = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16,), hidden_units=(64,), seed=0)
untrained = float(np.mean(fresh.exact_log_likelihood(x_digits_test)))
contenders = [Contender(name) for name in estimators.names()]
start = time.perf_counter()
for r in range(ROUNDS):
    shift = r % len(contenders)
    for c in contenders[shift:] + contenders[:shift]:     # a rotating order
        c.train_for(BUDGET / ROUNDS)
print(f"{ROUNDS} rounds of {BUDGET / ROUNDS:.2f} s per estimator: "
      f"{time.perf_counter() - start:.0f} s of wall time\n")
final = {c.name: c.curve[-1][2] for c in contenders}
print(f"{'estimator':22s} K  epochs  examples/s  test log p(x), exact")
for c in sorted(contenders, key=lambda c: -final[c.name]):
    print(f"{c.name:22s} {c.k}  {c.curve[-1][1]:6.0f}  {c.examples / c.seconds:10.0f}"
          f"  {final[c.name]:8.2f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for c in contenders:
    seconds, epochs, log_px = zip(*c.curve)
    axes[0].plot(seconds, log_px, "o-", ms=3, label=f"{c.name} (K={c.k})")
    axes[1].plot(epochs, log_px, "o-", ms=3)
axes[0].set_xlabel("training seconds")
axes[1].set_xlabel("epochs")
axes[0].set_ylabel("test log p(x), exact (nats)")
axes[0].set_ylim(max(-30, min(min(v for *_, v in c.curve[1:]) for c in contenders)) - 0.5,
                 max(final.values()) + 0.5)
axes[0].legend(fontsize=7)
plt.tight_layout()

# %% [markdown]
# Reading the curves (asserted below, on this run's numbers):
#
# * every estimator learns: each ends more than 15 nats above the untrained model
#   (for scale, a fair coin per pixel scores 64 log(1/2) = -44.4 nats);
# * VIMCO ends ahead of plain REINFORCE: the same kind of score-function step,
#   with and without leave-one-out control variates (and K = 4 draws against one);
# * the steps differ in cost: the examples/s column (and the right panel, the same
#   runs against epochs) shows what each estimator's seconds bought.
#
# With one seed and a budget of seconds the other differences are within the noise
# of the run: a burst of load during one estimator's slices costs it epochs.
# `benchmarks/estimators_digits.py` measures them with three seeds and a longer
# budget; there the estimators reach the main job's log-likelihood within seconds
# and then overfit the 1,437 training digits, so it also stops early on a
# validation split.

# %%
assert all(value > untrained + 15 for value in final.values())
assert final["vimco"] > final["reinforce"]
print(f"untrained {untrained:.2f} nats; VIMCO {final['vimco']:.2f}, "
      f"REINFORCE {final['reinforce']:.2f} nats after {BUDGET:g} s each")

# %% [markdown]
# ## Which one to use
#
# | you want | use | why |
# |---|---|---|
# | a good model of binary data, no tuning | `reweighted_wake_sleep` (K = 5, tfhm's default) | low-variance steps for both networks, among the best of the benchmark's three seeds; biased, so it climbs no bound (Bornschein & Bengio 2015) |
# | to maximize a bound on `log p(x)` | `vimco` | unbiased for the K-sample bound, tighter than the VLB, with a recognizer variance orders of magnitude below REINFORCE's; its recognizer's SNR falls as K grows, so keep K moderate (Mnih & Rezende 2016; Rainforth et al. 2018) |
# | the VLB itself, unbiased | `disarm` (K = 2) or `reinforce_loo` (K >= 4) | at K = 2 DisARM's variance is the lower; with more draws REINFORCE leave-one-out's is, and it is simpler (Dong et al. 2020; Kool et al. 2019) |
# | one draw per step | `nvil` | a learned baseline makes the single-sample VLB gradient usable once it has trained (a fresh one, point 6 above, is far noisier than a leave-one-out baseline) (Mnih & Gregor 2014) |
# | the classic algorithm | `wake_sleep` | no score function at all, a cheap step; but the sleep phase follows another objective (notebook 3) |
# | a reference | `reinforce` | what every control variate above improves on; not for training |
#
# Every estimator is one argument away: `hm.compile(..., algorithm="vimco",
# num_samples=5)`, `tfhm.Trainer(hm, TrainConfig(algorithm="vimco"))` or `tfhm
# train --algorithm vimco`; `TrainConfig(gradient_variance_seeds=N)` logs the variance and
# SNR above every epoch (TensorBoard too).
#
# **References.** Hinton, Dayan, Frey & Neal, The "wake-sleep" algorithm for
# unsupervised neural networks, Science (1995). Williams, Simple statistical
# gradient-following algorithms for connectionist reinforcement learning, Machine
# Learning (1992). Mnih & Gregor, Neural variational inference and learning in belief
# networks, ICML (2014). Bornschein & Bengio, Reweighted wake-sleep, ICLR (2015).
# Burda, Grosse & Salakhutdinov, Importance weighted autoencoders, ICLR (2016). Mnih &
# Rezende, Variational inference for Monte Carlo objectives, ICML (2016). Rainforth,
# Kosiorek, Le, Maddison, Igl, Wood & Teh, Tighter variational bounds are not
# necessarily better, ICML (2018). Kool, van Hoof & Welling, Buy 4 REINFORCE samples,
# get a baseline for free!, ICLR workshop (2019). Dong, Mnih & Tucker, DisARM: an
# antithetic gradient estimator for binary latent variables, NeurIPS (2020).
