"""The Helmholtz machine: generator p(x, z), recognizer q(z | x), and the model.

Layers are numbered from the data up: `latent_dims = (d_1, ..., d_L)`, z_1
next to the data, z_L at the top with the learnable prior of lesson eq. 1.

  generator:   p(x, z) = p(z_L) p(z_(L-1) | z_L) ... p(z_1 | z_2) p(x | z_1)
  recognizer:  q(z | x) = q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_(L-1))

#### References

[1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
     machine. Neural Computation 7(5), 889-904 (1995).
[2]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268 (1995).
[3]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

from tfhm import _checks, _seeds
from tfhm import evaluation
from tfhm import objectives
from tfhm.layers import (BernoulliPrior, DenseBernoulli, bernoulli_log_prob,
                         sample_bernoulli)

__all__ = ["Generator", "HelmholtzMachine", "Recognizer"]


def _architecture_config(data_dim, latent_dims, hidden_units, activation, seed):
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(
            "`activation` must name a Keras activation such as 'tanh'. "
            f"Received: activation={activation!r}") from None
    return {
        "data_dim": _checks.positive_int("data_dim", data_dim),
        "latent_dims": _checks.int_tuple("latent_dims", latent_dims,
                                         allow_empty=False),
        "hidden_units": _checks.int_tuple("hidden_units", hidden_units,
                                          allow_empty=True),
        "activation": activation,
        "seed": seed,
    }


class _Network(keras.Model):
    """Shared constructor and config of the generator and the recognizer."""

    def __init__(self, data_dim, latent_dims, hidden_units=(),
                 activation="tanh", seed=None, **kwargs):
        super().__init__(**kwargs)
        arch = _architecture_config(data_dim, latent_dims, hidden_units,
                                    activation, seed)
        self.data_dim = arch["data_dim"]
        self.latent_dims = arch["latent_dims"]
        self.hidden_units = arch["hidden_units"]
        self.activation = activation
        self.seed = seed

    def _dense_bernoulli(self, units, input_dim, seed, name):
        layer = DenseBernoulli(units, hidden_units=self.hidden_units,
                               activation=self.activation, seed=seed, name=name)
        layer.build((None, input_dim))
        return layer

    def get_config(self):
        return {"name": self.name, "data_dim": self.data_dim,
                "latent_dims": self.latent_dims,
                "hidden_units": self.hidden_units,
                "activation": self.activation, "seed": self.seed}


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
    gen = tfhm.Generator(data_dim=64, latent_dims=(16,))
    out = gen.sample(10, seed=tf.constant([0, 1]))
    out["x"].shape                          # [10, 64]
    gen.log_prob(out["x"], out["z"])        # [10] nats
    ```
    """

    def __init__(self, data_dim, latent_dims, hidden_units=(),
                 activation="tanh", seed=None, **kwargs):
        super().__init__(data_dim, latent_dims, hidden_units, activation, seed,
                         **kwargs)
        below = (self.data_dim,) + self.latent_dims[:-1]
        seeds = _seeds.initializer_seeds(seed, len(self.latent_dims))
        self.prior = BernoulliPrior(self.latent_dims[-1], name="prior")
        self.conditionals = [
            self._dense_bernoulli(below[l], self.latent_dims[l], seeds[l],
                                  name=f"p_{'x' if l == 0 else f'z{l}'}_given_z{l + 1}")
            for l in range(len(self.latent_dims))]
        self.built = True

    def log_prob(self, x, latents):
        """`log p(x, z)` in nats.

        Args:
          x: float32 `[..., batch, data_dim]` (broadcasts against latents).
          latents: list of float32 `[..., batch, d_l]`, bottom to top.

        Returns:
          float32 `[..., batch]`.
        """
        return (self.log_prob_latents(latents)
                + bernoulli_log_prob(self.conditionals[0](latents[0]), x))

    def log_prob_latents(self, latents):
        """`log p(z)` of the latent layers alone, float32 `[...]`."""
        log_p = bernoulli_log_prob(self.prior(latents[-1]), latents[-1])
        for l in range(1, len(self.latent_dims)):
            log_p += bernoulli_log_prob(self.conditionals[l](latents[l]),
                                        latents[l - 1])
        return log_p

    def sample(self, num_samples, seed):
        """Ancestral sampling ("dreams"): z_L ~ p(z_L), ..., x ~ p(x | z_1).

        Args:
          num_samples: scalar int, how many joint samples.
          seed: int32 `[2]` stateless seed.

        Returns:
          A dict: `x` float32 0/1 `[n, data_dim]`, `x_probs` float32
          `[n, data_dim]` (`p(x = 1 | z_1)`), `z` a list of float32 0/1
          `[n, d_l]`, bottom to top.
        """
        seeds = tf.unstack(objectives.split_seed(seed, len(self.latent_dims) + 1))
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


@keras.saving.register_keras_serializable(package="tfhm")
class Recognizer(_Network):
    """The recognition model `q(z | x)`, bottom-up (lesson eq. 4).

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
    rec = tfhm.Recognizer(data_dim=64, latent_dims=(16,))
    latents, log_q = rec.sample(x, num_samples=5, seed=tf.constant([0, 1]))
    latents[0].shape                         # [5, batch, 16]
    ```
    """

    def __init__(self, data_dim, latent_dims, hidden_units=(),
                 activation="tanh", seed=None, **kwargs):
        super().__init__(data_dim, latent_dims, hidden_units, activation, seed,
                         **kwargs)
        below = (self.data_dim,) + self.latent_dims[:-1]
        seeds = _seeds.initializer_seeds(None if seed is None else seed + 1,
                                     len(self.latent_dims))
        self.conditionals = [
            self._dense_bernoulli(self.latent_dims[l], below[l], seeds[l],
                                  name=f"q_z{l + 1}_given_{'x' if l == 0 else f'z{l}'}")
            for l in range(len(self.latent_dims))]
        self.built = True

    def sample_layers(self, x, num_samples, seed):
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
        seeds = tf.unstack(objectives.split_seed(seed, len(self.latent_dims)))
        below, layers = x, []
        for l, conditional in enumerate(self.conditionals):
            dist = conditional(below)
            below = sample_bernoulli(dist, seeds[l],
                                     sample_shape=(num_samples,) if l == 0 else ())
            layers.append((dist, below))
        return layers

    def sample(self, x, num_samples, seed):
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

    def log_prob(self, x, latents):
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


def _to_seed(seed, seed_generator):
    """A user seed (None, int or int tensor [2]) as an int32 [2] stateless seed."""
    if seed is None:
        return tf.cast(seed_generator.next(), tf.int32)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return tf.constant([int(seed) % 2**31, 0], dtype=tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.shape != (2,) or not seed.dtype.is_integer:
        raise ValueError(
            "`seed` must be None, an int, or an integer tensor of shape [2]. "
            f"Received: seed={seed!r}")
    values = seed.numpy().astype(object)  # exact, whatever the integer dtype
    if any(not -_checks.INT32_MAX - 1 <= v <= _checks.INT32_MAX for v in values):
        raise ValueError(
            "The values of a `seed` tensor must fit in int32 (they would wrap "
            f"around and collide). Received: seed={seed!r}")
    return tf.cast(seed, tf.int32)


@keras.saving.register_keras_serializable(package="tfhm")
class HelmholtzMachine(keras.Model):
    """A Helmholtz machine with binary latents, trained by (reweighted) wake-sleep.

    A learnable factorized Bernoulli prior over the top latent layer (lesson
    eq. 1), a deep generator `p(x | z)` whose outputs are Bernoulli logits
    (eq. 2), and a recognizer `q(z | x)` (eq. 4). `fit` runs one wake and one
    sleep phase per batch, each with its own optimizer and touching only its
    own network's weights.

    Args:
      data_dim: D, number of binary observed units.
      latent_dims: (d_1, ..., d_L) latent layer sizes from the layer next to
        the data up to the top; `(200, 200, 200)` is the "SBN 200-200-200".
      hidden_units: deterministic hidden layers inside every conditional of
        both networks; `()` (default) gives the classic sigmoid belief net.
      activation: activation of the hidden layers (default tanh).
      seed: int or None. Seeds the initial weights and the model's
        `keras.random.SeedGenerator`, so the same seed and data give the same
        weights after `fit` and the same samples.

    #### Examples

    ```python
    import keras, tfhm
    x_train, x_test = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16,), seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3),
               sleep_optimizer=keras.optimizers.Adam(1e-3),
               algorithm="reweighted_wake_sleep", num_samples=5)
    hm.fit(x_train, batch_size=100, epochs=10)
    hm.exact_log_likelihood(x_test)           # [360] nats
    ```

    #### References

    [1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
         machine. Neural Computation 7(5), 889-904 (1995).
    [2]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
         algorithm for unsupervised neural networks. Science 268 (1995).
    [3]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
    """

    def __init__(self, data_dim, latent_dims, hidden_units=(),
                 activation="tanh", seed=None, **kwargs):
        super().__init__(**kwargs)
        arch = _architecture_config(data_dim, latent_dims, hidden_units,
                                    activation, seed)
        if seed is not None:
            _seeds.initializer_seeds(seed, 1)  # type check
            if seed > _checks.INT32_MAX:
                # The sampling seeds are int32: larger seeds would collide.
                raise ValueError(
                    f"`seed` must be an int in [0, 2**31) or None. Received: "
                    f"seed={seed!r}")
        self.data_dim = arch["data_dim"]
        self.latent_dims = arch["latent_dims"]
        self.hidden_units = arch["hidden_units"]
        self.activation = activation
        self.seed = seed
        self.generator = Generator(**arch, name="generator")
        self.recognizer = Recognizer(**arch, name="recognizer")
        self.seed_generator = keras.random.SeedGenerator(
            None if seed is None else int(seed), name="seed_generator")
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("wake_loss", "sleep_loss", "elbo", "ess",
                         "log_likelihood")}
        self.algorithm = objectives.Algorithm.WAKE_SLEEP
        self.num_samples = 1
        self.recognizer_update = objectives.RecognizerUpdate.SLEEP
        self.eval_num_samples = 100
        self.built = True

    # ----------------------------------------------------------------- config
    def get_config(self):
        return {"name": self.name, "data_dim": self.data_dim,
                "latent_dims": self.latent_dims,
                "hidden_units": self.hidden_units,
                "activation": self.activation, "seed": self.seed}

    @property
    def metrics(self):
        return list(self._trackers.values())

    @property
    def num_latent_bits(self):
        """Total number of binary latent units, sum(latent_dims)."""
        return sum(self.latent_dims)

    # ---------------------------------------------------------------- compile
    def compile(self, wake_optimizer="adam", sleep_optimizer="adam",
                algorithm="wake_sleep", num_samples=None,
                recognizer_update=None, eval_num_samples=100, **kwargs):
        """Configures training (the two-optimizer pattern of Keras' GAN guide).

        Args:
          wake_optimizer: optimizer of the generator and prior (wake phase).
          sleep_optimizer: optimizer of the recognizer.
          algorithm: "wake_sleep" or "reweighted_wake_sleep" (or an
            `tfhm.Algorithm`).
          num_samples: K, draws of q per example. Default 1 for wake-sleep
            and 5 for reweighted wake-sleep (Bornschein & Bengio 2015 found
            K = 5 a good trade-off); with wake-sleep, K > 1 averages the
            generator's update over K draws.
          recognizer_update: "sleep", "wake" or "wake_sleep" (or a
            `tfhm.RecognizerUpdate`). Default "sleep" for wake-sleep (its
            only valid value) and "wake_sleep" for reweighted wake-sleep,
            the best variant in Bornschein & Bengio (2015).
          eval_num_samples: K of the importance-sampled `log_likelihood`
            reported by `evaluate` and on validation data.
          **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`,
            `steps_per_execution`); `optimizer`, `loss` and `metrics` are not
            accepted since the objectives are fixed.

        Raises:
          ValueError: unknown algorithm or recognizer update, `num_samples`
            or `eval_num_samples` < 1, a recognizer update other than
            "sleep" with wake-sleep, or a `loss`/`optimizer`/`metrics`
            argument.
        """
        for key in ("optimizer", "loss", "metrics"):
            if key in kwargs:
                raise ValueError(
                    f"HelmholtzMachine.compile does not take `{key}`: the "
                    "objectives are fixed; pass `wake_optimizer` and "
                    f"`sleep_optimizer`. Received: {key}={kwargs[key]!r}")
        algorithm = objectives.Algorithm.parse(algorithm)
        rws = algorithm == objectives.Algorithm.REWEIGHTED_WAKE_SLEEP
        num_samples = _checks.positive_int(
            "num_samples", (5 if rws else 1) if num_samples is None else num_samples)
        if recognizer_update is None:
            recognizer_update = "wake_sleep" if rws else "sleep"
        recognizer_update = objectives.RecognizerUpdate.parse(recognizer_update)
        if not rws and recognizer_update != objectives.RecognizerUpdate.SLEEP:
            raise ValueError(
                "algorithm='wake_sleep' trains the recognizer on dreams only: "
                "recognizer_update must be 'sleep' (use "
                "algorithm='reweighted_wake_sleep' for wake updates of q). "
                f"Received: recognizer_update={recognizer_update.value!r}")
        self.eval_num_samples = _checks.positive_int("eval_num_samples",
                                                     eval_num_samples)
        super().compile(**kwargs)
        self.wake_optimizer = keras.optimizers.get(wake_optimizer)
        self.sleep_optimizer = keras.optimizers.get(sleep_optimizer)
        self.wake_optimizer.build(self.generator.trainable_variables)
        self.sleep_optimizer.build(self.recognizer.trainable_variables)
        self.algorithm = algorithm
        self.num_samples = num_samples
        self.recognizer_update = recognizer_update
        self._hm_compile_config = {
            "wake_optimizer": keras.optimizers.serialize(self.wake_optimizer),
            "sleep_optimizer": keras.optimizers.serialize(self.sleep_optimizer),
            "algorithm": algorithm.value, "num_samples": num_samples,
            "recognizer_update": recognizer_update.value,
            "eval_num_samples": self.eval_num_samples}

    def get_compile_config(self):
        return getattr(self, "_hm_compile_config", None)

    def compile_from_config(self, config):
        config = dict(config)
        config["wake_optimizer"] = keras.optimizers.deserialize(
            config["wake_optimizer"])
        config["sleep_optimizer"] = keras.optimizers.deserialize(
            config["sleep_optimizer"])
        self.compile(**config)

    # ------------------------------------------------------------ train/test
    @staticmethod
    def _unpack(data):
        if isinstance(data, (tuple, list)):
            data = data[0]
        return data

    def _prepare(self, x):
        x = self._unpack(x)
        _checks.static_data_dim(x, self.data_dim)
        return tf.cast(x, tf.float32)

    def train_step(self, data):
        x = self._prepare(data)
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        generator_grads, recognizer_grads, logs = objectives.compute_gradients(
            self.generator, self.recognizer, x, seed, self.algorithm,
            self.num_samples, self.recognizer_update)
        self.wake_optimizer.apply_gradients(
            zip(generator_grads, self.generator.trainable_variables))
        self.sleep_optimizer.apply_gradients(
            zip(recognizer_grads, self.recognizer.trainable_variables))
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in logs}

    def test_step(self, data):
        x = self._prepare(data)
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        log_w = objectives.log_importance_weights(
            self.generator, self.recognizer, x, self.eval_num_samples, seed)[0]
        self._trackers["elbo"].update_state(tf.reduce_mean(log_w, axis=0))
        self._trackers["log_likelihood"].update_state(
            evaluation.log_mean_exp(log_w, axis=0))
        return {name: self._trackers[name].result()
                for name in ("elbo", "log_likelihood")}

    def call(self, inputs):
        """Single-sample ELBO per example, float32 `[batch]` (used by predict)."""
        x = self._prepare(inputs)
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        return objectives.log_importance_weights(
            self.generator, self.recognizer, x, 1, seed)[0][0]

    def _check_data(self, x, name="x"):
        """Checks in-memory data (arrays, tensors, lists, `(x,)` tuples).

        Streams (`tf.data.Dataset`, `keras.utils.PyDataset`, generators) are
        checked only for their static last dimension, at trace time.
        """
        if isinstance(x, tuple) and len(x) in (1, 2):
            x = x[0]
        if isinstance(x, (np.ndarray, tf.Tensor, tf.Variable, list)):
            _checks.binary_data(x, self.data_dim, name)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit`, after checking arrays of data (0/1, shape)."""
        if x is not None:
            self._check_data(x, "x")
        if validation_data is not None:
            self._check_data(validation_data, "validation_data")
        return super().fit(x, y, *args, validation_data=validation_data,
                           **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.evaluate`; returns `elbo` and `log_likelihood` (nats).

        `log_likelihood` is importance-sampled with `eval_num_samples` (set in
        `compile`; 100 by default) draws per example.
        """
        if x is not None:
            self._check_data(x, "x")
        return super().evaluate(x, y, *args, **kwargs)

    # ----------------------------------------------------------- densities
    def _reduce_log_weights(self, x, num_samples, seed, reduction):
        x = _checks.binary_data(x, self.data_dim)
        num_samples = _checks.positive_int("num_samples", num_samples,
                                           upper=_checks.INT32_MAX)
        return evaluation.chunked_log_weight_reduction(
            self, x, num_samples, _to_seed(seed, self.seed_generator),
            reduction=reduction)

    def elbo(self, x, num_samples=1, seed=None):
        """The variational lower bound per example (lesson eqs. 9-10).

        `ELBO(x) = E_q[log p(x, z) - log q(z | x)]`, estimated by the mean over
        `num_samples` draws of q.

        Args:
          x: `[batch, data_dim]` of 0/1 values (bool, int or float).
          num_samples: draws of q per example.
          seed: None, an int, or an int tensor `[2]`.

        Returns:
          float32 `[batch]`, nats.
        """
        return self._reduce_log_weights(x, num_samples, seed, "mean")

    def log_likelihood(self, x, num_samples=1000, seed=None):
        """Importance-sampled `log p(x) ~ log mean_k p(x, z_k) / q(z_k | x)`.

        A stochastic lower bound whose expectation rises with `num_samples`
        to `log p(x)` (Burda et al. 2016); computed with log-sum-exp in chunks
        of the K draws, so K = 5000 on 100 MNIST images fits in a few GB.

        Args:
          x: `[batch, data_dim]` of 0/1 values.
          num_samples: K, draws of q per example.
          seed: None, an int, or an int tensor `[2]`.

        Returns:
          float32 `[batch]`, nats.
        """
        return self._reduce_log_weights(x, num_samples, seed, "log_mean_exp")

    def exact_log_likelihood(self, x):
        """`log p(x) = log sum_z p(x | z) p(z)` by enumeration (lesson eq. 3).

        Sums over all `2**sum(latent_dims)` latent states in chunks; feasible
        up to `tfhm.evaluation.MAX_EXACT_LATENT_BITS` (24) bits.

        Args:
          x: `[batch, data_dim]` of 0/1 values.

        Returns:
          float32 `[batch]`, nats.

        Raises:
          ValueError: more latent bits than the limit (use `log_likelihood`).
        """
        evaluation.check_enumerable(self.latent_dims)
        x = _checks.binary_data(x, self.data_dim)
        return evaluation.exact_log_likelihood(self.generator, x)

    def sample(self, num_samples, seed=None):
        """Draws from the generative model.

        Args:
          num_samples: how many samples, a positive int.
          seed: None, an int, or an int tensor `[2]`; the same seed gives the
            same samples.

        Returns:
          A dict: `x` float32 0/1 `[n, data_dim]`, `x_probs` `[n, data_dim]`,
          `z` a list (one per latent layer, bottom to top) of float32 0/1
          `[n, d_l]`.
        """
        num_samples = _checks.positive_int("num_samples", num_samples,
                                           upper=_checks.INT32_MAX)
        return self.generator.sample(num_samples,
                                     _to_seed(seed, self.seed_generator))
