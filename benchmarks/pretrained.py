"""Trains and packages the models shipped in `tfhm.pretrained`.

  python benchmarks/pretrained.py digits            # trains digits_rws_16 (minutes)
  python benchmarks/pretrained.py row RUN_DIR/ROW   # packages a converged mnist_table row

Writes the `.keras` file into `tfhm/pretrained/` and its entry (sha256 and
card) into `tfhm/pretrained/manifest.json`. Run it with tfhm installed from a
wheel (not the working tree), as every long benchmark here.

The digits model (`digits_rws_16`): the main job's latent layer of 16 units
with 128 hidden units per conditional (64 in the main job: 128 reached
-16.75 nats where 64 reached -17.04 with this schedule), reweighted wake-sleep with K=5,
batch 100, Adam with a step schedule for both networks (3e-3 for 300 epochs,
1e-3 for 200, 3e-4 for 100) on scikit-learn's digits binarized at 8 (of 16)
as `tfhm.datasets.load_digits` does; its card states the exact validation
log-likelihood (all 2**16 latent states summed) on the 360 held-out digits.
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # noqa: E402

PACKAGE_DIR = _common.REPO_ROOT / "tfhm" / "pretrained"
SCHEDULE = ((3e-3, 300), (1e-3, 200), (3e-4, 100))  # (learning rate, epochs)
HIDDEN = (128,)
SLICE = dict(images=100, num_samples=1000, seed=0)


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _write_entry(name, file, card):
    manifest_path = PACKAGE_DIR / "manifest.json"
    manifest = (json.loads(manifest_path.read_text(encoding="utf-8"))
                if manifest_path.exists() else {"format": "tfhm-pretrained-1", "models": {}})
    manifest["models"][name] = {"file": file, "sha256": _sha256(PACKAGE_DIR / file),
                                "card": card}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                             encoding="utf-8")
    print(json.dumps(manifest["models"][name], indent=2))


def _slice_check(hm, x_valid, description):
    x = x_valid[:SLICE["images"]]
    ll = hm.log_likelihood(x, num_samples=SLICE["num_samples"], seed=SLICE["seed"])
    return {"images": description, "num_samples": SLICE["num_samples"],
            "seed": SLICE["seed"], "log_likelihood": round(float(ll.numpy().mean()), 4)}


def train_digits():
    import keras
    import tfhm

    x_train, x_valid = tfhm.datasets.load_digits()
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16,), hidden_units=HIDDEN, seed=0)
    keras.utils.set_random_seed(0)  # Keras' shuffling, for tfhm versions that do not seed it
    hm.compile(wake_optimizer=keras.optimizers.Adam(SCHEDULE[0][0]),
               sleep_optimizer=keras.optimizers.Adam(SCHEDULE[0][0]),
               algorithm="reweighted_wake_sleep", num_samples=5)
    started, done = time.perf_counter(), 0
    for rate, epochs in SCHEDULE:
        for optimizer in (hm.wake_optimizer, hm.sleep_optimizer):
            optimizer.learning_rate.assign(rate)
        hm.fit(x_train, batch_size=100, initial_epoch=done, epochs=done + epochs, verbose=0)
        done += epochs
        print(f"epoch {done}: exact validation LL "
              f"{float(hm.exact_log_likelihood(x_valid).numpy().mean()):.3f}", flush=True)
    seconds = time.perf_counter() - started
    exact = float(hm.exact_log_likelihood(x_valid).numpy().mean())
    elbo = float(hm.elbo(x_valid, num_samples=100, seed=1).numpy().mean())
    name, file = "digits_rws_16", "digits_rws_16.keras"
    hm.save(PACKAGE_DIR / file)
    card = {
        "title": f"Helmholtz machine 64-16 ({HIDDEN[0]} hidden units), digits",
        "architecture": {"data_dim": 64, "latent_dims": [16], "hidden_units": list(HIDDEN),
                         "activation": "tanh"},
        "algorithm": "reweighted_wake_sleep", "num_samples": 5, "batch_size": 100,
        "optimizer": "Adam for both networks; learning rate "
                     + ", ".join(f"{r:g} for {e} epochs" for r, e in SCHEDULE),
        "epochs": done, "train_seconds": round(seconds, 1),
        "machine": _common.machine_description(),
        "tfhm_version": tfhm.__version__, "commit": _common.git_commit(),
        "command": _common.command_line(),
        "dataset": "scikit-learn digits (8x8), 1,437 training / 360 validation "
                   "(tfhm.datasets.load_digits)",
        "binarization": "pixel >= 8 of 16 (fixed threshold, tfhm.datasets.load_digits)",
        "validation_nll": round(-exact, 4),
        "validation_protocol": "exact: all 2**16 latent states summed, 360 validation digits",
        "validation_elbo": round(elbo, 4),
        "published_nll": None, "published_source": None,
        "slice_check": _slice_check(hm, x_valid, "first 100 of tfhm.datasets.load_digits()[1]"),
    }
    _write_entry(name, file, card)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["digits"])
    args = parser.parse_args(argv)
    if args.what == "digits":
        train_digits()


if __name__ == "__main__":
    main()
