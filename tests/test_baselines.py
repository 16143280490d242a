"""Tests of tfhm.baselines (the Bernoulli-mixture reference model)."""

import itertools

import numpy as np
import pytest

from tfhm import baselines, datasets


def test_single_component_is_independent_bernoulli():
    x_train, x_test = datasets.load_digits()
    model = baselines.fit_bernoulli_mixture(x_train, 1, num_iterations=2)
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    mu = np.clip(x_train.mean(0), 1e-3, 1 - 1e-3)
    expected = (x_test * np.log(mu) + (1 - x_test) * np.log1p(-mu)).sum(1)
    np.testing.assert_allclose(model.log_prob(x_test), expected, rtol=1e-10)
    # The figure for per-pixel independent Bernoullis: about -25.3.
    assert -25.6 < expected.mean() < -25.0


def test_mixture_normalizes_and_em_improves():
    rng = np.random.default_rng(0)
    x = (rng.random((300, 5)) < 0.3).astype(float)
    all_x = np.array(list(itertools.product([0, 1], repeat=5)))
    short = baselines.fit_bernoulli_mixture(x, 3, num_iterations=2)
    long = baselines.fit_bernoulli_mixture(x, 3, num_iterations=50)
    assert abs(np.exp(long.log_prob(all_x)).sum() - 1) < 1e-12
    # EM never decreases the training likelihood (up to the clipping).
    assert long.log_prob(x).mean() >= short.log_prob(x).mean() - 1e-9


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_components=0"):
        baselines.fit_bernoulli_mixture(np.zeros((3, 2)), 0)


def test_on_iteration_reports_every_em_iteration_and_changes_nothing():
    # Issue 25.9: the baseline's EM ran with no sign of progress; the callback
    # a progress bar hangs on sees each iteration, and the fit is unchanged.
    x, _ = datasets.load_digits()
    seen = []
    reported = baselines.fit_bernoulli_mixture(x, 4, num_iterations=7, seed=1,
                                               on_iteration=lambda *a: seen.append(a))
    plain = baselines.fit_bernoulli_mixture(x, 4, num_iterations=7, seed=1)
    assert seen == [(i, 7) for i in range(1, 8)]
    np.testing.assert_array_equal(reported.probs, plain.probs)
