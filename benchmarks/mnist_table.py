"""Trains the binarized-MNIST rows of the literature and writes their figures.

Each row (see `ROWS`) is a sigmoid belief net trained with
`HelmholtzMachine.fit` (Adam for both networks, XLA by default). A row keeps
its state in `<run-dir>/<row>/`: `model.keras` (weights and both optimizers)
and `state.json` (epochs done, training wall time, per-epoch figures, the
random-seed state, and the latest evaluation). Running the script again
resumes every row where it stopped, so a full run can be spread over many
invocations, each limited by `--budget-minutes` per row.

After training, a row is evaluated on the validation images with the
protocol of the papers: the importance-sampled log-likelihood
`log mean_k p(x, z_k) / q(z_k | x)` with K = `--eval-samples` (5,000) draws
of q, on `--eval-images` (all 10,000) images, and the negative ELBO
(100 draws). The table in RESULTS.md is rebuilt from every row's
`state.json`, so rows trained in separate invocations land in one table.

Examples:

  python benchmarks/mnist_table.py --rows sbn200_ws --budget-minutes 30
  python benchmarks/mnist_table.py --rows all --epochs 1000   # hours
  python benchmarks/mnist_table.py --rows all --eval-only     # re-evaluate

Training to convergence (issue 12's recipe): every `--monitor-every` epochs
the row's validation log-likelihood is estimated (K = `--monitor-samples`
importance samples on the first `--monitor-images` validation images, a
fixed seed, so successive estimates differ only by the weights); the best
model so far is kept as `best.keras`. When `--patience` estimates in a row
fail to improve on the best by `--min-delta` nats, both learning rates are
multiplied by `--lr-decay`; after `--max-decays` such cuts the row has
converged and stops. The final evaluation uses `best.keras`.

Latent layers are listed in tfhm's order, from the layer next to the data up
to the top: the RWS paper's "SBN 10-100-200-300-400" (top to bottom) is
`latent_dims=(400, 300, 200, 100, 10)`.
"""

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

NVIL = "Mnih & Gregor 2014 (NVIL)"
MUPROP = "Gu et al. 2016 (MuProp), Table 3"
VIMCO = "Mnih & Rezende 2016 (VIMCO)"
RWS = "Bornschein & Bengio 2015 (RWS)"


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table."""

    name: str  # Key of the row on the command line and in the run folder.
    title: str  # The model as the literature writes it.
    latent_dims: tuple  # tfhm order: next to the data first.
    algorithm: str  # A name of `tfhm.estimators.names()`.
    num_samples: int  # K draws of q per example during training.
    published: tuple  # ((what, nats, citation), ...), the first is the target.


ROWS = {row.name: row for row in (
    Row("sbn200_ws", "SBN 200", (200,), "wake_sleep", 1,
        (("wake-sleep", 120.8, NVIL), ("NVIL, neg. ELBO", 113.5, MUPROP))),
    Row("sbn200x2_ws", "SBN 200-200", (200, 200), "wake_sleep", 1,
        (("wake-sleep", 107.7, NVIL), ("NVIL, neg. ELBO", 99.7, MUPROP))),
    Row("sbn200x3_ws", "SBN 200-200-200", (200, 200, 200), "wake_sleep", 1,
        (("wake-sleep", 101.6, NVIL), ("NVIL, neg. ELBO", 97.5, MUPROP))),
    Row("sbn200x3_rws5", "SBN 200-200-200", (200, 200, 200),
        "reweighted_wake_sleep", 5,
        (("RWS, K=5", 93.5, VIMCO), ("VIMCO, K=50", 91.9, VIMCO))),
    Row("sbn_deep_rws5", "SBN 10-100-200-300-400", (400, 300, 200, 100, 10),
        "reweighted_wake_sleep", 5, (("RWS, K=5", 85.5, RWS),)),
    # Issue 13: VIMCO beside RWS on the same model and recipe.
    Row("sbn200x3_vimco5", "SBN 200-200-200", (200, 200, 200), "vimco", 5,
        (("VIMCO, K=5", 92.8, VIMCO), ("VIMCO, K=50", 91.9, VIMCO))),
)}

# How the table writes each algorithm.
_ALGORITHM_LABELS = {"wake_sleep": "wake-sleep", "reweighted_wake_sleep": "RWS",
                     "vimco": "VIMCO"}


def _algorithm_label(row):
    """The row's estimator as the tables write it, with K when it draws several."""
    label = _ALGORITHM_LABELS.get(row.algorithm, row.algorithm)
    return label + (f", K={row.num_samples}" if row.num_samples > 1 else "")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser)
    parser.add_argument("--rows", default="all",
                        help=f"comma-separated rows or 'all': {', '.join(ROWS)}")
    parser.add_argument("--run-dir", default="runs/mnist_table",
                        help="checkpoints, one folder per row (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=1000,
                        help="total epochs per row, over all invocations")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="training wall time per row in this invocation")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam step size of both networks")
    parser.add_argument("--no-jit", action="store_true",
                        help="train without XLA (jit_compile=False)")
    parser.add_argument("--eval-samples", type=int, default=5000,
                        help="K of the importance-sampled log-likelihood")
    parser.add_argument("--eval-images", type=int, default=None,
                        help="first N validation images (default: all)")
    parser.add_argument("--eval-only", action="store_true",
                        help="evaluate the saved rows without training")
    parser.add_argument("--no-eval", action="store_true",
                        help="train only; evaluate in a later invocation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--monitor-every", type=int, default=10,
                        help="epochs between validation estimates (0: never)")
    parser.add_argument("--monitor-samples", type=int, default=100,
                        help="K of the validation estimate that drives the schedule")
    parser.add_argument("--monitor-images", type=int, default=1000,
                        help="first N validation images of that estimate")
    parser.add_argument("--patience", type=int, default=4,
                        help="estimates without improvement before a learning-rate cut")
    parser.add_argument("--min-delta", type=float, default=0.05,
                        help="nats an estimate must gain on the best to count")
    parser.add_argument("--lr-decay", type=float, default=0.5,
                        help="factor of each learning-rate cut")
    parser.add_argument("--max-decays", type=int, default=3,
                        help="cuts after which the row has converged and stops")
    parser.add_argument("--progress-only", action="store_true",
                        help="only rewrite the RESULTS section of the rows' validation "
                             "curves (mnist_convergence) from their state.json")
    parser.add_argument("--equal-budget-only", action="store_true",
                        help="only rewrite the RESULTS section (mnist_equal_budget) that "
                             "sets the rows' validation curves side by side on one "
                             "axis of training minutes, from their state.json")
    parser.add_argument("--grid-minutes", type=float, default=5.0,
                        help="spacing of the training-minute axis of --equal-budget-only")
    args = parser.parse_args(argv)
    if args.grid_minutes <= 0:
        parser.error(f"--grid-minutes must be positive; received {args.grid_minutes}")
    if args.progress_only and args.equal_budget_only:
        parser.error("--progress-only and --equal-budget-only each rewrite one section; "
                     "received both")
    names = list(ROWS) if args.rows == "all" else args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; expected names from {list(ROWS)}")
    args.row_names = names
    return args


def _load_state(folder):
    path = os.path.join(folder, "state.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return {"epochs": 0, "train_wall_s": 0.0, "epoch_seconds": [],
            "train_elbo": [], "examples_per_epoch": 0, "monitor": [],
            "best": None, "decays": 0, "since_best": 0, "converged": False}


def _save_state(folder, state):
    tmp = os.path.join(folder, "state.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, os.path.join(folder, "state.json"))


def _build_model(row, args):
    import keras  # pylint: disable=g-import-not-at-top

    import tfhm  # pylint: disable=g-import-not-at-top

    hm = tfhm.HelmholtzMachine(_common.DATA_DIM, row.latent_dims, seed=args.seed)
    hm.compile(wake_optimizer=keras.optimizers.Adam(args.learning_rate),
               sleep_optimizer=keras.optimizers.Adam(args.learning_rate),
               algorithm=row.algorithm, num_samples=row.num_samples,
               jit_compile=not args.no_jit)
    return hm


def _restore(row, args, folder, state):
    """The row's model: from `model.keras` if saved, else freshly built."""
    import keras  # pylint: disable=g-import-not-at-top

    path = os.path.join(folder, "model.keras")
    if not os.path.exists(path):
        return _build_model(row, args)
    hm = keras.models.load_model(path)
    # `model.keras` restores weights and optimizer slots but not the
    # SeedGenerator's counter; without this a resumed run would replay the
    # random draws of its first epochs.
    if "seed_state" in state:
        hm.seed_generator.state.assign(state["seed_state"])
    if args.no_jit == bool(hm.jit_compile):
        hm.jit_compile = not args.no_jit
    _set_learning_rate(hm, args.learning_rate * args.lr_decay ** state.get("decays", 0))
    return hm


def _set_learning_rate(hm, value):
    for optimizer in (hm.wake_optimizer, hm.sleep_optimizer):
        optimizer.learning_rate.assign(value)


def _monitor(row, args, hm, x_valid, folder, state):
    """One validation estimate; keeps the best model; cuts the rate on a plateau.

    Returns True when the row has converged (`--max-decays` cuts done and
    no improvement for `--patience` more estimates).
    """
    x = x_valid[:args.monitor_images]
    started = time.perf_counter()
    ll = float(hm.log_likelihood(x, num_samples=args.monitor_samples,
                                 seed=args.seed + 3).numpy().mean())
    seconds = time.perf_counter() - started
    state.setdefault("monitor", []).append(
        {"epoch": state["epochs"], "val_ll": round(ll, 3), "seconds": round(seconds, 1),
         "lr": args.learning_rate * args.lr_decay ** state.get("decays", 0),
         "train_wall_s": round(state["train_wall_s"], 1)})
    best = state.get("best")
    if best is None or ll > best["val_ll"] + args.min_delta:
        state["best"] = {"epoch": state["epochs"], "val_ll": ll}
        state["since_best"] = 0
        hm.save(os.path.join(folder, "best.keras"))
    else:
        state["since_best"] = state.get("since_best", 0) + 1
    message = (f"[{row.name}] epoch {state['epochs']}: validation LL {ll:.2f} "
               f"(K={args.monitor_samples}, {len(x)} images, {seconds:.0f}s; best "
               f"{state['best']['val_ll']:.2f} at epoch {state['best']['epoch']})")
    if state["since_best"] >= args.patience:
        if state.get("decays", 0) >= args.max_decays:
            state["converged"] = True
            print(message + ": converged", flush=True)
            return True
        state["decays"] = state.get("decays", 0) + 1
        state["since_best"] = 0
        rate = args.learning_rate * args.lr_decay ** state["decays"]
        _set_learning_rate(hm, rate)
        message += f"; learning rate cut to {rate:.3g}"
    print(message, flush=True)
    return False


def train_row(row, args, x_train, x_valid, folder, state):
    """Trains until converged, `--epochs` or the budget; checkpoints every epoch."""
    import keras  # pylint: disable=g-import-not-at-top

    if state["epochs"] >= args.epochs or state.get("converged"):
        return _restore(row, args, folder, state)
    hm = _restore(row, args, folder, state)
    budget_s = math.inf if args.budget_minutes is None else 60 * args.budget_minutes
    started = time.perf_counter()
    # Every invocation that trained the row, also one that was killed.
    invocation = {"command": _common.command_line(), "commit": _common.git_commit(),
                  "date": _common.utc_now(), "from_epoch": state["epochs"],
                  "to_epoch": state["epochs"]}
    state.setdefault("invocations", []).append(invocation)

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.epoch_start
            state["epochs"] = epoch + 1
            state["train_wall_s"] += seconds
            state["epoch_seconds"].append(round(seconds, 3))
            state["train_elbo"].append(round(float(logs["elbo"]), 3))
            state["examples_per_epoch"] = len(x_train)
            state["seed_state"] = [int(v) for v in hm.seed_generator.state.numpy()]
            invocation["to_epoch"] = epoch + 1
            if args.monitor_every and (epoch + 1) % args.monitor_every == 0:
                if _monitor(row, args, hm, x_valid, folder, state):
                    self.model.stop_training = True
            hm.save(os.path.join(folder, "model.keras"))
            _save_state(folder, state)
            print(f"[{row.name}] epoch {epoch + 1}: {seconds:.1f}s, "
                  f"train ELBO {float(logs['elbo']):.2f}", flush=True)
            if time.perf_counter() - started > budget_s:
                self.model.stop_training = True

    hm.fit(x_train, batch_size=args.batch_size, epochs=args.epochs,
           initial_epoch=state["epochs"], shuffle=True, verbose=0,
           callbacks=[Checkpoint()])
    state["train_command"] = _common.command_line()
    state["train_commit"] = _common.git_commit()
    state["train_date"] = _common.utc_now()
    _save_state(folder, state)
    return hm


def evaluate_row(row, args, hm, x_valid, folder, state):
    """Importance-sampled NLL and negative ELBO on the validation images."""
    import numpy as np  # pylint: disable=g-import-not-at-top

    x = x_valid if args.eval_images is None else x_valid[:args.eval_images]
    start = time.perf_counter()
    log_lik = np.asarray(hm.log_likelihood(x, num_samples=args.eval_samples,
                                           seed=args.seed + 1))
    elbo = np.asarray(hm.elbo(x, num_samples=100, seed=args.seed + 2))
    seconds = time.perf_counter() - start
    state["eval"] = {
        "nll": float(-log_lik.mean()),
        "nll_stderr": float(log_lik.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0,
        "neg_elbo": float(-elbo.mean()),
        "images": int(len(x)), "num_samples": args.eval_samples,
        "at_epoch": (state["best"]["epoch"] if state.get("eval_model") else state["epochs"]),
        "model": state.get("eval_model", "model.keras (last epoch)"),
        "seconds": round(seconds, 1),
        "command": _common.command_line(), "commit": _common.git_commit(),
        "date": _common.utc_now()}
    _save_state(folder, state)
    print(f"[{row.name}] validation NLL {state['eval']['nll']:.2f} nats "
          f"(K={args.eval_samples}, {len(x)} images, {seconds:.0f}s), "
          f"neg. ELBO {state['eval']['neg_elbo']:.2f}", flush=True)


def _fmt(value, spec=".1f"):
    return "—" if value is None else format(value, spec)


def table(args):
    """The Markdown section: one line per row, from every row's state.json."""
    lines = [
        "## mnist_table: binarized MNIST, validation set",
        "",
        "Regenerated by `benchmarks/mnist_table.py` from the state of every "
        "row. NLL: importance-sampled negative log-likelihood in nats (lower "
        "is better); ELBO: negative ELBO (100 draws of q). `published` is the "
        "paper's figure (test set, nats); the first one listed is the row's "
        "target. Adam (learning rate 1e-3 unless the command says otherwise) "
        "for both networks, batch 100, XLA. The script's default evaluation "
        "is the papers' protocol, K=5,000 on all 10,000 validation images; a "
        "row evaluated on fewer images says so under `eval protocol` (the "
        "first N images; ± is the standard error over those images).",
        "",
        "| row | model | algorithm | epochs | train wall time | examples/s (median epoch) "
        "| val. NLL | val. neg. ELBO | eval protocol | published | target met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for row in ROWS.values():
        folder = _common.resolve(os.path.join(args.run_dir, row.name))
        state = _load_state(folder)
        ev = state.get("eval")
        alg = _algorithm_label(row)
        rate = None
        if state["epoch_seconds"]:
            rate = state["examples_per_epoch"] / statistics.median(state["epoch_seconds"])
        published = "; ".join(f"{what}: {nats} ({cite})"
                              for what, nats, cite in row.published)
        target = row.published[0][1]
        if ev:
            met = "yes" if ev["nll"] <= target else f"no (+{ev['nll'] - target:.1f})"
            protocol = f"K={ev['num_samples']}, {ev['images']} images, at epoch {ev['at_epoch']}"
            nll = f"{ev['nll']:.2f} ± {ev['nll_stderr']:.2f}"
            elbo = f"{ev['neg_elbo']:.2f}"
        else:
            met, protocol, nll, elbo = "not evaluated", "—", "—", "—"
        wall = (f"{state['train_wall_s'] / 60:.1f} min" if state["epochs"] else "—")
        lines.append(
            f"| `{row.name}` | {row.title} | {alg} | {state['epochs']} | {wall} | "
            f"{_fmt(rate, '.0f')} | {nll} | {elbo} | {protocol} | {published} | {met} |")
        if state.get("invocations"):
            trained = "trained by " + "; ".join(
                f"`{inv['command']}` (epochs {inv['from_epoch']}→{inv['to_epoch']}, "
                f"started {inv['date']}, commit {inv['commit']})"
                for inv in state["invocations"] if inv["to_epoch"] > inv["from_epoch"])
        else:
            trained = (f"trained by `{state.get('train_command', '—')}` (last on "
                       f"{state.get('train_date', '—')}, commit "
                       f"{state.get('train_commit', '—')})")
        if state["epochs"] or ev:
            notes.append(
                f"- `{row.name}`: {trained}"
                + (f"; evaluated by `{ev['command']}` on {ev['date']}, commit "
                   f"{ev['commit']}, {ev['seconds']:.0f} s" if ev else "")
                + ".")
    lines += ["", "Commands, dates and commits:", ""] + (notes or ["- no row has run yet."])
    return "\n".join(lines)


def progress(args):
    """The Markdown section of the rows' validation curves (training to convergence)."""
    lines = ["## mnist_convergence: validation curves of the rows being trained to convergence",
             "",
             "Each row's validation estimate every `--monitor-every` epochs (K and images "
             "as stated, fixed seed; higher is better), from its `state.json`. The newest "
             "checkpoint of a row that has not converged is committed under its run folder "
             "so that the same command resumes it.", ""]
    for name in args.row_names:
        folder = _common.resolve(os.path.join(args.run_dir, name))
        state = _load_state(folder)
        if not state.get("monitor"):
            continue
        first = state["monitor"][0]
        lines += [f"### `{name}` ({ROWS[name].title}, "
                  f"{'converged' if state.get('converged') else 'still training'}, "
                  f"{state['epochs']} epochs, {state['train_wall_s'] / 60:.0f} min of training, "
                  f"learning-rate cuts: {state.get('decays', 0)})", "",
                  f"Trained by `{state['invocations'][-1]['command']}`; estimate: K="
                  f"{args.monitor_samples}, first {args.monitor_images} validation images."
                  + (f" {state['note']}" if state.get("note") else ""), "",
                  "| epoch | training minutes | learning rate | validation log-likelihood (nats) |",
                  "|---|---|---|---|"]
        lines += [f"| {m['epoch']} | {m['train_wall_s'] / 60:.1f} | {m['lr']:.2g} | "
                  f"{m['val_ll']:.2f} |" for m in state["monitor"]]
        best = state["best"]
        lines += ["", f"Best: {best['val_ll']:.2f} nats at epoch {best['epoch']} "
                  f"(first estimate {first['val_ll']:.2f} at epoch {first['epoch']}).", ""]
    return "\n".join(lines)


def _estimate_at(monitor, seconds):
    """The newest validation estimate made within `seconds` of training, or None."""
    done = [m for m in monitor if m["train_wall_s"] <= seconds]
    return done[-1] if done else None


def equal_budget(args):
    """The Markdown section comparing rows at equal training wall-clock time.

    Each row's validation estimates (every `--monitor-every` epochs) are read
    off at every `--grid-minutes` of training time (the monitor's own time
    excluded): at minute t a row shows its newest estimate made within t
    minutes, up to the shortest row's training time (the last line). Then
    each row's final evaluation, of its best model within the budget.
    """
    states = {}
    for name in args.row_names:
        state = _load_state(_common.resolve(os.path.join(args.run_dir, name)))
        if not state.get("monitor"):
            raise SystemExit(f"[{name}] has no validation estimates in {args.run_dir}; "
                             "--equal-budget-only needs rows trained with --monitor-every")
        states[name] = state
    budget_s = min(state["train_wall_s"] for state in states.values())
    names = list(states)
    lines = ["## mnist_equal_budget: estimators at an equal wall-clock budget",
             "",
             "The same model and recipe trained by each estimator for the same training "
             "time, one run after the other on the same quiet machine; read from the rows' "
             "`state.json` by `python benchmarks/mnist_table.py --equal-budget-only`. "
             "Validation log-likelihood estimates (higher is better; K and images as "
             "in each row's monitor, the same fixed seed) at each point of training "
             "time; `(e)` is the epoch of the estimate.", "",
             "| training minutes | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    grid = [args.grid_minutes * i for i in range(1, int(budget_s / 60 / args.grid_minutes
                                                       + 1e-9) + 1)]
    if not grid or grid[-1] * 60 < budget_s - 1:  # and the budget itself
        grid.append(round(budget_s / 60, 1))
    for minute in grid:
        cells = []
        for name in names:
            m = _estimate_at(states[name]["monitor"], minute * 60)
            cells.append("—" if m is None else f"{m['val_ll']:.2f} ({m['epoch']})")
        lines.append(f"| {minute:g} | " + " | ".join(cells) + " |")
    lines += ["", "| row | algorithm | epochs | training minutes | examples/s (median "
              "epoch) | best estimate | val. NLL | val. neg. ELBO | eval protocol |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, state in states.items():
        row, ev = ROWS[name], state.get("eval")
        alg = _algorithm_label(row)
        rate = state["examples_per_epoch"] / statistics.median(state["epoch_seconds"])
        best = state["best"]
        if ev:
            nll, elbo = f"{ev['nll']:.2f} ± {ev['nll_stderr']:.2f}", f"{ev['neg_elbo']:.2f}"
            protocol = (f"K={ev['num_samples']}, {ev['images']} images, "
                        f"{ev['model']}")
        else:
            nll, elbo, protocol = "—", "—", "not evaluated"
        lines.append(
            f"| `{name}` | {alg} | {state['epochs']} | {state['train_wall_s'] / 60:.1f} | "
            f"{rate:.0f} | {best['val_ll']:.2f} (epoch {best['epoch']}) | {nll} | {elbo} | "
            f"{protocol} |")
    lines += ["", "Commands:", ""]
    for name, state in states.items():
        ev = state.get("eval")
        lines.append(f"- `{name}`: " + "; ".join(
            f"`{inv['command']}` (epochs {inv['from_epoch']}→{inv['to_epoch']}, "
            f"{inv['date']}, commit {inv['commit']})" for inv in state.get("invocations", []))
            + (f"; evaluated by `{ev['command']}` ({ev['date']}, {ev['seconds']:.0f} s)"
               if ev else "") + ".")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.progress_only:
        _common.write_section(args.results, "mnist_convergence", progress(args))
        return
    if args.equal_budget_only:
        _common.write_section(args.results, "mnist_equal_budget", equal_budget(args))
        return
    _common.configure_threads(args.threads)
    _common.configure_dtype_policy(args.dtype_policy)
    x_train, x_valid = _common.load_data(args)
    _common.git_commit()  # the commit this run starts on
    for name in args.row_names:
        row = ROWS[name]
        folder = _common.resolve(os.path.join(args.run_dir, row.name))
        os.makedirs(folder, exist_ok=True)
        state = _load_state(folder)
        # A row trains under one dtype policy and one batch size from start to
        # end. States written before a setting was recorded: float32, and the
        # batch size of this invocation (every such row here used 100).
        for key, flag, value, before in (
                ("dtype_policy", "--dtype-policy", args.dtype_policy, "float32"),
                ("batch_size", "--batch-size", args.batch_size, args.batch_size)):
            trained_with = state.get(key, before)
            if not args.eval_only and state["epochs"] and trained_with != value:
                sys.exit(f"[{name}] was trained with {flag} {trained_with}; received "
                         f"{flag} {value}. Resume it with {trained_with}, or train it "
                         "in a new --run-dir.")
            state[key] = trained_with if state["epochs"] else value
        if args.eval_only:
            if state["epochs"] == 0:
                print(f"[{name}] nothing trained yet; skipped", flush=True)
                continue
            hm = _restore(row, args, folder, state)
        else:
            hm = train_row(row, args, x_train, x_valid, folder, state)
        best = os.path.join(folder, "best.keras")
        if os.path.exists(best):
            import keras  # pylint: disable=g-import-not-at-top
            hm = keras.models.load_model(best)
            state["eval_model"] = f"best.keras (epoch {state['best']['epoch']})"
        if not args.no_eval:
            evaluate_row(row, args, hm, x_valid, folder, state)
        _common.write_section(args.results, "mnist_table", table(args))
    _common.write_section(args.results, "mnist_table", table(args))


if __name__ == "__main__":
    main()
