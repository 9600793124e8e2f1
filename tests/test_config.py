"""Run configuration: defaults, overrides and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepgan.config import RunConfig, config_from_dict, dump_config, load_config
from hepgan.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_file_loads_and_round_trips(tmp_path: Path) -> None:
    config = load_config(ROOT / "configs" / "calo.yaml")
    assert config.geometry == "calochallenge_ds1_photons"
    assert config.training.loss == "wgan-gp"
    dump_config(config, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == config


def test_overrides_apply_with_types(tmp_path: Path) -> None:
    config = load_config(
        ROOT / "configs" / "calo.yaml",
        ["training.max_steps=7", "training.betas=[0.0, 0.99]", "model.architecture=dcgan"],
    )
    assert config.training.max_steps == 7
    assert config.training.betas == (0.0, 0.99)
    assert config.model.architecture == "dcgan"


def test_exponent_numbers_without_a_dot_are_numbers(tmp_path: Path) -> None:
    """1e-5 and 2E-4 read as numbers in a config file and in --set (YAML 1.1 would read them as text)."""
    text = (ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8")
    assert "lr_generator: 1.0e-4" in text
    path = tmp_path / "calo.yaml"
    path.write_text(text.replace("lr_generator: 1.0e-4", "lr_generator: 2E-4"), encoding="utf-8")
    config = load_config(path, ["preprocessing.fraction_epsilon=1e-5", "training.mmd_bandwidths=[5e-1, 1e0]"])
    assert config.training.lr_generator == 2e-4
    assert config.preprocessing.fraction_epsilon == 1e-5
    assert config.training.mmd_bandwidths == (0.5, 1.0)
    with pytest.raises(ConfigError, match="fraction_epsilon: expected a number"):  # quoted text stays text
        load_config(path, ["preprocessing.fraction_epsilon='1e-5'"])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"training": {"batch_sizes": 3}}, "batch_sizes"),
        ({"training": {"batch_size": "big"}}, "training.batch_size"),
        ({"training": {"batch_size": 0}}, "training.batch_size"),
        ({"training": {"batch_size": 2.5}}, "training.batch_size"),
        ({"training": {"loss": "hinge"}}, "training.loss"),
        ({"training": {"lr_generator": float("nan")}}, "training.lr_generator"),
        ({"training": {"amp": "yes"}}, "training.amp"),
        ({"model": {"architecture": "transformer"}}, "model.architecture"),
        ({"data": {"validation_fraction": 1.5}}, "data.validation_fraction"),
        ({"name": "../escape"}, "name"),
        ({"generation": []}, "generation"),
        ({"validation": {"reference": "geant4"}}, "validation.reference"),
        ({"validation": {"n_showers": 10}}, "validation.n_showers"),
        ({"validation": {"classifier_protocols": ["bdt"]}}, "validation.classifier_protocols"),
        ({"validation": {"classifier_protocols": []}}, "validation.classifier_protocols"),
        ({"validation": {"reference": "simulate", "seed": 20221}}, "validation.seed"),  # = simulation.seed
        ({"preprocessing": {"response_calibration": "yes"}}, "preprocessing.response_calibration"),
        ({"preprocessing": {"profile_calibration": "voxels"}}, "preprocessing.profile_calibration"),
    ],
)
def test_bad_values_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        config_from_dict(data, "test.yaml")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(unsafe)
    with pytest.raises(ConfigError, match="key=value"):
        load_config(ROOT / "configs" / "calo.yaml", ["training.max_steps"])


def test_defaults_are_valid() -> None:
    RunConfig().check("defaults")
