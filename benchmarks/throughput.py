"""Training throughput of one wake-sleep / RWS step, against the matmul limit.

Times exactly the step that `HelmholtzMachine.fit` runs: one seed from the
model's SeedGenerator, `tfhm.objectives.compute_gradients`, and both
optimizers' `apply_gradients` (Adam), inside one `tf.function`, with and
without XLA (`jit_compile=True`). For every configuration it prints
examples/s and the step's achieved matmul FLOP rate, as a fraction of the
float32 matmul rate this machine reaches, measured in the same run at the
very shapes the step multiplies (see `matmul_shapes`).

Example:

  python benchmarks/throughput.py                       # the full grid
  python benchmarks/throughput.py --models 200 --batch-sizes 1000 --ks 5
  python benchmarks/throughput.py --models 200-200-200/500h --batch-sizes 1000 \
      --ks 5 --xla on --dtype-policies float32 mixed_bfloat16
"""

import argparse
import collections
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

# name: (latent_dims, hidden_units per conditional)
MODELS = {"200": ((200,), ()), "200-200-200": ((200, 200, 200), ()),
          "200-200-200/500h": ((200, 200, 200), (500,))}
POLICIES = _common.DTYPE_POLICIES

# One matmul of a step: [m, k] @ [k, n], `transpose_a` for the weight
# gradient dW = h^T @ dy ([k, m]^T @ [m, n] gives [in, out] with k = rows).
MatMul = collections.namedtuple("MatMul", "m k n transpose_a")


def matmul_shapes(latent_dims, data_dim, batch, num_samples, algorithm,
                  recognizer_update, hidden_units=()):
    """The matrix products of one training step, forward and backward.

    Every stochastic layer of a linear SBN is one Dense `y = h @ W + b`, with
    `h` `[rows, in]`, `W` `[in, out]`: 2 * rows * in * out FLOPs forward.
    Rows per phase (B = batch, K = num_samples):

    - wake, recognizer `q(z_1 | x)`: B rows (x is shared by the K draws,
      the K samples are drawn from one set of logits);
      `q(z_(l+1) | z_l)`, l >= 1: K * B rows (one per draw).
    - wake, generator `p(x | z_1)` and `p(z_l | z_(l+1))`: K * B rows.
    - sleep (recognizer_update "sleep" or "wake_sleep"): the dream pass
      through the generator, B rows per layer, and `log q` of the dream
      through the recognizer, B rows per layer.

    Backward: the inputs of every Dense are data or binary samples, which
    carry no gradient, so each Dense that receives a gradient costs ONE more
    product of the same size, the weight gradient `dW = h^T @ dy` (no
    `dh = dy @ W^T`; TensorFlow skips it for inputs that need no gradient,
    and XLA removes it as dead code). Gradients reach: every wake-phase
    generator Dense; the wake-phase recognizer Denses when the recognizer
    has a wake update (RWS); the sleep-phase recognizer Denses. The dream
    pass (sampling) gets none. The general rule "backward = 2x forward" would
    overcount here. With hidden layers (`hidden_units`), each conditional is
    a chain of Denses; those after the first also pass the gradient down to
    their input (`dh = dy @ W^T`, one more product each).

    Returns:
      A list of `MatMul`; FLOPs of each: 2 * m * k * n.
    """
    dims = (data_dim,) + tuple(latent_dims)  # layer 0 is x
    rec = [(dims[l], dims[l + 1]) for l in range(len(latent_dims))]  # in, out
    gen = [(dims[l + 1], dims[l]) for l in range(len(latent_dims))]
    kb = num_samples * batch
    wake_q = recognizer_update in ("wake", "wake_sleep") and (
        algorithm == "reweighted_wake_sleep")
    sleep = recognizer_update in ("sleep", "wake_sleep")
    out = []

    def conditional(rows, i, o, gradient):
        # A conditional is the Dense chain i -> hidden_units -> o. With a
        # gradient, every Dense adds dW = h^T @ dy, and every Dense but the
        # first (whose input is data or samples) adds dh = dy @ W^T.
        widths = (i,) + tuple(hidden_units) + (o,)
        for j in range(len(widths) - 1):
            a, b = widths[j], widths[j + 1]
            out.append(MatMul(rows, a, b, False))
            if gradient:
                out.append(MatMul(a, rows, b, True))
                if j > 0:
                    out.append(MatMul(rows, b, a, False))

    for l, (i, o) in enumerate(rec):  # wake: q(z | x)
        conditional(batch if l == 0 else kb, i, o, wake_q)
    for i, o in gen:  # wake: log p(x, z)
        conditional(kb, i, o, True)
    if sleep:
        for i, o in gen:  # dreams
            conditional(batch, i, o, False)
        for i, o in rec:  # log q(z | dream)
            conditional(batch, i, o, True)
    return out


def flops(shapes):
    return sum(2 * s.m * s.k * s.n for s in shapes)


def matmul_fn(shape, jit=False, dtype="float32"):
    """A tf.function doing 4 distinct products of `shape` in `dtype`."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    rows_a = (shape.k, shape.m) if shape.transpose_a else (shape.m, shape.k)
    a = [tf.cast(tf.random.uniform(rows_a, seed=i), dtype) for i in range(4)]
    b = tf.cast(tf.random.uniform((shape.k, shape.n)), dtype)

    @tf.function(jit_compile=jit)
    def run(_):
        total = 0.0
        for a_i in a:  # 4 distinct products, so none is shared
            product = tf.matmul(a_i, b, transpose_a=shape.transpose_a)
            total += tf.reduce_sum(tf.cast(product, tf.float32))
        return total

    return run


def make_step(hm, jit):
    """The step of `fit` as one tf.function: gradients, then both updates.

    `tfhm.estimators.step.compute_gradients` is the one training step of
    `fit` and the Trainer, for every estimator.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from tfhm.estimators import step as estimator_step  # pylint: disable=g-import-not-at-top
    from tfhm.training.step import loss_scalers  # pylint: disable=g-import-not-at-top

    scale_losses = loss_scalers(hm.wake_optimizer, hm.sleep_optimizer)  # mixed_float16

    @tf.function(jit_compile=jit)
    def step(x):
        seed = tf.cast(hm.seed_generator.next(), tf.int32)
        gen_grads, rec_grads, logs = estimator_step.compute_gradients(
            hm.estimator, hm.generator, hm.recognizer, x, seed, hm.num_samples,
            scale_losses=scale_losses)
        hm.wake_optimizer.apply_gradients(
            zip(gen_grads, hm.generator.trainable_variables))
        hm.sleep_optimizer.apply_gradients(zip(rec_grads, estimator_step.recognizer_variables(
            hm.recognizer, hm.estimator)))
        return logs["elbo"]

    return step


class Timer:
    """Times chunks of calls of `fn` cycling over `inputs`.

    `calibrate` picks the number of calls per chunk so that one chunk takes
    about `seconds`; `chunk` returns the calls per second of one chunk.
    Chunks of all the timers are interleaved round by round, so that every
    configuration and every matmul shape sees the same load of the machine
    (it is shared), and the medians over rounds are compared.
    """

    def __init__(self, fn, inputs):
        self.fn, self.inputs, self.calls = fn, inputs, 1

    def calibrate(self, seconds):
        for i in range(2):  # trace / compile, then one warm call
            self.fn(self.inputs[i % len(self.inputs)]).numpy()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds or n < 2:
            self.fn(self.inputs[n % len(self.inputs)]).numpy()
            n += 1
        self.calls = n

    def chunk(self):
        start = time.perf_counter()
        for i in range(self.calls):
            out = self.fn(self.inputs[i % len(self.inputs)])
        out.numpy()
        return self.calls / (time.perf_counter() - start)


Config = collections.namedtuple("Config", "model batch algorithm k jit policy")


def configs(args):
    for model in args.models.split(","):
        for batch in args.batch_sizes:
            for algorithm, k in [("wake_sleep", 1)] + [
                    ("reweighted_wake_sleep", k) for k in args.ks]:
                for jit in args.xla:
                    for policy in args.dtype_policies:
                        yield Config(model, batch, algorithm, k, jit, policy)


def compute_dtype(policy):
    return "float32" if policy == "float32" else policy.split("_")[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, dtype_policy=False)
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, from {list(MODELS)}")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10],
                        help="K of the reweighted wake-sleep steps")
    parser.add_argument("--seconds", type=float, default=0.5,
                        help="timed seconds per configuration and round")
    parser.add_argument("--matmul-seconds", type=float, default=0.2,
                        help="timed seconds per matmul shape and round")
    parser.add_argument("--peak-size", type=int, default=2048,
                        help="n of the square n x n matmul quoted as the peak")
    parser.add_argument("--rounds", type=int, default=7,
                        help="interleaved rounds; figures are medians over them")
    parser.add_argument("--dtype-policies", nargs="+", default=["float32"],
                        choices=POLICIES,
                        help="Keras dtype policies to time side by side, in the same "
                             "rounds (e.g. float32 mixed_bfloat16)")
    parser.add_argument("--xla", nargs="+", default=["off", "on"], choices=["off", "on"],
                        help="time the step without and/or with XLA")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"unknown --models {unknown}; expected names from {list(MODELS)}")
    args.xla = [value == "on" for value in args.xla]
    return args


def main(argv=None):
    args = parse_args(argv)
    _common.configure_threads(args.threads)
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    import tfhm  # pylint: disable=g-import-not-at-top

    x_train, _ = _common.load_data(args, num_train=4000, num_valid=10)
    commit, date = _common.git_commit(), _common.utc_now()
    plan = list(configs(args))
    all_shapes = {}
    for cfg in plan:
        update = "sleep" if cfg.algorithm == "wake_sleep" else "wake_sleep"
        latent_dims, hidden = MODELS[cfg.model]
        all_shapes[cfg[:4]] = matmul_shapes(latent_dims, 784, cfg.batch, cfg.k,
                                            cfg.algorithm, update, hidden)
    dtypes = sorted({compute_dtype(cfg.policy) for cfg in plan})
    unique = sorted({s for shapes in all_shapes.values() for s in shapes})
    peak_shape = MatMul(args.peak_size, args.peak_size, args.peak_size, False)
    mm = {(s, d): Timer(matmul_fn(s, dtype=d), [None])
          for s in unique + [peak_shape] for d in dtypes}
    print(f"compiling {len(plan)} steps, {len(mm)} matmul shapes ...", flush=True)
    for timer in mm.values():
        timer.calibrate(args.matmul_seconds)
    steps = {}
    for cfg in plan:
        latent_dims, hidden = MODELS[cfg.model]
        keras.config.set_dtype_policy(cfg.policy)
        try:
            hm = tfhm.HelmholtzMachine(784, latent_dims, hidden_units=hidden, seed=0)
            hm.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3),
                       algorithm=cfg.algorithm, num_samples=cfg.k)
        finally:
            keras.config.set_dtype_policy("float32")
        batches = [tf.constant(x_train[i * cfg.batch:(i + 1) * cfg.batch])
                   for i in range(max(1, min(4, len(x_train) // cfg.batch)))]
        steps[cfg] = Timer(make_step(hm, cfg.jit), batches)
        steps[cfg].calibrate(args.seconds)
    per_round, peak_rounds = {cfg: [] for cfg in plan}, {}
    for r in range(args.rounds):
        # GFLOP/s of each matmul shape and dtype in this round.
        rate = {key: 4 * 2 * key[0].m * key[0].k * key[0].n * timer.chunk() / 1e9
                for key, timer in mm.items()}
        for d in dtypes:
            peak_rounds.setdefault(d, []).append(rate[(peak_shape, d)])
        for cfg in plan:
            shapes, dtype = all_shapes[cfg[:4]], compute_dtype(cfg.policy)
            step_flops = flops(shapes)
            # The time the step's matmuls alone take at this round's rates,
            # in the compute dtype of the step's policy.
            limit_s = sum(2 * s.m * s.k * s.n / (rate[(s, dtype)] * 1e9) for s in shapes)
            steps_s = steps[cfg].chunk()
            per_round[cfg].append(dict(
                ex_s=steps_s * cfg.batch, gflops=steps_s * step_flops / 1e9,
                limit=step_flops / limit_s / 1e9,
                fraction=steps_s * limit_s))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    def med(rows, key):
        return statistics.median(row[key] for row in rows)

    peaks = {d: statistics.median(values) for d, values in peak_rounds.items()}
    print("square {} matmul: {}".format(args.peak_size, ", ".join(
        f"{d} {v:.1f} GFLOP/s" for d, v in peaks.items())), flush=True)
    results = []
    for cfg in plan:
        rows = per_round[cfg]
        row = dict(model=cfg.model, batch=cfg.batch, algorithm=cfg.algorithm, k=cfg.k,
                   jit=cfg.jit, policy=cfg.policy,
                   ex_s=med(rows, "ex_s"), gflops=med(rows, "gflops"),
                   limit=med(rows, "limit"), fraction=med(rows, "fraction"),
                   mflop_per_step=flops(all_shapes[cfg[:4]]) / 1e6)
        twin = cfg._replace(policy="float32")
        if cfg.policy != "float32" and twin in per_round:
            row["vs_float32"] = statistics.median(
                a["ex_s"] / b["ex_s"] for a, b in zip(rows, per_round[twin]))
        results.append(row)
        print(f"SBN {cfg.model:<16} B={cfg.batch:<5} {cfg.algorithm:<21} K={cfg.k:<3} "
              f"xla={'on ' if cfg.jit else 'off'} {cfg.policy:<14} {row['ex_s']:9.0f} ex/s  "
              f"{row['gflops']:6.1f} GFLOP/s = {100 * row['fraction']:5.1f}% of "
              f"{row['limit']:.1f} (matmul at these shapes)"
              + (f"  x{row['vs_float32']:.2f} float32" if "vs_float32" in row else ""),
              flush=True)

    lines = [
        "## throughput: one training step, examples/s and matmul utilization",
        "",
        f"Run on {date}, commit {commit}, {_common.machine_description()}, "
        f"TensorFlow {tf.__version__}, dtype policies {', '.join(args.dtype_policies)}, "
        f"{'all cores' if not args.threads else f'{args.threads} threads'}.",
        f"Command: `{_common.command_line()}`",
        "",
        "The step is the one `fit` runs (seed, `tfhm.estimators.step."
        "compute_gradients`, two Adam updates) in one `tf.function`. Matmul "
        "FLOPs of the step are counted by `matmul_shapes` (forward "
        "2·rows·in·out per Dense; backward one weight-gradient product per "
        "Dense that gets a gradient, since the inputs of every conditional are "
        "samples or data, plus the input gradient of every Dense after a "
        "hidden layer). `limit` is the rate this machine's `tf.matmul` "
        "reached, in the same run, at the step's own shapes (FLOP-weighted) "
        "in the policy's compute dtype; a square "
        f"{args.peak_size} matmul reached "
        + ", ".join(f"{v:.1f} GFLOP/s in {d}" for d, v in peaks.items())
        + ". Under a mixed policy the layers compute in the low-precision "
        "dtype while logits, log-densities, importance weights, losses, "
        "variables and optimizer slots stay float32. The machine is shared: "
        f"steps and matmuls are timed in {args.rounds} interleaved rounds; "
        "each figure is the median over rounds, the fraction the median of "
        "the per-round fractions, `vs float32` the median per-round ratio of "
        "examples/s to the same configuration in float32.",
        "",
        "| model | batch | algorithm | K | XLA | policy | examples/s | vs float32 "
        "| MFLOP/step | GFLOP/s | limit GFLOP/s | fraction of limit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        alg = "wake-sleep" if r["algorithm"] == "wake_sleep" else "RWS"
        ratio = f"{r['vs_float32']:.2f}x" if "vs_float32" in r else "—"
        lines.append(
            f"| SBN {r['model']} | {r['batch']} | {alg} | {r['k']} | "
            f"{'on' if r['jit'] else 'off'} | {r['policy']} | {r['ex_s']:.0f} | {ratio} | "
            f"{r['mflop_per_step']:.1f} | {r['gflops']:.1f} | {r['limit']:.1f} | "
            f"{100 * r['fraction']:.0f}% |")
    _common.write_section(args.results, "throughput", "\n".join(lines))
    return results


if __name__ == "__main__":
    main()
