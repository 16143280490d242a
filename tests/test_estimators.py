"""tfhm.estimators: every estimator against exact gradients on enumerable models.

The models are small enough to enumerate (data_dim 6, latent_dims (3,) and
(3, 2): 8 and 32 latent states; SBN layers, and DARN in p with NADE in q
for the score-function estimators, issue 23), so the target of every estimator is
computed exactly, by automatic differentiation through the enumerated sum
over z (and over K-tuples of z for the K-sample bound), and compared with
the mean of N independent estimates.

Statistical tolerance: per coordinate, |mean - exact| <= 5 SE + 1e-5, with
SE = sd / sqrt(N) from the N estimates themselves. With N = 20000 the SE is
well estimated, and a 5 SE excursion has two-sided probability 5.7e-7 per
coordinate: over the ~1000 coordinates checked in this file, a correct
estimator fails with probability < 1e-3. The draws are seeded, so the
outcome is fixed; the tests also check that the comparison has power (a
wrong target is rejected at > 5 SE).
"""

import itertools
import subprocess
import sys
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfhm import _seeds, estimators, objectives
from tfhm.algorithms import Algorithm, RecognizerUpdate
from tfhm.estimators import registry, step
from tfhm.networks import Generator, Recognizer

DATA_DIM = 6
X = np.array([[1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 1, 1]], np.float32)
N = 20000  # estimates per (model, estimator, K)
# The autoregressive model's draws are loops, which tf.vectorized_map runs
# seed by seed: 8000 estimates (the 5 SE bound holds for any N large enough
# to estimate the SE; the power test below still rejects a wrong target).
N_OF = {"autoregressive": 8000}
# model: (latent_dims, p's conditional, q's conditional). Issue 23 adds one
# whose every layer is autoregressive (DARN in p, NADE in q; their draws are
# loops over the units) for the score-function estimators; DisARM needs a
# factorized q and refuses it.
MODELS = {"one_layer": ((3,), "sbn", "sbn"), "two_layers": ((3, 2), "sbn", "sbn"),
          "autoregressive": ((3, 2), "darn", "nade")}
FACTORIZED_MODELS = ["one_layer", "two_layers"]
# K per model for the K-sample bound: 8**3 = 512 and 32**2 = 1024 K-tuples.
BOUND_K = {"one_layer": 3, "two_layers": 2, "autoregressive": 2}


def _networks(model, seed=0):
    """A pair with N(0, 1) weights (no symmetric, near-uniform posterior)."""
    latent_dims, p, q = MODELS[model]
    gen = Generator(DATA_DIM, latent_dims, seed=seed, conditional=p)
    rec = Recognizer(DATA_DIM, latent_dims, seed=seed, conditional=q)
    rng = np.random.RandomState(seed)
    for v in gen.trainable_variables + rec.trainable_variables:
        v.assign(rng.normal(0.0, 1.0, v.shape).astype(np.float32))
    return gen, rec


NETWORKS = {name: _networks(name) for name in MODELS}


def _states(latent_dims):
    """All latent states as a list of float32 `[S, 1, d_l]`, bottom to top."""
    n = sum(latent_dims)
    bits = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float32)
    splits = np.split(bits, np.cumsum(latent_dims)[:-1], axis=1)
    return [tf.constant(b[:, None, :]) for b in splits]


def _objective(gen, rec, target, k):
    """The batch mean of the exact target, differentiable in both networks."""
    latents = _states(gen.latent_dims)
    log_p = gen.log_prob(X, latents)  # [S, batch]
    log_q = rec.log_prob(X, latents)
    if target == "elbo":
        value = tf.reduce_sum(tf.exp(log_q) * (log_p - log_q), axis=0)
    elif target == "log_likelihood":
        value = tf.reduce_logsumexp(log_p, axis=0)
    else:  # the K-sample bound: sum over all K-tuples of states
        tuples = np.array(list(itertools.product(range(log_p.shape[0]), repeat=k)))
        log_w = tf.gather(log_p - log_q, tuples)  # [T, K, batch]
        prob = tf.exp(tf.reduce_sum(tf.gather(log_q, tuples), axis=1))  # [T, batch]
        bound = tf.reduce_logsumexp(log_w, axis=1) - np.log(k)
        value = tf.reduce_sum(prob * bound, axis=0)
    return tf.reduce_mean(value)


_EXACT, _ESTIMATES = {}, {}


def _exact_elbo(gen, rec, x):
    latents = _states(gen.latent_dims)
    log_p, log_q = gen.log_prob(x, latents), rec.log_prob(x, latents)
    return float(tf.reduce_sum(tf.exp(log_q) * (log_p - log_q)))


def exact(model, target, k=None):
    """Gradient of the NEGATED target (what the losses' gradients estimate)."""
    key = (model, target, k)
    if key not in _EXACT:
        gen, rec = NETWORKS[model]
        with tf.GradientTape(persistent=True) as tape:
            value = -_objective(gen, rec, target, k)
        _EXACT[key] = {}
        for name, net in (("generator", gen), ("recognizer", rec)):
            grads = tape.gradient(value, net.trainable_variables)
            _EXACT[key][name] = np.concatenate([
                np.zeros(np.prod(v.shape)) if g is None else tf.reshape(g, [-1]).numpy()
                for g, v in zip(grads, net.trainable_variables)])
    return _EXACT[key]


def estimates(model, name, k, **options):
    key = (model, name, k, tuple(sorted(options.items())))
    if key not in _ESTIMATES:
        estimator = estimators.get(name)(**options)
        estimator.build(DATA_DIM, seed=0)
        seed = tf.constant([1, zlib.crc32(repr(key).encode()) % 2**30])
        _ESTIMATES[key] = estimators.gradient_estimates(
            NETWORKS[model], X, estimator, k, N_OF.get(model, N), seed)
    return _ESTIMATES[key]


def z_scores(samples, target):
    """Per-coordinate (mean - target) / SE, float64."""
    samples = samples.astype(np.float64)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    return (samples.mean(axis=0) - target) / np.maximum(se, 1e-12), se


def assert_unbiased(samples, target, label):
    z, se = z_scores(samples, target)
    bad = np.abs(samples.mean(axis=0) - target) > 5 * se + 1e-5
    print(f"{label}: max |z| {np.abs(z).max():.2f} over {z.size} coordinates, "
          f"median SE / |exact| {np.median(se / (np.abs(target) + 1e-12)):.4f}")
    assert not bad.any(), (label, z[bad], target[bad])


# ------------------------------------------------------------- registry
def test_registry_lists_every_estimator_and_refuses_unknown_names():
    assert estimators.names() == [
        "wake_sleep", "reweighted_wake_sleep", "vimco", "reinforce", "nvil",
        "reinforce_loo", "disarm"]
    for name in estimators.names():  # each class carries its listed spec's facts
        cls, listed = estimators.get(name), estimators.spec(name)
        assert cls.name == name and listed.path == f"{cls.__module__}:{cls.__qualname__}"
        assert [getattr(cls, f) for f in registry.FACTS] == [
            getattr(listed, f) for f in registry.FACTS]
    with pytest.raises(ValueError, match="'vimco'.*Received: 'vimcoo'"):
        estimators.get("vimcoo")
    with pytest.raises(ValueError, match="already registered"):
        estimators.register(type("Other", (estimators.Estimator,),
                                 {"name": "vimco", "objective": "bound"}))


def test_tfhm_estimators_write_their_facts_once_in_the_registry(monkeypatch):
    # A class of tfhm's own (the path of a listed spec) that sets a fact of
    # its spec again is refused, naming the fact.
    monkeypatch.delitem(registry._CLASSES, "vimco")  # pylint: disable=protected-access
    again = type("VIMCO", (estimators.Estimator,),
                 {"name": "vimco", "min_num_samples": 3,
                  "__module__": "tfhm.estimators.vimco", "__qualname__": "VIMCO"})
    with pytest.raises(ValueError, match=r"'vimco' is listed.*min_num_samples=3"):
        estimators.register(again)
    assert estimators.spec("vimco").min_num_samples == 2
    # A user's class under a listed name elsewhere disagrees with the spec.
    other = type("Mine", (estimators.Estimator,), {"name": "vimco", "objective": "bound"})
    with pytest.raises(ValueError, match="disagrees"):
        estimators.register(other)


def test_names_and_resolve_need_no_tensorflow():
    code = ("import sys; from tfhm.estimators import registry; "
            "print(registry.names(), registry.resolve('reweighted_wake_sleep', "
            "recognizer_update='wake')); assert 'tensorflow' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "('reweighted_wake_sleep', 5, {'insomnia': 1.0})" in out.stdout


def test_resolve_parses_names_k_and_options():
    resolve = registry.resolve
    assert resolve("wake_sleep") == ("wake_sleep", 1, {})
    assert resolve("wake_sleep", recognizer_update="sleep") == ("wake_sleep", 1, {})
    assert resolve(Algorithm.REWEIGHTED_WAKE_SLEEP) == ("reweighted_wake_sleep", 5, {})
    assert resolve("reweighted_wake_sleep", 3, "wake_sleep", 0.5)[2] == {"insomnia": 0.5}
    assert resolve("disarm", 4) == ("disarm", 4, {})
    for kwargs, message in [
            ({"algorithm": "wake_sleep", "recognizer_update": "wake"}, "dreams only"),
            ({"algorithm": "vimco", "insomnia": 0.5}, "insomnia=0.5"),
            ({"algorithm": "reweighted_wake_sleep", "recognizer_update": "wake",
              "insomnia": 0.5}, "means insomnia=1.0"),
            ({"algorithm": "disarm", "num_samples": 3}, "num_samples=3"),
            ({"algorithm": "nope"}, "'wake_sleep', 'reweighted_wake_sleep'.*'nope'")]:
        with pytest.raises(ValueError, match=message):
            resolve(**kwargs)


@pytest.mark.parametrize("name,bad_k", [("vimco", 1), ("reinforce_loo", 1),
                                        ("disarm", 3), ("wake_sleep", 0)])
def test_bad_num_samples_are_refused(name, bad_k):
    with pytest.raises(ValueError, match=f"num_samples={bad_k}"):
        estimators.get(name)().check_num_samples(bad_k)


def test_insomnia_is_pyros_weight_of_the_wake_update():
    rws = estimators.get("reweighted_wake_sleep")
    assert rws().insomnia == 0.5
    assert rws("wake").insomnia == 1.0 and rws(RecognizerUpdate.SLEEP).insomnia == 0.0
    for bad in (1.5, -0.1, float("nan"), True):
        with pytest.raises(ValueError, match="insomnia"):
            rws(bad)


def test_make_and_serialize_round_trip():
    estimator, k = step.make("reweighted_wake_sleep", None, "wake")
    assert (estimator.insomnia, k) == (1.0, 5)
    assert estimator.recognizer_update == RecognizerUpdate.WAKE
    assert estimator.algorithm == Algorithm.REWEIGHTED_WAKE_SLEEP
    again = step.deserialize(step.serialize(estimator))
    assert type(again) is type(estimator) and again.get_config() == {"insomnia": 1.0}
    nvil = estimators.get("nvil")(hidden_units=(7,), decay=0.5)
    assert step.make(nvil, 3) == (nvil, 3)
    assert step.deserialize(step.serialize(nvil)).get_config() == {
        "hidden_units": (7,), "decay": 0.5}
    assert estimators.get("reweighted_wake_sleep")(0.3).recognizer_update is None
    with pytest.raises(ValueError, match="constructor"):
        step.make(nvil, insomnia=0.5)


# --------------------------------------------------------- unbiasedness
UNBIASED = [  # (estimator, K per model or None for the bound's K, target)
    ("vimco", None, "bound"),
    ("reinforce", None, "bound"),
    ("nvil", 1, "elbo"),
    ("reinforce_loo", 2, "elbo"),
    ("reinforce_loo", 4, "elbo"),
    ("disarm", 2, "elbo"),
    ("disarm", 4, "elbo"),
]


@pytest.mark.parametrize("model,name,k,target", [
    (model, *case) for case in UNBIASED for model in MODELS
    if model in FACTORIZED_MODELS or case[0] != "disarm"])
def test_mean_estimate_is_the_exact_gradient(model, name, k, target):
    k = BOUND_K[model] if k is None else k
    assert estimators.get(name).objective == target
    exact_grad = exact(model, target, k if target == "bound" else None)
    for network, samples in estimates(model, name, k).items():
        assert_unbiased(samples, exact_grad[network], f"{model} {name} K={k} {network}")


@pytest.mark.parametrize("model", MODELS)
def test_the_comparison_has_power(model):
    # VIMCO's recognizer mean is not the ELBO's gradient (nor RLOO's the
    # bound's): the 5 SE test tells the two objectives apart.
    k = BOUND_K[model]
    z, _ = z_scores(estimates(model, "vimco", k)["recognizer"],
                    exact(model, "elbo")["recognizer"])
    print(f"{model} vimco K={k} recognizer vs the ELBO: max |z| {np.abs(z).max():.1f}")
    assert np.abs(z).max() > 10


def test_nvil_with_variance_above_one_is_the_scaled_elbo_gradient():
    nvil = estimators.get("nvil")()
    nvil.build(DATA_DIM, seed=0)
    nvil.state.signal_mean.assign(3.0)
    nvil.state.signal_var.assign(4.0)  # divides the recognizer's signal by 2
    samples = estimators.gradient_estimates(NETWORKS["one_layer"], X, nvil, 1, N,
                                            tf.constant([2, 0]))
    target = exact("one_layer", "elbo")
    assert_unbiased(samples["recognizer"], target["recognizer"] / 2.0,
                    "one_layer nvil v=4 recognizer")
    assert_unbiased(samples["generator"], target["generator"], "one_layer nvil v=4 generator")


# ----------------------------------------------------------------- bias
@pytest.mark.parametrize("model", MODELS)
def test_wake_sleep_is_biased_for_the_recognizer_only(model):
    # The generator's update is the ELBO's exact gradient given q's draws;
    # the sleep update of q is not the ELBO's gradient: report its size.
    samples = estimates(model, "wake_sleep", 1)
    target = exact(model, "elbo")
    assert_unbiased(samples["generator"], target["generator"], f"{model} wake_sleep generator")
    mean = samples["recognizer"].mean(axis=0)
    z, _ = z_scores(samples["recognizer"], target["recognizer"])
    relative = np.linalg.norm(mean - target["recognizer"]) / np.linalg.norm(
        target["recognizer"])
    cosine = mean @ target["recognizer"] / (
        np.linalg.norm(mean) * np.linalg.norm(target["recognizer"]))
    print(f"{model} wake_sleep recognizer bias: |bias| / |grad ELBO| {relative:.3f}, "
          f"cosine {cosine:.3f}, max |z| {np.abs(z).max():.1f}")
    assert np.abs(z).max() > 10 and relative > 0.1


@pytest.mark.parametrize("model", FACTORIZED_MODELS)
@pytest.mark.parametrize("insomnia", [1.0, 0.5])
def test_reweighted_wake_sleep_is_biased(model, insomnia):
    # Generator: the self-normalized estimate of grad log p(x) is biased at
    # finite K (O(1/K)); recognizer: not the gradient of the ELBO.
    samples = estimates(model, "reweighted_wake_sleep", 5, insomnia=insomnia)
    for network, target in (("generator", "log_likelihood"), ("recognizer", "elbo")):
        exact_grad = exact(model, target)[network]
        mean = samples[network].mean(axis=0)
        z, _ = z_scores(samples[network], exact_grad)
        relative = np.linalg.norm(mean - exact_grad) / np.linalg.norm(exact_grad)
        print(f"{model} rws K=5 insomnia={insomnia} {network} vs grad {target}: "
              f"|bias| / |grad| {relative:.3f}, max |z| {np.abs(z).max():.1f}")
        assert np.abs(z).max() > 5


def test_reweighted_wake_sleep_generator_bias_shrinks_with_k():
    # The self-normalized estimate is consistent: its bias for grad log p(x)
    # falls as K grows (Bornschein & Bengio 2015), here from K = 5 to 50.
    target = exact("one_layer", "log_likelihood")["generator"]
    bias = {k: np.linalg.norm(estimates("one_layer", "reweighted_wake_sleep", k,
                                        insomnia=1.0)["generator"].mean(axis=0) - target)
            for k in (5, 50)}
    print(f"one_layer rws generator |bias|: K=5 {bias[5]:.4f}, K=50 {bias[50]:.4f}, "
          f"|grad log p(x)| {np.linalg.norm(target):.4f}")
    assert bias[50] < 0.25 * bias[5]


# ------------------------------------------------------------- variance
def _variance(model, name, k):
    """Trace of the recognizer estimates' covariance, and its standard error.

    The trace is the mean of `||g_n - mean g||^2` over the N estimates, so
    its SE is the standard deviation of those squared norms over sqrt(N).
    """
    g = estimates(model, name, k)["recognizer"].astype(np.float64)
    squared = np.sum(np.square(g - g.mean(axis=0)), axis=1) * len(g) / (len(g) - 1)
    return squared.mean(), squared.std(ddof=1) / np.sqrt(len(g))


@pytest.mark.parametrize("model", FACTORIZED_MODELS)
def test_disarm_recognizer_variance_is_below_reinforce_loo(model):
    # Equal K = 2 (one antithetic pair vs two independent draws per layer),
    # the comparison of Dong et al. (2020), Section 6. Margin: the
    # difference must exceed 5 standard errors of the difference (measured
    # here: ratio 0.83 for one layer, 0.59 for two).
    (disarm, se_d), (rloo, se_r) = (_variance(model, "disarm", 2),
                                    _variance(model, "reinforce_loo", 2))
    se = np.hypot(se_d, se_r)
    print(f"{model} K=2 recognizer variance: disarm {disarm:.4g} (SE {se_d:.2g}), "
          f"reinforce_loo {rloo:.4g} (SE {se_r:.2g}), ratio {disarm / rloo:.3f}, "
          f"difference {(rloo - disarm) / se:.1f} SE")
    assert rloo - disarm > 5 * se


@pytest.mark.parametrize("model", FACTORIZED_MODELS)
def test_vimco_recognizer_variance_is_below_plain_reinforce(model):
    # Equal K, the same objective (the K-sample bound): Mnih & Rezende
    # (2016). Margin: VIMCO's variance below a tenth of REINFORCE's, and
    # the difference beyond 5 SE (measured: ratios 0.002 and 0.03).
    k = BOUND_K[model]
    (vimco, se_v), (plain, se_p) = (_variance(model, "vimco", k),
                                    _variance(model, "reinforce", k))
    print(f"{model} K={k} recognizer variance: vimco {vimco:.4g} (SE {se_v:.2g}), "
          f"reinforce {plain:.4g} (SE {se_p:.2g}), ratio {vimco / plain:.3f}")
    assert vimco < 0.1 * plain and plain - vimco > 5 * np.hypot(se_v, se_p)


def test_gradient_variance_summarizes_the_estimates():
    stats = estimators.gradient_variance(NETWORKS["one_layer"], X, "vimco",
                                         num_samples=3, num_seeds=4000, seed=3)
    samples = estimates("one_layer", "vimco", 3)["recognizer"].astype(np.float64)
    variance, se = _variance("one_layer", "vimco", 3)
    # Two independent estimates of the same variance (4000 and 20000
    # seeds): within 5 SE of the smaller sample's (sqrt(5) * se).
    print(f"gradient_variance: {stats['recognizer']['variance']:.4g}, "
          f"from 20000 estimates {variance:.4g} (SE {se:.2g})")
    assert abs(stats["recognizer"]["variance"] - variance) < 5 * np.sqrt(5) * se
    assert stats["recognizer"]["num_weights"] == samples.shape[1]
    assert stats["generator"]["snr"] > 0
    with pytest.raises(ValueError, match="num_seeds"):
        estimators.gradient_variance(NETWORKS["one_layer"], X, "vimco", num_seeds=1)
    with pytest.raises(ValueError, match="needs an estimator"):
        estimators.gradient_variance(NETWORKS["one_layer"], X)


def test_gradient_variance_traces_once_per_estimator_and_batch_shape():
    # The Trainer logs the variance every epoch with the model's own
    # estimator; each call used to trace (and vectorize) a new function.
    from tfhm.estimators import variance

    gen, rec = NETWORKS["one_layer"]
    vimco = estimators.get("vimco")()
    first = estimators.gradient_variance((gen, rec), X, vimco, 3, num_seeds=8, seed=1)
    again = estimators.gradient_variance((gen, rec), X, vimco, 3, num_seeds=8, seed=1)
    other = estimators.gradient_variance((gen, rec), X[::-1], vimco, 3, num_seeds=8,
                                         seed=1)
    fn = variance._estimates_fn(gen, rec, vimco, 3)
    assert fn.experimental_get_tracing_count() == 1
    assert first == again  # the same seeds: the same estimates
    assert other != first  # x is an argument, not a constant of the first trace


# --------------------------------------------------- wake-sleep adapters
def _rws_step(insomnia, x, seed, k, global_batch, scale):
    gen, rec = NETWORKS["two_layers"]
    return step.compute_gradients(estimators.get("reweighted_wake_sleep")(insomnia),
                                  gen, rec, x, seed, k, global_batch, scale)


@pytest.mark.parametrize("global_batch,scaled", [(None, False), (6, True)])
def test_wake_sleep_adapters_follow_the_documented_losses(global_batch, scaled):
    # The one step of fit and the Trainer (its bits for seeded runs are the
    # recorded ones of tests/fixtures/seeded_training.npz, test_upgrade.py).
    # Here its losses against their formulas (objectives' module docstring),
    # rebuilt with a tape from the same draws: the wake phase is seeded
    # split(seed)[0], the dreams split(seed)[1].
    gen, rec = NETWORKS["two_layers"]
    x, seed, k = tf.constant(np.tile(X, (3, 1))), tf.constant([5, 6]), 3
    scale = (lambda t: 4.0 * t, lambda t: 8.0 * t) if scaled else None
    factor = (4.0, 8.0) if scaled else (1.0, 1.0)  # powers of two: exact
    wake_seed, sleep_seed = tf.unstack(_seeds.split(seed, 2))
    with tf.GradientTape(persistent=True) as tape:
        latents, log_q = rec.sample(x, k, wake_seed)
        log_p = gen.log_prob(x, latents)
        w = tf.stop_gradient(tf.nn.softmax(log_p - log_q, axis=0))  # [K, batch]
        dream = gen.sample(6, sleep_seed)
        losses = {"generator": -tf.reduce_mean(tf.reduce_sum(w * log_p, 0)),
                  "wake": -tf.reduce_mean(tf.reduce_sum(w * log_q, 0)),
                  "sleep": -tf.reduce_mean(rec.log_prob(
                      tf.stop_gradient(dream["x"]),
                      [tf.stop_gradient(z) for z in dream["z"]]))}
    expected = {name: [factor[name != "generator"] * g.numpy() for g in tape.gradient(
        loss, gen.trainable_variables if name == "generator" else rec.trainable_variables)]
        for name, loss in losses.items()}
    wake, sleep = (_rws_step(i, x, seed, k, global_batch, scale) for i in (1.0, 0.0))
    for got, want in [(wake[0], expected["generator"]), (wake[1], expected["wake"]),
                      (sleep[1], expected["sleep"])]:
        for u, v in zip(got, want):
            np.testing.assert_allclose(u.numpy(), v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(wake[2]["sleep_loss"]), float(losses["wake"]), rtol=1e-6)
    np.testing.assert_allclose(float(sleep[2]["sleep_loss"]), float(losses["sleep"]),
                               rtol=1e-6)
    # insomnia mixes the two recognizer updates and changes nothing else.
    for insomnia in (0.5, 0.25):
        mixed = _rws_step(insomnia, x, seed, k, global_batch, scale)
        for u, v in zip(mixed[0], wake[0]):
            np.testing.assert_array_equal(u.numpy(), v.numpy())
        for u, a, b in zip(mixed[1], wake[1], sleep[1]):
            np.testing.assert_allclose(u.numpy(), insomnia * a.numpy()
                                       + (1 - insomnia) * b.numpy(), rtol=1e-5, atol=1e-6)
        for key in ("wake_loss", "elbo", "ess"):
            assert mixed[2][key].numpy() == wake[2][key].numpy(), key
    # Wake-sleep's recognizer learns from the same dreams alone.
    ws = step.compute_gradients(estimators.get("wake_sleep")(), gen, rec, x, seed, k,
                                global_batch, scale)
    for u, v in zip(ws[1], sleep[1]):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    assert set(ws[2]) == set(step.LOG_NAMES)


def test_objectives_compute_gradients_is_gone_with_a_message():
    # Issue 26.4: the second implementation of the step is retired; its name
    # says what replaces it (and a name that never existed, Python's message).
    with pytest.raises(AttributeError, match=r"compute_gradients was removed.*"
                                             r"tfhm\.estimators\.step\.compute_gradients"):
        objectives.compute_gradients  # noqa: B018
    with pytest.raises(AttributeError, match=r"has no attribute 'nothing'"):
        objectives.nothing  # noqa: B018
    assert "compute_gradients" not in objectives.__all__


# ------------------------------------------------------------------ NVIL
def test_nvil_state_follows_the_running_averages_and_trains():
    gen, rec = NETWORKS["one_layer"]
    nvil = estimators.get("nvil")(hidden_units=(8,), decay=0.8)
    nvil.build(DATA_DIM, seed=0)
    x, seed = tf.constant(np.tile(X, (8, 1))), tf.constant([7, 8])
    # The learning signal l - C(x) of this seed's draws, recomputed.
    latents, log_q = rec.sample(x, 2, seed)
    centred = (gen.log_prob(x, latents) - log_q - nvil.state(x)).numpy()
    nvil(gen, rec, x, 2, seed, update_state=False)
    assert float(nvil.state.signal_mean) == 0.0 and float(nvil.state.signal_var) == 1.0
    nvil(gen, rec, x, 2, seed)
    np.testing.assert_allclose(float(nvil.state.signal_mean), 0.2 * centred.mean(),
                               rtol=1e-5)
    np.testing.assert_allclose(float(nvil.state.signal_var),
                               0.8 + 0.2 * centred.var(), rtol=1e-5)
    # The baseline learns the input-dependent part: after SGD on the
    # recognizer's loss (only the estimator's variables updated), C(x) + c
    # is closer to the exact ELBO(x) of each example than any constant is.
    elbo_x = np.array([_exact_elbo(gen, rec, X[i:i + 1]) for i in range(len(X))])
    before = [v.numpy() for v in rec.trainable_variables]
    opt = keras.optimizers.SGD(0.05)
    for i in range(150):
        with tf.GradientTape() as tape:
            out = nvil(gen, rec, x, 2, tf.constant([9, i]))
        grads = tape.gradient(out.recognizer_loss, nvil.trainable_variables)
        opt.apply_gradients(zip(grads, nvil.trainable_variables))
    predicted = nvil.state(tf.constant(X)).numpy() + float(nvil.state.signal_mean)
    error = np.mean((elbo_x - predicted) ** 2)
    print(f"NVIL baseline: exact ELBO(x) {elbo_x}, C(x) + c {predicted}, "
          f"squared error {error:.4f} vs best constant {elbo_x.var():.4f}")
    assert error < 0.25 * elbo_x.var()
    for a, b in zip(before, rec.trainable_variables):
        np.testing.assert_array_equal(a, b.numpy())


def test_nvil_is_seeded_and_reproducible():
    gen, rec = NETWORKS["two_layers"]
    x = tf.constant(X)

    def run():
        nvil = estimators.get("nvil")(hidden_units=(4,))
        nvil.build(DATA_DIM, seed=11)
        losses = [nvil(gen, rec, x, 1, tf.constant([0, s])) for s in range(3)]
        return ([float(o.recognizer_loss) for o in losses],
                [v.numpy() for v in nvil.state.weights])

    (losses_a, state_a), (losses_b, state_b) = run(), run()
    assert losses_a == losses_b
    for a, b in zip(state_a, state_b):
        np.testing.assert_array_equal(a, b)
    assert len(estimators.get("nvil")().checkpoint_items) == 0  # before build


# ------------------------------------------------------------- training
@pytest.mark.parametrize("name", registry.names())
def test_every_estimator_trains_through_the_step(name):
    # 120 Adam steps of step.compute_gradients on data drawn from a fixed
    # "teacher" SBN raise the exact log-likelihood of the data by > 0.3 nats
    # per example (measured: -3.07 -> -1.93 for every estimator).
    teacher, _ = NETWORKS["one_layer"]
    data = teacher.sample(400, tf.constant([3, 3]))["x"]
    gen, rec = _networks("one_layer", seed=1)
    estimator = estimators.get(name)()
    estimator.build(DATA_DIM, seed=1)
    k = estimator.check_num_samples(None)
    wake, sleep = keras.optimizers.Adam(0.03), keras.optimizers.Adam(0.03)
    wake.build(gen.trainable_variables)
    sleep.build(step.recognizer_variables(rec, estimator))

    @tf.function
    def train(x, seed):
        g, r, logs = step.compute_gradients(estimator, gen, rec, x, seed, k)
        wake.apply_gradients(zip(g, gen.trainable_variables))
        sleep.apply_gradients(zip(r, step.recognizer_variables(rec, estimator)))
        return logs

    def exact_ll():
        latents = _states((3,))
        return float(tf.reduce_mean(tf.reduce_logsumexp(gen.log_prob(data, latents), 0)))

    before = exact_ll()
    for i in range(120):
        logs = train(data[(i % 8) * 50:(i % 8 + 1) * 50], tf.constant([4, i]))
    after = exact_ll()
    print(f"{name} K={k}: exact log-likelihood {before:.3f} -> {after:.3f} nats, "
          f"last elbo {float(logs['elbo']):.3f}")
    assert after > before + 0.3
