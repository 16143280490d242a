"""What the Trainer reports after each epoch: metrics, TensorBoard, a console line.

Every draw made here comes from a named seed stream of `tfhm._seeds`
(`validation`, `diagnostics`, `pictures`) of the run's seed, never from the
model's seed generator, so reporting never changes the training's random
numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfhm import _io, _seeds, diagnostics, evaluation, plotting

__all__ = ["check_logdir", "epoch_line", "evaluate_epoch", "write_summaries"]


def check_logdir(logdir) -> None:
    """Refuses a TensorBoard folder (`logdir`) that cannot be written.

    Args:
      logdir: the Trainer's TensorBoard folder (str or path), or None.

    Raises:
      ValueError: `logdir` is set and nothing can be created there (a path
        under a file, no permission), or the `tensorboard` package, which
        TensorFlow no longer installs, cannot be imported.
    """
    if logdir is None:
        return
    _io.check_can_write(logdir, "logdir")
    try:
        import tensorboard  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    except ImportError:
        raise ValueError(
            "TensorBoard summaries (`logdir`) need the `tensorboard` "
            "package, which TensorFlow no longer installs: pip install "
            f"tensorboard. Received: logdir={logdir!r}") from None


def evaluate_epoch(model, x: np.ndarray, seed: int, epoch: int, num_samples: int,
                   diagnostics_num_samples: int, gradient_variance_seeds: int = 0,
                   batch_size: int = 100) -> dict[str, float | int]:
    """The per-epoch validation metrics and per-layer diagnostics on `x`.

    Args:
      model: a `tfhm.HelmholtzMachine`.
      x: float32 `[n, data_dim]` 0/1 examples.
      seed: the run's seed (`TrainConfig.seed`).
      epoch: the epoch, 0-based (folded into the seeds).
      num_samples: K of the importance-sampled estimates.
      diagnostics_num_samples: K of the per-layer diagnostics.
      gradient_variance_seeds: N > 0 adds `grad_variance_{generator,recognizer}`
        and `grad_snr_{generator,recognizer}`: `diagnostics.gradient_variance`
        of the model's own estimator from N estimates on the first
        `batch_size` rows of `x`.
      batch_size: the rows of that batch (the training batch size).

    Returns:
      A dict: `val_elbo`, `val_log_likelihood`, `val_ess` (means over the
      examples) and per latent layer l (1-based, bottom up) `kl_l`,
      `entropy_l`, `active_units_l`; with gradient variances as above.
    """
    summary = evaluation.importance_sampled(  # [n] arrays
        model, x, num_samples, _seeds.stream(seed, "validation", epoch))
    diag = diagnostics.latent_diagnostics(
        model, x, diagnostics_num_samples, _seeds.stream(seed, "diagnostics", epoch))
    row = {f"val_{k}": float(v.mean()) for k, v in summary.items()}
    for l in range(len(model.latent_dims)):
        row[f"kl_{l + 1}"] = float(diag["kl"][l])
        row[f"entropy_{l + 1}"] = float(diag["entropy"][l])
        row[f"active_units_{l + 1}"] = int(diag["active_units"][l])
    if gradient_variance_seeds:
        stats = diagnostics.gradient_variance(
            model, x[:batch_size], num_seeds=gradient_variance_seeds,
            seed=_seeds.stream(seed, "gradient_variance", epoch))
        for network in ("generator", "recognizer"):
            row[f"grad_variance_{network}"] = stats[network]["variance"]
            row[f"grad_snr_{network}"] = stats[network]["snr"]
    return row


def write_summaries(writer, model, row: Mapping[str, float], eval_x: np.ndarray | None,
                    seed: int, epoch: int) -> None:
    """TensorBoard scalars of `row` and image grids of samples and reconstructions.

    Args:
      writer: a `tf.summary` file writer.
      model: a `tfhm.HelmholtzMachine`.
      row: the epoch's metrics (`epoch` is skipped).
      eval_x: float32 `[n, data_dim]` examples to reconstruct (the first 32),
        or None.
      seed: the run's seed (the pictures' stream).
      epoch: the epoch, 0-based (the summaries' step is `epoch + 1`).
    """
    with writer.as_default(step=epoch + 1):
        for key, value in row.items():
            if key != "epoch":
                tf.summary.scalar(key, value)
        pictures = _seeds.stream(seed, "pictures")
        grid = plotting.sample_grid(model, 64, pictures, cols=8)
        tf.summary.image("samples", grid[None, :, :, None])
        if eval_x is not None:
            grid = plotting.reconstruction_grid(model, eval_x[:32], pictures)
            tf.summary.image("reconstructions", grid[None, :, :, None])
    writer.flush()


def epoch_line(row: Mapping[str, float], epochs: int, latent_dims: Sequence[int]) -> str:
    """The one-line console summary of an epoch's metrics row."""
    text = (f"epoch {row['epoch']}/{epochs}: wake {row['wake_loss']:.3f} "
            f"sleep {row['sleep_loss']:.3f} elbo {row['elbo']:.3f} "
            f"ess {row['ess']:.2f}")
    if "val_elbo" in row:
        active = ",".join(str(row[f"active_units_{l + 1}"])
                          for l in range(len(latent_dims)))
        text += (f" | val elbo {row['val_elbo']:.3f} "
                 f"ll {row['val_log_likelihood']:.3f} ess {row['val_ess']:.2f}"
                 f" active {active}/{','.join(map(str, latent_dims))}")
    return text + f" | {row['seconds']:.1f}s"
