"""Exports a training run for TF Serving (the same as `tfhm export`).

  python export/export.py RUN --out DIR [--version 1]
      [--max-num-samples N] [--max-rows N] [--overwrite]        (or --run RUN)

writes DIR/generator/VERSION and DIR/recognizer/VERSION from the run's model
with `tfhm.export.export_model`; the limits default to what fits a 4 MiB
gRPC response. See export/README.md. Exit status as every
`tfhm` command: 0 done, 2 bad input (e.g. the version exists), 1 failure.
"""

import sys
from collections.abc import Sequence

import tfhm.cli


def main(argv: Sequence[str] | None = None) -> int:
    """`tfhm export ARGV...`: its exit status (0 done, 2 refused, 1 failed).

    Args:
      argv: the arguments after `export` (default `sys.argv[1:]`): `RUN` (or
        `--run RUN`), `--out`, `--version`, `--max-num-samples`,
        `--max-rows`, `--overwrite`.
    """
    return tfhm.cli.main(["export", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
