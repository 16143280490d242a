"""The Helmholtz machine: a generator p(x, z) and a recognizer q(z | x) in one Keras model.

The networks live in `tfhm.networks` (also importable from here, where they
lived up to 0.1.0). `HelmholtzMachine` trains them with Keras' `fit` by
(reweighted) wake-sleep and estimates log-likelihoods.

#### References

[1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
     machine. Neural Computation 7(5), 889-904 (1995).
[2]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268 (1995).
[3]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfhm import _checks, _graph, _model_data, _seeds, evaluation, inpainting, objectives
from tfhm._keras_loops import EVAL_LOG_NAMES, KerasLoops
from tfhm._optimizers import LinkedOptimizers, phase_optimizers
from tfhm.algorithms import Algorithm, RecognizerUpdate
from tfhm.estimators import step as estimator_step
from tfhm.networks import Architecture, Generator, Recognizer

__all__ = ["Generator", "HelmholtzMachine", "Recognizer"]

def _check_networks(generator, recognizer, data_dim, latent_dims) -> None:
    """Checks the full form: a Generator and a Recognizer of the same sizes."""
    if not isinstance(generator, Generator) or not isinstance(recognizer, Recognizer):
        raise TypeError(
            "`generator` must be a tfhm.Generator and `recognizer` a "
            f"tfhm.Recognizer. Received: {type(generator).__name__}, "
            f"{type(recognizer).__name__}")
    if (generator.data_dim, generator.latent_dims) != (recognizer.data_dim,
                                                       recognizer.latent_dims):
        raise ValueError(
            "The generator and the recognizer must have the same data_dim and "
            f"latent_dims. Received: generator ({generator.data_dim}, "
            f"{generator.latent_dims}), recognizer ({recognizer.data_dim}, "
            f"{recognizer.latent_dims})")
    for name, value, theirs in (("data_dim", data_dim, generator.data_dim),
                                ("latent_dims", latent_dims, generator.latent_dims)):
        if value is not None and tuple(np.atleast_1d(value)) != tuple(
                np.atleast_1d(theirs)):
            raise ValueError(
                f"`{name}` disagrees with the networks' ({theirs}); leave it out "
                f"with the full form. Received: {name}={value!r}")


@keras.saving.register_keras_serializable(package="tfhm")
class HelmholtzMachine(KerasLoops, Architecture, keras.Model):
    """A Helmholtz machine with binary latents, trained by (reweighted) wake-sleep.

    A learnable factorized Bernoulli prior over the top latent layer, a deep
    generator `p(x | z)` whose outputs are Bernoulli logits, and a recognizer
    `q(z | x)` (Dayan et al. 1995). `fit` runs one wake and one sleep phase
    per batch, each with its own optimizer and touching only its own
    network's weights.

    Args:
      data_dim: D, number of binary observed units.
      latent_dims: (d_1, ..., d_L) latent layer sizes from the layer next to
        the data up to the top; `(200, 200, 200)` is the "SBN 200-200-200".
      hidden_units: deterministic hidden layers inside every conditional of
        both networks; `()` (default) gives the classic sigmoid belief net.
      activation: activation of the hidden layers (default tanh).
      seed: int in [0, 2**31) or None. Seeds the initial weights, the model's
        `keras.random.SeedGenerator` (every draw of `fit`, `evaluate`,
        `predict` and of the `seed=None` methods) and `fit`'s shuffling of
        arrays (see `fit`). With a seed, the same data and calls give the
        same weights and numbers, with no `keras.utils.set_random_seed`.
      generator_conditional, recognizer_conditional: names of
        `tfhm.conditionals.names()` for every layer of p (its prior too) and
        of q: "sbn" (default, factorized), "darn" or "nade"
        (autoregressive); `hidden_units` and `activation` keep their meaning
        for every name (the deterministic path from a layer's parent into
        it). Or a tuple of names, one a layer (as `tfhm.Generator`'s and
        `tfhm.Recognizer`'s `conditional`): `generator_conditional=("darn",
        "sbn", "sbn")` makes p(x | z_1) autoregressive under SBN layers.
      generator, recognizer: the full form instead of the sizes: a
        `tfhm.Generator(prior=..., conditionals=[...])` and a
        `tfhm.Recognizer(conditionals=[...])` of any conditionals (e.g.
        `tfhm.conditionals.KerasBernoulli` around a convolutional network);
        `data_dim` and `latent_dims` are then read from them.
      **kwargs: `keras.Model` arguments: `name`, and `dtype`, a dtype policy
        (e.g. `"mixed_bfloat16"`) for every layer of both networks; by
        default the global policy. Log-densities stay float32 either way.

    #### Examples

    ```python
    import keras
    import tfhm
    x_train, x_test = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16,), seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3),
               sleep_optimizer=keras.optimizers.Adam(1e-3),
               algorithm="reweighted_wake_sleep", num_samples=5)
    history = hm.fit(x_train, batch_size=100, epochs=2, verbose=0)
    log_p = hm.exact_log_likelihood(x_test)  # [360] nats
    ```

    #### References

    [1]: Dayan, P., Hinton, G. E., Neal, R. M. & Zemel, R. S. The Helmholtz
         machine. Neural Computation 7(5), 889-904 (1995).
    [2]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
         algorithm for unsupervised neural networks. Science 268 (1995).
    [3]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
    """

    def __init__(self, data_dim: int | None = None, latent_dims=None, hidden_units=(),
                 activation: str = "tanh", seed: int | None = None,
                 generator_conditional: str | tuple = "sbn",
                 recognizer_conditional: str | tuple = "sbn",
                 generator: Generator | None = None, recognizer: Recognizer | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if (generator is None) != (recognizer is None):
            raise ValueError(
                "Pass both `generator` and `recognizer` (the full form), or neither "
                f"(the sizes). Received: generator={generator!r}, "
                f"recognizer={recognizer!r}")
        if generator is None:
            arch = self._set_architecture(data_dim, latent_dims, hidden_units,
                                          activation, seed)
            self.generator = Generator(**arch, conditional=generator_conditional,
                                       dtype=self.dtype_policy, name="generator")
            self.recognizer = Recognizer(**arch, conditional=recognizer_conditional,
                                         dtype=self.dtype_policy, name="recognizer")
        else:
            _check_networks(generator, recognizer, data_dim, latent_dims)
            self._set_architecture(generator.data_dim, generator.latent_dims,
                                   generator.hidden_units, generator.activation, seed)
            self.generator, self.recognizer = generator, recognizer
        self.generator_conditional = self.generator.conditional
        self.recognizer_conditional = self.recognizer.conditional
        self.seed_generator = keras.random.SeedGenerator(
            None if seed is None else int(seed), name="seed_generator")
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("wake_loss", "sleep_loss", "elbo", "ess",
                         "log_likelihood")}
        self.algorithm = Algorithm.WAKE_SLEEP
        self.num_samples = 1
        self.recognizer_update = RecognizerUpdate.SLEEP
        self.estimator = None  # set by compile: a tfhm.estimators.Estimator
        self.eval_num_samples = 100
        self.built = True

    def get_config(self) -> dict:
        config = super().get_config()
        if self.generator_conditional is None or self.recognizer_conditional is None:
            # Built from layers: the networks carry them (sizes follow).
            config.update(generator=keras.saving.serialize_keras_object(self.generator),
                          recognizer=keras.saving.serialize_keras_object(self.recognizer))
        else:
            config.update(generator_conditional=self.generator_conditional,
                          recognizer_conditional=self.recognizer_conditional)
        return config

    # The key of the seed generator's state among the model's own variables
    # in a `.keras` file (files saved before it existed do not hold it).
    _SEED_STATE_KEY = "seed_generator_state"

    def save_own_variables(self, store) -> None:
        """Saves the model's own variables and the seed generator's state.

        With the state, a model loaded from a `.keras` file continues the
        random stream where the saved one stopped: its next `fit` step,
        `sample(seed=None)` or unseeded `evaluate` draws what the saved model's
        would have drawn.
        """
        super().save_own_variables(store)
        store[self._SEED_STATE_KEY] = self.seed_generator.state

    def load_own_variables(self, store) -> None:
        """Loads what `save_own_variables` saved.

        A file saved before the state was saved (tfhm before issue 26) leaves
        the seed generator at its initial state `[seed, 0]`, as loading did then.
        """
        own = {key: store[key] for key in store.keys() if key != self._SEED_STATE_KEY}
        super().load_own_variables(own)
        if self._SEED_STATE_KEY in store.keys():
            self.seed_generator.state.assign(np.asarray(store[self._SEED_STATE_KEY]))

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("generator"), dict):
            config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
            config["recognizer"] = keras.saving.deserialize_keras_object(
                config["recognizer"])
            for key in ("data_dim", "latent_dims", "hidden_units", "activation"):
                config.pop(key, None)
        return cls(**config)

    @property
    def metrics(self) -> list:
        return list(self._trackers.values())

    @property
    def num_latent_bits(self) -> int:
        """Total number of binary latent units, sum(latent_dims)."""
        return sum(self.latent_dims)

    @property
    def optimizer(self) -> LinkedOptimizers | None:
        """Both optimizers as Keras' callbacks see `model.optimizer`.

        A `tfhm._optimizers.LinkedOptimizers` once compiled (None before):
        `keras.callbacks.LearningRateScheduler` and `ReduceLROnPlateau` drive
        the wake and the sleep optimizer, each from its own rate, and log the
        rates they then use as `learning_rate_wake` and `learning_rate_sleep`
        (a schedule `f(epoch, lr)` that scales `lr` keeps the two rates'
        ratio; one that ignores `lr` gives both the same rate); setting
        `hm.optimizer.learning_rate` sets the wake rate and moves the sleep
        rate with it (same ratio).
        """
        if getattr(self, "wake_optimizer", None) is None:
            return None
        return LinkedOptimizers(self.wake_optimizer, self.sleep_optimizer)

    @optimizer.setter
    def optimizer(self, value) -> None:
        # keras.Model.compile assigns its default optimizer here; tfhm
        # trains with `wake_optimizer` and `sleep_optimizer` instead.
        if not getattr(self, "_in_keras_compile", False):
            raise AttributeError(
                "HelmholtzMachine has two optimizers: pass `wake_optimizer` "
                "and `sleep_optimizer` to compile() (or set their "
                f"learning_rate). Received: optimizer={value!r}")

    # ---------------------------------------------------------------- compile
    def compile(self, wake_optimizer="adam", sleep_optimizer="adam",
                algorithm="wake_sleep", num_samples: int | None = None,
                recognizer_update=None, eval_num_samples: int = 100,
                insomnia: float | None = None, **kwargs) -> None:
        """Configures training (the two-optimizer pattern of Keras' GAN guide).

        Under a `mixed_float16` dtype policy both optimizers are wrapped in
        `keras.optimizers.LossScaleOptimizer` (unless they already are, or
        `auto_scale_loss=False`), as `keras.Model.compile` does for its one
        optimizer; `train_step` then scales each phase's loss with its
        optimizer's `scale_loss`.

        Args:
          wake_optimizer: optimizer of the generator and prior (wake phase).
          sleep_optimizer: optimizer of the recognizer.
          algorithm: the gradient estimator: a name of `tfhm.estimators.names()` ("wake_sleep",
            "reweighted_wake_sleep", "vimco", "reinforce", "nvil", "reinforce_loo", "disarm"), a
            `tfhm.Algorithm`, or a `tfhm.estimators.Estimator` instance (with its options, e.g.
            `NVIL(hidden_units=(50,))`); what each estimates and its K rules: `tfhm.estimators`.
            Default "wake_sleep"; `TrainConfig`, the `Trainer` and `tfhm train` default to
            "reweighted_wake_sleep".
          num_samples: K, draws of q per example; default the estimator's
            (1 for wake-sleep, 5 for reweighted wake-sleep, which Bornschein
            & Bengio 2015 found a good trade-off; see `tfhm.estimators`).
            With wake-sleep, K > 1 averages the generator's update over K
            draws.
          recognizer_update: reweighted wake-sleep's "sleep", "wake" or
            "wake_sleep" (or a `tfhm.RecognizerUpdate`): the readable alias of
            `insomnia` 0, 1 and 0.5. Default "wake_sleep", the best variant in
            Bornschein & Bengio (2015); wake-sleep accepts only "sleep".
          eval_num_samples: K of the importance-sampled `log_likelihood`
            reported by `evaluate` and on validation data.
          insomnia: reweighted wake-sleep only: Pyro's weight in [0, 1] of the
            recognizer's wake update (the sleep update has 1 - insomnia).
          **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`,
            `steps_per_execution`, `auto_scale_loss`); `optimizer`, `loss`
            and `metrics` are not accepted since the objectives are fixed.

        Raises:
          ValueError: unknown algorithm or recognizer update (naming the
            valid ones), a K the estimator refuses, `eval_num_samples` < 1, a
            recognizer update other than "sleep" with wake-sleep, `insomnia`
            outside [0, 1] or with another estimator, or a
            `loss`/`optimizer`/`metrics` argument, or one optimizer for both.
        """
        for key in ("optimizer", "loss", "metrics"):
            if key in kwargs:
                raise ValueError(
                    f"HelmholtzMachine.compile does not take `{key}`: the "
                    "objectives are fixed; pass `wake_optimizer` and "
                    f"`sleep_optimizer`. Received: {key}={kwargs[key]!r}")
        estimator, num_samples = estimator_step.make(
            algorithm, num_samples, recognizer_update, insomnia)
        estimator.check_networks(self.generator, self.recognizer)  # before any change
        self.eval_num_samples = eval_num_samples  # checked by the setter
        scale = (kwargs.pop("auto_scale_loss", True)
                 and self.dtype_policy.name == "mixed_float16")
        self._in_keras_compile = True
        try:
            super().compile(auto_scale_loss=False, **kwargs)
        finally:
            self._in_keras_compile = False
        self.wake_optimizer, self.sleep_optimizer = phase_optimizers(
            wake_optimizer, sleep_optimizer, scale)
        estimator.build(self.data_dim, seed=self.seed)  # NVIL's baseline
        self.wake_optimizer.build(self.generator.trainable_variables)
        self.sleep_optimizer.build(
            estimator_step.recognizer_variables(self.recognizer, estimator))
        self.estimator = estimator
        self.algorithm = estimator.algorithm
        self.num_samples = num_samples
        self.recognizer_update = estimator.recognizer_update
        self._hm_compile_config = {
            "wake_optimizer": keras.optimizers.serialize(self.wake_optimizer),
            "sleep_optimizer": keras.optimizers.serialize(self.sleep_optimizer),
            **estimator_step.compile_config(estimator), "num_samples": num_samples,
            "eval_num_samples": self.eval_num_samples}

    def get_compile_config(self) -> dict | None:
        return getattr(self, "_hm_compile_config", None)

    def compile_from_config(self, config: dict) -> None:
        config = dict(config)
        config["wake_optimizer"] = keras.optimizers.deserialize(
            config["wake_optimizer"])
        config["sleep_optimizer"] = keras.optimizers.deserialize(
            config["sleep_optimizer"])
        config["algorithm"] = estimator_step.from_compile_config(config)
        self.compile(**config)

    # ------------------------------------------------------------ train/test
    def _prepare(self, data):
        x = _model_data.batch_of(data)
        _checks.static_data_dim(x, self.data_dim)
        return tf.cast(x, tf.float32)

    @_graph.not_converted  # traced as written: see tfhm._graph
    def train_step(self, data):
        x = self._prepare(data)
        # Every state change waits for the batch: a batch that fails its
        # checks (`_model_data.checked_dataset`) changes nothing, not even
        # the optimizers' step counters or the seed generator.
        with tf.control_dependencies([x]):
            return self._train_on(x)

    def _train_on(self, x):
        seed = _seeds.to_stateless(None, self.seed_generator)
        generator_grads, recognizer_grads, logs = estimator_step.compute_gradients(
            self.estimator, self.generator, self.recognizer, x, seed,
            self.num_samples, scale_losses=(self.wake_optimizer.scale_loss,
                                            self.sleep_optimizer.scale_loss))
        self.wake_optimizer.apply_gradients(
            zip(generator_grads, self.generator.trainable_variables))
        self.sleep_optimizer.apply_gradients(zip(
            recognizer_grads,
            estimator_step.recognizer_variables(self.recognizer, self.estimator)))
        for name, value in logs.items():
            self._trackers[name].update_state(value)
        return {name: self._trackers[name].result() for name in logs}

    @_graph.not_converted
    def test_step(self, data):
        """Importance-sampled `elbo` and `log_likelihood` of one batch.

        The batch is one block of `evaluation.block_estimates` with
        K = `eval_num_samples`; its seed is the block seed of
        `evaluate(..., seed=s)`, or else the next seed of the model's seed
        generator.
        """
        if isinstance(data, dict) and _model_data.BLOCK_SEED in data:
            x, seed = self._prepare(data["x"]), data[_model_data.BLOCK_SEED]
        else:
            x = self._prepare(data)
            with tf.control_dependencies([x]):  # as in train_step
                seed = _seeds.to_stateless(None, self.seed_generator)
        block = evaluation.block_estimates(self, x, self.eval_num_samples, seed)
        for name in EVAL_LOG_NAMES:
            self._trackers[name].update_state(block[name])
        return {name: self._trackers[name].result() for name in EVAL_LOG_NAMES}

    def call(self, inputs):
        """A one-sample ELBO per example, float32 `[batch]` (what `predict` returns).

        `log p(x, z) - log q(z | x)` for one draw `z ~ q(z | x)` seeded by the
        next seed of the model's seed generator: a noisy lower bound that
        changes at every call. Use `elbo`, `log_likelihood` or `encode`
        (with `seed=`) for reproducible numbers.
        """
        x = self._prepare(inputs)
        seed = _seeds.to_stateless(None, self.seed_generator)
        return objectives.log_importance_weights(
            self.generator, self.recognizer, x, 1, seed)[0][0]

    # ----------------------------------------------------------- densities
    def elbo(self, x, num_samples: int = 1, seed=None) -> tf.Tensor:
        """The variational lower bound per example (Hinton et al. 1995).

        `ELBO(x) = E_q[log p(x, z) - log q(z | x)]`, estimated by the mean over
        `num_samples` draws of q: the `elbo` of
        `evaluation.importance_sampled` (same draws as `log_likelihood` for
        the same seed and K).

        Args:
          x: `[batch, data_dim]` of 0/1 values (bool, int or float).
          num_samples: draws of q per example.
          seed: None (the model's seed generator), an int, or an int tensor
            `[2]`.

        Returns:
          float32 `[batch]`, nats.
        """
        return tf.constant(evaluation.importance_sampled(
            self, x, num_samples, seed)["elbo"])

    def log_likelihood(self, x, num_samples: int = 1000, seed=None) -> tf.Tensor:
        """Importance-sampled `log p(x) ~ log mean_k p(x, z_k) / q(z_k | x)`.

        A stochastic lower bound whose expectation rises with `num_samples`
        to `log p(x)` (Burda et al. 2016), computed by
        `evaluation.importance_sampled` in memory-bounded blocks, so K = 5000
        on 100 MNIST images fits in a few hundred MB.

        Args:
          x: `[batch, data_dim]` of 0/1 values.
          num_samples: K, draws of q per example.
          seed: None (the model's seed generator), an int, or an int tensor
            `[2]`; the same seed gives the same numbers as the diagnostics,
            `evaluate(seed=...)` and `tfhm evaluate --seed`.

        Returns:
          float32 `[batch]`, nats.

        #### Examples

        ```python
        import tfhm
        x, _ = tfhm.datasets.load_digits()
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
        a = hm.log_likelihood(x[:10], num_samples=100, seed=1)
        b = hm.log_likelihood(x[:10], num_samples=100, seed=1)
        assert (a.numpy() == b.numpy()).all()
        ```
        """
        return tf.constant(evaluation.importance_sampled(
            self, x, num_samples, seed)["log_likelihood"])

    def exact_log_likelihood(self, x) -> tf.Tensor:
        """`log p(x) = log sum_z p(x | z) p(z)` by enumeration.

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

    def encode(self, x, num_samples: int | None = None, seed=None) -> dict:
        """Posterior means and draws of every latent layer: the exported `encode`'s twin.

        Args:
          x: `[batch, data_dim]` of 0/1 values.
          num_samples: None: one draw, no sample axis (the exported `encode`'s
            shapes); K: K ancestral draws of q per example on a leading axis.
          seed: None (the model's seed generator), an int, or an int tensor
            `[2]`. The draw is `Recognizer.sample(x, K, seed)` (K = 1 for
            None): the exported `encode(x, seed)` gives the same `z1..zL`.

        Returns:
          A dict: `z1_probs` .. `zL_probs` float32 `[batch, d_l]` (the
          deterministic bottom-up means of `Recognizer.call`; exactly
          `q(z_1 = 1 | x)` for the first layer) and `z1` .. `zL` float32 0/1
          `[batch, d_l]` (None; K = 1 gave `[1, ...]` before) or `[K, batch, d_l]`.

        #### Examples

        ```python
        import tfhm
        x, _ = tfhm.datasets.load_digits()
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8, 4), seed=0)
        codes = hm.encode(x[:5], seed=1)  # one draw; num_samples=3: [3, 5, 8]
        assert codes["z1"].shape == (5, 8) and codes["z2_probs"].shape == (5, 4)
        ```
        """
        x = _checks.binary_data(x, self.data_dim)
        draws = 1 if num_samples is None else _checks.positive_int(
            "num_samples", num_samples, upper=_checks.INT32_MAX)
        latents, _ = self.recognizer.sample(
            x, draws, _seeds.to_stateless(seed, self.seed_generator))
        result = {f"z{l + 1}_probs": m for l, m in enumerate(self.recognizer(x))}
        result.update({f"z{l + 1}": z if num_samples else z[0]  # None: [batch, d_l]
                       for l, z in enumerate(latents)})
        return result

    def inpaint(self, x, mask, num_samples: int = 1, num_proposals: int = 100,
                seed=None) -> tf.Tensor:
        """Completes missing pixels: draws from `p(x_missing | x_observed)`.

        Importance resampling over the latents with the recognizer as the
        proposal; consistent in K with an O(1/K) bias (`tfhm.inpainting`).

        Args:
          x: `[batch, data_dim]`, 0/1 where mask is 1 (missing pixels unread: NaN is fine).
          mask: `[batch, data_dim]`, bool or 0/1: 1 where observed, 0 missing.
          num_samples: S, completions per row.
          num_proposals: K, draws of q per row, shared by its S completions.
          seed: None, an int, or an int tensor `[2]`.

        Returns:
          float32 0/1 `[num_samples, batch, data_dim]`, equal to x wherever
          mask is 1; a row with no observed pixel gets unconditional samples.

        Raises:
          ValueError: bad x (where observed), mask (dtype, shape, values), counts, seed.

        #### Examples

        ```python
        import numpy as np
        import tfhm
        x, _ = tfhm.datasets.load_digits()
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
        mask = np.arange(64) < 32                 # top half observed
        mask = np.broadcast_to(mask, (5, 64))
        out = hm.inpaint(x[:5], mask, num_samples=3, seed=1)  # [3, 5, 64]
        assert (out.numpy()[:, :, :32] == x[:5, :32]).all()
        log_p = hm.log_likelihood_observed(x[:5], mask, seed=1)  # [5] nats
        ```
        """
        return inpainting.inpaint_checked(self, x, mask, num_samples,
                                          num_proposals, seed)

    def log_likelihood_observed(self, x, mask, num_proposals: int = 1000,
                                seed=None) -> tf.Tensor:
        """Importance-sampled `log p(x_observed) ~ log mean_k w_k`.

        The estimate `inpaint` implies (`tfhm.inpainting`): a stochastic lower
        bound in expectation, consistent in K; `log_likelihood`'s estimand
        when nothing is missing. Same K and seed as `inpaint`: same proposals.

        Args:
          x, mask, seed: as `inpaint`.
          num_proposals: K, draws of q per row.

        Returns:
          float32 `[batch]` nats; exactly 0 for a row with no observed pixel.

        Raises:
          ValueError: as `inpaint`.
        """
        return inpainting.log_likelihood_observed_checked(
            self, x, mask, num_proposals, seed)

    def sample(self, num_samples: int, seed=None) -> dict:
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
        return self.generator.sample(
            num_samples, _seeds.to_stateless(seed, self.seed_generator))
