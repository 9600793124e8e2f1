"""Shared fixtures: small reference shower files made with hepgan's own simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepgan.config import config_from_dict, load_config
from hepgan.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def small_config(tmp: Path, data_path: Path, **training) -> object:
    """The default config shrunk for tests: tiny networks, a few steps, runs under ``tmp``."""
    base = load_config(ROOT / "configs" / "calo.yaml").to_dict()
    base["data"]["path"] = str(data_path)
    base["data"]["chunk_size"] = 128
    base["model"].update(latent_dim=8, generator_hidden=[32], critic_hidden=[32])
    base["training"].update(
        {
            "batch_size": 32,
            "max_steps": 6,
            "checkpoint_every": 3,
            "log_every": 1,
            "d_steps": 2,
            "runs_dir": str(tmp / "runs"),
            "threads": 1,
            **training,
        }
    )
    base["generation"]["batch_size"] = 100
    return config_from_dict(base, "test config")


@pytest.fixture(scope="session")
def reference_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 GFlash photon showers on the CaloChallenge ds1 geometry at 1, 4 and 16 GeV."""
    from hepgan.simulate import simulate_to_file

    out = tmp_path_factory.mktemp("reference") / "reference.h5"
    config = load_config(
        ROOT / "configs" / "calo.yaml", ["simulation.spectrum={kind: discrete, values_mev: [1024, 4096, 16384]}"]
    )
    simulate_to_file(config, out, n=400, seed=7)
    return out


def write_untrained_checkpoint(path: Path, config: dict, entries: dict, generator, critic) -> Path:
    """A step-0 checkpoint of networks as they are (no training): ``config`` as a dict, the
    data module's ``entries`` (kind, transform, ...), the same weights as plain and EMA generator."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": 0,
        "config": config,
        **entries,
        "generator": generator.state_dict(),
        "generator_ema": generator.state_dict(),
        "critic": critic.state_dict(),
    }
    return save_checkpoint(state, path)
