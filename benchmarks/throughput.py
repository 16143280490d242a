"""Training throughput: the bare step against the matmul limit, or the whole loop.

`--loop step` (the default) times exactly the step that
`HelmholtzMachine.fit` runs: one seed from the model's SeedGenerator,
`tfhm.estimators.step.compute_gradients`, and both optimizers' `apply_gradients`
(Adam), inside one `tf.function`, with and without XLA (`jit_compile=True`).
For every configuration it prints examples/s and the step's achieved matmul
FLOP rate, as a fraction of the float32 matmul rate this machine reaches,
measured in the same run at the very shapes the step multiplies (see
`matmul_shapes`); section `throughput` of RESULTS.md.

`--loop trainer` times the whole `tfhm.Trainer` loop (tf.data input, one
`tf.function` step per batch, two Adam updates), and `--loop fit` the same
settings through `HelmholtzMachine.fit` (Keras' loop, one step per batch),
since users train with `fit`. Each setting trains `--epochs` epochs of
`--examples` examples; the first epoch (tracing, XLA compilation) is
discarded and the best examples/s of the others, from their wall time, is
reported, in a Markdown table (section `throughput_trainer` or
`throughput_fit`). Settings run one after the other, not interleaved: on a
shared machine the figures are noisy.

Example:

  python benchmarks/throughput.py                       # the full grid
  python benchmarks/throughput.py --models 200 --batch-sizes 1000 --ks 5
  python benchmarks/throughput.py --models 200-200-200/500h --batch-sizes 1000 \
      --ks 5 --xla on --dtype-policies float32 mixed_bfloat16
  python benchmarks/throughput.py --loop trainer        # 16 settings, 20,000 examples
  python benchmarks/throughput.py --loop fit --quick    # 5,000 examples per epoch
"""

import argparse
import collections
import contextlib
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


# spe: steps per compiled call (the loops' `steps_per_execution`; 1 for step).
Config = collections.namedtuple("Config", "model batch algorithm k jit policy spe",
                                defaults=(1,))


def configs(args):
    for model in args.models.split(","):
        for batch in args.batch_sizes:
            for algorithm, k in [("wake_sleep", 1)] + [
                    ("reweighted_wake_sleep", k) for k in args.ks]:
                for jit in args.xla:
                    for policy in args.dtype_policies:
                        for spe in getattr(args, "steps_per_execution", None) or [1]:
                            yield Config(model, batch, algorithm, k, jit, policy, spe)


def compute_dtype(policy):
    return "float32" if policy == "float32" else policy.split("_")[1]


# The grid and options of each `--loop`: `None` in parse_args stands for
# these defaults; an option of another loop only is refused. The loops'
# grid is that of the Trainer benchmark: 16 settings.
LOOP_DEFAULTS = {
    "step": dict(models=",".join(MODELS), ks=[1, 5, 10], seconds=0.5,
                 matmul_seconds=0.2, peak_size=2048, rounds=7),
    "trainer": dict(models="200,200-200-200", ks=[5], examples=20000, epochs=3,
                    quick=False, steps_per_execution=[1]),
}
LOOP_DEFAULTS["fit"] = LOOP_DEFAULTS["trainer"]
# The options of some loops only, name: (type, help), by the loops they apply to.
OWN_OPTIONS = {
    ("step",): dict(
        seconds=(float, "timed seconds per configuration and round"),
        matmul_seconds=(float, "timed seconds per matmul shape and round"),
        peak_size=(int, "n of the square n x n matmul quoted as the peak"),
        rounds=(int, "interleaved rounds; figures are medians over them")),
    ("trainer", "fit"): dict(
        examples=(int, "training examples per epoch"),
        epochs=(int, "epochs per setting, the first one untimed")),
}
QUICK_EXAMPLES = 5000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, dtype_policy=False)
    parser.add_argument("--loop", default="step", choices=list(LOOP_DEFAULTS),
                        help="step: the bare compiled step against the matmul limit; "
                             "trainer: the whole tfhm.Trainer loop; fit: the whole "
                             "HelmholtzMachine.fit loop (default: %(default)s)")
    step, loops = LOOP_DEFAULTS["step"], LOOP_DEFAULTS["trainer"]
    parser.add_argument("--models", help=f"comma-separated, from {list(MODELS)} (default: "
                        f"{step['models']} for step, {loops['models']} for the loops)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--ks", type=int, nargs="+",
                        help=f"K of the reweighted wake-sleep steps (default: {step['ks']} "
                             f"for step, {loops['ks']} for the loops)")
    parser.add_argument("--dtype-policies", nargs="+", default=["float32"],
                        choices=POLICIES,
                        help="Keras dtype policies to time side by side (with --loop "
                             "step in the same rounds), e.g. float32 mixed_bfloat16")
    parser.add_argument("--xla", nargs="+", default=["off", "on"], choices=["off", "on"],
                        help="time the step without and/or with XLA")
    for loops, options in OWN_OPTIONS.items():
        group = parser.add_argument_group(" and ".join(f"--loop {loop}" for loop in loops))
        for name, (kind, text) in options.items():
            group.add_argument(f"--{name.replace('_', '-')}", type=kind,
                               help=f"{text} (default {LOOP_DEFAULTS[loops[0]][name]})")
    parser.add_argument("--steps-per-execution", type=int, nargs="+",
                        help="--loop trainer and fit: training steps per compiled call "
                             "(TrainConfig's / compile's steps_per_execution), timed "
                             "side by side (default 1)")
    parser.add_argument("--quick", action="store_true", default=None,
                        help=f"--loop trainer and fit: {QUICK_EXAMPLES:,} examples per epoch")
    args = parser.parse_args(argv)
    defaults = LOOP_DEFAULTS[args.loop]
    for name in sorted({n for d in LOOP_DEFAULTS.values() for n in d} - set(defaults)):
        if getattr(args, name) is not None:
            parser.error(f"--{name.replace('_', '-')} does not apply to --loop "
                         f"{args.loop}. Received: {getattr(args, name)!r}")
    if args.quick:
        if args.examples is not None:
            parser.error("pass --quick or --examples, not both. "
                         f"Received: --examples {args.examples}")
        args.examples = QUICK_EXAMPLES
    for name, default in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"unknown --models {unknown}; expected names from {list(MODELS)}")
    if args.loop != "step":
        if args.epochs < 2:
            parser.error("--epochs must be at least 2: the first epoch (tracing, "
                         f"compilation) is not timed. Received: {args.epochs}")
        if args.examples < max(args.batch_sizes):
            parser.error(f"--examples must hold a batch of every --batch-sizes. "
                         f"Received: --examples {args.examples}, "
                         f"--batch-sizes {args.batch_sizes}")
    args.xla = [value == "on" for value in args.xla]
    return args


@contextlib.contextmanager
def dtype_policy(policy):
    """Makes `policy` the Keras global dtype policy inside the block."""
    import keras  # pylint: disable=g-import-not-at-top

    previous = keras.config.dtype_policy()
    _common.configure_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def new_model(cfg):
    """An uncompiled `HelmholtzMachine` of `cfg.model`, seed 0, in the current policy."""
    import tfhm  # pylint: disable=g-import-not-at-top

    latent_dims, hidden = MODELS[cfg.model]
    return tfhm.HelmholtzMachine(784, latent_dims, hidden_units=hidden, seed=0)


def adams():
    """The wake and sleep optimizers of every loop: Adam at 1e-3."""
    import keras  # pylint: disable=g-import-not-at-top

    return keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)


def trainer_epoch_seconds(cfg, x, epochs):
    """Wall seconds of each epoch of `tfhm.Trainer.fit` on `x`, `[epochs]`."""
    import tfhm  # pylint: disable=g-import-not-at-top

    wake, sleep = adams()
    config = tfhm.TrainConfig(algorithm=cfg.algorithm, num_samples=cfg.k,
                              batch_size=cfg.batch, epochs=epochs,
                              jit_compile=cfg.jit, eval_max_examples=0,
                              steps_per_execution=cfg.spe)
    history = tfhm.Trainer(new_model(cfg), config, wake_optimizer=wake,
                           sleep_optimizer=sleep, verbose=0).fit(x)
    return [row["seconds"] for row in history]


def fit_epoch_seconds(cfg, x, epochs):
    """Wall seconds of each epoch of `HelmholtzMachine.fit` on `x`, `[epochs]`."""
    import keras  # pylint: disable=g-import-not-at-top

    hm = new_model(cfg)
    hm.compile(*adams(), algorithm=cfg.algorithm, num_samples=cfg.k,
               jit_compile=cfg.jit, steps_per_execution=cfg.spe)
    begin, end = [], []
    clock = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: begin.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: end.append(time.perf_counter()))
    hm.fit(x, batch_size=cfg.batch, epochs=epochs, verbose=0, callbacks=[clock])
    return [b - a for a, b in zip(begin, end)]


EPOCH_SECONDS = {"trainer": trainer_epoch_seconds, "fit": fit_epoch_seconds}


SETTING_COLUMNS = ("model", "batch", "algorithm", "K", "XLA", "policy")


def setting_cells(row):
    """The first cells of a table row: model, batch, algorithm, K, XLA, policy."""
    alg = "wake-sleep" if row["algorithm"] == "wake_sleep" else "RWS"
    return [f"SBN {row['model']}", str(row["batch"]), alg, str(row["k"]),
            "on" if row["jit"] else "off", row["policy"]]


def markdown_table(columns, rows):
    """Lines of a Markdown table of `columns` (names) and `rows` (lists of cells)."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] + [
        "| " + " | ".join(cells) + " |" for cells in rows]


def ratio_cell(row):
    return f"{row['vs_float32']:.2f}x" if "vs_float32" in row else "—"


def main(argv=None):
    """Runs `--loop`; returns a dict per setting (its `Config` fields, `ex_s`, ...)."""
    args = parse_args(argv)
    _common.configure_threads(args.threads)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    # Imported before git_commit, which tells whether tfhm is this checkout's.
    import tfhm  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import

    # When, where, at which commit (read before the run) and with what.
    about = (f"Run on {_common.utc_now()}, commit {_common.git_commit()}, "
             f"{_common.machine_description()}, TensorFlow {tf.__version__}, "
             f"dtype policies {', '.join(args.dtype_policies)}, "
             f"{'all cores' if not args.threads else f'{args.threads} threads'}.")
    if args.loop == "step":
        x_train, _ = _common.load_data(args, num_train=4000, num_valid=10)
        return time_steps(args, x_train, tf, about)
    x_train, _ = _common.load_data(args, num_train=args.examples, num_valid=10)
    if len(x_train) < args.examples:
        sys.exit(f"--examples {args.examples} is more than the {len(x_train)} "
                 "training examples of --data.")
    return time_loops(args, x_train[:args.examples], about)


def time_loops(args, x, about):
    """`--loop trainer|fit`: examples/s of every setting, from epochs 2 on."""
    plan = list(configs(args))
    rows = {}
    for i, cfg in enumerate(plan):
        with dtype_policy(cfg.policy):
            seconds = EPOCH_SECONDS[args.loop](cfg, x, args.epochs)
        rates = [len(x) / s for s in seconds[1:]]  # examples/s of epochs 2, 3, ...
        rows[cfg] = dict(cfg._asdict(), ex_s=max(rates), epoch_ex_s=rates,
                         first_epoch_s=seconds[0])
        print(f"{i + 1}/{len(plan)}: {' '.join(setting_cells(rows[cfg]))}: "
              f"{rows[cfg]['ex_s']:,.0f} examples/s", flush=True)
    for cfg, row in rows.items():
        twin = cfg._replace(policy="float32")
        if cfg.policy != "float32" and twin in rows:
            row["vs_float32"] = row["ex_s"] / rows[twin]["ex_s"]
    results = list(rows.values())
    table = markdown_table(
        [*SETTING_COLUMNS, "steps/call", "examples/s", "vs float32", "first epoch s"],
        [setting_cells(r) + [str(r["spe"]), f"{r['ex_s']:.0f}", ratio_cell(r),
                             f"{r['first_epoch_s']:.1f}"] for r in results])
    print("\n".join(table), flush=True)
    loop = ("`tfhm.Trainer.fit` (tf.data input, one `tf.function` step per batch)"
            if args.loop == "trainer" else
            "`HelmholtzMachine.fit` (Keras' loop, one `tf.function` step per batch)")
    lines = [
        f"## throughput_{args.loop}: the whole training loop, examples/s",
        "",
        about,
        f"Command: `{_common.command_line()}`",
        "",
        f"Each setting trains {args.epochs} epochs of {len(x)} examples through "
        f"{loop}, two Adam updates per step. `examples/s` is "
        + ("that of epoch 2" if args.epochs == 2 else f"the best of epochs 2 to {args.epochs}")
        + " (examples over the epoch's wall time), `first epoch s` "
        "the first epoch's wall time (tracing and compilation included), `vs "
        "float32` the ratio of examples/s to the same setting in float32. "
        "Settings run one after the other on a shared machine.",
        "",
        *table,
    ]
    _common.write_section(args.results, f"throughput_{args.loop}", "\n".join(lines))
    return results


def time_steps(args, x_train, tf, about):
    """`--loop step`: the bare step of every setting against the matmul limit."""
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
        with dtype_policy(cfg.policy):
            hm = new_model(cfg)
            hm.compile(*adams(), algorithm=cfg.algorithm, num_samples=cfg.k)
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
        row = dict(cfg._asdict(), ex_s=med(rows, "ex_s"), gflops=med(rows, "gflops"),
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
        about,
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
        *markdown_table(
            [*SETTING_COLUMNS, "examples/s", "vs float32", "MFLOP/step", "GFLOP/s",
             "limit GFLOP/s", "fraction of limit"],
            [setting_cells(r) + [
                f"{r['ex_s']:.0f}", ratio_cell(r), f"{r['mflop_per_step']:.1f}",
                f"{r['gflops']:.1f}", f"{r['limit']:.1f}", f"{100 * r['fraction']:.0f}%"]
             for r in results]),
    ]
    _common.write_section(args.results, "throughput", "\n".join(lines))
    return results


if __name__ == "__main__":
    main()
