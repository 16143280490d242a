"""The argument parser of `tfhm`: one parser, one convention for every command.

- `train`'s training flags and their defaults are generated from the fields
  of `TrainConfig` (their `metadata`: `help`, `cli`, `flag`), so the command
  line and the Python API cannot disagree about a default.
- `evaluate`, `sample` and `export` take the run folder positionally; `--run
  RUN` is accepted as an alias.
- A bad argument prints one line and `see 'tfhm CMD --help'`, exit status 2.

Parsing imports neither TensorFlow nor Keras: `tfhm --help` and argument
errors are fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from tfhm import _checks, datasets
from tfhm.run_dir import RunDir
from tfhm.training.config import TrainConfig

__all__ = ["MODEL_DEFAULTS", "UsageError", "build_parser", "config_fields", "resolve_run",
           "subparser_error"]

# The model of `tfhm train` when no architecture is given: the main job's
# (digits; 16 latent bits, so its exact log-likelihood is reported at the end).
MODEL_DEFAULTS = {"latent_dims": (16,), "hidden_units": (64,), "activation": "tanh",
                  "generator_conditional": "sbn", "recognizer_conditional": "sbn"}
# The built-in conditionals (tfhm.conditionals.names(), without TensorFlow).
CONDITIONALS = ("sbn", "darn", "nade")
# Largest export version and served batch: they become int32 tensor sizes.
_INT32_MAX = 2**31 - 1


class UsageError(Exception):
    """Bad input found after parsing: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line plus where to find help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\nsee '{self.prog} --help'\n")


# ------------------------------------------------------------ value types
def _int_list(text: str) -> tuple[int, ...]:
    """Parses "200,200" into (200, 200); "" into ()."""
    text = text.strip()
    if not text:
        return ()
    try:
        return _checks.int_tuple("sizes", [int(part) for part in text.split(",")],
                                 allow_empty=True)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected comma-separated positive integers such as 200,200. "
            f"Received: {text!r}") from None


def _nonempty_int_list(text: str) -> tuple[int, ...]:
    values = _int_list(text)
    if not values:
        raise argparse.ArgumentTypeError(
            f"expected at least one latent layer size such as 200,200. Received: {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        return _checks.positive_int("value", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive int. Received: {text!r}") from None


def _non_negative_int(text: str) -> int:
    try:
        return _checks.int_in_range("value", int(text), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an int >= 0. Received: {text!r}") from None


def _image_shape(text: str) -> tuple[int, int]:
    """Parses "H,W" (two positive ints); the product is checked against the model."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHT,WIDTH, two positive ints such as 28,28. Received: {text!r}")
    return values


def _seed(text: str) -> int:
    """Parses a `--seed`: an int in [0, 2**31), the range of every seed of tfhm.

    The check is `_seeds.check_int_seed`'s rule, written without importing
    TensorFlow (`tfhm._seeds` imports it).
    """
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= _INT32_MAX:
        raise argparse.ArgumentTypeError(
            f"expected an int in [0, {_INT32_MAX}] (a seed out of range would wrap "
            f"around and repeat another seed's draws). Received: {text!r}")
    return value


def _mask_spec(text: str) -> str:
    """Checks "top", "bottom", "left", "right" or "random:P" (0 <= P <= 1).

    The syntax of `tfhm.inpainting.region_mask`, checked here without
    importing TensorFlow.
    """
    regions = ("top", "bottom", "left", "right")
    if text in regions:
        return text
    try:
        head, value = text.split(":", 1)
        if head == "random" and 0.0 <= float(value) <= 1.0:
            return text
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected {', '.join(regions)} or random:P with P in [0, 1] (the part of "
        f"every image that is hidden). Received: {text!r}")


def _data_spec(text: str) -> str:
    try:
        return datasets.check_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# -------------------------------------------- flags from TrainConfig fields
def config_fields() -> dict[str, dataclasses.Field]:
    """The `TrainConfig` fields `tfhm train` offers as flags (metadata `cli`)."""
    return {field.name: field for field in dataclasses.fields(TrainConfig)
            if field.metadata.get("cli", True)}


def _kind(field: dataclasses.Field) -> str:
    """"bool", "int", "float" or "str": the field's type, from its annotation."""
    annotation = field.type if isinstance(field.type, str) else getattr(
        field.type, "__name__", str(field.type))
    match = re.search(r"\b(bool|int|float|str)\b", annotation)
    return match.group(1) if match else "str"


def _field_type(name: str, kind: str) -> Callable[[str], Any]:
    """Parses a flag's text and checks it with `TrainConfig`'s own rules."""
    convert = {"int": int, "float": float, "str": str}[kind]
    zero_ok = kind != "str" and _accepts(name, convert(0))
    label = {"int": "int", "float": "float", "str": "value"}[kind]
    label = label if zero_ok or kind == "str" else f"positive {label}"
    article = "an" if label[0] in "aeiou" else "a"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
            TrainConfig(**{name: value})
        except ValueError as error:
            # "positive" says it all; else TrainConfig's rule says what was wrong.
            detail = "" if label.startswith("positive") else f" ({error})"
            raise argparse.ArgumentTypeError(
                f"expected {article} {label}. Received: {text!r}{detail}") from None
        return value

    parse.__name__ = label  # argparse names the type in some messages
    return parse


def _accepts(name: str, value: Any) -> bool:
    try:
        TrainConfig(**{name: value})
    except ValueError:
        return False
    return True


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `TrainConfig` field with `cli` metadata.

    Every flag defaults to None ("not given"): `tfhm train` then takes the
    value of the run being resumed, else the field's default, which the help
    text shows.
    """
    for name, field in config_fields().items():
        flag = field.metadata.get("flag") or "--" + name.replace("_", "-")
        text = _CLI_HELP.get(name, field.metadata.get("help", name))
        if field.default is not None and field.default is not False \
                and "(default" not in text:
            text += f" (default {field.default})"
        text = text.replace("%", "%%")
        kind = _kind(field)
        if kind == "bool":
            parser.add_argument(flag, dest=name, action="store_const", const=True,
                                default=None, help=text)
        elif "choices" in field.metadata:
            parser.add_argument(flag, dest=name, choices=field.metadata["choices"],
                                default=None, help=text)
        else:
            parser.add_argument(flag, dest=name, type=_field_type(name, kind),
                                default=None, metavar=name.upper(), help=text)


# Where `tfhm train` gives a field more meaning than the Trainer does.
_CLI_HELP = {
    "seed": "seeds the initial weights, every random draw of training and "
            "evaluation, the data order, the npy: hold-out and the pictures",
}


# ------------------------------------------------------------ subcommands
def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines (hidden by default)")
    return common


def _add_run(parser: argparse.ArgumentParser) -> None:
    """The run folder: positional, or `--run RUN` (alias)."""
    text = (f"run folder (holds {RunDir.MODEL}), or pretrained:NAME for a model that "
            "ships with tfhm (see tfhm.pretrained.names())")
    parser.add_argument("run", nargs="?", default=None, help=text)
    parser.add_argument("--run", dest="run_option", default=None, metavar="RUN",
                        help="the same as the positional RUN")


def _train_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    defaults = TrainConfig()
    train = commands.add_parser(
        "train", parents=[common], help="train a Helmholtz machine and write a run folder",
        description=(
            "Trains a Helmholtz machine and writes a run folder. With no options: "
            f"the embedded digits, latent layers "
            f"{'-'.join(map(str, MODEL_DEFAULTS['latent_dims']))} with "
            f"{MODEL_DEFAULTS['hidden_units'][0]} hidden units per conditional, "
            f"{defaults.algorithm}, {defaults.epochs} epochs. It ends by printing "
            "the validation log-likelihood beside that of a mixture of "
            "Bernoullis fitted to the same data. With --resume, options not "
            "given are taken from the run folder."))
    train.add_argument("--data", type=_data_spec, default=None,
                       help=datasets.DATA_SPEC_HELP.replace("%", "%%") + "; default digits")
    train.add_argument("--latent-dims", type=_nonempty_int_list, default=None,
                       help="latent layer sizes, bottom to top (default "
                       f"{','.join(map(str, MODEL_DEFAULTS['latent_dims']))})")
    train.add_argument("--hidden-units", type=_int_list, default=None,
                       help="hidden layers inside each conditional (default "
                       f"{','.join(map(str, MODEL_DEFAULTS['hidden_units']))}; "
                       "'' for a sigmoid belief net)")
    train.add_argument("--activation", default=None, help="activation of the hidden "
                       f"layers (default {MODEL_DEFAULTS['activation']})")
    for network, where in (("generator", "of p, its prior included"),
                           ("recognizer", "of q")):
        train.add_argument(f"--{network}-conditional", default=None, choices=CONDITIONALS,
                           help=f"the layers {where}: sbn (factorized, default), darn "
                                "or nade (autoregressive)")
    _add_config_flags(train)
    train.add_argument("--dtype-policy", default=None,
                       choices=["float32", "mixed_float16", "mixed_bfloat16"],
                       help="Keras dtype policy (log-densities stay float32)")
    train.add_argument("--distribute", default="none",
                       choices=["none", "mirrored", "multiworker"],
                       help="tf.distribute strategy: mirrored (all local GPUs) "
                       "or multiworker (needs TF_CONFIG)")
    train.add_argument("--out", default=None, help="run folder (default runs/run-DATE-TIME)")
    train.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out (a finished run "
                       "is left as it is)")
    train.add_argument("--overwrite", action="store_true",
                       help="allow --out to hold another run (files replaced, "
                       "checkpoints moved aside, nothing deleted)")
    train.add_argument("--logdir", default=None,
                       help="TensorBoard folder (scalars and images every epoch)")
    train.add_argument("--quiet", action="store_true",
                       help="no progress bar and no per-epoch lines")
    train.add_argument("--baseline-components", type=_non_negative_int, default=48,
                       metavar="C", help="at the end, fit a mixture of C Bernoullis to "
                       "the training data and print its validation log-likelihood "
                       "beside the model's (default 48; 0 skips it)")


def _run_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    _evaluate_parser(commands, common)
    sample = commands.add_parser("sample", parents=[common],
                                 help="a PNG grid of generated images")
    _add_run(sample)
    sample.add_argument("-n", type=_positive_int, default=64,
                        help="number of images (default 64)")
    sample.add_argument("--out", required=True, help="PNG file to write")
    sample.add_argument("--overwrite", action="store_true",
                        help="replace --out if it exists")
    sample.add_argument("--seed", type=_seed, default=0,
                        help="int in [0, 2**31) (default 0)")
    sample.add_argument("--binary", action="store_true",
                        help="0/1 samples instead of Bernoulli means")
    sample.add_argument("--cols", type=_positive_int, default=None)
    sample.add_argument("--scale", type=_positive_int, default=None,
                        help="pixels per data pixel (default: enough for a grid "
                        "about 400 pixels wide)")
    sample.add_argument("--no-title", action="store_true",
                        help="the bare grid, without the title band")
    _add_image_shape(sample)

    _inpaint_parser(commands, common)
    export = commands.add_parser(
        "export", parents=[common], help="export a run as SavedModels for TF Serving",
        description="Export a trained Helmholtz machine as generator and "
        "recognizer SavedModels in TF Serving's layout "
        "OUT/{generator,recognizer}/VERSION.")
    _add_run(export)
    export.add_argument("--out", required=True, help="base folder of the served models")
    export.add_argument("--version", type=int, default=1,
                        help="version folder to write (default 1)")
    export.add_argument("--max-num-samples", type=int, default=None,
                        help="largest num_samples a request may ask for "
                        "(default: as many as fit a 4 MiB gRPC response, see "
                        "export/README.md)")
    export.add_argument("--max-rows", type=int, default=None,
                        help="largest batch of rows of decode, encode and inpaint "
                        "(default: as many as fit a 4 MiB gRPC response)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an existing version folder")


def _evaluate_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    evaluate = commands.add_parser(
        "evaluate", parents=[common], help="ELBO and log-likelihoods of a trained run",
        description="Prints JSON: the ELBO, the importance-sampled "
        "log-likelihood and effective sample size with K draws (the means of "
        "hm.log_likelihood(x, num_samples=K, seed=SEED)), each with its "
        "standard error over the examples, and the exact log-likelihood when "
        "the latent space can be enumerated (tfhm.evaluation.evaluate_examples). "
        "On stderr: a progress bar on terminals and the line 'mean ± standard "
        "error'.")
    _add_run(evaluate)
    evaluate.add_argument("--data", type=_data_spec, default=None,
                          help="default: the data the run was trained on")
    evaluate.add_argument("--split", choices=["valid", "train", "test"], default="valid",
                          help="which split of --data (default valid; test needs an "
                          "mnist: file holding x_test)")
    evaluate.add_argument("--num-samples", type=_positive_int, default=1000,
                          help="K importance samples per example (default 1000)")
    evaluate.add_argument("--seed", type=_seed, default=0,
                          help="int in [0, 2**31) (default 0)")
    evaluate.add_argument("--per-example", default=None, metavar="FILE.npy",
                          help="also write the per-example values (a structured "
                          "array: elbo, log_likelihood, ess, exact_log_likelihood "
                          "when computed)")
    evaluate.add_argument("--overwrite", action="store_true",
                          help="replace --per-example if it exists")
    evaluate.add_argument("--quiet", action="store_true",
                          help="print only the JSON (no progress bar, no error-bar line)")


def _inpaint_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    inpaint = commands.add_parser(
        "inpaint", parents=[common], help="complete hidden parts of images (PNG grid)",
        description="Hides part of the first N images of a data split, draws "
        "completions of the hidden pixels from p(x_missing | x_observed) "
        "(hm.inpaint: importance resampling with the recognizer as proposal), "
        "writes a grid (data | observed | completions) and prints JSON with the "
        "conditional log-likelihood per missing pixel, log p(x_mis | x_obs) / "
        "pixels, estimated with the same K proposals.")
    _add_run(inpaint)
    inpaint.add_argument("--mask", type=_mask_spec, required=True,
                         help="the hidden part of every image: top, bottom, left or "
                         "right half, or random:P (each pixel hidden with "
                         "probability P, seeded by --seed)")
    inpaint.add_argument("--out", required=True, help="PNG file to write")
    inpaint.add_argument("--overwrite", action="store_true",
                         help="replace --out if it exists")
    inpaint.add_argument("--data", type=_data_spec, default=None,
                         help="default: the data the run was trained on")
    inpaint.add_argument("--split", choices=["valid", "train", "test"], default="valid",
                         help="which split of --data (default valid; test needs an "
                         "mnist: file holding x_test)")
    inpaint.add_argument("-n", type=_positive_int, default=8,
                         help="images, the first n of the split (default 8)")
    inpaint.add_argument("--num-samples", type=_positive_int, default=6,
                         help="completions per image (default 6)")
    inpaint.add_argument("--num-proposals", type=_positive_int, default=100,
                         help="K draws of q per image (default 100)")
    inpaint.add_argument("--seed", type=_seed, default=0,
                         help="int in [0, 2**31) (default 0)")
    inpaint.add_argument("--scale", type=_positive_int, default=None,
                         help="pixels per data pixel (default: a grid about 400 "
                         "pixels wide)")
    _add_image_shape(inpaint)


def _add_image_shape(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image-shape", type=_image_shape, default=None,
                        metavar="H,W", help="height and width of one image, "
                        "H * W = the model's data_dim (default: square if data_dim "
                        "is a square, else the most nearly square H x W)")


def build_parser() -> Parser:
    """The `tfhm` parser with its subcommands (`args.command` names the one used)."""
    parser = Parser(prog="tfhm")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=Parser)
    common = _common()
    _train_parser(commands, common)
    _run_parsers(commands, common)
    # Named from the subcommands themselves, so that the line lists them all.
    parser.description = f"Helmholtz machines: {', '.join(commands.choices)}."
    return parser


def resolve_run(args: argparse.Namespace) -> None:
    """Sets `args.run` from the positional RUN or `--run` (exactly one)."""
    if getattr(args, "run_option", None) is None and "run" not in vars(args):
        return
    given = [value for value in (args.run, args.run_option) if value is not None]
    if not given:
        subparser_error(args.command, "the run folder is required: tfhm "
                         f"{args.command} RUN (or --run RUN)")
    if len(given) == 2 and given[0] != given[1]:
        subparser_error(args.command, "two run folders given: "
                         f"{given[0]!r} and --run {given[1]!r}")
    args.run = given[0]


def subparser_error(command: str, message: str) -> NoReturn:
    prog = f"tfhm {command}"
    sys.stderr.write(f"{prog}: error: {message}\nsee '{prog} --help'\n")
    raise SystemExit(2)
