"""Where the time of one training step goes: TensorFlow profiler, by op kind.

Runs the step of `throughput.py` (the one `fit` runs) under
`tf.profiler.experimental`, without XLA so that every TensorFlow op shows up
by name, reads the trace back (the `XSpace` protobuf the profiler writes)
and prints the op time summed over TensorFlow's compute threads, grouped by
kind: matrix products, Bernoulli log-densities (forward and backward),
sampling, optimizer updates, the rest.

With `--ablate-log-prob` it also times, interleaved, the same step with
tfhm's one-softplus log-density (`tfhm.layers.bernoulli_log_prob`,
`x * logits - softplus(logits)`) swapped back to TFP's
`Bernoulli.log_prob`, to measure what the log-density costs, and swapped for
a fused form with a hand-written gradient (`fused_log_prob`: one `exp` per
element, shared by the forward pass and the gradient, instead of an `exp` and
a `log1p` forward and another `exp` for the sigmoid of the gradient), to
measure what fusing the log-density with its gradient would gain. The swap is
local to this process and only for the measurement. It also times the
step's largest product, `[K * batch, d_1] @ [d_1, 784]`, with and without
XLA, since under XLA the CPU matmul is XLA's own, not oneDNN's.

Example:

  python benchmarks/profile_step.py --model 200 --batch-size 1000 --k 5 --ablate-log-prob
"""

import argparse
import collections
import glob
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position
import throughput  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="200", choices=list(throughput.MODELS))
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--algorithm", default="reweighted_wake_sleep",
                        choices=["wake_sleep", "reweighted_wake_sleep"])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="profiled steps")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dtype-policy", default="float32",
                        choices=_common.DTYPE_POLICIES,
                        help="Keras dtype policy of the model (default: %(default)s)")
    parser.add_argument("--ablate-log-prob", action="store_true")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--section", default="profile_step",
                        help="RESULTS.md section to rewrite, so that profiles of "
                             "other settings can sit side by side")
    parser.add_argument("--results", default=_common.DEFAULT_RESULTS,
                        help="Markdown file whose `profile_step` section this "
                             "script rewrites; '' to skip (default: %(default)s)")
    return parser.parse_args(argv)


def _category(name):
    op = name.split(":")[-1]
    if "MatMul" in op:
        return "matmul"
    if "log_prob" in name:
        return ("Bernoulli log_prob, backward" if name.startswith("gradient_tape")
                else "Bernoulli log_prob, forward")
    if "Random" in op:
        return "sampling (random uniform)"
    if "adam" in name.lower():
        return "Adam updates"
    return f"other ({op})"


def fused_log_prob(logits, value):
    """`log_prob_logits` with a hand-written gradient sharing one `exp`.

    `softplus(l) = relu(l) + log1p(e)` and `sigmoid(l) = 1 / (1 + e)` for
    l >= 0, `e / (1 + e)` for l < 0, with `e = exp(-|l|)` computed once. The
    value (data or samples) gets no gradient. For the ablation only: the
    library keeps the plain form, whose seeded results are pinned bitwise.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    @tf.custom_gradient
    def log_prob(logits):
        e = tf.exp(-tf.abs(logits))
        out = tf.reduce_sum(value * logits - tf.nn.relu(logits) - tf.math.log1p(e),
                            axis=-1)

        def grad(upstream):
            sigmoid = tf.where(logits >= 0, 1.0, e) / (1.0 + e)
            g = upstream[..., tf.newaxis] * (value - sigmoid)
            # Sum over the axes the logits were broadcast along (q(z_1 | x):
            # one row of logits for the K draws).
            axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(logits),
                                                       s1=tf.shape(g))
            return tf.reshape(tf.reduce_sum(g, axis=axes), tf.shape(logits))

        return out, grad

    with tf.name_scope("bernoulli_log_prob"):
        return log_prob(logits)


def _xplane_pb2():
    try:
        from tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
    except ImportError:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
    return xplane_pb2


def op_time_by_category(step, x, steps):
    """Seconds of op time per category over `steps` profiled steps."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    xplane_pb2 = _xplane_pb2()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            step(x).numpy()
        tf.profiler.experimental.stop()
        path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if name in ("ExecutorState::Process", "ParallelFor"):
                    continue  # containers of the op events, not ops
                seconds[_category(name)] += event.duration_ps / 1e12
    return seconds


def main(argv=None):
    args = parse_args(argv)
    _common.configure_threads(args.threads)
    _common.configure_dtype_policy(args.dtype_policy)
    import keras  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    import tfhm  # pylint: disable=g-import-not-at-top

    x = tf.constant((np.random.default_rng(0).random((args.batch_size, 784)) < 0.2
                     ).astype(np.float32))

    def build(jit):
        latent_dims, hidden = throughput.MODELS[args.model]
        hm = tfhm.HelmholtzMachine(784, latent_dims, hidden_units=hidden, seed=0)
        hm.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3),
                   algorithm=args.algorithm, num_samples=args.k)
        step = throughput.make_step(hm, jit)
        for _ in range(2):
            step(x).numpy()
        return step

    head = (f"SBN {args.model}, batch {args.batch_size}, {args.algorithm}, "
            f"K={args.k}, {args.dtype_policy}; {_common.utc_now()}, commit {_common.git_commit()}, "
            f"{_common.machine_description()}, TensorFlow {tf.__version__}")
    print(head)
    seconds = op_time_by_category(build(False), x, args.steps)
    total = sum(seconds.values())
    lines = [f"Op time of {args.steps} steps without XLA, summed over "
             f"TensorFlow's compute threads: {total:.2f} s", "",
             "| share | seconds | op kind |", "|---|---|---|"]
    for name, value in seconds.most_common(10):
        lines.append(f"| {100 * value / total:.1f}% | {value:.3f} | {name} |")
    result = {"op_seconds": dict(seconds)}
    if args.ablate_log_prob:
        # The factorized conditionals (the prior's in tfhm.layers, the dense
        # layers' in tfhm.conditionals.base) call this module-level name.
        import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top

        from tfhm import layers as tfhm_layers  # pylint: disable=g-import-not-at-top
        from tfhm.conditionals import base as tfhm_base  # pylint: disable=g-import-not-at-top

        def tfp_log_prob(logits, value):
            return tfp.distributions.Independent(
                tfp.distributions.Bernoulli(logits=logits, dtype=value.dtype),
                reinterpreted_batch_ndims=1).log_prob(value)

        def swap(log_prob):
            tfhm_layers.log_prob_logits = tfhm_base.log_prob_logits = log_prob

        steps = {"tfhm one-softplus log_prob, no XLA": build(False),
                 "tfhm one-softplus log_prob, XLA": build(True)}
        ours = tfhm_base.log_prob_logits
        swap(tfp_log_prob)
        try:  # build() traces the step, so the swap is baked into these
            steps["TFP Bernoulli.log_prob, no XLA"] = build(False)
            steps["TFP Bernoulli.log_prob, XLA"] = build(True)
            swap(fused_log_prob)
            steps["fused log_prob + gradient (one exp), no XLA"] = build(False)
            steps["fused log_prob + gradient (one exp), XLA"] = build(True)
        finally:
            swap(ours)
        rates = {name: [] for name in steps}
        for _ in range(args.rounds):  # interleaved: the machine is shared
            for name, step in steps.items():
                start = time.perf_counter()
                for _ in range(5):
                    out = step(x)
                out.numpy()
                rates[name].append(5 * args.batch_size / (time.perf_counter() - start))
        result["ablation_ex_s"] = {}
        lines += ["", f"Interleaved timing, median of {args.rounds} rounds:", "",
                  "| step | examples/s |", "|---|---|"]
        for name, values in rates.items():
            result["ablation_ex_s"][name] = statistics.median(values)
            lines.append(f"| {name} | {statistics.median(values):.0f} |")
        rows = args.k * args.batch_size
        d_1 = throughput.MODELS[args.model][0][0]
        shape = throughput.MatMul(rows, d_1, 784, False)
        timers = {jit: throughput.Timer(throughput.matmul_fn(shape, jit), [None])
                  for jit in (False, True)}
        for timer in timers.values():
            timer.calibrate(0.2)
        gflops = {jit: [] for jit in timers}
        for _ in range(args.rounds):
            for jit, timer in timers.items():
                gflops[jit].append(4 * 2 * rows * d_1 * 784 * timer.chunk() / 1e9)
        result["matmul_gflops"] = {jit: statistics.median(v) for jit, v in gflops.items()}
        lines += ["", f"`tf.matmul` [{rows}, {d_1}] @ [{d_1}, 784], float32: "
                  f"{result['matmul_gflops'][False]:.1f} GFLOP/s without XLA "
                  f"(oneDNN), {result['matmul_gflops'][True]:.1f} GFLOP/s with "
                  f"XLA (median of {args.rounds} interleaved rounds)."]
    body = "\n".join(lines)
    print(body)
    _common.write_section(args.results, args.section, "\n".join([
        f"## {args.section}: where the step's time goes", "", head + ".",
        f"Command: `{_common.command_line()}`", "", body]))
    return result


if __name__ == "__main__":
    main()
