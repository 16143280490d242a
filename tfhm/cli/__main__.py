"""`python -m tfhm.cli ...`: the same as the `tfhm` console script."""

import sys

from tfhm.cli import main

if __name__ == "__main__":
    sys.exit(main())
