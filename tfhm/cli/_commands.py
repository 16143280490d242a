"""`tfhm evaluate`, `sample`, `inpaint` and `export`: commands on a finished run.

Each takes the run folder positionally (or as `--run RUN`) and reads it
through `tfhm.run_dir.RunDir`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tfhm import _io, datasets
from tfhm.cli._parser import UsageError
from tfhm.run_dir import MissingRunFileError, RunDir

__all__ = ["cmd_evaluate", "cmd_export", "cmd_inpaint", "cmd_sample"]


def _saved_config(run: RunDir) -> dict[str, Any]:
    try:
        return run.read_config()
    except MissingRunFileError:  # a folder holding only a model: still usable
        return {}


def _is_pretrained(source: str) -> bool:
    from tfhm import pretrained

    return source.startswith(pretrained.PREFIX)


def _load(source: str) -> tuple[Any, dict[str, Any]]:
    """`(model, saved run config)` of a RUN argument: a run folder or pretrained:NAME.

    A shipped model (`tfhm.pretrained`) has no run folder; its config names
    the data it was trained on when tfhm ships that data (the digits), so
    `tfhm evaluate pretrained:NAME` scores it on its own validation split.
    """
    from tfhm import pretrained

    if not _is_pretrained(source):
        run = RunDir(source)
        return run.load_model(), _saved_config(run)
    name = source[len(pretrained.PREFIX):]
    try:
        model = pretrained.load(name)
        card = pretrained.card(name)
    except ValueError as error:
        raise UsageError(f"{source}: {error}") from None
    digits = card["dataset"].startswith("scikit-learn digits")
    return model, ({"data": "digits", "train": {"seed": 0}} if digits else {})


def _split(args: argparse.Namespace, model: Any, saved: dict[str, Any]) -> tuple[Any, str]:
    """`(x, description)`: `--split` of `--data`, default the run's own data."""
    if args.data is None and "data" not in saved and _is_pretrained(args.run):
        raise UsageError(f"{args.run} was trained on data tfhm does not ship: pass "
                         "--data, e.g. --data mnist:PATH for binarized MNIST.")
    spec = args.data or saved.get("data", "digits")
    # The run's own seed chose the held-out rows of npy: data: the same rows.
    data_seed = saved.get("train", {}).get("seed", 0)
    # A run of tfhm 0.1.0 (a config without "hold_out") held out the last 10%.
    scheme = saved.get("hold_out", "last" if saved else "random")
    if args.split == "test":
        x, description = datasets.load_test_spec(spec)
    else:
        x_train, x_valid, description = datasets.load_spec(spec, seed=data_seed,
                                                           hold_out_scheme=scheme)
        x = x_valid if args.split == "valid" else x_train
    if x.shape[1] != model.data_dim:
        raise UsageError(
            f"--data {spec}: the model of {args.run!r} has data_dim="
            f"{model.data_dim}. Received: data with {x.shape[1]} pixels")
    return x, description


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Prints JSON: ELBO, importance-sampled log-likelihood, ESS, exact log p(x).

    The importance-sampled numbers are those of
    `tfhm.evaluation.evaluate_examples(model, x, K, seed=--seed)`: the means
    of the per-example estimates `hm.log_likelihood(x, num_samples=K,
    seed=--seed)` returns, each with its standard error over the examples
    (`*_standard_error`, also printed as "mean +- error" on stderr).
    `--per-example FILE.npy` writes the per-example values as a structured
    array (fields `elbo`, `log_likelihood`, `ess`, and `exact_log_likelihood`
    when the latent space can be enumerated).
    """
    from tfhm.cli._tensorflow import load_tensorflow

    if args.per_example is not None:
        _check_out_file(args.per_example, args.overwrite, ".npy", "--per-example")
    load_tensorflow(args.verbose)
    from tfhm import evaluation

    model, saved = _load(args.run)
    x, description = _split(args, model, saved)
    if not args.quiet:
        print(f"tfhm evaluate: {len(x)} examples, K={args.num_samples} ...",
              file=sys.stderr, flush=True)
    summary = evaluation.evaluate_examples(
        model, x, args.num_samples, seed=args.seed,
        progress=False if args.quiet else "auto")
    result = {"run": args.run, "data": description, "split": args.split,
              "num_examples": int(len(x)), "num_samples": args.num_samples,
              "seed": args.seed}
    for key in evaluation.ESTIMATES:
        result[key] = summary["mean"][key]
        result[f"{key}_standard_error"] = summary["standard_error"][key]
    per_example = dict(summary["per_example"])
    bits = model.num_latent_bits
    if bits <= evaluation.MAX_EXACT_LATENT_BITS:
        per_example["exact_log_likelihood"] = model.exact_log_likelihood(x).numpy()
        mean, error = evaluation.mean_and_standard_error(
            per_example["exact_log_likelihood"])
        result["exact_log_likelihood"] = mean
        result["exact_log_likelihood_standard_error"] = error
    else:
        result["exact_log_likelihood"] = None
        result["exact_note"] = (
            f"{bits} latent bits: more than MAX_EXACT_LATENT_BITS="
            f"{evaluation.MAX_EXACT_LATENT_BITS}, enumeration skipped")
    if args.per_example is not None:
        _write_per_example(args.per_example, per_example)
        result["per_example"] = args.per_example
    if not args.quiet:
        print(_error_bars(result), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))
    return 0


def _error_bars(result: dict[str, Any]) -> str:
    """One line: each estimate as "mean ± standard error" in nats."""
    parts = [f"log-likelihood {result['log_likelihood']:.2f} ± "
             f"{result['log_likelihood_standard_error']:.2f} nats (K={result['num_samples']})",
             f"ELBO {result['elbo']:.2f} ± {result['elbo_standard_error']:.2f}"]
    if result.get("exact_log_likelihood") is not None:
        parts.append(f"exact {result['exact_log_likelihood']:.2f} ± "
                     f"{result['exact_log_likelihood_standard_error']:.2f}")
    return (f"tfhm evaluate: {', '.join(parts)}; mean ± standard error over "
            f"{result['num_examples']} examples of the {result['split']} split")


def _write_per_example(path: str, columns: dict[str, Any]) -> None:
    """Writes the per-example values as one structured `.npy` array, atomically."""
    import numpy as np

    table = np.zeros(len(columns["elbo"]), dtype=[(key, np.float32) for key in columns])
    for key, values in columns.items():
        table[key] = values
    with _io.atomic_write(path, "wb") as handle:
        np.save(handle, table, allow_pickle=False)


def _check_out_file(out: str, overwrite: bool, suffix: str, flag: str) -> None:
    """Refuses an output file before anything runs: suffix, folder, existing file."""
    folder = os.path.dirname(os.path.abspath(out))
    if not out.lower().endswith(suffix):
        raise UsageError(f"{flag} must name a {suffix} file. Received: {out!r}")
    if not os.path.isdir(folder):
        raise UsageError(f"{flag} {out!r}: no folder {folder!r}.")
    if os.path.isdir(out):
        raise UsageError(f"{flag} {out!r} is a folder, not a file.")
    if os.path.exists(out) and not overwrite:
        raise UsageError(f"{flag} {out!r} already exists. Pass --overwrite to "
                         "replace it, or choose another file.")
    _io.check_can_write(out, flag)


def _shape(args: argparse.Namespace, model: Any) -> tuple[int, int]:
    """`--image-shape`, checked against the model's data_dim (or the default)."""
    from tfhm import plotting

    try:
        return plotting.image_shape(model.data_dim, args.image_shape)
    except ValueError:
        height, width = args.image_shape
        raise UsageError(
            f"--image-shape {height},{width}: {height} x {width} = {height * width} "
            f"pixels, but the model of {args.run!r} has data_dim={model.data_dim}."
            ) from None


def cmd_sample(args: argparse.Namespace) -> int:
    """Writes a PNG grid of generated images (titled, unless --no-title)."""
    from tfhm import plotting
    from tfhm.cli._tensorflow import load_tensorflow

    _check_out_file(args.out, args.overwrite, ".png", "--out")
    load_tensorflow(args.verbose)
    model, _ = _load(args.run)
    grid = plotting.sample_grid(model, args.n, args.seed, binary=args.binary,
                                cols=args.cols, scale=args.scale,
                                title=not args.no_title, shape=_shape(args, model))
    plotting.save_png(grid, args.out, title=plotting.sample_title(args.n, args.binary))
    print(json.dumps({"out": args.out, "num_samples": args.n,
                      "height": int(grid.shape[0]), "width": int(grid.shape[1])}))
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    """Completes the hidden part of N images: a PNG grid and JSON on stdout.

    The JSON holds the conditional log-likelihood per missing pixel,
    `sum_i log p(x_mis,i | x_obs,i) / (missing pixels)` in nats
    (`tfhm.inpainting.conditional_log_likelihood`, K = --num-proposals).
    """

    from tfhm.cli._tensorflow import load_tensorflow

    _check_out_file(args.out, args.overwrite, ".png", "--out")
    load_tensorflow(args.verbose)
    from tfhm import inpainting, plotting

    model, saved = _load(args.run)
    x, description = _split(args, model, saved)
    if args.n > len(x):
        print(f"tfhm inpaint: warning: -n {args.n}, but the {args.split} split of "
              f"{description} has {len(x)} images: inpainting all {len(x)}.",
              file=sys.stderr, flush=True)
    x = x[:args.n]
    shape = _shape(args, model)
    mask = inpainting.region_mask(args.mask, len(x), model.data_dim, seed=args.seed,
                                  shape=shape)
    completions = model.inpaint(x, mask, num_samples=args.num_samples,
                                num_proposals=args.num_proposals, seed=args.seed)
    conditional = inpainting.conditional_log_likelihood_checked(
        model, x, mask, args.num_proposals, seed=args.seed).numpy()
    missing = int((~mask).sum())
    title = (f"Inpainting, {args.mask} hidden. Each row: data, observed (grey = "
             f"hidden), {args.num_samples} completions x_mis ~ p(x_mis | x_obs) "
             f"(0/1 samples, K = {args.num_proposals})")
    grid = inpainting.inpainting_grid(x, mask, completions.numpy(), scale=args.scale,
                                      title=title, shape=shape)
    plotting.save_png(grid, args.out, title=title)
    print(json.dumps({
        "out": args.out, "run": args.run, "data": description, "split": args.split,
        "num_images": int(len(x)), "mask": args.mask, "missing_pixels": missing,
        "num_samples": args.num_samples, "num_proposals": args.num_proposals,
        "seed": args.seed,
        "conditional_log_likelihood_per_missing_pixel":
            float(conditional.sum() / missing) if missing else None}, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Writes OUT/generator/VERSION and OUT/recognizer/VERSION (SavedModels)."""
    from tfhm.cli._tensorflow import load_tensorflow

    _io.check_can_write(args.out, "--out")
    load_tensorflow(args.verbose)
    try:
        from tfhm.export import DEFAULT_MAX_NUM_SAMPLES, DEFAULT_MAX_ROWS, export_model
    except ImportError as error:
        raise UsageError(
            "tfhm export needs the tfhm.export module, which this installation "
            f"does not provide ({error}).") from None
    limit = (DEFAULT_MAX_NUM_SAMPLES if args.max_num_samples is None
             else args.max_num_samples)
    source = _load(args.run)[0] if _is_pretrained(args.run) else RunDir(args.run)
    rows = DEFAULT_MAX_ROWS if args.max_rows is None else args.max_rows
    paths = export_model(source, args.out, args.version, max_num_samples=limit,
                         max_rows=rows, overwrite=args.overwrite)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
