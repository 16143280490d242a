"""Numerical extremes: saturated logits, degenerate data, huge K, 16-bit policies.

Every loss, gradient and log-likelihood must stay finite. The weights are set
by hand so that every logit of every layer (prior included) is +-80, the
point where sigmoid is 1 - 2e-35 in float32 and a naive `log(sigmoid(l))`
would give -inf.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm import objectives
from tfhm.estimators import step as estimator_step

import reliability_support as support

pytestmark = pytest.mark.reliability

DATA_DIM, LATENT_DIMS = 12, (5, 3)
DATA = {
    "zeros": np.zeros([6, DATA_DIM], np.float32),
    "ones": np.ones([6, DATA_DIM], np.float32),
    "mixed": (np.arange(6 * DATA_DIM).reshape(6, DATA_DIM) % 3 == 0).astype(np.float32),
}


def _saturate(model, sign, through_kernel):
    """Sets every logit of both networks to `sign * 80` (bias or kernel route).

    through_kernel: the logits come from a large kernel times a 0/1 input
    (so they depend on the input: +-80 where a unit is on, 0 elsewhere),
    instead of the bias alone.
    """
    for variable in model.trainable_variables:
        value = np.zeros(variable.shape, np.float32)
        if through_kernel and len(variable.shape) == 2:
            value[:] = sign * 80.0
        elif not through_kernel and len(variable.shape) == 1:
            value[:] = sign * 80.0
        variable.assign(value)


def _model(hidden_units=()):
    return tfhm.HelmholtzMachine(data_dim=DATA_DIM, latent_dims=LATENT_DIMS,
                                 hidden_units=hidden_units, seed=0)


def _all_finite(tensors):
    return all(bool(np.all(np.isfinite(np.asarray(t)))) for t in tensors)


def _check_everything(model, x, num_samples, seed=(3, 4)):
    """Losses, both gradient lists and the likelihoods; returns how many checked."""
    seed = tf.constant(seed, tf.int32)
    checked = 0
    for algorithm, update in [("wake_sleep", "sleep"),
                              ("reweighted_wake_sleep", "wake"),
                              ("reweighted_wake_sleep", "wake_sleep")]:
        estimator, k = estimator_step.make(algorithm, num_samples, update)
        g, r, logs = estimator_step.compute_gradients(
            estimator, model.generator, model.recognizer, tf.constant(x), seed, k)
        assert _all_finite(g), (algorithm, update, "generator gradients")
        assert _all_finite(r), (algorithm, update, "recognizer gradients")
        assert _all_finite(logs.values()), (algorithm, update, logs)
        checked += len(g) + len(r) + len(logs)
    values = [model.elbo(x, num_samples=num_samples, seed=1),
              model.log_likelihood(x, num_samples=num_samples, seed=1),
              model.exact_log_likelihood(x)]
    assert _all_finite(values), values
    return checked + 3


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("sign", [80, -80])
@pytest.mark.parametrize("through_kernel", [False, True])
def test_saturated_logits_stay_finite(data, sign, through_kernel):
    model = _model()
    _saturate(model, np.sign(sign), through_kernel)
    checked = _check_everything(model, DATA[data], num_samples=7)
    support.record("numerics", cases=1, values_checked=checked)


def test_saturated_log_likelihood_matches_numpy():
    # Prior and every conditional at logit +80 (bias route): z and x are all
    # ones with probability 1 - 2e-35 each, so log p(x = 0) = -80 * D - ...:
    # compare the exact enumeration with the closed form.
    model = _model()
    _saturate(model, 1, through_kernel=False)
    log_sigmoid = -np.logaddexp(0.0, -80.0)        # log p(unit on)
    log_off = -np.logaddexp(0.0, 80.0)             # log p(unit off) = -80
    expected_ones = DATA_DIM * log_sigmoid         # every latent state sums to ~1
    expected_zeros = DATA_DIM * log_off
    np.testing.assert_allclose(model.exact_log_likelihood(DATA["ones"]).numpy(),
                               expected_ones, atol=1e-5)
    np.testing.assert_allclose(model.exact_log_likelihood(DATA["zeros"]).numpy(),
                               expected_zeros, rtol=1e-6)
    support.record("numerics", cases=1, values_checked=12)


@pytest.mark.parametrize("num_samples", [support.scaled(2_000, 10_000)])
def test_huge_k_stays_finite(num_samples):
    model = _model(hidden_units=(8,))
    for variable in model.trainable_variables:  # spread-out weights
        variable.assign(tf.random.stateless_normal(variable.shape, [1, 2]) * 20.0)
    checked = 0
    for name in ("zeros", "ones", "mixed"):
        checked += _check_everything(model, DATA[name], num_samples=num_samples)
    ess = objectives.effective_sample_size(objectives.log_importance_weights(
        model.generator, model.recognizer, tf.constant(DATA["mixed"]),
        num_samples, tf.constant([5, 6]))[0])
    assert np.all((ess.numpy() >= 1 - 1e-4) & (ess.numpy() <= num_samples * (1 + 1e-4)))
    support.record("numerics", cases=3, values_checked=checked)
    support.peak("numerics", "max_k", num_samples)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("sign", [80, -80])
def test_mixed_precision_stays_finite(policy, sign):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = _model(hidden_units=(8,))
        _saturate(model, np.sign(sign), through_kernel=True)
        checked = 0
        for name in ("zeros", "ones", "mixed"):
            checked += _check_everything(model, DATA[name], num_samples=5)
        # And training through Keras fit (loss-scaled under float16).
        model = _model(hidden_units=(8,))
        model.compile(wake_optimizer=keras.optimizers.Adam(1e-2),
                      sleep_optimizer=keras.optimizers.Adam(1e-2),
                      algorithm="reweighted_wake_sleep", num_samples=3)
        history = model.fit(DATA["mixed"], batch_size=3, epochs=2, verbose=0)
        assert _all_finite(v for values in history.history.values() for v in values)
        assert _all_finite(w.numpy() for w in model.weights)
    finally:
        keras.config.set_dtype_policy(previous)
    support.record("numerics", cases=4, values_checked=checked)


def test_non_finite_step_stops_training_and_keeps_the_checkpoint(tmp_path):
    # A NaN that still arises (here: a weight poisoned before the 5th step)
    # stops training with an error naming the step and the phase, before
    # anything is written over the last good checkpoint (ckpt-4).
    from tfhm.training import TrainConfig, Trainer  # pylint: disable=g-import-not-at-top

    x, _ = tfhm.datasets.make_bars(200, seed=0)
    model = tfhm.HelmholtzMachine(data_dim=x.shape[1], latent_dims=(4, 2),
                                  hidden_units=(6,), seed=0)
    config = TrainConfig(epochs=2, batch_size=50, checkpoint_every_steps=2,
                         eval_max_examples=0, steps_per_execution=1)  # one step a call
    trainer = Trainer(model, config, run_dir=tmp_path / "run", verbose=0)
    step_fn, calls = trainer._step_fn, []  # pylint: disable=protected-access
    poisoned = model.generator.trainable_variables[0]

    def poisoning_step(shards, global_batch):
        calls.append(1)
        if len(calls) == 5:
            poisoned.assign(tf.fill(poisoned.shape, float("nan")))
        return step_fn(shards, global_batch)

    trainer._step_fn = poisoning_step  # pylint: disable=protected-access
    with pytest.raises(FloatingPointError, match=r"at step 5 .*wake phase"):
        trainer.fit(x)
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert latest.endswith("ckpt-4")
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.all(np.isfinite(value)), name
    restored = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert _all_finite(w.numpy() for w in restored.weights)
    support.record("numerics", nan_guard_cases=1)


@pytest.mark.parametrize("every, poisoned_call", [(1, 3), (4, 2), (4, 7), (100, 9)])
def test_nan_guard_names_the_first_bad_step_between_checks(every, poisoned_call):
    # The guard reads the device's record only every `every` steps and at the
    # epoch's end (no host wait per step), yet names the first non-finite step
    # exactly: steps 1..4 are epoch 1, 5..8 epoch 2 (batch 50 of 200), 9..12
    # epoch 3.
    from tfhm.training import TrainConfig, Trainer  # pylint: disable=g-import-not-at-top

    x, _ = tfhm.datasets.make_bars(200, seed=0)
    model = tfhm.HelmholtzMachine(data_dim=x.shape[1], latent_dims=(4,), seed=0)
    config = TrainConfig(epochs=3, batch_size=50, eval_max_examples=0,
                         check_finite_every_steps=every, steps_per_execution=1)
    trainer = Trainer(model, config, verbose=0)
    step_fn, calls = trainer._step_fn, []  # pylint: disable=protected-access
    poisoned = model.generator.trainable_variables[0]

    def poisoning_step(shards, global_batch):
        calls.append(1)
        if len(calls) == poisoned_call:
            poisoned.assign(tf.fill(poisoned.shape, float("nan")))
        return step_fn(shards, global_batch)

    trainer._step_fn = poisoning_step  # pylint: disable=protected-access
    epoch, step = (poisoned_call - 1) // 4 + 1, (poisoned_call - 1) % 4 + 1
    with pytest.raises(FloatingPointError,
                       match=rf"at step {poisoned_call} \(epoch {epoch}, step {step} "):
        trainer.fit(x)
    # It stopped at the first check after the bad step: at most `every` steps
    # later, and never past the bad step's epoch.
    next_check = min(-(-poisoned_call // every) * every, epoch * 4)
    assert len(calls) == next_check


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_check_finite_every_steps_refuses_non_positive_ints(value):
    from tfhm.training import TrainConfig  # pylint: disable=g-import-not-at-top

    with pytest.raises((ValueError, TypeError), match="check_finite_every_steps"):
        TrainConfig(check_finite_every_steps=value)
