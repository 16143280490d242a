"""The `tfhm` command line: train, evaluate, sample, inpaint, export.

  tfhm train [--data digits|bars|mnist:PATH|npy:PATH] [--latent-dims 16,8] ...
  tfhm evaluate RUN [--data ...] [--split valid|train|test] [--num-samples K]
                [--seed S] [--per-example FILE.npy]
  tfhm sample RUN -n 64 --out grid.png [--seed S] [--overwrite] [--image-shape H,W]
  tfhm inpaint RUN --mask bottom --out grid.png [--data ...] [-n N] [--num-samples S]
               [--num-proposals K] [--seed S] [--image-shape H,W]
  tfhm export RUN --out DIR [--version V]

`RUN` is a run folder written by `tfhm train` (`tfhm.run_dir.RunDir` names
its files); every command that reads one takes it positionally or as `--run
RUN`. `--data mnist:PATH` reads an `.npz` archive with the arrays `x_train`
and `x_valid` (optionally `x_test`), each `[n, 784]` of 0/1, or Larochelle's
`.amat` files; `npy:PATH` one `.npy` array `[examples, pixels]` of 0/1, of
which 10% are held out at random (seeded by the run's `--seed`).

One convention for every command:
- exit status 0: done (also `tfhm train --resume` of a finished run, which
  says "already complete" and changes nothing);
- exit status 2: bad input (an unknown option, a value out of range, a
  missing or malformed file, an output that exists or cannot be written):
  one line saying what was wrong, then `see 'tfhm CMD --help'`; nothing is
  started or written;
- exit status 1: a failure while running (training diverged, disk full);
- exit status 130: interrupted by Ctrl-C (`tfhm train` says where its last
  checkpoint is and how to `--resume`).

TensorFlow's C++ log lines are hidden unless `--verbose` is given (or
`TF_CPP_MIN_LOG_LEVEL` is set). Parsing imports no TensorFlow, so `--help`
and argument errors are fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tfhm.cli._tensorflow import load_tensorflow

__all__ = ["build_parser", "load_tensorflow", "main"]

EXIT_USAGE = 2  # bad input: nothing was started
EXIT_FAILURE = 1  # a failure while running
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


def build_parser():
    """The full `tfhm` parser (every subcommand); building it loads no TensorFlow."""
    from tfhm.cli._parser import build_parser as build

    return build()


def _is_usage_error(error: BaseException) -> bool:
    from tfhm.cli._parser import UsageError

    return isinstance(error, (UsageError, ValueError, FileExistsError,
                              FileNotFoundError, NotADirectoryError))


def _is_runtime_error(error: BaseException) -> bool:
    module = type(error).__module__ or ""
    return isinstance(error, (OSError, FloatingPointError)) or module.startswith("tensorflow")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) < 2000 else text[:2000] + " ..."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tfhm` console script; returns the exit status."""
    from tfhm.cli._parser import build_parser, resolve_run, subparser_error

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if extras:
        subparser_error(args.command, f"unrecognized arguments: {' '.join(extras)}")
    resolve_run(args)
    prog = f"tfhm {args.command}"
    try:
        return _handler(args.command)(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001  (classified below, else re-raised)
        if _is_usage_error(error):
            sys.stderr.write(f"{prog}: error: {_one_line(error)}\n")
            return EXIT_USAGE
        if isinstance(error, FloatingPointError):  # the run keeps its last checkpoint
            sys.stderr.write(f"{prog}: training stopped: {_one_line(error)}\n")
            return EXIT_FAILURE
        if _is_runtime_error(error):
            sys.stderr.write(f"{prog}: failed: {type(error).__name__}: "
                             f"{_one_line(error)}\n")
            return EXIT_FAILURE
        raise


def _handler(command: str):
    if command == "train":
        from tfhm.cli._train import cmd_train
        return cmd_train
    from tfhm.cli import _commands
    return {"evaluate": _commands.cmd_evaluate, "sample": _commands.cmd_sample,
            "inpaint": _commands.cmd_inpaint, "export": _commands.cmd_export}[command]
