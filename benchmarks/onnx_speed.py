"""ONNX export time and onnxruntime generation speed in ms/shower on the CPU (CaloChallenge batch sizes 1, 100,
10000), the cell calibration inside the graph when the checkpoint has one.

    python benchmarks/onnx_speed.py [--checkpoint RUN_OR_FILE] [--n-total 20000] [--batch-sizes 1,100,10000]

Exports the checkpoint to a temporary file (timed), opens an onnxruntime CPU session with as
many intra-op threads as torch uses, prepares every batch's inputs beforehand (standard-normal
noise, incident energies from the checkpoint's generation spectrum in MeV, uniform calibration
ranks), runs one warm-up batch and then times ``session.run`` alone. Prints one table. Needs the
``onnx`` extra (``pip install 'hepgan[onnx]'``). ``benchmarks/generation_speed.py`` imports
:func:`onnx_timings` for its ONNX line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepgan.cli import parse_count
from hepgan.export import RANKS_NAME, export_onnx
from hepgan.generate import ShowerGenerator, resolve_checkpoint
from hepgan.sim.spectra import EnergySpectrum

MAX_RUNS = 1000
"""At most this many timed ``session.run`` calls per batch size (batch 1 would otherwise take ``n_total``)."""


def _feeds(
    session: Any, n_batches: int, batch: int, spectrum: EnergySpectrum, rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """Inputs of ``n_batches`` batches, built before timing: noise, incident energies (MeV), calibration ranks."""
    shapes = {value.name: value.shape for value in session.get_inputs()}
    latent_dim = int(shapes["noise"][1])
    feeds = []
    for _ in range(n_batches):
        feed = {
            "noise": rng.standard_normal((batch, latent_dim), dtype=np.float32),
            "incident_energy": spectrum.sample(batch, rng).astype(np.float32).reshape(batch, 1),
        }
        if RANKS_NAME in shapes:
            feed[RANKS_NAME] = rng.random((batch, int(shapes[RANKS_NAME][1])), dtype=np.float32)
        feeds.append(feed)
    return feeds


def onnx_timings(checkpoint: Path, batch_sizes: Sequence[int] = (1, 100, 10_000), n_total: int = 20_000) -> dict:
    """Export wall time and onnxruntime CPU ms/shower for ``checkpoint`` at each batch size.

    Each batch size runs ``max(2, min(n_total // batch, MAX_RUNS))`` timed batches after one
    warm-up batch, intra-op threads = ``torch.get_num_threads()``.

    Returns:
        ``{"export_s": s, "session_s": s, "threads": int, "calibrated": bool,
        "ms_per_shower": {batch: ms}}``.
    """
    import onnxruntime as ort

    generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu")
    config = generator.config
    spectrum = EnergySpectrum.from_dict(config.generation.spectrum or config.simulation.spectrum, "spectrum")
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = export_onnx(Path(checkpoint), Path(tmp) / "generator.onnx")
        export_s = time.perf_counter() - t0
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        t0 = time.perf_counter()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session_s = time.perf_counter() - t0
    calibrated = session.get_modelmeta().custom_metadata_map.get("cell_calibration") == "included"
    rng = np.random.default_rng(0)
    ms_per_shower: dict[int, float] = {}
    for batch in batch_sizes:
        feeds = _feeds(session, max(2, min(n_total // batch, MAX_RUNS)), batch, spectrum, rng)
        session.run(None, feeds[0])  # warm-up
        t0 = time.perf_counter()
        for feed in feeds:
            session.run(None, feed)
        ms_per_shower[batch] = 1e3 * (time.perf_counter() - t0) / (len(feeds) * batch)
    return {
        "export_s": export_s,
        "session_s": session_s,
        "threads": threads,
        "calibrated": calibrated,
        "ms_per_shower": ms_per_shower,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="checkpoint or run folder (default: newest run)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--n-total", type=parse_count, default=20_000, help="showers timed per batch size")
    parser.add_argument("--batch-sizes", default="1,100,10000", help="comma-separated batch sizes")
    args = parser.parse_args()

    checkpoint = resolve_checkpoint(args.checkpoint, args.runs_dir, kind="calo")
    batch_sizes = tuple(int(part) for part in args.batch_sizes.split(","))
    import onnxruntime as ort

    timings = onnx_timings(checkpoint, batch_sizes, args.n_total)
    print(f"checkpoint: {checkpoint}")
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, intra-op threads {timings['threads']}")
    calibration = "inside the graph" if timings["calibrated"] else "none in this checkpoint"
    print(
        f"export {timings['export_s']:.1f} s, session {timings['session_s']:.2f} s; "
        f"float32 graph, cell calibration {calibration}\n"
    )
    print(f"{'batch':>6s} {'onnxruntime CPU ms/shower':>26s}")
    for batch, ms in timings["ms_per_shower"].items():
        print(f"{batch:6d} {ms:26.5f}")


if __name__ == "__main__":
    main()
