"""Two trained runs on the same validation images, paired: which model is better, by how much.

Loads `model.keras` of each run folder (as `mnist_table.py` writes them) and
estimates log p(x) of the first `--images` validation images by importance
sampling with K = `--num-samples` draws of q and the same seed for both, and
the ELBO with 100 draws; prints each model's mean and the paired difference
with its standard error (the differences per image share the images, so
their spread is far below either model's own).

Issue 28 used it for the SBN 200-200-200 RWS row trained for the same 171
epochs with the floored draw and with the exact one:

  python benchmarks/compare_runs.py benchmarks/runs_issue28/floored/sbn200x3_rws5 \\
      benchmarks/runs_issue28/exact/sbn200x3_rws5
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import _common  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs=2, help="two run folders holding model.keras")
    parser.add_argument("--data", default=_common.DEFAULT_DATA,
                        help="binarized MNIST .npz (default: %(default)s)")
    parser.add_argument("--images", type=int, default=1000,
                        help="first N validation images (default: %(default)s)")
    parser.add_argument("--num-samples", type=int, default=5000,
                        help="K of the importance-sampled log p(x) (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of both estimates")
    args = parser.parse_args(argv)
    if args.images < 2 or args.num_samples < 1:
        parser.error("--images must be >= 2 and --num-samples >= 1. Received: "
                     f"{args.images}, {args.num_samples}")
    import tfhm  # pylint: disable=g-import-not-at-top

    x = tfhm.datasets.load_binarized_mnist(_common.resolve(args.data))["x_valid"][:args.images]
    chunks = range(0, len(x), 100)
    scores = {}
    for run in args.runs:
        hm = tfhm.load_model(_common.resolve(run) / "model.keras")
        start = time.perf_counter()
        ll = np.concatenate([hm.log_likelihood(x[i:i + 100], num_samples=args.num_samples,
                                               seed=args.seed).numpy() for i in chunks])
        elbo = np.concatenate([hm.elbo(x[i:i + 100], num_samples=100,
                                       seed=args.seed + 1).numpy() for i in chunks])
        scores[run] = ll.astype(np.float64)
        print(json.dumps({"run": run, "log_likelihood": round(float(ll.mean()), 3),
                          "standard_error": round(float(ll.std(ddof=1) / np.sqrt(len(ll))), 3),
                          "elbo": round(float(elbo.mean()), 3),
                          "seconds": round(time.perf_counter() - start, 1)}), flush=True)
    first, second = (scores[run] for run in args.runs)
    difference = second - first
    print(json.dumps({"second_minus_first": round(float(difference.mean()), 3),
                      "standard_error": round(float(difference.std(ddof=1)
                                                    / np.sqrt(len(difference))), 3),
                      "images": len(x), "num_samples": args.num_samples,
                      "seed": args.seed}))


if __name__ == "__main__":
    main()
