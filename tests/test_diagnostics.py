"""Tests of tfhm.diagnostics against NumPy references and exact identities."""

import numpy as np
import tensorflow as tf
from scipy.special import expit, logsumexp

import tfhm
from tfhm import diagnostics, objectives

X_DIGITS, _ = tfhm.datasets.load_digits()


def _perturbed(hm, scale=0.7):
    rng = np.random.default_rng(3)
    for v in hm.trainable_variables:
        v.assign(v.numpy() + rng.normal(scale=scale, size=v.shape).astype(np.float32))
    return hm


def test_binary_entropy_matches_numpy():
    logits = np.linspace(-20, 20, 41).astype(np.float32)
    p = expit(logits.astype(np.float64))
    expected = -(p * np.log(p) + (1 - p) * np.log1p(-p))
    np.testing.assert_allclose(
        diagnostics.binary_entropy_from_logits(tf.constant(logits)).numpy(),
        expected, rtol=1e-4, atol=1e-7)


def test_kl_terms_add_up_to_the_elbo():
    # E_q[log p(x|z1)] - sum_l KL_l = ELBO exactly when both use the same
    # draws: latent_diagnostics splits the seed as Recognizer.sample does.
    hm = _perturbed(tfhm.HelmholtzMachine(data_dim=64, latent_dims=(5, 4, 3),
                                          hidden_units=(8,), seed=0))
    x = tf.constant(X_DIGITS[:40])
    seed = tf.constant([4, 2])
    diag = diagnostics.latent_diagnostics(hm, x, 7, seed, rows_per_chunk=40)
    log_w = objectives.log_importance_weights(
        hm.generator, hm.recognizer, x, 7, tf.random.experimental.stateless_fold_in(seed, 0))[0]
    elbo = log_w.numpy().mean()
    assert abs(diag["reconstruction"] - diag["kl"].sum() - elbo) < 1e-4 * abs(elbo)
    assert diag["kl"].shape == (3,) and diag["entropy"].shape == (3,)
    assert np.all(diag["entropy"] > 0)
    assert np.all(diag["entropy"] <= np.array([5, 4, 3]) * np.log(2) + 1e-5)


def test_one_layer_entropy_kl_and_active_units_match_numpy():
    hm = _perturbed(tfhm.HelmholtzMachine(data_dim=64, latent_dims=(6,), seed=1),
                    scale=0.3)
    x = X_DIGITS[:200].astype(np.float64)
    layer = hm.recognizer.conditionals[0].logits_layer
    kernel = layer.kernel.numpy()
    kernel[:, :2] = 0.0  # units 1 and 2 ignore x: collapsed, inactive
    layer.kernel.assign(kernel)
    q = expit(x @ layer.kernel.numpy() + layer.bias.numpy())  # [200, 6]
    prior = expit(hm.generator.prior.logits.numpy().astype(np.float64))
    entropy = -(q * np.log(q) + (1 - q) * np.log1p(-q)).sum(1).mean()
    kl = (q * np.log(q / prior) + (1 - q) * np.log((1 - q) / (1 - prior))).sum(1)
    variance = q.var(axis=0)
    k = 2000
    diag = diagnostics.latent_diagnostics(hm, x.astype(np.float32), k,
                                          tf.constant([0, 9]))
    # Entropy and unit means are exact functions of x for the first layer.
    np.testing.assert_allclose(diag["entropy"][0], entropy, rtol=1e-5)
    np.testing.assert_allclose(diag["unit_variance"][0], variance, rtol=1e-4, atol=1e-8)
    assert diag["active_units"][0] == int((variance > 0.01).sum())
    assert diag["active_units"][0] == 4 and variance[:2].max() < 1e-12
    # The KL is a Monte Carlo mean of 200 * 2000 draws of log q - log p; its
    # standard error is below sd / sqrt(400000); 5 standard errors.
    z = (np.random.default_rng(0).random((k, 200, 6)) < q).astype(np.float64)
    terms = (z * np.log(q / prior) + (1 - z) * np.log((1 - q) / (1 - prior))).sum(-1)
    se = terms.std() / np.sqrt(terms.size)
    assert abs(diag["kl"][0] - kl.mean()) < 5 * se, (diag["kl"][0], kl.mean(), se)


def test_importance_summary_matches_numpy_from_the_same_weights():
    hm = _perturbed(tfhm.HelmholtzMachine(data_dim=64, latent_dims=(4, 3), seed=2))
    x = tf.constant(X_DIGITS[:30])
    seed = tf.constant([1, 1])
    got = diagnostics.importance_summary(hm, x, 50, seed, rows_per_chunk=12)
    expected = {"elbo": [], "log_likelihood": [], "ess": []}
    for i, start in enumerate(range(0, 30, 12)):
        log_w = objectives.log_importance_weights(
            hm.generator, hm.recognizer, x[start:start + 12], 50,
            tf.random.experimental.stateless_fold_in(seed, i))[0].numpy().astype(np.float64)
        w = np.exp(log_w - logsumexp(log_w, axis=0))
        expected["elbo"].append(log_w.mean(0))
        expected["log_likelihood"].append(logsumexp(log_w, axis=0) - np.log(50))
        expected["ess"].append(1 / (w ** 2).sum(0))
    for key, values in expected.items():
        np.testing.assert_allclose(got[key], np.concatenate(values), rtol=2e-5, atol=1e-4)
    assert np.all((got["ess"] >= 1 - 1e-4) & (got["ess"] <= 50 + 1e-3))
