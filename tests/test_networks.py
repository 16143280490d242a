"""Tests of tfhm.networks on the conditional protocol (issue 23), against enumeration.

Helmholtz machines whose layers are autoregressive (DARN, NADE) or any Keras
network (`KerasBernoulli`), checked against exact sums over every state;
and every path that needs a factorized layer refusing the others by name.
"""

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

import tfhm
from tfhm import conditionals

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA_DIM, LATENT_DIMS = 8, (4, 2)
PAIRS = [("darn", "nade"), ("nade", "darn"), ("sbn", "darn"),
         # One name a layer (issue 24): p(x | z_1) autoregressive under SBN
         # layers, and q mixing kinds.
         (("darn", "sbn", "sbn"), ("sbn", "nade"))]


def _all_binary(d):
    return ((np.arange(2**d)[:, None] >> np.arange(d)) & 1).astype(np.float32)


def _hm(generator, recognizer, seed=0):
    hm = tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, hidden_units=(8,), seed=seed,
                               generator_conditional=generator,
                               recognizer_conditional=recognizer)
    # Weights far from their initial symmetry; q's less so, to stay a broad
    # proposal (importance sampling at K = 10,000 then has a small variance).
    rng = np.random.default_rng(seed)
    for scale, net in ((0.5, hm.generator), (0.1, hm.recognizer)):
        for v in net.trainable_variables:
            v.assign(v.numpy() + rng.normal(scale=scale, size=v.shape).astype(np.float32))
    return hm


@pytest.mark.parametrize("generator,recognizer", PAIRS)
def test_autoregressive_machine_against_enumeration(generator, recognizer):
    hm = _hm(generator, recognizer)
    x = _all_binary(DATA_DIM)
    exact = hm.exact_log_likelihood(x).numpy().astype(np.float64)  # [256]
    assert abs(logsumexp(exact)) < 1e-5  # p(x) sums to 1 over all 256 x
    assert exact.max() - exact.min() > 2.0  # not a flat model
    # Ancestral samples against p(x): E[TV] <= 0.5 sum_x sqrt(p(x)/n) by
    # Jensen (<= 0.5 sqrt(256 / n) = 0.018 for n = 200,000), plus a
    # McDiarmid margin sqrt(ln(1e6) / 2n) = 0.006 for a one-in-a-million
    # failure.
    n = 200_000
    draws = hm.sample(n, seed=3)["x"].numpy().astype(np.int64)
    counts = np.bincount(draws @ (1 << np.arange(DATA_DIM)), minlength=256)
    p = np.exp(exact)
    tv = 0.5 * np.abs(counts / n - p).sum()
    bound = 0.5 * np.sqrt(p / n).sum() + np.sqrt(np.log(1e6) / (2 * n))
    assert tv < bound, (tv, bound)
    states = _all_binary(sum(LATENT_DIMS))
    latents = [tf.constant(z[:, None, :]) for z in np.split(states, [4], axis=1)]
    log_p = hm.generator.log_prob(x, latents).numpy().astype(np.float64)  # [64, 256]
    log_q = hm.recognizer.log_prob(x, latents).numpy().astype(np.float64)
    assert np.allclose(logsumexp(log_q, axis=0), 0.0, atol=1e-5)  # q normalizes
    # Importance sampling at K = 10,000: within 0.05 nat on average, and each
    # x within 5 standard errors of the delta method, sqrt(v / K) with v the
    # exact relative variance of the weights, Var_q(w) / p(x)^2 (enumerated),
    # plus the estimate's downward bias v / 2K.
    k = 10_000
    estimate = hm.log_likelihood(x, num_samples=k, seed=1).numpy()
    v = np.exp(logsumexp(2 * log_p - log_q, axis=0) - 2 * exact) - 1.0
    assert np.mean(np.abs(estimate - exact)) < 0.05
    assert np.all(np.abs(estimate - exact) <= 5 * np.sqrt(v / k) + v / (2 * k) + 1e-4)
    elbo = (np.exp(log_q) * (log_p - log_q)).sum(axis=0)
    assert np.all(elbo < exact + 1e-5)
    np.testing.assert_allclose(logsumexp(log_p, axis=0), exact, atol=1e-4)


def test_keras_file_keeps_the_conditionals_and_the_likelihoods(tmp_path):
    hm = _hm("darn", "nade")
    x = _all_binary(DATA_DIM)[::7]
    hm.save(tmp_path / "ar.keras")
    back = tfhm.load_model(tmp_path / "ar.keras")
    assert type(back.generator.prior).__name__ == "DARN"
    assert [type(c).__name__ for c in back.recognizer.conditionals] == ["NADE", "NADE"]
    assert (back.generator_conditional, back.recognizer_conditional) == ("darn", "nade")
    np.testing.assert_array_equal(back.exact_log_likelihood(x).numpy(),
                                  hm.exact_log_likelihood(x).numpy())
    np.testing.assert_array_equal(back.sample(5, seed=2)["x"], hm.sample(5, seed=2)["x"])


def _conv_body():
    return keras.Sequential([
        keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.Flatten(),
        keras.layers.Dense(6)])


def test_full_form_with_a_convolutional_recognizer(tmp_path):
    x_train, x_test = tfhm.datasets.load_digits()
    generator = tfhm.Generator(data_dim=64, latent_dims=(6,), seed=0)
    recognizer = tfhm.Recognizer(conditionals=[
        conditionals.KerasBernoulli(_conv_body(), units=6, parent_dim=64, name="conv_q")])
    hm = tfhm.HelmholtzMachine(generator=generator, recognizer=recognizer, seed=0)
    assert (hm.data_dim, hm.latent_dims) == (64, (6,))
    hm.compile(wake_optimizer=keras.optimizers.Adam(3e-3),
               sleep_optimizer=keras.optimizers.Adam(3e-3),
               algorithm="reweighted_wake_sleep", num_samples=5)
    before = hm.exact_log_likelihood(x_test).numpy().mean()
    hm.fit(x_train, batch_size=100, epochs=3, verbose=0)
    after = hm.exact_log_likelihood(x_test).numpy().mean()
    # Three epochs from random weights gain tens of nats on the digits (the
    # generator alone would; the recognizer's weights must change too).
    assert after > before + 5.0, (before, after)
    kernel = recognizer.conditionals[0].network.layers[1].kernel
    assert not np.allclose(kernel.numpy(), keras.models.clone_model(
        _conv_body()).layers[1].kernel.numpy())
    # Exact enumeration matches the IS estimate's order of magnitude: the
    # conditional is factorized, so every path works.
    hm.save(tmp_path / "conv.keras")
    back = tfhm.load_model(tmp_path / "conv.keras")
    np.testing.assert_array_equal(back.exact_log_likelihood(x_test[:20]).numpy(),
                                  hm.exact_log_likelihood(x_test[:20]).numpy())
    np.testing.assert_array_equal(back.encode(x_test[:4], seed=1)["z1"],
                                  hm.encode(x_test[:4], seed=1)["z1"])


def test_one_conditional_a_layer_builds_those_layers_and_survives_a_file(tmp_path):
    hm = _hm(("darn", "sbn", "nade"), ("nade", "sbn"))
    assert [type(c).__name__ for c in [*hm.generator.conditionals, hm.generator.prior]] == [
        "DARN", "DenseBernoulli", "NADE"]
    assert [type(c).__name__ for c in hm.recognizer.conditionals] == ["NADE", "DenseBernoulli"]
    x = _all_binary(DATA_DIM)[::7]
    hm.save(tmp_path / "mixed.keras")
    back = tfhm.load_model(tmp_path / "mixed.keras")
    assert (back.generator_conditional, back.recognizer_conditional) == (
        ("darn", "sbn", "nade"), ("nade", "sbn"))
    np.testing.assert_array_equal(back.exact_log_likelihood(x).numpy(),
                                  hm.exact_log_likelihood(x).numpy())
    # The same names as one string a network build the same weights as before.
    same = tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, seed=3, generator_conditional="darn")
    listed = tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, seed=3,
                                   generator_conditional=("darn",) * 3)
    for a, b in zip(same.weights, listed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("conditional, match", [
    (("darn", "sbn"), r"3 names, one a layer for latent_dims=\(4, 2\): p\(x \| z_1\)"),
    (("darn", "sbn", "sbn", "sbn"), r"3 names.*Received: conditional=\('darn'"),
    (("darn", 3, "sbn"), r"3 names"),
    (("darn", "sbnn", "sbn"), r"Unknown conditional.*'sbnn'"),
])
def test_a_per_layer_conditional_must_name_every_layer(conditional, match):
    with pytest.raises(ValueError, match=match):
        tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, generator_conditional=conditional)
    with pytest.raises(ValueError, match=r"2 names, one a layer.*q\(z_1 \| x\)"):
        tfhm.HelmholtzMachine(DATA_DIM, LATENT_DIMS, recognizer_conditional=("sbn",))


def test_explicit_layers_must_chain():
    with pytest.raises(ValueError, match="parent of 3 but the layer below it draws 4"):
        tfhm.Recognizer(conditionals=[conditionals.make("sbn", 4, 8),
                                      conditionals.make("sbn", 2, 3)])
    with pytest.raises(TypeError, match="must be a tfhm.conditionals.Conditional"):
        tfhm.Recognizer(conditionals=[keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="Unknown conditional.*'darnn'"):
        tfhm.HelmholtzMachine(8, (2,), generator_conditional="darnn")
    with pytest.raises(ValueError, match="both `generator` and `recognizer`"):
        tfhm.HelmholtzMachine(generator=tfhm.Generator(8, (2,)))


# ------------------------------------------- paths that need factorized layers
def test_disarm_refuses_a_non_factorized_recognizer_at_compile():
    hm = _hm("sbn", "nade")
    with pytest.raises(TypeError, match=r"DisARM.*q_z1_given_x is a NADE.*reweighted"):
        hm.compile(algorithm="disarm", num_samples=2)
    assert hm.estimator is None  # nothing was changed
    hm.compile(algorithm="vimco", num_samples=2)  # score-function estimators work


def test_inpainting_refuses_a_non_factorized_pixel_layer(tmp_path):
    hm = _hm("darn", "sbn")
    x = _all_binary(DATA_DIM)[:3]
    mask = np.ones_like(x)
    mask[:, :4] = 0
    with pytest.raises(TypeError, match=r"Inpainting \(p\(x_obs \| z_1\)\).*DARN"):
        hm.inpaint(x, mask, num_samples=2, seed=0)
    paths = tfhm.export.export_model(hm, tmp_path / "served")
    served = tf.saved_model.load(paths["generator"])
    assert "inpaint" not in served.signatures and "sample" in served.signatures
    # No warm-up request names the missing signature (TF Serving would refuse
    # to load the model).
    warmup = pathlib.Path(paths["generator"]) / tfhm.export.warmup.WARMUP_FILE
    records = [bytes(r.numpy()) for r in tf.data.TFRecordDataset(str(warmup))]
    assert records and not any(b"inpaint" in r for r in records)
    out = served.signatures["sample"](num_samples=tf.constant(4), seed=tf.constant([1, 2]))
    np.testing.assert_array_equal(out["x"].numpy(),
                                  hm.generator.sample(4, tf.constant([1, 2]))["x"].numpy())


def test_diagnostics_say_which_layers_are_monte_carlo():
    hm = _hm("sbn", "nade")
    out = tfhm.diagnostics.latent_diagnostics(hm, _all_binary(DATA_DIM)[:40], 20,
                                              tf.constant([0, 1]))
    assert out["exact"] == [False, False]
    assert np.all(np.isfinite(out["kl"])) and np.all(out["entropy"] > 0)
    assert tfhm.diagnostics.latent_diagnostics(
        _hm("sbn", "sbn"), _all_binary(DATA_DIM)[:40], 20, tf.constant([0, 1]))["exact"] \
        == [True, True]


def test_no_module_reads_a_layers_logits_outside_the_protocol():
    # Issue 23, acceptance 4: only the conditionals know their internals;
    # `compute_logits` (the factorized fast path) is called elsewhere only
    # where the module asks for a factorized layer first.
    internals = re.compile(r"\.distribution\.logits|logits_layer|hidden_layers")
    guarded = {"diagnostics.py": "factorized", "evaluation.py": "factorized",
               "inpainting.py": "check_inpaintable",
               "estimators/disarm.py": "check_networks"}
    for path in (REPO / "tfhm").rglob("*.py"):
        name = path.relative_to(REPO / "tfhm").as_posix()
        if name in ("layers.py",) or name.startswith("conditionals/"):
            continue
        text = path.read_text(encoding="utf-8")
        assert not internals.search(text), name
        if "compute_logits(" in text:
            assert name in guarded and guarded[name] in text, name


def _digits_hm(recognizer, seed=0):
    """The digits model (64 pixels, 6 latents, 10 tanh units) with q of kind `recognizer`."""
    if recognizer != "conv":
        return tfhm.HelmholtzMachine(64, (6,), hidden_units=(10,), activation="tanh",
                                     recognizer_conditional=recognizer, seed=seed)
    keras.utils.set_random_seed(seed)  # the Keras body's initial weights
    return tfhm.HelmholtzMachine(
        generator=tfhm.Generator(64, (6,), hidden_units=(10,), activation="tanh",
                                 seed=seed),
        recognizer=tfhm.Recognizer(conditionals=[conditionals.KerasBernoulli(
            _conv_body(), units=6, parent_dim=64, name="conv_q")]), seed=seed)


@pytest.mark.parametrize("recognizer", ["darn", "nade", "conv"])
def test_recognizers_train_through_fit_and_the_trainer_bitwise(recognizer, tmp_path):
    # Issue 23, acceptance 3: a DARN, a NADE and a convolutional q train on
    # the digits through fit and the Trainer, with the same bits on equal
    # batches (as SBN models do, test_training); the model improves, and a
    # .keras round trip keeps its exact log-likelihood.
    from tfhm.training import TrainConfig, Trainer  # pylint: disable=g-import-not-at-top

    x_train, x_test = tfhm.datasets.load_digits()
    x = x_train[:400]  # 8 batches of 50
    by_fit = _digits_hm(recognizer)
    before = by_fit.exact_log_likelihood(x_test).numpy().mean()
    by_fit.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
                   sleep_optimizer=keras.optimizers.Adam(1e-2),
                   algorithm="reweighted_wake_sleep", num_samples=3, jit_compile=False)
    by_fit.fit(x, batch_size=50, epochs=3, shuffle=False, verbose=0)
    by_loop = _digits_hm(recognizer)
    config = TrainConfig(algorithm="reweighted_wake_sleep", num_samples=3,
                         batch_size=50, epochs=3, lr_wake=1e-2, lr_sleep=1e-2,
                         shuffle=False, eval_max_examples=0)
    Trainer(by_loop, config, verbose=0).fit(x)
    assert len(by_fit.weights) == len(by_loop.weights)
    for a, b in zip(by_fit.weights, by_loop.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    after = by_fit.exact_log_likelihood(x_test).numpy()
    # From random weights, 24 steps gain several nats on the digits (the
    # recognizer's weights moved too: q's first kernel is not its initial one).
    assert after.mean() > before + 3.0, (before, after.mean())
    initial = _digits_hm(recognizer).recognizer.trainable_variables[0].numpy()
    assert not np.array_equal(by_fit.recognizer.trainable_variables[0].numpy(), initial)
    by_fit.save(tmp_path / "q.keras")
    back = tfhm.load_model(tmp_path / "q.keras")
    np.testing.assert_array_equal(back.exact_log_likelihood(x_test).numpy(), after)
    np.testing.assert_array_equal(back.encode(x_test[:4], seed=1)["z1"],
                                  by_fit.encode(x_test[:4], seed=1)["z1"])


_AR_SERVING = """
import sys
for name in ("keras", "tf_keras", "tensorflow_probability", "tfhm"):
    sys.modules[name] = None  # any import of these now fails
import numpy as np
import tensorflow as tf

generator_dir, recognizer_dir, x_path, out_path = sys.argv[1:]
generator = tf.saved_model.load(generator_dir)
recognizer = tf.saved_model.load(recognizer_dir)
x = tf.constant(np.load(x_path))
seed = tf.constant([3, 4])
calls = {
    "sample": generator.signatures["serving_default"](num_samples=tf.constant(50),
                                                      seed=seed),
    "encode": recognizer.signatures["encode"](x=x, seed=seed),
    "log_likelihood": generator.signatures["log_likelihood"](
        x=x, num_samples=tf.constant(9), seed=seed),
}
np.savez(out_path, **{f"{call}/{key}": value.numpy()
                      for call, outputs in calls.items() for key, value in outputs.items()})
"""


def test_exported_autoregressive_model_serves_the_in_memory_draws(tmp_path):
    # Issue 23, acceptance 3: `tfhm export` of a DARN-p / NADE-q model loads in
    # a process that imports only TensorFlow, and its seeded samples, encodings
    # and log-likelihood estimates are the in-memory ones.
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top

    from tfhm import evaluation, export, objectives  # pylint: disable=g-import-not-at-top

    hm = _hm("darn", "nade")
    paths = export.export_model(hm, tmp_path / "served")
    x = _all_binary(DATA_DIM)[::9]
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "serve.py").write_text(_AR_SERVING)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "serve.py"), paths["generator"],
         paths["recognizer"], str(tmp_path / "x.npy"), str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = dict(np.load(tmp_path / "out.npz"))
    seed = tf.constant([3, 4])
    ref = hm.generator.sample(50, seed)
    np.testing.assert_array_equal(out["sample/x"], ref["x"].numpy())
    for l, z in enumerate(ref["z"]):
        np.testing.assert_array_equal(out[f"sample/z{l + 1}"], z.numpy())
    latents, _ = hm.recognizer.sample(tf.constant(x), 1, seed)
    for l, z in enumerate(latents):
        np.testing.assert_array_equal(out[f"encode/z{l + 1}"], z[0].numpy())
    log_w = objectives.log_importance_weights(hm.generator, hm.recognizer,
                                              tf.constant(x), 9, seed)[0]
    np.testing.assert_allclose(out["log_likelihood/log_likelihood"],
                               evaluation.log_mean_exp(log_w, axis=0).numpy(), rtol=1e-5)
    assert "inpaint" not in tf.saved_model.load(paths["generator"]).signatures
