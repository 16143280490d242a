"""Tests of tfhm.pretrained: shipped files checked, loaded, and as good as their cards."""

import json
import os
import shutil

import numpy as np
import pytest

import tfhm
from tfhm import pretrained

NAMES = pretrained.names()


def test_something_is_shipped():
    assert "digits_rws_16" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_file_matches_its_sha256_and_loads(name):
    assert pretrained.verify(name) == pretrained.path(name)
    hm = pretrained.load(name)
    card = pretrained.card(name)
    assert isinstance(hm, tfhm.HelmholtzMachine)
    assert list(hm.latent_dims) == card["architecture"]["latent_dims"]
    assert list(hm.hidden_units) == card["architecture"]["hidden_units"]
    assert (hm.generator_conditional, hm.recognizer_conditional) == (
        card["architecture"]["generator_conditional"],
        card["architecture"]["recognizer_conditional"])
    assert hm.algorithm.value == card["algorithm"] and hm.num_samples == card["num_samples"]
    assert hm.sample(4, seed=0)["x"].shape == (4, card["architecture"]["data_dim"])


def _validation_images(card):
    if card["dataset"].startswith("scikit-learn digits"):
        return tfhm.datasets.load_digits()[1]
    data = np.load(os.path.join(os.path.dirname(__file__), "fixtures",
                                "mnist_valid_first100.npz"))
    return data["x"]


@pytest.mark.parametrize("name", NAMES)
def test_log_likelihood_on_the_fixed_slice_is_the_cards(name):
    card = pretrained.card(name)
    check = card["slice_check"]
    x = _validation_images(card)[:100]
    hm = pretrained.load(name)
    got = float(hm.log_likelihood(x, num_samples=check["num_samples"],
                                  seed=check["seed"]).numpy().mean())
    # The card's value was computed with the same K and seed; tfhm versions
    # may draw differently, and the mean over 100 images of a K=1,000 estimate
    # varies by far less than 1 nat between seeds (its standard deviation is
    # below 0.05 nat for these models), so 1 nat is the tolerance.
    assert abs(got - check["log_likelihood"]) < 1.0
    if sum(card["architecture"]["latent_dims"]) <= 20:
        exact = float(hm.exact_log_likelihood(_validation_images(card)).numpy().mean())
        assert exact == pytest.approx(-card["validation_nll"], abs=1e-3)


def _copy_package(tmp_path, monkeypatch):
    here = tmp_path / "pretrained"
    shutil.copytree(os.path.dirname(pretrained.MANIFEST), here)
    monkeypatch.setattr(pretrained, "_HERE", str(here))
    monkeypatch.setattr(pretrained, "MANIFEST", str(here / "manifest.json"))
    return here


def test_a_flipped_byte_is_refused_with_the_file_named(tmp_path, monkeypatch):
    _copy_package(tmp_path, monkeypatch)
    name = NAMES[0]
    file = pretrained.path(name)
    data = bytearray(open(file, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(file, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="is corrupt or was replaced") as error:
        pretrained.load(name)
    assert file in str(error.value)


def test_a_missing_file_is_refused_with_the_file_named(tmp_path, monkeypatch):
    _copy_package(tmp_path, monkeypatch)
    name = NAMES[0]
    os.remove(pretrained.path(name))
    with pytest.raises(ValueError, match="is missing") as error:
        pretrained.load(name)
    assert pretrained.path(name) in str(error.value)


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="digits_rws_16") as error:
        pretrained.card("no_such_model")
    assert "no_such_model" in str(error.value)


def test_card_is_a_copy_and_complete():
    card = pretrained.card(NAMES[0])
    card["validation_nll"] = 0.0
    assert pretrained.card(NAMES[0])["validation_nll"] != 0.0
    for key in ("architecture", "algorithm", "num_samples", "epochs", "train_seconds",
                "machine", "commit", "command", "dataset", "binarization",
                "validation_nll", "validation_protocol", "validation_elbo",
                "published_nll", "published_source", "slice_check"):
        assert key in card, key


def test_manifest_lists_only_files_that_exist():
    manifest = json.load(open(pretrained.MANIFEST, encoding="utf-8"))
    folder = os.path.dirname(pretrained.MANIFEST)
    files = {entry["file"] for entry in manifest["models"].values()}
    assert files == {f for f in os.listdir(folder) if f.endswith(".keras")}
