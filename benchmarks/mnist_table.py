"""Trains the binarized-MNIST rows of the literature and writes their figures.

Each row (`mnist_rows.ROWS`) is trained by `HelmholtzMachine.fit` (Adam, XLA by
default) in its run folder `<run-dir>/<row>/`, a `tfhm.run_dir.RunDir`:
`model.keras` (weights, optimizers, random stream; rewritten every epoch),
`metrics.csv` (a line an epoch), `config.json` (recipe, invocations), `best.keras`
and `metrics.json` (the evaluation). Running
the script again resumes every row where it stopped (`--budget-minutes` per row
and invocation). A `state.json` row (before issue 26) is read, converted as it runs.

The evaluation is the papers' protocol: the importance-sampled
log-likelihood, K = `--eval-samples` (5,000) on `--eval-images` (all 10,000)
validation images, and the negative ELBO (100 draws).

  python benchmarks/mnist_table.py --rows sbn200_ws --budget-minutes 30
  python benchmarks/mnist_table.py --rows all --eval-only     # re-evaluate

Training to convergence (issue 12's recipe), with Keras' callbacks: every
`--monitor-every` epochs `fit` validates on the first `--monitor-images`
validation images (`val_log_likelihood`, K = `--monitor-samples`, batch j
seeded `[seed + 3, j]`: estimates differ only by the weights).
`ModelCheckpoint` keeps the best as `best.keras`; after `--patience`
estimates that fail to beat the best by `--min-delta` nats,
`ReduceLROnPlateau` multiplies both rates by `--lr-decay`; after
`--max-decays` cuts, `EarlyStopping` stops the row (converged) after
`--patience` more. Patience counts estimates. `best.keras` is evaluated.
"""

import argparse
import math
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import mnist_rows  # pylint: disable=g-import-not-at-top,wrong-import-position
from mnist_rows import MONITOR, ROWS, load_state  # noqa: F401  (pretrained.py's names)

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

# The recipe in config.json (a row resumes only under its batch size and policy).
RECIPE = ("batch_size", "dtype_policy", "learning_rate", "lr_decay", "patience", "min_delta",
          "max_decays", "monitor_every", "monitor_samples", "monitor_images", "seed")
FLAGS = (  # (flag, type, default, help); a type None is a switch
    ("--rows", str, "all", f"comma-separated rows or 'all': {', '.join(ROWS)}"),
    ("--run-dir", str, "runs/mnist_table", "run folders, one per row"),
    ("--epochs", int, 1000, "total epochs per row, over all invocations"),
    ("--budget-minutes", float, None, "training wall time per row in this invocation"),
    ("--batch-size", int, 100, None),
    ("--learning-rate", float, 1e-3, "Adam step size of both networks"),
    ("--no-jit", None, False, "train without XLA (jit_compile=False)"),
    ("--eval-samples", int, 5000, "K of the importance-sampled log-likelihood"),
    ("--eval-images", int, None, "first N validation images (default: all)"),
    ("--eval-only", None, False, "evaluate the saved rows without training"),
    ("--no-eval", None, False, "train only; evaluate in a later invocation"),
    ("--seed", int, 0, None),
    ("--monitor-every", int, 10, "epochs between validation estimates (0: never)"),
    ("--monitor-samples", int, 100, "K of the validation estimate that drives the schedule"),
    ("--monitor-images", int, 1000, "first N validation images of that estimate"),
    ("--patience", int, 4, "estimates without improvement before a learning-rate cut"),
    ("--min-delta", float, 0.05, "nats an estimate must gain on the best to count"),
    ("--lr-decay", float, 0.5, "factor of each learning-rate cut"),
    ("--max-decays", int, 3, "cuts after which the row has converged and stops"),
    ("--progress-only", None, False, "only rewrite the RESULTS section of the rows' "
     "validation curves (mnist_convergence)"),
    ("--equal-budget-only", None, False, "only rewrite the RESULTS section "
     "(mnist_equal_budget) of the rows' curves on one axis of training minutes"),
    ("--grid-minutes", float, 5.0, "spacing of the training-minute axis of --equal-budget-only"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser)
    for flag, kind, default, text in FLAGS:
        parser.add_argument(flag, help=text, **({"action": "store_true"} if kind is None
                                                else {"type": kind, "default": default}))
    args = parser.parse_args(argv)
    if args.grid_minutes <= 0:
        parser.error(f"--grid-minutes must be positive; received {args.grid_minutes}")
    if args.progress_only and args.equal_budget_only:
        parser.error("--progress-only and --equal-budget-only each rewrite one section; "
                     "received both")
    args.row_names = list(ROWS) if args.rows == "all" else args.rows.split(",")
    if unknown := [n for n in args.row_names if n not in ROWS]:
        parser.error(f"unknown rows {unknown}; expected names from {list(ROWS)}")
    return args


def _restore(row, args, run):
    """The row's model: from model.keras (random stream included) if saved, else new."""
    import keras  # pylint: disable=g-import-not-at-top

    import tfhm  # pylint: disable=g-import-not-at-top

    if os.path.exists(run.model_keras):
        hm = run.load_model()
        hm.jit_compile, hm.eval_num_samples = not args.no_jit, args.monitor_samples
        return hm
    hm = tfhm.HelmholtzMachine(_common.DATA_DIM, row.latent_dims, seed=args.seed, **{
        k: getattr(row, k) for k in ("generator_conditional", "recognizer_conditional")})
    rate, adam = args.learning_rate, keras.optimizers.Adam
    hm.compile(wake_optimizer=adam(rate), sleep_optimizer=adam(rate), jit_compile=not args.no_jit,
               algorithm=tfhm.estimators.get(row.algorithm)(**dict(row.algorithm_options)),
               num_samples=row.num_samples, eval_num_samples=args.monitor_samples)
    return hm


def _callbacks(row, args, hm, run, config, rows, started):
    """[EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, the row's record], in that order."""
    import keras  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top

    def rate():
        return float(np.asarray(hm.wake_optimizer.learning_rate))

    floor = np.float32(args.learning_rate)  # the rate after --max-decays cuts, as the plateau
    for _ in range(args.max_decays):        # computes it: float32 after every cut
        floor = np.float32(float(floor) * args.lr_decay)

    class StopAfterLastCut(keras.callbacks.EarlyStopping):
        """EarlyStopping counted from the plateau's last cut (before it acts in an epoch)."""

        def on_epoch_end(self, epoch, logs=None):
            if rate() > floor:  # cuts left: the plateau decides
                self.best, self.wait = None, 0
                return
            if self.best is None:
                self.best = plateau.best
            super().on_epoch_end(epoch, logs)

    class BestOnly(keras.callbacks.ModelCheckpoint):
        """Acts on the epochs with an estimate only (Keras saves when the monitor is missing)."""

        def on_epoch_end(self, epoch, logs=None):
            if MONITOR in (logs or {}):
                super().on_epoch_end(epoch, logs)

    class Record(keras.callbacks.Callback):
        """metrics.csv, model.keras, config.json after every epoch; the validation's seeds."""

        def on_train_begin(self, logs=None):
            # Keras has just reset the monitors: replay the row's estimates through them.
            for optimizer in (hm.wake_optimizer, hm.sleep_optimizer):
                optimizer.learning_rate = args.learning_rate
            for r in (r for r in rows if MONITOR in r and monitors):
                for callback in (stop, plateau):
                    callback.on_epoch_end(r["epoch"] - 1, {MONITOR: r[MONITOR]})
            last = rows[-1] if rows else {}
            self.wall, self.decays = last.get("train_wall_s", 0.0), last.get("decays", 0)
            self.best_epoch, self.written = last.get("best_epoch"), len(rows)
            if monitors:
                best.best = next((r[MONITOR] for r in rows if r["epoch"] == self.best_epoch), None)

        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.val_seconds, self.rate = time.perf_counter(), 0.0, rate()
            self.best_before = best.best if monitors else None

        def on_test_begin(self, logs=None):
            self.test_start, self.stream = time.perf_counter(), hm.seed_generator.state.numpy()
            hm.seed_generator.state.assign([args.seed + 3, 0])

        def on_test_end(self, logs=None):
            hm.seed_generator.state.assign(self.stream)  # training's stream goes on
            self.val_seconds = time.perf_counter() - self.test_start

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.start - self.val_seconds
            self.wall += seconds
            cut = rate() < self.rate
            self.decays += cut
            value = logs.get(MONITOR)
            if monitors and best.best != self.best_before:
                self.best_epoch = epoch + 1
            run.write_metrics([{
                "epoch": epoch + 1, "seconds": round(seconds, 3), "train_wall_s": self.wall,
                "elbo": round(float(logs["elbo"]), 3), "learning_rate": float(f"{self.rate:.6g}"),
                MONITOR: value, "val_seconds": value and round(self.val_seconds, 1),
                "best_epoch": self.best_epoch, "decays": self.decays}], append=self.written > 0)
            self.written += 1
            run.save_model(hm)
            config["invocations"][-1]["to_epoch"] = epoch + 1
            config["converged"] = bool(monitors and stop.stopped_epoch)
            run.write_config(config)
            print(f"[{row.name}] epoch {epoch + 1}: {seconds:.1f}s, train ELBO {logs['elbo']:.2f}"
                  + (f"; validation LL {value:.2f} (best {best.best:.2f} at epoch "
                     f"{self.best_epoch})" if value is not None else "")
                  + (f"; learning rate cut to {rate():.3g}" if cut else "")
                  + ("; converged" if config["converged"] else ""), flush=True)
            if time.perf_counter() - started > (args.budget_minutes or math.inf) * 60:
                self.model.stop_training = True

    monitors = bool(args.monitor_every)
    plateau = keras.callbacks.ReduceLROnPlateau(
        MONITOR, factor=args.lr_decay, patience=args.patience, mode="max",
        min_delta=args.min_delta, cooldown=0, min_lr=float(floor))
    stop = StopAfterLastCut(MONITOR, mode="max", patience=args.patience,
                            min_delta=args.min_delta)
    best = BestOnly(os.path.join(run.path, "best.keras"), MONITOR, mode="max",
                    save_best_only=True)
    best.min_delta = args.min_delta  # the plateau's rule (ModelCheckpoint has no argument)
    return ([stop, plateau, best] if monitors else []) + [Record()]


def train_row(row, args, x_train, x_valid, run):
    """Trains until converged, `--epochs` or the budget (model.keras after every epoch)."""
    started, state, hm = time.perf_counter(), load_state(run.path), _restore(row, args, run)
    if state["epochs"] >= args.epochs or state.get("converged"):
        print(f"[{row.name}] {state['epochs']} epochs; not trained again", flush=True)
        return hm
    done, partial = divmod(int(hm.wake_optimizer.iterations),
                           math.ceil(len(x_train) / args.batch_size))
    if partial:  # the batch size is checked in main: only a foreign model.keras
        sys.exit(f"[{row.name}] model.keras stopped inside an epoch ({partial} steps)")
    config = run.read_config() if os.path.exists(run.config_json) else {
        "num_examples": len(x_train), "train": {k: getattr(args, k) for k in RECIPE}}
    config.setdefault("invocations", []).append(
        {"command": _common.command_line(), "commit": _common.git_commit(),
         "date": _common.utc_now(), "from_epoch": done, "to_epoch": done})
    config.update(row=row.name, model=hm.get_config())
    rows = run.truncate_metrics(done)  # drops epochs past model.keras (a kill between)
    callbacks = _callbacks(row, args, hm, run, config, rows, started)
    with warnings.catch_warnings():  # the monitors' warning on epochs without estimates
        warnings.filterwarnings("ignore", message=f".*{MONITOR}.*available")
        hm.fit(x_train, batch_size=args.batch_size, epochs=args.epochs, initial_epoch=done,
               shuffle=True, verbose=0, callbacks=callbacks,
               validation_data=(x_valid[:args.monitor_images],) if args.monitor_every else None,
               validation_freq=args.monitor_every or 1, validation_batch_size=args.batch_size)
    return hm


def evaluate_row(row, args, hm, x_valid, run, model, at_epoch):
    """Importance-sampled NLL and negative ELBO on the validation images (metrics.json)."""
    import tfhm  # pylint: disable=g-import-not-at-top

    x, start = x_valid[:args.eval_images], time.perf_counter()  # [:None]: all of them
    result = tfhm.evaluation.evaluate_examples(  # hm.log_likelihood's numbers, with a bar
        hm, x, args.eval_samples, seed=args.seed + 1, progress=True)
    ev = {"nll": -result["mean"]["log_likelihood"],
          "nll_stderr": result["standard_error"]["log_likelihood"] if len(x) > 1 else 0.0,
          "neg_elbo": float(-hm.elbo(x, num_samples=100, seed=args.seed + 2).numpy().mean()),
          "images": int(len(x)), "num_samples": args.eval_samples, "at_epoch": at_epoch,
          "model": model, "seconds": round(time.perf_counter() - start, 1),
          "command": _common.command_line(), "commit": _common.git_commit(),
          "date": _common.utc_now()}
    run.write_metrics_json(ev)
    print(f"[{row.name}] validation NLL {ev['nll']:.2f} nats (K={args.eval_samples}, "
          f"{len(x)} images, {ev['seconds']:.0f}s), neg. ELBO {ev['neg_elbo']:.2f}", flush=True)


def main(argv=None):
    args = parse_args(argv)
    if args.progress_only or args.equal_budget_only:  # the sections' names and functions
        name = "mnist_convergence" if args.progress_only else "mnist_equal_budget"
        return _common.write_section(args.results, name, (
            mnist_rows.progress if args.progress_only else mnist_rows.equal_budget)(args))
    _common.configure_threads(args.threads)
    _common.configure_dtype_policy(args.dtype_policy)
    x_train, x_valid = _common.load_data(args)
    _common.git_commit()  # the commit this run starts on
    import keras  # pylint: disable=g-import-not-at-top

    from tfhm.run_dir import RunDir  # pylint: disable=g-import-not-at-top

    for name in args.row_names:
        row, run = ROWS[name], RunDir(_common.resolve(os.path.join(args.run_dir, name)))
        os.makedirs(run.path, exist_ok=True)
        state = load_state(run.path)
        # One dtype policy and batch size per row (rows before they were recorded: these).
        for key, value, before in (("dtype_policy", args.dtype_policy, "float32"),
                                   ("batch_size", args.batch_size, 100)):
            trained_with, flag = state.get(key, before), "--" + key.replace("_", "-")
            if not args.eval_only and state["epochs"] and trained_with != value:
                sys.exit(f"[{name}] was trained with {flag} {trained_with}; received "
                         f"{flag} {value}. Resume it with {trained_with}, or train it "
                         "in a new --run-dir.")
        if state["epochs"] and not os.path.exists(run.config_json):
            mnist_rows.convert_legacy(run, state)
        if args.eval_only and state["epochs"] == 0:
            print(f"[{name}] nothing trained yet; skipped", flush=True)
            continue
        hm = (_restore(row, args, run) if args.eval_only
              else train_row(row, args, x_train, x_valid, run))
        state = load_state(run.path)
        model, at_epoch = "model.keras (last epoch)", state["epochs"]
        if os.path.exists(os.path.join(run.path, "best.keras")):
            hm = keras.models.load_model(os.path.join(run.path, "best.keras"))
            model, at_epoch = f"best.keras (epoch {state['best']['epoch']})", state["best"]["epoch"]
        if not args.no_eval:
            evaluate_row(row, args, hm, x_valid, run, model, at_epoch)
        _common.write_section(args.results, "mnist_table", mnist_rows.table(args))
    _common.write_section(args.results, "mnist_table", mnist_rows.table(args))


if __name__ == "__main__":
    main()
