"""Tests of tfhm.inpainting and hm.inpaint: against exact enumeration.

The model is small enough to enumerate: 10 pixels, latent_dims (5, 3) (256
latent states), random weights with a sharpened generator so that the
conditionals are far from uniform. The exact conditional
`pi(x_mis) = p(x_mis | x_obs)` is computed in NumPy from the weights; so is
the exact distribution of what importance resampling with K proposals draws,
`p_K` (its O(1/K) bias included), by one Laplace-transform integral per
latent state:

  P(resampled z) = K q(z) w(z) E[1 / (w(z) + S_(K-1))],
  E[1 / (w + S)] = int_0^inf exp(-t w) M(t)^(K-1) dt,  M(t) = E_q[exp(-t w)],

with `S_(K-1)` the sum of K - 1 independent weights (Rubin 1988).
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from scipy.integrate import quad_vec
from scipy.special import logsumexp

import tfhm
from tfhm import inpainting

D, LATENTS = 10, (5, 3)
STATES = np.array(list(itertools.product([0, 1], repeat=sum(LATENTS))), np.float64)
MASKS = {"bottom_missing": np.arange(D) < 5, "every_third_missing": np.arange(D) % 3 != 0}


@pytest.fixture(scope="module")
def hm():
    model = tfhm.HelmholtzMachine(data_dim=D, latent_dims=LATENTS, seed=0)
    rng = np.random.default_rng(7)
    for v in model.generator.trainable_variables:  # sharpen p(x, z)
        v.assign(2 * v.numpy() + rng.normal(scale=1.5, size=v.shape).astype(np.float32))
    return model


def _logits(layer, inputs):
    h = inputs
    for dense in layer.hidden_layers:
        h = np.tanh(h @ dense.kernel.numpy() + dense.bias.numpy())
    return h @ layer.logits_layer.kernel.numpy() + layer.logits_layer.bias.numpy()


def _log_bernoulli(y, logits):
    return np.sum(y * logits - np.logaddexp(0, logits), axis=-1)


def _joint_terms(hm, x, observed):
    """NumPy: `log p(z) + log p(x_obs | z_1)` `[states]` and `p(x=1|z_1)` logits."""
    gen = hm.generator
    z1, z2 = STATES[:, :LATENTS[0]], STATES[:, LATENTS[0]:]
    log_pz = (_log_bernoulli(z2, gen.prior.logits.numpy())
              + _log_bernoulli(z1, _logits(gen.conditionals[1], z2)))
    x_logits = _logits(gen.conditionals[0], z1)  # [states, D]
    return log_pz + _log_bernoulli(x[observed], x_logits[:, observed]), x_logits


def _log_q(hm, x_fill):
    """NumPy: `log q(z | x_fill)` of every latent state `[states]`."""
    z1 = STATES[:, :LATENTS[0]]
    return (_log_bernoulli(z1, _logits(hm.recognizer.conditionals[0], x_fill))
            + _log_bernoulli(STATES[:, LATENTS[0]:],
                             _logits(hm.recognizer.conditionals[1], z1)))


def _pattern_probs(p_z, x_logits, missing):
    """`P(x_mis = pattern)` `[2**m]` under the latent distribution `p_z`."""
    patterns = np.array(list(itertools.product([0, 1], repeat=int(missing.sum()))))
    log_p = np.stack([_log_bernoulli(p, x_logits[:, missing]) for p in patterns])
    return np.exp(log_p) @ p_z


def _resampling_distribution(log_q, log_w, num_proposals):
    """Exact `p_K(z)` of importance resampling (module docstring)."""
    q, w = np.exp(log_q), np.exp(log_w - logsumexp(log_w, b=np.exp(log_q)))
    k = num_proposals

    def integrand(u):  # t = u / K keeps the integrand's scale near 1
        log_m = logsumexp(-u / k * w, b=q)
        return np.exp(-u / k * w + (k - 1) * log_m) / k

    integral, _ = quad_vec(integrand, 0, np.inf, epsabs=1e-10)
    return k * q * w * integral


def _codes(samples):
    return samples.astype(np.int64) @ (2 ** np.arange(samples.shape[-1])[::-1])


def _sampling_bound(p, n):
    # E[TV] <= 0.5 * sum_i sqrt(p_i (1 - p_i) / n) (Jensen); one draw moves TV
    # by at most 1/n, so by McDiarmid P(TV > E[TV] + t) <= exp(-2 n t^2):
    # t = sqrt(log(1e6) / (2n)) makes a false failure a one-in-a-million event
    # (as tests/test_model.py::test_samples_match_exact_distribution).
    return 0.5 * np.sqrt(p * (1 - p) / n).sum() + np.sqrt(np.log(1e6) / (2 * n))


@pytest.mark.parametrize("mask_name", sorted(MASKS))
def test_inpainting_matches_exact_conditional(hm, mask_name):
    observed = MASKS[mask_name]
    missing = ~observed
    x = hm.sample(1, seed=5)["x"].numpy()[0].astype(np.float64)
    n, k = 10_000, 500  # n independent rows (own proposals), one draw each
    rows, mask = np.tile(x, (n, 1)), np.tile(observed, (n, 1))
    out = hm.inpaint(rows, mask, num_samples=1, num_proposals=k, seed=3).numpy()[0]
    np.testing.assert_array_equal(out[:, observed], rows[:, observed])
    empirical = np.bincount(_codes(out[:, missing]),
                            minlength=2 ** int(missing.sum())) / n

    log_joint, x_logits = _joint_terms(hm, x, observed)
    exact = _pattern_probs(np.exp(log_joint - logsumexp(log_joint)), x_logits, missing)
    fill = inpainting.fill_missing(hm.generator, hm.recognizer, tf.constant([x], tf.float32),
                                   tf.constant([observed])).numpy()[0]
    log_q = _log_q(hm, fill)
    p_k = _resampling_distribution(log_q, log_joint - log_q, k)
    assert abs(p_k.sum() - 1) < 1e-4  # the quadrature
    resampled = _pattern_probs(p_k, x_logits, missing)
    proposal = _pattern_probs(np.exp(log_q), x_logits, missing)

    def tv(a, b):
        return 0.5 * np.abs(a - b).sum()

    bound = _sampling_bound(resampled, n)
    # What the algorithm draws, exactly (the sampling error only) ...
    assert tv(empirical, resampled) < bound, (tv(empirical, resampled), bound)
    # ... and the exact conditional, within that plus the method's exact
    # bias at this K (0.006 and 0.004 for these masks at K = 500) ...
    bias = tv(resampled, exact)
    assert bias < 0.01, bias
    assert tv(empirical, exact) < bound + bias, (tv(empirical, exact), bound, bias)
    # ... a tolerance far below what q alone (no reweighting) would give.
    assert tv(proposal, exact) > 3 * (bound + bias), tv(proposal, exact)


def _tolerance(log_q, log_w, log_p, k):
    """6 sd + 2 biases of `log mean_k w_k` (a one-in-10^8 false failure).

    rho = E_q[w^2] / E_q[w]^2, exact by enumeration; the mean of K
    normalized weights has sd sqrt((rho - 1) / K), so (delta method) the
    log of it has that sd and a bias of about -(rho - 1) / (2K).
    """
    rho = np.exp(logsumexp(log_q + 2 * log_w) - 2 * log_p)
    return 6 * np.sqrt((rho - 1) / k) + (rho - 1) / k + 1e-4  # + float32


def test_log_likelihoods_match_exact(hm):
    x = hm.sample(4, seed=6)["x"].numpy().astype(np.float64)
    k = 100_000
    for observed in [*MASKS.values(), np.ones(D, bool)]:
        mask = np.tile(observed, (len(x), 1))
        estimate = hm.log_likelihood_observed(x, mask, num_proposals=k, seed=2).numpy()
        conditional = inpainting.conditional_log_likelihood_checked(
            hm, x, mask, num_proposals=k, seed=2).numpy()
        fill = inpainting.fill_missing(hm.generator, hm.recognizer, tf.constant(x, tf.float32),
                                       tf.constant(mask)).numpy()
        for i in range(len(x)):
            log_joint, _ = _joint_terms(hm, x[i], observed)
            full, _ = _joint_terms(hm, x[i], np.ones(D, bool))
            log_q = _log_q(hm, fill[i])
            exact = logsumexp(log_joint)
            tol = _tolerance(log_q, log_joint - log_q, exact, k)
            assert abs(estimate[i] - exact) < tol, (i, estimate[i], exact, tol)
            # log p(x_mis | x_obs) = log p(x) - log p(x_obs): the error of a
            # difference is at most the sum of the errors (union bound).
            tol += _tolerance(log_q, full - log_q, logsumexp(full), k)
            exact = logsumexp(full) - exact
            assert abs(conditional[i] - exact) < tol, (i, conditional[i], exact, tol)
            if observed.all():
                assert conditional[i] == 0.0


def test_edge_rows_are_exact_in_a_mixed_batch(hm):
    # Row 0 nothing missing, row 1 all missing, row 2 half: one call.
    n = 20_000
    x = hm.sample(3, seed=7)["x"].numpy()
    mask = np.stack([np.ones(D), np.zeros(D), MASKS["bottom_missing"]]).astype(bool)
    out = hm.inpaint(x, mask, num_samples=n, num_proposals=50, seed=4).numpy()
    assert out.shape == (n, 3, D) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], np.broadcast_to(x[0], (n, D)))
    np.testing.assert_array_equal(out[:, 2, :5], np.broadcast_to(x[2, :5], (n, 5)))
    # All missing: unconditional samples, against the exact p(x) of all 1024 x.
    all_x = np.array(list(itertools.product([0, 1], repeat=D)), np.float32)
    p = np.exp(hm.exact_log_likelihood(all_x).numpy().astype(np.float64))
    empirical = np.bincount(_codes(out[:, 1]), minlength=2 ** D) / n
    bound = _sampling_bound(p, n)
    assert 0.5 * np.abs(empirical - p).sum() < bound, bound
    log_p = hm.log_likelihood_observed(x, mask, num_proposals=50, seed=4).numpy()
    assert log_p[1] == 0.0  # log p(nothing) = 0, exactly
    # Nothing missing: the importance-sampled log p(x) of the whole row; a
    # loose check at K = 50 (the nothing-missing mask is also in
    # test_log_likelihood_observed_matches_exact, at K = 100,000).
    exact = hm.exact_log_likelihood(x[:2]).numpy()
    assert abs(log_p[0] - exact[0]) < 1.0, (log_p[0], exact)
    # log p(x_mis | x_obs): 0 with nothing missing, log p(x) with nothing seen
    # (the proposal then knows nothing of x: a large K and the exact tolerance).
    k = 20_000
    conditional = inpainting.conditional_log_likelihood_checked(
        hm, x, mask, num_proposals=k, seed=4).numpy()
    assert conditional[0] == 0.0
    fill = inpainting.fill_missing(hm.generator, hm.recognizer, tf.constant(x),
                                   tf.constant(mask)).numpy()[1]
    log_joint, _ = _joint_terms(hm, x[1], np.ones(D, bool))
    tol = _tolerance(_log_q(hm, fill), log_joint - _log_q(hm, fill), exact[1], k)
    assert abs(conditional[1] - exact[1]) < tol, (conditional[1], exact, tol)


def test_seeds_are_reproducible_and_match_the_graph_function(hm):
    x = hm.sample(6, seed=8)["x"].numpy()
    mask = np.random.default_rng(0).random((6, D)) < 0.5
    a = hm.inpaint(x, mask, num_samples=4, num_proposals=20, seed=11).numpy()
    b = hm.inpaint(x, mask.astype(np.int32), num_samples=4, num_proposals=20,
                   seed=11).numpy()
    c = hm.inpaint(x, mask, num_samples=4, num_proposals=20, seed=12).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a * mask, np.broadcast_to(x * mask, a.shape))
    # One block: the method is the graph-safe function with the [2] seed (what
    # the served signature runs), here traced with tensor counts.
    seed = tf.constant([11, 0], tf.int32)
    graph = tf.function(inpainting.inpaint)(
        hm.generator, hm.recognizer, tf.constant(x), tf.constant(mask, tf.float32),
        tf.constant(4), tf.constant(20), seed)
    np.testing.assert_array_equal(a, graph.numpy())
    ll = hm.log_likelihood_observed(x, mask, num_proposals=20, seed=11).numpy()
    np.testing.assert_allclose(ll, inpainting.log_likelihood_observed(  # eager: 1 ulp
        hm.generator, hm.recognizer, tf.constant(x), tf.constant(mask, tf.float32),
        20, seed).numpy(), rtol=1e-6)
    assert ll.shape == (6,) and ll.dtype == np.float32 and (ll < 0).all()


_HALF = np.full((2, D), 0.5, np.float32)
BAD_INPUTS = {  # keyword overrides of a good call, and the message expected
    "mask_wide": (dict(mask=np.ones((2, D + 1))),
                  r"`mask` must have shape.*Received: mask\.shape=\(2, 11\)"),
    "mask_rows": (dict(mask=np.ones((3, D))),
                  r"shape of `x`, \(2, 10\).*Received: mask\.shape=\(3, 10\)"),
    "mask_1d": (dict(mask=np.ones(D)), r"Received: mask\.shape=\(10,\)"),
    "mask_strings": (dict(mask=np.full((2, D), "1")),
                     r"`mask` must be a numeric or bool.*Received: mask with dtype <U1"),
    "mask_half": (dict(mask=_HALF), r"only the values 0 and 1.*Received: mask\[0, 0\]=\S*0\.5"),
    "mask_nan": (dict(mask=np.full((2, D), np.nan)), r"Received: mask\[0, 0\]=\S*nan"),
    "x_half": (dict(x=_HALF), r"`x` must contain only.*Received: x\[0, 0\]=\S*0\.5"),
    "x_narrow": (dict(x=np.zeros((2, 3))), r"Received: x\.shape=\(2, 3\)"),
    "num_samples": (dict(num_samples=0), r"Received: num_samples=0"),
    "num_proposals": (dict(num_proposals=True), r"Received: num_proposals=True"),
    "seed": (dict(seed=[1, 2, 3]), r"`seed` must be.*Received: seed="),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_raise_value_error_with_what_was_received(hm, case):
    overrides, pattern = BAD_INPUTS[case]
    call = dict(x=np.zeros((2, D), np.float32), mask=np.ones((2, D), bool),
                num_samples=2, num_proposals=3, seed=0) | overrides
    with pytest.raises(ValueError, match=pattern):
        hm.inpaint(**call)
    if "num_samples" not in overrides:
        del call["num_samples"]
        with pytest.raises(ValueError, match=pattern):
            hm.log_likelihood_observed(**call)
