"""Trained Helmholtz machines shipped with tfhm: cards, checked files, `load`.

Each model is a `.keras` file inside the installed package (no download) and
an entry of `manifest.json` beside it: the file's sha256 and the model's card.
`load` checks the file against its sha256 before Keras reads a byte of it, so
a truncated, corrupted or replaced file is refused with an error that names
it instead of loading wrong weights.

A card (`card(name)`) is a dict that says what the model is and how good:
`architecture` (data_dim, latent_dims bottom to top, hidden_units, activation,
and which conditionals: generator_conditional, recognizer_conditional),
`algorithm`, `num_samples` (K of training), `epochs`, `train_seconds` and
`machine`, `commit` and `command` (what trained it), `dataset` and
`binarization`, the validation figures (`validation_nll` with its
`validation_protocol`, `validation_elbo`), `published_nll` and
`published_source` where the literature has a figure for the same model,
and `slice_check`: the importance-sampled log-likelihood of a fixed slice of
validation images with a fixed seed, which the test suite recomputes.

#### Examples

```python
import tfhm
tfhm.pretrained.names()                      # ['digits_rws_16']
card = tfhm.pretrained.card("digits_rws_16")
card["validation_nll"]                       # nats, exact on the 360 digits
hm = tfhm.pretrained.load("digits_rws_16")   # a compiled HelmholtzMachine
hm.sample(4, seed=0)["x"].shape              # (4, 64)
```
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

__all__ = ["card", "load", "names", "path", "verify"]

_HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(_HERE, "manifest.json")
PREFIX = "pretrained:"  # how the command line names a shipped model


def _manifest() -> dict[str, Any]:
    try:
        with open(MANIFEST, encoding="utf-8") as handle:
            return json.load(handle)["models"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"The manifest of tfhm's pretrained models, {MANIFEST!r}, "
                         f"cannot be read: {error}") from None


def names() -> list[str]:
    """The names of the shipped models, sorted."""
    return sorted(_manifest())


def _entry(name: str) -> dict[str, Any]:
    models = _manifest()
    if not isinstance(name, str) or name not in models:
        raise ValueError(f"Unknown pretrained model: expected one of "
                         f"{sorted(models)}. Received: {name!r}")
    return models[name]


def card(name: str) -> dict[str, Any]:
    """The card of model `name` (a copy: changing it changes nothing).

    Raises:
      ValueError: an unknown name (the message lists the known ones).
    """
    return copy.deepcopy(_entry(name)["card"])


def path(name: str) -> str:
    """The path of the `.keras` file of model `name` inside the package."""
    return os.path.join(_HERE, _entry(name)["file"])


def _sha256(file: str) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str) -> str:
    """Checks the file of model `name` against its sha256; returns its path.

    Raises:
      ValueError: the file is missing or its sha256 differs from the
        manifest's (the message names the file and both hashes).
    """
    entry = _entry(name)
    file = path(name)
    if not os.path.isfile(file):
        raise ValueError(f"The file of pretrained model {name!r} is missing: "
                         f"{file!r}. Reinstall tfhm (pip install --force-reinstall).")
    actual = _sha256(file)
    if actual != entry["sha256"]:
        raise ValueError(
            f"The file of pretrained model {name!r}, {file!r}, is corrupt or was "
            f"replaced: its sha256 is {actual}, the manifest says "
            f"{entry['sha256']}. Reinstall tfhm (pip install --force-reinstall).")
    return file


def load(name: str):
    """The shipped model `name`, checked and loaded: a compiled HelmholtzMachine.

    Args:
      name: one of `names()`.

    Returns:
      A `tfhm.HelmholtzMachine`, compiled as it was trained (algorithm, K,
      optimizers), ready for `sample`, `encode`, `log_likelihood`, export or
      more training.

    Raises:
      ValueError: an unknown name, or a missing or corrupt file.
    """
    file = verify(name)
    import keras  # noqa: PLC0415 - TensorFlow loads only when a model does

    from tfhm import model as _model  # noqa: F401, PLC0415 - registers tfhm's classes

    return keras.models.load_model(file)
