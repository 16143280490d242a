"""Export of a Helmholtz machine as two SavedModels for TensorFlow Serving.

`export_model` writes TF Serving's versioned layout

  <base_dir>/generator/<version>/    sample, decode, log_likelihood
  <base_dir>/recognizer/<version>/   encode

from a `tfhm.HelmholtzMachine` or a training run folder (`RUN/model.keras`).
The graphs stand on TensorFlow alone: they load with `tf.saved_model.load` in
a process that imports neither tfhm, nor Keras, nor TensorFlow Probability.

Signatures (every input is named; calls take keyword arguments only and do
not cast dtypes; `L = len(latent_dims)`, `D = data_dim`, `d_l = latent_dims[l]`):

  generator
    serving_default, sample
        num_samples int32 [], seed int32 [2] or [] (optional)
        -> x float32 0/1 [n, D], x_probs [n, D], z1 .. zL float32 0/1 [n, d_l]
    decode
        z1 .. zL float32 0/1 [batch, d_l]
        -> x_probs [batch, D] = p(x = 1 | z_1),
           z1_probs .. z(L-1)_probs [batch, d_l] = p(z_l = 1 | z_(l+1))
    log_likelihood
        x float32 0/1 [batch, D], num_samples int32 [], seed (optional)
        -> log_likelihood float32 [batch], nats
  recognizer
    serving_default, encode
        x float32 0/1 [batch, D], seed int32 [2] or [] (optional)
        -> z1_probs .. zL_probs [batch, d_l], z1 .. zL float32 0/1 [batch, d_l]
    encode_unseeded
        x -> the same outputs, always a fresh draw (x is its only input, so
        TF Serving's row-wise REST format, `instances`, can call it)

Seeds: `seed = [s0, s1]` gives the draw of `tf.random.stateless_uniform(...,
alg="philox")` that the in-memory model makes with that seed, bit for bit;
`seed = []` (the saved default, used when the input is left out) draws a fresh
seed inside the graph, so two calls, and two servers, give different samples.

Bad requests (`num_samples` out of `[1, max_num_samples]`, a seed that is
neither `[2]` nor `[]`, `x` or a latent of the wrong width or with values
other than 0 and 1) fail with an `InvalidArgumentError` that says what was
wrong, raised by assertions that run before anything large is allocated.

#### Examples

```python
paths = tfhm.export.export_model(hm, "/srv/models", version=3)
# later, anywhere with only TensorFlow installed:
generator = tf.saved_model.load(paths["generator"])
out = generator.signatures["serving_default"](
    num_samples=tf.constant(10), seed=tf.constant([1, 2]))
out["x"]                                   # [10, data_dim], as hm.sample
```
"""

import argparse
import numbers
import os
import pathlib
import shutil
import sys
import tempfile

import keras
import tensorflow as tf

from tfhm import evaluation
from tfhm import objectives
from tfhm.model import HelmholtzMachine

__all__ = [
    "DEFAULT_MAX_NUM_SAMPLES",
    "GeneratorModule",
    "RecognizerModule",
    "export_cli",
    "export_model",
]

# Largest `num_samples` a served request may ask for unless the export says
# otherwise: 10,000 samples of 784 pixels are 31 MB of float32.
DEFAULT_MAX_NUM_SAMPLES = 10_000

_INT32_MAX = 2**31 - 1


# ------------------------------------------------------------ graph checks
def _check_num_samples(num_samples, max_num_samples, rows_per_sample=None):
    """Assertion ops for `1 <= num_samples` and `num_samples * rows <= limit`."""
    requested = tf.cast(num_samples, tf.int64)
    if rows_per_sample is not None:
        requested *= tf.cast(rows_per_sample, tf.int64)
    what = ("`num_samples` * batch size" if rows_per_sample is not None
            else "`num_samples`")
    return [
        tf.debugging.Assert(
            num_samples >= 1,
            ["`num_samples` must be at least 1. Received: num_samples =",
             num_samples]),
        tf.debugging.Assert(
            requested <= max_num_samples,
            [f"{what} must be at most max_num_samples = {max_num_samples} "
             "(the limit fixed at export). Received:", requested]),
    ]


def _check_seed(seed):
    """Assertion op: `seed` is a vector of 2 (a stateless seed) or 0 values."""
    shape = tf.shape(seed)
    ok = tf.logical_and(tf.equal(tf.rank(seed), 1),
                        tf.reduce_any(tf.equal(tf.size(seed), [0, 2])))
    return [tf.debugging.Assert(
        ok, ["`seed` must be an int32 vector of shape [2] (a stateless seed) "
             "or [] (draw a fresh seed). Received: seed of shape", shape])]


def _check_binary(x, width, name):
    """Assertion ops: `x` is `[batch, width]` and holds only 0 and 1."""
    shape = tf.shape(x)
    shape_ok = tf.logical_and(tf.equal(tf.rank(x), 2),  # safe for any rank
                              tf.reduce_all(tf.equal(shape[1:], width)))
    check_shape = tf.debugging.Assert(
        shape_ok,
        [f"`{name}` must have shape [batch, {width}]. Received: {name} of "
         "shape", shape])
    with tf.control_dependencies([check_shape]):
        bad = tf.logical_not(tf.logical_or(tf.equal(x, 0.0), tf.equal(x, 1.0)))
        first = tf.where(bad)[:1]  # [0 or 1, 2]: where the first bad value is
        check_values = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(bad)),
            [f"`{name}` must contain only the values 0 and 1. Received",
             tf.math.count_nonzero(bad), "other values; the first at [row, "
             "column] =", first, "is", tf.gather_nd(x, first)])
    return [check_shape, check_values]


def _ranked(**inputs):
    """The request's tensors, each checked at run time against its spec's rank.

    A loaded signature does not check the shapes of its inputs, and the
    signature's static shape lets `tf.rank` fold to a constant: without this,
    a seed of shape [0, 2] passed every check as "no seed". `EnsureShape`
    fails with "Shape of tensor seed [0,2] is not compatible with expected
    shape [?]".
    """
    ranks = {"seed": [None], "num_samples": [], "x": [None, None]}
    return [tf.ensure_shape(t, ranks.get(name, [None, None]), name=name)
            for name, t in inputs.items()]


def _after(checks, *tensors):
    """`tensors`, passed on only once the assertion ops `checks` have passed.

    Everything computed from the returned tensors waits for the checks, so a
    bad request fails before any allocation that it sized.
    """
    with tf.control_dependencies(checks):
        return [tf.identity(t) for t in tensors]


def _stateless_seed(seed):
    """The int32 `[2]` stateless seed of a request: `seed`, or a fresh one.

    A fresh seed comes from `RandomUniformInt` with `seed = seed2 = 0`, which
    TensorFlow seeds from the operating system's entropy when the kernel is
    created and then advances under a lock at every call: two calls, two
    concurrent requests and two freshly loaded servers all get different
    seeds. The raw op is used on purpose: `tf.random.uniform` would take its
    seed from `tf.random.set_seed` of the exporting process (Keras'
    `set_random_seed` sets it), baking one fixed stream into the graph; a
    `tf.random.Generator` restores the same state at every load; and the time
    (`tf.timestamp`) repeats for requests that arrive together.
    """
    def fresh():
        return tf.raw_ops.RandomUniformInt(
            shape=tf.constant([2]), minval=tf.constant(-_INT32_MAX - 1),
            maxval=tf.constant(_INT32_MAX), seed=0, seed2=0)

    seed = tf.cond(tf.equal(tf.size(seed), 0), fresh, lambda: seed)
    return tf.ensure_shape(seed, [2])


def _seed_spec():
    return tf.TensorSpec([None], tf.int32, name="seed")


def _x_spec():
    return tf.TensorSpec([None, None], tf.float32, name="x")


def _num_samples_spec():
    return tf.TensorSpec([], tf.int32, name="num_samples")


# --------------------------------------------------------- serving graphs
def _sample(generator, num_samples, seed, max_num_samples):
    """Ancestral samples `z_L ~ p(z_L), ..., x ~ p(x | z_1)` of a request.

    Args:
      generator: a `tfhm.Generator`.
      num_samples: int32 scalar n, `1 <= n <= max_num_samples`.
      seed: int32 `[2]` for a reproducible draw, `[]` for a fresh one.
      max_num_samples: Python int, the limit fixed at export.

    Returns:
      A dict: `x` float32 0/1 `[n, data_dim]`, `x_probs` `[n, data_dim]`,
      `z1` .. `zL` float32 0/1 `[n, d_l]` (bottom to top): with a seed,
      exactly `generator.sample(n, seed)`.
    """
    num_samples, seed = _ranked(num_samples=num_samples, seed=seed)
    checks = _check_num_samples(num_samples, max_num_samples) + _check_seed(seed)
    num_samples, seed = _after(checks, num_samples, seed)
    out = generator.sample(num_samples, _stateless_seed(seed))
    result = {"x": out["x"], "x_probs": out["x_probs"]}
    result.update({f"z{l + 1}": z for l, z in enumerate(out["z"])})
    return result


def _decode(generator, latents):
    """Top-down Bernoulli means of given latents, one layer at a time.

    Args:
      generator: a `tfhm.Generator`.
      latents: list of float32 0/1 `[batch, d_l]`, z_1 .. z_L.

    Returns:
      A dict: `x_probs` `[batch, data_dim]` = `p(x = 1 | z_1)` (as
      `Generator.call`), and for l = 1 .. L-1 `zl_probs` `[batch, d_l]` =
      `p(z_l = 1 | z_(l+1))`. Each layer's means depend only on the given
      layer above it, so `decode` of a `sample` output gives back its
      `x_probs`.
    """
    latents = _ranked(**{f"z{l + 1}": z for l, z in enumerate(latents)})
    checks = []
    for l, (z, width) in enumerate(zip(latents, generator.latent_dims)):
        checks += _check_binary(z, width, f"z{l + 1}")
    latents = _after(checks, *latents)
    result = {"x_probs": generator(latents[0])}  # [batch, data_dim]
    for l in range(1, len(latents)):
        result[f"z{l}_probs"] = tf.sigmoid(  # [batch, d_l]
            generator.conditionals[l].compute_logits(latents[l]))
    return result


def _log_likelihood(generator, recognizer, x, num_samples, seed,
                         max_num_samples):
    """Importance-sampled `log p(x) ~ log mean_k p(x, z_k) / q(z_k | x)`.

    The estimate of `HelmholtzMachine.log_likelihood` (Burda et al. 2016),
    with the K draws of q taken at once rather than in chunks: with a seed,
    `log_mean_exp(objectives.log_importance_weights(..., K, seed)[0])`.

    Args:
      generator, recognizer: the two networks (q is the proposal).
      x: float32 0/1 `[batch, data_dim]`.
      num_samples: int32 scalar K, `K * batch <= max_num_samples`.
      seed: int32 `[2]` or `[]` (fresh).
      max_num_samples: Python int, the limit fixed at export.

    Returns:
      `{"log_likelihood": float32 [batch]}`, nats.
    """
    x, num_samples, seed = _ranked(x=x, num_samples=num_samples, seed=seed)
    checks = (_check_binary(x, generator.data_dim, "x") + _check_seed(seed)
              + _check_num_samples(num_samples, max_num_samples,
                                   rows_per_sample=tf.shape(x)[0]))
    x, num_samples, seed = _after(checks, x, num_samples, seed)
    log_w = objectives.log_importance_weights(  # [K, batch]
        generator, recognizer, x, num_samples, _stateless_seed(seed))[0]
    return {"log_likelihood": evaluation.log_mean_exp(log_w, axis=0)}


def _encode(recognizer, x, seed):
    """Posterior means of every latent layer and one posterior sample.

    `zl_probs` are the means of `Recognizer.call`: a deterministic bottom-up
    pass in which each layer is fed the means of the layer below (exactly
    `q(z_1 = 1 | x)` for the first layer; above it, a mean-field summary that
    does not depend on the draw). `zl` is one ancestral draw of q, `z_1 ~
    q(z_1 | x)`, `z_l ~ q(z_l | z_(l-1))`: with a seed, exactly
    `recognizer.sample(x, 1, seed)`.

    Args:
      recognizer: a `tfhm.Recognizer`.
      x: float32 0/1 `[batch, data_dim]`.
      seed: int32 `[2]` or `[]` (fresh).

    Returns:
      A dict: `z1_probs` .. `zL_probs` float32 `[batch, d_l]` and `z1` ..
      `zL` float32 0/1 `[batch, d_l]`.
    """
    x, seed = _ranked(x=x, seed=seed)
    checks = _check_binary(x, recognizer.data_dim, "x") + _check_seed(seed)
    x, seed = _after(checks, x, seed)
    means = recognizer(x)  # list of [batch, d_l]
    latents, _ = recognizer.sample(x, 1, _stateless_seed(seed))  # [1, batch, d_l]
    result = {f"z{l + 1}_probs": m for l, m in enumerate(means)}
    result.update({f"z{l + 1}": z[0] for l, z in enumerate(latents)})
    return result


# ----------------------------------------------------------------- modules
# The modules track the networks' variables only, not the Keras objects: the
# closures below hold the networks, so the SavedModel's object graph is the
# signatures plus a flat list of weights, with no Keras internals to revive.
def _tf_variables(*networks):
    """The `tf.Variable`s behind the networks' Keras weights.

    Tracking the Keras variables themselves would store every weight twice
    (Keras exports a Keras variable as a second `tf.Variable` initialized from
    the first), and the session-based loaders of TF Serving and
    `saved_model_cli run` would restore only the copy while the graph reads
    the original: "Could not find variable ...".
    """
    variables = [weight.value for net in networks for weight in net.weights]
    for variable in variables:
        if not isinstance(variable, tf.Variable):
            raise TypeError(f"Expected tf.Variable weights (the TensorFlow "
                            f"backend). Received: {type(variable).__name__}")
    return variables


class GeneratorModule(tf.Module):
    """The generator's SavedModel: `sample`, `decode`, `log_likelihood`.

    Holds the generator's weights and, for the importance-sampled
    `log_likelihood`, the recognizer's (q(z | x) is its proposal).

    Args:
      model: a `tfhm.HelmholtzMachine`.
      max_num_samples: the largest `num_samples` (for `log_likelihood`, the
        largest `num_samples * batch size`) a request may ask for.

    #### Examples

    ```python
    module = tfhm.export.GeneratorModule(hm)
    module.sample(tf.constant(5), tf.constant([1, 2]))["x"]  # [5, data_dim]
    tf.saved_model.save(module, "gen/1", signatures=module.signatures())
    ```
    """

    def __init__(self, model, max_num_samples=DEFAULT_MAX_NUM_SAMPLES):
        super().__init__(name="generator")
        generator, recognizer = model.generator, model.recognizer
        max_num_samples = int(max_num_samples)
        self.weights = _tf_variables(generator, recognizer)
        no_seed = tf.constant([], tf.int32)  # saved as the signature default

        def sample(num_samples, seed=no_seed):
            return _sample(generator, num_samples, seed, max_num_samples)

        def log_likelihood(x, num_samples, seed=no_seed):
            return _log_likelihood(generator, recognizer, x, num_samples,
                                   seed, max_num_samples)

        def decode(*latents):  # one input per layer: z1 .. zL
            return _decode(generator, list(latents))

        self.sample = tf.function(
            sample, input_signature=[_num_samples_spec(), _seed_spec()])
        self.log_likelihood = tf.function(
            log_likelihood,
            input_signature=[_x_spec(), _num_samples_spec(), _seed_spec()])
        self.decode = tf.function(decode, input_signature=[
            tf.TensorSpec([None, None], tf.float32, name=f"z{l + 1}")
            for l in range(len(generator.latent_dims))])

    def signatures(self):
        """The signature dict for `tf.saved_model.save`."""
        return {"serving_default": self.sample, "sample": self.sample,
                "decode": self.decode, "log_likelihood": self.log_likelihood}


class RecognizerModule(tf.Module):
    """The recognizer's SavedModel: `encode` and `encode_unseeded`.

    Args:
      model: a `tfhm.HelmholtzMachine`.

    #### Examples

    ```python
    module = tfhm.export.RecognizerModule(hm)
    module.encode(x, tf.constant([1, 2]))["z1_probs"]  # [batch, latent_dims[0]]
    ```
    """

    def __init__(self, model):
        super().__init__(name="recognizer")
        recognizer = model.recognizer
        self.weights = _tf_variables(recognizer)
        no_seed = tf.constant([], tf.int32)  # saved as the signature default

        def encode(x, seed=no_seed):
            return _encode(recognizer, x, seed)

        def encode_unseeded(x):
            return _encode(recognizer, x, no_seed)

        self.encode = tf.function(
            encode, input_signature=[_x_spec(), _seed_spec()])
        self.encode_unseeded = tf.function(
            encode_unseeded, input_signature=[_x_spec()])

    def signatures(self):
        """The signature dict for `tf.saved_model.save`."""
        return {"serving_default": self.encode, "encode": self.encode,
                "encode_unseeded": self.encode_unseeded}


# ------------------------------------------------------------------ export
def _load_source(source):
    if isinstance(source, HelmholtzMachine):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        model_file = path if path.suffix == ".keras" else path / "model.keras"
        if not model_file.is_file():
            raise FileNotFoundError(
                f"No trained model at {model_file}: `source` must be a "
                "HelmholtzMachine or a training run folder holding "
                f"model.keras. Received: source={str(source)!r}")
        model = keras.models.load_model(model_file)
        if not isinstance(model, HelmholtzMachine):
            raise ValueError(
                f"{model_file} holds a {type(model).__name__}, not a "
                "tfhm.HelmholtzMachine.")
        return model
    raise TypeError(
        "`source` must be a tfhm.HelmholtzMachine or the path of a training "
        f"run folder. Received: source={source!r} of type "
        f"{type(source).__name__}")


def _non_negative_int(name, value, upper=None):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or value < 0 or (upper is not None and value > upper)):
        limit = f" no larger than {upper}" if upper is not None else ""
        raise ValueError(
            f"`{name}` must be a non-negative integer{limit}. "
            f"Received: {name}={value!r}")
    return int(value)


def _publish(staged, target, overwrite):
    """Renames the finished folder `staged` to `target` (atomic on POSIX)."""
    if not target.exists():
        os.rename(staged, target)
        return
    if not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True (--overwrite) to "
            "replace it, or export a new version.")
    # A directory cannot be renamed onto a non-empty one: move the old version
    # aside (it stays whole until removed), then move the new one in.
    retired = pathlib.Path(tempfile.mkdtemp(dir=target.parent,
                                            prefix=f".old-{target.name}-"))
    os.rename(target, retired / target.name)
    os.rename(staged, target)
    shutil.rmtree(retired, ignore_errors=True)


def export_model(source, base_dir, version=1, *,
                 max_num_samples=DEFAULT_MAX_NUM_SAMPLES, overwrite=False):
    """Writes the generator and recognizer SavedModels for TF Serving.

    Each SavedModel is first saved into a hidden temporary folder next to its
    target (`<base_dir>/<name>/.tmp-<version>-*`, a name TF Serving ignores)
    and then renamed into place, so a server polling `<base_dir>/<name>`
    never sees a half-written version. A crash leaves at most such a hidden
    folder behind, never a numeric one.

    Args:
      source: a `tfhm.HelmholtzMachine`, or a training run folder `RUN` (the
        model is read from `RUN/model.keras`; a `.keras` file also works).
      base_dir: the folder that TF Serving's `models.config` points into.
      version: the version folder, a non-negative integer (TF Serving serves
        the largest one by default).
      max_num_samples: the most samples one request may ask for (`sample`'s
        `num_samples`, `log_likelihood`'s `num_samples * batch size`); fixed
        in the graph.
      overwrite: replace an existing version folder instead of raising.

    Returns:
      `{"generator": path, "recognizer": path}`, the version folders (str).

    Raises:
      FileExistsError: a version folder exists and `overwrite` is False;
        nothing is written then.
      FileNotFoundError: a run folder without `model.keras`.
      TypeError, ValueError: a bad `source`, `version` or `max_num_samples`.
    """
    model = _load_source(source)
    version = _non_negative_int("version", version)
    max_num_samples = _non_negative_int("max_num_samples", max_num_samples,
                                        upper=_INT32_MAX)
    if max_num_samples < 1:
        raise ValueError("`max_num_samples` must be at least 1. Received: "
                         f"max_num_samples={max_num_samples}")
    base_dir = pathlib.Path(base_dir)
    modules = {"generator": GeneratorModule(model, max_num_samples),
               "recognizer": RecognizerModule(model)}
    targets = {name: base_dir / name / str(version) for name in modules}
    for target in targets.values():
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} already exists; pass overwrite=True (--overwrite) "
                "to replace it, or export a new version.")
    staged = {}
    try:
        for name, module in modules.items():
            targets[name].parent.mkdir(parents=True, exist_ok=True)
            staged[name] = pathlib.Path(tempfile.mkdtemp(
                dir=targets[name].parent, prefix=f".tmp-{version}-"))
            tf.saved_model.save(module, str(staged[name]),
                                signatures=module.signatures())
            # mkdtemp makes the folder private (0700): a server running as
            # another user could not read the published version.
            os.chmod(staged[name], 0o755)
        for name in modules:
            _publish(staged[name], targets[name], overwrite)
    finally:
        for folder in staged.values():
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
    return {name: str(target) for name, target in targets.items()}


def export_cli(argv=None):
    """`tfhm export` / `python export/export.py`: export a run for serving.

    Args:
      argv: the command-line arguments (default `sys.argv[1:]`).

    Returns:
      The exit status: 0 on success, 1 when the export was refused.
    """
    parser = argparse.ArgumentParser(
        prog="tfhm export",
        description="Export a trained Helmholtz machine as generator and "
                    "recognizer SavedModels in TF Serving's layout "
                    "OUT/{generator,recognizer}/VERSION.")
    parser.add_argument("--run", required=True,
                        help="training run folder holding model.keras")
    parser.add_argument("--out", required=True,
                        help="base folder of the served models")
    parser.add_argument("--version", type=int, default=1,
                        help="version folder to write (default 1)")
    parser.add_argument("--max-num-samples", type=int,
                        default=DEFAULT_MAX_NUM_SAMPLES,
                        help="largest num_samples a request may ask for "
                             f"(default {DEFAULT_MAX_NUM_SAMPLES})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing version folder")
    args = parser.parse_args(argv)
    try:
        paths = export_model(args.run, args.out, args.version,
                             max_num_samples=args.max_num_samples,
                             overwrite=args.overwrite)
    except (FileExistsError, FileNotFoundError, TypeError, ValueError) as err:
        print(f"tfhm export: error: {err}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
