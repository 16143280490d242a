"""Examples per second of tfhm's compiled training step (`tfhm.Trainer`).

Measures the full loop (tf.data input, one `tf.function` step per batch,
two Adam updates) for the sigmoid belief nets SBN 200 and SBN 200-200-200 on
784-dimensional binary data, at batch 100 and 1000, with and without XLA.
Wake-sleep (K = 1) and reweighted wake-sleep (K = 5) are both timed.

  python benchmarks/train_step_throughput.py            # all 16 settings
  python benchmarks/train_step_throughput.py --quick    # fewer examples

The data are random 0/1 images (the step's cost does not depend on the
pixels). Each setting trains `--epochs` epochs of `--examples` examples; the
first epoch (tracing, XLA compilation) is discarded and the best of the
others is reported. Not a test: timings on a shared machine are noisy.
"""

import argparse

import numpy as np


def measure(latent_dims, batch_size, xla, algorithm, examples, epochs):
    import tfhm  # pylint: disable=g-import-not-at-top

    x = (np.random.default_rng(0).random((examples, 784)) < 0.3).astype(np.float32)
    model = tfhm.HelmholtzMachine(data_dim=784, latent_dims=latent_dims, seed=0)
    config = tfhm.TrainConfig(algorithm=algorithm, batch_size=batch_size,
                              epochs=epochs, jit_compile=xla, eval_max_examples=0)
    history = tfhm.Trainer(model, config, verbose=0).fit(x)
    return max(row["examples_per_second"] for row in history[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="5,000 examples per epoch")
    parser.add_argument("--dtype-policy", default="float32",
                        choices=("float32", "mixed_bfloat16", "mixed_float16"),
                        help="Keras dtype policy of the models (log-densities, "
                             "losses and variables stay float32)")
    args = parser.parse_args()
    import keras  # pylint: disable=g-import-not-at-top

    keras.config.set_dtype_policy(args.dtype_policy)
    examples = 5000 if args.quick else args.examples
    print(f"{'model':<16}{'algorithm':<24}{'batch':>6}{'XLA':>6}{'examples/s':>12}")
    for latent_dims, name in (((200,), "SBN 200"), ((200, 200, 200), "SBN 200-200-200")):
        for algorithm in ("wake_sleep", "reweighted_wake_sleep"):
            for batch_size in (100, 1000):
                for xla in (False, True):
                    rate = measure(latent_dims, batch_size, xla, algorithm,
                                   examples, args.epochs)
                    print(f"{name:<16}{algorithm:<24}{batch_size:>6}"
                          f"{'yes' if xla else 'no':>6}{rate:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
