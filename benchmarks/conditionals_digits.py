"""Recognizers of every kind on the digits, at equal epochs and an equal wall-clock budget.

The main job's generator (`tfhm train`'s default model: 16 binary latents,
one hidden layer of 64 tanh units, the SBN pixel layer) is trained with four
recognizers q(z | x) (issue 23):

- `sbn`: the factorized Bernoulli MLP (the default);
- `darn`: an autoregressive DARN layer over the 16 latents (Gregor et al.
  2014), its parent path the same 64 tanh units;
- `nade`: a NADE layer (Larochelle & Murray 2011, as in Bornschein & Bengio
  2015), likewise;
- `conv`: a factorized Bernoulli whose logits come from a small Keras
  convolutional network on the 8 x 8 image (`tfhm.conditionals.KerasBernoulli`:
  two 3 x 3 convolutions of 16 channels, the second with stride 2, then a
  dense layer to the 16 logits).

Each trains by reweighted wake-sleep (K = 5 by default), Adam at 6e-3 for both
networks, batch 100, on scikit-learn's digits as `tfhm.datasets.load_digits`
splits them, 10% of the training images held out for validation, once per
seed. Scores: the exact log-likelihood of the 360 test images (log p(x)
summed over all 2**16 latent states; the recognizer does not enter it, only
what it taught the generator), mean over the images, median over the seeds.

Two comparisons from one run, interleaved as `estimators_digits.py` does (the
budget cut into rounds, every run given a slice of each round in a rotating
order, only training steps timed): at the end of the equal budget, and at
equal epochs, the first point of each run's curve at or past the epochs the
slowest run reached (the curve is evaluated at the end of every round, so a
faster run's point can be up to one slice of epochs past it; its epochs are
in the table).

Example:

  python benchmarks/conditionals_digits.py --budget-seconds 60 --rounds 24 --seeds 2
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import estimators_digits  # pylint: disable=g-import-not-at-top,wrong-import-position

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

SECTION = "conditionals_digits"
RECOGNIZERS = ("sbn", "darn", "nade", "conv")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    estimators_digits.add_race_args(parser, "recognizer", budget=60.0, rounds=24, seeds=2)
    parser.add_argument("--recognizers", default=",".join(RECOGNIZERS),
                        help="comma-separated among " + ", ".join(RECOGNIZERS)
                             + " (default: all)")
    parser.add_argument("--estimator", default="reweighted_wake_sleep",
                        help="a name of tfhm.estimators.names() (default: %(default)s)")
    parser.add_argument("--num-samples", type=int, default=5,
                        help="K (default: %(default)s)")
    args = parser.parse_args(argv)
    estimators_digits.check_race_args(parser, args)
    kinds = [k.strip() for k in args.recognizers.split(",") if k.strip()]
    if not kinds or len(set(kinds)) != len(kinds) or set(kinds) - set(RECOGNIZERS):
        parser.error(f"--recognizers: distinct names among {', '.join(RECOGNIZERS)}. "
                     f"Received: {args.recognizers!r}")
    args.recognizers = kinds
    try:
        (args.estimator,) = estimators_digits.estimator_names(args.estimator)
    except ValueError as error:
        parser.error(str(error))
    return args


def conv_body(seed, latents):
    """The convolutional recognizer body: 64 pixels -> `latents` logits."""
    import keras  # pylint: disable=g-import-not-at-top

    def init(offset):
        return keras.initializers.GlorotUniform(seed=seed * 10 + offset)

    return keras.Sequential([
        keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="tanh",
                            kernel_initializer=init(0)),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="tanh",
                            kernel_initializer=init(1)),
        keras.layers.Flatten(),
        keras.layers.Dense(latents, kernel_initializer=init(2))], name="conv_body")


def build(kind, seed):
    """The main job's model with the recognizer `kind`."""
    import tfhm  # pylint: disable=g-import-not-at-top

    model = dict(estimators_digits.MODEL)
    if kind != "conv":
        return tfhm.HelmholtzMachine(**{**model, "recognizer_conditional": kind},
                                     seed=seed)
    generator = tfhm.Generator(
        data_dim=model["data_dim"], latent_dims=model["latent_dims"],
        hidden_units=model["hidden_units"], activation=model["activation"], seed=seed)
    (latents,) = model["latent_dims"]
    recognizer = tfhm.Recognizer(conditionals=[tfhm.conditionals.KerasBernoulli(
        conv_body(seed, latents), units=latents, parent_dim=model["data_dim"],
        name="conv_q")])
    return tfhm.HelmholtzMachine(generator=generator, recognizer=recognizer, seed=seed)


def at_epochs(run, epochs):
    """The first point of the run's curve at or past `epochs`."""
    return next(point for point in run.curve if point["epochs"] >= epochs - 1e-9)


def summarize(runs, kinds):
    equal = min(run.epochs for run in runs)  # the slowest run's epochs
    rows = []
    for kind in kinds:
        mine = [run for run in runs if run.label == kind]
        points = [at_epochs(run, equal) for run in mine]
        rows.append({
            "kind": kind,
            "weights": sum(int(v.shape.num_elements())
                           for v in mine[0].hm.recognizer.trainable_variables),
            "final": statistics.median(run.curve[-1]["test"] for run in mine),
            "stopped": statistics.median(run.stopped["test"] for run in mine),
            "equal": statistics.median(point["test"] for point in points),
            "equal_epochs": statistics.median(point["epochs"] for point in points),
            "epochs": statistics.median(run.epochs for run in mine),
            "ex_s": statistics.median(run.examples / run.seconds for run in mine)})
    return rows, equal


def table(rows, equal, budget):
    lines = [f"| recognizer | q's weights | test log p(x), end of the {budget:g} s budget "
             "| early-stopped | epochs in the budget | examples/s "
             f"| test log p(x) at {equal:.0f} epochs | (its epochs) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['kind']}` | {r['weights']:,} | {r['final']:.2f} | "
                     f"{r['stopped']:.2f} | {r['epochs']:.0f} | {r['ex_s']:.0f} | "
                     f"{r['equal']:.2f} | {r['equal_epochs']:.0f} |")
    return "\n".join(lines)


def section(args, rows, equal, started, loads, elapsed, tf_version):
    return "\n".join([
        f"## {SECTION}: recognizers of every kind on the digits (issue 23)",
        "",
        f"Run on {started}, commit {_common.git_commit()}, "
        f"{_common.machine_description()}, TensorFlow {tf_version}, "
        f"{'all cores' if not args.threads else f'{args.threads} threads'}, "
        f"niceness {os.nice(0)}; load average {loads[0]:.2f} at the start, "
        f"{loads[1]:.2f} at the end; wall time {elapsed / 60:.1f} min.",
        f"Command: `{_common.command_line()}`",
        "",
        "The main job's generator (16 latents, 64 tanh hidden units, SBN pixels) "
        f"trained by `{args.estimator}` (K = {args.num_samples}, Adam "
        f"{estimators_digits.LEARNING_RATE:g} for both networks, batch "
        f"{estimators_digits.BATCH_SIZE}) with each recognizer, seeds "
        f"{', '.join(str(s) for s in range(args.seeds))}, {args.budget_seconds:g} s "
        f"of training steps each, interleaved in {args.rounds} rounds. Scores: the "
        "exact test log-likelihood in nats (all 2^16 latent states), median over "
        "the seeds; higher is better. *At equal epochs*: each run's first "
        "end-of-round point at or past the epochs the slowest run reached. "
        "`darn`/`nade`: autoregressive q over the 16 latents (their draws a loop "
        "over the units); `conv`: a Keras Conv2D body as a factorized q "
        "(`tfhm.conditionals.KerasBernoulli`).",
        "",
        table(rows, equal, args.budget_seconds),
    ])


def main(argv=None):
    args = parse_args(argv)
    _common.configure_threads(args.threads)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    import tfhm  # pylint: disable=g-import-not-at-top

    started, loads, t0 = _common.utc_now(), [os.getloadavg()[0]], time.perf_counter()
    x_all, x_test = tfhm.datasets.load_digits()
    splits = {seed: tfhm.datasets.hold_out(x_all, seed) for seed in range(args.seeds)}
    k = estimators_digits.num_samples_of(args.estimator, args.num_samples)
    runs = [estimators_digits.Run(args.estimator, seed, k, *splits[seed], x_test,
                                  hm=build(kind, seed), label=kind)
            for seed in range(args.seeds) for kind in args.recognizers]
    print(f"{len(runs)} runs, {args.rounds} rounds of "
          f"{args.budget_seconds / args.rounds:.3g} s each", flush=True)
    estimators_digits.train_interleaved(runs, args.budget_seconds, args.rounds,
                                        say=lambda line: print(line, flush=True))
    loads.append(os.getloadavg()[0])
    rows, equal = summarize(runs, args.recognizers)
    print(table(rows, equal, args.budget_seconds))
    _common.write_section(args.results, SECTION, section(
        args, rows, equal, started, loads, time.perf_counter() - t0, tf.__version__))
    return rows


if __name__ == "__main__":
    main()
