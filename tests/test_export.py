"""Tests of tfhm.export: SavedModels for TF Serving, checked against the model.

The exported graphs are loaded back (in this process and in fresh processes
that cannot import tfhm, Keras or TensorFlow Probability) and their
deterministic endpoints compared with the in-memory model; seeded draws must
equal the in-memory draws bit for bit.
"""

import concurrent.futures
import importlib.util
import os
import pathlib
import runpy
import shutil
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import tfhm
from tfhm import evaluation, export, objectives

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA_DIM, LATENT_DIMS = 64, (5, 3)  # the model of the `hm` fixture in tests/conftest.py
SAVED_MODEL_CLI = shutil.which("saved_model_cli") or str(
    pathlib.Path(sys.executable).with_name("saved_model_cli"))


@pytest.fixture(scope="module")
def exported(hm, tmp_path_factory):
    """The model exported from a training run folder (RUN/model.keras)."""
    run = tmp_path_factory.mktemp("run")
    hm.save(run / "model.keras")
    # The exporting process has a global seed, as training scripts often do:
    # the served graph's fresh seeds must not inherit it.
    keras.utils.set_random_seed(0)
    return export.export_model(run, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def served(exported):
    """Both SavedModels loaded in this process."""
    return {name: tf.saved_model.load(path) for name, path in exported.items()}


@pytest.fixture(scope="module")
def x():
    x, _ = tfhm.datasets.load_digits()
    return tf.constant(x[200:230])  # [30, 64]


def _no_seed():
    return tf.constant([], tf.int32)


def _mask(shape):
    """A fixed inpainting mask: left half, top half, all, none, then random."""
    rows, cols = shape
    pattern = np.random.default_rng(15).random(shape) < 0.5
    pattern[0] = np.arange(cols) % 8 < 4  # left half of each 8x8 digit
    pattern[1] = np.arange(cols) < cols // 2  # top half
    pattern[2], pattern[3] = False, True  # all missing, nothing missing
    return tf.constant(pattern, tf.float32)


# The default limits of the fixture's model (64 pixels, latents 5 and 3),
# sized from the 4 MiB gRPC budget less 16 KiB of framing, 4 bytes a value:
# a sample is x, x_probs (64 each) and z (8): 544 bytes, 4,177,920 // 544 =
# 7680; a row's largest message is inpaint's x and mask (128 values): 512
# bytes, 8160 rows.
MAX_NUM_SAMPLES, MAX_ROWS = 7680, 8160


# ------------------------------------------------------------- layout, CLI
def test_layout_and_signatures(hm, exported, served):
    base = pathlib.Path(exported["generator"]).parents[1]
    assert exported == {"generator": str(base / "generator" / "1"),
                        "recognizer": str(base / "recognizer" / "1")}
    assert sorted(p.name for p in base.iterdir()) == ["generator", "recognizer"]
    for name in ("generator", "recognizer"):  # no temporary folder left over
        assert [p.name for p in (base / name).iterdir()] == ["1"]
        # Readable by a server that runs as another user.
        assert (base / name / "1").stat().st_mode & 0o777 == 0o755
    assert sorted(served["generator"].signatures) == [
        "decode", "inpaint", "log_likelihood", "sample", "serving_default"]
    assert sorted(served["recognizer"].signatures) == [
        "encode", "encode_unseeded", "serving_default"]
    sample = served["generator"].signatures["serving_default"]
    assert {k: (v.shape.as_list(), v.dtype) for k, v in
            sample.structured_input_signature[1].items()} == {
        "num_samples": ([], tf.int32), "seed": ([None], tf.int32)}
    # Every draw reports the seed it used (issue 15 item 5).
    assert sorted(sample.structured_outputs) == ["seed", "x", "x_probs", "z1", "z2"]
    decode = served["generator"].signatures["decode"]
    assert sorted(decode.structured_input_signature[1]) == ["z1", "z2"]
    assert sorted(decode.structured_outputs) == ["x_probs", "z1_probs"]
    inpaint = served["generator"].signatures["inpaint"]
    assert {k: (v.shape.as_list(), v.dtype) for k, v in
            inpaint.structured_input_signature[1].items()} == {
        "x": ([None, None], tf.float32), "mask": ([None, None], tf.float32),
        "num_samples": ([], tf.int32), "num_proposals": ([], tf.int32),
        "seed": ([None], tf.int32)}
    assert sorted(inpaint.structured_outputs) == [
        "log_likelihood_observed", "seed", "x"]
    # The recognizer's default is the batchable encoder: x in, rows out.
    default = served["recognizer"].signatures["serving_default"]
    assert list(default.structured_input_signature[1]) == ["x"]
    assert sorted(default.structured_outputs) == [
        "seed", "z1", "z1_probs", "z2", "z2_probs"]
    encode = served["recognizer"].signatures["encode"]
    assert sorted(encode.structured_input_signature[1]) == ["seed", "x"]
    assert sorted(encode.structured_outputs) == [
        "seed", "z1", "z1_probs", "z2", "z2_probs"]
    # The generator holds both networks' weights (q is log_likelihood's
    # proposal), the recognizer only its own: nothing stored twice.
    assert len(served["generator"].weights) == (len(hm.generator.weights)
                                                + len(hm.recognizer.weights))
    assert len(served["recognizer"].weights) == 8  # 2 layers x 2 Dense x (W, b)


# ------------------------------------------ acceptance 1: a fresh process
_FRESH_PROCESS = textwrap.dedent("""
    import sys
    for name in ("keras", "tf_keras", "tensorflow_probability", "tfhm"):
        sys.modules[name] = None  # any import of these now fails
    import numpy as np
    import tensorflow as tf

    generator_dir, recognizer_dir, inputs_path, out_path = sys.argv[1:]
    inputs = np.load(inputs_path)
    generator = tf.saved_model.load(generator_dir)
    recognizer = tf.saved_model.load(recognizer_dir)
    sample = generator.signatures["serving_default"]
    encode = recognizer.signatures["encode"]
    seed = tf.constant([3, 4])
    no_seed = tf.constant([], tf.int32)
    x = tf.constant(inputs["x"])
    mask = tf.constant(inputs["mask"])
    calls = {
        "sample": sample(num_samples=tf.constant(20), seed=seed),
        "fresh_a": sample(num_samples=tf.constant(20), seed=no_seed),
        "fresh_b": sample(num_samples=tf.constant(20), seed=no_seed),
        "decode": generator.signatures["decode"](
            z1=tf.constant(inputs["z1"]), z2=tf.constant(inputs["z2"])),
        "log_likelihood": generator.signatures["log_likelihood"](
            x=x, num_samples=tf.constant(7), seed=seed),
        "encode": encode(x=x, seed=seed),
        "encode_fresh_a": encode(x=x, seed=no_seed),
        "encode_fresh_b": recognizer.signatures["encode_unseeded"](x=x),
        "rows": recognizer.signatures["serving_default"](x=x),
        "inpaint": generator.signatures["inpaint"](
            x=x, mask=mask, num_samples=tf.constant(3),
            num_proposals=tf.constant(5), seed=seed),
    }
    # A fresh draw replayed with the seed it reported (item 5).
    calls["replay"] = sample(num_samples=tf.constant(20),
                             seed=calls["fresh_a"]["seed"])
    calls["replay_rows"] = {
        f"z1_{i}": encode(x=x[i:i + 1], seed=calls["rows"]["seed"][i])["z1"]
        for i in range(4)}
    np.savez(out_path, **{f"{call}/{key}": value.numpy()
                          for call, outputs in calls.items()
                          for key, value in outputs.items()})
""")


@pytest.fixture(scope="module")
def fresh_runs(hm, exported, x, tmp_path_factory):
    """The script above run in two fresh processes at once."""
    folder = tmp_path_factory.mktemp("fresh")
    ref = hm.generator.sample(20, tf.constant([3, 4]))
    np.savez(folder / "inputs.npz", x=x.numpy(), z1=ref["z"][0].numpy(),
             z2=ref["z"][1].numpy(), mask=_mask(x.shape).numpy())
    (folder / "script.py").write_text(_FRESH_PROCESS)
    procs = [subprocess.Popen(
        [sys.executable, str(folder / "script.py"), exported["generator"],
         exported["recognizer"], str(folder / "inputs.npz"),
         str(folder / f"out{i}.npz")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)]
    for proc in procs:
        log = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, log[-3000:]
    return [dict(np.load(folder / f"out{i}.npz")) for i in range(2)]


def test_fresh_process_deterministic_endpoints_match(hm, fresh_runs, x):
    out = fresh_runs[0]
    ref = hm.generator.sample(20, tf.constant([3, 4]))
    z1, z2 = ref["z"]
    # decode: p(x = 1 | z_1) = Generator.call, p(z_1 = 1 | z_2).
    np.testing.assert_allclose(out["decode/x_probs"], hm.generator(z1).numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        out["decode/z1_probs"],
        tf.sigmoid(hm.generator.conditionals[1].compute_logits(z2)).numpy(),
        rtol=1e-6, atol=1e-7)
    # decode of a sample's latents gives back that sample's x_probs.
    np.testing.assert_allclose(out["decode/x_probs"], ref["x_probs"].numpy(),
                               rtol=1e-6, atol=1e-7)
    # encode: the means of Recognizer.call (the mean-field bottom-up pass).
    for l, mean in enumerate(hm.recognizer(x)):
        np.testing.assert_allclose(out[f"encode/z{l + 1}_probs"], mean.numpy(),
                                   rtol=1e-6, atol=1e-7)
    # log_likelihood: log mean_k w_k with the same K = 7 draws of q.
    log_w = objectives.log_importance_weights(
        hm.generator, hm.recognizer, x, 7, tf.constant([3, 4]))[0]
    np.testing.assert_allclose(out["log_likelihood/log_likelihood"],
                               evaluation.log_mean_exp(log_w, axis=0).numpy(),
                               rtol=1e-5)
    assert out["log_likelihood/log_likelihood"].shape == (30,)


def test_fresh_process_seeded_draws_equal_in_memory(hm, fresh_runs, x):
    for out in fresh_runs:
        ref = hm.generator.sample(20, tf.constant([3, 4]))
        np.testing.assert_array_equal(out["sample/x"], ref["x"].numpy())
        np.testing.assert_array_equal(out["sample/z1"], ref["z"][0].numpy())
        np.testing.assert_array_equal(out["sample/z2"], ref["z"][1].numpy())
        np.testing.assert_allclose(out["sample/x_probs"], ref["x_probs"].numpy(),
                                   rtol=1e-6, atol=1e-7)
        latents, _ = hm.recognizer.sample(x, 1, tf.constant([3, 4]))
        for l, z in enumerate(latents):
            np.testing.assert_array_equal(out[f"encode/z{l + 1}"], z[0].numpy())
        assert set(np.unique(out["sample/x"])) <= {0.0, 1.0}


def test_fresh_process_unseeded_draws_differ(fresh_runs):
    # 20 x 64 pixels: two independent draws agree everywhere with a
    # vanishing probability, so "differ" cannot fail by chance.
    a, b = fresh_runs
    for key in ("x", "z1"):
        assert not np.array_equal(a[f"fresh_a/{key}"], a[f"fresh_b/{key}"])
        # Two freshly loaded servers do not replay one stream.
        assert not np.array_equal(a[f"fresh_a/{key}"], b[f"fresh_a/{key}"])
    assert not np.array_equal(a["encode_fresh_a/z1"], a["encode_fresh_b/z1"])
    assert not np.array_equal(a["encode_fresh_a/z1"], b["encode_fresh_a/z1"])
    # Unseeded encodes still return the deterministic means.
    np.testing.assert_array_equal(a["encode_fresh_a/z1_probs"],
                                  a["encode/z1_probs"])


def test_fresh_process_draws_report_their_seeds(fresh_runs):
    # Item 5: every fresh draw returns the seed it used, and that seed
    # replays it; a given seed comes back as it was sent.
    out = fresh_runs[0]
    assert out["fresh_a/seed"].shape == (2,) and out["fresh_a/seed"].dtype == np.int32
    np.testing.assert_array_equal(out["replay/x"], out["fresh_a/x"])
    np.testing.assert_array_equal(out["replay/z2"], out["fresh_a/z2"])
    for call in ("sample", "log_likelihood", "encode", "inpaint"):
        assert out[f"{call}/seed"].tolist() == [3, 4], call
    assert not np.array_equal(out["fresh_a/seed"], fresh_runs[1]["fresh_a/seed"])


def test_fresh_process_default_encoder_takes_rows(fresh_runs):
    # Item 5: the recognizer's serving_default takes rows only (x), returns
    # the deterministic means and one seed per row, and each row's draw is
    # `encode` of that row alone with that row's seed, bit for bit.
    out = fresh_runs[0]
    np.testing.assert_array_equal(out["rows/z1_probs"], out["encode/z1_probs"])
    np.testing.assert_array_equal(out["rows/z2_probs"], out["encode/z2_probs"])
    assert out["rows/seed"].shape == (30, 2) and out["rows/z1"].shape == (30, 5)
    assert len({tuple(s) for s in out["rows/seed"]}) == 30  # a seed per row
    for i in range(4):
        np.testing.assert_array_equal(out[f"replay_rows/z1_{i}"][0], out["rows/z1"][i])


def test_fresh_process_inpaint_matches_in_process(hm, fresh_runs, x):
    # Item 1 (served part): the inpaint signature, run by TensorFlow alone,
    # gives tfhm.inpainting's completions and log p(x_obs) for the same seed;
    # so the served distribution is the one tests/test_inpainting.py checks
    # against exact enumeration.
    mask, seed = _mask(x.shape), tf.constant([3, 4])
    ref = tfhm.inpainting.inpaint(hm.generator, hm.recognizer, x, mask, 3, 5, seed)
    log_p = tfhm.inpainting.log_likelihood_observed(
        hm.generator, hm.recognizer, x, mask, 5, seed)
    for out in fresh_runs:
        np.testing.assert_array_equal(out["inpaint/x"], ref.numpy())
        # Same ops and inputs; float32 sums may be regrouped by the graph
        # optimizer: agreement to ~1e-6 of a few tens of nats.
        np.testing.assert_allclose(out["inpaint/log_likelihood_observed"],
                                   log_p.numpy(), rtol=1e-5, atol=1e-5)
    completions = fresh_runs[0]["inpaint/x"]  # [3, 30, 64]
    observed = mask.numpy().astype(bool)
    assert (completions[:, observed] == np.broadcast_to(
        x.numpy(), completions.shape)[:, observed]).all()
    np.testing.assert_array_equal(completions[:, 3], np.broadcast_to(x[3], (3, 64)))
    assert fresh_runs[0]["inpaint/log_likelihood_observed"][2] == 0.0  # nothing observed


def test_seed_default_can_be_left_out(served):
    # The saved default seed ([]) is used when a caller leaves `seed` out.
    out = served["generator"].sample(tf.constant(3))
    assert out["x"].shape == (3, DATA_DIM)


# ---------------------------------------- acceptance 2: saved_model_cli
def _run_all(commands, timeout=300):
    """Runs commands two at a time (two CPU cores); returns their results."""
    def run(command):
        return subprocess.run(command, capture_output=True, text=True,
                              timeout=timeout,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(run, commands))


def test_saved_model_cli_show_all(exported):
    gen, rec = _run_all([[SAVED_MODEL_CLI, "show", "--dir", exported[name],
                          "--all"] for name in ("generator", "recognizer")])
    assert gen.returncode == 0 and rec.returncode == 0, gen.stderr + rec.stderr
    for key in ("serving_default", "sample", "decode", "log_likelihood"):
        assert f"signature_def['{key}']" in gen.stdout
    for key in ("serving_default", "encode", "encode_unseeded"):
        assert f"signature_def['{key}']" in rec.stdout
    default = gen.stdout.split("signature_def['serving_default']")[1]
    default = default.split("signature_def[")[0]
    assert "inputs['num_samples'] tensor_info:\n        dtype: DT_INT32\n" \
           "        shape: ()" in default
    assert "inputs['seed'] tensor_info:\n        dtype: DT_INT32\n" \
           "        shape: (-1)" in default
    for name in ("x", "x_probs", "z1", "z2"):
        assert (f"outputs['{name}'] tensor_info:\n        dtype: DT_FLOAT\n"
                "        shape: (-1, ") in default
    assert "inputs['x'] tensor_info:\n        dtype: DT_FLOAT\n" \
           "        shape: (-1, -1)" in rec.stdout


CLI_RUNS = [
    ("generator", "serving_default", "num_samples=4;seed=[1,2]",
     {"x": (4, DATA_DIM), "z2": (4, 3), "seed": (2,)}),
    ("generator", "sample", "num_samples=2;seed=[]", {"x_probs": (2, DATA_DIM)}),
    ("generator", "decode", "z1=[[0,1,0,1,1]];z2=[[1,0,1]]",
     {"x_probs": (1, DATA_DIM), "z1_probs": (1, 5)}),
    ("generator", "log_likelihood",
     f"x={[[0] * DATA_DIM, [1] * DATA_DIM]};num_samples=5;seed=[]",
     {"log_likelihood": (2,)}),
    ("generator", "inpaint",
     f"x={[[1] * DATA_DIM] * 2};mask={[[1, 0] * (DATA_DIM // 2)] * 2};"
     "num_samples=3;num_proposals=4;seed=[]",
     {"x": (3, 2, DATA_DIM), "log_likelihood_observed": (2,), "seed": (2,)}),
    ("recognizer", "serving_default", f"x={[[1] * DATA_DIM] * 3}",
     {"z1_probs": (3, 5), "z2": (3, 3), "seed": (3, 2)}),
    ("recognizer", "encode", f"x={[[0] * DATA_DIM]};seed=[7,7]",
     {"z1": (1, 5), "seed": (2,)}),
    ("recognizer", "encode_unseeded", f"x={[[0] * DATA_DIM]}", {"z2_probs": (1, 3)}),
]


@pytest.mark.slow
def test_saved_model_cli_run_every_signature(exported, tmp_path):
    # saved_model_cli runs a TF1 session on the graph, as TF Serving does.
    commands = [[SAVED_MODEL_CLI, "run", "--dir", exported[model], "--tag_set",
                 "serve", "--signature_def", key, "--input_exprs", exprs,
                 "--outdir", str(tmp_path / f"{model}-{key}")]
                for model, key, exprs, _ in CLI_RUNS]
    # A bad request fails in the session too, with the graph's message.
    commands.append([SAVED_MODEL_CLI, "run", "--dir", exported["generator"],
                     "--tag_set", "serve", "--signature_def", "serving_default",
                     "--input_exprs", f"num_samples={MAX_NUM_SAMPLES + 1};seed=[]"])
    results = _run_all(commands)
    for (model, key, _, shapes), result in zip(CLI_RUNS, results):
        assert result.returncode == 0, (model, key, result.stderr[-3000:])
        for name, shape in shapes.items():
            value = np.load(tmp_path / f"{model}-{key}" / f"{name}.npy")
            assert value.shape == shape, (model, key, name)
    bad = results[-1]
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr
    assert f"at most max_num_samples = {MAX_NUM_SAMPLES}" in bad.stderr


# ------------------------------------------ acceptance 3: bad requests
def _generator_call(served, key, **inputs):
    return served["generator"].signatures[key](**inputs)


def _recognizer_call(served, key, **inputs):
    return served["recognizer"].signatures[key](**inputs)


X_ONES = tf.ones([2, DATA_DIM])
BAD_REQUESTS = [
    # (model, signature, inputs, message)
    ("generator", "serving_default",
     dict(num_samples=tf.constant(0), seed=tf.constant([], tf.int32)),
     r"`num_samples` must be at least 1. Received: num_samples =\] \[0\]"),
    ("generator", "serving_default",
     dict(num_samples=tf.constant(-5), seed=tf.constant([1, 2])),
     r"at least 1.*\[-5\]"),
    ("generator", "serving_default",
     dict(num_samples=tf.constant(MAX_NUM_SAMPLES + 1), seed=tf.constant([1, 2])),
     r"`num_samples` must be at most max_num_samples = 7680 \(the limit "
     r"fixed at export\). Received:\] \[7681\]"),
    # 2**31 - 1 samples would need terabytes: refused before allocating.
    ("generator", "serving_default",
     dict(num_samples=tf.constant(2**31 - 1), seed=tf.constant([1, 2])),
     r"at most max_num_samples = 7680.*\[2147483647\]"),
    ("generator", "serving_default",
     dict(num_samples=tf.constant(3), seed=tf.constant([1, 2, 3])),
     r"`seed` must be an int32 vector of shape \[2\] .*or \[\] .*Received: "
     r"seed of shape\] \[3\]"),
    ("generator", "serving_default",
     dict(num_samples=tf.constant(3), seed=tf.constant([5])),
     r"`seed` must be .*shape\] \[1\]"),
    ("generator", "decode",
     dict(z1=tf.ones([2, 4]), z2=tf.ones([2, 3])),
     r"`z1` must have shape \[batch, 5\]. Received: z1 of shape\] \[2 4\]"),
    ("generator", "decode",
     dict(z1=tf.fill([2, 5], 0.5), z2=tf.ones([2, 3])),
     r"`z1` must contain only the values 0 and 1. Received\] \[10\] .*"
     r"\[\[0 0\]\] \[is\] \[0.5\]"),
    ("generator", "log_likelihood",
     dict(x=tf.ones([2, DATA_DIM - 1]), num_samples=tf.constant(3),
          seed=tf.constant([1, 2])),
     r"`x` must have shape \[batch, 64\]. Received: x of shape\] \[2 63\]"),
    ("generator", "log_likelihood",
     dict(x=X_ONES, num_samples=tf.constant(3841), seed=tf.constant([1, 2])),
     r"`num_samples` \* batch size must be at most max_num_samples = 7680.*"
     r"\[7682\]"),
    ("generator", "log_likelihood",
     dict(x=X_ONES, num_samples=tf.constant(0), seed=tf.constant([1, 2])),
     r"at least 1"),
    ("generator", "log_likelihood",
     dict(x=X_ONES, num_samples=tf.constant(3), seed=tf.constant([1, 2, 3, 4])),
     r"`seed` must be .*\[4\]"),
    ("recognizer", "encode",
     dict(x=tf.ones([3, 10]), seed=tf.constant([1, 2])),
     r"`x` must have shape \[batch, 64\]. Received: x of shape\] \[3 10\]"),
    ("recognizer", "encode",
     dict(x=tf.ones([3, DATA_DIM]) * 2.0, seed=tf.constant([1, 2])),
     r"`x` must contain only the values 0 and 1. Received\] \[192\] .*\[is\] \[2\]"),
    ("recognizer", "encode",
     dict(x=tf.concat([tf.ones([1, DATA_DIM]),
                       tf.fill([1, DATA_DIM], float("nan"))], 0),
          seed=tf.constant([1, 2])),
     r"only the values 0 and 1. Received\] \[64\] .*\[\[1 0\]\] \[is\] \[nan\]"),
    ("recognizer", "encode",
     dict(x=X_ONES, seed=tf.constant([1, 2, 3])),
     r"`seed` must be .*\[3\]"),
    ("recognizer", "encode_unseeded", dict(x=tf.ones([1, 65])),
     r"`x` must have shape \[batch, 64\]"),
    ("recognizer", "encode_unseeded", dict(x=tf.fill([1, DATA_DIM], -1.0)),
     r"only the values 0 and 1.*\[is\] \[-1\]"),
    # The default (rows-only) encoder checks its rows the same way.
    ("recognizer", "serving_default", dict(x=tf.ones([3, 10])),
     r"`x` must have shape \[batch, 64\]. Received: x of shape\] \[3 10\]"),
    ("recognizer", "serving_default", dict(x=tf.fill([2, DATA_DIM], 0.5)),
     r"only the values 0 and 1. Received\] \[128\] .*\[is\] \[0.5\]"),
    # Row caps (item 5): one row over the default limit, refused first.
    ("generator", "decode",
     dict(z1=tf.ones([MAX_ROWS + 1, 5]), z2=tf.ones([MAX_ROWS + 1, 3])),
     r"`z1` must have at most max_rows = 8160 rows \(the limit fixed at "
     r"export\). Received: z1 with\] \[8161\] \[rows\]"),
    ("recognizer", "encode",
     dict(x=tf.ones([MAX_ROWS + 1, DATA_DIM]), seed=tf.constant([1, 2])),
     r"`x` must have at most max_rows = 8160 rows.*\[8161\]"),
    ("recognizer", "serving_default", dict(x=tf.ones([MAX_ROWS + 1, DATA_DIM])),
     r"`x` must have at most max_rows = 8160 rows.*\[8161\]"),
    ("generator", "inpaint",
     dict(x=tf.ones([MAX_ROWS + 1, DATA_DIM]), mask=tf.ones([MAX_ROWS + 1, DATA_DIM]),
          num_samples=tf.constant(1), num_proposals=tf.constant(1),
          seed=tf.constant([1, 2])),
     r"`x` must have at most max_rows = 8160 rows.*\[8161\]"),
    # inpaint's request checks (item 1): shapes, 0/1 values, counts, seed.
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.ones([2, DATA_DIM - 1]), num_samples=tf.constant(2),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2])),
     r"`mask` must have shape \[batch, 64\]. Received: mask of shape\] \[2 63\]"),
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.ones([3, DATA_DIM]), num_samples=tf.constant(2),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2])),
     r"`mask` must have the shape of `x`.*\[3\] \[rows and x with\] \[2\]"),
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.fill([2, DATA_DIM], 0.5), num_samples=tf.constant(2),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2])),
     r"`mask` must contain only the values 0 and 1. Received\] \[128\]"),
    ("generator", "inpaint",
     dict(x=X_ONES * 3.0, mask=tf.ones([2, DATA_DIM]), num_samples=tf.constant(2),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2])),
     r"`x` must contain only the values 0 and 1.*\[is\] \[3\]"),
    ("generator", "inpaint",
     dict(x=tf.ones([2, 10]), mask=tf.ones([2, 10]), num_samples=tf.constant(2),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2])),
     r"`x` must have shape \[batch, 64\]"),
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.ones([2, DATA_DIM]), num_samples=tf.constant(3841),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2])),
     r"`num_samples` \* batch size must be at most max_num_samples = 7680.*\[7682\]"),
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.ones([2, DATA_DIM]), num_samples=tf.constant(2),
          num_proposals=tf.constant(0), seed=tf.constant([1, 2])),
     r"`num_proposals` must be at least 1. Received: num_proposals =\] \[0\]"),
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.ones([2, DATA_DIM]), num_samples=tf.constant(2),
          num_proposals=tf.constant(3841), seed=tf.constant([1, 2])),
     r"`num_proposals` \* batch size must be at most max_num_samples = 7680"),
    ("generator", "inpaint",
     dict(x=X_ONES, mask=tf.ones([2, DATA_DIM]), num_samples=tf.constant(2),
          num_proposals=tf.constant(2), seed=tf.constant([1, 2, 3])),
     r"`seed` must be .*\[3\]"),
]


@pytest.mark.parametrize("model, key, inputs, message", BAD_REQUESTS)
def test_bad_request_fails_and_server_keeps_answering(hm, served, model, key,
                                                      inputs, message):
    signature = served[model].signatures[key]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signature(**inputs)
    # The loaded model answers the next good request, correctly.
    if model == "generator":
        out = served["generator"].signatures["serving_default"](
            num_samples=tf.constant(4), seed=tf.constant([8, 9]))
        np.testing.assert_array_equal(
            out["x"].numpy(),
            hm.generator.sample(4, tf.constant([8, 9]))["x"].numpy())
    else:
        out = served["recognizer"].signatures["encode"](
            x=X_ONES, seed=tf.constant([8, 9]))
        np.testing.assert_allclose(out["z1_probs"].numpy(),
                                   hm.recognizer(X_ONES)[0].numpy(), rtol=1e-6)


def test_default_limits_fit_the_grpc_budget():
    # Item 5: the defaults are sized from a 4 MiB response (numbers above).
    assert export.RESPONSE_BUDGET_BYTES == 4 * 1024 * 1024
    assert export.default_limits(DATA_DIM, LATENT_DIMS) == {
        "max_num_samples": MAX_NUM_SAMPLES, "max_rows": MAX_ROWS}
    # The SBN 200-200-200 on MNIST of the issue: 8,672 bytes a sample, so
    # 481 samples (87 MB at the old 10,000); 666 rows (inpaint's x and mask).
    assert export.default_limits(784, (200, 200, 200)) == {
        "max_num_samples": 481, "max_rows": 666}


def test_limits_are_fixed_at_export(hm, tmp_path, served):
    paths = export.export_model(hm, tmp_path, max_num_samples=50, max_rows=3)
    generator = tf.saved_model.load(paths["generator"])
    recognizer = tf.saved_model.load(paths["recognizer"])
    sample = generator.signatures["serving_default"]
    assert sample(num_samples=tf.constant(50), seed=_no_seed())["x"].shape == (50, 64)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"at most max_num_samples = 50 .*\[51\]"):
        sample(num_samples=tf.constant(51), seed=_no_seed())
    # Each row cap: 3 rows pass, 4 are refused (item 5).
    calls = {
        "decode": lambda n: generator.signatures["decode"](
            z1=tf.ones([n, 5]), z2=tf.ones([n, 3])),
        "encode": lambda n: recognizer.signatures["encode"](
            x=tf.ones([n, DATA_DIM]), seed=_no_seed()),
        "serving_default": lambda n: recognizer.signatures["serving_default"](
            x=tf.ones([n, DATA_DIM])),
        "inpaint": lambda n: generator.signatures["inpaint"](
            x=tf.ones([n, DATA_DIM]), mask=tf.ones([n, DATA_DIM]),
            num_samples=tf.constant(2), num_proposals=tf.constant(2),
            seed=_no_seed()),
    }
    for name, call in calls.items():
        assert all(v.shape[0] in (3, 2) for v in call(3).values()), name
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"at most max_rows = 3 rows.*\[4\] \[rows\]"):
            call(4)


# ------------------------------------ acceptance 4: atomic, no overwrite
def _numeric_folders(base):
    return sorted(str(p.relative_to(base)) for p in pathlib.Path(base).glob("*/*")
                  if p.name.isdigit())


@pytest.mark.parametrize("fail_on", [1, 2])
def test_crash_during_export_leaves_no_version_folder(hm, tmp_path,
                                                      monkeypatch, fail_on):
    # fail_on=1: the generator's save dies half-way; 2: the generator's
    # SavedModel is complete and the recognizer's save dies.
    real_save = tf.saved_model.save
    calls = []

    def crashing_save(obj, export_dir, **kwargs):
        calls.append(export_dir)
        if len(calls) == fail_on:
            (pathlib.Path(export_dir) / "saved_model.pb").write_bytes(b"half")
            raise OSError("disk full (simulated)")
        return real_save(obj, export_dir, **kwargs)

    monkeypatch.setattr(tf.saved_model, "save", crashing_save)
    with pytest.raises(OSError, match="simulated"):
        export.export_model(hm, tmp_path, version=3)
    assert _numeric_folders(tmp_path) == []
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # cleaned up
    monkeypatch.setattr(tf.saved_model, "save", real_save)
    export.export_model(hm, tmp_path, version=3)  # a retry works
    assert _numeric_folders(tmp_path) == ["generator/3", "recognizer/3"]


_KILLED_EXPORT = textwrap.dedent("""
    import os, pathlib, signal, sys
    import keras, tensorflow as tf
    import tfhm
    from tfhm import export

    def killed_save(obj, export_dir, **kwargs):
        (pathlib.Path(export_dir) / "saved_model.pb").write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup code can run

    tf.saved_model.save = killed_save
    export.export_model(keras.models.load_model(sys.argv[1]), sys.argv[2])
""")


def test_killed_export_leaves_no_version_folder(hm, tmp_path):
    hm.save(tmp_path / "model.keras")
    (tmp_path / "script.py").write_text(_KILLED_EXPORT)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "script.py"),
         str(tmp_path / "model.keras"), str(tmp_path / "served")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert _numeric_folders(tmp_path / "served") == []
    # Only a hidden temporary folder is left, a name TF Serving ignores.
    leftovers = [p.name for p in (tmp_path / "served" / "generator").iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-1-")
    export.export_model(hm, tmp_path / "served")  # the next export works
    assert _numeric_folders(tmp_path / "served") == ["generator/1", "recognizer/1"]


def test_existing_version_is_kept_unless_overwrite(hm, tmp_path):
    first = export.export_model(hm, tmp_path, version=2)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match=r"recognizer/2 already exists|"
                                              r"generator/2 already exists"):
        export.export_model(hm, tmp_path, version=2)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    # overwrite=True replaces the version with the new weights.
    other = tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, hidden_units=(8,), seed=5)
    # Item 7: replacing the newest version warns (a server keeps the old
    # weights); a new version number is how to replace a served model.
    with pytest.warns(UserWarning, match=r"Overwriting .*2, the newest version "
                                         r"of 'generator'.*e\.g\. 3"):
        second = export.export_model(other, tmp_path, version=2, overwrite=True)
    assert second == first
    x = tf.ones([1, DATA_DIM])
    encode = tf.saved_model.load(second["recognizer"]).signatures["encode"]
    np.testing.assert_allclose(encode(x=x, seed=_no_seed())["z1_probs"].numpy(),
                               other.recognizer(x)[0].numpy(), rtol=1e-6)
    assert _numeric_folders(tmp_path) == ["generator/2", "recognizer/2"]
    assert sorted(p.name for p in (tmp_path / "generator").iterdir()) == ["2"]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(version=-1), ValueError, r"`version` must be a non-negative integer"
                                   r".*Received: version=-1"),
    (dict(version=True), ValueError, r"Received: version=True"),
    (dict(version="1"), ValueError, r"Received: version='1'"),
    (dict(max_num_samples=0), ValueError, r"max_num_samples=0"),
    (dict(max_num_samples=2**31), ValueError, r"no larger than 2147483647"),
])
def test_bad_export_arguments(hm, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        export.export_model(hm, tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_bad_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model.keras.*Received: source="):
        export.export_model(tmp_path, tmp_path / "out")
    with pytest.raises(TypeError, match=r"Received: source=42 of type int"):
        export.export_model(42, tmp_path / "out")


def test_cli_entry_point(hm, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    hm.save(run / "model.keras")
    argv = ["--run", str(run), "--out", str(tmp_path / "out"), "--version", "7",
            "--max-num-samples", "20"]
    monkeypatch.setattr(sys, "argv", ["export.py"] + argv)
    with pytest.raises(SystemExit) as exit_info:  # python export/export.py ...
        runpy.run_path(str(REPO / "export" / "export.py"), run_name="__main__")
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert f"generator: {tmp_path / 'out' / 'generator' / '7'}" in printed
    sample = tf.saved_model.load(str(tmp_path / "out" / "generator" / "7")
                                 ).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="= 20 "):
        sample(num_samples=tf.constant(21), seed=_no_seed())
    # The same version again is refused with a message; exit status 2, the
    # status of every bad-input refusal of the command line (issue 11.11).
    assert _load_script("export").main(argv) == 2  # the script's main, argv given
    assert "already exists" in capsys.readouterr().err


# ------------------------------------ acceptance 5: REST examples in sync
def _load_script(name):
    spec = importlib.util.spec_from_file_location(
        f"tfhm_export_{name}", REPO / "export" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_rest_examples_are_generated():
    script = _load_script("make_rest_examples")
    readme = REPO / "export" / "README.md"
    assert readme.read_text(encoding="utf-8") == script.render_readme(
        readme.read_text(encoding="utf-8")), (
        "export/README.md is out of date: run python export/make_rest_examples.py")


def test_rest_translation_follows_tf_serving_rules():
    script = _load_script("make_rest_examples")
    specs = {"x": tf.TensorSpec([None, None], tf.float32, name="x"),
             "seed": tf.TensorSpec([None], tf.int32, name="seed")}
    rows = script.tensors_from_request(
        {"instances": [{"x": [0, 1], "seed": [1, 2]},
                       {"x": [1, 1], "seed": [3, 4]}]}, specs)
    assert rows["x"].dtype == tf.float32 and rows["x"].shape == (2, 2)
    assert rows["seed"].numpy().tolist() == [[1, 2], [3, 4]]  # batched too
    columns = script.tensors_from_request(
        {"inputs": {"x": [[0, 1]], "seed": []}}, specs)
    assert columns["seed"].shape == (0,) and columns["seed"].dtype == tf.int32
    for body, match in [({"instances": [[0, 1]]}, "list of objects"),
                        ({"inputs": {"x": [[0, 1]]}}, "Missing named input: seed"),
                        ({"instances": [{"x": [0, 1]}]}, "must only have keys"),
                        ({"inputs": {}, "instances": []}, "only one of")]:
        with pytest.raises(ValueError, match=match):
            script.tensors_from_request(body, specs)
    outputs = {"a": tf.constant([[1.0, 0.5]]), "b": tf.constant([0.25])}
    assert script.response(outputs, "instances") == {
        "predictions": [{"a": [1.0, 0.5], "b": 0.25}]}
    assert script.response(outputs, "inputs") == {
        "outputs": {"a": [[1.0, 0.5]], "b": [0.25]}}
    assert script.response({"a": tf.constant([0.5])}, "inputs") == {"outputs": [0.5]}


# ------------------------------------------------ acceptance 6: benchmark
def test_benchmark_smoke(tmp_path):
    benchmark = _load_script("benchmark")
    lines = []
    result = benchmark.run_benchmark(data_dim=16, latent_dims=(4, 2),
                                     hidden_units=(), batch=10, repeats=5,
                                     out=tmp_path, print_fn=lines.append)
    assert set(result) >= {"generator_bytes", "recognizer_bytes",
                           "sample_ms", "encode_ms"}
    assert result["generator_bytes"] > 0 and result["encode_ms"]["p50"] > 0
    assert any("p99" in line for line in lines)


def test_which_loaded_path_may_leave_the_seed_out(served):
    # Issue 25.12: export/README.md said `tf.saved_model.load` users may leave
    # `seed` out, but the concrete signature requires every input; only the
    # loaded tf.function attribute applies the default `seed=[]`. The README
    # now names both paths, and each behaves as it says.
    gen = served["generator"]
    out = gen.sample(num_samples=tf.constant(3))  # the tf.function attribute
    assert out["x"].shape == (3, DATA_DIM) and out["seed"].shape == (2,)
    with pytest.raises(TypeError, match="seed"):
        gen.signatures["sample"](num_samples=tf.constant(3))
    replay = gen.signatures["sample"](num_samples=tf.constant(3), seed=out["seed"])
    np.testing.assert_array_equal(replay["x"].numpy(), out["x"].numpy())
    text = " ".join((REPO / "export" / "README.md").read_text(encoding="utf-8").split())
    assert ("the loaded `tf.function` attributes (`gen.sample(num_samples=4)`) may "
            "leave `seed` out; the concrete signatures of "
            "`gen.signatures[\"sample\"]` require it") in text
    assert "and `tf.saved_model.load` users, may leave `seed` out" not in text


# ------------------------------- issue 28: exact draws, in memory and served
# p(x | z1) ignores z1: its logits are the bias, 20 pixels at -17, 20 at +17
# and 6 each at -30..-40 and +30..+40.
TAIL_LOGITS = np.r_[np.full(20, -17.0), np.full(20, 17.0),
                    np.linspace(-30.0, -40.0, 6), np.linspace(30.0, 40.0, 6)]
TAIL_DRAWS, TAIL_CHUNK = 20_000_000, 500_000

_TAIL_PROCESS = textwrap.dedent("""
    import sys
    for name in ("keras", "tf_keras", "tensorflow_probability", "tfhm"):
        sys.modules[name] = None  # any import of these now fails
    import numpy as np
    import tensorflow as tf

    generator_dir, draws, chunk, out_path = sys.argv[1:]
    sample = tf.saved_model.load(generator_dir).signatures["sample"]
    ones = sum(sample(num_samples=tf.constant(int(chunk)),
                      seed=tf.constant([i, 28]))["x"].numpy().sum(axis=0, dtype=np.int64)
               for i in range(int(draws) // int(chunk)))
    np.save(out_path, ones)
""")


def _assert_tail_frequencies(ones, n):
    rare = np.where(TAIL_LOGITS < 0, ones, n - ones)  # ones below 0, zeros above
    rate = 1.0 / (1.0 + np.exp(np.abs(TAIL_LOGITS)))  # sigmoid(-|logit|)
    for side in (TAIL_LOGITS == -17, TAIL_LOGITS == 17):
        # 16.6 rare outcomes expected on each side (the old draw: 48 and 0);
        # two-sided, a correct draw fails with probability below 2e-7.
        mean = n * rate[side].sum()
        lo, hi = stats.poisson.ppf(1e-7, mean), stats.poisson.isf(1e-7, mean)
        assert lo <= rare[side].sum() <= hi, (TAIL_LOGITS[side][0], rare[side].sum(), mean)
    far = np.abs(TAIL_LOGITS) >= 30
    assert n * rate[far].sum() < 1e-4  # so exactly none (the old draw: 14 a unit)
    np.testing.assert_array_equal(rare[far], 0)


@pytest.fixture(scope="module")
def tail_hm():
    hm = tfhm.HelmholtzMachine(data_dim=len(TAIL_LOGITS), latent_dims=(1,), seed=0)
    layer = hm.generator.conditionals[0].logits_layer
    layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    layer.bias.assign(TAIL_LOGITS.astype(np.float32))
    return hm


@pytest.mark.slow
def test_saturated_pixels_are_drawn_exactly_in_memory(tail_hm):
    ones = sum(tail_hm.sample(TAIL_CHUNK, seed=tf.constant([i, 28]))["x"].numpy().sum(
        axis=0, dtype=np.int64) for i in range(TAIL_DRAWS // TAIL_CHUNK))
    _assert_tail_frequencies(ones, TAIL_DRAWS)


@pytest.mark.slow
def test_saturated_pixels_are_drawn_exactly_by_the_served_graph(tail_hm, tmp_path):
    paths = export.export_model(tail_hm, tmp_path / "served", max_num_samples=TAIL_CHUNK)
    (tmp_path / "tail.py").write_text(_TAIL_PROCESS)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "tail.py"), paths["generator"], str(TAIL_DRAWS),
         str(TAIL_CHUNK), str(tmp_path / "ones.npy")],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_tail_frequencies(np.load(tmp_path / "ones.npy"), TAIL_DRAWS)
