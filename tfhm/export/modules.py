"""The two `tf.Module`s saved for TF Serving: `GeneratorModule`, `RecognizerModule`."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfhm.export import DEFAULT_MAX_NUM_SAMPLES
from tfhm.export.graphs import (
    _decode,
    _encode,
    _log_likelihood,
    _num_samples_spec,
    _sample,
    _seed_spec,
    _x_spec,
)

__all__ = ["GeneratorModule", "RecognizerModule"]


# The modules track the networks' variables only, not the Keras objects: the
# closures below hold the networks, so the SavedModel's object graph is the
# signatures plus a flat list of weights, with no Keras internals to revive.
def _tf_variables(*networks):
    """The `tf.Variable`s behind the networks' Keras weights.

    Tracking the Keras variables themselves would store every weight twice
    (Keras exports a Keras variable as a second `tf.Variable` initialized from
    the first), and the session-based loaders of TF Serving and
    `saved_model_cli run` would restore only the copy while the graph reads
    the original: "Could not find variable ...".
    """
    variables = [weight.value for net in networks for weight in net.weights]
    for variable in variables:
        if not isinstance(variable, tf.Variable):
            raise TypeError(f"Expected tf.Variable weights (the TensorFlow "
                            f"backend). Received: {type(variable).__name__}")
    return variables


class GeneratorModule(tf.Module):
    """The generator's SavedModel: `sample`, `decode`, `log_likelihood`.

    Holds the generator's weights and, for the importance-sampled
    `log_likelihood`, the recognizer's (q(z | x) is its proposal).

    Args:
      model: a `tfhm.HelmholtzMachine`.
      max_num_samples: the largest `num_samples` (for `log_likelihood`, the
        largest `num_samples * batch size`) a request may ask for.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(3,), seed=0)
    module = tfhm.export.GeneratorModule(hm)
    module.sample(tf.constant(5), tf.constant([1, 2]))["x"]  # [5, data_dim]
    tf.saved_model.save(module, "gen/1", signatures=module.signatures())
    ```
    """

    def __init__(self, model: Any, max_num_samples: int = DEFAULT_MAX_NUM_SAMPLES):
        super().__init__(name="generator")
        generator, recognizer = model.generator, model.recognizer
        max_num_samples = int(max_num_samples)
        self.weights = _tf_variables(generator, recognizer)
        no_seed = tf.constant([], tf.int32)  # saved as the signature default

        def sample(num_samples, seed=no_seed):
            return _sample(generator, num_samples, seed, max_num_samples)

        def log_likelihood(x, num_samples, seed=no_seed):
            return _log_likelihood(generator, recognizer, x, num_samples,
                                   seed, max_num_samples)

        def decode(*latents):  # one input per layer: z1 .. zL
            return _decode(generator, list(latents))

        self.sample = tf.function(
            sample, input_signature=[_num_samples_spec(), _seed_spec()])
        self.log_likelihood = tf.function(
            log_likelihood,
            input_signature=[_x_spec(), _num_samples_spec(), _seed_spec()])
        self.decode = tf.function(decode, input_signature=[
            tf.TensorSpec([None, None], tf.float32, name=f"z{l + 1}")
            for l in range(len(generator.latent_dims))])

    def signatures(self) -> dict[str, Any]:
        """The signature dict for `tf.saved_model.save`."""
        return {"serving_default": self.sample, "sample": self.sample,
                "decode": self.decode, "log_likelihood": self.log_likelihood}


class RecognizerModule(tf.Module):
    """The recognizer's SavedModel: `encode` and `encode_unseeded`.

    Args:
      model: a `tfhm.HelmholtzMachine`.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(3,), seed=0)
    x = tf.ones([2, 16])
    module = tfhm.export.RecognizerModule(hm)
    module.encode(x, tf.constant([1, 2]))["z1_probs"]  # [batch, latent_dims[0]]
    ```
    """

    def __init__(self, model: Any):
        super().__init__(name="recognizer")
        recognizer = model.recognizer
        self.weights = _tf_variables(recognizer)
        no_seed = tf.constant([], tf.int32)  # saved as the signature default

        def encode(x, seed=no_seed):
            return _encode(recognizer, x, seed)

        def encode_unseeded(x):
            return _encode(recognizer, x, no_seed)

        self.encode = tf.function(
            encode, input_signature=[_x_spec(), _seed_spec()])
        self.encode_unseeded = tf.function(
            encode_unseeded, input_signature=[_x_spec()])

    def signatures(self) -> dict[str, Any]:
        """The signature dict for `tf.saved_model.save`."""
        return {"serving_default": self.encode, "encode": self.encode,
                "encode_unseeded": self.encode_unseeded}

