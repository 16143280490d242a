# ---
# jupyter:
#   colab:
#     name: 05_export_and_serve.ipynb
#     provenance: []
#   jupytext:
#     notebook_metadata_filter: colab,language_info
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
#   language_info:
#     name: python
# ---

# %% [markdown]
# # 5. Export and serve
#
# A trained Helmholtz machine is two networks, and a service wants both: the
# generator `p(x, z)` to draw new images (eqs. 1-2), decode latents and score
# images, and the recognizer `q(z | x)` (eq. 4) to encode an image into its
# latents. `tfhm.export.export_model` writes each as a TensorFlow SavedModel in
# the versioned layout that TensorFlow Serving reads. Here we export a model,
# load it back with plain TensorFlow, check it against the model in memory, and
# write the REST requests TF Serving answers.
#
# *Equation numbers (eq. 1-10) are those of J. V. da Silva Guerra, *Latent variable
# models* (lesson no. 04), the text tfhm starts from.*

# %% [markdown]
# **Install.** The next cell installs tfhm only if it is missing. Run next to a
# checkout of tfhm (this notebook in its `tutorials/` folder) it installs that
# checkout. tfhm is not published yet, so anywhere else (Colab included) build
# a wheel in a clone (`pip wheel --no-deps . -w dist`), copy it next to the
# notebook and set the environment variable `TFHM_SOURCE` to its path (or to
# the path or git URL of your own copy). The cell also imports TensorFlow with
# its C++ start-up log lines (absl, oneDNN, CUDA) hidden, as `tfhm` on the
# command line does.

# %%
import importlib.util
import os
import pathlib

if importlib.util.find_spec("tfhm") is None:
    checkout = pathlib.Path.cwd().parent  # this notebook in <checkout>/tutorials
    if (checkout / "setup.py").exists() and (checkout / "tfhm").is_dir():
        SOURCE = str(checkout)
    else:
        SOURCE = os.environ.get("TFHM_SOURCE")  # a wheel, a folder or a git URL
        if not SOURCE:
            raise ModuleNotFoundError(
                "tfhm is not installed and not published yet: build a wheel in a "
                "clone (pip wheel --no-deps . -w dist) and set TFHM_SOURCE to it")
    # %pip install -q {SOURCE}
import tfhm
from tfhm.cli import load_tensorflow

load_tensorflow(verbose=False)  # TensorFlow's C++ start-up lines hidden

# %%
import os

# TFHM_TUTORIAL_FAST=1 (set by the test suite) shrinks sizes and epochs only;
# every cell runs in both modes, and every number the text states is asserted.
FAST = os.environ.get("TFHM_TUTORIAL_FAST", "0") == "1"

import json
import subprocess
import sys
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import tfhm.export

keras.utils.set_random_seed(0)
tf.get_logger().setLevel("ERROR")   # keep TensorFlow's notes out of the outputs


# %%
def show_grid(images, side, ncols=10, title=None, ax=None):
    """Draws `images` [n, side * side] (values in [0, 1]) as one grid."""
    images = np.asarray(images).reshape(-1, side, side)
    nrows = -(-len(images) // ncols)
    canvas = np.full((nrows * (side + 1) + 1, ncols * (side + 1) + 1), 0.75)  # grey frames
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[1 + r * (side + 1):(r + 1) * (side + 1),
               1 + c * (side + 1):(c + 1) * (side + 1)] = 1.0 - image
    ax = ax or plt.figure(figsize=(ncols * 0.45, nrows * 0.45)).gca()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


# %% [markdown]
# ## A model to export
#
# Two stochastic layers (`z2 -> z1 -> x`) on the 8 x 8 digits, reweighted
# wake-sleep. In fast mode the notebook exports `digits_rws_16`, the digits model
# that ships with tfhm (`tfhm.pretrained`), instead of training one.

# %%
x_train, x_test = tfhm.datasets.load_digits()
if FAST:
    hm = tfhm.pretrained.load("digits_rws_16")   # sha256-checked, compiled as trained
else:
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16, 8), hidden_units=(64,), seed=0)
    hm.compile(wake_optimizer=keras.optimizers.Adam(3e-3),
               sleep_optimizer=keras.optimizers.Adam(3e-3),
               algorithm="reweighted_wake_sleep", num_samples=5)
    hm.fit(x_train, batch_size=100, epochs=60, verbose=0)
print(f"importance-sampled log p(x) on the test set: "
      f"{float(np.mean(hm.log_likelihood(x_test, num_samples=100, seed=0))):.2f} nats")

# %% [markdown]
# ## Export
#
# One call writes `<base>/generator/<version>/` and `<base>/recognizer/<version>/`.
# TF Serving serves the highest version in each folder and picks up new ones
# while it runs.

# %%
base_dir = tempfile.mkdtemp(prefix="tfhm_served_")
paths = tfhm.export.export_model(hm, base_dir, version=1)
for root, _dirs, files in sorted(os.walk(base_dir)):
    depth = os.path.relpath(root, base_dir).count(os.sep) + (root != base_dir)
    print("  " * depth + os.path.basename(root) + "/", " ".join(sorted(files)))
assert sorted(paths) == ["generator", "recognizer"]
assert all(os.path.exists(os.path.join(p, "saved_model.pb")) for p in paths.values())

# %% [markdown]
# ## Load with plain TensorFlow
#
# `tf.saved_model.load` needs neither tfhm nor Keras. Every signature takes
# named inputs and returns a dict of named outputs:

# %%
generator = tf.saved_model.load(paths["generator"])
recognizer = tf.saved_model.load(paths["recognizer"])
for name, loaded in (("generator", generator), ("recognizer", recognizer)):
    for signature_name, fn in loaded.signatures.items():
        inputs = {k: (v.dtype.name, v.shape.as_list())
                  for k, v in fn.structured_input_signature[1].items()}
        print(f"{name}.{signature_name}: inputs {inputs} -> "
              f"outputs {sorted(fn.structured_outputs)}")

# %% [markdown]
# To show that nothing of tfhm is needed, a fresh Python process that imports
# only TensorFlow loads the generator and draws samples:

# %%
script = f'''
import sys, tensorflow as tf
generator = tf.saved_model.load({paths["generator"]!r})
out = generator.signatures["serving_default"](num_samples=tf.constant(3), seed=tf.constant([1, 2]))
assert "tfhm" not in sys.modules and "tensorflow_probability" not in sys.modules
print(out["x"].shape, sorted(out))
'''
result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
print(result.stdout)
assert result.returncode == 0, result.stderr[-2000:]

# %% [markdown]
# ## The same model, in memory and exported
#
# With a seed, `serving_default` (sampling) returns exactly the draws of
# `hm.sample` with that seed; `decode` maps latents back to pixel probabilities;
# the recognizer's `encode` returns the posterior means `phi(x)` of eq. 4 and one
# posterior sample, which `decode` turns back into an image; with the empty seed
# `[]`, every call draws afresh (and returns the seed it drew). The recognizer's
# default signature takes rows only and draws a fresh seed per row.

# %%
seed = tf.constant([1, 2])
served = generator.signatures["serving_default"](num_samples=tf.constant(40), seed=seed)
local = hm.sample(40, seed=seed)
np.testing.assert_array_equal(served["x"], local["x"])
np.testing.assert_allclose(served["x_probs"], local["x_probs"], atol=1e-5)

layers = [f"z{l + 1}" for l in range(len(hm.latent_dims))]   # z1 next to the data, ...
decoded = generator.signatures["decode"](**{z: served[z] for z in layers})
np.testing.assert_allclose(decoded["x_probs"], served["x_probs"], atol=1e-5)

x = tf.constant(x_test[:10])
encoded = recognizer.signatures["encode"](x=x, seed=tf.constant([3, 4]))
np.testing.assert_allclose(encoded["z1_probs"], hm.recognizer(x)[0], atol=1e-5)
reconstructed = generator.signatures["decode"](**{z: encoded[z] for z in layers})["x_probs"]

no_seed = tf.constant([], tf.int32)                     # seed [] = draw a fresh seed in the graph
fresh = [generator.signatures["serving_default"](num_samples=tf.constant(40), seed=no_seed)["x"]
         for _ in range(2)]
assert not np.array_equal(fresh[0], fresh[1])          # a new draw every call
print("served samples match the model in memory; unseeded calls differ")

fig, axes = plt.subplots(1, 2, figsize=(10, 2.4))
show_grid(served["x_probs"].numpy(), 8, ax=axes[0],
          title="sample: x_probs of 40 dreams, seed [1, 2]")
show_grid(np.concatenate([x.numpy(), reconstructed.numpy()]), 8, ax=axes[1],
          title="test images (top), decode(encode(x)) (bottom)")
plt.tight_layout()

# %%
K = 100
served_ll = generator.signatures["log_likelihood"](
    x=x, num_samples=tf.constant(K), seed=seed)["log_likelihood"]
log_w = tfhm.objectives.log_importance_weights(hm.generator, hm.recognizer, x, K, seed)[0]
local_ll = tfhm.evaluation.log_mean_exp(log_w, axis=0)
print("log p(x), served:", served_ll.numpy().round(2))
np.testing.assert_allclose(served_ll, local_ll, atol=1e-3)

# %% [markdown]
# ## Inpainting: completing a half-hidden digit
#
# A generative model can fill in what it does not see. `hm.inpaint(x, mask)`
# takes a mask that is 1 where a pixel is observed and 0 where it is missing
# and draws the missing pixels from `p(x_mis | x_obs)`: latents are proposed by
# the recognizer (fed the image completed by a mean-field pass), weighted by
# `p(z) p(x_obs | z) / q(z)`, refined over a few rounds of population Monte
# Carlo and resampled, then the missing pixels are drawn from `p(x | z_1)`;
# observed pixels are copied from x (`tfhm.inpainting` states the method, its
# references and its O(1/K) bias). We hide the bottom half of the test digits.
#
# `tfhm.inpainting.conditional_log_likelihood_checked` scores the true bottom
# halves: `log p(x_mis | x_obs) = log p(x) - log p(x_obs)`, each term
# importance-sampled. Per hidden pixel, it should beat two scores that do not
# look at the top half: independent pixels with the training set's pixel means,
# and the model's own `log p(x_mis)` of the bottom half alone.

# %%
K = 200
mask = tfhm.inpainting.region_mask("bottom", len(x_test), 64)   # True = observed (the top half)
hidden = (~mask).sum()
conditional = tfhm.inpainting.conditional_log_likelihood_checked(hm, x_test, mask, K, seed=0)
bottom_alone = hm.log_likelihood_observed(x_test, ~mask, num_proposals=K, seed=0)
pixel_means = np.clip(x_train.mean(axis=0), 1e-3, 1 - 1e-3)
independent = np.where(x_test == 1, np.log(pixel_means), np.log(1 - pixel_means))[~mask]
scores = {"log p(x_mis | x_obs), this model": float(np.sum(conditional)) / hidden,
          "log p(x_mis), this model (top half unseen)": float(np.sum(bottom_alone)) / hidden,
          "independent pixels (training means)": float(independent.mean())}
for what, nats in scores.items():
    print(f"{what:44s} {nats:.3f} nats per hidden pixel")
a, b, c = scores.values()
assert a > b > c   # seeing the top half helps; the model beats independent pixels

shown, samples = x_test[:8], 6
completions = hm.inpaint(shown, mask[:8], num_samples=samples, num_proposals=K, seed=0).numpy()
assert (completions[:, mask[:8]] == np.broadcast_to(shown, completions.shape)[:, mask[:8]]).all()
# [2 + S, 8, 64]
rows = np.concatenate([shown[None], np.where(mask[:8], shown, 0.5)[None], completions])
show_grid(rows.transpose(1, 0, 2).reshape(-1, 64), 8, ncols=2 + samples,
          title="data | top half | completions")

# The exported generator's `inpaint` signature: with a seed, hm.inpaint's draws.
served_inpaint = generator.signatures["inpaint"](
    x=tf.constant(shown), mask=tf.constant(mask[:8], tf.float32), num_samples=tf.constant(samples),
    num_proposals=tf.constant(K), seed=tf.constant([7, 8]))
np.testing.assert_array_equal(served_inpaint["x"],
                              hm.inpaint(shown, mask[:8], num_samples=samples, num_proposals=K,
                                         seed=tf.constant([7, 8])))

# %% [markdown]
# Each row of the picture is one test digit: the digit itself, the top half the
# model was given (the hidden half grey), then six completions drawn from
# `p(x_mis | x_obs)`. The top halves are copied exactly; the bottom halves vary
# where the top half leaves the digit ambiguous and agree where it does not.
# `tfhm inpaint RUN --mask bottom --out grid.png` draws the same picture from
# the command line.
#
# ### Binarized MNIST
#
# tfhm also ships `mnist_sbn200x3_rws5`, an SBN 200-200-200 trained on binarized
# MNIST to 92.15 nats validation NLL. tfhm downloads nothing: point
# `TFHM_MNIST` at a binarized-MNIST `.npz` file and the next cell completes the
# bottom half of validation digits with it (it skips itself without the file).
# On 1,000 validation digits (`python benchmarks/inpaint_mnist.py`) it scored
# about -0.10 nats per hidden pixel, against -0.28 for independent pixels;
# its completions continue the strokes of the top half into a digit that fits
# it, though the completions of one image look alike: the importance weights
# of K proposals concentrate on a few of them, so finite K understates how
# varied the true conditional is.

# %%
mnist_path = os.environ.get("TFHM_MNIST",
                            os.path.join("..", "shared", "data", "binarized_mnist.npz"))
if os.path.exists(mnist_path):
    mnist_valid = tfhm.datasets.load_binarized_mnist(mnist_path)["x_valid"][:200]
    sbn = tfhm.pretrained.load("mnist_sbn200x3_rws5")
    mnist_mask = tfhm.inpainting.region_mask("bottom", len(mnist_valid), 784)
    mnist_conditional = tfhm.inpainting.conditional_log_likelihood_checked(
        sbn, mnist_valid, mnist_mask, 100, seed=0)
    per_pixel = float(np.sum(mnist_conditional)) / (~mnist_mask).sum()
    print(f"log p(x_mis | x_obs): {per_pixel:.3f} nats per hidden pixel (K=100, 200 digits)")
    assert per_pixel > -0.2   # far better than independent pixels (-0.28)
    shown = mnist_valid[:6]
    completions = sbn.inpaint(shown, mnist_mask[:6], num_samples=6, num_proposals=250,
                              seed=0).numpy()
    rows = np.concatenate([shown[None], np.where(mnist_mask[:6], shown, 0.5)[None], completions])
    show_grid(rows.transpose(1, 0, 2).reshape(-1, 784), 28, ncols=8,
              title="MNIST: data | top half | completions")
else:
    print(f"no binarized MNIST at {mnist_path}: set TFHM_MNIST to run this cell")

# %% [markdown]
# ## TensorFlow Serving
#
# Serve both models from one container, with a config that names them:

# %%
models_config = '''model_config_list {
  config { name: "generator"  base_path: "/models/generator"  model_platform: "tensorflow" }
  config { name: "recognizer" base_path: "/models/recognizer" model_platform: "tensorflow" }
}
'''
with open(os.path.join(base_dir, "models.config"), "w") as f:
    f.write(models_config)
print(f"docker run -p 8501:8501 -v {base_dir}:/models tensorflow/serving:2.21.0 \\\n"
      f"    --model_config_file=/models/models.config")

# %% [markdown]
# The REST API takes a JSON body per request at
# `POST http://localhost:8501/v1/models/<name>:predict`, in one of two formats:
# **columnar** (`"inputs": {name: value}`, any shapes, needed for scalar inputs
# like `num_samples`) or **row** (`"instances": [...]`, one entry per example,
# for signatures whose inputs all have a batch dimension). JSON numbers become
# the signature's dtypes (int32 for `num_samples` and `seed`, float32 for `x`).

# %%
x_rows = x_test[:2].astype(int).tolist()
requests = {
    "generator": [
        {"signature_name": "serving_default", "inputs": {"num_samples": 4, "seed": [1, 2]}},
        {"signature_name": "decode", "inputs": {z: served[z][:2].numpy().astype(int).tolist()
                                                for z in layers}},
        {"signature_name": "log_likelihood",
         "inputs": {"x": x_rows, "num_samples": 100, "seed": [5, 6]}},
    ],
    "recognizer": [
        {"signature_name": "encode", "inputs": {"x": x_rows, "seed": [3, 4]}},
        {"instances": x_rows},                              # serving_default: rows only
    ],
}
for name, bodies in requests.items():
    for body in bodies:
        text = json.dumps(body)
        print(f"curl -d '{text[:90]}{'...' if len(text) > 90 else ''}' \\\n"
              f"    -X POST http://localhost:8501/v1/models/{name}:predict")


# %% [markdown]
# Without a server at hand, we can still check every body against the loaded
# signatures: `answer` turns a body into tensors the way TF Serving does (each
# input cast to the dtype its signature declares; rows stacked into a batch) and
# calls the signature. A body with a wrong name, shape or dtype fails here as it
# would on the server.

# %%
def answer(loaded, body):
    """A local stand-in for TF Serving's REST predict: JSON body -> JSON reply."""
    body = json.loads(json.dumps(body))                    # exactly what goes over the wire
    fn = loaded.signatures[body.get("signature_name", "serving_default")]
    specs = fn.structured_input_signature[1]
    if "instances" in body:                                # row format: one entry per example
        rows = body["instances"]
        rows = rows if isinstance(rows[0], dict) else [{next(iter(specs)): r} for r in rows]
        inputs, key = {k: [row[k] for row in rows] for k in rows[0]}, "predictions"
    else:                                                  # columnar format
        inputs, key = body["inputs"], "outputs"
    tensors = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in inputs.items()}
    outputs = {k: v.numpy().tolist() for k, v in fn(**tensors).items()}
    if key == "predictions":                               # rows in, rows out
        outputs = [{k: v[i] for k, v in outputs.items()} for i in range(len(rows))]
    return {key: outputs}

loaded = {"generator": generator, "recognizer": recognizer}
for name, bodies in requests.items():
    for body in bodies:
        (key, outputs), = answer(loaded[name], body).items()
        if key == "outputs":
            print(f"{name}:{body['signature_name']:16s} -> outputs {{"
                  f"{', '.join(f'{k}: {np.shape(v)}' for k, v in sorted(outputs.items()))}}}")
        else:
            print(f"{name}:{body.get('signature_name', 'serving_default'):16s} -> predictions: "
                  f"{len(outputs)} rows of {sorted(outputs[0])}")

reply = answer(generator, requests["generator"][0])["outputs"]
np.testing.assert_array_equal(reply["x"], hm.sample(4, seed=tf.constant([1, 2]))["x"])
reply = answer(recognizer, requests["recognizer"][1])["predictions"]
np.testing.assert_allclose([row["z1_probs"] for row in reply],
                           hm.recognizer(tf.constant(x_test[:2]))[0], atol=1e-5)

# %% [markdown]
# TF Serving answers a columnar request with `{"outputs": {...}}` and a row
# request with `{"predictions": [...]}` (one entry per example). The same seed
# gives the same samples on every server and in `hm.sample` that run the same
# TensorFlow version on the same kind of device (TensorFlow's promise for its
# stateless random ops); send `"seed": []` for a fresh draw on every call.
