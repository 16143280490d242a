"""The `tfhm` command line: train, evaluate, sample, export.

  tfhm train [--data digits|bars|mnist:PATH|npy:PATH] [--latent-dims 16,8] ...
  tfhm evaluate RUN [--data ...] [--num-samples K]
  tfhm sample RUN -n 64 --out grid.png [--seed S]
  tfhm export ...            (see `tfhm export --help`)

A run folder RUN holds `config.json` (model, training settings, data),
`checkpoints/`, `model.keras` (rewritten atomically at every checkpoint),
`metrics.csv` (one row per epoch), `metrics.json` (the final metrics),
`samples.png`, `reconstructions.png` and `curves.png`.

Bad input (a missing or malformed data file, latent sizes that do not parse,
`--resume` without a checkpoint or with another architecture, an output
folder that holds another run) stops the command before training with a
message and exit status 2.
"""

import argparse
import json
import math
import os
import sys
import time

__all__ = ["main"]

_DEFAULT_MODEL = {"latent_dims": (32, 16), "hidden_units": (64,),
                  "activation": "tanh"}
_DEFAULT_TRAIN = {"data": "digits", "algorithm": "reweighted_wake_sleep",
                  "num_samples": 5, "epochs": 60, "batch_size": 100,
                  "lr_wake": 3e-3, "lr_sleep": 3e-3, "seed": 0}
# Exact log-likelihood in metrics.json / `evaluate` up to this many latent
# bits (2**24 states: tens of seconds on two CPU cores for 360 examples).
_EXACT_BITS_AFTER_TRAINING = 20
_RUN_FILES = ("config.json", "checkpoints", "model.keras", "metrics.csv",
              "metrics.json", "samples.png", "reconstructions.png", "curves.png")


class _UsageError(Exception):
    """Bad input found after parsing: reported like an argparse error (exit 2)."""


# ------------------------------------------------------------------ parsing
def _int_list(text):
    """Parses "200,200" into (200, 200); "" into ()."""
    text = text.strip()
    if not text:
        return ()
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = None
    if values is None or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            "expected comma-separated positive integers such as 200,200. "
            f"Received: {text!r}")
    return values


def _nonempty_int_list(text):
    values = _int_list(text)
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected at least one latent layer size such as 200,200. Received: {text!r}")
    return values


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0 or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}. Received: {text!r}")
        return value
    return parse


def _data_spec(text):
    name, _, path = text.partition(":")
    if name in ("digits", "bars") and not path:
        return text
    if name in ("mnist", "npy") and path:
        return text
    raise argparse.ArgumentTypeError(
        "expected digits, bars, mnist:PATH or npy:PATH. Received: " + repr(text))


def _load_data(spec):
    """`(x_train, x_valid, description)` for a --data value; `_UsageError` if bad."""
    import numpy as np  # pylint: disable=g-import-not-at-top

    from tfhm import _checks, datasets  # pylint: disable=g-import-not-at-top

    name, _, path = spec.partition(":")
    if name == "digits":
        x_train, x_valid = datasets.load_digits()
        return x_train, x_valid, "digits (8x8, scikit-learn)"
    if name == "bars":
        x_train, _ = datasets.make_bars(2000, seed=0)
        x_valid, _ = datasets.make_bars(500, seed=1)
        return x_train, x_valid, "bars (4x4, p=0.2)"
    if not os.path.exists(path):
        raise _UsageError(f"--data {spec}: no such file or folder: {path!r}")
    if name == "mnist":
        try:
            splits = datasets.load_binarized_mnist(path)
        except (ValueError, OSError) as error:
            raise _UsageError(f"--data {spec}: {error}") from None
        if "x_train" in splits:
            x_train = splits["x_train"]
            x_valid = splits.get("x_valid", splits.get("x_test"))
        else:
            x_train = splits.get("x", next(iter(splits.values())))
            x_valid = None
        if x_valid is None:
            x_train, x_valid = _split_tail(x_train)
        return x_train, x_valid, f"binarized MNIST from {path}"
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise _UsageError(f"--data {spec}: cannot read {path!r} as a .npy "
                          f"array: {error}") from None
    try:
        array = _checks.binary_array(array, name="x")
    except ValueError as error:
        raise _UsageError(f"--data {spec}: {error}") from None
    if array.shape[0] < 2:
        raise _UsageError(
            f"--data {spec}: expected at least 2 examples (one is held out). "
            f"Received: shape {array.shape}")
    x_train, x_valid = _split_tail(array)
    return x_train, x_valid, f"{path} (last 10% held out)"


def _split_tail(x):
    """The last 10% (at least one example) as validation data."""
    held = max(1, len(x) // 10)
    return x[:-held], x[-held:]


# ------------------------------------------------------------- run folder
def _holds_run(folder):
    return any(os.path.exists(os.path.join(folder, name))
               for name in ("config.json", "checkpoints"))


def _check_out_folder(out, resume, overwrite):
    if resume:
        if not os.path.isdir(out):
            raise _UsageError(f"--resume: no run folder at {out!r}.")
        if not os.path.exists(os.path.join(out, "config.json")) or not \
                os.path.exists(os.path.join(out, "checkpoints", "checkpoint")):
            raise _UsageError(
                f"--resume: {out!r} holds no tfhm checkpoint (expected "
                "config.json and checkpoints/checkpoint). Start a new run "
                "without --resume.")
        return
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise _UsageError(f"--out {out!r} exists and is not a folder.")
    entries = os.listdir(out)
    if not entries or overwrite:
        return
    if _holds_run(out):
        raise _UsageError(
            f"--out {out!r} holds another tfhm run. Continue it with --resume, "
            "choose another --out, or pass --overwrite to replace its files "
            "(its checkpoints are moved aside, nothing is deleted).")
    raise _UsageError(
        f"--out {out!r} is not empty ({len(entries)} entries, e.g. "
        f"{sorted(entries)[0]!r}). Choose a new or empty folder, or pass "
        f"--overwrite (tfhm then writes only its own files: "
        f"{', '.join(_RUN_FILES)}).")


def _saved_config(out):
    with open(os.path.join(out, "config.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _resolve_train_args(args):
    """Fills options not given: from the saved run with --resume, else defaults."""
    saved_model, saved_train, saved = {}, {}, {}
    if args.resume:
        saved = _saved_config(args.out)
        saved_model, saved_train = saved.get("model", {}), saved.get("train", {})
        if args.data is None:
            args.data = saved.get("data", _DEFAULT_TRAIN["data"])
        if args.dtype_policy is None:
            args.dtype_policy = saved.get("dtype_policy", "float32")
    for key, default in _DEFAULT_MODEL.items():
        if getattr(args, key) is None:
            value = saved_model.get(key, default)
            setattr(args, key, tuple(value) if isinstance(value, list) else value)
    for key, default in _DEFAULT_TRAIN.items():
        if getattr(args, key) is None:
            setattr(args, key, saved_train.get(key, default))
    if args.recognizer_update is None:
        args.recognizer_update = saved_train.get("recognizer_update")
    if args.checkpoint_every is None:
        args.checkpoint_every = saved_train.get("checkpoint_every_steps")
    if args.eval_samples is None:
        args.eval_samples = saved_train.get("eval_num_samples", 100)
    if args.dtype_policy is None:
        args.dtype_policy = "float32"
    return args


# ----------------------------------------------------------------- commands
def _make_strategy(name):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise _UsageError("--distribute multiworker needs the TF_CONFIG "
                              "environment variable (cluster and task).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def _final_metrics(model, x_valid, history, seconds):
    metrics = dict(history[-1]) if history else {}
    metrics["train_seconds"] = seconds
    if model.num_latent_bits <= _EXACT_BITS_AFTER_TRAINING:
        metrics["val_exact_log_likelihood"] = float(
            model.exact_log_likelihood(x_valid).numpy().mean())
    return metrics


def _cmd_train(args):
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from tfhm import plotting  # pylint: disable=g-import-not-at-top
    from tfhm import training  # pylint: disable=g-import-not-at-top
    from tfhm.model import HelmholtzMachine  # pylint: disable=g-import-not-at-top

    if args.out is None:
        if args.resume:
            raise _UsageError("--resume needs --out RUN, the folder to resume.")
        args.out = os.path.join("runs", time.strftime("run-%Y%m%d-%H%M%S"))
    _check_out_folder(args.out, args.resume, args.overwrite)
    args = _resolve_train_args(args)
    strategy = _make_strategy(args.distribute)
    x_train, x_valid, description = _load_data(args.data)
    config = training.TrainConfig(
        algorithm=args.algorithm, num_samples=args.num_samples,
        recognizer_update=args.recognizer_update, epochs=args.epochs,
        batch_size=args.batch_size, lr_wake=args.lr_wake,
        lr_sleep=args.lr_sleep, seed=args.seed, jit_compile=args.xla,
        eval_num_samples=args.eval_samples,
        checkpoint_every_steps=args.checkpoint_every)
    keras.config.set_dtype_policy(args.dtype_policy)
    scope = strategy.scope() if strategy is not None else _NullScope()
    with scope:
        model = HelmholtzMachine(data_dim=x_train.shape[1],
                                 latent_dims=args.latent_dims,
                                 hidden_units=args.hidden_units,
                                 activation=args.activation, seed=args.seed)
    verbose = 0 if args.quiet else 1
    trainer = training.Trainer(
        model, config, strategy=strategy, run_dir=args.out, logdir=args.logdir,
        verbose=verbose,
        run_info={"data": args.data, "dtype_policy": args.dtype_policy})
    if verbose:
        print(f"tfhm train: {description}: {len(x_train)} training and "
              f"{len(x_valid)} validation examples of {x_train.shape[1]} "
              f"pixels; model {x_train.shape[1]}-"
              f"{'-'.join(map(str, model.latent_dims))} (hidden "
              f"{list(model.hidden_units)}), {config.algorithm}, K="
              f"{model.num_samples}; run folder {args.out}", file=sys.stderr)
    started = time.perf_counter()
    history = trainer.fit(x_train, x_valid, resume=args.resume,
                          overwrite=args.overwrite)
    seconds = time.perf_counter() - started
    if not trainer.is_chief:
        return 0
    seed = tf.constant([args.seed, 1], tf.int32)
    plotting.save_png(plotting.sample_grid(model, 64, seed, cols=8),
                      os.path.join(args.out, "samples.png"))
    plotting.save_png(plotting.reconstruction_grid(model, x_valid[:32], seed, cols=8),
                      os.path.join(args.out, "reconstructions.png"))
    plotting.plot_curves(history, os.path.join(args.out, "curves.png"))
    metrics = _final_metrics(model, x_valid, history, seconds)
    path = os.path.join(args.out, "metrics.json")
    tmp = plotting.atomic_path(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    os.replace(tmp, path)
    print(json.dumps({"run": args.out, **metrics}))
    return 0


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _load_run(run):
    import keras  # pylint: disable=g-import-not-at-top

    import tfhm  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import  (registers the classes)

    path = os.path.join(run, "model.keras")
    if not os.path.exists(path):
        raise _UsageError(f"{run!r} is not a tfhm run folder: no model.keras in it.")
    return keras.models.load_model(path)


def _cmd_evaluate(args):
    import numpy as np  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from tfhm import diagnostics  # pylint: disable=g-import-not-at-top
    from tfhm import evaluation  # pylint: disable=g-import-not-at-top

    model = _load_run(args.run)
    spec = args.data
    if spec is None:
        config_path = os.path.join(args.run, "config.json")
        spec = (_saved_config(args.run).get("data", "digits")
                if os.path.exists(config_path) else "digits")
    x_train, x_valid, description = _load_data(spec)
    x = x_valid if args.split == "valid" else x_train
    if x.shape[1] != model.data_dim:
        raise _UsageError(
            f"--data {spec}: the model of {args.run!r} has data_dim="
            f"{model.data_dim}. Received: data with {x.shape[1]} pixels")
    seed = tf.constant([args.seed, 3], tf.int32)
    rows = max(1, min(len(x), 2**22 // (args.num_samples * max(
        (model.data_dim,) + model.latent_dims + model.hidden_units))))
    chunks = range(0, len(x), rows)
    bar = _progress_bar(args, len(chunks), f"evaluate K={args.num_samples}")
    parts = {"elbo": [], "log_likelihood": [], "ess": []}
    for i, start in enumerate(chunks):
        summary = diagnostics.importance_summary(
            model, x[start:start + rows], args.num_samples,
            tf.random.experimental.stateless_fold_in(seed, i))
        for key in parts:
            parts[key].append(summary[key])
        bar.update(i + 1, lambda: {k: float(np.concatenate(v).mean())
                                   for k, v in parts.items() if k != "ess"})
    bar.close()
    result = {"run": args.run, "data": description, "split": args.split,
              "num_examples": int(len(x)), "num_samples": args.num_samples}
    result.update({k: float(np.concatenate(v).mean()) for k, v in parts.items()})
    bits = model.num_latent_bits
    if bits <= evaluation.MAX_EXACT_LATENT_BITS:
        result["exact_log_likelihood"] = float(
            model.exact_log_likelihood(x).numpy().mean())
    else:
        result["exact_log_likelihood"] = None
        result["exact_note"] = (
            f"{bits} latent bits: more than MAX_EXACT_LATENT_BITS="
            f"{evaluation.MAX_EXACT_LATENT_BITS}, enumeration skipped")
    print(json.dumps(result, indent=2))
    return 0


def _progress_bar(args, total, description):
    """A ProgressBar that honours --quiet (and draws only on terminals)."""
    from tfhm.training import ProgressBar  # pylint: disable=g-import-not-at-top

    return ProgressBar(total, description,
                       enabled=False if args.quiet else "auto")


def _cmd_sample(args):
    from tfhm import plotting  # pylint: disable=g-import-not-at-top

    model = _load_run(args.run)
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise _UsageError(f"--out {args.out!r}: no folder {folder!r}.")
    if not args.out.lower().endswith(".png"):
        raise _UsageError(f"--out must name a .png file. Received: {args.out!r}")
    grid = plotting.sample_grid(model, args.n, args.seed, binary=args.binary,
                                cols=args.cols, scale=args.scale)
    plotting.save_png(grid, args.out)
    print(json.dumps({"out": args.out, "num_samples": args.n,
                      "height": int(grid.shape[0]), "width": int(grid.shape[1])}))
    return 0


def _cmd_export(argv):
    try:
        from tfhm.export import export_cli  # pylint: disable=g-import-not-at-top
    except ImportError as error:
        raise _UsageError(
            "tfhm export needs the tfhm.export module, which this installation "
            f"does not provide ({error}).") from None
    return export_cli(argv)


# ------------------------------------------------------------------- parser
def _parser():
    parser = argparse.ArgumentParser(
        prog="tfhm", description="Helmholtz machines: train, evaluate, sample, export.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train a Helmholtz machine and write a run folder",
        description="Trains a Helmholtz machine. With no options: the embedded "
        "digits, latent layers 32-16 with 64 hidden units per conditional, "
        "reweighted wake-sleep with K=5, 60 epochs. With --resume, options "
        "not given are taken from the run folder.")
    train.add_argument("--data", type=_data_spec, default=None,
                       help="digits (default), bars, mnist:PATH (.npz, .amat or a "
                       "folder of binarized_mnist_*.amat) or npy:PATH "
                       "([examples, pixels] of 0/1; the last 10%% held out)")
    train.add_argument("--latent-dims", type=_nonempty_int_list, default=None,
                       help="latent layer sizes, bottom to top (default 32,16)")
    train.add_argument("--hidden-units", type=_int_list, default=None,
                       help="hidden layers inside each conditional (default 64; "
                       "'' for a sigmoid belief net)")
    train.add_argument("--activation", default=None,
                       help="activation of the hidden layers (default tanh)")
    train.add_argument("--algorithm", default=None,
                       choices=["wake_sleep", "reweighted_wake_sleep"],
                       help="default reweighted_wake_sleep")
    train.add_argument("--recognizer-update", default=None,
                       choices=["sleep", "wake", "wake_sleep"],
                       help="default: sleep for wake-sleep, wake_sleep for RWS")
    train.add_argument("--num-samples", type=_positive(int), default=None,
                       help="K draws of q per example (default 5)")
    train.add_argument("--epochs", type=_positive(int), default=None,
                       help="total epochs (default 60)")
    train.add_argument("--batch-size", type=_positive(int), default=None,
                       help="global batch size (default 100)")
    train.add_argument("--lr-wake", type=_positive(float), default=None,
                       help="Adam learning rate of the generator (default 3e-3)")
    train.add_argument("--lr-sleep", type=_positive(float), default=None,
                       help="Adam learning rate of the recognizer (default 3e-3)")
    train.add_argument("--seed", type=int, default=None,
                       help="seeds weights, draws and data order (default 0)")
    train.add_argument("--xla", action="store_true",
                       help="compile the training step with XLA")
    train.add_argument("--dtype-policy", default=None,
                       choices=["float32", "mixed_float16", "mixed_bfloat16"],
                       help="Keras dtype policy (log-densities stay float32)")
    train.add_argument("--distribute", default="none",
                       choices=["none", "mirrored", "multiworker"],
                       help="tf.distribute strategy: mirrored (all local GPUs) "
                       "or multiworker (needs TF_CONFIG)")
    train.add_argument("--eval-samples", type=_positive(int), default=None,
                       help="K of the per-epoch validation log-likelihood (default 100)")
    train.add_argument("--checkpoint-every", type=_positive(int), default=None,
                       help="checkpoint every N steps (default: every epoch)")
    train.add_argument("--out", default=None,
                       help="run folder (default runs/run-DATE-TIME)")
    train.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out")
    train.add_argument("--overwrite", action="store_true",
                       help="allow --out to hold another run (files replaced, "
                       "checkpoints moved aside, nothing deleted)")
    train.add_argument("--logdir", default=None,
                       help="TensorBoard folder (scalars and images every epoch)")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar and no per-epoch lines")

    evaluate = commands.add_parser(
        "evaluate", help="ELBO and log-likelihoods of a trained run",
        description="Prints JSON: the ELBO, the importance-sampled "
        "log-likelihood and effective sample size with K draws, and the exact "
        "log-likelihood when the latent space can be enumerated.")
    evaluate.add_argument("run", help="run folder (holds model.keras)")
    evaluate.add_argument("--data", type=_data_spec, default=None,
                          help="default: the data the run was trained on")
    evaluate.add_argument("--split", choices=["valid", "train"], default="valid")
    evaluate.add_argument("--num-samples", type=_positive(int), default=1000,
                          help="K importance samples per example (default 1000)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = commands.add_parser("sample", help="a PNG grid of generated images")
    sample.add_argument("run", help="run folder (holds model.keras)")
    sample.add_argument("-n", type=_positive(int), default=64,
                        help="number of images (default 64)")
    sample.add_argument("--out", required=True, help="PNG file to write")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--binary", action="store_true",
                        help="0/1 samples instead of Bernoulli means")
    sample.add_argument("--cols", type=_positive(int), default=None)
    sample.add_argument("--scale", type=_positive(int), default=4,
                        help="pixels per data pixel (default 4)")

    commands.add_parser("export", help="export a run (see tfhm export --help)",
                        add_help=False)
    return parser


def main(argv=None):
    """Entry point of the `tfhm` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] == "export":
        try:
            return _cmd_export(argv[1:])
        except _UsageError as error:
            parser.exit(2, f"tfhm export: error: {error}\n")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    handlers = {"train": _cmd_train, "evaluate": _cmd_evaluate, "sample": _cmd_sample}
    try:
        return handlers[args.command](args)
    except (_UsageError, ValueError) as error:
        parser.exit(2, f"tfhm {args.command}: error: {error}\n")
    except FloatingPointError as error:  # training diverged: the run folder keeps its last checkpoint
        parser.exit(1, f"tfhm {args.command}: training stopped: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
