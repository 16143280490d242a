"""Property-based fuzzing of the public API and the command line (hypothesis).

Each call either returns a correct result or raises the documented
`ValueError` (exit status 2 on the command line) whose message shows what
was received; nothing crashes, hangs or is silently coerced. The number of
inputs tried is recorded for RELIABILITY.md.
"""

import numbers

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tfhm
from tfhm import cli

import reliability_support as support

pytestmark = pytest.mark.reliability

DATA_DIM = 5
MODEL = tfhm.HelmholtzMachine(data_dim=DATA_DIM, latent_dims=(3, 2),
                              hidden_units=(4,), seed=0)
INT32 = 2**31

DTYPES = st.sampled_from([
    np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16,
    np.float32, np.float64, np.complex64, "timedelta64[s]", "datetime64[s]",
    np.str_, object])


def _arrays():
    """Arrays of random dtype and shape, mostly 0/1 values, sometimes not."""
    def build(dtype, shape, values, bad):
        flat = np.array(values[:int(np.prod(shape))] +
                        [0] * max(0, int(np.prod(shape)) - len(values)))
        array = flat.reshape(shape)
        if bad is not None and array.size:
            array = array.astype(np.float64)
            array.flat[bad % array.size] = [0.5, -1.0, 2.0, np.nan, np.inf][bad % 5]
        try:
            return array.astype(dtype)
        except (TypeError, ValueError):
            return array
    shapes = st.one_of(
        st.tuples(st.integers(0, 4), st.sampled_from([DATA_DIM, DATA_DIM - 1, DATA_DIM + 1, 1])),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return st.builds(build, DTYPES, shapes, st.lists(st.integers(0, 1), max_size=30),
                     st.one_of(st.none(), st.integers(0, 1000)))


def _is_valid_data(x):
    x = np.asarray(x)
    if x.dtype == object or x.dtype.kind not in "biuf":
        return False
    if x.ndim != 2 or x.shape[1] != DATA_DIM or x.shape[0] == 0:
        return False
    return bool(np.all((x == 0) | (x == 1)))


@settings(settings.get_profile(support.PROFILE))
@given(x=_arrays(), method=st.sampled_from(["elbo", "log_likelihood", "exact"]))
def test_data_is_checked_or_used(x, method):
    support.record("fuzz", api_inputs=1)
    call = {"elbo": lambda: MODEL.elbo(x, num_samples=2, seed=1),
            "log_likelihood": lambda: MODEL.log_likelihood(x, num_samples=2, seed=1),
            "exact": lambda: MODEL.exact_log_likelihood(x)}[method]
    if _is_valid_data(x):
        result = call().numpy()
        assert result.shape == (len(x),) and np.all(np.isfinite(result))
        assert np.all(result <= 1e-5)  # log-probabilities of binary data
        if method == "exact":  # the exact value is the data's own, row by row
            for row, value in zip(np.asarray(x, np.float32), result):
                np.testing.assert_allclose(
                    MODEL.exact_log_likelihood(row[None]).numpy()[0], value, rtol=1e-5)
    else:
        with pytest.raises(ValueError, match="Received"):
            call()


SEEDS = st.one_of(
    st.none(), st.integers(-2**40, 2**40), st.booleans(), st.floats(allow_nan=True),
    st.text(max_size=3),
    st.lists(st.integers(-2**40, 2**40), min_size=0, max_size=3).map(np.array),
    st.tuples(st.integers(-2**35, 2**35), st.integers(-2**35, 2**35)).map(
        lambda t: np.array(t, np.int64)),
    st.tuples(st.floats(-3, 3), st.floats(-3, 3)).map(np.array))


def _seed_is_valid(seed):
    if seed is None:
        return True
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return 0 <= seed < INT32  # issue 25.1: refused outside [0, 2**31), not wrapped
    if isinstance(seed, np.ndarray):
        return (seed.shape == (2,) and seed.dtype.kind in "iu"
                and all(-INT32 <= int(v) < INT32 for v in seed))
    return False


NUM_SAMPLES = st.one_of(st.integers(-3, 6), st.integers(INT32 - 2, 2**40),
                        st.floats(-2, 6), st.booleans(), st.none(), st.text(max_size=2))


@settings(settings.get_profile(support.PROFILE))
@given(seed=SEEDS, num_samples=NUM_SAMPLES)
def test_sample_arguments_are_checked_or_used(seed, num_samples):
    support.record("fuzz", api_inputs=1)
    valid_n = (isinstance(num_samples, numbers.Integral)
               and not isinstance(num_samples, bool) and 1 <= num_samples < INT32)
    if valid_n and num_samples > 1000:
        num_samples = None  # a valid but huge draw would only test the RAM
        valid_n = False
    if valid_n and _seed_is_valid(seed):
        out = MODEL.sample(num_samples, seed=seed)
        assert out["x"].shape == (num_samples, DATA_DIM)
        assert set(np.unique(out["x"].numpy())) <= {0.0, 1.0}
        if seed is not None:  # reproducible
            again = MODEL.sample(num_samples, seed=seed)
            np.testing.assert_array_equal(out["x"].numpy(), again["x"].numpy())
    else:
        with pytest.raises(ValueError, match="Received"):
            MODEL.sample(num_samples, seed=seed)


SIZES = st.one_of(st.integers(-2, 6), st.floats(-1, 4), st.none(), st.text(max_size=2),
                  st.booleans())


@settings(settings.get_profile(support.PROFILE))
@given(data_dim=SIZES,
       latent_dims=st.one_of(SIZES, st.lists(SIZES, max_size=3)),
       hidden_units=st.one_of(SIZES, st.lists(SIZES, max_size=2)),
       activation=st.sampled_from(["tanh", "relu", "sigmoid", "nope", 3, None]),
       seed=st.one_of(st.none(), st.integers(-5, 2**32), st.floats(0, 3)))
def test_constructor_is_checked_or_builds(data_dim, latent_dims, hidden_units,
                                          activation, seed):
    support.record("fuzz", api_inputs=1)

    def positive(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1

    def sizes(v, allow_empty):
        values = [v] if positive(v) else v
        if not isinstance(values, list):
            return False
        return (allow_empty or len(values) > 0) and all(positive(u) for u in values)

    valid = (positive(data_dim) and sizes(latent_dims, False)
             and sizes(hidden_units, True)
             and activation in ("tanh", "relu", "sigmoid", None)
             and (seed is None or (isinstance(seed, int) and 0 <= seed < INT32)))
    kwargs = dict(data_dim=data_dim, latent_dims=latent_dims,
                  hidden_units=hidden_units, activation=activation, seed=seed)
    if valid:
        model = tfhm.HelmholtzMachine(**kwargs)
        x = np.ones([2, data_dim])
        assert np.all(np.isfinite(model.elbo(x, seed=0).numpy()))
        clone = tfhm.HelmholtzMachine.from_config(model.get_config())
        assert clone.get_config() == model.get_config()
    else:
        with pytest.raises(ValueError, match="Received"):
            tfhm.HelmholtzMachine(**kwargs)


def _run_cli(argv, capsys):
    try:
        status = cli.main(argv)
    except SystemExit as exit_:
        status = exit_.code
    return status, capsys.readouterr()


OPTION_VALUES = st.one_of(
    st.integers(-3, 10**12).map(str), st.floats(allow_nan=True).map(str),
    st.text(alphabet="0123456789,.-+ e", max_size=8))


@settings(settings.get_profile(support.PROFILE), max_examples=support.scaled(60, 300))
@given(option=st.sampled_from(["--latent-dims", "--hidden-units", "--num-samples",
                               "--epochs", "--batch-size", "--lr-wake", "--lr-sleep",
                               "--eval-samples", "--checkpoint-every", "--data",
                               "--algorithm", "--dtype-policy"]),
       value=OPTION_VALUES)
def test_cli_options_parse_or_exit_2(option, value, capsys, tmp_path_factory):
    # `--resume` on a folder that is no run: a value that parses reaches
    # that check (exit 2, "holds no tfhm checkpoint" / "no run folder"); a
    # bad value stops the parser first (exit 2, naming the option).
    support.record("fuzz", cli_inputs=1)
    missing = str(tmp_path_factory.getbasetemp() / "no-run")
    status, captured = _run_cli(["train", option, value, "--resume", "--out", missing,
                                 "--quiet"], capsys)
    assert status == 2, captured
    assert ("--resume: no run folder" in captured.err
            or f"argument {option}" in captured.err), captured.err


@settings(settings.get_profile(support.PROFILE), max_examples=support.scaled(6, 30))
@given(x=_arrays())
def test_cli_npy_data_trains_or_exits_2(x, capsys, tmp_path_factory):
    # Random .npy files as --data: a [n >= 2, D] 0/1 array trains one tiny
    # epoch (exit 0); anything else exits 2 before training, naming the file.
    support.record("fuzz", cli_inputs=1)
    folder = tmp_path_factory.mktemp("npy")
    path = folder / "x.npy"
    try:
        np.save(path, x, allow_pickle=False)
    except ValueError:  # object arrays cannot be saved without pickle
        np.save(path, x, allow_pickle=True)
    argv = ["train", "--data", f"npy:{path}", "--latent-dims", "2",
            "--hidden-units", "", "--epochs", "1", "--batch-size", "4",
            "--eval-samples", "2", "--quiet", "--out", str(folder / "run")]
    array = np.asarray(x)
    valid = (array.dtype != object and array.dtype.kind in "biuf"
             and array.ndim == 2 and array.shape[0] >= 2 and array.shape[1] >= 1
             and bool(np.all((array == 0) | (array == 1))))
    status, captured = _run_cli(argv, capsys)
    if valid:
        assert status == 0, captured.err
    else:
        assert status == 2, captured
        assert "--data npy:" in captured.err, captured.err
