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


def _tv(a, b):
    return 0.5 * np.abs(a - b).sum()


@pytest.mark.parametrize("mask_name", sorted(MASKS))
def test_inpainting_matches_exact_conditional(hm, mask_name):
    observed = MASKS[mask_name]
    missing = ~observed
    x = hm.sample(1, seed=5)["x"].numpy()[0].astype(np.float64)
    n, k = 10_000, 200  # n independent rows (own proposals), one draw each
    rows, mask = np.tile(x, (n, 1)), np.tile(observed, (n, 1))

    def empirical(rounds):
        out = inpainting.inpaint_checked(hm, rows, mask, 1, k, seed=3, rounds=rounds)
        out = out.numpy()[0]
        np.testing.assert_array_equal(out[:, observed], rows[:, observed])
        return np.bincount(_codes(out[:, missing]), minlength=2 ** int(missing.sum())) / n

    log_joint, x_logits = _joint_terms(hm, x, observed)
    exact = _pattern_probs(np.exp(log_joint - logsumexp(log_joint)), x_logits, missing)
    fill = inpainting.fill_missing(hm.generator, hm.recognizer, tf.constant([x], tf.float32),
                                   tf.constant([observed])).numpy()[0]
    log_q = _log_q(hm, fill)
    p_k = _resampling_distribution(log_q, log_joint - log_q, k)
    assert abs(p_k.sum() - 1) < 1e-4  # the quadrature
    resampled = _pattern_probs(p_k, x_logits, missing)
    proposal = _pattern_probs(np.exp(log_q), x_logits, missing)
    bound = _sampling_bound(resampled, n)
    # One round (a fixed proposal q(z | x_fill)): what the algorithm draws,
    # exactly, within the sampling error only ...
    one_round = empirical(rounds=1)
    assert _tv(one_round, resampled) < bound, (_tv(one_round, resampled), bound)
    # ... and the exact conditional, within that plus the method's exact
    # bias at this K (0.015 and 0.009 for these masks at K = 200 with the
    # fixture trained by the floored draw; 0.021 for the first since issue
    # 28's exact draw trains it to other weights) ...
    bias = _tv(resampled, exact)
    assert bias < 0.03, bias
    assert _tv(one_round, exact) < bound + bias, (_tv(one_round, exact), bound, bias)
    # ... a tolerance far below what q alone (no reweighting) would give.
    assert _tv(proposal, exact) > 3 * (bound + bias), _tv(proposal, exact)
    # The default rounds: the last round's proposal is random (made from
    # resampled completions), so its SIR law has no closed form here. Its
    # bias must not exceed one round's (a regression check, not a theorem).
    default = empirical(rounds=inpainting.ROUNDS)
    assert _tv(default, exact) < bound + bias, (_tv(default, exact), bound, bias)


def _tolerance(log_q, log_w, log_p, k, spread=1.0):
    """6 sd + 2 biases of `log mean_k w_k` (a one-in-10^8 false failure).

    rho = E_q[w^2] / E_q[w]^2, exact by enumeration; the mean of K
    normalized weights has sd sqrt((rho - 1) / K), so (delta method) the
    log of it has that sd and a bias of about -(rho - 1) / (2K). `spread`
    bounds rho of a proposal whose density is at least q / spread.
    """
    rho = spread * np.exp(logsumexp(log_q + 2 * log_w) - 2 * log_p)
    return 6 * np.sqrt((rho - 1) / k) + (rho - 1) / k + 1e-4  # + float32


@pytest.mark.parametrize("rounds", [1, inpainting.ROUNDS])
def test_log_likelihoods_match_exact(hm, rounds):
    x = hm.sample(4, seed=6)["x"].numpy().astype(np.float64)
    k = 100_000
    # After round 1 the proposal is the mixture sum_j (n_j / K) q(z | fill_j)
    # whose component 0, drawn n_0 = ceil(K / m) times, is q(z | x_fill): its
    # density is at least q(z | x_fill) n_0 / K, so rho <= rho_0 K / n_0.
    m = max(min(k, inpainting.COMPONENTS) - 1, 1) + 1
    spread = 1.0 if rounds == 1 else k / -(-k // m)
    masks = [*MASKS.values()] + ([np.ones(D, bool)] if rounds == 1 else [])
    for observed in masks:
        mask = np.tile(observed, (len(x), 1))
        estimate = inpainting.log_likelihood_observed_checked(
            hm, x, mask, k, seed=2, rounds=rounds).numpy()
        if rounds == 1:  # log p(x) - log p(x_obs), with the same log p(x_obs)
            conditional = inpainting.conditional_log_likelihood_checked(
                hm, x, mask, k, seed=2, rounds=1).numpy()
        fill = inpainting.fill_missing(hm.generator, hm.recognizer, tf.constant(x, tf.float32),
                                       tf.constant(mask)).numpy()
        for i in range(len(x)):
            log_joint, _ = _joint_terms(hm, x[i], observed)
            log_q = _log_q(hm, fill[i])
            exact = logsumexp(log_joint)
            tol = _tolerance(log_q, log_joint - log_q, exact, k, spread)
            assert abs(estimate[i] - exact) < tol, (i, estimate[i], exact, tol)
            if rounds > 1:
                continue
            # The log p(x) term draws from q(z | x); the error of a difference
            # is at most the sum of the two errors (union bound).
            full, _ = _joint_terms(hm, x[i], np.ones(D, bool))
            tol += _tolerance(_log_q(hm, x[i]), full - _log_q(hm, x[i]), logsumexp(full), k)
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
    k = 2_000
    log_p = hm.log_likelihood_observed(x, mask, num_proposals=k, seed=4).numpy()
    assert log_p[1] == 0.0  # log p(nothing) = 0, exactly
    conditional = inpainting.conditional_log_likelihood_checked(
        hm, x, mask, num_proposals=k, seed=4).numpy()
    assert conditional[0] == 0.0  # log p(nothing | x) = 0, exactly
    # Nothing missing: log p(x_obs) is the whole row's log p(x), every
    # component of the proposal being q(z | x). Nothing seen: the conditional
    # is log p(x), drawn from q(z | x) too. Both within their exact tolerance.
    exact = hm.exact_log_likelihood(x[:2]).numpy()
    for i, estimate in [(0, log_p[0]), (1, conditional[1])]:
        log_joint, _ = _joint_terms(hm, x[i], np.ones(D, bool))
        log_q = _log_q(hm, x[i])
        tol = _tolerance(log_q, log_joint - log_q, exact[i], k)
        assert abs(estimate - exact[i]) < tol, (i, estimate, exact, tol)


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
    # Both from one set of proposals (what the served signature returns).
    both = tf.function(inpainting.inpaint_and_log_likelihood)(
        hm.generator, hm.recognizer, tf.constant(x), tf.constant(mask, tf.float32),
        tf.constant(4), tf.constant(20), seed)
    np.testing.assert_array_equal(both["x"].numpy(), a)
    np.testing.assert_allclose(both["log_likelihood_observed"].numpy(), ll, rtol=1e-6)


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


def test_a_bad_mask_gets_a_mask_message_and_missing_pixels_may_hold_anything(hm):
    # Issue 25.11: a mask of 0.5s was told to "binarize grey-scale data
    # first"; and NaN (or any value) at a missing pixel, which the docstring
    # called unused, was refused. Now the mask message says what a mask is,
    # and the missing pixels are not read: the numbers equal those of the
    # same x with 0s there.
    x = np.array([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1]] * 3, np.float32)
    mask = np.broadcast_to(MASKS["bottom_missing"], x.shape)
    with pytest.raises(ValueError, match=r"`mask` must contain only the values 0 and 1 "
                       r"\(a mask is True or 1 where a pixel is observed and False or 0 "
                       r"where it is missing\)\. Received: mask\[0, 0\]=\S*0\.5") as error:
        hm.inpaint(x, np.full(x.shape, 0.5), seed=0)
    assert "binarize" not in str(error.value)
    junk = x.copy()
    junk[:, 5:] = [np.nan, 7.0, -1.0, 0.5, np.inf]  # the missing half
    clean = x.copy()
    clean[:, 5:] = 0.0
    for method in (lambda v: hm.inpaint(v, mask, num_samples=4, num_proposals=20, seed=3),
                   lambda v: hm.log_likelihood_observed(v, mask, num_proposals=20, seed=3)):
        got, expected = method(junk).numpy(), method(clean).numpy()
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, expected)
    completions = hm.inpaint(junk, mask, num_samples=4, num_proposals=20, seed=3).numpy()
    np.testing.assert_array_equal(completions[:, :, :5], np.broadcast_to(x[:, :5],
                                                                         (4, 3, 5)))
    assert set(np.unique(completions)) <= {0.0, 1.0}
    # An observed pixel still has to be 0 or 1, and says so.
    junk[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"0 and 1 where the mask observes it.*"
                                         r"Received: x\[1, 2\]=\S*nan"):
        hm.inpaint(junk, mask, seed=0)
    # conditional_log_likelihood scores the missing pixels: they must be 0/1.
    with pytest.raises(ValueError, match=r"Received: x\[0, 5\]=\S*nan"):
        inpainting.conditional_log_likelihood_checked(hm, np.where(mask, x, np.nan),
                                                      mask, 10, seed=0)
