"""Exports a training run for TF Serving (the same as `tfhm export`).

  python export/export.py --run RUN --out DIR [--version 1]
      [--max-num-samples 10000] [--overwrite]

writes DIR/generator/VERSION and DIR/recognizer/VERSION from RUN/model.keras
with `tfhm.export.export_model`; see export/README.md.
"""

import sys

from tfhm.export import export_cli

if __name__ == "__main__":
    sys.exit(export_cli())
