"""Every registered gradient estimator on the digits, at an equal wall-clock budget.

Each estimator of `tfhm.estimators.names()` trains the main job's Helmholtz
machine (`tfhm train`'s default model: data 64, one hidden layer of 64 tanh
units in each network, 16 binary latents; Adam at 6e-3 for both networks,
batch 100, as `TrainConfig`'s defaults) on scikit-learn's 8 x 8 digits,
binarized and split by `tfhm.datasets.load_digits` (1,437 training and 360
test images), once per seed, for the same number of seconds of training.
Of the training images, a seeded 10% (`tfhm.datasets.hold_out`, the same
split for every estimator of a seed) is held out for validation.

Scores: the exact log-likelihood of the 360 test images, log p(x) summed
over all 2**16 latent states (no estimate), mean over the images, at two
points of each run: early-stopped (the point of the run's curve with the
best exact validation log-likelihood) and at the end of the budget; median
over the seeds (and min / max), with the epochs each run reached and its
examples/s. At this model's speed a budget of a minute is thousands of
epochs and every estimator overfits the 1,293 training images long before
its end: the early-stopped score answers "which estimator gives the best
model within the budget", the end-of-budget one shows the overfitting.

Fair under load: the machine may be shared, so the runs are interleaved in
one process. The budget is cut into `--rounds` equal slices; every round
gives each (estimator, seed) run one slice in turn (the order rotates from
round to round), so a load spike hits every estimator alike. Only the
training steps are timed; after each slice the run's validation and test
log-likelihoods are evaluated outside its clock (the learning curve).
Tracing and the first, slow execution of each step function happen before
the clock starts (a warm-up step whose effects on every variable are undone).

K: the estimators that draw one sample by design (wake-sleep, plain
REINFORCE, NVIL: default K = 1 in the registry) use K = 1; every
multi-sample estimator uses the same `--num-samples` (default 4: DisARM
needs an even K, and 4 is Kool et al.'s "buy 4 REINFORCE samples"; an odd K
gives DisARM K - 1, said in the table).

Example:

  nice -n 10 python benchmarks/estimators_digits.py --budget-seconds 40 --rounds 16 --seeds 3
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # pylint: disable=wrong-import-position

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

SECTION = "estimators_digits"
# What each estimator's objective key means, in the table's words.
OBJECTIVE_WORDS = {
    "elbo": "ELBO",
    "bound": "K-sample bound",
    "none": "none (biased updates)",
}
# The main job's model (`tfhm train`'s MODEL_DEFAULTS) and optimizer
# (TrainConfig's defaults); checked against the library in `main`.
MODEL = {"data_dim": 64, "latent_dims": (16,), "hidden_units": (64,),
         "activation": "tanh", "generator_conditional": "sbn",
         "recognizer_conditional": "sbn"}
LEARNING_RATE = 6e-3
BATCH_SIZE = 100


def add_race_args(parser, what, budget, rounds, seeds):
    """The arguments of an interleaved equal-budget race of `what` runs.

    `--budget-seconds`, `--rounds`, `--seeds`, `--threads` and `--results`,
    with these defaults; `check_race_args` validates them.
    """
    parser.add_argument("--budget-seconds", type=float, default=budget,
                        help=f"training seconds of every ({what}, seed) run "
                             "(default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=rounds,
                        help="slices the budget is cut into; each round gives every "
                             "run one slice (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=seeds,
                        help=f"runs per {what}, seeds 0 .. N-1 (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra-op threads; 0 = all cores")
    parser.add_argument("--results", default=_common.DEFAULT_RESULTS,
                        help="Markdown file whose section this script rewrites; '' "
                             "to skip (default: %(default)s)")


def check_race_args(parser, args):
    if args.budget_seconds <= 0 or args.rounds < 1 or args.seeds < 1:
        parser.error("--budget-seconds must be > 0, --rounds and --seeds >= 1. "
                     f"Received: {args.budget_seconds}, {args.rounds}, {args.seeds}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_race_args(parser, "estimator", budget=40.0, rounds=16, seeds=3)
    parser.add_argument("--estimators", default="all",
                        help="comma-separated names of tfhm.estimators.names(), "
                             "or 'all' (default)")
    parser.add_argument("--num-samples", type=int, default=4,
                        help="K of every multi-sample estimator (default: %(default)s)")
    parser.add_argument("--dtype-policy", default="float32",
                        choices=["float32", "mixed_float16", "mixed_bfloat16"],
                        help="Keras dtype policy of the models (log-densities stay "
                             "float32; default: %(default)s)")
    args = parser.parse_args(argv)
    check_race_args(parser, args)
    if args.num_samples < 2:
        parser.error("--num-samples is the K of the multi-sample estimators: >= 2. "
                     f"Received: {args.num_samples}")
    try:
        args.estimators = estimator_names(args.estimators)
    except ValueError as error:
        parser.error(str(error))
    return args


def estimator_names(text):
    """The names of `--estimators`; ValueError listing the valid ones if bad."""
    from tfhm import estimators  # pylint: disable=g-import-not-at-top

    valid = estimators.names()
    if text == "all":
        return valid
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"--estimators: expected distinct names among "
                         f"{', '.join(valid)} or 'all'. Received: {text!r}")
    return names


def num_samples_of(name, k):
    """K of `name`: 1 for the single-sample estimators, else k (even for DisARM)."""
    from tfhm import estimators  # pylint: disable=g-import-not-at-top

    spec = estimators.spec(name)
    if spec.default_num_samples == 1:
        return 1
    return k - 1 if spec.even_num_samples and k % 2 else k


def objective_of(name, k):
    from tfhm import estimators  # pylint: disable=g-import-not-at-top

    words = OBJECTIVE_WORDS[estimators.spec(name).objective]
    if words == "K-sample bound" and k == 1:
        return "ELBO (the K = 1 bound)"
    if name == "nvil":
        return "ELBO (gradient scaled by 1/max(1, sd))"
    return words


class Run:
    """One (estimator, seed): a model, its step, its data order and its clock."""

    def __init__(self, name, seed, k, x_train, x_valid, x_test, hm=None, label=None):
        """`name`: the estimator; `hm`: the model to train (default: the main
        job's, seeded by `seed`); `label`: the run's row (default `name`)."""
        import keras  # pylint: disable=g-import-not-at-top
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        import tfhm  # pylint: disable=g-import-not-at-top

        self.name, self.seed, self.k, self.label = name, seed, k, label or name
        self.x_train, self.x_valid, self.x_test = x_train, x_valid, x_test
        self.hm = tfhm.HelmholtzMachine(**MODEL, seed=seed) if hm is None else hm
        self.hm.compile(wake_optimizer=keras.optimizers.Adam(LEARNING_RATE),
                        sleep_optimizer=keras.optimizers.Adam(LEARNING_RATE),
                        algorithm=name, num_samples=k)
        self.step = tf.function(self.hm.train_step, input_signature=[
            tf.TensorSpec([None, MODEL["data_dim"]], tf.float32)])
        self.rng = np.random.default_rng(seed)  # the data order
        self.order, self.position = self.rng.permutation(len(x_train)), 0
        self.examples, self.seconds, self.curve = 0, 0.0, []
        self._warm_up()

    def _state(self):
        """Every variable a step changes: weights, optimizers, seeds, estimator state."""
        return (list(self.hm.variables) + list(self.hm.wake_optimizer.variables)
                + list(self.hm.sleep_optimizer.variables)
                + [v for item in self.hm.estimator.checkpoint_items.values()
                   for v in item.variables])

    def _warm_up(self):
        """Traces the step and runs it once, then undoes that step's changes."""
        state = self._state()
        saved = [v.numpy() for v in state]
        self.step(self.x_train[:BATCH_SIZE])
        for variable, value in zip(state, saved):
            variable.assign(value)

    def _next_batch(self):
        if self.position >= len(self.order):
            self.order, self.position = self.rng.permutation(len(self.x_train)), 0
        rows = self.order[self.position:self.position + BATCH_SIZE]
        self.position += len(rows)
        return self.x_train[rows]

    def train_for(self, seconds):
        """Steps until `seconds` of training have passed (the last step completes)."""
        start = time.perf_counter()
        elapsed = 0.0
        while elapsed < seconds:
            x = self._next_batch()
            self.step(x)
            self.examples += len(x)
            elapsed = time.perf_counter() - start
        self.seconds += elapsed

    def evaluate(self):
        """Appends a point to the curve: seconds, epochs, exact mean log p(x) of both sets."""
        self.curve.append({
            "seconds": self.seconds, "epochs": self.epochs,
            "valid": float(np.mean(self.hm.exact_log_likelihood(self.x_valid))),
            "test": float(np.mean(self.hm.exact_log_likelihood(self.x_test)))})

    @property
    def stopped(self):
        """The curve's point of best validation log p(x) (early stopping)."""
        return max(self.curve, key=lambda point: point["valid"])

    @property
    def epochs(self):
        return self.examples / len(self.x_train)


def train_interleaved(runs, budget, rounds, say=print):
    """`rounds` rounds; each gives every run `budget / rounds` s, in a rotating order."""
    for r in range(rounds):
        shift = r % len(runs)
        for run in runs[shift:] + runs[:shift]:
            run.train_for(budget / rounds)
            run.evaluate()
        latest = {}
        for run in runs:
            latest.setdefault(run.label, []).append(run.curve[-1]["test"])
        say(f"round {r + 1}/{rounds} (load {os.getloadavg()[0]:.1f}), test: " + ", ".join(
            f"{name} {statistics.median(values):.2f}" for name, values in latest.items()))


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs, names, rounds):
    """One row per estimator: medians (and min / max) over its seeds."""
    rows = []
    for name in names:
        mine = [run for run in runs if run.label == name]
        rows.append({
            "name": name, "k": mine[0].k, "objective": objective_of(name, mine[0].k),
            "stopped": _spread([run.stopped["test"] for run in mine]),
            "stopped_s": statistics.median(run.stopped["seconds"] for run in mine),
            "final": _spread([run.curve[-1]["test"] for run in mine]),
            "epochs": statistics.median(run.epochs for run in mine),
            "ex_s": statistics.median(run.examples / run.seconds for run in mine),
            "curve": [statistics.median(run.curve[i]["test"] for run in mine)
                      for i in range(rounds)],
            "seeds": len(mine)})
    return rows


def checkpoints(rounds):
    """Round indices of the curve's columns: a quarter, half, three quarters, all."""
    return sorted({max(0, round(rounds * f) - 1) for f in (0.25, 0.5, 0.75, 1.0)})


def _cell(spread):
    return f"{spread['median']:.2f} [{spread['min']:.2f}, {spread['max']:.2f}]"


def table(rows, budget, rounds):
    """The Markdown table, best early-stopped median first."""
    marks = checkpoints(rounds)
    head = ("| estimator | K | objective (unbiased for) | test log p(x), early-stopped "
            "| stopped at | test log p(x), end of budget | epochs | examples/s | "
            + " | ".join(f"at {budget * (i + 1) / rounds:.3g} s" for i in marks) + " |")
    lines = [head, "|" + "---|" * (8 + len(marks))]
    for r in sorted(rows, key=lambda row: -row["stopped"]["median"]):
        lines.append(
            f"| `{r['name']}` | {r['k']} | {r['objective']} | {_cell(r['stopped'])} | "
            f"{r['stopped_s']:.3g} s | {_cell(r['final'])} | {r['epochs']:.0f} | "
            f"{r['ex_s']:.0f} | " + " | ".join(f"{r['curve'][i]:.2f}" for i in marks)
            + " |")
    return "\n".join(lines)


def section(args, rows, started, loads, elapsed, tf_version):
    seeds = ", ".join(str(s) for s in range(args.seeds))
    return "\n".join([
        f"## {SECTION}: every estimator on the digits at an equal wall-clock budget",
        "",
        f"Run on {started}, commit {_common.git_commit()}, "
        f"{_common.machine_description()}, TensorFlow {tf_version}, "
        f"{args.dtype_policy}, {'all cores' if not args.threads else f'{args.threads} threads'}, "
        f"niceness {os.nice(0)}.",
        f"Command: `{_common.command_line()}`",
        "",
        f"The main job's model (`tfhm train` on the digits: 64-64-16, tanh hidden "
        f"layers, Adam {LEARNING_RATE:g} for both networks, batch {BATCH_SIZE}) trained "
        f"by each estimator for {args.budget_seconds:g} s of training steps per seed "
        f"(seeds {seeds}; the seed seeds the model, the data order and the 10% of the "
        "1,437 training digits held out for validation). Scores: the exact "
        "log-likelihood in nats of the 360 test digits (log p(x) summed over all 2^16 "
        "latent states), mean over the images, median [min, max] over the seeds; "
        "higher is better. *Early-stopped*: at the end of the round where the run's "
        "exact validation log-likelihood was best (`stopped at`: median training "
        "seconds of that point); *end of budget*: after all of it. `epochs`, "
        "`examples/s`: medians over the seeds. The last columns are the median test "
        "log p(x) along the way (the learning curve).",
        "",
        f"**Load.** The machine was shared (load average {loads[0]:.2f} at the start, "
        f"{loads[1]:.2f} at the end, 1-minute, {os.cpu_count()} cores), so the runs "
        f"were interleaved in one process: {args.rounds} rounds, each giving every "
        f"(estimator, seed) run a slice of {args.budget_seconds / args.rounds:.3g} s in "
        "a rotating order, so that load hit every estimator alike; only training "
        "steps count toward the budget (tracing and the exact evaluations do not). "
        f"Wall time of the whole run: {elapsed / 60:.1f} min.",
        "",
        table(rows, args.budget_seconds, args.rounds),
        "",
        f"K: 1 for the single-sample estimators (wake-sleep, plain REINFORCE, NVIL), "
        f"{args.num_samples} for every multi-sample one"
        + (" (DisARM: the even K below it)" if args.num_samples % 2 else "")
        + ". Objectives: `tfhm.estimators` (ELBO: Hinton et al. 1995; K-sample bound: "
        "Burda et al. 2016; wake-sleep and reweighted wake-sleep follow no objective's "
        "gradient, Hinton et al. 1995, Bornschein & Bengio 2015).",
    ])


def main(argv=None):
    args = parse_args(argv)
    names = args.estimators
    _common.configure_threads(args.threads)
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    import tfhm  # pylint: disable=g-import-not-at-top
    from tfhm.cli._parser import MODEL_DEFAULTS  # pylint: disable=g-import-not-at-top
    from tfhm.training.config import TrainConfig  # pylint: disable=g-import-not-at-top

    config = TrainConfig()
    assert {k: MODEL[k] for k in MODEL_DEFAULTS} == MODEL_DEFAULTS, MODEL_DEFAULTS
    assert (config.lr_wake, config.lr_sleep, config.batch_size) == (
        LEARNING_RATE, LEARNING_RATE, BATCH_SIZE), config
    started, loads, t0 = _common.utc_now(), [os.getloadavg()[0]], time.perf_counter()
    x_all, x_test = tfhm.datasets.load_digits()
    # Per seed, 10% of the training images validate (early stopping), as
    # `tfhm train` holds out data; every estimator gets the same split.
    splits = {seed: tfhm.datasets.hold_out(x_all, seed) for seed in range(args.seeds)}
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(args.dtype_policy)
    try:
        runs = [Run(name, seed, num_samples_of(name, args.num_samples), *splits[seed],
                    x_test) for seed in range(args.seeds) for name in names]
        print(f"{len(runs)} runs, {args.rounds} rounds of "
              f"{args.budget_seconds / args.rounds:.3g} s each", flush=True)
        train_interleaved(runs, args.budget_seconds, args.rounds,
                          say=lambda line: print(line, flush=True))
    finally:
        keras.config.set_dtype_policy(policy)
    loads.append(os.getloadavg()[0])
    rows = summarize(runs, names, args.rounds)
    print(table(rows, args.budget_seconds, args.rounds))
    _common.write_section(args.results, SECTION, section(
        args, rows, started, loads, time.perf_counter() - t0, tf.__version__))
    return rows


if __name__ == "__main__":
    main()
