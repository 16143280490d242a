"""Helpers shared by the benchmark scripts: data, threads, provenance, RESULTS.md.

The scripts are run from anywhere as `python benchmarks/<name>.py`; paths
given relative (the data, the run folders) are resolved from the repository
root, so the commands written into RESULTS.md are the same on every machine.
"""

import datetime
import os
import pathlib
import platform
import re
import shlex
import subprocess
import sys

import numpy as np

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = "../shared/data/binarized_mnist.npz"
DEFAULT_RESULTS = "benchmarks/RESULTS.md"
DATA_DIM = 784
# The Keras dtype policies the scripts accept (`--dtype-policy`).
DTYPE_POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")

__all__ = [
    "DEFAULT_DATA",
    "DEFAULT_RESULTS",
    "add_common_args",
    "command_line",
    "configure_dtype_policy",
    "configure_threads",
    "git_commit",
    "load_data",
    "machine_description",
    "resolve",
    "utc_now",
    "write_section",
]


def resolve(path):
    """`path` if absolute, else relative to the repository root."""
    path = pathlib.Path(path)
    return path if path.is_absolute() else REPO_ROOT / path


def add_common_args(parser, dtype_policy=True):
    """Adds --data, --synthetic, --threads, --results and --dtype-policy.

    `dtype_policy=False` leaves out `--dtype-policy`, for a script that
    compares several policies in one run (throughput.py's `--dtype-policies`).
    """
    parser.add_argument(
        "--data", default=DEFAULT_DATA,
        help="binarized MNIST .npz (x_train, x_valid); relative paths are "
             "from the repository root (default: %(default)s)")
    parser.add_argument(
        "--synthetic", action="store_true",
        help="use small random 784-dim binary data instead of --data "
             "(for smoke tests on machines without the data set)")
    parser.add_argument(
        "--threads", type=int, default=0,
        help="TensorFlow intra-op threads (and torch threads); 0 = all cores")
    parser.add_argument(
        "--results", default=DEFAULT_RESULTS,
        help="Markdown file whose section this script rewrites; '' to skip "
             "(default: %(default)s)")
    if dtype_policy:
        parser.add_argument(
            "--dtype-policy", default="float32", choices=DTYPE_POLICIES,
            help="Keras dtype policy of tfhm's models: mixed_bfloat16 computes "
                 "the layers in bfloat16, while logits, log-densities, "
                 "importance weights, losses, variables and optimizer slots "
                 "stay float32 (default: %(default)s)")


def configure_dtype_policy(policy):
    """Makes `policy` the Keras global dtype policy of the models built next."""
    import keras  # pylint: disable=g-import-not-at-top

    if policy not in DTYPE_POLICIES:
        raise ValueError(f"dtype policy must be one of {DTYPE_POLICIES}; "
                         f"received {policy!r}")
    keras.config.set_dtype_policy(policy)


def configure_threads(threads):
    """Sets TensorFlow's thread pools; must run before TensorFlow executes."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def load_data(args, num_train=2000, num_valid=500):
    """`(x_train, x_valid)` float32 `[n, 784]`: MNIST or synthetic.

    Synthetic data: each image picks one of 10 random 784-pixel prototypes
    (pixels on with probability 0.2) and flips each pixel with probability
    0.05, so that the models have some structure to learn.
    """
    if args.synthetic:
        rng = np.random.default_rng(0)
        protos = rng.random((10, DATA_DIM)) < 0.2
        def draw(n):
            images = protos[rng.integers(0, 10, size=n)]
            return np.logical_xor(images, rng.random(images.shape) < 0.05
                                  ).astype(np.float32)
        return draw(num_train), draw(num_valid)
    import tfhm  # pylint: disable=g-import-not-at-top

    path = resolve(args.data)
    if not path.exists():
        sys.exit(f"No data at {path} (pass --data PATH, or --synthetic for "
                 "a smoke test).")
    data = tfhm.datasets.load_binarized_mnist(path)
    return data["x_train"], data["x_valid"]


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


_COMMIT = None


def git_commit():
    """Short hash of HEAD at the first call, `+dirty` if the code that runs differs.

    The first call fixes the answer for the whole process, so a run that
    lasts hours reports the commit it started on. `tfhm/` counts only when
    the imported `tfhm` is this repository's (not an installed copy).
    """
    global _COMMIT  # pylint: disable=global-statement
    if _COMMIT is not None:
        return _COMMIT

    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=REPO_ROOT, capture_output=True,
                              text=True, check=False).stdout.strip()

    # RESULTS.md is rewritten by the runs themselves: not a code change.
    paths = ["benchmarks", ":(exclude)" + DEFAULT_RESULTS]
    tfhm = sys.modules.get("tfhm")
    outside = tfhm is not None and not pathlib.Path(
        tfhm.__file__).resolve().is_relative_to(REPO_ROOT)
    if not outside:
        paths.append("tfhm")
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *paths)
    _COMMIT = (commit + ("+dirty" if dirty else "")
               + (" (tfhm imported from outside this checkout)" if outside else ""))
    return _COMMIT


def command_line():
    """The command that ran this script, as a user would type it."""
    script = pathlib.Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO_ROOT)
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script))]
                    + [shlex.quote(a) for a in sys.argv[1:]])


def machine_description():
    """CPU model and core count, e.g. 'Intel Xeon ... (2 cores), Linux'."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} cores), {platform.system()}"


def write_section(results, name, body):
    """Replaces the `name` section of the Markdown file `results`.

    The section lies between `<!-- BEGIN name -->` and `<!-- END name -->`;
    it is appended if absent, and the file created if missing.
    """
    if not results:
        return
    path = resolve(results)
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = (text.rstrip() + "\n\n" if text else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
