"""NVIL (Mnih & Gregor 2014): the single-sample ELBO with a learned, normalized baseline.

For each draw z ~ q(z | x), with `l = log p(x, z) - log q(z | x)`:

  signal = (l - C(x) - c) / max(1, sqrt(v))
  grad_q = signal * grad log q(z | x)
  grad_C = signal * grad C(x)                  (the baseline learns l - c)
  grad_p = grad log p(x, z)                    (exact, given the draw)

`C(x)` is the input-dependent baseline network (one hidden layer of 100 tanh
units, Mnih & Gregor 2014, Section 5.1), `c` and `v` running averages (decay
alpha = 0.8, their Algorithm 1) of the batch mean and variance of
`l - C(x)`. With K > 1 the estimate is the mean of K such single-draw
estimates.

Unbiasedness: `C(x)`, `c` and `v` do not depend on the draw, so
`E[signal grad log q] = grad ELBO / max(1, sqrt(v))`: an unbiased estimate of
the ELBO's gradient scaled by a known positive factor (exactly unbiased while
v <= 1, e.g. at the start). For this, the step uses the statistics from
BEFORE its own batch, then updates them (the paper updates first, which
makes the signal depend on its own draw through c). The direct term
`E_q[grad (-log q)] = 0` is left out, as in the paper.

The baseline network and the running statistics are training-only state
(`NVILState`, a Keras layer): `checkpoint_items` hands them to the Trainer's
checkpoint; they are not part of the model or its export.

#### References

[1]: Mnih, A. & Gregor, K. Neural variational inference and learning in
     belief networks. ICML (2014), Algorithm 1. arXiv:1402.0030.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfhm import _checks, _seeds
from tfhm.estimators.base import Estimate, Estimator, draw, register, weights_logs
from tfhm.estimators.registry import unit_interval

__all__ = ["NVIL", "NVILState", "SEED_OFFSET"]

# The baseline's initializer seeds are the model seed's + 2: the generator
# and the recognizer take + 0 and + 1 (`tfhm._seeds.NETWORKS`), so the three
# never start from correlated weights.
SEED_OFFSET = 2


class NVILState(keras.layers.Layer):
    """NVIL's training-only state: the baseline network C(x) and `c`, `v`.

    Args:
      hidden_units: hidden layers (tanh) of C(x); default `(100,)`, the
        paper's.
      seed: int or None, the model's seed: seeds C's initial weights, apart
        from the networks' (offset `SEED_OFFSET`).

    Call args:
      inputs: float32 `[batch, data_dim]`.

    Returns (call):
      float32 `[batch]`, the baseline C(x).
    """

    def __init__(self, hidden_units=(100,), seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = _checks.int_tuple("hidden_units", hidden_units,
                                              allow_empty=True)
        seeds = _seeds.initializer_seeds(
            None if seed is None else seed + SEED_OFFSET, len(self.hidden_units) + 1)
        self.hidden = [
            keras.layers.Dense(n, activation="tanh", name=f"hidden_{i}",
                               kernel_initializer=keras.initializers.GlorotUniform(s))
            for i, (n, s) in enumerate(zip(self.hidden_units, seeds))]
        self.out = keras.layers.Dense(
            1, name="baseline", kernel_initializer=keras.initializers.GlorotUniform(
                seeds[-1]))
        # c and v of Algorithm 1: v = 1 starts with no rescaling. Under
        # tf.distribute the replicas' updates are averaged.
        self.signal_mean = self.add_weight(shape=(), initializer="zeros",
                                           trainable=False, name="signal_mean",
                                           aggregation="mean")
        self.signal_var = self.add_weight(shape=(), initializer="ones",
                                          trainable=False, name="signal_var",
                                          aggregation="mean")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = shape[:-1] + (layer.units,)
        self.out.build(shape)

    def call(self, inputs):
        hidden = inputs
        for layer in self.hidden:
            hidden = layer(hidden)
        # float32 like every log-density (the layers may compute in
        # bfloat16/float16 under a mixed dtype policy).
        return tf.squeeze(tf.cast(self.out(hidden), tf.float32), axis=-1)


@register
class NVIL(Estimator):
    """NVIL: REINFORCE for the ELBO with a learned input-dependent baseline.

    Args:
      hidden_units: hidden layers of the baseline network C(x); default
        `(100,)` (Mnih & Gregor 2014, Section 5.1).
      decay: alpha of the running mean and variance of the learning signal;
        default 0.8 (their Algorithm 1).

    Call `build(data_dim, seed)` once, eagerly, before the first estimate.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    from tfhm import estimators
    gen = tfhm.Generator(data_dim=6, latent_dims=(3,), seed=0)
    rec = tfhm.Recognizer(data_dim=6, latent_dims=(3,), seed=0)
    nvil = estimators.get("nvil")(hidden_units=(8,))
    nvil.build(data_dim=6, seed=0)
    out = nvil(gen, rec, tf.ones([4, 6]), num_samples=1, seed=tf.constant([0, 1]))
    assert len(nvil.trainable_variables) == 4  # C(x): two kernels, two biases
    ```

    #### References

    [1]: Mnih, A. & Gregor, K. Neural variational inference and learning
         in belief networks. ICML (2014).
    """

    name = "nvil"

    def __init__(self, hidden_units=(100,), decay: float = 0.8):
        self.hidden_units = _checks.int_tuple("hidden_units", hidden_units,
                                              allow_empty=True)
        self.decay = unit_interval("decay", decay)
        self.state = None

    def build(self, data_dim: int, seed: int | None = None) -> None:
        if self.state is None:
            self.state = NVILState(self.hidden_units, seed=seed, name="nvil_state")
            self.state.build((None, _checks.positive_int("data_dim", data_dim)))

    @property
    def trainable_variables(self) -> list:
        return [] if self.state is None else list(self.state.trainable_variables)

    @property
    def checkpoint_items(self) -> dict:
        return {} if self.state is None else {"nvil_state": self.state}

    def get_config(self) -> dict:
        return {"hidden_units": self.hidden_units, "decay": self.decay}

    def estimate(self, generator, recognizer, x, num_samples, seed, reduce,
                 update_state) -> Estimate:
        if self.state is None:
            raise ValueError("NVIL needs its baseline network: call "
                             "build(data_dim, seed) once before estimating.")
        log_p, log_q, _ = draw(generator, recognizer, x, num_samples, seed)
        l = tf.stop_gradient(log_p - log_q)  # [K, batch]
        baseline = self.state(x)  # [batch]
        centred = l - tf.stop_gradient(baseline)  # [K, batch]
        mean = tf.identity(self.state.signal_mean)  # read before the update
        scale = tf.maximum(1.0, tf.sqrt(tf.identity(self.state.signal_var)))
        signal = (centred - mean) / scale  # [K, batch]
        if update_state:
            self._update_statistics(centred)
        surrogate_q = tf.reduce_mean(signal * log_q, axis=0)
        surrogate_c = tf.reduce_mean(signal, axis=0) * baseline
        logs = weights_logs(l, reduce)
        logs["baseline"] = reduce(tf.stop_gradient(baseline))
        return Estimate(reduce(-tf.reduce_mean(log_p, axis=0)),
                        reduce(-(surrogate_q + surrogate_c)), logs)

    def _update_statistics(self, centred):
        batch_mean = tf.reduce_mean(centred)
        batch_var = tf.math.reduce_variance(centred)
        a = self.decay
        self.state.signal_mean.assign(a * self.state.signal_mean + (1 - a) * batch_mean)
        self.state.signal_var.assign(a * self.state.signal_var + (1 - a) * batch_var)
