"""Sizes and latencies of the exported SavedModels.

Exports a model (a fresh "SBN 200-200-200" on 784 pixels by default, or a
training run with --run), prints the size of each SavedModel on disk, loads
both with `tf.saved_model.load` and prints the p50/p99 latency of
`sample(num_samples=100)` and of `encode` on a batch of 100, over --repeats
calls after a warm-up. Latency does not depend on the weights' values, so an
untrained model of the right shape measures the same as a trained one.

Usage:
  python export/benchmark.py [--run RUN] [--data-dim 784]
      [--latent-dims 200,200,200] [--hidden-units ""] [--batch 100]
      [--repeats 300]
"""

import argparse
import pathlib
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf


def _folder_bytes(path):
    return sum(p.stat().st_size for p in pathlib.Path(path).rglob("*") if p.is_file())


def _latency_ms(fn, repeats, warmup=10):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    times = np.array(times)
    return {"p50": float(np.percentile(times, 50)),
            "p99": float(np.percentile(times, 99)),
            "mean": float(times.mean())}


def run_benchmark(data_dim=784, latent_dims=(200, 200, 200), hidden_units=(),
                  batch=100, repeats=300, out=None, run=None, print_fn=print):
    """Exports, loads and times the served signatures.

    Args:
      data_dim, latent_dims, hidden_units: the architecture of a fresh model
        (ignored with `run`).
      batch: `num_samples` of `sample` and the batch size of `encode`.
      repeats: timed calls per signature.
      out: where to export (a temporary folder by default).
      run: a training run folder to export instead of a fresh model.
      print_fn: where the report lines go.

    Returns:
      A dict: `generator_bytes`, `recognizer_bytes`, `weights_bytes` (float32
      parameters of both networks) and, for `sample_ms`, `sample_seeded_ms`
      `encode_ms` and `encode_rows_ms` (the recognizer's default, a seed per
      row), `{"p50", "p99", "mean"}` in milliseconds.
    """
    import tfhm

    if run is not None:
        from tfhm.run_dir import RunDir
        model = RunDir(run).load_model()
        source = run
    else:
        model = tfhm.HelmholtzMachine(data_dim, latent_dims,
                                      hidden_units=hidden_units, seed=0)
        source = model
    with tempfile.TemporaryDirectory() as scratch:
        paths = tfhm.export.export_model(source, out or scratch)
        result = {
            "generator_bytes": _folder_bytes(paths["generator"]),
            "recognizer_bytes": _folder_bytes(paths["recognizer"]),
            "weights_bytes": 4 * (model.generator.count_params()
                                  + model.recognizer.count_params()),
        }
        generator = tf.saved_model.load(paths["generator"])
        recognizer = tf.saved_model.load(paths["recognizer"])
        sample = generator.signatures["serving_default"]
        encode = recognizer.signatures["encode"]
        rows = recognizer.signatures["serving_default"]  # a seed per row
        n = tf.constant(batch)
        no_seed = tf.constant([], tf.int32)
        seed = tf.constant([1, 2])
        x = tf.constant(np.random.default_rng(0).integers(
            0, 2, (batch, model.data_dim)), tf.float32)
        result["sample_ms"] = _latency_ms(
            lambda: sample(num_samples=n, seed=no_seed)["x"].numpy(), repeats)
        result["sample_seeded_ms"] = _latency_ms(
            lambda: sample(num_samples=n, seed=seed)["x"].numpy(), repeats)
        result["encode_ms"] = _latency_ms(
            lambda: encode(x=x, seed=no_seed)["z1"].numpy(), repeats)
        result["encode_rows_ms"] = _latency_ms(
            lambda: rows(x=x)["z1"].numpy(), repeats)

    arch = (f"data_dim={model.data_dim}, latent_dims={model.latent_dims}, "
            f"hidden_units={model.hidden_units}")
    print_fn(f"model: {arch}")
    print_fn(f"weights (float32, both networks): {result['weights_bytes']:,} bytes")
    for name in ("generator", "recognizer"):
        print_fn(f"SavedModel {name}: {result[name + '_bytes']:,} bytes")
    for key, label in (("sample_ms", f"sample(num_samples={batch}), fresh seed"),
                       ("sample_seeded_ms", f"sample(num_samples={batch}), seeded"),
                       ("encode_ms", f"encode(batch of {batch}), one fresh seed"),
                       ("encode_rows_ms", f"serving_default encoder (batch of "
                                          f"{batch}), a fresh seed per row")):
        t = result[key]
        print_fn(f"{label}: p50 {t['p50']:.3f} ms, p99 {t['p99']:.3f} ms, "
                 f"mean {t['mean']:.3f} ms over {repeats} calls")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="training run folder (read with tfhm.run_dir.RunDir)")
    parser.add_argument("--data-dim", type=int, default=784)
    parser.add_argument("--latent-dims", default="200,200,200")
    parser.add_argument("--hidden-units", default="")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)

    def ints(text):
        return tuple(int(v) for v in text.split(",") if v.strip())

    run_benchmark(args.data_dim, ints(args.latent_dims), ints(args.hidden_units),
                  args.batch, args.repeats, run=args.run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
