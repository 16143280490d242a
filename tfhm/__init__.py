"""tfhm: Helmholtz machines in TensorFlow and Keras.

Latent-variable models with binary latents, a deep sigmoid-belief-net
generator p(x, z) and a recognition network q(z | x), trained by wake-sleep
(Hinton et al. 1995) and reweighted wake-sleep (Bornschein & Bengio 2015),
with exact (enumerated) and importance-sampled log-likelihoods.

The package is imported lazily (PEP 562): `import tfhm` loads neither
TensorFlow nor Keras; each public name and submodule is imported the first
time it is used (`tfhm.HelmholtzMachine`, `tfhm.datasets`, ...). So the
command line starts fast and `tfhm --help` needs no TensorFlow.

Saved models: a `.keras` file names tfhm's classes, which Keras finds only
once they are registered, i.e. once `tfhm.model` is imported. Use
`tfhm.load_model(path)`, or touch any model class first
(`tfhm.HelmholtzMachine`) before `keras.models.load_model(path)`. When Keras
is already imported at `import tfhm`, the classes are registered right away
(TensorFlow is loaded then anyway), so `import keras; import tfhm;
keras.models.load_model(path)` works as it always did.

#### Examples

```python
import tfhm
x_train, x_test = tfhm.datasets.load_digits()   # [1437, 64], [360, 64]
hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(8,), seed=0)
```
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from tfhm import _lazy

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first use).
_ATTRIBUTES = {
    "Algorithm": "tfhm.algorithms",
    "Generator": "tfhm.model",
    "HelmholtzMachine": "tfhm.model",
    "Recognizer": "tfhm.model",
    "RecognizerUpdate": "tfhm.algorithms",
    "TrainConfig": "tfhm.training",
    "Trainer": "tfhm.training",
    "train": "tfhm.training",
}
_SUBMODULES = ("baselines", "conditionals", "datasets", "diagnostics", "estimators", "evaluation",
               "export", "inpainting", "layers", "objectives", "plotting", "pretrained",
               "training")

__all__ = sorted([*_ATTRIBUTES, *_SUBMODULES, "load_model"])

if TYPE_CHECKING:  # for type checkers and IDEs only; never run
    from tfhm import (  # noqa: F401
        baselines,
        conditionals,
        datasets,
        diagnostics,
        estimators,
        evaluation,
        export,
        inpainting,
        layers,
        objectives,
        plotting,
        pretrained,
        training,
    )
    from tfhm.algorithms import Algorithm, RecognizerUpdate  # noqa: F401
    from tfhm.model import Generator, HelmholtzMachine, Recognizer  # noqa: F401
    from tfhm.training import TrainConfig, Trainer, train  # noqa: F401


# Public names and submodules are imported the first time they are used.
__getattr__, __dir__ = _lazy.attach(__name__, globals(), _ATTRIBUTES, _SUBMODULES, __all__)


def load_model(path: str | os.PathLike, **kwargs: Any) -> Any:
    """Loads a `.keras` file saved by tfhm (e.g. a run folder's model.keras).

    `keras.models.load_model` with tfhm's classes registered first (the lazy
    package registers them only when `tfhm.model` is imported).

    Args:
      path: the `.keras` file.
      **kwargs: passed to `keras.models.load_model` (e.g. `compile=False`).

    Returns:
      The model, usually a `tfhm.HelmholtzMachine`.

    Raises:
      ValueError: no file at `path`, or a file that is not a `.keras` archive.

    #### Examples

    ```python
    import os
    import tempfile
    import tfhm

    hm = tfhm.HelmholtzMachine(data_dim=16, latent_dims=(2,), seed=0)
    path = os.path.join(tempfile.mkdtemp(), "hm.keras")
    hm.save(path)
    tfhm.load_model(path).latent_dims  # (2,)
    ```
    """
    import zipfile

    import keras

    importlib.import_module("tfhm.model")  # registers tfhm's Keras classes
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"No .keras file at {path!r}.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path!r} is not a .keras model file (a .keras file is a zip "
            "archive; this one is not: truncated, corrupt or another format).")
    return keras.models.load_model(path, **kwargs)


# Keras already loaded (TensorFlow paid for): register the classes now, so a
# bare `keras.models.load_model` of a tfhm file works as before the lazy
# package. Skipped when tfhm.model is itself being imported.
if "keras" in sys.modules and "tfhm.model" not in sys.modules:
    importlib.import_module("tfhm.model")
