"""Warm-up records: `assets.extra/tf_serving_warmup_requests` of each SavedModel.

TF Serving loads a model lazily: the first requests after a (re)load pay for
the graph's initialization, unless the SavedModel carries warm-up records,
a TFRecord file of `tensorflow.serving.PredictionLog` protos (at most 1,000)
that the server replays before it marks the version available ("SavedModel
Warmup" in TF Serving's guide). The exporter writes one small record per
signature, and for the generator a second with a fresh seed (`seed = []`)
where the signature takes a seed, so both branches of the seed's `cond` are
initialized: 9 records for the generator, 3 for the recognizer.

The recognizer may be served with `--enable_batching` (export/README.md),
whose batcher refuses a request whose inputs differ in dimension 0, and
warm-up runs inside the load (a bad warm-up file fails it,
tensorflow/serving#1562). So its records all pass the batcher:
one row for the rows-only signatures, and `encode` with 2 rows beside its
`[2]` seed (a `[]` seed beside rows would be refused there).

The records are written without `tensorflow-serving-api`: the few fields
used are encoded here by hand in protobuf's wire format, byte for byte what
`PredictionLog.SerializeToString(deterministic=True)` gives (fields in number
order, map entries sorted by key); `tests/test_serving_compat.py` checks that
against the real protos when the optional `serve` extra is installed. The
inputs are fixed (zeros, a half mask, seed [0, 1]), so the file is the same
on every export of a model of the same shape.

    PredictionLog  { PredictLog predict_log = 6; }
    PredictLog     { PredictRequest request = 1; }
    PredictRequest { ModelSpec model_spec = 1; map<string, TensorProto> inputs = 2; }
    ModelSpec      { string name = 1; string signature_name = 3; }

#### Examples

```python
import tensorflow as tf
import tfhm

hm = tfhm.HelmholtzMachine(data_dim=8, latent_dims=(2,), seed=0)
paths = tfhm.export.export_model(hm, "served")
records = list(tf.data.TFRecordDataset(
    paths["generator"] + "/assets.extra/tf_serving_warmup_requests"))
assert len(records) == 9
```
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np

__all__ = ["WARMUP_FILE", "predict_log", "requests", "write_warmup"]

# Where TF Serving looks for the records, relative to the version folder.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")

_SEED = np.array([0, 1], np.int32)
_FRESH = np.zeros([0], np.int32)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): tag, length, bytes."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def predict_log(model_name: str, signature_name: str,
                inputs: dict[str, np.ndarray]) -> bytes:
    """One serialized `PredictionLog` holding a `PredictRequest`.

    Args:
      model_name: `model_spec.name` (TF Serving's warm-up ignores it).
      signature_name: the signature the record warms up.
      inputs: input name -> NumPy array of the signature's dtype.

    Returns:
      The `PredictionLog` bytes (its `predict_log.request`).
    """
    import tensorflow as tf

    spec = (_field(1, model_name.encode()) + _field(3, signature_name.encode()))
    request = _field(1, spec)
    for name in sorted(inputs):
        tensor = tf.make_tensor_proto(inputs[name]).SerializeToString()
        request += _field(2, _field(1, name.encode()) + _field(2, tensor))
    return _field(6, _field(1, request))


def requests(model_name: str, data_dim: int,
             latent_dims: Sequence[int]) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The warm-up requests of one SavedModel: `(signature, inputs)` pairs.

    Args:
      model_name: "generator" or "recognizer".
      data_dim: D.
      latent_dims: `d_1 .. d_L`.

    Returns:
      One request per signature (one row, `num_samples` 1, seed [0, 1];
      `encode` 2 rows, so that every input has 2 in dimension 0) and, for
      the generator, a second with `seed = []` where the signature has one.
    """
    x = np.zeros([1, data_dim], np.float32)
    mask = (np.arange(data_dim) < data_dim // 2).astype(np.float32)[np.newaxis]
    one = np.int32(1)
    if model_name == "recognizer":
        return [("serving_default", {"x": x}), ("encode_unseeded", {"x": x}),
                ("encode", {"x": np.zeros([2, data_dim], np.float32), "seed": _SEED})]
    out = []
    for seed in (_SEED, _FRESH):
        out += [("serving_default", {"num_samples": one, "seed": seed}),
                ("sample", {"num_samples": one, "seed": seed}),
                ("log_likelihood", {"x": x, "num_samples": one, "seed": seed}),
                ("inpaint", {"x": x, "mask": mask, "num_samples": one,
                             "num_proposals": one, "seed": seed})]
    out.append(("decode", {f"z{l + 1}": np.zeros([1, d], np.float32)
                           for l, d in enumerate(latent_dims)}))
    return out


def write_warmup(saved_model_dir: str | os.PathLike, model_name: str,
                 data_dim: int, latent_dims: Sequence[int],
                 signatures: Sequence[str] | None = None) -> pathlib.Path:
    """Writes `assets.extra/tf_serving_warmup_requests` into a SavedModel.

    Args:
      saved_model_dir: the SavedModel folder (not yet published).
      model_name: "generator" or "recognizer".
      data_dim, latent_dims: the model's sizes.
      signatures: the signatures the SavedModel has (a warm-up request to a
        missing one would stop TF Serving from loading it); None: all.

    Returns:
      The path of the TFRecord file written.
    """
    import tensorflow as tf

    path = pathlib.Path(saved_model_dir) / WARMUP_FILE
    path.parent.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests(model_name, data_dim, latent_dims):
            if signatures is None or signature in signatures:
                writer.write(predict_log(model_name, signature, inputs))
    return path
