"""Exports a training run for TF Serving (the same as `tfhm export`).

  python export/export.py RUN --out DIR [--version 1]
      [--max-num-samples N] [--max-rows N] [--overwrite]        (or --run RUN)

writes DIR/generator/VERSION and DIR/recognizer/VERSION from the run's model
with `tfhm.export.export_model`; the limits default to what fits a 4 MiB
gRPC response. See export/README.md. Exit status as every
`tfhm` command: 0 done, 2 bad input (e.g. the version exists), 1 failure.
"""

import sys

from tfhm.export import export_cli

if __name__ == "__main__":
    sys.exit(export_cli())
