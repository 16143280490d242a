"""Tests of tfhm.run_dir: the one owner of a run folder's names, rules and formats."""

import ast
import json
import os
import pathlib
import shutil
import zipfile

import numpy as np
import pytest

from tfhm.run_dir import MissingRunFileError, RunDir

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def _code_strings(path):
    """The string literals of a module's code (docstrings excluded), with lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in [tree] + [n for n in ast.walk(tree) if isinstance(
            n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]:
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(
                body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def _names(text):
    """The run-folder names a string literal mentions."""
    found = {name for name in RunDir.FILES if name != RunDir.CHECKPOINTS and name in text}
    folder = RunDir.CHECKPOINTS
    if text == folder or f"{folder}/" in text or f"/{folder}" in text \
            or f"{folder}." in text:
        found.add(folder)
    return found


def test_run_folder_file_names_appear_in_run_dir_only():
    # Issue 10, acceptance 3: a run folder's file names are string literals
    # of exactly one module, tfhm/run_dir.py; every other module asks RunDir
    # (docstrings and comments may name the files).
    where = {name: set() for name in RunDir.FILES}
    for path in sorted((ROOT / "tfhm").rglob("*.py")):
        for line, text in _code_strings(path):
            for name in _names(text):
                where[name].add(f"{path.relative_to(ROOT)}:{line}")
    expected = ("config.json", "metrics.csv", "metrics.json", "model.keras",
                "samples.png", "reconstructions.png", "curves.png", "checkpoints")
    assert sorted(where) == sorted(expected)
    for name, places in where.items():
        modules = {place.split(":")[0] for place in places}
        assert modules == {"tfhm/run_dir.py"}, (name, sorted(places))


def test_paths_and_names(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.path == str(tmp_path / "run") and os.fspath(run) == run.path
    assert run.model_keras == os.path.join(run.path, "model.keras")
    assert run.checkpoints_dir == os.path.join(run.path, "checkpoints")
    assert [run.config_json, run.metrics_csv, run.metrics_json, run.samples_png,
            run.reconstructions_png, run.curves_png] == [
        run.file(name) for name in ("config.json", "metrics.csv", "metrics.json",
                                    "samples.png", "reconstructions.png", "curves.png")]
    with pytest.raises(ValueError, match="Not a file of a run folder.*'notes.txt'"):
        run.file("notes.txt")


def test_new_run_rules(tmp_path):
    run = RunDir(tmp_path / "run")
    run.check_new()  # no folder yet
    os.makedirs(run.path)
    run.check_new(allow_other_files=False)  # an empty folder
    (tmp_path / "run" / "thesis.tex").write_text("mine")
    run.check_new()  # the Trainer's rule: other files are fine
    with pytest.raises(ValueError, match=r"is not empty \(1 entries, e.g. 'thesis.tex'\)"):
        run.check_new(allow_other_files=False)  # the command line's rule
    run.check_new(overwrite=True, allow_other_files=False)
    run.write_config({"train": {"epochs": 1}})
    assert run.holds_run()
    # A run that never reached a checkpoint is not in the way (issue 25.5).
    assert run.never_checkpointed()
    run.check_new()
    os.makedirs(run.checkpoints_dir)
    pathlib.Path(run.checkpoints_dir, "checkpoint").write_text("0")
    assert not run.never_checkpointed()
    with pytest.raises(ValueError, match="already holds a tfhm run") as error:
        run.check_new()
    assert "holds another tfhm run" in str(error.value) and "--resume" in str(error.value)
    shutil.rmtree(run.checkpoints_dir)
    with pytest.raises(ValueError, match="exists and is not a folder"):
        RunDir(tmp_path / "run" / "thesis.tex").check_new(overwrite=True)
    # prepare_new moves checkpoints aside (never deletes), numbering the copies.
    for number in (1, 2):
        os.makedirs(run.checkpoints_dir)
        pathlib.Path(run.checkpoints_dir, "checkpoint").write_text(str(number))
        moved = run.prepare_new(overwrite=True)
        assert moved == f"{run.checkpoints_dir}.replaced-{number}"
        assert pathlib.Path(moved, "checkpoint").read_text() == str(number)
    assert (tmp_path / "run" / "thesis.tex").read_text() == "mine"


def test_resume_rules(tmp_path):
    with pytest.raises(ValueError, match="holds no tfhm checkpoint.*no such folder"):
        RunDir(tmp_path / "nothing").check_resumable()
    run = RunDir(tmp_path)
    run.write_config({})
    with pytest.raises(ValueError, match="holds no tfhm checkpoint"):
        run.check_resumable()
    assert run.latest_checkpoint() is None and run.checkpoints() == []
    assert not run.is_complete(1)


def test_config_round_trip_and_bad_json(tmp_path):
    run = RunDir(tmp_path / "run")
    with pytest.raises(MissingRunFileError, match="no config.json"):
        run.read_config()
    run.write_config({"model": {"latent_dims": (4, 2)}, "num_examples": 3})
    assert run.read_config() == {"format": "tfhm-run", "model": {"latent_dims": [4, 2]},
                                 "num_examples": 3}
    pathlib.Path(run.config_json).write_text("{not json")
    with pytest.raises(ValueError, match="config.json' is not valid JSON"):
        run.read_config()


def test_compatibility_check_names_each_difference(tmp_path):
    run = RunDir(tmp_path)
    run.write_config({"model": {"data_dim": 16, "latent_dims": (6, 4)},
                      "train": {"lr_wake": 0.001, "epochs": 2}, "num_examples": 240})
    run.check_compatible({"data_dim": 16, "latent_dims": (6, 4)},
                         {"lr_wake": 0.001, "epochs": 5}, 240, ["lr_wake"])
    with pytest.raises(ValueError, match=r"latent_dims: checkpoint \(6, 4\), this model \(5,\)"):
        run.check_compatible({"data_dim": 16, "latent_dims": (5,)}, {}, 240, [])
    with pytest.raises(ValueError, match="lr_wake: checkpoint 0.001, now 0.5"):
        run.check_compatible({"data_dim": 16, "latent_dims": (6, 4)},
                             {"lr_wake": 0.5}, 240, ["lr_wake"])
    with pytest.raises(ValueError, match="240 examples. Received: 100 examples"):
        run.check_compatible({"data_dim": 16, "latent_dims": (6, 4)},
                             {"lr_wake": 0.001}, 100, ["lr_wake"])
    # Optimizers given to the Trainer: compared too, Keras' numbered names aside.
    sgd = {"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.05}}
    run.write_config({"model": {"data_dim": 16}, "num_examples": 240,
                      "optimizers": {"wake": sgd, "sleep": sgd}})
    renamed = {"class_name": "SGD", "config": {"name": "sgd_1", "learning_rate": 0.05}}
    run.check_compatible({"data_dim": 16}, {}, 240, [],
                         {"wake": renamed, "sleep": renamed})
    faster = {"class_name": "SGD", "config": {"name": "sgd", "learning_rate": 0.1}}
    with pytest.raises(ValueError, match=r"(?s)other optimizers.*"
                       r"wake.config.learning_rate: checkpoint 0.05, now 0.1"):
        run.check_compatible({"data_dim": 16}, {}, 240, [], {"wake": faster, "sleep": sgd})


def test_metrics_are_read_as_written_and_truncated_only_when_needed(tmp_path):
    # Issue 11.5: a resume rewrote metrics.csv with `0` turned into `0.0`.
    run = RunDir(tmp_path)
    assert run.read_metrics() == []
    rows = [{"epoch": 1, "elbo": -20.125, "active_units_1": 0, "ess": 1 / 3},
            {"epoch": 2, "elbo": float("-inf"), "active_units_1": 3, "ess": 0.1}]
    run.write_metrics(rows[:1], append=False)
    run.write_metrics(rows[1:], append=True)
    text = pathlib.Path(run.metrics_csv).read_bytes()
    assert b",0," in text and b"0.0," not in text
    read = run.read_metrics()
    assert read == rows
    assert [type(v) for v in read[0].values()] == [int, float, int, float]
    before = os.stat(run.metrics_csv).st_mtime_ns
    assert run.truncate_metrics(2) == rows  # nothing to drop: left alone
    assert pathlib.Path(run.metrics_csv).read_bytes() == text
    assert os.stat(run.metrics_csv).st_mtime_ns == before
    assert run.truncate_metrics(1) == rows[:1]
    assert run.read_metrics() == rows[:1]
    run.write_metrics([], append=False)
    assert run.read_metrics() == [] and os.path.getsize(run.metrics_csv) == 0
    run.write_metrics_json({"train_seconds": 1.5, "dims": (2, 1)})
    assert json.loads(pathlib.Path(run.metrics_json).read_text()) == {
        "train_seconds": 1.5, "dims": [2, 1]}


def test_load_model_says_what_is_wrong_with_model_keras(tmp_path):
    # Issue 11.9: Keras says "File not found" for a corrupt .keras file.
    run = RunDir(tmp_path / "run")
    with pytest.raises(MissingRunFileError, match=r"not a tfhm run folder: no model.keras") \
            as error:
        run.load_model()
    assert isinstance(error.value, ValueError) and isinstance(error.value, FileNotFoundError)
    os.makedirs(run.path)
    good = (FIXTURES / "hm_v0_1_0.keras").read_bytes()
    cases = {"text": b"these are my notes\n", "truncated": good[:len(good) // 2],
             "empty": b""}
    for case, content in cases.items():
        pathlib.Path(run.model_keras).write_bytes(content)
        with pytest.raises(ValueError, match=r"model.keras' is corrupt: it is not a "
                           r"\.keras \(zip\) file") as error:
            run.load_model()
        assert "File not found" not in str(error.value), case
    with zipfile.ZipFile(run.model_keras, "w") as archive:  # a zip, not a model
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match="model.keras' cannot be loaded as a tfhm model"):
        run.load_model()
    shutil.copy(FIXTURES / "hm_v0_1_0.keras", run.model_keras)
    model = run.load_model()
    assert model.latent_dims == (5, 3)
    x = np.load(FIXTURES / "hm_v0_1_0_expected.npz")["x"]
    assert model.exact_log_likelihood(x).numpy().shape == (len(x),)


def test_save_model_is_atomic(tmp_path):
    run = RunDir(tmp_path / "run")

    class Failing:
        def save(self, path):
            pathlib.Path(path).write_bytes(b"half a file")
            raise OSError("disk full")

    os.makedirs(run.path)
    pathlib.Path(run.model_keras).write_bytes(b"previous")
    with pytest.raises(OSError, match="disk full"):
        run.save_model(Failing())
    assert pathlib.Path(run.model_keras).read_bytes() == b"previous"
    assert os.listdir(run.path) == ["model.keras"]  # no temporary file left
