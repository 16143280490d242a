"""Export of a Helmholtz machine as two SavedModels for TensorFlow Serving.

`export_model` writes TF Serving's versioned layout

  <base_dir>/generator/<version>/    sample, decode, log_likelihood, inpaint
  <base_dir>/recognizer/<version>/   encode_unseeded (serving_default), encode

from a `tfhm.HelmholtzMachine` or a training run folder (read through
`tfhm.run_dir.RunDir`), each with warm-up records in `assets.extra/`.
The graphs stand on TensorFlow alone: they load with `tf.saved_model.load` in
a process that imports neither tfhm, nor Keras, nor TensorFlow Probability,
and in TF Serving 2.11 and later (`compat`; export/README.md says why).

Signatures (every input is named; calls take keyword arguments only and do
not cast dtypes; `L = len(latent_dims)`, `D = data_dim`, `d_l = latent_dims[l]`;
every draw returns the int32 seed it used as `seed`):

  generator
    serving_default, sample
        num_samples int32 [], seed int32 [2] or [] (optional)
        -> x float32 0/1 [n, D], x_probs [n, D], z1 .. zL float32 0/1 [n, d_l],
           seed [2]
    decode
        z1 .. zL float32 0/1 [batch, d_l]
        -> x_probs [batch, D] = p(x = 1 | z_1),
           z1_probs .. z(L-1)_probs [batch, d_l] = p(z_l = 1 | z_(l+1))
    log_likelihood
        x float32 0/1 [batch, D], num_samples int32 [], seed (optional)
        -> log_likelihood float32 [batch], nats; seed [2]
    inpaint
        x, mask float32 0/1 [batch, D] (mask 1 = observed), num_samples S,
        num_proposals K int32 [], seed (optional)
        -> x [S, batch, D] completions, log_likelihood_observed [batch] nats,
           seed [2]
  recognizer
    serving_default, encode_unseeded
        x float32 0/1 [batch, D] (x alone: TF Serving's row format,
        `{"instances": [[...]]}`, calls it, and it is batchable)
        -> z1_probs .. zL_probs [batch, d_l], z1 .. zL float32 0/1 [batch, d_l],
           seed [batch, 2]: row i's fresh seed; `encode` of row i alone with
           it gives the same z
    encode
        x float32 0/1 [batch, D], seed int32 [2] or [] (optional)
        -> as above, with seed [2]

Seeds: `seed = [s0, s1]` gives the draw of
`tfhm.layers.sample_bernoulli_logits` (Philox words, exact for every logit)
that the in-memory model makes with that seed, bit for bit (on
the same TensorFlow version and device kind); `seed = []` (the saved default,
applied by `tf.saved_model.load` callers and TF Serving's gRPC API, never by
its REST API) draws a fresh seed inside the graph, so two calls, and two
servers, give different samples.

Bad requests (`num_samples` or `num_proposals` out of `[1, max_num_samples]`
(times the batch where it applies), more than `max_rows` rows, a seed that is
neither `[2]` nor `[]`, `x`, `mask` or a latent of the wrong width or with
values other than 0 and 1) fail with an `InvalidArgumentError` that says what
was wrong, raised by assertions that run before anything large is allocated.
By default the limits are as large as fits a 4 MiB gRPC response
(`default_limits`).

#### Examples

```python
import tensorflow as tf
import tfhm

hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(3,), seed=0)  # or a trained one
paths = tfhm.export.export_model(hm, "served", version=3)  # e.g. "/srv/models"
# later, anywhere with only TensorFlow installed:
generator = tf.saved_model.load(paths["generator"])
out = generator.signatures["serving_default"](
    num_samples=tf.constant(10), seed=tf.constant([1, 2]))
assert out["x"].shape == (10, 16)          # [10, data_dim], as hm.sample(10, seed=[1, 2])
```

Modules: `graphs` (the serving graphs and their request checks), `modules`
(the two `tf.Module`s and which signatures are batchable), `limits` (request
limits from the response budget), `compat` (the op list, `debug_name`
stripping, the TF version warning), `warmup` (the warm-up records), `writer`
(`export_model`: atomic versioned folders). `import tfhm.export` loads no
TensorFlow until one of them is used.
"""

from __future__ import annotations

from tfhm import _lazy

__all__ = [
    "DEFAULT_MAX_NUM_SAMPLES",
    "DEFAULT_MAX_ROWS",
    "RESPONSE_BUDGET_BYTES",
    "GeneratorModule",
    "RecognizerModule",
    "default_limits",
    "export_model",
]

# The largest message the limits of an export are sized for: 4 MiB, the
# default `grpc.max_receive_message_length` of gRPC clients (a `sample`
# response of 10,000 MNIST samples is 87 MB: tensorflow/serving#1382).
RESPONSE_BUDGET_BYTES = 4 * 1024 * 1024

# None: `export_model` sizes the limit from RESPONSE_BUDGET_BYTES and the
# model (`tfhm.export.default_limits`; 481 samples and 666 rows for an SBN
# 784-200-200-200). Pass a number to fix it instead.
DEFAULT_MAX_NUM_SAMPLES = None
DEFAULT_MAX_ROWS = None

_LAZY = {"GeneratorModule": "tfhm.export.modules",
         "RecognizerModule": "tfhm.export.modules",
         "default_limits": "tfhm.export.limits",
         "export_model": "tfhm.export.writer"}


__getattr__, __dir__ = _lazy.attach(__name__, globals(), _LAZY)
