"""What TF Serving needs from the exported SavedModels (issue 15 items 2-4, 6).

- Batching: which signatures TF Serving's server-side batching can serve
  (dimension 0 of every input and every output is the batch), measured on the
  loaded SavedModels with two batch sizes, and what batching does to them.
- Op compatibility: the op types and attributes of each exported graph equal
  the list checked in at tests/fixtures/serving_ops_tf2.21.json, with no
  attribute newer than the oldest TF Serving that export/README.md names.
- Warm-up records: assets.extra/tf_serving_warmup_requests parses as
  PredictionLog records (byte for byte the protos of tensorflow-serving-api,
  the optional `serve` extra) and every record replays through its signature
  in a process that imports TensorFlow and those protos only.

One untrained deep model (12 pixels, latents 4 and 3, a hidden layer) is
exported once for the module; its weights do not matter here.

Regenerate the op list after a TensorFlow upgrade (and re-check the version
floor in export/README.md) with
`TFHM_WRITE_SERVING_OPS=1 pytest tests/test_serving_compat.py -k op_list`.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm import export
from tfhm.export import compat, limits, modules, warmup, writer

DATA_DIM, LATENT_DIMS = 12, (4, 3)
OPS_FIXTURE = (pathlib.Path(__file__).parent / "fixtures"
               / f"serving_ops_tf{compat.CHECKED_WITH_TF}.json")


@pytest.fixture(scope="module")
def model():
    return tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, hidden_units=(5,), seed=3)


@pytest.fixture(scope="module")
def paths(model, tmp_path_factory):
    return export.export_model(model, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def loaded(paths):
    return {name: tf.saved_model.load(path) for name, path in paths.items()}


# ------------------------------------------------------------- batching
def _request(model_name, signature, batch):
    """A valid request of `batch` rows (a fixed 4 samples where one is asked)."""
    rng = np.random.default_rng(batch)
    x = tf.constant(rng.integers(0, 2, (batch, DATA_DIM)), tf.float32)
    seed = tf.constant([1, 2])
    if model_name == "recognizer":
        return {"x": x} if signature != "encode" else {"x": x, "seed": seed}
    if signature == "decode":
        return {f"z{l + 1}": tf.constant(rng.integers(0, 2, (batch, d)), tf.float32)
                for l, d in enumerate(LATENT_DIMS)}
    if signature == "log_likelihood":
        return {"x": x, "num_samples": tf.constant(4), "seed": seed}
    if signature == "inpaint":
        mask = tf.constant(rng.integers(0, 2, (batch, DATA_DIM)), tf.float32)
        return {"x": x, "mask": mask, "num_samples": tf.constant(4),
                "num_proposals": tf.constant(4), "seed": seed}
    return {"num_samples": tf.constant(4), "seed": seed}  # sample


def _dimension_zero(loaded, model_name, signature):
    """Whether dimension 0 of the inputs and of each output is the batch.

    Run with batches of 3 and 5 rows (sizes that no fixed dimension here,
    2 for a seed or 4 samples, can match by chance).
    """
    inputs_batched, outputs = True, {}
    for batch in (3, 5):
        request = _request(model_name, signature, batch)
        inputs_batched &= all(t.shape.rank >= 1 and t.shape[0] == batch
                               for t in request.values())
        out = loaded[model_name].signatures[signature](**request)
        for name, value in out.items():
            outputs[name] = outputs.get(name, True) and (
                value.shape.rank >= 1 and value.shape[0] == batch)
    return inputs_batched, outputs


# (inputs carry the batch in dimension 0, {output: dimension 0 is the batch})
DIMENSION_ZERO = {
    ("generator", "serving_default"): (False, {
        "x": False, "x_probs": False, "z1": False, "z2": False, "seed": False}),
    ("generator", "sample"): (False, {
        "x": False, "x_probs": False, "z1": False, "z2": False, "seed": False}),
    ("generator", "decode"): (True, {"x_probs": True, "z1_probs": True}),
    ("generator", "log_likelihood"): (False, {"log_likelihood": True, "seed": False}),
    ("generator", "inpaint"): (False, {
        "x": False, "log_likelihood_observed": True, "seed": False}),
    ("recognizer", "serving_default"): (True, {
        "z1": True, "z2": True, "z1_probs": True, "z2_probs": True, "seed": True}),
    ("recognizer", "encode_unseeded"): (True, {
        "z1": True, "z2": True, "z1_probs": True, "z2_probs": True, "seed": True}),
    ("recognizer", "encode"): (False, {
        "z1": True, "z2": True, "z1_probs": True, "z2_probs": True, "seed": False}),
}


def test_every_signature_is_listed(loaded):
    assert {(m, s) for m in loaded for s in loaded[m].signatures} == set(DIMENSION_ZERO)
    assert {(m, s) for m in modules.BATCHABLE for s in modules.BATCHABLE[m]} == set(
        DIMENSION_ZERO)


@pytest.mark.parametrize("model_name, signature", sorted(DIMENSION_ZERO))
def test_dimension_zero_of_every_output(loaded, model_name, signature):
    # Item 3: a signature can sit behind --enable_batching only when every
    # input and every output has the batch as dimension 0; BATCHABLE (and
    # export/README.md) says which do.
    inputs_batched, outputs = _dimension_zero(loaded, model_name, signature)
    assert (inputs_batched, outputs) == DIMENSION_ZERO[model_name, signature]
    assert modules.BATCHABLE[model_name][signature] == (
        inputs_batched and all(outputs.values()))


def test_batched_requests_answer_as_alone(loaded):
    # What TF Serving's batcher does: concatenate two requests along
    # dimension 0, run once, split the outputs. The deterministic outputs
    # equal those of the requests run alone (float32 sums, batch-size
    # dependent kernels: within 1e-6), and each row's draw of the default
    # encoder is `encode` of that row alone with that row's seed.
    recognizer = loaded["recognizer"].signatures
    a, b = _request("recognizer", "serving_default", 3), _request(
        "recognizer", "serving_default", 5)
    both = recognizer["serving_default"](x=tf.concat([a["x"], b["x"]], 0))
    alone = [recognizer["serving_default"](**a), recognizer["serving_default"](**b)]
    for name in ("z1_probs", "z2_probs"):
        np.testing.assert_allclose(both[name][:3], alone[0][name], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(both[name][3:], alone[1][name], rtol=1e-6, atol=1e-7)
    x = tf.concat([a["x"], b["x"]], 0)
    for i in range(8):
        one = recognizer["encode"](x=x[i:i + 1], seed=both["seed"][i])
        for name in ("z1", "z2"):
            np.testing.assert_array_equal(one[name][0], both[name][i])
    decode = loaded["generator"].signatures["decode"]
    a, b = _request("generator", "decode", 3), _request("generator", "decode", 5)
    joined = decode(**{k: tf.concat([a[k], b[k]], 0) for k in a})
    np.testing.assert_allclose(joined["x_probs"][3:], decode(**b)["x_probs"],
                               rtol=1e-6, atol=1e-7)


def test_batching_config_files_parse():
    # export/batching_parameters.txt and export/models_batching.config are
    # text protos; check the fields TF Serving reads (without its protos).
    folder = pathlib.Path(__file__).resolve().parents[1] / "export"
    text = (folder / "batching_parameters.txt").read_text()
    for field in ("max_batch_size", "batch_timeout_micros", "num_batch_threads",
                  "max_enqueued_batches"):
        assert f"{field} {{ value: " in text, field
    config = (folder / "models_batching.config").read_text()
    assert 'name: "recognizer"' in config and 'name: "generator"' not in config


# ------------------------------------------------------------ op list
def test_op_list_matches_the_checked_in_list(paths):
    # Item 4: the ops and attributes of each exported graph, as checked
    # against the TF Serving versions in export/README.md.
    found = {"tensorflow": tf.__version__,
             **{name: compat.op_inventory(path) for name, path in paths.items()}}
    if os.environ.get("TFHM_WRITE_SERVING_OPS") == "1":
        OPS_FIXTURE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    expected = json.loads(OPS_FIXTURE.read_text())
    assert expected["tensorflow"].startswith(compat.CHECKED_WITH_TF + ".")
    for name in ("generator", "recognizer"):
        added = {op: attrs for op, attrs in found[name].items()
                 if expected[name].get(op) != attrs}
        removed = sorted(set(expected[name]) - set(found[name]))
        assert not added and not removed, (
            f"{name}: ops or attributes changed (new or different: {added}; "
            f"gone: {removed}). Check them against the version floor in "
            "export/README.md, then rerun with TFHM_WRITE_SERVING_OPS=1.")


def test_no_attribute_newer_than_the_floor(paths):
    # Item 6: VarHandleOp's debug_name (TF >= 2.14/2.15) is stripped from
    # every node, graph and function library; the variables still load.
    for path in paths.values():
        assert "debug_name" not in compat.op_inventory(path)["VarHandleOp"]
    assert compat.OLDEST_SERVING == "2.11"


def test_newer_tensorflow_warns(model, tmp_path, monkeypatch):
    assert compat.newer_tf_warning(compat.CHECKED_WITH_TF + ".0") is None
    assert compat.newer_tf_warning("2.9.1") is None
    message = compat.newer_tf_warning("2.22.0-rc1")
    assert "TensorFlow 2.22.0-rc1, newer than 2.21" in message
    # export_model gives it (saving replaced: only the warning is tested).
    monkeypatch.setattr(tf, "__version__", "3.0.0")
    monkeypatch.setattr(writer, "_save_and_publish", lambda *a: None)
    with pytest.warns(UserWarning, match=r"TensorFlow 3.0.0, newer than 2.21"):
        export.export_model(model, tmp_path)


def test_overwrite_warns_only_for_the_newest_version(model, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "_save_and_publish", lambda *a: None)
    for name in ("generator", "recognizer"):
        for version in ("1", "2"):
            (tmp_path / name / version).mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an older version: no warning
        export.export_model(model, tmp_path, version=1, overwrite=True)
    with pytest.warns(UserWarning, match=r"newest version of 'generator'.*\(e.g. 3\)"):
        export.export_model(model, tmp_path, version=2, overwrite=True)


# --------------------------------------------------------- warm-up records
def _records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(
        str(pathlib.Path(path) / warmup.WARMUP_FILE))]


def test_warmup_records_cover_every_signature(paths, loaded):
    # Item 2: one record per signature (the generator's: a second with seed
    # [] where there is a seed), at most TF Serving's 1,000, small, and the
    # same bytes as the exporter's fixed requests: deterministic. The
    # recognizer's pass a batching server: all inputs share dimension 0.
    for name, path in paths.items():
        records = _records(path)
        expected = [warmup.predict_log(name, signature, inputs) for signature, inputs
                    in warmup.requests(name, DATA_DIM, LATENT_DIMS)]
        assert records == expected
        assert len(records) == {"generator": 9, "recognizer": 3}[name] <= 1000
        assert sum(map(len, records)) < 4096
        signatures = {s for s, _ in warmup.requests(name, DATA_DIM, LATENT_DIMS)}
        assert signatures == set(loaded[name].signatures)
    for _, inputs in warmup.requests("recognizer", DATA_DIM, LATENT_DIMS):
        assert len({value.shape[0] for value in inputs.values()}) == 1


def test_warmup_records_are_prediction_logs(paths):
    # Byte for byte what tensorflow-serving-api's protos serialize.
    prediction_log_pb2 = pytest.importorskip(
        "tensorflow_serving.apis.prediction_log_pb2",
        reason="the optional `serve` extra (tensorflow-serving-api) is not installed")
    for name, path in paths.items():
        for record, (signature, inputs) in zip(
                _records(path), warmup.requests(name, DATA_DIM, LATENT_DIMS)):
            log = prediction_log_pb2.PredictionLog.FromString(record)
            assert log.WhichOneof("log_type") == "predict_log"
            request = log.predict_log.request
            assert (request.model_spec.name, request.model_spec.signature_name) == (
                name, signature)
            ref = prediction_log_pb2.PredictionLog()
            ref.predict_log.request.model_spec.name = name
            ref.predict_log.request.model_spec.signature_name = signature
            for key, value in inputs.items():
                ref.predict_log.request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            assert ref.SerializeToString(deterministic=True) == record


_REPLAY = textwrap.dedent("""
    import json, sys
    for name in ("keras", "tf_keras", "tensorflow_probability", "tfhm"):
        sys.modules[name] = None  # any import of these now fails
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    report = {}
    for path in sys.argv[1:]:
        model = tf.saved_model.load(path)
        records = tf.data.TFRecordDataset(path + "/assets.extra/tf_serving_warmup_requests")
        for i, record in enumerate(records):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            request = log.predict_log.request
            key = request.model_spec.signature_name
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            outputs = model.signatures[key](**inputs)
            report[f"{request.model_spec.name}/{i}/{key}"] = {
                k: list(v.shape) for k, v in outputs.items()}
    print(json.dumps(report))
""")


def test_warmup_records_replay_in_a_tensorflow_only_process(paths, tmp_path):
    pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2",
                        reason="the optional `serve` extra is not installed")
    script = tmp_path / "replay.py"
    script.write_text(_REPLAY)
    result = subprocess.run(
        [sys.executable, str(script), paths["generator"], paths["recognizer"]],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report) == 12  # 9 generator records, 3 recognizer records
    d = DATA_DIM
    assert report["generator/0/serving_default"]["x"] == [1, d]
    assert report["generator/3/inpaint"] == {
        "x": [1, 1, d], "log_likelihood_observed": [1], "seed": [2]}
    assert report["generator/8/decode"] == {"x_probs": [1, d], "z1_probs": [1, 4]}
    assert report["recognizer/0/serving_default"]["seed"] == [1, 2]
    assert report["recognizer/2/encode"]["seed"] == [2]
    assert report["recognizer/2/encode"]["z1"] == [2, 4]


# ------------------------------------------------------- response budget
def _response_bytes(outputs, as_field):
    """Bytes of a PredictResponse with `outputs` ({name: array}).

    `as_field` fills `float_val`/`int_val` as TF Serving does by default
    (packed repeated fields); otherwise `tensor_content`.
    """
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    response = predict_pb2.PredictResponse()
    response.model_spec.name, response.model_spec.signature_name = "generator", "sample"
    for name, value in outputs.items():
        proto = response.outputs[name]
        proto.CopyFrom(tf.make_tensor_proto(value))
        if as_field:
            proto.ClearField("tensor_content")
            field = proto.float_val if value.dtype == np.float32 else proto.int_val
            field.extend(value.ravel().tolist())
    return response.ByteSize()


@pytest.mark.parametrize("as_field", [True, False])
def test_default_limits_fit_a_4_mib_response(as_field):
    # Item 5, on the issue's MNIST model (784 pixels, SBN 200-200-200): the
    # default limits' largest responses fit gRPC's 4 MiB, one more sample or
    # row of the largest message does not fit 4 MiB less the framing margin.
    dims, d = (200, 200, 200), 784
    sized = export.default_limits(d, dims)
    n, rows = sized["max_num_samples"], sized["max_rows"]
    sample = {"x": np.ones([n, d], np.float32), "x_probs": np.ones([n, d], np.float32),
              "seed": np.ones([2], np.int32),
              **{f"z{l + 1}": np.ones([n, k], np.float32) for l, k in enumerate(dims)}}
    encode = {"seed": np.ones([rows, 2], np.int32),
              **{f"z{l + 1}{s}": np.ones([rows, k], np.float32)
                 for l, k in enumerate(dims) for s in ("", "_probs")}}
    decode = {"x_probs": np.ones([rows, d], np.float32),
              **{f"z{l + 1}_probs": np.ones([rows, k], np.float32)
                 for l, k in enumerate(dims[:-1])}}
    budget = export.RESPONSE_BUDGET_BYTES
    for outputs in (sample, encode, decode):
        assert _response_bytes(outputs, as_field) <= budget
    per_sample = limits.message_bytes(d, dims)["sample"]
    assert (n + 1) * per_sample > budget - limits.FRAMING_BYTES
