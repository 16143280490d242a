"""`tfhm train`: train a Helmholtz machine into a run folder.

The run folder's files are named and written by `tfhm.run_dir.RunDir`; the
training loop is `tfhm.training.Trainer`. This module turns the parsed flags
into a `TrainConfig` (options not given: from the run resumed, else the
field's default), checks the output folder before anything is loaded, and at
the end writes the pictures and `metrics.json` and prints the model's
validation log-likelihood beside that of a mixture of Bernoullis fitted to
the same training data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Any

from tfhm import _io, datasets
from tfhm.cli._parser import MODEL_DEFAULTS, UsageError
from tfhm.run_dir import RunDir

__all__ = ["cmd_train", "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130  # the shell's status for a Ctrl-C (128 + SIGINT)
# Exact log-likelihood in metrics.json up to this many latent bits (2**20
# states: seconds on two CPU cores for a few hundred examples).
_EXACT_BITS_AFTER_TRAINING = 20


def _say(text: str) -> None:
    print(f"tfhm train: {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------- run folder
def _check_paths(args: argparse.Namespace) -> None:
    """Refuses an --out or --logdir where nothing can be written, before anything is made.

    Also refuses an --out that starts with `pretrained:`: later commands
    would read `pretrained:NAME` as the shipped model, not that folder.
    """
    from tfhm import pretrained

    if args.out.startswith(pretrained.PREFIX):
        raise UsageError(
            f"--out {args.out!r}: {pretrained.PREFIX}NAME names a model that ships "
            "with tfhm, so later commands would not read this folder; choose "
            "another --out (e.g. runs/NAME).")
    _io.check_can_write(args.out, "--out")
    if args.logdir is not None:
        _io.check_can_write(args.logdir, "--logdir")


def _make_out_folder(run: RunDir) -> None:
    try:
        os.makedirs(run.path, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out {run.path!r}: cannot create the folder: "
                         f"{error.strerror or error}") from None


def _load_tensorflow(args: argparse.Namespace) -> None:
    from tfhm.cli._tensorflow import load_tensorflow

    load_tensorflow(args.verbose)


def _check_run_folder(args: argparse.Namespace) -> RunDir:
    if args.out is None:
        if args.resume:
            raise UsageError("--resume needs --out RUN, the folder to resume.")
        args.out = os.path.join("runs", time.strftime("run-%Y%m%d-%H%M%S"))
    run = RunDir(args.out)
    if args.resume:
        if not os.path.isdir(args.out):
            raise UsageError(f"--resume: no run folder at {args.out!r}.")
        _check_paths(args)
        _load_tensorflow(args)  # the checkpoint check reads checkpoints
        run.check_resumable()
    else:
        _check_paths(args)
        run.check_new(args.overwrite, allow_other_files=False)
    return run


# ----------------------------------------------------------- the settings
def _train_config(args: argparse.Namespace, saved_train: dict[str, Any]) -> Any:
    """The TrainConfig: flags given, else the resumed run's values, else defaults."""
    from tfhm.cli._parser import TrainConfig, config_fields

    values = {}
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None) if field.name in config_fields() else None
        if given is not None:
            values[field.name] = given
        elif field.name in saved_train:
            values[field.name] = saved_train[field.name]
    return TrainConfig(**values)


def _resolve(args: argparse.Namespace, run: RunDir) -> Any:
    """Fills the model options and returns the TrainConfig (see `_train_config`)."""
    saved = run.read_config() if args.resume else {}
    # Runs of tfhm 0.1.0 held out the last 10% of npy: data (no "hold_out" key).
    args.hold_out = saved.get("hold_out", "last") if args.resume else "random"
    saved_model = saved.get("model", {})
    if args.data is None:
        args.data = saved.get("data", "digits")
    if args.dtype_policy is None:
        args.dtype_policy = saved.get("dtype_policy", "float32")
    for key, default in MODEL_DEFAULTS.items():
        if getattr(args, key) is None:
            value = saved_model.get(key, default)
            setattr(args, key, tuple(value) if isinstance(value, list) else value)
    return _train_config(args, saved.get("train", {}))


def _make_strategy(name: str) -> Any:
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise UsageError("--distribute multiworker needs the TF_CONFIG "
                             "environment variable (cluster and task).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


# ------------------------------------------------------------- the end
def _baseline(x_train: Any, x_valid: Any, metrics: dict[str, Any], config: Any,
              components: int, quiet: bool) -> dict[str, Any]:
    """The mixture of Bernoullis, fitted to x_train, scored on the model's data.

    The model's figure is its exact validation log-likelihood when it was
    computed (all of x_valid), else the importance-sampled one of the last
    epoch (the first `eval_max_examples` rows): the baseline is scored on
    the same rows. Nothing is selected on validation data.
    """
    from tfhm import baselines

    if "val_exact_log_likelihood" in metrics:
        rows, model, how = len(x_valid), metrics["val_exact_log_likelihood"], "exact"
    else:
        rows = len(x_valid) if config.eval_max_examples <= 0 else min(
            len(x_valid), config.eval_max_examples)
        model = metrics.get("val_log_likelihood")
        how = f"importance-sampled, K={config.eval_num_samples}"
    from tfhm.progress import ProgressBar

    if not quiet:
        _say(f"fitting the baseline, a mixture of {components} Bernoullis, to "
             f"{len(x_train)} training examples by EM (--baseline-components 0 "
             "skips it) ...")
    bar: list = []  # made at the first iteration, which knows the total

    def on_iteration(done: int, total: int) -> None:
        if not bar:
            bar.append(ProgressBar(total, "baseline EM iterations",
                                   enabled=False if quiet else "auto"))
        bar[0].update(done)

    started = time.perf_counter()
    mixture = baselines.fit_bernoulli_mixture(x_train, components, seed=config.seed,
                                              on_iteration=on_iteration)
    if bar:
        bar[0].close()
    return {"baseline": f"mixture of {components} Bernoullis",
            "baseline_val_log_likelihood": float(mixture.log_prob(x_valid[:rows]).mean()),
            "baseline_seconds": time.perf_counter() - started,
            "compared_val_examples": rows, "compared_model_val_log_likelihood": model,
            "compared_model_estimate": how}


def _comparison(metrics: dict[str, Any]) -> str:
    model, base = metrics["compared_model_val_log_likelihood"], metrics[
        "baseline_val_log_likelihood"]
    head = f"validation log-likelihood on {metrics['compared_val_examples']} examples: "
    baseline = (f"{metrics['baseline']} {base:.3f} nats (fitted to the same training "
                "data)")
    if model is None:
        return head + baseline + "; the model's was not measured (eval_max_examples=0)"
    verdict = "ahead of" if model > base else "behind"
    return (head + f"model {model:.3f} nats ({metrics['compared_model_estimate']}) vs "
            f"{baseline}: the model is {verdict} the baseline by "
            f"{abs(model - base):.3f} nats")


def _final_metrics(model: Any, x_valid: Any, history: list, seconds: float
                   ) -> dict[str, Any]:
    metrics = dict(history[-1]) if history else {}
    metrics["train_seconds"] = seconds
    if model.num_latent_bits <= _EXACT_BITS_AFTER_TRAINING:
        metrics["val_exact_log_likelihood"] = float(
            model.exact_log_likelihood(x_valid).numpy().mean())
    return metrics


def _write_pictures(model: Any, run: RunDir, x_valid: Any, history: list,
                    seed: int) -> None:
    from tfhm import _seeds, plotting

    stream = _seeds.stream(seed, "pictures")
    plotting.save_png(plotting.sample_grid(model, 64, stream, cols=8), run.samples_png,
                      title=plotting.sample_title(64, binary=False))
    plotting.save_png(plotting.reconstruction_grid(model, x_valid[:32], stream, cols=8),
                      run.reconstructions_png, title=plotting.RECONSTRUCTION_TITLE)
    plotting.plot_curves(history, run.curves_png)


def _interrupted(run: RunDir) -> int:
    latest = run.latest_checkpoint()
    if latest is None:
        _say("interrupted before the first checkpoint: nothing to resume; run the "
             "same command again to start over.")
    else:
        try:
            done = f" (epochs finished: {len(run.read_metrics())})"
        except (OSError, ValueError):
            done = ""
        _say(f"interrupted; the last checkpoint is {latest}{done}. "
             f"Continue with: tfhm train --resume --out {run.path}")
    return EXIT_INTERRUPTED


# ------------------------------------------------------------ the command
def _build(args: argparse.Namespace, run: RunDir, config: Any, x_train: Any) -> Any:
    """The model and its Trainer (TensorFlow is imported here)."""
    import keras

    from tfhm import training
    from tfhm.model import HelmholtzMachine

    strategy = _make_strategy(args.distribute)
    keras.config.set_dtype_policy(args.dtype_policy)
    scope = strategy.scope() if strategy is not None else _NullScope()
    with scope:
        model = HelmholtzMachine(data_dim=x_train.shape[1], latent_dims=args.latent_dims,
                                 hidden_units=args.hidden_units,
                                 activation=args.activation, seed=config.seed,
                                 generator_conditional=args.generator_conditional,
                                 recognizer_conditional=args.recognizer_conditional)
    return training.Trainer(
        model, config, strategy=strategy, run_dir=run.path, logdir=args.logdir,
        verbose=0 if args.quiet else 1,
        run_info={"data": args.data, "dtype_policy": args.dtype_policy,
                  "hold_out": args.hold_out})


def cmd_train(args: argparse.Namespace) -> int:
    """Runs `tfhm train`; returns the exit status (0, or 130 on Ctrl-C)."""
    run = _check_run_folder(args)
    config = _resolve(args, run)
    x_train, x_valid, description = datasets.load_spec(
        args.data, seed=config.seed, hold_out_scheme=args.hold_out)
    _load_tensorflow(args)  # bad input above is reported without loading it
    _make_out_folder(run)
    trainer = _build(args, run, config, x_train)
    model = trainer.model
    if not args.quiet:
        _say(f"{description}: {len(x_train)} training and {len(x_valid)} validation "
             f"examples of {x_train.shape[1]} pixels; model {x_train.shape[1]}-"
             f"{'-'.join(map(str, model.latent_dims))} (hidden "
             f"{list(model.hidden_units)}), {config.algorithm}, K={model.num_samples}; "
             f"run folder {run.path}")
    started = time.perf_counter()
    try:
        history = trainer.fit(x_train, x_valid, resume=args.resume,
                              overwrite=args.overwrite)
    except KeyboardInterrupt:
        return _interrupted(run)
    seconds = time.perf_counter() - started
    if trainer.already_complete:  # the Trainer checked the settings, wrote nothing
        if args.quiet:  # else the Trainer has said so
            done = history[-1]["epoch"] if history else config.epochs
            _say(f"{run.path} is already complete ({done}/{config.epochs} epochs); "
                 "nothing was changed.")
        return 0
    if not trainer.is_chief:
        return 0
    _write_pictures(model, run, x_valid, history, config.seed)
    metrics = _final_metrics(model, x_valid, history, seconds)
    if args.baseline_components > 0:
        metrics.update(_baseline(x_train, x_valid, metrics, config,
                                 args.baseline_components, args.quiet))
    run.write_metrics_json(metrics)
    if args.baseline_components > 0:
        _say(_comparison(metrics))
    print(json.dumps({"run": run.path, **metrics}))
    return 0


class _NullScope:
    def __enter__(self) -> _NullScope:
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False
