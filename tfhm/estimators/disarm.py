"""DisARM (Dong, Mnih & Tucker 2020): antithetic gradients for Bernoulli latents, layer by layer.

For one factorized Bernoulli layer with logits a and a function f, draw
u ~ Uniform(0, 1) per unit and the antithetic pair

  b = 1[1 - u < sigmoid(a)],   b~ = 1[u < sigmoid(a)]

(each marginally Bernoulli(sigmoid(a)); both drawn exactly, for every
logit, by `tfhm.layers.sample_bernoulli_logits`, b with `antithetic=True`).
Then, per unit i,

  g_i = 1/2 (f(b) - f(b~)) (-1)^(b~_i) 1[b_i != b~_i] sigmoid(|a_i|)

is an unbiased estimate of d E[f(b)] / d a_i (their eq. 6), which
Rao-Blackwellizes ARM (Yin & Zhou 2019) and costs two evaluations of f.

Deep recognizers, as in the paper's multi-layer experiments (Section 6.2,
following Yin & Zhou 2019): the gradient of the ELBO with respect to layer
l's weights is the DisARM estimate for layer l's logits given the draw
z_(l-1) of the layers below, with `f(b) = log p(x, z) - log q(z | x)`
evaluated on a completion z_(l+1..L) ~ q of each member of the pair (the
two completions share their uniforms, common random numbers, which keeps
each one's distribution and so the unbiasedness). Layer l's logits depend
on layer l's weights only, so the per-layer estimates add up to the full
gradient; the direct term `E_q[grad (-log q)] = 0` is left out.

K = 2P counts evaluations of f per layer: P independent antithetic pairs
(default P = 1: two evaluations, as a 2-sample REINFORCE leave-one-out).
With L latent layers a step evaluates 2PL completed draws (plus the P base
draws the upper layers' pairs condition on): at equal K, L times the
evaluations of REINFORCE leave-one-out (the price of layer-wise
estimates, as in Dong et al. 2020 and Yin & Zhou 2019).
The generator's loss is the ELBO's sample on the 2P draws of the bottom
layer's pairs (each draw is marginally z ~ q(z | x)): its gradient is the
exact gradient of the ELBO given those draws.

#### References

[1]: Dong, Z., Mnih, A. & Tucker, G. DisARM: an antithetic gradient
     estimator for binary latent variables. NeurIPS (2020).
     arXiv:2006.10680.
[2]: Yin, M. & Zhou, M. ARM: augment-REINFORCE-merge gradient for
     stochastic binary networks. ICLR (2019).
"""

from __future__ import annotations

import tensorflow as tf

from tfhm import _seeds
from tfhm.conditionals.base import require_factorized
from tfhm.estimators.base import Estimate, Estimator, register, weights_logs
from tfhm.layers import sample_bernoulli_logits

__all__ = ["DisARM", "disarm_factor"]


def disarm_factor(b: tf.Tensor, b_tilde: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """`(-1)^(b~) 1[b != b~] sigmoid(|logits|)`, elementwise, float32."""
    differ = tf.abs(b - b_tilde)  # 1 where the pair disagrees
    sign = 1.0 - 2.0 * b_tilde
    return differ * sign * tf.sigmoid(tf.abs(logits))


def _complete(recognizer, pair, start, seeds):
    """Draws layers `start..L-1` of q above both members of a pair.

    Args:
      recognizer: a `tfhm.Recognizer`.
      pair: float32 0/1 `[2, P, batch, d_(start-1)]`, the pair's layer.
      start: index of the first layer to draw.
      seeds: int32 `[L, 2]`; layer m's draws of both members use the uniforms
        of seed m (common random numbers).

    Returns:
      A list of float32 0/1 `[2, P, batch, d_m]`, layers start..L-1.
    """
    latents, below = [], pair
    for m in range(start, len(recognizer.conditionals)):
        logits = recognizer.conditionals[m].compute_logits(below)
        below = tf.stack([sample_bernoulli_logits(member, seeds[m])
                          for member in tf.unstack(logits, num=2)])
        latents.append(below)
    return latents


@register
class DisARM(Estimator):
    """DisARM: antithetic, unbiased ELBO gradients for binary latents; K = 2P even.

    Reproducibility: seeded fits reproduce bitwise with `jit_compile=True`.
    Without XLA, two seeded fits on a busy CPU were seen to differ in their
    last bits (oneDNN's kernels; not with `TF_ENABLE_ONEDNN_OPTS=0`), a
    known open defect.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3, 2), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3, 2), seed=0)
    out = estimators.get("disarm")()(gen, rec, tf.ones([4, 6]), num_samples=2,
                                     seed=tf.constant([0, 1]))
    ```

    #### References

    [1]: Dong, Z., Mnih, A. & Tucker, G. DisARM: an antithetic gradient
         estimator for binary latent variables. NeurIPS (2020).
    """

    name = "disarm"

    def check_networks(self, generator, recognizer) -> None:
        for conditional in recognizer.conditionals:
            require_factorized(
                conditional, "DisARM (its antithetic pair of uniforms per unit)",
                "Use a score-function estimator ('reweighted_wake_sleep', 'vimco', "
                "'reinforce_loo', 'nvil', 'reinforce' or 'wake_sleep'), which work "
                "with any conditional.")

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        self.check_networks(generator, recognizer)
        num_layers = len(recognizer.conditionals)
        pairs = num_samples // 2
        base_seed, *layer_seeds = tf.unstack(_seeds.split(seed, num_layers + 1))
        base = [z for _, _, z, _ in recognizer.sample_layers(x, pairs, base_seed)]
        surrogate_q = 0.0
        for l in range(num_layers):
            signal, logits, log_p, log_q = self._layer(
                generator, recognizer, x, base[:l], l, pairs, layer_seeds[l])
            # [P, batch, d_l] -> [batch]: sum over units, mean over pairs.
            surrogate_q += tf.reduce_mean(
                tf.reduce_sum(tf.stop_gradient(signal) * logits, axis=-1), axis=0)
            if l == 0:
                # The bottom pair's 2P draws, [2P, batch]: the generator's ELBO.
                log_p0 = tf.reshape(log_p, [-1, tf.shape(x)[0]])
                log_q0 = tf.reshape(log_q, [-1, tf.shape(x)[0]])
        return Estimate(reduce(-tf.reduce_mean(log_p0, axis=0)),
                        reduce(-surrogate_q),
                        weights_logs(log_p0 - log_q0, reduce))

    @staticmethod
    def _layer(generator, recognizer, x, prefix, l, pairs, seed):
        """Layer l's DisARM signal and its pair's densities.

        Args:
          prefix: the base draws of layers 0..l-1, float32 `[P, batch, d_m]`.
          l: the layer index; pairs: P; seed: int32 `[2]`.

        Returns:
          `(signal, logits, log_p, log_q)`: the per-unit estimate of
          d ELBO / d logits and the logits (with gradient into layer l's
          weights), both `[P, batch, d_l]`; `log p(x, z)` (with gradient into
          the generator) and `log q(z | x)` `[2, P, batch]` of the pair's two
          completed draws (member 0 is b, member 1 is b~).
        """
        batch = tf.shape(x)[0]
        below = prefix[-1] if prefix else x
        logits = recognizer.conditionals[l].compute_logits(below)
        logits = tf.broadcast_to(
            logits, [pairs, batch, recognizer.latent_dims[l]])  # [P, batch, d_l]
        seeds = tf.unstack(_seeds.split(seed, len(recognizer.conditionals)))
        # The pair shares u: b = 1[1 - u < sigmoid(a)], b~ = 1[u < sigmoid(a)].
        b = sample_bernoulli_logits(logits, seeds[l], antithetic=True)
        b_tilde = sample_bernoulli_logits(logits, seeds[l])
        pair = tf.stack([b, b_tilde])  # [2, P, batch, d_l]
        latents = ([tf.broadcast_to(z, tf.concat([[2], tf.shape(z)], 0))
                    for z in prefix]
                   + [pair] + _complete(recognizer, pair, l + 1, seeds))
        log_p = generator.log_prob(x, latents)  # [2, P, batch]
        log_q = tf.stop_gradient(recognizer.log_prob(x, latents))
        f = tf.stop_gradient(log_p) - log_q  # [2, P, batch]
        signal = 0.5 * (f[0] - f[1])[..., tf.newaxis] * disarm_factor(
            b, b_tilde, tf.stop_gradient(logits))
        return signal, logits, log_p, log_q
