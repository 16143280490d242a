"""The training engine: a compiled wake-sleep loop, checkpoints, tf.distribute.

`Trainer` runs the same `tfhm.estimators.step.compute_gradients` as
`HelmholtzMachine.train_step`, in its own `tf.function` step (optionally
XLA-compiled), fed by `tf.data`, under any `tf.distribute` strategy, with
`tf.train.CheckpointManager` checkpoints that make an interrupted run resume
to the very same weights. One module per concern:

  config.py    TrainConfig, the hyper-parameters (imports no TensorFlow)
  step.py      the compiled, sharded step (seeds, all-reduce, loss scaling)
  data.py      the tf.data pipeline of stateless epoch permutations, shards
  report.py    per-epoch metrics, TensorBoard summaries, the console line
  trainer.py   Trainer: epochs, checkpoints, resume, the NaN guard
  history.py   TrainHistory, what Trainer.fit returns (Keras History's view too)
  ../run_dir.py  RunDir: the run folder's files and rules
  ../progress.py ProgressBar

Importing `tfhm.training` (or `tfhm.training.config`) loads no TensorFlow:
`Trainer` and `train` are loaded on first use (PEP 562).

#### Examples

```python
import tensorflow as tf
import tfhm
x_train, x_test = tfhm.datasets.load_digits()
hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16, 8),
                           hidden_units=(64,), seed=0)
config = tfhm.TrainConfig(epochs=2, batch_size=100, lr_wake=3e-3,
                          lr_sleep=3e-3, seed=0)
trainer = tfhm.Trainer(hm, config, run_dir="runs/digits", verbose=0)
history = trainer.fit(x_train, validation_data=x_test)  # one dict per epoch
# After an interruption: the same lines with fit(..., resume=True).

strategy = tf.distribute.MirroredStrategy()
with strategy.scope():                 # the model's variables are mirrored
    hm = tfhm.HelmholtzMachine(data_dim=64, latent_dims=(16, 8), seed=0)
trainer = tfhm.Trainer(hm, config, strategy=strategy, verbose=0)
```

#### References

[1]: Hinton, G. E., Dayan, P., Frey, B. J. & Neal, R. M. The "wake-sleep"
     algorithm for unsupervised neural networks. Science 268 (1995).
[2]: Bornschein, J. & Bengio, Y. Reweighted wake-sleep. ICLR (2015).
"""

from __future__ import annotations

import os
from typing import Any

from tfhm import _io, _lazy
from tfhm.progress import ProgressBar
from tfhm.run_dir import RunDir
from tfhm.training.config import TrainConfig

__all__ = [
    "CHECKPOINT_DIR",
    "ProgressBar",
    "RUN_CONFIG",
    "TrainConfig",
    "TrainHistory",
    "Trainer",
    "save_model_atomic",
    "train",
]

# Kept for compatibility; `tfhm.run_dir.RunDir` owns the run folder's names.
CHECKPOINT_DIR = RunDir.CHECKPOINTS
RUN_CONFIG = RunDir.CONFIG

_LAZY = {"Trainer": "tfhm.training.trainer", "TrainHistory": "tfhm.training.history",
         "train": "tfhm.training.trainer"}


def save_model_atomic(model: Any, path: str | os.PathLike) -> None:
    """`model.save(path)` through a temporary file and `os.replace`.

    Readers of `path` (export, tutorials, `tfhm evaluate`) see the previous
    model or the new one, never half a file. (A run folder's model:
    `tfhm.run_dir.RunDir(folder).save_model(model)`.)
    """
    _io.replace_atomically(path, model.save)


__getattr__, __dir__ = _lazy.attach(__name__, globals(), _LAZY, listed=__all__)
