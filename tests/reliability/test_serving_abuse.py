"""Abuse of the exported SavedModels: bad requests, floods of threads, memory.

Every bad request must fail cleanly (InvalidArgumentError from the graph's
checks, or TypeError/ValueError where the signature's dtypes and ranks turn it
away before the graph runs), the model must answer good requests correctly
afterwards, and a serving process's peak memory must stay bounded.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tfhm
from tfhm import export

import reliability_support as support

pytestmark = pytest.mark.reliability

DATA_DIM, LATENT_DIMS = 64, (5, 3)  # the model of the `hm` fixture in tests/conftest.py
CLEAN_ERRORS = (tf.errors.InvalidArgumentError, TypeError, ValueError)
# Growth of the serving process's peak RSS allowed under abuse, over its peak
# after loading and warming up with good requests.
MEMORY_BOUND_MB = 300


@pytest.fixture(scope="module")
def paths(hm, tmp_path_factory):
    return export.export_model(hm, tmp_path_factory.mktemp("served"),
                               max_num_samples=1000, max_rows=1000)


@pytest.fixture(scope="module")
def served(paths):
    return {name: tf.saved_model.load(path) for name, path in paths.items()}


def _bad_requests():
    """(model, signature, inputs) of abusive requests, all of which must fail."""
    ones = np.ones([2, DATA_DIM], np.float32)
    seed = np.array([1, 2], np.int32)
    out = []
    for n in [0, -1, -2**31, 1001, 2**31 - 1, 10**6]:
        out.append(("generator", "sample", dict(num_samples=np.int32(n), seed=seed)))
        out.append(("generator", "log_likelihood",
                    dict(x=ones, num_samples=np.int32(n), seed=seed)))
    for n in [2.5, np.float32(3.0), np.int64(5), "3", [3], [[3]], 2**40]:
        out.append(("generator", "sample", dict(num_samples=n, seed=seed)))
    for s in [np.array([1, 2, 3], np.int32), np.array([[1, 2]], np.int32),
              np.array([1], np.int32), np.array(7, np.int32),
              np.array([1.5, 2.0], np.float32), np.array([1, 2], np.int64),
              np.array(["a", "b"]), np.zeros([0, 2], np.int32)]:
        out.append(("generator", "sample", dict(num_samples=np.int32(3), seed=s)))
        out.append(("recognizer", "encode", dict(x=ones, seed=s)))
    for x in [np.ones([2, DATA_DIM - 1], np.float32), np.ones([2, DATA_DIM + 1], np.float32),
              np.ones([DATA_DIM], np.float32), np.ones([1, 2, DATA_DIM], np.float32),
              np.full([2, DATA_DIM], np.nan, np.float32),
              np.full([2, DATA_DIM], np.inf, np.float32),
              np.full([2, DATA_DIM], 0.5, np.float32), -ones, 2 * ones,
              np.ones([2, DATA_DIM], np.float64), np.ones([2, DATA_DIM], np.int32)]:
        out.append(("recognizer", "encode", dict(x=x, seed=seed)))
        out.append(("recognizer", "encode_unseeded", dict(x=x)))
        out.append(("generator", "log_likelihood",
                    dict(x=x, num_samples=np.int32(2), seed=seed)))
    for z in [np.full([2, 5], 0.5, np.float32), np.ones([2, 4], np.float32),
              np.full([2, 5], np.nan, np.float32)]:
        out.append(("generator", "decode", dict(z1=z, z2=np.ones([2, 3], np.float32))))
    out.append(("generator", "decode", dict(z1=np.ones([2, 5], np.float32))))
    # inpaint (issue 15 item 1): a mask of the wrong shape or dtype, values
    # other than 0 and 1 in mask or x, bad counts and seeds.
    mask = np.ones([2, DATA_DIM], np.float32)

    def inpaint(**changes):
        request = dict(x=ones, mask=mask, num_samples=np.int32(2),
                       num_proposals=np.int32(3), seed=seed)
        return ("generator", "inpaint", {**request, **changes})

    for m in [np.ones([2, DATA_DIM - 1], np.float32), np.ones([3, DATA_DIM], np.float32),
              np.ones([DATA_DIM], np.float32), np.ones([1, 2, DATA_DIM], np.float32),
              mask.astype(np.int32), mask.astype(bool), mask.astype(np.float64),
              np.full([2, DATA_DIM], 0.5, np.float32), np.full([2, DATA_DIM], np.nan, np.float32),
              2 * mask, -mask]:
        out.append(inpaint(mask=m))
    for x in [2 * ones, np.full([2, DATA_DIM], 0.5, np.float32), np.ones([2, 3], np.float32)]:
        out.append(inpaint(x=x))
    for n in [0, -1, 501, 2**31 - 1]:  # 501 * 2 rows > max_num_samples = 1000
        out.append(inpaint(num_samples=np.int32(n)))
        out.append(inpaint(num_proposals=np.int32(n)))
    out.append(inpaint(seed=np.array([1, 2, 3], np.int32)))
    out.append(inpaint(x=np.ones([1001, DATA_DIM], np.float32),
                       mask=np.ones([1001, DATA_DIM], np.float32)))  # over max_rows
    out.append(("generator", "sample", dict(num_samples=np.int32(3), seed=seed, extra=seed)))
    return out


BAD = _bad_requests()


def _good(served, hm):
    """A good request of each endpoint, checked against the in-memory model."""
    out = served["generator"].signatures["sample"](
        num_samples=tf.constant(4), seed=tf.constant([8, 9]))
    np.testing.assert_array_equal(out["x"].numpy(),
                                  hm.generator.sample(4, tf.constant([8, 9]))["x"].numpy())
    x = tf.ones([3, DATA_DIM])
    enc = served["recognizer"].signatures["encode"](x=x, seed=tf.constant([8, 9]))
    np.testing.assert_allclose(enc["z1_probs"].numpy(), hm.recognizer(x)[0].numpy(),
                               rtol=1e-6)
    mask = tf.constant(np.arange(DATA_DIM) % 2, tf.float32) * tf.ones([3, 1])
    out = served["generator"].signatures["inpaint"](
        x=x, mask=mask, num_samples=tf.constant(2), num_proposals=tf.constant(4),
        seed=tf.constant([8, 9]))
    np.testing.assert_array_equal(out["x"].numpy(), tfhm.inpainting.inpaint(
        hm.generator, hm.recognizer, x, mask, 2, 4, tf.constant([8, 9])).numpy())


def _call(served, model, key, inputs):
    signature = served[model].signatures[key]
    return signature(**{k: tf.constant(v) if not isinstance(v, tf.Tensor) else v
                        for k, v in inputs.items()})


def test_every_bad_request_fails_cleanly_and_the_model_answers(served, hm):
    rounds = support.scaled(1, 10)
    for _ in range(rounds):
        for model, key, inputs in BAD:
            with pytest.raises(CLEAN_ERRORS):
                _call(served, model, key, inputs)
            support.record("serving", abusive_requests=1, survived=1)
        _good(served, hm)
        support.record("serving", good_after_abuse=2)


def test_concurrent_good_and_bad_requests(served, hm):
    # Threads hammer both models with a mix of good and bad requests; every
    # good one returns the right shapes, every bad one fails cleanly.
    count = support.scaled(400, 2000)
    rng = np.random.default_rng(0)
    jobs = [BAD[i] if i >= 0 else None for i in
            rng.integers(-len(BAD), len(BAD), size=count)]

    def run(job):
        if job is None:
            out = served["generator"].signatures["serving_default"](
                num_samples=tf.constant(16), seed=tf.constant([], tf.int32))
            return out["x"].shape == (16, DATA_DIM)
        try:
            _call(served, *job)
        except CLEAN_ERRORS:
            return True
        return False

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(run, jobs))
    assert all(results)
    _good(served, hm)
    abusive = sum(j is not None for j in jobs)
    support.record("serving", concurrent_requests=count, survived=abusive,
                   abusive_requests=abusive)


class _Session:
    """A SavedModel signature run as TF Serving runs it: a TF1 session.

    Feeds go to the C API as they are (no conversion to the placeholder's
    dtype, which `Session.run` would do), so a request of the wrong dtype
    meets the same check as in TF Serving ("Expects arg[0] to be float but
    int32 is provided", INVALID_ARGUMENT).
    """

    def __init__(self, path, key):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.session = tf.compat.v1.Session(graph=self.graph)
            meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], path)
        signature = meta.signature_def[key]
        self.feeds = {k: self.graph.get_tensor_by_name(v.name)
                      for k, v in signature.inputs.items()}
        self.names = sorted(signature.outputs)
        self.fetches = [self.graph.get_tensor_by_name(signature.outputs[k].name)
                        for k in self.names]

    def __call__(self, **inputs):
        feed = {self.feeds[k]._as_tf_output(): np.asarray(v) for k, v in inputs.items()}
        fetch = [t._as_tf_output() for t in self.fetches]
        values = self.session._call_tf_sessionrun(None, feed, fetch, [], None)
        return dict(zip(self.names, values))


def test_inpaint_bad_requests_are_invalid_argument_in_a_session(paths, hm):
    # Acceptance 4: bad inputs to the served inpaint (a mask of the wrong
    # shape or dtype, a non-binary mask or x) get INVALID_ARGUMENT from the
    # session TF Serving runs, and the same session then answers correctly.
    inpaint = _Session(paths["generator"], "inpaint")
    x = (np.arange(2 * DATA_DIM).reshape(2, DATA_DIM) % 3 == 0).astype(np.float32)
    mask = (np.arange(DATA_DIM) < DATA_DIM // 2).astype(np.float32) * np.ones([2, 1], np.float32)
    good = dict(x=x, mask=mask, num_samples=np.int32(3), num_proposals=np.int32(5),
                seed=np.array([4, 2], np.int32))
    bad = [
        (dict(mask=mask.astype(np.int32)), r"Expects arg\[\d\] to be float but int32"),
        (dict(mask=mask.astype(bool)), r"Expects arg\[\d\] to be float but bool"),
        (dict(mask=mask.astype(np.float64)), r"Expects arg\[\d\] to be float but double"),
        (dict(mask=mask[:, :10]), r"`mask` must have shape \[batch, 64\]. Received: mask "
                                  r"of shape\] \[2 10\]"),
        (dict(mask=np.ones([3, DATA_DIM], np.float32)), r"`mask` must have the shape of `x`"),
        (dict(mask=mask * 0.5), r"`mask` must contain only the values 0 and 1. Received\] "
                                r"\[64\]"),
        (dict(mask=mask * np.nan), r"`mask` must contain only the values 0 and 1.*\[nan\]"),
        (dict(x=x * 3), r"`x` must contain only the values 0 and 1.*\[is\] \[3\]"),
        (dict(x=x.astype(np.int32)), r"Expects arg\[\d\] to be float but int32"),
        (dict(num_samples=np.int32(0)), r"`num_samples` must be at least 1"),
        (dict(num_proposals=np.int32(600)), r"`num_proposals` \* batch size must be at "
                                            r"most max_num_samples = 1000"),
        (dict(seed=np.array([1], np.int32)), r"`seed` must be an int32 vector"),
    ]
    for changes, message in bad:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            inpaint(**{**good, **changes})
        support.record("serving", abusive_requests=1, survived=1)
    out = inpaint(**good)
    ref = tfhm.inpainting.inpaint(hm.generator, hm.recognizer, tf.constant(x),
                                  tf.constant(mask), 3, 5, tf.constant([4, 2]))
    np.testing.assert_array_equal(out["x"], ref.numpy())
    assert out["seed"].tolist() == [4, 2]


_SERVER = textwrap.dedent("""
    import concurrent.futures, json, resource, sys
    import numpy as np
    import tensorflow as tf

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    gen = tf.saved_model.load(sys.argv[1])
    rec = tf.saved_model.load(sys.argv[2])
    rounds = int(sys.argv[3])
    sample = gen.signatures["sample"]
    encode = rec.signatures["encode"]
    ll = gen.signatures["log_likelihood"]
    ones = tf.ones([4, 64])
    for _ in range(20):  # warm up with good requests only
        sample(num_samples=tf.constant(1000), seed=tf.constant([], tf.int32))
        encode(x=ones, seed=tf.constant([1, 2]))
        ll(x=ones, num_samples=tf.constant(250), seed=tf.constant([1, 2]))
    before = peak_mb()
    bad = [lambda: sample(num_samples=tf.constant(2**31 - 1), seed=tf.constant([1, 2])),
           lambda: sample(num_samples=tf.constant(-5), seed=tf.constant([1, 2])),
           lambda: ll(x=tf.ones([1000, 64]), num_samples=tf.constant(2**30),
                      seed=tf.constant([1, 2])),
           lambda: ll(x=tf.fill([2000, 64], float("nan")), num_samples=tf.constant(1),
                      seed=tf.constant([1, 2])),
           lambda: encode(x=tf.fill([5000, 64], 0.5), seed=tf.constant([1, 2])),
           lambda: encode(x=tf.ones([3, 65]), seed=tf.constant([1, 2, 3]))]
    def job(i):
        try:
            bad[i % len(bad)]()
            return "answered"
        except tf.errors.InvalidArgumentError:
            pass
        out = sample(num_samples=tf.constant(100), seed=tf.constant([], tf.int32))
        return "ok" if out["x"].shape == (100, 64) else "wrong"
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(job, range(rounds)))
    print(json.dumps({"before_mb": before, "after_mb": peak_mb(),
                      "results": {r: results.count(r) for r in set(results)}}))
""")


def test_serving_memory_stays_bounded(paths, tmp_path):
    script = tmp_path / "server.py"
    script.write_text(_SERVER)
    rounds = support.scaled(300, 2000)
    result = subprocess.run(
        [sys.executable, str(script), paths["generator"], paths["recognizer"], str(rounds)],
        capture_output=True, text=True, timeout=540,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["results"] == {"ok": rounds}, report
    growth = report["after_mb"] - report["before_mb"]
    assert growth < MEMORY_BOUND_MB, report
    support.record("serving", abusive_requests=rounds, survived=rounds)
    support.peak("serving", "peak_rss_mb", int(round(report["after_mb"])))
    support.peak("serving", "peak_rss_growth_mb", int(round(max(growth, 0))))
    support.peak("serving", "warm_rss_mb", int(round(report["before_mb"])))
