"""The rows of `mnist_table.py`, their run folders as records, and RESULTS sections.

- `ROWS`: the table's rows (model, estimator, K, published figures).
- `load_state(folder)`: a row's record as the reports and `pretrained.py`
  read it, from its `tfhm.run_dir.RunDir` (config.json, metrics.csv,
  metrics.json) or, for a row trained before issue 26, its `state.json`;
  `convert_legacy` rewrites such a row as a run folder.
- `table`, `progress`, `equal_budget`: the Markdown sections `mnist_table`,
  `mnist_convergence` and `mnist_equal_budget`, from the rows' records.
"""

import dataclasses
import json
import os
import statistics

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

MONITOR = "val_log_likelihood"
NVIL = "Mnih & Gregor 2014 (NVIL)"
MUPROP = "Gu et al. 2016 (MuProp), Table 3"
VIMCO = "Mnih & Rezende 2016 (VIMCO)"
RWS = "Bornschein & Bengio 2015 (RWS)"
DARN = "Gregor et al. 2014 (DARN)"
@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the table."""

    name: str  # Key of the row on the command line and in the run folder.
    title: str  # The model as the literature writes it.
    latent_dims: tuple  # tfhm order: next to the data first.
    algorithm: str  # A name of `tfhm.estimators.names()`.
    num_samples: int  # K draws of q per example during training.
    published: tuple  # ((what, nats, citation), ...), the first is the target.
    # Names of `tfhm.conditionals.names()`, every layer of p and of q, or a tuple
    # of one name a layer in `tfhm.Generator`'s and `tfhm.Recognizer`'s order
    # (issue 24).
    generator_conditional: str | tuple = "sbn"
    recognizer_conditional: str | tuple = "sbn"
    # Keyword options of the estimator, ((name, value), ...), e.g. RWS's insomnia.
    algorithm_options: tuple = ()


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
    # Issue 24: the deep SBN generator with DARN recognizer layers. Its target is
    # the paper's figure for the model with SBN layers in q (B&B 2015 report that
    # autoregressive q layers do better; their DARN-q figure is not verified here).
    Row("sbn_deep_darnq_rws5", "SBN 10-100-200-300-400, DARN q", (400, 300, 200, 100, 10),
        "reweighted_wake_sleep", 5, (("RWS, K=5, SBN q", 85.5, RWS),),
        recognizer_conditional="darn"),
    # Issue 24: autoregressive (DARN) layers in p, SBN layers in q, trained by RWS
    # with the recognizer's wake update only: neither training nor the
    # importance-sampled evaluation samples p (whose DARN layers draw unit by
    # unit), so a step costs about what an SBN step does (log p is one masked
    # product a layer). 500 stochastic units as Gregor et al. 2014's one-layer
    # DARN, trained there otherwise; 85.5 is the target.
    Row("darn500_sbnq_rws5", "DARN 500, SBN q", (500,), "reweighted_wake_sleep", 5,
        (("issue-24 target (RWS, K=5, SBN 10-100-200-300-400)", 85.5, RWS),
         ("DARN 500, one layer (not verified here)", 84.71, DARN)),
        generator_conditional="darn", algorithm_options=(("insomnia", "wake"),)),
    # Issue 24: the deep SBN of `sbn_deep_rws5` with an autoregressive (DARN)
    # layer over the pixels, p(x | z_1), the rest SBN; the recognizer's wake
    # update only, as darn500_sbnq_rws5 (which overfit: its train ELBO passed
    # its validation estimate; the deep SBN did not).
    Row("sbn_deep_darnx_rws5", "SBN 10-100-200-300-400, DARN pixel layer",
        (400, 300, 200, 100, 10), "reweighted_wake_sleep", 5,
        (("RWS, K=5, SBN layers", 85.5, RWS),),
        generator_conditional=("darn",) + ("sbn",) * 5,
        algorithm_options=(("insomnia", "wake"),)),
)}


# How the table writes each algorithm.
_ALGORITHM_LABELS = {"wake_sleep": "wake-sleep", "reweighted_wake_sleep": "RWS",
                     "vimco": "VIMCO"}


def _algorithm_label(row):
    """The row's estimator as the tables write it, with K when it draws several."""
    label = _ALGORITHM_LABELS.get(row.algorithm, row.algorithm)
    options = "".join(f", {k}={v}" for k, v in row.algorithm_options)
    return label + (f", K={row.num_samples}" if row.num_samples > 1 else "") + options


def load_state(folder):
    """The row's record as the reports read it (`epochs`, `monitor`, `best`, `eval`, ...)."""
    from tfhm.run_dir import RunDir  # pylint: disable=g-import-not-at-top

    run = RunDir(folder)
    legacy = os.path.join(folder, "state.json")
    if not os.path.exists(run.config_json) and os.path.exists(legacy):
        with open(legacy, encoding="utf-8") as f:  # a row trained before issue 26
            return json.load(f)
    config = run.read_config() if os.path.exists(run.config_json) else {}
    rows = run.read_metrics()
    last = rows[-1] if rows else {}
    monitor = [{"epoch": r["epoch"], "val_ll": r[MONITOR], "seconds": r["val_seconds"],
                "lr": r["learning_rate"], "train_wall_s": r["train_wall_s"]}
               for r in rows if MONITOR in r]
    best = [m for m in monitor if m["epoch"] == last.get("best_epoch")]
    state = {"epochs": len(rows), "train_wall_s": last.get("train_wall_s", 0.0),
             "epoch_seconds": [r["seconds"] for r in rows],
             "train_elbo": [r["elbo"] for r in rows], "monitor": monitor,
             "examples_per_epoch": config.get("num_examples", 0), "decays": last.get("decays", 0),
             "best": {"epoch": best[0]["epoch"], "val_ll": best[0]["val_ll"]} if best else None,
             **config.get("train", {}), **{k: config[k] for k in ("invocations", "converged",
                                                                 "note") if k in config}}
    if os.path.exists(run.metrics_json):
        with open(run.metrics_json, encoding="utf-8") as f:
            state["eval"] = json.load(f)
            state["eval_model"] = state["eval"]["model"]
    return state


def convert_legacy(run, state):
    """Rewrites a `state.json` row (before issue 26) as a run folder; state.json stays.

    The callbacks' state is not converted: it is replayed from the estimates, as
    for any row (mnist_table.py's `Record.on_train_begin`). The row's model.keras, which predates
    the saved seed state, gets it from state.json once.
    """
    monitor, rows, wall = {m["epoch"]: m for m in state["monitor"]}, [], 0.0
    for epoch, seconds in enumerate(state["epoch_seconds"], 1):
        m, wall, done = monitor.get(epoch, {}), wall + seconds, epoch == state["epochs"]
        rows.append({"epoch": epoch, "seconds": seconds, "train_wall_s": wall,
                     "elbo": state["train_elbo"][epoch - 1], "learning_rate": m.get("lr"),
                     MONITOR: m.get("val_ll"), "val_seconds": m.get("seconds"),
                     "best_epoch": (state["best"] or {}).get("epoch") if done else None,
                     "decays": state.get("decays", 0) if done else None})
    run.write_metrics(rows, append=False)
    if "eval" in state:
        run.write_metrics_json(state["eval"])
    if os.path.exists(run.model_keras):
        hm = run.load_model()
        hm.seed_generator.state.assign(state["seed_state"])
        run.save_model(hm)
    run.write_config({"num_examples": state["examples_per_epoch"],
                      "train": {k: state.get(k, v) for k, v in (
                          ("batch_size", 100), ("dtype_policy", "float32"))},
                      **{k: state[k] for k in ("invocations", "converged", "note") if k in state}})


def _fmt(value, spec=".1f"):
    return "—" if value is None else format(value, spec)


def table(args, rows=ROWS):
    """The Markdown section: one line per row, from every row's run folder."""
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
    for row in rows.values():
        folder = _common.resolve(os.path.join(args.run_dir, row.name))
        state = load_state(folder)
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


def progress(args, rows=ROWS):
    """The Markdown section of the rows' validation curves (training to convergence)."""
    lines = ["## mnist_convergence: validation curves of the rows being trained to convergence",
             "",
             "Each row's validation estimate every `--monitor-every` epochs (K and images "
             "as stated, fixed seed; higher is better), from its run folder. The newest "
             "checkpoint of a row that has not converged is committed under its run folder "
             "so that the same command resumes it.", ""]
    for name in args.row_names:
        folder = _common.resolve(os.path.join(args.run_dir, name))
        state = load_state(folder)
        if not state.get("monitor"):
            continue
        first = state["monitor"][0]
        lines += [f"### `{name}` ({rows[name].title}, "
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


def equal_budget(args, rows=ROWS):
    """The Markdown section comparing rows at equal training wall-clock time.

    Each row's validation estimates (every `--monitor-every` epochs) are read
    off at every `--grid-minutes` of training time (the monitor's own time
    excluded): at minute t a row shows its newest estimate made within t
    minutes, up to the shortest row's training time (the last line). Then
    each row's final evaluation, of its best model within the budget.
    """
    states = {}
    for name in args.row_names:
        state = load_state(_common.resolve(os.path.join(args.run_dir, name)))
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
             "run folders by `python benchmarks/mnist_table.py --equal-budget-only`. "
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
        row, ev = rows[name], state.get("eval")
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

