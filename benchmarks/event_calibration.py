"""Fit the feature calibration on a trained event checkpoint and write a calibrated copy, to compare with and without.

    python benchmarks/event_calibration.py --checkpoint RUN_OR_FILE -o calibrated.pt
    hepgan generate --checkpoint calibrated.pt --n 1e5 -o gen.h5
    hepgan validate --reference REFERENCE.h5 --generated gen.h5 -o report/

This is the fit that training with ``preprocessing.feature_calibration: true`` runs at every
checkpoint (:meth:`hepgan.domains.events.EventTrainingData.fit_feature_calibration`: the
reference quantiles from the checkpoint's training events, the generated ones from 2 × 10⁵
events of its EMA generator, seeded by the run's seed), applied after the fact. The network
is unchanged, so the same seed and training file give the same calibration as a run trained
with the option on. Prints the number of calibrated features and the largest shift of a
feature's median (in units of the feature, which is about N(0, 1)).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from hepgan.config import config_from_dict
from hepgan.domains.events import EventTrainingData
from hepgan.generate import EventGenerator, resolve_checkpoint
from hepgan.training.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="event checkpoint or run folder (default: the newest events run)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("-o", "--output", required=True, help="where to write the calibrated checkpoint")
    args = parser.parse_args()

    path = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="events")
    state = load_checkpoint(path)
    config = config_from_dict(state["config"], f"{path}: config")
    config = replace(config, preprocessing=replace(config.preprocessing, feature_calibration=True))
    data = EventTrainingData(config)
    data.load_transform(state)
    data.training_tensors()  # the calibration's reference quantiles, from the training events
    generator = EventGenerator.from_state(state, device="cpu", source=str(path))
    data.fit_feature_calibration(generator.network, torch.device("cpu"), config.seed)
    state.update(data.checkpoint_entries())
    state["config"] = config.to_dict()
    torch.save(state, args.output)
    calibration = data.events.feature_calibration
    assert calibration is not None and calibration.generated_quantiles is not None
    middle = calibration.levels.numel() // 2
    shift = (calibration.reference_quantiles[:, middle] - calibration.generated_quantiles[:, middle]).abs()
    print(f"checkpoint: {path}")
    print(f"calibrated {len(calibration.columns)} features; largest median shift {float(shift.max()):.3f}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
