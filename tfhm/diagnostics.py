"""Per-epoch diagnostics: importance weights, per-layer KL and entropy, active units.

For K draws `z_k ~ q(z | x)` of a model with latent layers z_1 .. z_L
(z_0 = x, z_(L+1) absent):

- ELBO and importance-sampled log-likelihood (Burda et al. 2016) from the
  log-weights `log w_k = log p(x, z_k) - log q(z_k | x)`, and Kish's
  effective sample size `1 / sum_k w~_k^2` of the per-example normalized
  weights (between 1 and K; near 1 means one draw dominates).
- Per-layer KL: `KL_l = E_q[log q(z_l | z_(l-1)) - log p(z_l | z_(l+1))]`
  (p's top layer is the prior), so that exactly
  `ELBO = E_q[log p(x | z_1)] - sum_l KL_l`.
- Per-layer entropy of q: `H_l = E_q[sum_units h(q(z_lu = 1 | z_(l-1)))]`,
  `h(p) = -p log p - (1 - p) log(1 - p)`, computed from the logits given
  the sampled parents (no Monte Carlo over z_l itself).
- Active units (Burda et al. 2016, Section 5.2): unit u of layer l is active
  when `Var_x(E_q[z_lu | x]) > 0.01`; `E_q[z_lu | x]` is the mean over the K
  draws of `q(z_lu = 1 | z_(l-1))`, exact for the first layer. Collapsed
  units (posterior = prior for every x) have zero variance.
- Gradient variance and signal-to-noise ratio of the model's estimator at
  the current weights: `gradient_variance`, defined in
  `tfhm.estimators.variance` and re-exported here.

#### References

[1]: Burda, Y., Grosse, R. & Salakhutdinov, R. Importance weighted
     autoencoders. ICLR (2016).
[2]: Kish, L. Survey Sampling. Wiley (1965). (The effective sample size.)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfhm import _graph, _seeds, evaluation
from tfhm.estimators.variance import gradient_variance

__all__ = [
    "ACTIVE_UNIT_THRESHOLD",
    "binary_entropy_from_logits",
    "gradient_variance",
    "importance_summary",
    "latent_diagnostics",
]

# Burda et al. (2016), Section 5.2: a unit is active if Cov_x(E_q[u]) > 1e-2.
ACTIVE_UNIT_THRESHOLD = 1e-2


def binary_entropy_from_logits(logits: tf.Tensor) -> tf.Tensor:
    """`h(sigmoid(l)) = softplus(-|l|) + |l| sigmoid(-|l|)` in nats, elementwise.

    (Equal to `softplus(l) - sigmoid(l) * l`, written without its
    cancellation for large |l|.)
    """
    magnitude = tf.abs(logits)
    return tf.math.softplus(-magnitude) + magnitude * tf.sigmoid(-magnitude)


def importance_summary(model, x, num_samples: int, seed=None,
                       rows_per_chunk: int | None = None) -> dict:
    """ELBO, importance-sampled log-likelihood and ESS per example.

    All three come from the same K draws per example: this is
    `tfhm.evaluation.importance_sampled` (the one importance-sampling path),
    so for the same seed it gives the numbers of `hm.log_likelihood`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: `[n, data_dim]` of zeros and ones.
      num_samples: K, draws of q per example.
      seed: None, an int, or an int32 `[2]` stateless seed; block j of the
        examples uses `fold_in(seed, j)`.
      rows_per_chunk: examples per block; default `evaluation.block_rows`
        (the one memory budget).

    Returns:
      A dict of float32 NumPy arrays `[n]`: `elbo`, `log_likelihood`, `ess`.
    """
    return evaluation.importance_sampled(model, x, num_samples, seed,
                                         rows_per_block=rows_per_chunk)


@_graph.function(reduce_retracing=True)
def _layer_terms(generator, recognizer, x, num_samples, seed):
    """Per-sample, per-layer terms; see `latent_diagnostics`.

    A factorized layer of q gives its exact entropy and means given its
    parent; any other layer the Monte Carlo entropy `-log q(z_l | parent)` of
    the draw and the draw's values as its means.
    """
    num_layers = len(recognizer.conditionals)
    layers = recognizer.sample_layers(x, num_samples, seed)
    latents = [z for _, _, z, _ in layers]
    log_q = [layer_log_q for _, _, _, layer_log_q in layers]  # [K, batch]
    entropy, means = [], []
    for l, (conditional, parent, z, layer_log_q) in enumerate(layers):
        if conditional.factorized:
            logits = conditional.compute_logits(parent)  # [batch, d] or [K, batch, d]
            entropy.append(tf.reduce_sum(binary_entropy_from_logits(logits), -1))
            probs = tf.sigmoid(logits)
        else:
            entropy.append(-layer_log_q)  # [K, batch]
            probs = z
        entropy[-1] = (entropy[-1] if l == 0 and conditional.factorized
                       else tf.reduce_mean(entropy[-1], axis=0))  # [batch]
        means.append(probs if l == 0 and conditional.factorized
                     else tf.reduce_mean(probs, axis=0))
    log_p = [generator.conditionals[l + 1].log_prob(latents[l + 1], latents[l])
             for l in range(num_layers - 1)]
    log_p.append(generator.prior.log_prob(None, latents[-1]))
    kl = [tf.reduce_mean(q - p, axis=0) for q, p in zip(log_q, log_p)]  # [batch]
    reconstruction = tf.reduce_mean(
        generator.conditionals[0].log_prob(latents[0], x), axis=0)  # [batch]
    return kl, entropy, means, reconstruction


def exact_layers(model) -> list:
    """Which of `latent_diagnostics`' per-layer entropies are exact given the parent.

    Returns:
      A list of bools, bottom to top: True where q's layer is factorized
      (its entropy and means given the parent are closed-form), False where
      they are Monte Carlo estimates from the draws.
    """
    return [c.factorized for c in model.recognizer.conditionals]


def latent_diagnostics(model, x, num_samples: int, seed: tf.Tensor,
                       rows_per_chunk: int | None = None) -> dict:
    """Per-layer KL and entropy of q, and the number of active latent units.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: float32 `[n, data_dim]` of zeros and ones (n >= 2 for the variance).
      num_samples: K, draws of q per example.
      seed: int32 `[2]` stateless seed.
      rows_per_chunk: examples per call; default `evaluation.block_rows`
        (the one memory budget).

    Returns:
      A dict of NumPy arrays, one entry per latent layer (bottom to top):
      `kl` float `[L]` and `entropy` float `[L]` (nats, means over the
      examples), `active_units` int `[L]`, `unit_variance` a list of float
      `[d_l]` (`Var_x(E_q[z_lu | x])`), and `reconstruction` the scalar
      `E_q[log p(x | z_1)]` (so `reconstruction - sum(kl)` is the ELBO);
      `exact` a list of bools (`exact_layers`): False where a layer of q is
      not factorized and its entropy and unit means are Monte Carlo.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    rows = rows_per_chunk or evaluation.block_rows(model, num_samples)
    num_layers = len(model.latent_dims)
    kl = [[] for _ in range(num_layers)]
    entropy = [[] for _ in range(num_layers)]
    means = [[] for _ in range(num_layers)]
    recon = []
    for i, start in enumerate(range(0, int(x.shape[0]), rows)):
        chunk = _layer_terms(model.generator, model.recognizer,
                             x[start:start + rows], num_samples,
                             _seeds.block(seed, i))
        for l in range(num_layers):
            kl[l].append(chunk[0][l].numpy())
            entropy[l].append(chunk[1][l].numpy())
            means[l].append(chunk[2][l].numpy())
        recon.append(chunk[3].numpy())
    variance = [np.concatenate(m).astype(np.float64).var(axis=0) for m in means]
    return {
        "kl": np.array([np.concatenate(k).mean() for k in kl]),
        "entropy": np.array([np.concatenate(e).mean() for e in entropy]),
        "active_units": np.array(
            [int((v > ACTIVE_UNIT_THRESHOLD).sum()) for v in variance]),
        "unit_variance": variance,
        "reconstruction": float(np.concatenate(recon).mean()),
        "exact": exact_layers(model),
    }
