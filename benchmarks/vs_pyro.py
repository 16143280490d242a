"""tfhm against Pyro's `ReweightedWakeSleep`: same model, K, batch, optimizer.

Trains one linear sigmoid belief net (default SBN 200: a factorized
Bernoulli prior over 200 binary latents, `p(x | z) = Bernoulli(W z + b)`,
`q(z | x) = Bernoulli(V x + c)`) with reweighted wake-sleep twice, once with
tfhm (`HelmholtzMachine.fit`, XLA) and once with Pyro 1.9 (`pyro.infer.
ReweightedWakeSleep`, torch on the CPU), alternating one epoch of each, and
prints the examples/s of both, their ratio, and the validation log-likelihood
each model reaches after the same number of epochs, estimated for both by
the same per-example importance sampler (`--eval-samples` draws of q).

With `--budget-seconds S` it is a time-to-quality race instead: each library
trains for S seconds of wall-clock time (still alternating, one epoch or the
rest of its budget at a time, so that both see the same load of the
machine; a library stops mid-epoch, after the step that used up its budget),
and the table reports the epochs each got through, its examples/s over the
whole budget (tfhm's XLA compilation included) and the validation
log-likelihood it reached. `--threads 1` gives both libraries one thread
(equal threads), the default all cores.

Equal settings: the same K particles (`num_particles`), batch size, Adam with
the same learning rate for both networks, Glorot-uniform weights and zero
biases at the start, the same recognizer update ("wake": Pyro's default
`insomnia=1.0`, tfhm's `recognizer_update="wake"`; "wake_sleep": Pyro's
`insomnia=0.5` with one dream per example, `num_sleep_particles=1`, as tfhm).

One difference is Pyro's, and kept: stock Pyro normalizes the importance
weights jointly over the whole minibatch (its log-weights are summed over the
data plate before the softmax over particles), while tfhm normalizes them per
example, as in Bornschein & Bengio (2015).

Pyro and torch are the optional `bench` extra (`pip install ".[bench]"`);
with `--skip-pyro` only the tfhm half runs.

Example:

  python benchmarks/vs_pyro.py --epochs 3
  python benchmarks/vs_pyro.py --budget-seconds 300 --threads 1 --section vs_pyro_budget_1thread
"""

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # pylint: disable=wrong-import-position

import _common  # pylint: disable=g-import-not-at-top,wrong-import-position


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_common_args(parser)
    parser.add_argument("--latent-dims", type=int, nargs="+", default=[200],
                        help="linear SBN layers, next to the data first")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="train each library for this many seconds instead of "
                             "--epochs epochs (a time-to-quality race)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--num-samples", type=int, default=5, help="K particles")
    parser.add_argument("--steps-per-execution", type=int, default=10,
                        help="tfhm's training steps per compiled call (compile's "
                             "steps_per_execution; must divide an epoch's steps; "
                             "docs/training_loop.md; default %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--recognizer-update", default="wake",
                        choices=["wake", "wake_sleep"])
    parser.add_argument("--train-examples", type=int, default=None,
                        help="first N training images (default: all)")
    parser.add_argument("--eval-images", type=int, default=1000)
    parser.add_argument("--eval-samples", type=int, default=1000)
    parser.add_argument("--pyro-validation", action="store_true",
                        help="keep Pyro's argument validation on (its default; "
                             "off here, which makes Pyro faster)")
    parser.add_argument("--skip-pyro", action="store_true",
                        help="run only the tfhm half (no torch/pyro needed)")
    parser.add_argument("--section", default="vs_pyro",
                        help="name of the RESULTS.md section to rewrite, so that "
                             "runs with other settings can sit side by side")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


# ------------------------------------------------------------------- tfhm
class TfhmRunner:
    """tfhm's half: `HelmholtzMachine.fit`, one epoch per call."""

    name = "tfhm"

    def __init__(self, args):
        import keras  # pylint: disable=g-import-not-at-top

        import tfhm  # pylint: disable=g-import-not-at-top

        self.args = args
        self.hm = tfhm.HelmholtzMachine(784, tuple(args.latent_dims), seed=args.seed)
        self.hm.compile(
            wake_optimizer=keras.optimizers.Adam(args.learning_rate),
            sleep_optimizer=keras.optimizers.Adam(args.learning_rate),
            algorithm="reweighted_wake_sleep", num_samples=args.num_samples,
            recognizer_update=args.recognizer_update, jit_compile=True,
            steps_per_execution=args.steps_per_execution)
        self.epoch = 0

    def train_epoch(self, x, max_seconds=math.inf):
        """One epoch, or fewer steps if `max_seconds` run out first.

        Returns:
          `(train bound, examples trained on)`.
        """
        import keras  # pylint: disable=g-import-not-at-top

        batch_size, started = self.args.batch_size, time.perf_counter()

        class Budget(keras.callbacks.Callback):
            """Stops `fit` after the step that uses up `max_seconds`."""

            examples = 0

            def on_train_batch_end(self, batch, logs=None):
                Budget.examples = min((batch + 1) * batch_size, len(x))
                if time.perf_counter() - started >= max_seconds:
                    self.model.stop_training = True

        history = self.hm.fit(x, batch_size=batch_size,
                              epochs=self.epoch + 1, initial_epoch=self.epoch,
                              shuffle=True, verbose=0,
                              callbacks=[Budget()] if max_seconds < math.inf else None)
        self.epoch += 1
        examples = Budget.examples if max_seconds < math.inf else len(x)
        return float(history.history["elbo"][-1]), examples

    def log_likelihood(self, x):
        return np.asarray(self.hm.log_likelihood(
            x, num_samples=self.args.eval_samples, seed=self.args.seed + 1))


# ------------------------------------------------------------------- Pyro
class PyroRunner:
    """Pyro's half: `ReweightedWakeSleep` with a torch Adam, one epoch per call."""

    name = "pyro"

    def __init__(self, args):
        # pylint: disable=g-import-not-at-top
        import pyro
        import pyro.distributions as dist
        import torch
        from torch import nn

        self.args, self.torch, self.pyro = args, torch, pyro
        torch.manual_seed(args.seed)
        pyro.set_rng_seed(args.seed)
        pyro.enable_validation(args.pyro_validation)
        pyro.clear_param_store()
        dims = (784,) + tuple(args.latent_dims)

        def linear(n_in, n_out):  # Glorot-uniform weights, zero bias (as Keras)
            layer = nn.Linear(n_in, n_out)
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
            return layer

        class Generator(nn.Module):
            def __init__(self):
                super().__init__()
                self.prior_logits = nn.Parameter(torch.zeros(dims[-1]))
                # p(layer l | layer l + 1), layer 0 is x
                self.conditionals = nn.ModuleList(
                    [linear(dims[l + 1], dims[l]) for l in range(len(dims) - 1)])

        class Recognizer(nn.Module):
            def __init__(self):
                super().__init__()
                # q(layer l + 1 | layer l)
                self.conditionals = nn.ModuleList(
                    [linear(dims[l], dims[l + 1]) for l in range(len(dims) - 1)])

        self.gen, self.rec = Generator(), Recognizer()
        num_layers = len(dims) - 1

        def model(x, observations=None):
            del observations
            pyro.module("generator", self.gen)
            with pyro.plate("data", x.shape[0]):
                z = pyro.sample(f"z{num_layers}", dist.Bernoulli(
                    logits=self.gen.prior_logits).to_event(1))
                for l in reversed(range(1, num_layers)):
                    z = pyro.sample(f"z{l}", dist.Bernoulli(
                        logits=self.gen.conditionals[l](z)).to_event(1))
                pyro.sample("x", dist.Bernoulli(
                    logits=self.gen.conditionals[0](z)).to_event(1), obs=x)

        def guide(x, observations=None):
            pyro.module("recognizer", self.rec)
            below = x if observations is None else observations["x"]
            with pyro.plate("data", x.shape[0]):
                for l in range(num_layers):
                    below = pyro.sample(f"z{l + 1}", dist.Bernoulli(
                        logits=self.rec.conditionals[l](below)).to_event(1))

        self.model, self.guide = model, guide
        self.rws = pyro.infer.ReweightedWakeSleep(
            num_particles=args.num_samples,
            insomnia=1.0 if args.recognizer_update == "wake" else 0.5,
            num_sleep_particles=1, vectorize_particles=True, max_plate_nesting=1)
        params = list(self.gen.parameters()) + list(self.rec.parameters())
        self.optimizer = torch.optim.Adam(params, lr=args.learning_rate)
        self.rng = np.random.default_rng(args.seed)

    def train_epoch(self, x, max_seconds=math.inf):
        """One epoch, or fewer steps if `max_seconds` run out first.

        Returns:
          `(train bound, examples trained on)`.
        """
        torch, started = self.torch, time.perf_counter()
        order = self.rng.permutation(len(x))
        x = torch.from_numpy(x)
        total, seen = 0.0, 0
        for start in range(0, len(order), self.args.batch_size):
            batch = x[order[start:start + self.args.batch_size]]
            wake_theta_loss, _ = self.rws.loss_and_grads(self.model, self.guide, batch)
            self.optimizer.step()
            self.optimizer.zero_grad()
            total += wake_theta_loss
            seen += len(batch)
            if time.perf_counter() - started >= max_seconds:
                break
        # wake-theta loss: minus the batch-joint IWAE bound, summed over the batch
        return -total / seen, seen

    def log_likelihood(self, x, chunk=100):
        """Per-example importance-sampled log p(x), the same estimator as tfhm's."""
        torch = self.torch
        bern = torch.distributions.Bernoulli
        out = []
        with torch.no_grad():
            for row in range(0, len(x), chunk):
                xb = torch.from_numpy(x[row:row + chunk])
                parts = []
                for start in range(0, self.args.eval_samples, 100):
                    k = min(100, self.args.eval_samples - start)
                    below, log_q, latents = xb.expand(k, *xb.shape), 0.0, []
                    for layer in self.rec.conditionals:
                        q = bern(logits=layer(below))
                        below = q.sample()
                        log_q = log_q + q.log_prob(below).sum(-1)
                        latents.append(below)
                    log_p = bern(logits=self.gen.prior_logits).log_prob(
                        latents[-1]).sum(-1)
                    for l in range(1, len(latents)):
                        log_p = log_p + bern(logits=self.gen.conditionals[l](
                            latents[l])).log_prob(latents[l - 1]).sum(-1)
                    log_p = log_p + bern(logits=self.gen.conditionals[0](
                        latents[0])).log_prob(xb).sum(-1)
                    parts.append(torch.logsumexp(log_p - log_q, dim=0))
                out.append(torch.logsumexp(torch.stack(parts), dim=0)
                           - math.log(self.args.eval_samples))
        return torch.cat(out).numpy()


# -------------------------------------------------------------------- run
def main(argv=None):
    args = parse_args(argv)
    _common.configure_threads(args.threads)
    _common.configure_dtype_policy(args.dtype_policy)  # tfhm's models; Pyro: float32
    x_train, x_valid = _common.load_data(args)
    if args.train_examples:
        x_train = x_train[:args.train_examples]
    x_eval = x_valid[:args.eval_images]
    commit, date = _common.git_commit(), _common.utc_now()
    runners = [TfhmRunner(args)]
    if not args.skip_pyro:
        import torch  # pylint: disable=g-import-not-at-top

        torch.set_num_threads(args.threads or os.cpu_count())
        runners.append(PyroRunner(args))
    rates = {r.name: [] for r in runners}
    bound, seconds_used, examples_used = {}, {}, {}
    for runner in runners:
        seconds_used[runner.name], examples_used[runner.name] = 0.0, 0
    epoch = 0
    while True:
        epoch += 1
        if args.budget_seconds is None:
            todo = runners if epoch <= args.epochs else []
        else:
            todo = [r for r in runners if seconds_used[r.name] < args.budget_seconds]
        if not todo:
            break
        for runner in todo:  # alternate: one epoch (or the budget's rest) of each
            left = (math.inf if args.budget_seconds is None
                    else args.budget_seconds - seconds_used[runner.name])
            start = time.perf_counter()
            bound[runner.name], examples = runner.train_epoch(x_train, left)
            seconds = time.perf_counter() - start
            seconds_used[runner.name] += seconds
            examples_used[runner.name] += examples
            rates[runner.name].append(examples / seconds)
            print(f"epoch {epoch} {runner.name:>5}: {seconds:6.1f}s "
                  f"{rates[runner.name][-1]:7.0f} ex/s, train bound "
                  f"{bound[runner.name]:.2f}", flush=True)
    results = {}
    for runner in runners:
        start = time.perf_counter()
        ll = runner.log_likelihood(x_eval)
        if args.budget_seconds is None:
            # Steady state: the first epoch (XLA compilation for tfhm) is left
            # out of the median for both libraries when there are later ones.
            steady = rates[runner.name][1:] or rates[runner.name]
            ex_s = statistics.median(steady)
        else:  # time to quality: everything the budget paid for
            ex_s = examples_used[runner.name] / seconds_used[runner.name]
        results[runner.name] = dict(
            ex_s=ex_s, ex_s_all=rates[runner.name], ll=float(ll.mean()),
            epochs=examples_used[runner.name] / len(x_train),
            train_s=seconds_used[runner.name],
            stderr=float(ll.std(ddof=1) / math.sqrt(len(ll))) if len(ll) > 1 else 0.0,
            eval_s=time.perf_counter() - start)
        r = results[runner.name]
        print(f"{runner.name}: {r['ex_s']:.0f} ex/s over {r['epochs']:.2f} epochs in "
              f"{r['train_s']:.0f} s; validation log-likelihood {r['ll']:.2f} ± "
              f"{r['stderr']:.2f} nats ({len(x_eval)} images, K={args.eval_samples})",
              flush=True)
    ratio = (results["tfhm"]["ex_s"] / results["pyro"]["ex_s"]
             if "pyro" in results else None)
    if ratio is not None:
        print(f"examples/s ratio tfhm / pyro: {ratio:.2f}", flush=True)
    _common.write_section(args.results, args.section,
                          report(args, results, ratio, commit, date))
    return results, ratio


def report(args, results, ratio, commit, date):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    versions = f"TensorFlow {tf.__version__}"
    if "pyro" in results:
        import pyro  # pylint: disable=g-import-not-at-top
        import torch  # pylint: disable=g-import-not-at-top
        versions += f", Pyro {pyro.__version__}, torch {torch.__version__}"
    model = "-".join(str(d) for d in args.latent_dims)
    lines = [
        f"## {args.section}: tfhm against Pyro's ReweightedWakeSleep",
        "",
        f"Run on {date}, commit {commit}, {_common.machine_description()}, "
        f"{versions}, "
        f"{'all cores' if not args.threads else f'{args.threads} thread(s)'}, "
        f"tfhm's dtype policy {args.dtype_policy} (Pyro: float32), tfhm with XLA "
        f"and {args.steps_per_execution} steps per compiled call.",
        f"Command: `{_common.command_line()}`",
        "",
        f"Linear SBN {model}, reweighted wake-sleep K={args.num_samples}, batch "
        f"{args.batch_size}, Adam lr {args.learning_rate} for both networks, "
        f"recognizer update `{args.recognizer_update}`, "
        + (f"{args.epochs} epochs alternating one tfhm epoch and one Pyro epoch "
           if args.budget_seconds is None else
           f"a budget of {args.budget_seconds:.0f} s of training each, alternating "
           "one epoch (or the budget's rest) of tfhm and one of Pyro ")
        + "in one process, "
        f"Pyro validation {'on' if args.pyro_validation else 'off'}. "
        "Validation log-likelihood: per-example importance sampling, "
        f"{args.eval_images} images, K={args.eval_samples}, the same estimator "
        "for both. **Stock Pyro normalizes its importance weights jointly over "
        "the whole minibatch, not per example** (tfhm: per example); its "
        "figures below are with that estimator.",
        "",
    ]
    if args.budget_seconds is None:
        lines += [
            "| library | examples/s (median epoch, first left out) | per-epoch examples/s | "
            f"val. log-likelihood after {args.epochs} epochs (nats) |",
            "|---|---|---|---|",
        ]
        for name, r in results.items():
            lines.append(
                f"| {name} | {r['ex_s']:.0f} | "
                f"{', '.join(f'{v:.0f}' for v in r['ex_s_all'])} | "
                f"{r['ll']:.2f} ± {r['stderr']:.2f} |")
    else:
        lines += [
            "| library | training seconds | epochs | examples/s (whole budget) | "
            "val. log-likelihood at the end of the budget (nats) |",
            "|---|---|---|---|---|",
        ]
        for name, r in results.items():
            lines.append(
                f"| {name} | {r['train_s']:.0f} | {r['epochs']:.2f} | {r['ex_s']:.0f} | "
                f"{r['ll']:.2f} ± {r['stderr']:.2f} |")
        if len(results) == 2:
            gap = results["tfhm"]["ll"] - results["pyro"]["ll"]
            lines += ["", f"Log-likelihood gap at the equal budget, tfhm − Pyro: "
                          f"**{gap:+.2f} nats**."]
    lines.append("")
    lines.append(f"examples/s ratio tfhm / Pyro: **{ratio:.2f}**" if ratio
                 else "Pyro skipped (`--skip-pyro`).")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
