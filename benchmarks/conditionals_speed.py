"""What autoregressive layers cost: RWS steps and sample draws on binarized MNIST.

SBN 200-200-200 on 784 pixels (no hidden layers, as in `mnist_table.py`'s
row), trained by reweighted wake-sleep with K = 5 at batch 100, with four
choices of layers (issue 23, acceptance 6):

- `sbn`: every layer a factorized Bernoulli (today's model);
- `q darn` / `q nade`: the recognizer's three layers DARN / NADE (their draws
  a `tf.while_loop` over 200 units per layer);
- `p(x|z1) darn`: the pixel layer of the generator DARN (a loop over 784
  units in every sleep-phase dream and every `sample`), the rest SBN.

For each: examples/s of the compiled training step (`tf.function` of
`train_step`, with and without XLA), the time of the draw of q's latents for
one batch (K x 100 draws through the three layers; the loop's share of the
step), and the time to draw 100 samples from the generator (`sample(100)`).
All variants are interleaved round by round (the machine may be shared);
figures are medians over the rounds.

Example:

  python benchmarks/conditionals_speed.py --rounds 7 --steps 20
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position

SECTION = "conditionals_speed"
LATENTS = (200, 200, 200)
VARIANTS = ("sbn", "q darn", "q nade", "p(x|z1) darn")
BATCH, K = 100, 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser, dtype_policy=False)
    parser.add_argument("--rounds", type=int, default=7,
                        help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=20,
                        help="training steps per variant and round (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=3,
                        help="sample(100) calls per variant and round (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1 or args.draws < 1:
        parser.error("--rounds, --steps and --draws must be >= 1. Received: "
                     f"{args.rounds}, {args.steps}, {args.draws}")
    return args


def build(variant, seed=0):
    import tfhm  # pylint: disable=g-import-not-at-top

    if variant in ("sbn", "q darn", "q nade"):
        q = "sbn" if variant == "sbn" else variant.split()[1]
        return tfhm.HelmholtzMachine(784, LATENTS, seed=seed, recognizer_conditional=q)
    sbn = tfhm.Generator(784, LATENTS, seed=seed)
    pixels = tfhm.conditionals.make("darn", 784, LATENTS[0], seed=seed,
                                    name="p_x_given_z1")
    generator = tfhm.Generator(prior=sbn.prior, conditionals=[pixels] + sbn.conditionals[1:])
    return tfhm.HelmholtzMachine(generator=generator,
                                 recognizer=tfhm.Recognizer(784, LATENTS, seed=seed),
                                 seed=seed)


class Variant:
    """One (layers, XLA) case: its compiled step, q's draw and the sampler."""

    def __init__(self, name, jit, x):
        import keras  # pylint: disable=g-import-not-at-top
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        self.name, self.jit, self.x = name, jit, x
        self.hm = build(name)
        self.hm.compile(wake_optimizer=keras.optimizers.Adam(1e-3),
                        sleep_optimizer=keras.optimizers.Adam(1e-3),
                        algorithm="reweighted_wake_sleep", num_samples=K,
                        jit_compile=jit)
        spec = tf.TensorSpec([BATCH, 784], tf.float32)
        self.step = tf.function(self.hm.train_step, input_signature=[spec],
                                jit_compile=jit)
        recognizer, generator = self.hm.recognizer, self.hm.generator
        self.encode = tf.function(
            lambda x: recognizer.sample(x, K, tf.constant([1, 2]))[0],
            input_signature=[spec], jit_compile=jit)
        self.draw = tf.function(lambda: generator.sample(100, tf.constant([3, 4]))["x"],
                                jit_compile=jit)
        self.rates, self.encode_s, self.draw_s = [], [], []
        self.position = 0
        self.step(self._batch())  # tracing and the first, slow execution
        self.encode(self._batch())
        self.draw()

    def _batch(self):
        rows = self.x[self.position:self.position + BATCH]
        self.position = (self.position + BATCH) % (len(self.x) - BATCH)
        return rows

    def round(self, steps, draws):
        import tensorflow as tf  # pylint: disable=g-import-not-at-top

        start = time.perf_counter()
        for _ in range(steps):
            out = self.step(self._batch())
        tf.nest.map_structure(lambda t: t.numpy(), out)  # waits for the last step
        self.rates.append(steps * BATCH / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(steps):
            z = self.encode(self._batch())
        z[0].numpy()
        self.encode_s.append((time.perf_counter() - start) / steps)
        start = time.perf_counter()
        for _ in range(draws):
            self.draw().numpy()
        self.draw_s.append((time.perf_counter() - start) / draws)

    def row(self):
        rate = statistics.median(self.rates)
        encode = statistics.median(self.encode_s)
        return {"name": self.name, "jit": self.jit, "ex_s": rate,
                "encode_ms": 1e3 * encode, "encode_share": encode * rate / BATCH,
                "draw_ms": 1e3 * statistics.median(self.draw_s)}


def table(rows):
    base = {r["jit"]: r["ex_s"] for r in rows if r["name"] == "sbn"}
    lines = ["| layers | XLA | examples/s | vs sbn | q's draw of K x 100 (ms) "
             "| its share of the step | sample(100) (ms) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {'on' if r['jit'] else 'off'} | {r['ex_s']:,.0f} | "
                     f"{r['ex_s'] / base[r['jit']]:.2f} | {r['encode_ms']:.1f} | "
                     f"{100 * r['encode_share']:.0f}% | {r['draw_ms']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    _common.configure_threads(args.threads)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    started, load, t0 = _common.utc_now(), os.getloadavg()[0], time.perf_counter()
    x_train, _ = _common.load_data(args, num_train=5000)
    x_train = x_train[:5000]
    variants = [Variant(name, jit, x_train) for name in VARIANTS for jit in (False, True)]
    for r in range(args.rounds):
        shift = r % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            variant.round(args.steps, args.draws)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{v.name}{' xla' if v.jit else ''} {v.rates[-1]:.0f}/s" for v in variants),
            flush=True)
    rows = [v.row() for v in variants]
    text = table(rows)
    print(text)
    _common.write_section(args.results, SECTION, "\n".join([
        f"## {SECTION}: what autoregressive layers cost (issue 23)",
        "",
        f"Run on {started}, commit {_common.git_commit()}, "
        f"{_common.machine_description()}, TensorFlow {tf.__version__}, "
        f"{'all cores' if not args.threads else f'{args.threads} threads'}, load "
        f"average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
        f"{(time.perf_counter() - t0) / 60:.1f} min.",
        f"Command: `{_common.command_line()}`",
        "",
        f"SBN 200-200-200 on {'synthetic data' if args.synthetic else 'binarized MNIST'},"
        f" reweighted wake-sleep K = {K}, batch {BATCH}, Adam 1e-3; medians of "
        f"{args.rounds} interleaved rounds of {args.steps} steps. `q's draw`: the "
        "recognizer's draw of K x 100 latents through its three layers for one "
        "batch, compiled alone (for DARN/NADE q, three loops of 200 units); its "
        "share of the step: that time over the step's time. `sample(100)`: 100 "
        "ancestral samples of x from the generator (for a DARN pixel layer, a loop "
        "over 784 units).",
        "",
        text,
    ]))
    return rows


if __name__ == "__main__":
    main()
