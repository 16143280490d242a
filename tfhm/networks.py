"""The two networks of a Helmholtz machine: generator p(x, z) and recognizer q(z | x).

Layers are numbered from the data up: `latent_dims = (d_1, ..., d_L)`, z_1
next to the data, z_L at the top with the learnable prior (Dayan et al. 1995,
eq. 1).

  generator:   p(x, z) = p(z_L) p(z_(L-1) | z_L) ... p(z_1 | z_2) p(x | z_1)
  recognizer:  q(z | x) = q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_(L-1))

Every factor is a conditional of `tfhm.conditionals` (the protocol of
`tfhm.conditionals.base`): the networks sample and score through its
`sample`, `log_prob` and `mean_field` alone, so any conditional (the
factorized "sbn" layer, the autoregressive "darn" and "nade", a
`KerasBernoulli` around any Keras network) serves in either network. A
network is built from sizes and a registered name (`conditional="darn"`),
or from layers (`Generator(prior=..., conditionals=[...])`).

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

from tfhm import _checks, _seeds, conditionals
from tfhm.conditionals.base import Conditional

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


def _check_layers(kind, layers, prior=None):
    """Checks that explicit conditionals chain: each one's units and parent width."""
    for l, layer in enumerate(layers):
        if not isinstance(layer, Conditional):
            raise TypeError(
                f"Every layer of a {kind} must be a tfhm.conditionals.Conditional "
                f"(e.g. tfhm.layers.DenseBernoulli, tfhm.conditionals.DARN, "
                f"tfhm.conditionals.KerasBernoulli). Received at position {l}: "
                f"{layer!r}")
    if prior is not None and (not isinstance(prior, Conditional) or not prior.is_prior):
        raise TypeError(
            "`prior` must be a tfhm.conditionals.Conditional without a parent "
            f"(parent_dim=None), e.g. tfhm.layers.BernoulliPrior. Received: {prior!r}")


class _Network(Architecture, keras.Model):
    """Shared constructor of the generator and the recognizer."""

    _kind = ""

    def _setup(self, data_dim, latent_dims, hidden_units, activation, seed,
               conditional, layers):
        if layers is None:
            if data_dim is None or latent_dims is None:
                raise ValueError(
                    f"A {self._kind} needs `data_dim` and `latent_dims`, or its "
                    f"layers. Received: data_dim={data_dim!r}, "
                    f"latent_dims={latent_dims!r}")
            self._set_architecture(data_dim, latent_dims, hidden_units, activation, seed)
            self.conditional = self._check_conditional(conditional)
            return None
        self.conditional = None  # built from layers
        return layers

    # What a per-layer `conditional` lists, in order, for each kind of network.
    _LAYER_ORDER = {"generator": "p(x | z_1), p(z_1 | z_2), ..., p(z_(L-1) | z_L), "
                                 "then the prior p(z_L)",
                    "recognizer": "q(z_1 | x), q(z_2 | z_1), ..., q(z_L | z_(L-1))"}

    def _check_conditional(self, conditional):
        """One registered name for every layer, or a tuple of one name a layer."""
        if isinstance(conditional, str):
            conditionals.get(conditional)  # an unknown name is refused here
            return conditional
        expected = len(self.latent_dims) + (self._kind == "generator")
        if (not isinstance(conditional, (list, tuple)) or len(conditional) != expected
                or not all(isinstance(name, str) for name in conditional)):
            raise ValueError(
                f"`conditional` of a {self._kind} is a name of "
                f"tfhm.conditionals.names(), or {expected} names, one a layer for "
                f"latent_dims={self.latent_dims}: {self._LAYER_ORDER[self._kind]}. "
                f"Received: conditional={conditional!r}")
        for name in conditional:
            conditionals.get(name)
        return tuple(conditional)

    def _make(self, index, units, parent_dim, seed, name):
        """Layer `index` of the order in `_LAYER_ORDER`, of its registered kind."""
        kind = (self.conditional if isinstance(self.conditional, str)
                else self.conditional[index])
        return conditionals.make(kind, units, parent_dim,
                                 hidden_units=self.hidden_units,
                                 activation=self.activation, seed=seed,
                                 dtype=self.dtype_policy, name=name)

    def _mark_built(self, input_dim):
        # What Keras' build() records: `summary()` then shows output shapes.
        self._build_shapes_dict = {"input_shape": (None, input_dim)}
        self.built = True

    def get_config(self) -> dict:
        config = super().get_config()
        if self.conditional is not None:
            config["conditional"] = self.conditional  # a tuple is a list in JSON
        else:
            config.update(self._layers_config())
        return config

    @classmethod
    def from_config(cls, config):
        config = _from_layers_config(config, ("prior", "conditionals"))
        if "conditionals" in config:  # built from layers: the sizes follow from them
            for key in ("data_dim", "latent_dims", "hidden_units", "activation", "seed"):
                config.pop(key, None)
        return cls(**config)


def _from_layers_config(config, keys):
    config = dict(config)
    for key in keys:
        value = config.get(key)
        if isinstance(value, list):
            config[key] = [keras.saving.deserialize_keras_object(v) for v in value]
        elif isinstance(value, dict):
            config[key] = keras.saving.deserialize_keras_object(value)
    return config


@keras.saving.register_keras_serializable(package="tfhm")
class Generator(_Network):
    """The generative model `p(x, z)`: a prior over z_L and one conditional a layer.

    `prior` is `p(z_L)`; `conditionals[l]` is `p(layer l-1 | z_l)` for
    l = 1..L (layer 0 is x). Built from sizes, every conditional is the
    registered `conditional` (default "sbn", the deep sigmoid belief net:
    a learnable `BernoulliPrior` and `DenseBernoulli` layers with
    `hidden_units` deterministic hidden layers; "darn" and "nade" make the
    prior of that kind too).

    Args:
      data_dim: D, the number of binary observed units.
      latent_dims: (d_1, ..., d_L), latent layer sizes, bottom to top.
      hidden_units: deterministic hidden layers from each layer's parent
        into it.
      activation: activation of those hidden layers.
      seed: int or None, seeds the initial weights.
      conditional: a name of `tfhm.conditionals.names()` for every layer, or
        a tuple of L + 1 names, one a layer: `p(x | z_1)`, ...,
        `p(z_(L-1) | z_L)`, then the prior (e.g. `("darn", "sbn", "sbn")`: an
        autoregressive layer over the pixels under SBN layers).
      prior, conditionals: instead of the sizes, the layers themselves: a
        prior (a conditional with `parent_dim=None`) and the list
        `[p(x | z_1), p(z_1 | z_2), ..., p(z_(L-1) | z_L)]`; the sizes are
        read from them.

    Call args:
      inputs: float32 `[batch, d_1]` latents next to the data.

    Returns (call):
      float32 `[batch, data_dim]`: `p(x = 1 | z_1)` (`mean_field` of the
      bottom conditional: the exact means of a factorized layer).

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

    _kind = "generator"

    def __init__(self, data_dim: int | None = None, latent_dims=None, hidden_units=(),
                 activation: str = "tanh", seed: int | None = None,
                 conditional: str | tuple = "sbn", prior=None, conditionals=None, **kwargs):
        super().__init__(**kwargs)
        layers = self._setup(data_dim, latent_dims, hidden_units, activation, seed,
                             conditional, conditionals)
        if layers is None:
            below = (self.data_dim,) + self.latent_dims[:-1]
            num = len(self.latent_dims)
            seeds = _seeds.network_initializer_seeds(seed, "generator", num + 1)
            self.prior = self._make(num, self.latent_dims[-1], None, seeds[num], "prior")
            self.conditionals = [
                self._make(l, below[l], self.latent_dims[l], seeds[l],
                           f"p_{'x' if l == 0 else f'z{l}'}_given_z{l + 1}")
                for l in range(num)]
        else:
            if prior is None or not layers:
                raise ValueError("A generator built from layers needs `prior` and a "
                                 f"non-empty `conditionals`. Received: prior={prior!r}, "
                                 f"conditionals={layers!r}")
            _check_layers("generator", layers, prior)
            latent_dims = [layer.parent_dim for layer in layers]
            self._set_architecture(layers[0].units, latent_dims, (), "tanh", None)
            for l, layer in enumerate(layers[1:], start=1):
                if layer.units != self.latent_dims[l - 1]:
                    raise ValueError(
                        f"Generator layer {l} ({layer.name}) draws {layer.units} units "
                        f"but the layer below it takes a parent of "
                        f"{self.latent_dims[l - 1]}.")
            if prior.units != self.latent_dims[-1]:
                raise ValueError(
                    f"The prior ({prior.name}) draws {prior.units} units but the top "
                    f"conditional takes a parent of {self.latent_dims[-1]}.")
            self.prior, self.conditionals = prior, list(layers)
        self._mark_built(self.latent_dims[0])

    def _layers_config(self):
        return {"prior": keras.saving.serialize_keras_object(self.prior),
                "conditionals": [keras.saving.serialize_keras_object(c)
                                 for c in self.conditionals]}

    @property
    def factorized(self) -> bool:
        """True where every layer, the prior included, is factorized."""
        return all(c.factorized for c in [self.prior, *self.conditionals])

    def log_prob(self, x: tf.Tensor, latents: list) -> tf.Tensor:
        """`log p(x, z)` in nats.

        Args:
          x: float32 `[..., batch, data_dim]` (broadcasts against latents).
          latents: list of float32 `[..., batch, d_l]`, bottom to top.

        Returns:
          float32 `[..., batch]`.
        """
        return (self.log_prob_latents(latents)
                + self.conditionals[0].log_prob(latents[0], x))

    def log_prob_latents(self, latents: list) -> tf.Tensor:
        """`log p(z)` of the latent layers alone, float32 `[...]`."""
        log_p = self.prior.log_prob(None, latents[-1])
        for l in range(1, len(self.latent_dims)):
            log_p += self.conditionals[l].log_prob(latents[l], latents[l - 1])
        return log_p

    def sample(self, num_samples, seed: tf.Tensor) -> dict:
        """Ancestral sampling ("dreams"): z_L ~ p(z_L), ..., x ~ p(x | z_1).

        Args:
          num_samples: scalar int, how many joint samples.
          seed: int32 `[2]` stateless seed; layer l (0 is x) draws with seed
            l of `split(seed, L + 1)`, the prior with the last.

        Returns:
          A dict: `x` float32 0/1 `[n, data_dim]`, `x_probs` float32
          `[n, data_dim]` (`mean_field` of p(x | z_1): the exact means
          `p(x = 1 | z_1)` of a factorized layer), `z` a list of float32 0/1
          `[n, d_l]`, bottom to top.
        """
        seeds = tf.unstack(_seeds.split(seed, len(self.latent_dims) + 1))
        latents = [self.prior.sample(None, seeds[-1], sample_shape=(num_samples,))]
        for l in reversed(range(len(self.latent_dims))):
            latents.insert(0, self.conditionals[l].sample(latents[0], seeds[l]))
        return {"x": latents[0],
                "x_probs": self.conditionals[0].mean_field(latents[1]),
                "z": latents[1:]}

    def decode(self, latents: list) -> dict:
        """Each layer's `mean_field` given the layer above it.

        Args:
          latents: list of float32 `[batch, d_l]`, bottom to top.

        Returns:
          A dict: `x_probs` `[batch, data_dim]` from z_1, and `z{l}_probs`
          `[batch, d_l]` from z_(l+1) for l = 1..L-1.
        """
        result = {"x_probs": self.conditionals[0].mean_field(latents[0])}
        for l in range(1, len(self.latent_dims)):
            result[f"z{l}_probs"] = self.conditionals[l].mean_field(latents[l])
        return result

    def call(self, inputs):
        return self.conditionals[0].mean_field(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.data_dim,)


@keras.saving.register_keras_serializable(package="tfhm")
class Recognizer(_Network):
    """The recognition model `q(z | x)`, bottom-up (Dayan et al. 1995, eq. 4).

    `conditionals[l]` is `q(z_(l+1) | layer l)` (layer 0 is x).

    Args: as `Generator`, without `prior`: `conditionals` is the list
      `[q(z_1 | x), q(z_2 | z_1), ..., q(z_L | z_(L-1))]`, and a per-layer
      `conditional` names L layers in that order.

    Call args:
      inputs: float32 `[batch, data_dim]`.

    Returns (call):
      A list of float32 `[batch, d_l]`, bottom to top: the `mean_field`
      probabilities of a deterministic bottom-up pass, each layer fed those
      of the layer below. For one factorized layer this is exactly
      `q(z_1 = 1 | x)`.

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

    _kind = "recognizer"

    def __init__(self, data_dim: int | None = None, latent_dims=None, hidden_units=(),
                 activation: str = "tanh", seed: int | None = None,
                 conditional: str | tuple = "sbn", conditionals=None, **kwargs):
        super().__init__(**kwargs)
        layers = self._setup(data_dim, latent_dims, hidden_units, activation, seed,
                             conditional, conditionals)
        if layers is None:
            below = (self.data_dim,) + self.latent_dims[:-1]
            seeds = _seeds.network_initializer_seeds(seed, "recognizer",
                                                     len(self.latent_dims))
            self.conditionals = [
                self._make(l, self.latent_dims[l], below[l], seeds[l],
                           f"q_z{l + 1}_given_{'x' if l == 0 else f'z{l}'}")
                for l in range(len(self.latent_dims))]
        else:
            if not layers:
                raise ValueError("A recognizer built from layers needs a non-empty "
                                 f"`conditionals`. Received: {layers!r}")
            _check_layers("recognizer", layers)
            self._set_architecture(layers[0].parent_dim, [c.units for c in layers], (),
                                   "tanh", None)
            for l, layer in enumerate(layers[1:], start=1):
                if layer.parent_dim != layers[l - 1].units:
                    raise ValueError(
                        f"Recognizer layer {l} ({layer.name}) takes a parent of "
                        f"{layer.parent_dim} but the layer below it draws "
                        f"{layers[l - 1].units} units.")
            self.conditionals = list(layers)
        self._mark_built(self.data_dim)

    def _layers_config(self):
        return {"conditionals": [keras.saving.serialize_keras_object(c)
                                 for c in self.conditionals]}

    @property
    def factorized(self) -> bool:
        """True where every layer is factorized."""
        return all(c.factorized for c in self.conditionals)

    def sample_layers(self, x: tf.Tensor, num_samples, seed: tf.Tensor) -> list:
        """Ancestral draw from q, layer by layer.

        Args:
          x: float32 `[batch, data_dim]`.
          num_samples: K, a Python int or scalar int tensor.
          seed: int32 `[2]` stateless seed; layer l draws with seed l of
            `split(seed, L)`.

        Returns:
          A list, bottom to top, of `(conditional, parent, z, log_q)`: the
          conditional `q(z_l | parent)`, its parent (x `[batch, data_dim]`
          for l = 1, the draw below `[K, batch, d_(l-1)]` above), the draw
          float32 0/1 `[K, batch, d_l]` and its `log q(z_l | parent)` `[K,
          batch]`.
        """
        seeds = tf.unstack(_seeds.split(seed, len(self.latent_dims)))
        below, layers = x, []
        for l, conditional in enumerate(self.conditionals):
            z, log_q = conditional.sample_with_log_prob(
                below, seeds[l], sample_shape=(num_samples,) if l == 0 else ())
            layers.append((conditional, below, z, log_q))
            below = z
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
        for _, _, z, layer_log_q in self.sample_layers(x, num_samples, seed):
            log_q += layer_log_q
            latents.append(z)
        return latents, log_q

    def log_prob(self, x: tf.Tensor, latents: list) -> tf.Tensor:
        """`log q(z | x)` in nats, float32 `[..., batch]`."""
        below = [x] + list(latents[:-1])
        log_q = 0.0
        for conditional, y, z in zip(self.conditionals, below, latents):
            log_q += conditional.log_prob(y, z)
        return log_q

    def call(self, inputs):
        means, below = [], inputs
        for conditional in self.conditionals:
            below = conditional.mean_field(below)
            means.append(below)
        return means

    def compute_output_shape(self, input_shape):
        batch = tuple(input_shape)[:-1]
        return [batch + (d,) for d in self.latent_dims]
