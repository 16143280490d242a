"""`export_model`: the two SavedModels written into TF Serving's versioned layout.

Each version folder appears atomically (saved into a hidden temporary folder,
then renamed), so a server polling the base folder never sees half a model.
Before the rename each SavedModel loses the attributes that old servers do
not know (`compat.strip_debug_names`) and gains its warm-up records
(`warmup.write_warmup`).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import warnings
from typing import Any

import tensorflow as tf

from tfhm import _checks
from tfhm.export import DEFAULT_MAX_NUM_SAMPLES, DEFAULT_MAX_ROWS, compat, warmup
from tfhm.export.modules import GeneratorModule, RecognizerModule
from tfhm.model import HelmholtzMachine
from tfhm.run_dir import RunDir

__all__ = ["export_model"]

_INT32_MAX = 2**31 - 1


def _load_source(source: Any) -> HelmholtzMachine:
    """The model of `source`: a model, a run folder (RunDir) or a `.keras` file."""
    if isinstance(source, HelmholtzMachine):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "`source` must be a tfhm.HelmholtzMachine or the path of a training "
            f"run folder. Received: source={source!r} of type "
            f"{type(source).__name__}")
    path = os.fspath(source)
    try:
        if path.endswith(".keras"):
            import tfhm
            model = tfhm.load_model(path)
        else:
            model = RunDir(path).load_model()
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"No trained model: {error} `source` must be a HelmholtzMachine, a "
            f"training run folder or a .keras file. Received: source={path!r}") from None
    if not isinstance(model, HelmholtzMachine):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a "
                         "tfhm.HelmholtzMachine.")
    return model


def _count(name: str, value: Any, lo: int) -> int:
    """`value` as an int in [lo, 2**31 - 1] (`_checks.int_in_range`), or ValueError."""
    try:
        return _checks.int_in_range(name, value, lo, _INT32_MAX)
    except ValueError:
        what = "a non-negative integer" if lo == 0 else f"an integer >= {lo}"
        raise ValueError(f"`{name}` must be {what} no larger than {_INT32_MAX}. "
                         f"Received: {name}={value!r}") from None


def _publish(staged: pathlib.Path, target: pathlib.Path, overwrite: bool) -> None:
    """Renames the finished folder `staged` to `target` (atomic on POSIX)."""
    if not target.exists():
        os.rename(staged, target)
        return
    if not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True (--overwrite) to "
            "replace it, or export a new version.")
    # A directory cannot be renamed onto a non-empty one: move the old version
    # aside (it stays whole until removed), then move the new one in.
    retired = pathlib.Path(tempfile.mkdtemp(dir=target.parent,
                                            prefix=f".old-{target.name}-"))
    os.rename(target, retired / target.name)
    os.rename(staged, target)
    shutil.rmtree(retired, ignore_errors=True)


def _save_and_publish(modules: dict[str, tf.Module], targets: dict[str, pathlib.Path],
                      version: int, overwrite: bool, model: HelmholtzMachine) -> None:
    """Saves each module into a hidden folder beside its target, then renames."""
    staged = {}
    try:
        for name, module in modules.items():
            targets[name].parent.mkdir(parents=True, exist_ok=True)
            staged[name] = pathlib.Path(tempfile.mkdtemp(
                dir=targets[name].parent, prefix=f".tmp-{version}-"))
            tf.saved_model.save(module, str(staged[name]),
                                signatures=module.signatures())
            compat.strip_debug_names(staged[name])
            warmup.write_warmup(staged[name], name, model.generator.data_dim,
                                model.generator.latent_dims, list(module.signatures()))
            # mkdtemp makes the folder private (0700): a server running as
            # another user could not read the published version.
            os.chmod(staged[name], 0o755)
        for name in modules:
            _publish(staged[name], targets[name], overwrite)
    finally:
        for folder in staged.values():
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)


def _newest_version(folder: pathlib.Path) -> int | None:
    """The largest numeric version folder in `folder` (what TF Serving serves)."""
    versions = [int(p.name) for p in folder.iterdir()
                if p.is_dir() and p.name.isdigit()] if folder.is_dir() else []
    return max(versions, default=None)


def _warn_overwrite(targets: dict[str, pathlib.Path], version: int) -> None:
    """Warns when `--overwrite` replaces the version a server would be serving."""
    for name, target in targets.items():
        if target.exists() and _newest_version(target.parent) == version:
            warnings.warn(
                f"Overwriting {target}, the newest version of {name!r}: a TF "
                "Serving that already serves it keeps the old weights in "
                "memory (it loads only versions it does not have) and may "
                "answer 404 between the two renames. Export a new version "
                f"number (e.g. {version + 1}) to replace a served model.",
                UserWarning, stacklevel=3)
            return


def export_model(source: Any, base_dir: str | os.PathLike, version: int = 1, *,
                 max_num_samples: int | None = DEFAULT_MAX_NUM_SAMPLES,
                 max_rows: int | None = DEFAULT_MAX_ROWS,
                 overwrite: bool = False) -> dict[str, str]:
    """Writes the generator and recognizer SavedModels for TF Serving.

    Each SavedModel is first saved into a hidden temporary folder next to its
    target (`<base_dir>/<name>/.tmp-<version>-*`, a name TF Serving ignores)
    and then renamed into place, so a server polling `<base_dir>/<name>`
    never sees a half-written version. A crash leaves at most such a hidden
    folder behind, never a numeric one.

    Args:
      source: a `tfhm.HelmholtzMachine`, a training run folder `RUN` (its
        model is read with `tfhm.run_dir.RunDir(RUN).load_model()`), or a
        `.keras` file.
      base_dir: the folder that TF Serving's `models.config` points into.
      version: the version folder, a non-negative integer (TF Serving serves
        the largest one by default).
      max_num_samples: the most samples one request may ask for (`sample`'s
        `num_samples`; `log_likelihood`'s `num_samples * batch size`;
        `inpaint`'s `num_samples * batch size` and `num_proposals * batch
        size`); fixed in the graph. None (the default): as many `sample`
        samples as fit a 4 MiB gRPC response, `RESPONSE_BUDGET_BYTES`
        (`tfhm.export.default_limits`).
      max_rows: the largest batch of `decode`, `encode`, `encode_unseeded`
        and `inpaint`; fixed in the graph. None (the default): as many rows
        as fit the same budget.
      overwrite: replace an existing version folder instead of raising.

    Returns:
      `{"generator": path, "recognizer": path}`, the version folders (str).

    Warns:
      UserWarning: `overwrite` replaces the newest version (a server keeps
        serving the old weights: export a new version instead); or this
        TensorFlow is newer than the one the graphs' ops were checked with
        (`tfhm.export.compat.CHECKED_WITH_TF`).

    Raises:
      FileExistsError: a version folder exists and `overwrite` is False;
        nothing is written then.
      FileNotFoundError: a run folder without a saved model.
      TypeError, ValueError: a bad `source`, `version`, `max_num_samples` or
        `max_rows`.
    """
    model = _load_source(source)
    version = _count("version", version, 0)
    if max_num_samples is not None:
        max_num_samples = _count("max_num_samples", max_num_samples, 1)
    if max_rows is not None:
        max_rows = _count("max_rows", max_rows, 1)
    base_dir = pathlib.Path(base_dir)
    modules = {"generator": GeneratorModule(model, max_num_samples, max_rows),
               "recognizer": RecognizerModule(model, max_rows)}
    targets = {name: base_dir / name / str(version) for name in modules}
    for target in targets.values():
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} already exists; pass overwrite=True (--overwrite) "
                "to replace it, or export a new version.")
    if overwrite:
        _warn_overwrite(targets, version)
    message = compat.newer_tf_warning(tf.__version__)
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)
    _save_and_publish(modules, targets, version, overwrite, model)
    return {name: str(target) for name, target in targets.items()}
