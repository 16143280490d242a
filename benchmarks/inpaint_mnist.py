"""Inpainting the bottom half of binarized MNIST validation digits.

  python benchmarks/inpaint_mnist.py                       # SBN 200-200-200 (RWS K=5)
  python benchmarks/inpaint_mnist.py --model pretrained:digits_rws_16   # 8x8 digits

Hides the bottom half (rows 14-27) of the first `--images` validation digits
and prints the conditional log-likelihood per missing pixel,
`sum_i log p(x_mis,i | x_obs,i) / (missing pixels)` in nats
(`tfhm.inpainting.conditional_log_likelihood`, importance resampling with the
recognizer as proposal), for each K of `--num-proposals`, beside two
numbers that ignore the observed half: independent pixels with the
training set's pixel means, and the model's own marginal `log p(x_mis)` of
the bottom half (`hm.log_likelihood_observed` with the bottom half as the
observed part). Then writes a picture of the first `--show` digits: data,
observed half (grey = hidden), `--num-samples` completions.

The model file is copied to a temporary file before it is read, so a
training run that rewrites it is never disturbed.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import _common  # noqa: E402

DEFAULT_MODEL = "benchmarks/runs/sbn200x3_rws5/best.keras"


def _load(model):
    import tfhm

    if model.startswith("pretrained:"):
        return tfhm.pretrained.load(model.split(":", 1)[1]), model
    with tempfile.TemporaryDirectory() as folder:
        copy = os.path.join(folder, "model.keras")
        shutil.copyfile(_common.resolve(model), copy)
        return tfhm.load_model(copy), model


def _data(args, data_dim):
    import tfhm

    if data_dim == 64:
        x_train, x_valid = tfhm.datasets.load_digits()
        return x_train, x_valid, "digits (8x8) validation"
    archive = np.load(_common.resolve(args.data))
    return (archive["x_train"].astype(np.float32), archive["x_valid"].astype(np.float32),
            f"binarized MNIST validation ({args.data})")


def _pixel_baseline(x_train, x, mask):
    """log p(x_mis) per missing pixel of independent pixels (training means)."""
    p = np.clip(x_train.mean(axis=0), 1e-3, 1 - 1e-3)  # [D]
    log_p = x * np.log(p) + (1 - x) * np.log(1 - p)
    return float(log_p[~mask].sum() / (~mask).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="a .keras file or pretrained:NAME (default: %(default)s)")
    parser.add_argument("--data", default=_common.DEFAULT_DATA,
                        help="binarized MNIST .npz (default: %(default)s)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--num-proposals", default="50,250",
                        help="comma-separated K values, draws per row and PMC round "
                        "(default: %(default)s)")
    parser.add_argument("--num-samples", type=int, default=8, help="completions drawn")
    parser.add_argument("--show", type=int, default=10, help="digits in the picture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="inpaint_mnist.png", help="the picture (PNG)")
    args = parser.parse_args()

    from tfhm import inpainting, plotting

    hm, name = _load(args.model)
    x_train, x_valid, description = _data(args, hm.data_dim)
    x = x_valid[:args.images]
    mask = inpainting.region_mask("bottom", len(x), hm.data_dim)
    missing = int((~mask).sum())
    print(f"model {name}: latent_dims {hm.latent_dims}; data {description}, "
          f"{len(x)} images, bottom half hidden ({missing // len(x)} pixels each)")
    print(f"baseline, independent pixels (training means): "
          f"{_pixel_baseline(x_train, x, mask):.4f} nats per missing pixel")
    for k in [int(v) for v in args.num_proposals.split(",")]:
        start = time.perf_counter()
        conditional = inpainting.conditional_log_likelihood_checked(
            hm, x, mask, k, seed=args.seed).numpy()
        # The bottom half alone observed: the model's marginal log p(x_mis),
        # what the conditional gains on by seeing the top half.
        marginal = hm.log_likelihood_observed(x, ~mask, num_proposals=k,
                                              seed=args.seed).numpy()
        print(f"K={k}: log p(x_mis | x_obs) = {conditional.sum() / missing:.4f} nats "
              f"per missing pixel ({conditional.mean():.2f} per image); model's "
              f"unconditional log p(x_mis) = {marginal.sum() / missing:.4f} "
              f"({time.perf_counter() - start:.0f} s)")
    shown = x[:args.show]
    k = int(args.num_proposals.split(",")[-1])
    completions = hm.inpaint(shown, mask[:args.show], num_samples=args.num_samples,
                             num_proposals=k, seed=args.seed).numpy()
    title = (f"Bottom half of {len(shown)} validation digits hidden. Each row: data, "
             f"observed (grey = hidden), {args.num_samples} completions "
             f"x_mis ~ p(x_mis | x_obs) (0/1 samples, K = {k})")
    grid = inpainting.inpainting_grid(shown, mask[:args.show], completions, title=title)
    plotting.save_png(grid, args.out, title=title)
    print(f"picture: {args.out} ({grid.shape[1]} x {grid.shape[0]} pixels)")


if __name__ == "__main__":
    main()
