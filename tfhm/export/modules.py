"""The two `tf.Module`s saved for TF Serving: `GeneratorModule`, `RecognizerModule`.

Which signatures TF Serving can batch (`--enable_batching` concatenates
requests along dimension 0 and splits every output the same way) is listed
in `BATCHABLE`; `tests/test_serving_batching.py` checks it on the loaded
SavedModels.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfhm import _graph
from tfhm.export.graphs import (
    _decode,
    _encode,
    _encode_rows,
    _inpaint,
    _log_likelihood,
    _num_samples_spec,
    _sample,
    _seed_spec,
    _x_spec,
)
from tfhm.export.limits import default_limits

__all__ = ["BATCHABLE", "GeneratorModule", "RecognizerModule"]

# Signature -> True when every input and every output has the batch as its
# first dimension (rows in, rows out), so that TF Serving's server-side
# batching and the row format (`instances`) can serve it. The others take a
# scalar count or a [2] seed, or return num_samples rows.
BATCHABLE = {
    "generator": {"serving_default": False, "sample": False, "decode": True,
                  "log_likelihood": False, "inpaint": False},
    "recognizer": {"serving_default": True, "encode_unseeded": True,
                   "encode": False},
}


def _limits(model, max_num_samples, max_rows):
    """The export's limits: the given ones, or sized from the response budget."""
    sized = default_limits(model.generator.data_dim, model.generator.latent_dims)
    return (sized["max_num_samples"] if max_num_samples is None else int(max_num_samples),
            sized["max_rows"] if max_rows is None else int(max_rows))


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
    """The generator's SavedModel: `sample`, `decode`, `log_likelihood`, `inpaint`.

    Holds the generator's weights and, for the importance-sampled
    `log_likelihood` and `inpaint`, the recognizer's (q(z | x) is their
    proposal).

    Args:
      model: a `tfhm.HelmholtzMachine`.
      max_num_samples: the largest `num_samples` of `sample` (for
        `log_likelihood` and `inpaint`, the largest count times the batch
        size) a request may ask for; None sizes it from
        `tfhm.export.RESPONSE_BUDGET_BYTES` (`tfhm.export.default_limits`).
      max_rows: the largest batch of `decode` and `inpaint`; None sizes it
        from the budget.

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

    def __init__(self, model: Any, max_num_samples: int | None = None,
                 max_rows: int | None = None):
        super().__init__(name="generator")
        generator, recognizer = model.generator, model.recognizer
        self.max_num_samples, self.max_rows = _limits(model, max_num_samples, max_rows)
        limit, rows = self.max_num_samples, self.max_rows
        self.weights = _tf_variables(generator, recognizer)
        no_seed = tf.constant([], tf.int32)  # saved as the signature default

        def sample(num_samples, seed=no_seed):
            return _sample(generator, num_samples, seed, limit)

        def log_likelihood(x, num_samples, seed=no_seed):
            return _log_likelihood(generator, recognizer, x, num_samples,
                                   seed, limit)

        def decode(*latents):  # one input per layer: z1 .. zL
            return _decode(generator, list(latents), rows)

        def inpaint(x, mask, num_samples, num_proposals, seed=no_seed):
            return _inpaint(generator, recognizer, dict(
                x=x, mask=mask, num_samples=num_samples,
                num_proposals=num_proposals, seed=seed), limit, rows)

        self.sample = _graph.function(
            sample, input_signature=[_num_samples_spec(), _seed_spec()])
        self.log_likelihood = _graph.function(
            log_likelihood,
            input_signature=[_x_spec(), _num_samples_spec(), _seed_spec()])
        self.decode = _graph.function(decode, input_signature=[
            tf.TensorSpec([None, None], tf.float32, name=f"z{l + 1}")
            for l in range(len(generator.latent_dims))])
        # Inpainting needs a factorized p(x | z_1) and q(z_1 | x)
        # (`tfhm.inpainting.check_inpaintable`); other models export without it.
        self.inpaintable = all(c.factorized for c in (generator.conditionals[0],
                                                       recognizer.conditionals[0]))
        if self.inpaintable:
            self.inpaint = _graph.function(inpaint, input_signature=[
                _x_spec(), tf.TensorSpec([None, None], tf.float32, name="mask"),
                _num_samples_spec(),
                tf.TensorSpec([], tf.int32, name="num_proposals"), _seed_spec()])

    def signatures(self) -> dict[str, Any]:
        """The signature dict for `tf.saved_model.save` (no `inpaint` where
        `inpaintable` is False)."""
        signatures = {"serving_default": self.sample, "sample": self.sample,
                      "decode": self.decode, "log_likelihood": self.log_likelihood}
        if self.inpaintable:
            signatures["inpaint"] = self.inpaint
        return signatures


class RecognizerModule(tf.Module):
    """The recognizer's SavedModel: `encode_unseeded` (default) and `encode`.

    `serving_default` is `encode_unseeded`, the batchable encoder: `x` is its
    only input, so a plain TF Serving request (`{"instances": [[...]]}`)
    works, and every output, the per-row seed included, has the batch as its
    first dimension. `encode` takes a `[2]` seed for a reproducible draw.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      max_rows: the largest batch of `encode` and `encode_unseeded`; None
        sizes it from `tfhm.export.RESPONSE_BUDGET_BYTES`.

    #### Examples

    ```python
    import tensorflow as tf
    import tfhm

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(3,), seed=0)
    x = tf.ones([2, 16])
    module = tfhm.export.RecognizerModule(hm)
    module.encode(x, tf.constant([1, 2]))["z1_probs"]  # [batch, latent_dims[0]]
    module.encode_unseeded(x)["seed"]                  # [batch, 2]: each row's seed
    ```
    """

    def __init__(self, model: Any, max_rows: int | None = None):
        super().__init__(name="recognizer")
        recognizer = model.recognizer
        self.max_rows = _limits(model, None, max_rows)[1]
        rows = self.max_rows
        self.weights = _tf_variables(recognizer)
        no_seed = tf.constant([], tf.int32)  # saved as the signature default

        def encode(x, seed=no_seed):
            return _encode(recognizer, x, seed, rows)

        def encode_unseeded(x):
            return _encode_rows(recognizer, x, rows)

        self.encode = _graph.function(
            encode, input_signature=[_x_spec(), _seed_spec()])
        self.encode_unseeded = _graph.function(
            encode_unseeded, input_signature=[_x_spec()])

    def signatures(self) -> dict[str, Any]:
        """The signature dict for `tf.saved_model.save`."""
        return {"serving_default": self.encode_unseeded, "encode": self.encode,
                "encode_unseeded": self.encode_unseeded}
