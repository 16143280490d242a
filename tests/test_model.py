"""Tests of tfhm.model: probabilities by exact enumeration, sampling, fit, saving."""

import itertools
import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import expit, logsumexp

import tfhm
from tfhm import objectives
from tfhm.estimators import step as estimator_step

ALL_X6 = np.array(list(itertools.product([0, 1], repeat=6)), np.float32)


@pytest.fixture(scope="module")
def small_hm():
    """A random deep model: data_dim=6, latent_dims=(3, 2), hidden_units=(8,)."""
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(3, 2), hidden_units=(8,),
                               seed=0)
    # Move the weights away from the symmetric start so that every term matters.
    rng = np.random.default_rng(7)
    for v in hm.trainable_variables:
        v.assign(v.numpy() + rng.normal(scale=0.7, size=v.shape).astype(np.float32))
    return hm


def _np_logits(layer, inputs):
    h = inputs
    for dense in layer.hidden_layers:
        h = np.tanh(h @ dense.kernel.numpy() + dense.bias.numpy())
    return h @ layer.logits_layer.kernel.numpy() + layer.logits_layer.bias.numpy()


def _np_log_bernoulli(y, logits):
    p = expit(logits)
    return np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=-1)


def _np_exact_log_likelihood(hm, x):
    """log p(x) = log sum_{z1, z2} p(z2) p(z1|z2) p(x|z1), loops in NumPy."""
    gen = hm.generator
    prior_logits = gen.prior.logits.numpy()
    terms = []
    for z2 in itertools.product([0, 1], repeat=2):
        z2 = np.array(z2, np.float64)
        for z1 in itertools.product([0, 1], repeat=3):
            z1 = np.array(z1, np.float64)
            log_pz2 = _np_log_bernoulli(z2, prior_logits)
            log_pz1 = _np_log_bernoulli(z1, _np_logits(gen.conditionals[1], z2))
            log_px = _np_log_bernoulli(x, _np_logits(gen.conditionals[0], z1))
            terms.append(log_pz2 + log_pz1 + log_px)
    return logsumexp(np.stack(terms), axis=0)


def test_exact_likelihood_normalizes(small_hm):
    # Acceptance 1: sum over all 64 binary x of p(x) is 1.
    total = np.exp(small_hm.exact_log_likelihood(ALL_X6).numpy().astype(np.float64)).sum()
    assert abs(total - 1.0) < 1e-5


def test_exact_likelihood_matches_numpy_brute_force(small_hm):
    # Acceptance 2.
    np.testing.assert_allclose(small_hm.exact_log_likelihood(ALL_X6).numpy(),
                               _np_exact_log_likelihood(small_hm, ALL_X6.astype(np.float64)),
                               rtol=1e-5, atol=1e-5)


def test_samples_match_exact_distribution(small_hm):
    # Acceptance 3: 200,000 draws against p(x) on all 64 x.
    n = 200_000
    out = small_hm.sample(n, seed=1)
    assert out["x"].dtype == tf.float32 and out["x"].shape == (n, 6)
    assert [z.shape for z in out["z"]] == [(n, 3), (n, 2)]
    codes = out["x"].numpy().astype(np.int64) @ (2 ** np.arange(5, -1, -1))
    empirical = np.bincount(codes, minlength=64) / n
    p = np.exp(small_hm.exact_log_likelihood(ALL_X6).numpy().astype(np.float64))
    tv = 0.5 * np.abs(empirical - p).sum()
    # E[TV] <= 0.5 * sum_i sd(p_hat_i) = 0.5 * sum_i sqrt(p_i (1 - p_i) / n)
    # (Jensen); one draw moves TV by at most 1/n, so by McDiarmid
    # P(TV > E[TV] + t) <= exp(-2 n t^2): t = sqrt(log(1e6) / (2n)) makes a
    # false failure a one-in-a-million event.
    bound = 0.5 * np.sqrt(p * (1 - p) / n).sum() + np.sqrt(np.log(1e6) / (2 * n))
    assert tv < bound, (tv, bound)
    # x_probs is p(x = 1 | z_1) of the drawn z_1.
    np.testing.assert_allclose(
        out["x_probs"].numpy()[:5],
        expit(_np_logits(small_hm.generator.conditionals[0], out["z"][0].numpy()[:5])),
        rtol=1e-5, atol=1e-6)


def test_sample_seeds_are_reproducible(small_hm):
    a = small_hm.sample(50, seed=3)["x"].numpy()
    b = small_hm.sample(50, seed=3)["x"].numpy()
    c = small_hm.sample(50, seed=4)["x"].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = small_hm.sample(50)["x"].numpy()
    e = small_hm.sample(50)["x"].numpy()
    assert not np.array_equal(d, e)  # unseeded calls advance the model's seed


def test_elbo_gap_is_posterior_kl(small_hm):
    # Acceptance 4 (lesson eq. 8): log p(x) - ELBO(x) = KL(q(z|x) || p(z|x)).
    x = tf.constant(ALL_X6)
    exact = small_hm.exact_log_likelihood(ALL_X6).numpy()
    kl = tfhm.evaluation.exact_posterior_kl(small_hm.generator, small_hm.recognizer, x).numpy()
    assert np.all(kl >= -1e-6)
    k = 20_000
    log_w = objectives.log_importance_weights(
        small_hm.generator, small_hm.recognizer, x, k, tf.constant([5, 6]))[0].numpy()
    mean, se = log_w.mean(0), log_w.std(0) / np.sqrt(k)
    # Each example's ELBO estimate is a mean of 20,000 i.i.d. log-weights:
    # within 5 standard errors of its expectation (64 examples: a false
    # failure has probability below 64 * 6e-7).
    assert np.all(np.abs(mean - (exact - kl)) < 5 * se + 1e-5)
    elbo = small_hm.elbo(ALL_X6, num_samples=k, seed=9).numpy()
    assert np.all(np.abs(elbo - (exact - kl)) < 5 * se + 1e-5)
    assert elbo.mean() <= exact.mean()
    assert kl.mean() > 0.05  # the gap is real, so the comparison has power


def test_log_likelihood_rises_with_k_and_converges(small_hm):
    # Acceptance 5.
    exact = small_hm.exact_log_likelihood(ALL_X6).numpy()
    x = np.tile(ALL_X6, (50, 1))  # 3,200 rows: averages out Monte Carlo noise
    means = [small_hm.log_likelihood(x, num_samples=k, seed=k).numpy().mean()
             for k in (1, 10, 100)]
    # Expected gaps to log p(x) here: ~KL = 0.2 nats at K=1, ~0.02 at K=10,
    # ~0.002 at K=100; the standard error of each mean is below 0.002.
    assert means[0] < means[1] < means[2] < exact.mean() + 0.005, means
    # At K = 10,000 the estimate is within 0.05 nats of log p(x) on a small
    # model whose q is not far from the posterior (a fresh model: KL < 0.3
    # nats per example; with KL ~ 2.7 nats the weights are too heavy-tailed
    # for that and it takes K ~ 1e5).
    fresh = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(3, 2), hidden_units=(8,), seed=0)
    big = fresh.log_likelihood(ALL_X6, num_samples=10_000, seed=0).numpy()
    assert np.max(np.abs(big - fresh.exact_log_likelihood(ALL_X6).numpy())) < 0.05


def test_wake_gradients_match_closed_form():
    # Acceptance 6: one-layer logistic model (a sigmoid belief net, no hidden
    # layers): d/dW log p(x|z) = z^T (x - sigmoid(zW + b)), d/db = x - sigmoid,
    # d/dbeta log p(z) = z - sigmoid(beta).
    hm = tfhm.HelmholtzMachine(data_dim=5, latent_dims=(4,), seed=1)
    gen = hm.generator
    gen.prior.logits.assign([0.3, -0.5, 1.0, 0.0])
    x = tf.constant(np.random.default_rng(0).integers(0, 2, (7, 5)), tf.float32)
    seed = tf.constant([3, 1])
    for algorithm, k in ((tfhm.Algorithm.WAKE_SLEEP, 1),
                         (tfhm.Algorithm.REWEIGHTED_WAKE_SLEEP, 6)):
        estimator, k = estimator_step.make(algorithm, k, tfhm.RecognizerUpdate.SLEEP)
        grads, _, _ = estimator_step.compute_gradients(
            estimator, gen, hm.recognizer, x, seed, k)
        wake_seed = tfhm._seeds.split(seed, 2)[0]
        log_w, _, _, (z,) = objectives.log_importance_weights(gen, hm.recognizer, x, k, wake_seed)
        z = z.numpy()  # [K, batch, 4]
        if algorithm == tfhm.Algorithm.REWEIGHTED_WAKE_SLEEP:
            w = tf.nn.softmax(log_w, axis=0).numpy()  # per example
        else:
            w = np.full(log_w.shape, 1.0 / k)
        W = gen.conditionals[0].logits_layer.kernel.numpy()
        b = gen.conditionals[0].logits_layer.bias.numpy()
        beta = gen.prior.logits.numpy()
        resid = x.numpy()[None] - expit(z @ W + b)  # [K, batch, 5]
        n = x.shape[0]
        expected = {
            "prior": -np.einsum("kb,kbd->d", w, z - expit(beta)) / n,
            "kernel": -np.einsum("kb,kbi,kbj->ij", w, z, resid) / n,
            "bias": -np.einsum("kb,kbd->d", w, resid) / n,
        }
        by_name = {v.path: g.numpy() for v, g in zip(gen.trainable_variables, grads)}
        for path, g in by_name.items():
            key = "prior" if "prior" in path else ("kernel" if "kernel" in path else "bias")
            np.testing.assert_allclose(g, expected[key], rtol=1e-4, atol=1e-6)


def test_importance_weights_are_per_example():
    # Acceptance 9 (second part): normalized over each example's K samples.
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    x, _ = tfhm.datasets.load_digits()
    x = tf.constant(x[:10])
    seed = tf.constant([1, 2])
    log_w = objectives.log_importance_weights(hm.generator, hm.recognizer, x, 5, seed)[0]
    w = objectives.importance_weights(log_w).numpy()  # [K, batch]
    np.testing.assert_allclose(w.sum(axis=0), np.ones(10), rtol=1e-6)
    x2 = x.numpy().copy()
    x2[3] = 1 - x2[3]
    log_w2 = objectives.log_importance_weights(
        hm.generator, hm.recognizer, tf.constant(x2), 5, seed)[0]
    w2 = objectives.importance_weights(log_w2).numpy()
    others = [i for i in range(10) if i != 3]
    np.testing.assert_allclose(w2[:, others], w[:, others], rtol=1e-6)
    assert not np.allclose(w2[:, 3], w[:, 3])


def _fit_weights(seed, shuffle, algorithm="reweighted_wake_sleep"):
    x, _ = tfhm.datasets.load_digits()
    if shuffle:
        keras.utils.set_random_seed(123)  # Keras' own shuffling of arrays
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(6, 4), hidden_units=(10,), seed=seed)
    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
               sleep_optimizer=keras.optimizers.Adam(1e-2),
               algorithm=algorithm, num_samples=3)
    hm.fit(x[:300], batch_size=50, epochs=2, shuffle=shuffle, verbose=0)
    return [v.numpy() for v in hm.weights]


@pytest.mark.parametrize("shuffle", [False, True])
def test_same_seed_same_weights_after_fit(shuffle):
    # Acceptance 9 (first part).
    a = _fit_weights(0, shuffle)
    b = _fit_weights(0, shuffle)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = _fit_weights(1, shuffle)
    assert any(not np.array_equal(u, v) for u, v in zip(a, c))


def test_fit_improves_and_evaluate_reports(tmp_path):
    x_train, x_test = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(3e-3),
               sleep_optimizer=keras.optimizers.Adam(3e-3))
    before = hm.exact_log_likelihood(x_test).numpy().mean()
    history = hm.fit(x_train, batch_size=100, epochs=3, verbose=0,
                     validation_data=(x_test,))
    after = hm.exact_log_likelihood(x_test).numpy().mean()
    assert after > before + 1.0, (before, after)
    assert {"wake_loss", "sleep_loss", "elbo", "ess", "val_elbo",
            "val_log_likelihood"} <= set(history.history)
    result = hm.evaluate(x_test, return_dict=True, verbose=0)
    assert set(result) >= {"elbo", "log_likelihood"}
    # Importance sampling with 100 draws is a lower bound of log p(x) in
    # expectation and tighter than the ELBO.
    assert result["elbo"] < result["log_likelihood"] < after + 0.05
    assert np.all(hm.predict(x_test[:10], verbose=0) < 0)


def test_save_and_load_round_trip(tmp_path, small_hm):
    # Acceptance 10.
    path = tmp_path / "m.keras"
    small_hm.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, tfhm.HelmholtzMachine)
    assert loaded.get_config() == small_hm.get_config()
    np.testing.assert_array_equal(loaded.exact_log_likelihood(ALL_X6).numpy(),
                                  small_hm.exact_log_likelihood(ALL_X6).numpy())



def test_a_reloaded_model_continues_the_saved_models_random_stream(tmp_path, monkeypatch):
    # Issue 26: a `.keras` file holds the seed generator's state, so a model
    # saved after some draws and loaded again draws what the saved one would
    # have drawn next (before, it started over at [seed, 0]).
    x = np.tile(ALL_X6, (2, 1))
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(3,), seed=5)
    hm.compile(jit_compile=False)
    hm.fit(x, batch_size=32, epochs=1, verbose=0)  # 4 steps, 4 seeds drawn
    hm.sample(2)  # and one more
    np.testing.assert_array_equal(hm.seed_generator.state.numpy(), [5, 5])
    hm.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    loaded.jit_compile = False
    np.testing.assert_array_equal(loaded.seed_generator.state.numpy(), [5, 5])
    np.testing.assert_array_equal(loaded.sample(50)["x"].numpy(), hm.sample(50)["x"].numpy())
    for model in (hm, loaded):  # the next training epoch draws the same seeds
        model.fit(x, batch_size=32, epochs=2, initial_epoch=1, verbose=0)
    for got, want in zip(loaded.get_weights(), hm.get_weights()):
        np.testing.assert_array_equal(got, want)
    # Files without the state (saved before issue 26; written here as that
    # code wrote them) still load, with the stream at its start [seed, 0].
    monkeypatch.setattr(tfhm.HelmholtzMachine, "save_own_variables",
                        keras.Model.save_own_variables)
    hm.save(tmp_path / "old.keras")
    old = keras.models.load_model(tmp_path / "old.keras")
    np.testing.assert_array_equal(old.seed_generator.state.numpy(), [5, 0])
    np.testing.assert_array_equal(old.exact_log_likelihood(ALL_X6).numpy(),
                                  hm.exact_log_likelihood(ALL_X6).numpy())
    # So do the shipped pretrained models, saved by older code.
    shipped = keras.models.load_model(
        pathlib.Path(tfhm.__file__).parent / "pretrained" / "digits_rws_16.keras")
    np.testing.assert_array_equal(shipped.seed_generator.state.numpy(), [shipped.seed, 0])


def _conditional_logits(hm, x):
    """Every conditional's float32 logits for `x` and latents drawn from q."""
    latents, _ = hm.recognizer.sample(tf.constant(x), 1, tf.constant([3, 4]))
    below = [tf.constant(x)[None]] + latents[:-1]
    return ([c.compute_logits(v).numpy()
             for c, v in zip(hm.recognizer.conditionals, below)]
            + [c.compute_logits(z).numpy()
               for c, z in zip(hm.generator.conditionals, latents)])


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_dtype_given_to_the_model_reaches_every_layer_and_is_saved(tmp_path, policy):
    # `dtype=` is what every Keras layer takes. It used to set the policy of
    # the model object only: every layer inside still computed in float32.
    arch = dict(data_dim=6, latent_dims=(3, 2), hidden_units=(4,), seed=0)
    keras.config.set_dtype_policy(policy)
    try:
        by_global_policy = tfhm.HelmholtzMachine(**arch)
    finally:
        keras.config.set_dtype_policy("float32")
    hm = tfhm.HelmholtzMachine(**arch, dtype=policy)
    compute = policy.split("_")[1]
    dense = [layer for network in (hm.generator, hm.recognizer)
             for c in network.conditionals for layer in c.hidden_layers + [c.logits_layer]]
    assert len(dense) == 8
    assert {layer.dtype_policy.compute_dtype for layer in dense} == {compute}
    assert hm.generator.prior.dtype_policy.name == policy
    expected = _conditional_logits(by_global_policy, ALL_X6)
    for got, want in zip(_conditional_logits(hm, ALL_X6), expected):
        np.testing.assert_array_equal(got, want)
    # The comparison has power: float32 layers give other logits.
    float32 = _conditional_logits(tfhm.HelmholtzMachine(**arch), ALL_X6)
    assert not all(np.array_equal(a, b) for a, b in zip(float32, expected))
    hm.save(tmp_path / "m.keras")  # loaded under the float32 global policy
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.dtype_policy.name == policy
    for got, want in zip(_conditional_logits(loaded, ALL_X6), expected):
        np.testing.assert_array_equal(got, want)


def test_compiled_model_round_trip_keeps_training_config(tmp_path):
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(2e-3),
               sleep_optimizer=keras.optimizers.SGD(0.1),
               algorithm="reweighted_wake_sleep", num_samples=7)
    hm.fit(ALL_X6, epochs=1, verbose=0)
    hm.save(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras")
    assert loaded.algorithm == tfhm.Algorithm.REWEIGHTED_WAKE_SLEEP
    assert loaded.num_samples == 7
    assert isinstance(loaded.sleep_optimizer, keras.optimizers.SGD)
    loaded.fit(ALL_X6, epochs=1, verbose=0)  # trains on after loading


def test_steps_compile_under_xla():
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(3, 2), hidden_units=(4,), seed=0)
    hm.compile(algorithm="reweighted_wake_sleep", num_samples=4, jit_compile=True)
    history = hm.fit(ALL_X6, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["elbo"]).all()

    @tf.function(jit_compile=True)
    def step(x, seed):
        return estimator_step.compute_gradients(
            estimator_step.make("wake_sleep")[0], hm.generator, hm.recognizer, x, seed, 1)

    g, r, logs = step(tf.constant(ALL_X6), tf.constant([1, 2]))
    assert all(np.isfinite(t.numpy()).all() for t in g + r)


# --------------------------------------------------------------- bad input
BAD_DATA = [
    (np.zeros((4, 5), np.float32), r"shape \[batch, 6\].*\(4, 5\)"),
    (np.full((4, 6), 0.5, np.float32), r"only the values 0 and 1.*0\.5"),
    (np.full((4, 6), 2, np.int64), r"only the values 0 and 1.*2"),
    (np.full((4, 6), np.nan, np.float32), r"only the values 0 and 1.*nan"),
    (np.zeros((0, 6), np.float32), r"empty.*\(0, 6\)"),
    (np.zeros((6,), np.float32), r"shape \[batch, 6\].*\(6,\)"),
    (np.array([["a"] * 6]), r"dtype"),
]


@pytest.mark.parametrize("x, match", BAD_DATA)
@pytest.mark.parametrize("method", ["fit", "evaluate", "elbo", "log_likelihood",
                                    "exact_log_likelihood"])
def test_bad_data_raises(method, x, match):
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    hm.compile()
    before = [v.numpy() for v in hm.weights]
    with pytest.raises(ValueError, match=match):
        getattr(hm, method)(x)
    for u, v in zip(before, hm.weights):  # nothing trained, nothing changed
        np.testing.assert_array_equal(u, v.numpy())


def test_bad_validation_data_raises_before_training():
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    hm.compile()
    with pytest.raises(ValueError, match="validation_data.*0.5"):
        hm.fit(ALL_X6, validation_data=(np.full((3, 6), 0.5),), verbose=0)
    assert hm.wake_optimizer.iterations.numpy() == 0


def test_bool_and_int_data_accepted():
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    a = hm.exact_log_likelihood(ALL_X6.astype(bool)).numpy()
    b = hm.exact_log_likelihood(ALL_X6.astype(np.int32)).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    ({"latent_dims": ()}, r"latent_dims.*\(\)"),
    ({"latent_dims": (3, 0)}, r"latent_dims.*\(3, 0\)"),
    ({"latent_dims": (-2,)}, r"latent_dims.*-2"),
    ({"hidden_units": (-1,)}, r"hidden_units.*-1"),
    ({"data_dim": 0}, r"data_dim=0"),
    ({"seed": "abc"}, r"seed='abc'"),
])
def test_bad_constructor_arguments(kwargs, match):
    args = {"data_dim": 6, "latent_dims": (2,), **kwargs}
    with pytest.raises(ValueError, match=match):
        tfhm.HelmholtzMachine(**args)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_samples": 0}, "num_samples=0"),
    ({"num_samples": -3}, "num_samples=-3"),
    ({"algorithm": "sleepwalk"}, r"'wake_sleep', 'reweighted_wake_sleep'.*'sleepwalk'"),
    ({"recognizer_update": "dream"}, r"'sleep', 'wake', 'wake_sleep'.*'dream'"),
    ({"algorithm": "wake_sleep", "recognizer_update": "wake"}, "must be 'sleep'"),
    ({"loss": "mse"}, "does not take `loss`"),
])
def test_bad_compile_arguments(kwargs, match):
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    with pytest.raises(ValueError, match=match):
        hm.compile(**kwargs)


def test_bad_sampling_arguments():
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    with pytest.raises(ValueError, match="num_samples=0"):
        hm.log_likelihood(ALL_X6, num_samples=0)
    with pytest.raises(ValueError, match="num_samples=0"):
        hm.sample(0)
    with pytest.raises(ValueError, match="seed"):
        hm.sample(3, seed=[1, 2, 3])


def test_too_many_latent_bits_for_enumeration():
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(20, 5), seed=0)
    with pytest.raises(ValueError, match=r"MAX_EXACT_LATENT_BITS=24.*25 bits.*log_likelihood"):
        hm.exact_log_likelihood(ALL_X6)


# ------------------------------------------------------ issue 11 and 10.5
def _compiled(seed=0, lr_wake=1e-2, lr_sleep=2e-2, **kwargs):
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(6,), seed=seed)
    hm.compile(wake_optimizer=keras.optimizers.Adam(lr_wake),
               sleep_optimizer=keras.optimizers.Adam(lr_sleep), **kwargs)
    return hm


def _rates(hm):
    return (float(hm.wake_optimizer.learning_rate),
            float(hm.sleep_optimizer.learning_rate))


def test_learning_rate_scheduler_drives_both_optimizers():
    # Issue 11.1: the scheduler used to change an unused RMSprop.
    x, _ = tfhm.datasets.load_digits()
    hm = _compiled()
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(_rates(hm))

    halve = keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: lr if epoch == 0 else lr * 0.5)
    history = hm.fit(x[:200], batch_size=50, epochs=3, verbose=0,
                     callbacks=[halve, Record()]).history
    expected_wake, expected_sleep = [1e-2, 5e-3, 2.5e-3], [2e-2, 1e-2, 5e-3]
    np.testing.assert_allclose(history["learning_rate_wake"], expected_wake, rtol=1e-6)
    np.testing.assert_allclose(history["learning_rate_sleep"], expected_sleep, rtol=1e-6)
    # The history reports the rates the optimizers used in that epoch.
    np.testing.assert_allclose(seen, list(zip(expected_wake, expected_sleep)), rtol=1e-6)


def test_compile_refuses_one_optimizer_object_for_both_phases():
    # Keras refused it only at the first training step, naming a variable.
    adam = keras.optimizers.Adam(1e-3)
    with pytest.raises(ValueError, match="two optimizer objects.*the same Adam object"):
        tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,)).compile(
            wake_optimizer=adam, sleep_optimizer=adam)
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,))
    hm.compile(wake_optimizer="adam", sleep_optimizer="adam")  # two new objects
    assert hm.wake_optimizer is not hm.sleep_optimizer


def test_reduce_lr_on_plateau_drives_both_optimizers():
    x, _ = tfhm.datasets.load_digits()
    hm = _compiled()
    # min_delta=1e9: no epoch after the first counts as an improvement.
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="wake_loss", factor=0.5, patience=1, min_delta=1e9, mode="min")
    history = hm.fit(x[:200], batch_size=50, epochs=3, verbose=0,
                     callbacks=[plateau]).history
    np.testing.assert_allclose(history["learning_rate_wake"], [1e-2, 1e-2, 5e-3], rtol=1e-6)
    np.testing.assert_allclose(history["learning_rate_sleep"], [2e-2, 2e-2, 1e-2], rtol=1e-6)
    np.testing.assert_allclose(_rates(hm), (2.5e-3, 5e-3), rtol=1e-6)


def test_optimizer_learning_rate_sets_both_keeping_their_ratio():
    hm = _compiled()
    assert isinstance(hm.optimizer.optimizers[0].learning_rate, keras.Variable)
    hm.optimizer.learning_rate = 1e-3
    np.testing.assert_allclose(_rates(hm), (1e-3, 2e-3), rtol=1e-6)
    with pytest.raises(AttributeError, match="wake_optimizer"):
        hm.optimizer = keras.optimizers.SGD()


def _seeded_fit_weights(seed, global_seed, **fit_kwargs):
    x, _ = tfhm.datasets.load_digits()
    keras.utils.set_random_seed(global_seed)  # must not matter
    hm = _compiled(seed=seed, algorithm="reweighted_wake_sleep", num_samples=3)
    hm.fit(x[:300], batch_size=50, epochs=2, verbose=0, **fit_kwargs)
    return [v.numpy() for v in hm.weights]


def test_model_seed_alone_determines_fit_with_shuffling():
    # Issue 11.2: with shuffle=True (the default) Keras' shuffling used to
    # follow the global random state, not the model's seed.
    a = _seeded_fit_weights(0, global_seed=1)
    b = _seeded_fit_weights(0, global_seed=2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    unshuffled = _seeded_fit_weights(0, global_seed=1, shuffle=False)
    assert any(not np.array_equal(u, v) for u, v in zip(a, unshuffled))
    other = _seeded_fit_weights(1, global_seed=1)
    assert any(not np.array_equal(u, v) for u, v in zip(a, other))


def test_seeded_fit_visits_each_example_once_per_epoch_in_the_trainers_order():
    x = np.eye(8, dtype=np.float32)[:, :6]  # row i is 1 at i (< 6), rows 6, 7 zero
    x[6, :3] = x[7, 3:] = 1
    order = tfhm._model_data.seeded_epochs(x, 3, seed=4, initial_epoch=0, epochs=2)
    batches = [b.numpy() for b in order]
    assert [len(b) for b in batches] == [3, 3, 2, 3, 3, 2]
    for epoch in (batches[:3], batches[3:]):
        rows = np.concatenate(epoch)
        assert sorted(map(tuple, rows)) == sorted(map(tuple, x))
    positions = tf.random.experimental.index_shuffle(
        tf.range(8, dtype=tf.int64), seed=tfhm._seeds.data_order(4, 1),
        max_index=tf.constant(7, tf.int64)).numpy()
    np.testing.assert_array_equal(np.concatenate(batches[3:]), x[positions])


def test_seeded_fit_refuses_what_it_cannot_reproduce():
    x, _ = tfhm.datasets.load_digits()
    hm = _compiled()
    with pytest.raises(ValueError, match="does not take `y`.*shuffle=False"):
        hm.fit(x[:50], x[:50], verbose=0)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return x[:10]

    with pytest.raises(ValueError, match="PyDataset.*shuffle=False"):
        hm.fit(Batches(), verbose=0)
    history = hm.fit(x[:100], validation_split=0.2, batch_size=20, verbose=0)
    assert "val_log_likelihood" in history.history
    assert hm.wake_optimizer.iterations.numpy() == 4  # 80 examples, batches of 20


@pytest.mark.parametrize("seed", [0, None])  # tfhm's seeded loop, and Keras' own
@pytest.mark.parametrize("kwargs, match", [
    # Keras trains batch_size=0 in batches of 32 and splits off a negative
    # number of rows for validation_split >= 1.
    (dict(batch_size=0), r"`batch_size` must be a positive int.*batch_size=0"),
    (dict(batch_size=2.5), r"`batch_size` must be a positive int.*batch_size=2\.5"),
    (dict(validation_split=1.5), r"`validation_split` must be a float in \[0, 1\).*1\.5"),
    (dict(validation_split=-0.1), r"`validation_split` must be.*-0\.1"),
    (dict(validation_split=0.5, validation_batch_size=0),
     r"`validation_batch_size` must be a positive integer"),
    (dict(validation_split=0.5, validation_freq=0),  # Keras: ZeroDivisionError
     r"`validation_freq` must be a positive integer"),
    (dict(epochs=1, initial_epoch=3),  # Keras trains nothing
     r"`epochs` must be an integer >= initial_epoch.*epochs=1, initial_epoch=3"),
    (dict(epochs=1.5), r"`epochs` must be an integer.*epochs=1\.5"),  # Keras: TypeError
    (dict(initial_epoch=-1), r"`initial_epoch` must be an integer >= 0"),
    # Callbacks that would watch a log fit never writes (Keras warns each
    # epoch and the callback never acts), or that would watch it upside down.
    (dict(callbacks=[keras.callbacks.EarlyStopping()]),
     r"EarlyStopping monitors 'val_loss', which HelmholtzMachine.fit does not log.*"
     r"fit logs wake_loss, sleep_loss, elbo, ess, and with validation_data"),
    (dict(callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="val_elbo", mode="max")]),
     r"ReduceLROnPlateau monitors 'val_elbo'.*does not log"),  # no validation here
    (dict(callbacks=(keras.callbacks.EarlyStopping(monitor="elbo", mode="min"),)),
     r"EarlyStopping would treat a fall of 'elbo' as progress: pass mode='max'"),
    (dict(validation_split=0.2, callbacks=[keras.callbacks.ModelCheckpoint(
        "m.keras", monitor="val_log_likelihood", save_best_only=True, mode="min")]),
     r"ModelCheckpoint would treat a fall of 'val_log_likelihood'.*mode='max'"),
    (dict(callbacks=[keras.callbacks.EarlyStopping(monitor="wake_loss", mode="max")]),
     r"treat a rise of 'wake_loss' as progress: pass mode='min'"),
])
def test_fit_refuses_what_keras_would_coerce_or_ignore(seed, kwargs, match):
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=seed)
    hm.compile(num_samples=2)
    with pytest.raises(ValueError, match=match):
        hm.fit(x[:40], verbose=0, **{"epochs": 1, **kwargs})
    assert hm.wake_optimizer.iterations.numpy() == 0


@pytest.mark.parametrize("seed", [None, 0])
def test_evaluate_refuses_batch_size_0(seed):
    x, _ = tfhm.datasets.load_digits()
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer.*=0"):
        _compiled().evaluate(x[:40], batch_size=0, seed=seed, verbose=0)


def test_fit_takes_the_callbacks_that_watch_what_it_logs(tmp_path):
    x, _ = tfhm.datasets.load_digits()
    hm = _compiled()
    stop = keras.callbacks.EarlyStopping(monitor="elbo", mode="max", patience=0)
    history = hm.fit(x[:40], batch_size=20, epochs=3, verbose=0, validation_split=0.5,
                     callbacks=[stop, keras.callbacks.ModelCheckpoint(tmp_path / "m.keras"),
                                keras.callbacks.ModelCheckpoint(
                                    tmp_path / "b.keras", monitor="val_log_likelihood",
                                    mode="max", save_best_only=True)])
    assert len(history.history["elbo"]) == (stop.stopped_epoch + 1 if stop.stopped_epoch
                                            else 3)
    assert (tmp_path / "m.keras").exists() and (tmp_path / "b.keras").exists()


@pytest.mark.parametrize("bad, match", [
    (0.5, r"only the values 0 and 1.*x\[\d+, \d+\]=0\.5 in batch 0.*"),
    (np.nan, r"only the values 0 and 1.*=nan in batch 0"),
])
@pytest.mark.parametrize("method", ["fit", "evaluate"])
def test_bad_values_in_a_dataset_raise_before_any_weight_changes(method, bad, match):
    # Issue 11.3: datasets used to train on NaN and non-binary values.
    x, _ = tfhm.datasets.load_digits()
    x = x[:40].copy()
    x[3, 5] = bad
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(20)
    hm = _compiled()
    before = [v.numpy() for v in hm.weights]
    with pytest.raises(ValueError, match=match):
        getattr(hm, method)(dataset, verbose=0)
    assert hm.wake_optimizer.iterations.numpy() == 0
    for u, v in zip(before, hm.weights):
        np.testing.assert_array_equal(u, v.numpy())


def test_bad_values_in_a_later_batch_stop_fit_at_that_batch():
    x, _ = tfhm.datasets.load_digits()
    x = x[:60].copy()
    x[45, 0] = 2
    hm = _compiled()
    with pytest.raises(ValueError, match=r"x\[5, 0\]=2 in batch 2"):
        hm.fit(tf.data.Dataset.from_tensor_slices((x,)).batch(20), verbose=0)
    assert hm.wake_optimizer.iterations.numpy() == 2  # the two good batches
    dataset = tf.data.Dataset.from_tensor_slices(x[:40]).batch(20)
    hm.fit(dataset, validation_data=dataset, verbose=0)  # good data trains


def test_encode_is_the_recognizers_seeded_draw():
    # Issue 11.14: the model had no encode in memory.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8, 4), seed=0)
    codes = hm.encode(x[:5], num_samples=3, seed=7)
    latents, _ = hm.recognizer.sample(tf.constant(x[:5]), 3, tf.constant([7, 0]))
    for l, z in enumerate(latents):
        np.testing.assert_array_equal(codes[f"z{l + 1}"].numpy(), z.numpy())
    means = hm.recognizer(tf.constant(x[:5]))
    for l, m in enumerate(means):
        np.testing.assert_array_equal(codes[f"z{l + 1}_probs"].numpy(), m.numpy())
    assert codes["z1"].shape == (3, 5, 8) and codes["z2"].shape == (3, 5, 4)
    again = hm.encode(x[:5], num_samples=3, seed=7)
    np.testing.assert_array_equal(again["z2"].numpy(), codes["z2"].numpy())
    # The twin of the exported recognizer's `encode` (same seed semantics).
    exported = tfhm.export.RecognizerModule(hm).encode(
        tf.constant(x[:5]), tf.constant([7, 0], tf.int32))
    one = hm.encode(x[:5], seed=7)  # no sample axis, as exported (issue 25.15)
    assert exported["seed"].numpy().tolist() == [7, 0]  # the seed it used
    for key, value in exported.items():
        if key == "seed":
            continue
        if key.endswith("_probs"):  # a compiled graph: equal up to float32 rounding
            np.testing.assert_allclose(one[key].numpy(), value.numpy(), rtol=1e-6)
        else:  # the same draw
            np.testing.assert_array_equal(one[key].numpy(), value.numpy())
    with pytest.raises(ValueError, match="num_samples=0"):
        hm.encode(x[:5], num_samples=0)
    with pytest.raises(ValueError, match="only the values 0 and 1"):
        hm.encode(np.full((2, 64), 0.5))


def test_predict_is_a_fresh_one_sample_elbo_per_call():
    # Issue 11.14 (documented): predict returns log w of one draw of q.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    a = hm.predict(x[:20], verbose=0)
    b = hm.predict(x[:20], verbose=0)
    assert a.shape == (20,) and np.all(a < 0) and not np.array_equal(a, b)
    exact = hm.exact_log_likelihood(x[:20]).numpy()
    # E_q[log w] = ELBO <= log p(x); here the gap (the posterior KL) is about
    # 1 nat per example, far above the noise of a mean over 20 examples.
    assert a.mean() < exact.mean()


def test_summary_shows_output_shapes():
    # Issue 11.15: every output shape used to be "?".
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16, 8), hidden_units=(10,))
    lines = []
    hm.summary(line_length=120, print_fn=lambda line, **kwargs: lines.append(line))
    text = "\n".join(lines)
    assert "?" not in text
    assert "(None, 64)" in text and "[(None, 16), (None, 8)]" in text


def test_compute_gradients_scales_each_loss_before_differentiating():
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(3, 2), seed=0)
    args = (estimator_step.make("reweighted_wake_sleep", 3, "wake_sleep")[0],
            hm.generator, hm.recognizer, tf.constant(ALL_X6), tf.constant([1, 2]), 3)
    g, r, logs = estimator_step.compute_gradients(*args)
    gs, rs, logs_s = estimator_step.compute_gradients(
        *args, scale_losses=(lambda loss: 8.0 * loss, lambda loss: 4.0 * loss))
    for u, v in zip(g, gs):  # powers of two: exact
        np.testing.assert_array_equal(8.0 * u.numpy(), v.numpy())
    for u, v in zip(r, rs):
        np.testing.assert_array_equal(4.0 * u.numpy(), v.numpy())
    assert float(logs["wake_loss"]) == float(logs_s["wake_loss"])  # logs unscaled


def test_fit_under_mixed_float16_scales_both_losses():
    # Issue 10, acceptance 5.
    x, _ = tfhm.datasets.load_digits()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), hidden_units=(16,),
                                   seed=0)
        hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3),
                   sleep_optimizer=keras.optimizers.Adam(1e-3),
                   algorithm="reweighted_wake_sleep", num_samples=3)
    finally:
        keras.config.set_dtype_policy("float32")
    for optimizer in (hm.wake_optimizer, hm.sleep_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    scaled = []
    for name in ("wake_optimizer", "sleep_optimizer"):
        optimizer = getattr(hm, name)

        def spy(loss, optimizer=optimizer, name=name):
            scaled.append(name)
            return keras.optimizers.LossScaleOptimizer.scale_loss(optimizer, loss)

        optimizer.scale_loss = spy
    history = hm.fit(x[:200], batch_size=50, epochs=2, verbose=0)
    assert set(scaled) == {"wake_optimizer", "sleep_optimizer"}
    assert np.isfinite(history.history["elbo"]).all()
    for optimizer in (hm.wake_optimizer, hm.sleep_optimizer):
        assert float(optimizer.dynamic_scale) == 2.0**15  # no overflow: never halved
        assert int(optimizer.step_counter) == 8  # 8 finite, unscaled updates
    float32 = _compiled()
    assert not isinstance(float32.wake_optimizer, keras.optimizers.LossScaleOptimizer)


# ------------------------------------------------------ light argument checks
def test_checks_and_algorithms_import_without_tensorflow():
    import subprocess
    import sys
    code = ("import sys, tfhm._checks, tfhm.algorithms; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("value, ok", [
    (1e-3, True), (2, True), (0, False), (-1e-3, False), (float("nan"), False),
    (float("inf"), False), (True, False), ("0.1", False), (None, False)])
def test_positive_float(value, ok):
    from tfhm import _checks
    if ok:
        assert _checks.positive_float("lr", value) == float(value)
    else:
        with pytest.raises(ValueError, match=r"`lr` must be a finite number > 0\. "
                                             r"Received: lr="):
            _checks.positive_float("lr", value)


def test_int_in_range():
    from tfhm import _checks
    assert _checks.int_in_range("epochs", 0, 0) == 0
    assert _checks.int_in_range("k", np.int64(5), 1, 5) == 5
    with pytest.raises(ValueError, match=r"in \[1, 5\]\. Received: k=6"):
        _checks.int_in_range("k", 6, 1, 5)
    with pytest.raises(ValueError, match=r">= 0\. Received: epochs=-1"):
        _checks.int_in_range("epochs", -1, 0)
    for bad in (True, 2.0, "3"):
        with pytest.raises(ValueError, match="must be an integer"):
            _checks.int_in_range("k", bad, 1)


def test_algorithms_resolve_is_gone_with_a_pointer_to_the_registry():
    # Its rules live once, in tfhm.estimators.registry.resolve (tested in
    # tests/test_estimators.py); the old name says where they went.
    with pytest.raises(AttributeError, match=r"removed.*estimators\.registry\.resolve"):
        tfhm.algorithms.resolve  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        tfhm.algorithms.nope  # noqa: B018
    assert not hasattr(tfhm.algorithms, "resolve")
    assert "resolve" not in tfhm.algorithms.__all__
    assert objectives.Algorithm is tfhm.algorithms.Algorithm  # re-exported


def test_network_initializer_seeds_keep_the_numbers_of_0_1_0():
    from tfhm import _seeds
    assert _seeds.network_initializer_seeds(4, "generator", 3) == _seeds.initializer_seeds(4, 3)
    assert _seeds.network_initializer_seeds(4, "recognizer", 2) == _seeds.initializer_seeds(5, 2)
    assert _seeds.network_initializer_seeds(None, "recognizer", 2) == [None, None]
    with pytest.raises(ValueError, match="network.*'decoder'"):
        _seeds.network_initializer_seeds(1, "decoder", 1)


def test_networks_moved_but_importable_and_registered_as_before():
    from tfhm import model, networks
    assert model.Generator is networks.Generator and model.Recognizer is networks.Recognizer
    for cls in (networks.Generator, networks.Recognizer, model.HelmholtzMachine):
        assert keras.saving.get_registered_name(cls) == f"tfhm>{cls.__name__}"
    hm = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(3, 2), hidden_units=(4,), seed=2)
    config = hm.get_config()
    # The architecture is the networks' (issue 23 adds which conditionals).
    generator = {k: v for k, v in hm.generator.get_config().items() if k != "conditional"}
    assert config == {**generator, "name": hm.name, "generator_conditional": "sbn",
                      "recognizer_conditional": "sbn"}
    assert tfhm.HelmholtzMachine.from_config(config).get_config() == config


# ----------------------------------------------------------------- issue 25
@pytest.mark.parametrize("seed", [-1, 2**31, 2**32 - 1, 99999999999, np.int64(-5)])
def test_every_seed_argument_refuses_ints_out_of_range(seed):
    # Issue 25.1: an int seed outside [0, 2**31) was wrapped (4294967295 drew
    # the numbers of -1, 99999999999 those of 1215752191); now refused with
    # what was received, as the constructor refuses it.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=0)
    hm.compile()
    mask = np.ones((2, 64), bool)
    calls = {"log_likelihood": lambda: hm.log_likelihood(x[:2], 10, seed=seed),
             "elbo": lambda: hm.elbo(x[:2], seed=seed),
             "sample": lambda: hm.sample(2, seed=seed),
             "encode": lambda: hm.encode(x[:2], seed=seed),
             "evaluate": lambda: hm.evaluate(x[:2], seed=seed, verbose=0),
             "inpaint": lambda: hm.inpaint(x[:2], mask, seed=seed),
             "importance_sampled": lambda: tfhm.evaluation.importance_sampled(
                 hm, x[:2], 10, seed=seed)}
    for name, call in calls.items():  # noqa: B007  (named for the traceback)
        with pytest.raises(ValueError, match=r"\[0, 2147483647\].*Received: seed="
                           + re.escape(repr(seed))):
            call()
    with pytest.raises(ValueError, match="must be an int"):
        tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=2**31)


def test_seeds_at_the_ends_of_the_range_and_int32_pairs_still_work():
    # Issue 25.1: the range's ends are accepted; int32 [2] tensors as before.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=0)
    top = hm.log_likelihood(x[:3], 10, seed=2**31 - 1).numpy()
    pair = hm.log_likelihood(x[:3], 10, seed=tf.constant([2**31 - 1, 0])).numpy()
    np.testing.assert_array_equal(top, pair)  # int s is the pair [s, 0]
    negative_pair = hm.log_likelihood(x[:3], 10, seed=tf.constant([-1, 0])).numpy()
    assert not np.array_equal(negative_pair, top)  # [-1, 0] is its own seed
    np.testing.assert_array_equal(hm.sample(3, seed=0)["x"].numpy(),
                                  hm.sample(3, seed=np.int32(0))["x"].numpy())


def test_setting_eval_num_samples_takes_effect_in_evaluate():
    # Issue 25.2: after one evaluate, `hm.eval_num_samples = 1000` gave a
    # number of neither K (the compiled test step kept K=100). Now evaluate
    # uses the new K: the number of hm.log_likelihood(x, K, seed) (float32
    # rounding of a mean of 60 numbers: 1e-5 relative).
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    hm.compile()
    for k in (100, 1000, 30):
        hm.eval_num_samples = k
        logs = hm.evaluate(x[:60], seed=3, verbose=0, return_dict=True)
        expected = hm.log_likelihood(x[:60], k, seed=3).numpy().mean()
        np.testing.assert_allclose(logs["log_likelihood"], expected, rtol=1e-5)
    # And the unseeded path (batches of the seed generator) also uses it:
    # with K=1 the log-likelihood estimate is the ELBO itself (log of one
    # weight), with K=1000 it is above it (Jensen, strict for unequal weights).
    hm.eval_num_samples = 1
    logs = hm.evaluate(x[:60], verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["log_likelihood"], logs["elbo"], rtol=1e-6)
    hm.eval_num_samples = 1000
    logs = hm.evaluate(x[:60], verbose=0, return_dict=True)
    assert logs["log_likelihood"] > logs["elbo"] + 0.1
    assert hm.get_compile_config()["eval_num_samples"] == 1000  # saved with the model
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"Received: eval_num_samples={bad!r}"):
            hm.eval_num_samples = bad


@pytest.mark.parametrize("make, match", [
    (lambda x: tf.data.Dataset.from_tensor_slices(x),
     r"\[batch, 64\].*\.batch\(.*Received: a dataset whose elements have shape \(64,\)"),
    (lambda x: tf.data.Dataset.from_tensor_slices(x.reshape(-1, 8, 8)).batch(10),
     r"\[batch, 64\].*Received: a dataset whose elements have shape \(None, 8, 8\)"),
    (lambda x: tf.data.Dataset.from_tensor_slices(x[:, :10]).batch(10),
     r"\[batch, 64\].*Received: a dataset whose elements have shape \(None, 10\)"),
    (lambda x: tf.data.Dataset.from_tensor_slices({"image": x}).batch(10),
     r"dict.*key 'x'.*Received: a dataset of dicts with keys \['image'\]"),
])
def test_datasets_of_the_wrong_shape_or_keys_are_refused_in_one_line(make, match):
    # Issue 25.3 and 25.4: an unbatched dataset, one of [n, 8, 8], or of dicts
    # crashed inside the batch checker (a TensorFlow shape error) or with
    # AttributeError: 'dict' object has no attribute 'shape'.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=0)
    hm.compile()
    for call in (lambda d: hm.fit(d, verbose=0), lambda d: hm.evaluate(d, verbose=0),
                 lambda d: hm.fit(x[:20], validation_data=d, verbose=0)):
        with pytest.raises(ValueError, match=match):
            call(make(x[:20]))
    assert hm.wake_optimizer.iterations.numpy() == 0  # nothing trained


def test_a_dataset_of_dicts_with_key_x_trains_like_one_of_batches():
    # Issue 25.4: {"x": batch} elements are the batches (the same steps, the
    # same weights as a dataset of plain batches), and they are checked.
    x, _ = tfhm.datasets.load_digits()

    def fitted(dataset):
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=0)
        hm.compile()
        hm.fit(dataset, verbose=0)
        return hm, [v.numpy() for v in hm.trainable_variables]

    plain = tf.data.Dataset.from_tensor_slices(x[:40]).batch(20)
    hm, expected = fitted(plain)
    _, got = fitted(tf.data.Dataset.from_tensor_slices({"x": x[:40]}).batch(20))
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    logs = hm.evaluate(tf.data.Dataset.from_tensor_slices({"x": x[:40]}).batch(20),
                       verbose=0, return_dict=True)
    assert np.isfinite(logs["log_likelihood"])
    bad = np.array(x[:40])
    bad[3, 5] = 0.5
    with pytest.raises(ValueError, match=r"x\[3, 5\]=0.5 in batch 0"):
        hm.fit(tf.data.Dataset.from_tensor_slices({"x": bad}).batch(20), verbose=0)


def test_encode_without_num_samples_has_the_exported_shape():
    # Issue 25.15: hm.encode(x) gave z1 as [1, batch, d] where the exported
    # `encode` gives [batch, d]. Without num_samples there is one draw and no
    # sample axis, equal to the exported draw and to num_samples=1's [0].
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8, 4), seed=0)
    one = hm.encode(x[:5], seed=7)
    assert one["z1"].shape == (5, 8) and one["z2"].shape == (5, 4)
    stacked = hm.encode(x[:5], num_samples=1, seed=7)
    assert stacked["z1"].shape == (1, 5, 8)
    exported = tfhm.export.RecognizerModule(hm).encode(
        tf.constant(x[:5]), tf.constant([7, 0], tf.int32))
    for key in ("z1", "z2"):
        np.testing.assert_array_equal(one[key].numpy(), stacked[key].numpy()[0])
        np.testing.assert_array_equal(one[key].numpy(), exported[key].numpy())


@pytest.mark.parametrize("kwargs, match", [
    (dict(validation_freq=2), r"would save the current model on every epoch without "
                              r"validation.*Received: validation_freq=2"),
    (dict(save_freq=1), r"save_freq=1 would save at every 1 batches.*save_freq='epoch'"),
])
def test_fit_refuses_a_best_only_checkpoint_that_would_save_without_validation(
        tmp_path, kwargs, match):
    # Keras 3.15's ModelCheckpoint(save_best_only=True) warns and saves where
    # its monitor is missing, so these would leave the latest model, not the
    # best, in the file.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=0)
    hm.compile(num_samples=2)
    save_freq = kwargs.pop("save_freq", "epoch")
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_log_likelihood", mode="max",
        save_best_only=True, save_freq=save_freq)
    with pytest.raises(ValueError, match=match):
        hm.fit(x[:40], validation_split=0.5, epochs=3, batch_size=10, verbose=0,
               callbacks=[checkpoint], **kwargs)
    assert hm.wake_optimizer.iterations.numpy() == 0 and not (tmp_path / "best.keras").exists()

    class OnValidatedEpochs(keras.callbacks.ModelCheckpoint):
        def on_epoch_end(self, epoch, logs=None):
            if "val_log_likelihood" in (logs or {}):
                super().on_epoch_end(epoch, logs)

    if "validation_freq" in kwargs:  # a subclass that decides when to save trains
        hm.fit(x[:40], validation_split=0.5, epochs=3, batch_size=10, verbose=0,
               callbacks=[OnValidatedEpochs(str(tmp_path / "best.keras"),
                                            monitor="val_log_likelihood", mode="max",
                                            save_best_only=True)], **kwargs)
        assert hm.wake_optimizer.iterations.numpy() == 6  # 20 examples, batches of 10


def test_fit_has_keras_signature_and_names_itself_in_binding_errors():
    # fit binds its arguments to keras.Model.fit's own signature (issue 26.6)
    # instead of re-declaring it: help() shows Keras' parameters, positional
    # arguments mean what they mean in Keras, and a bad one names fit.
    import inspect

    assert inspect.signature(tfhm.HelmholtzMachine.fit) == inspect.signature(keras.Model.fit)
    x, _ = tfhm.datasets.load_digits()
    weights = []
    for args, kwargs in (((x[:40], None, 20, 1, 0), {}),
                         ((x[:40],), dict(batch_size=20, epochs=1, verbose=0))):
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4,), seed=0)
        hm.compile(num_samples=2)
        hm.fit(*args, **kwargs)
        assert hm.wake_optimizer.iterations.numpy() == 2  # 40 examples, batches of 20
        weights.append([w.numpy() for w in hm.weights])
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match=r"HelmholtzMachine.fit takes the arguments of "
                                        r"keras.Model.fit: .*'batchsize'"):
        hm.fit(x[:40], batchsize=20)


class _IterationsAtEpochEnd(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(int(self.model.wake_optimizer.iterations.numpy()))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_steps_per_execution_groups_steps_without_changing_them(jit_compile):
    # Issue 27.1: several steps per compiled call. The steps are the same
    # (bitwise weights and per-epoch logs), and every epoch still ends after
    # its own 10 steps (1,000 examples in batches of 100).
    x, _ = tfhm.datasets.load_digits()
    runs = {}
    for spe in (1, 5, 10):
        hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
        hm.compile(num_samples=3, steps_per_execution=spe, jit_compile=jit_compile)
        seen = _IterationsAtEpochEnd()
        history = hm.fit(x[:1000], batch_size=100, epochs=3, verbose=0, callbacks=[seen])
        assert seen.seen == [10, 20, 30], (spe, seen.seen)
        runs[spe] = hm, history.history
    for spe in (5, 10):
        for a, b in zip(runs[1][0].weights, runs[spe][0].weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert runs[spe][1] == runs[1][1]


def test_seeded_fit_refuses_steps_per_execution_that_would_cross_epochs():
    # Keras runs a call's steps from one iterator over all the seeded epochs:
    # with 3 steps a call and 10 steps an epoch, the first "epoch" held 12
    # steps (its callbacks and checkpoints in the wrong place). Unseeded fit
    # (Keras' own shuffling, one iterator an epoch) keeps its boundaries.
    x, _ = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
    hm.compile(num_samples=3, steps_per_execution=3)
    with pytest.raises(ValueError, match=r"divide the 10 steps of an epoch \(1000 examples in "
                                         r"batches of 100\).*\[1, 2, 5, 10\].*"
                                         r"steps_per_execution=3"):
        hm.fit(x[:1000], batch_size=100, epochs=2, verbose=0)
    assert hm.wake_optimizer.iterations.numpy() == 0
    unseeded = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,))
    unseeded.compile(num_samples=3, steps_per_execution=3)
    seen = _IterationsAtEpochEnd()
    unseeded.fit(x[:1000], batch_size=100, epochs=3, verbose=0, callbacks=[seen])
    assert seen.seen == [10, 20, 30]
