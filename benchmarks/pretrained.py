"""Trains and packages the models shipped in `tfhm.pretrained`.

  python benchmarks/pretrained.py digits            # trains digits_rws_16 (minutes)
  python benchmarks/pretrained.py row RUN_DIR/ROW   # packages a converged mnist_table row
  python benchmarks/pretrained.py table             # the RESULTS.md section of them
  python benchmarks/pretrained.py evaluate all --report R.json  # every card again (an hour)
  python benchmarks/pretrained.py changes --report R.json       # their RESULTS.md section

Writes the `.keras` file into `tfhm/pretrained/` and its entry (sha256 and
card) into `tfhm/pretrained/manifest.json`. Run it with tfhm installed from a
wheel (not the working tree), as every long benchmark here.

The digits model (`digits_rws_16`): the main job's latent layer of 16 units
with 128 hidden units per conditional (64 in the main job: 128 reached
-16.75 nats where 64 reached -17.04 with this schedule), reweighted wake-sleep with K=5,
batch 100, Adam with a step schedule for both networks (3e-3 for 300 epochs,
1e-3 for 200, 3e-4 for 100) on scikit-learn's digits binarized at 8 (of 16)
as `tfhm.datasets.load_digits` does; its card states the exact validation
log-likelihood (all 2**16 latent states summed) on the 360 held-out digits.
"""

import argparse
import hashlib
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # noqa: E402

PACKAGE_DIR = _common.REPO_ROOT / "tfhm" / "pretrained"
SCHEDULE = ((3e-3, 300), (1e-3, 200), (3e-4, 100))  # (learning rate, epochs)
HIDDEN = (128,)
SLICE = dict(images=100, num_samples=1000, seed=0)


def _conditionals(hm):
    """The card's record of which conditionals the model's layers are (issue 23)."""
    return {"generator_conditional": hm.generator_conditional,
            "recognizer_conditional": hm.recognizer_conditional}


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _write_entry(name, file, card):
    manifest_path = PACKAGE_DIR / "manifest.json"
    manifest = (json.loads(manifest_path.read_text(encoding="utf-8"))
                if manifest_path.exists() else {"format": "tfhm-pretrained-1", "models": {}})
    manifest["models"][name] = {"file": file, "sha256": _sha256(PACKAGE_DIR / file),
                                "card": card}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                             encoding="utf-8")
    print(json.dumps(manifest["models"][name], indent=2))


def _slice_check(hm, x_valid, description):
    x = x_valid[:SLICE["images"]]
    ll = hm.log_likelihood(x, num_samples=SLICE["num_samples"], seed=SLICE["seed"])
    return {"images": description, "num_samples": SLICE["num_samples"],
            "seed": SLICE["seed"], "log_likelihood": round(float(ll.numpy().mean()), 4)}


def train_digits():
    import keras

    import tfhm

    x_train, x_valid = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16,), hidden_units=HIDDEN, seed=0)
    keras.utils.set_random_seed(0)  # Keras' shuffling, for tfhm versions that do not seed it
    hm.compile(wake_optimizer=keras.optimizers.Adam(SCHEDULE[0][0]),
               sleep_optimizer=keras.optimizers.Adam(SCHEDULE[0][0]),
               algorithm="reweighted_wake_sleep", num_samples=5)
    started, done = time.perf_counter(), 0
    for rate, epochs in SCHEDULE:
        for optimizer in (hm.wake_optimizer, hm.sleep_optimizer):
            optimizer.learning_rate.assign(rate)
        hm.fit(x_train, batch_size=100, initial_epoch=done, epochs=done + epochs, verbose=0)
        done += epochs
        print(f"epoch {done}: exact validation LL "
              f"{float(hm.exact_log_likelihood(x_valid).numpy().mean()):.3f}", flush=True)
    seconds = time.perf_counter() - started
    exact = float(hm.exact_log_likelihood(x_valid).numpy().mean())
    elbo = float(hm.elbo(x_valid, num_samples=100, seed=1).numpy().mean())
    name, file = "digits_rws_16", "digits_rws_16.keras"
    hm.save(PACKAGE_DIR / file)
    card = {
        "title": f"Helmholtz machine 64-16 ({HIDDEN[0]} hidden units), digits",
        "architecture": {"data_dim": 64, "latent_dims": [16], "hidden_units": list(HIDDEN),
                         "activation": "tanh", **_conditionals(hm)},
        "algorithm": "reweighted_wake_sleep", "num_samples": 5, "batch_size": 100,
        "optimizer": "Adam for both networks; learning rate "
                     + ", ".join(f"{r:g} for {e} epochs" for r, e in SCHEDULE),
        "epochs": done, "train_seconds": round(seconds, 1),
        "machine": _common.machine_description(),
        "tfhm_version": tfhm.__version__, "commit": _common.git_commit(),
        "command": _common.command_line(),
        "dataset": "scikit-learn digits (8x8), 1,437 training / 360 validation "
                   "(tfhm.datasets.load_digits)",
        "binarization": "pixel >= 8 of 16 (fixed threshold, tfhm.datasets.load_digits)",
        "validation_nll": round(-exact, 4),
        "validation_protocol": "exact: all 2**16 latent states summed, 360 validation digits",
        "validation_elbo": round(elbo, 4),
        "published_nll": None, "published_source": None,
        "slice_check": _slice_check(hm, x_valid, "first 100 of tfhm.datasets.load_digits()[1]"),
    }
    _write_entry(name, file, card)


MNIST_FIXTURE = _common.REPO_ROOT / "tests" / "fixtures" / "mnist_valid_first100.npz"
PAPERS_PROTOCOL = dict(images=10000, num_samples=5000)


def _without_optimizer_state(hm):
    """A copy of `hm`, compiled alike, whose optimizers hold no slots yet.

    The file of a row's best model carries both Adam optimizers' moments
    (twice the weights again); the shipped file keeps the weights and the
    compile settings, and its optimizers' slots are the zeros of a fresh
    compile (compressed away by `_deflate`), so `load` gives a model ready to
    sample, evaluate, export or train further (with fresh moments).
    """
    import tfhm

    copy = tfhm.HelmholtzMachine.from_config(hm.get_config())
    copy.compile_from_config(hm.get_compile_config())
    copy.set_weights(hm.get_weights())
    return copy


def _flag(command, flag, default):
    """The integer value of `flag` in a command line, or `default`."""
    words = command.split()
    return int(words[words.index(flag) + 1]) if flag in words else default


def _deflate(path):
    """Rewrites the `.keras` zip at `path` with DEFLATE compression.

    Keras stores the archive's members uncompressed; the optimizers' slots of
    a freshly compiled model are zeros (`compile` builds them), which
    compress to almost nothing, so the shipped file is about the size of the
    weights alone. `keras.models.load_model` reads either form.
    """
    import zipfile

    tmp = f"{path}.tmp"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(
            tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
    os.replace(tmp, path)


def package_row(folder):
    """Ships the best model of a converged `mnist_table.py` row, with its card.

    The row must have been evaluated with the papers' protocol (K=5,000 on all
    10,000 validation images) by `mnist_table.py --eval-only`; the card takes
    that evaluation and the row's training history from its run folder
    (`mnist_table.load_state`: metrics.csv, or a state.json of before issue 26).
    """
    import keras
    import numpy as np

    import tfhm

    import mnist_table

    folder = os.path.abspath(folder)
    row = mnist_table.ROWS.get(os.path.basename(folder))
    if row is None:
        raise SystemExit(f"{folder!r} is not the folder of a row; expected one "
                         f"named after a row of mnist_table.py: {list(mnist_table.ROWS)}")
    state = mnist_table.load_state(folder)
    ev = state.get("eval") or {}
    protocol = {"images": ev.get("images"), "num_samples": ev.get("num_samples")}
    if protocol != PAPERS_PROTOCOL or not ev.get("model", "").startswith("best.keras"):
        raise SystemExit(
            f"Row {row.name} has no evaluation of best.keras with the papers' protocol "
            f"{PAPERS_PROTOCOL}: run `python benchmarks/mnist_table.py --rows {row.name} "
            f"--run-dir {os.path.dirname(folder)} --eval-only` first. Received: "
            f"{protocol}, model {ev.get('model')!r}")
    hm = _without_optimizer_state(keras.models.load_model(os.path.join(folder, "best.keras")))
    name = f"mnist_{row.name}"
    file = f"{name}.keras"
    hm.save(PACKAGE_DIR / file)
    _deflate(PACKAGE_DIR / file)
    rates = sorted({m["lr"] for m in state["monitor"]}, reverse=True)
    published = row.published[0]
    card = {
        "title": f"{row.title}, binarized MNIST",
        "architecture": {"data_dim": 784, "latent_dims": list(hm.latent_dims),
                         "hidden_units": list(hm.hidden_units),
                         "activation": hm.get_config().get("activation"),
                         **_conditionals(hm)},
        "algorithm": row.algorithm, "num_samples": row.num_samples,
        "batch_size": state.get("batch_size") or _flag(
            state["invocations"][-1]["command"], "--batch-size", 100),
        "optimizer": "Adam for both networks; learning rates " + ", ".join(
            f"{r:g}" for r in rates) + " (cut on validation plateaus, mnist_table.py)",
        "epochs": state["best"]["epoch"], "epochs_trained": state["epochs"],
        "train_seconds": round(state["train_wall_s"], 1),
        "machine": _common.machine_description(), "tfhm_version": tfhm.__version__,
        "commit": "; ".join(dict.fromkeys(inv["commit"] for inv in state["invocations"])),
        "command": " && ".join(dict.fromkeys(inv["command"] for inv in state["invocations"])),
        "dataset": "binarized MNIST of Larochelle & Murray (2011): 50,000 training / "
                   "10,000 validation images",
        "binarization": "the fixed binarization of Larochelle & Murray (2011)",
        "validation_nll": round(ev["nll"], 3),
        "validation_protocol": "importance sampling, K=5,000 draws of q, all 10,000 "
                               f"validation images (standard error {ev['nll_stderr']:.2f})",
        "validation_elbo": round(-ev["neg_elbo"], 3),
        "published_nll": published[1],
        "published_source": f"{published[0]}, {published[2]} (test set)",
        "slice_check": _slice_check(hm, np.load(MNIST_FIXTURE)["x"],
                                    "tests/fixtures/mnist_valid_first100.npz"),
    }
    _write_entry(name, file, card)


def evaluate_cards(names, data, results_json=None):
    """Re-evaluates shipped models and rewrites their cards' figures.

    Each card keeps its protocol: the MNIST models' importance-sampled NLL
    with K=5,000 draws of q on all 10,000 validation images (seed 1, as
    `mnist_table.py`) and their ELBO with 100 draws (seed 2); the digits
    model's exact NLL and its ELBO (100 draws, seed 1); and every slice
    check. The weights and the sha256 are not touched. Issue 28 made this
    necessary: the old Bernoulli draw's floor of 2^-23 made every sampled
    figure too good.
    """
    import numpy as np

    import tfhm

    manifest_path = PACKAGE_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    names = sorted(manifest["models"]) if names == ["all"] else names
    unknown = sorted(set(names) - set(manifest["models"]))
    if unknown:
        raise SystemExit(f"Unknown pretrained models {unknown}; expected 'all' or "
                         f"some of {sorted(manifest['models'])}")
    report = {}
    for name in names:
        card = manifest["models"][name]["card"]
        hm = tfhm.pretrained.load(name)
        started = time.perf_counter()
        before = {key: card[key] for key in ("validation_nll", "validation_elbo")}
        before["slice_check"] = card["slice_check"]["log_likelihood"]
        if name.startswith("mnist_"):
            x_valid = np.load(_common.resolve(data))["x_valid"].astype(np.float32)
            log_lik = hm.log_likelihood(x_valid, num_samples=PAPERS_PROTOCOL["num_samples"],
                                        seed=1).numpy()
            elbo = hm.elbo(x_valid, num_samples=100, seed=2).numpy()
            stderr = float(log_lik.std(ddof=1) / np.sqrt(len(x_valid)))
            card["validation_nll"] = round(float(-log_lik.mean()), 3)
            card["validation_protocol"] = (
                "importance sampling, K=5,000 draws of q, all 10,000 validation "
                f"images (standard error {stderr:.2f})")
            card["validation_elbo"] = round(float(elbo.mean()), 3)
            card["slice_check"] = _slice_check(hm, np.load(MNIST_FIXTURE)["x"],
                                               "tests/fixtures/mnist_valid_first100.npz")
        else:
            _, x_valid = tfhm.datasets.load_digits()
            stderr = None
            card["validation_nll"] = round(
                -float(hm.exact_log_likelihood(x_valid).numpy().mean()), 4)
            card["validation_elbo"] = round(
                float(hm.elbo(x_valid, num_samples=100, seed=1).numpy().mean()), 4)
            card["slice_check"] = _slice_check(
                hm, x_valid, "first 100 of tfhm.datasets.load_digits()[1]")
        seconds = time.perf_counter() - started
        card["evaluation"] = {"commit": _common.git_commit(), "command": _common.command_line(),
                              "date": _common.utc_now(), "seconds": round(seconds, 1),
                              "machine": _common.machine_description()}
        report[name] = {"before": before, "seconds": round(seconds, 1), "stderr": stderr,
                        "after": {"validation_nll": card["validation_nll"],
                                  "validation_elbo": card["validation_elbo"],
                                  "slice_check": card["slice_check"]["log_likelihood"]}}
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                 encoding="utf-8")  # after each model: nothing is lost
        print(f"[{name}] NLL {before['validation_nll']} -> {card['validation_nll']} "
              f"(s.e. {stderr}), ELBO {before['validation_elbo']} -> "
              f"{card['validation_elbo']}, slice {before['slice_check']} -> "
              f"{card['slice_check']['log_likelihood']}, {seconds:.0f}s", flush=True)
        if results_json:
            pathlib.Path(results_json).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _verdict(nll, published):
    """The tables' "at or below published" cell."""
    if published is None:
        return "—"
    return "yes" if nll <= published else f"no (+{nll - published:.2f})"


def changes_section(report_path, results):
    """Writes the RESULTS.md section `pretrained_reevaluation` from an `evaluate` report.

    One line per model: the card's figures before and after the re-evaluation
    (issue 28's exact Bernoulli draw), and the change in validation NLL.
    """
    report = json.loads(pathlib.Path(report_path).read_text(encoding="utf-8"))
    manifest = json.loads((PACKAGE_DIR / "manifest.json").read_text(encoding="utf-8"))
    lines = [
        "## pretrained_reevaluation: the cards with the exact Bernoulli draw (issue 28)",
        "",
        "Regenerated by `python benchmarks/pretrained.py changes --report FILE` from "
        "the report of `python benchmarks/pretrained.py evaluate all --report FILE` "
        "(`benchmarks/runs/reevaluation_issue28.json`). Every card's protocol and seed "
        "as before (MNIST: K=5,000 on all 10,000 validation images, seed 1; ELBO 100 "
        "draws, seed 2; digits: exact); only the draw changed: up to issue 28 a unit "
        "whose probability was below 2^-23 came on at rate 2^-23, whose importance "
        "weight then dominated the estimate, so every importance-sampled figure was "
        "too good. Positive change: the model is worse than its card said. The "
        "digits model's NLL is exact and did not move.",
        "",
        "| name | val. NLL before | val. NLL after | change | s.e. | val. ELBO before "
        "| after | published | at or below published | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in sorted(report.items()):
        before, after = entry["before"], entry["after"]
        card = manifest["models"][name]["card"]
        published = card["published_nll"]
        met = _verdict(after["validation_nll"], published)
        stderr = "—" if entry["stderr"] is None else f"{entry['stderr']:.2f}"
        lines.append(
            f"| `{name}` | {before['validation_nll']:.2f} | {after['validation_nll']:.2f} "
            f"| {after['validation_nll'] - before['validation_nll']:+.3f} | {stderr} "
            f"| {-before['validation_elbo']:.2f} | {-after['validation_elbo']:.2f} "
            f"| {'—' if published is None else published} | {met} | {entry['seconds']:.0f} |")
    _common.write_section(results, "pretrained_reevaluation", "\n".join(lines))
    print("\n".join(lines))


def table(results):
    """Writes the RESULTS.md section `pretrained`: one line per shipped model."""
    manifest = json.loads((PACKAGE_DIR / "manifest.json").read_text(encoding="utf-8"))
    lines = [
        "## pretrained: the models tfhm ships (`tfhm.pretrained`)",
        "",
        "Regenerated by `python benchmarks/pretrained.py table` from "
        "`tfhm/pretrained/manifest.json`. Validation NLL in nats (lower is "
        "better) with each card's protocol: MNIST models K=5,000 importance "
        "samples on all 10,000 validation images, the digits model exact. "
        "`published` is the paper's test-set figure for the same model and "
        "algorithm. Wall time is the training's, on the machine the card names "
        "(shared with other work while it ran; see the card's command and "
        "the row's state.json).",
        "",
        "| name | model | algorithm | epochs | wall time | val. NLL | val. ELBO "
        "| published | at or below published |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in sorted(manifest["models"].items()):
        card = entry["card"]
        published = card["published_nll"]
        met = _verdict(card["validation_nll"], published)
        source = "—" if published is None else f"{published} ({card['published_source']})"
        lines.append(
            f"| `{name}` | {card['title']} | {card['algorithm']}, K={card['num_samples']} "
            f"| {card['epochs']} | {card['train_seconds'] / 3600:.2f} h "
            f"| {card['validation_nll']:.2f} | {-card['validation_elbo']:.2f} "
            f"| {source} | {met} |")
    _common.write_section(results, "pretrained", "\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["digits", "row", "table", "evaluate", "changes"])
    parser.add_argument("--results", default=str(_common.DEFAULT_RESULTS),
                        help="for `table`: the Markdown file to write")
    parser.add_argument("folder", nargs="*",
                        help="for `row`: the row's run folder; for `evaluate`: model "
                             "names or 'all'")
    parser.add_argument("--data", default=_common.DEFAULT_DATA,
                        help="for `evaluate`: binarized MNIST .npz (default: %(default)s)")
    parser.add_argument("--report", default=None,
                        help="for `evaluate`: a JSON file of the figures before and after")
    args = parser.parse_args(argv)
    if args.what == "digits":
        train_digits()
    elif args.what == "table":
        table(args.results)
    elif args.what == "changes":
        if not args.report:
            parser.error("`changes` needs --report FILE, the report of `evaluate`")
        changes_section(args.report, args.results)
    elif args.what == "evaluate":
        if not args.folder:
            parser.error("`evaluate` needs model names or 'all'")
        evaluate_cards(args.folder, args.data, args.report)
    elif len(args.folder) != 1:
        parser.error("`row` needs one run folder, e.g. benchmarks/runs/sbn200x3_rws5; "
                     f"received {args.folder}")
    else:
        package_row(args.folder[0])


if __name__ == "__main__":
    main()
