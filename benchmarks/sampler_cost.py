"""What the exact Bernoulli draw (issue 28) costs in the training step of `fit`.

Times the step of `throughput.py` (the one `fit` runs: gradients and both
Adam updates in one `tf.function`) twice per configuration, interleaved
round by round in one process: with tfhm's draw,
`tfhm.layers.sample_bernoulli_logits` (digits of U compared with
`sigmoid(-|logit|)`, exact for every logit), and with the draw tfhm had up to
issue 28, `1[u < sigmoid(logit)]` with a float32 uniform (a floor of 2^-23),
swapped in for the second variant only. Prints examples/s of each (medians
over rounds) and the ratio of their medians.

  python benchmarks/sampler_cost.py                  # RWS K=5, SBN 200 and 200-200-200
  python benchmarks/sampler_cost.py --batch-sizes 100 --xla off
"""

import argparse
import contextlib
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # noqa: E402
import throughput  # noqa: E402


def floored_draw(logits, seed, sample_shape=(), antithetic=False):
    """The draw of tfhm up to issue 28: a float32 uniform against sigmoid(logits)."""
    import tensorflow as tf

    logits = tf.cast(logits, tf.float32)
    leading = tf.reshape(tf.convert_to_tensor(sample_shape, dtype_hint=tf.int32), [-1])
    shape = tf.concat([tf.cast(leading, tf.int32), tf.shape(logits)], axis=0)
    u = tf.random.stateless_uniform(shape, seed=seed, alg="philox")
    u = 1.0 - u if antithetic else u
    return tf.cast(u < tf.sigmoid(logits), tf.float32)


@contextlib.contextmanager
def draw(variant):
    """Swaps the draw of the factorized conditionals while a step is traced."""
    from tfhm.conditionals import base

    exact = base.sample_bernoulli_logits
    if variant == "floor":
        base.sample_bernoulli_logits = floored_draw
    try:
        yield
    finally:
        base.sample_bernoulli_logits = exact


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, dtype_policy=False)
    parser.add_argument("--models", default="200,200-200-200")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--xla", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args(argv)
    _common.configure_threads(args.threads)
    import keras
    import numpy as np
    import tensorflow as tf

    import tfhm

    rng = np.random.default_rng(0)
    timers = {}
    for model in args.models.split(","):
        latent_dims, hidden = throughput.MODELS[model]
        for batch in args.batch_sizes:
            inputs = [tf.constant((rng.random((batch, 784)) < 0.3).astype(np.float32))
                      for _ in range(4)]
            for jit in args.xla:
                for variant in ("exact", "floor"):
                    hm = tfhm.HelmholtzMachine(784, latent_dims, hidden_units=hidden, seed=0)
                    hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3),
                               sleep_optimizer=keras.optimizers.Adam(1e-3),
                               algorithm="reweighted_wake_sleep", num_samples=args.k)
                    step = throughput.make_step(hm, jit == "on")
                    timer = throughput.Timer(step, inputs)
                    with draw(variant):
                        timer.calibrate(args.seconds)  # traces with this draw
                    timers[(model, batch, jit, variant)] = (timer, [])
    draws = draw_timers(args.xla)
    for _ in range(args.rounds):  # every timer once a round: the same load
        for timer, rates in timers.values():
            rates.append(timer.chunk())
        for fn, times in draws.values():
            times.append(_time_draws(fn))
    print(f"# {_common.machine_description()}; RWS K={args.k}; medians of "
          f"{args.rounds} interleaved rounds; examples/s")
    print("| model | batch | XLA | exact draw | floored draw (before) | exact / floored |")
    print("|---|---|---|---|---|---|")
    for (model, batch, jit, variant), (_, rates) in timers.items():
        if variant != "exact":
            continue
        exact = statistics.median(rates) * batch
        floor = statistics.median(timers[(model, batch, jit, "floor")][1]) * batch
        print(f"| SBN {model} | {batch} | {jit} | {exact:,.0f} | {floor:,.0f} "
              f"| {exact / floor:.3f} |")
    print(f"\n# The draw alone: {DRAW_SHAPE[0]} x {DRAW_SHAPE[1]} x {DRAW_SHAPE[2]} "
          "units from logits N(0, 3^2), ms per draw (a compiled function summing "
          f"it), medians of {args.rounds} rounds")
    print("| XLA | exact draw | floored draw (before) | exact / floored (time) |")
    print("|---|---|---|---|")
    for jit in args.xla:
        exact = statistics.median(draws[(jit, "exact")][1])
        floor = statistics.median(draws[(jit, "floor")][1])
        print(f"| {jit} | {exact:.3f} | {floor:.3f} | {exact / floor:.3f} |")


DRAW_SHAPE = (5, 100, 200)  # K draws of a batch of 100 through a 200-unit layer


def draw_timers(xla):
    """Compiled draws of DRAW_SHAPE units, exact and floored, per XLA setting."""
    import numpy as np
    import tensorflow as tf

    from tfhm.conditionals import base

    logits = tf.constant(np.random.default_rng(1).normal(
        0.0, 3.0, DRAW_SHAPE[1:]).astype(np.float32))
    timers = {}
    for jit in xla:
        for variant, fn in (("exact", base.sample_bernoulli_logits),
                            ("floor", floored_draw)):
            compiled = tf.function(
                lambda seed, fn=fn: tf.reduce_sum(fn(logits, seed, DRAW_SHAPE[:1])),
                jit_compile=jit == "on")
            compiled(tf.constant([0, 0])).numpy()  # trace and compile
            timers[(jit, variant)] = (compiled, [])
    return timers


def _time_draws(fn, repeats=50):
    """ms per call of `fn(seed)` over `repeats` seeds."""
    import time

    import tensorflow as tf

    seeds = [tf.constant([1, i]) for i in range(repeats)]
    start = time.perf_counter()
    for seed in seeds:
        out = fn(seed)
    out.numpy()
    return 1e3 * (time.perf_counter() - start) / repeats


if __name__ == "__main__":
    main()
