"""The two networks of a Helmholtz machine: generator p(x, z) and recognizer q(z | x).

Layers are numbered from the data up: `latent_dims = (d_1, ..., d_L)`, z_1
next to the data, z_L at the top with the learnable prior (Dayan et al. 1995,
eq. 1).

  generator:   p(x, z) = p(z_L) p(z_(L-1) | z_L) ... p(z_1 | z_2) p(x | z_1)
  recognizer:  q(z | x) = q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_(L-1))

Both are importable from `tfhm.model` too (where they lived up to 0.1.0); the
Keras registered names (`tfhm>Generator`, `tfhm>Recognizer`) are unchanged, so
saved `.keras` files load.

#### References

[1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
     machine. Neural Computation 7(5), 889-904 (1995).
[2]: Neal, R. M. Connectionist learning of belief networks. Artificial
     Intelligence 56, 71-113 (1992). (The sigmoid belief network.)
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfhm import _checks, _seeds
from tfhm.layers import (
    BernoulliPrior,
    DenseBernoulli,
    bernoulli_log_prob,
    sample_bernoulli,
)

__all__ = ["Generator", "Recognizer"]


def architecture_config(data_dim: int, latent_dims, hidden_units=(),
                        activation: str = "tanh", seed: int | None = None) -> dict:
    """Checks the architecture arguments shared by the networks and the model.

    Returns:
      A dict `data_dim`, `latent_dims`, `hidden_units`, `activation`, `seed`
      (sizes as ints and tuples of ints).

    Raises:
      ValueError: a bad size, an unknown activation, or a seed that is not
        None or an int in [0, 2**31).
    """
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(
            "`activation` must name a Keras activation such as 'tanh'. "
            f"Received: activation={activation!r}") from None
    if seed is not None:
        _seeds.initializer_seeds(seed, 1)  # type check
        if seed > _checks.INT32_MAX:
            # The sampling seeds are int32: larger seeds would collide.
            raise ValueError(
                f"`seed` must be an int in [0, 2**31) or None. Received: "
                f"seed={seed!r}")
    return {
        "data_dim": _checks.positive_int("data_dim", data_dim),
        "latent_dims": _checks.int_tuple("latent_dims", latent_dims,
                                         allow_empty=False),
        "hidden_units": _checks.int_tuple("hidden_units", hidden_units,
                                          allow_empty=True),
        "activation": activation,
        "seed": seed,
    }


class Architecture:
    """Mixin: the architecture attributes and `get_config` of a tfhm model.

    `Generator`, `Recognizer` and `HelmholtzMachine` take the same five
    arguments; this is where they are checked, stored and serialized.
    """

    def _set_architecture(self, data_dim, latent_dims, hidden_units,
                          activation, seed) -> dict:
        arch = architecture_config(data_dim, latent_dims, hidden_units,
                                   activation, seed)
        for key, value in arch.items():
            setattr(self, key, value)
        return arch

    def get_config(self) -> dict:
        return {"name": self.name, "data_dim": self.data_dim,
                "latent_dims": self.latent_dims,
                "hidden_units": self.hidden_units,
                "activation": self.activation, "seed": self.seed,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy)}


class _Network(Architecture, keras.Model):
    """Shared constructor of the generator and the recognizer."""

    def __init__(self, data_dim: int, latent_dims, hidden_units=(),
                 activation: str = "tanh", seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self._set_architecture(data_dim, latent_dims, hidden_units, activation,
                               seed)

    def _dense_bernoulli(self, units, input_dim, seed, name):
        layer = DenseBernoulli(units, hidden_units=self.hidden_units,
                               activation=self.activation, seed=seed,
                               dtype=self.dtype_policy, name=name)
        layer.build((None, input_dim))
        return layer

    def _mark_built(self, input_dim):
        # What Keras' build() records: `summary()` then shows output shapes.
        self._build_shapes_dict = {"input_shape": (None, input_dim)}
        self.built = True


@keras.saving.register_keras_serializable(package="tfhm")
class Generator(_Network):
    """The generative model `p(x, z)`, a deep sigmoid belief network.

    `prior` is the learnable `BernoulliPrior` of the top layer;
    `conditionals[l]` is `p(layer l-1 | z_l)` for l = 1..L (layer 0 is x), each
    a `DenseBernoulli` with `hidden_units` deterministic hidden layers.

    Args:
      data_dim: D, the number of binary observed units.
      latent_dims: (d_1, ..., d_L), latent layer sizes, bottom to top.
      hidden_units: deterministic hidden layers inside every conditional.
      activation: activation of those hidden layers.
      seed: int or None, seeds the initial weights.

    Call args:
      inputs: float32 `[batch, d_1]` latents next to the data.

    Returns (call):
      float32 `[batch, data_dim]` Bernoulli means `p(x = 1 | z_1)`.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    gen = tfhm.Generator(data_dim=64, latent_dims=(16,), seed=0)
    out = gen.sample(10, seed=tf.constant([0, 1]))
    assert out["x"].shape == (10, 64)
    log_p = gen.log_prob(out["x"], out["z"])  # [10] nats
    ```
    """

    def __init__(self, data_dim: int, latent_dims, hidden_units=(),
                 activation: str = "tanh", seed: int | None = None, **kwargs):
        super().__init__(data_dim, latent_dims, hidden_units, activation, seed,
                         **kwargs)
        below = (self.data_dim,) + self.latent_dims[:-1]
        seeds = _seeds.network_initializer_seeds(seed, "generator",
                                                 len(self.latent_dims))
        self.prior = BernoulliPrior(self.latent_dims[-1], dtype=self.dtype_policy,
                                    name="prior")
        self.conditionals = [
            self._dense_bernoulli(below[l], self.latent_dims[l], seeds[l],
                                  name=f"p_{'x' if l == 0 else f'z{l}'}_given_z{l + 1}")
            for l in range(len(self.latent_dims))]
        self._mark_built(self.latent_dims[0])

    def log_prob(self, x: tf.Tensor, latents: list) -> tf.Tensor:
        """`log p(x, z)` in nats.

        Args:
          x: float32 `[..., batch, data_dim]` (broadcasts against latents).
          latents: list of float32 `[..., batch, d_l]`, bottom to top.

        Returns:
          float32 `[..., batch]`.
        """
        return (self.log_prob_latents(latents)
                + bernoulli_log_prob(self.conditionals[0](latents[0]), x))

    def log_prob_latents(self, latents: list) -> tf.Tensor:
        """`log p(z)` of the latent layers alone, float32 `[...]`."""
        log_p = bernoulli_log_prob(self.prior(latents[-1]), latents[-1])
        for l in range(1, len(self.latent_dims)):
            log_p += bernoulli_log_prob(self.conditionals[l](latents[l]),
                                        latents[l - 1])
        return log_p

    def sample(self, num_samples, seed: tf.Tensor) -> dict:
        """Ancestral sampling ("dreams"): z_L ~ p(z_L), ..., x ~ p(x | z_1).

        Args:
          num_samples: scalar int, how many joint samples.
          seed: int32 `[2]` stateless seed.

        Returns:
          A dict: `x` float32 0/1 `[n, data_dim]`, `x_probs` float32
          `[n, data_dim]` (`p(x = 1 | z_1)`), `z` a list of float32 0/1
          `[n, d_l]`, bottom to top.
        """
        seeds = tf.unstack(_seeds.split(seed, len(self.latent_dims) + 1))
        shape_like = tf.zeros(tf.stack([num_samples, 0]))
        latents = [sample_bernoulli(self.prior(shape_like), seeds[-1])]
        for l in reversed(range(len(self.latent_dims))):
            dist = self.conditionals[l](latents[0])
            latents.insert(0, sample_bernoulli(dist, seeds[l]))
        return {"x": latents[0],
                "x_probs": tf.sigmoid(dist.distribution.logits),
                "z": latents[1:]}

    def call(self, inputs):
        return tf.sigmoid(self.conditionals[0].compute_logits(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.data_dim,)


@keras.saving.register_keras_serializable(package="tfhm")
class Recognizer(_Network):
    """The recognition model `q(z | x)`, bottom-up (Dayan et al. 1995, eq. 4).

    `conditionals[l]` is `q(z_(l+1) | layer l)` (layer 0 is x).

    Args: as `Generator`.

    Call args:
      inputs: float32 `[batch, data_dim]`.

    Returns (call):
      A list of float32 `[batch, d_l]`, bottom to top: the Bernoulli means of
      a deterministic (mean-field) bottom-up pass, each layer fed the means of
      the layer below. For one latent layer this is exactly `q(z_1 = 1 | x)`.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm
    x, _ = tfhm.datasets.load_digits()
    rec = tfhm.Recognizer(data_dim=64, latent_dims=(16,), seed=0)
    latents, log_q = rec.sample(x[:8], num_samples=5, seed=tf.constant([0, 1]))
    assert latents[0].shape == (5, 8, 16) and log_q.shape == (5, 8)
    ```
    """

    def __init__(self, data_dim: int, latent_dims, hidden_units=(),
                 activation: str = "tanh", seed: int | None = None, **kwargs):
        super().__init__(data_dim, latent_dims, hidden_units, activation, seed,
                         **kwargs)
        below = (self.data_dim,) + self.latent_dims[:-1]
        seeds = _seeds.network_initializer_seeds(seed, "recognizer",
                                                 len(self.latent_dims))
        self.conditionals = [
            self._dense_bernoulli(self.latent_dims[l], below[l], seeds[l],
                                  name=f"q_z{l + 1}_given_{'x' if l == 0 else f'z{l}'}")
            for l in range(len(self.latent_dims))]
        self._mark_built(self.data_dim)

    def sample_layers(self, x: tf.Tensor, num_samples, seed: tf.Tensor) -> list:
        """Ancestral draw from q, layer by layer, with each layer's distribution.

        Args:
          x: float32 `[batch, data_dim]`.
          num_samples: K, a Python int or scalar int tensor.
          seed: int32 `[2]` stateless seed.

        Returns:
          A list, bottom to top, of `(distribution, z)`: the factorized
          Bernoulli `q(z_l | layer below)` (batch shape `[batch]` for l = 1,
          `[K, batch]` above) and its float32 0/1 sample `[K, batch, d_l]`.
        """
        seeds = tf.unstack(_seeds.split(seed, len(self.latent_dims)))
        below, layers = x, []
        for l, conditional in enumerate(self.conditionals):
            dist = conditional(below)
            below = sample_bernoulli(dist, seeds[l],
                                     sample_shape=(num_samples,) if l == 0 else ())
            layers.append((dist, below))
        return layers

    def sample(self, x: tf.Tensor, num_samples, seed: tf.Tensor) -> tuple:
        """Draws K latents per example from q and their log-density.

        Args:
          x: float32 `[batch, data_dim]`.
          num_samples: K, a Python int or scalar int tensor.
          seed: int32 `[2]` stateless seed.

        Returns:
          `(latents, log_q)`: latents a list of float32 0/1 `[K, batch, d_l]`
          (bottom to top) and `log_q` float32 `[K, batch]`.
        """
        latents, log_q = [], 0.0
        for dist, z in self.sample_layers(x, num_samples, seed):
            log_q += bernoulli_log_prob(dist, z)
            latents.append(z)
        return latents, log_q

    def log_prob(self, x: tf.Tensor, latents: list) -> tf.Tensor:
        """`log q(z | x)` in nats, float32 `[..., batch]`."""
        below = [x] + list(latents[:-1])
        log_q = 0.0
        for conditional, y, z in zip(self.conditionals, below, latents):
            log_q += bernoulli_log_prob(conditional(y), z)
        return log_q

    def call(self, inputs):
        means, below = [], inputs
        for conditional in self.conditionals:
            below = tf.sigmoid(conditional.compute_logits(below))
            means.append(below)
        return means

    def compute_output_shape(self, input_shape):
        batch = tuple(input_shape)[:-1]
        return [batch + (d,) for d in self.latent_dims]
