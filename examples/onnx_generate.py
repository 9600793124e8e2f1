"""Generate calorimeter showers from a hepgan ONNX export with onnxruntime, step by step, as a C++ framework would.

    hepgan export --format onnx -o generator.onnx
    python examples/onnx_generate.py generator.onnx --n 10 --energy 4096 [--seed 0] [-o showers.npy]

Every step names the ONNX Runtime C API call (``OrtApi`` function, ``onnxruntime_c_api.h``)
that does the same in C or C++, so this file can be read as the recipe for a Geant4/Gaudi
fast-simulation hook. The graph holds the network, its pre/post-processing and, when the
checkpoint has one, the cell calibration; all inputs and the output are float32 with a
dynamic batch axis N. The caller supplies all randomness: standard-normal ``noise`` and, with
the calibration, uniform [0, 1) ``calibration_ranks`` (one per cell), so the C++ side
controls seeds and reproducibility with its own random engine.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort


def main(argv: Sequence[str] | None = None) -> np.ndarray:
    """Run the exported graph once; returns the showers (N, n_cells) float32 in MeV (and writes them with -o)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .onnx file written by 'hepgan export'")
    parser.add_argument("--n", type=int, default=10, help="showers to generate (the batch size N)")
    parser.add_argument("--energy", type=float, default=4096.0, help="incident energy of every shower in MeV")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and the calibration ranks")
    parser.add_argument("-o", "--output", help="write the showers (N, n_cells) float32 MeV to this .npy file")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (one per event-loop worker)")
    args = parser.parse_args(argv)

    # C: const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION); api->CreateEnv(ORT_LOGGING_LEVEL_WARNING,
    #    "hepgan", &env); once per process, shared by all sessions.
    # C: api->CreateSessionOptions(&options); api->SetIntraOpNumThreads(options, 1); threads per session.
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    # C: api->CreateSession(env, "generator.onnx", options, &session); once per job, reused for every event:
    #    loading and optimising the graph takes far longer than a batch of showers.
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])

    # C: api->SessionGetModelMetadata(session, &meta); api->ModelMetadataLookupCustomMetadataMap(meta, allocator,
    #    "latent_dim", &value); same for "n_voxels", "n_extra", "cell_calibration", "energy_unit" (strings).
    meta = session.get_modelmeta().custom_metadata_map
    latent_dim = int(meta["latent_dim"])
    n_cells = int(meta["n_voxels"]) + int(meta["n_extra"])
    print(
        f"{args.model}: geometry {meta['geometry']}, latent_dim {latent_dim}, {n_cells} cells, "
        f"cell calibration {meta['cell_calibration']}, precision {meta['precision']}, units {meta['energy_unit']}"
    )
    # C: api->SessionGetInputCount(session, &count); api->SessionGetInputName(session, i, allocator, &name):
    #    "noise", "incident_energy" and, with the calibration, "calibration_ranks".
    input_names = [value.name for value in session.get_inputs()]
    print("inputs:", ", ".join(f"{v.name} {v.shape} {v.type}" for v in session.get_inputs()))

    # The inputs: row-major float32 buffers the caller owns (C: float arrays / std::vector<float>).
    rng = np.random.default_rng(args.seed)  # C++: e.g. std::mt19937_64 or the framework's engine
    n = args.n
    # noise (N, latent_dim): standard normal (C++: std::normal_distribution<float>)
    noise = rng.standard_normal((n, latent_dim), dtype=np.float32)
    # incident_energy (N, 1): MeV, one per shower (Geant4 gives MeV: G4FastTrack's primary kinetic energy)
    incident = np.full((n, 1), args.energy, dtype=np.float32)
    feeds = {"noise": noise, "incident_energy": incident}
    if "calibration_ranks" in input_names:
        # calibration_ranks (N, n_cells): uniform in [0, 1), one per cell, fresh for every shower
        # (C++: std::uniform_real_distribution<float>(0, 1)); they decide which empty cells the calibration fills
        feeds["calibration_ranks"] = rng.random((n, n_cells), dtype=np.float32)

    # C: api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory_info); then per input
    #    api->CreateTensorWithDataAsOrtValue(memory_info, buffer, bytes, shape, 2,
    #    ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &value): wraps the caller's buffer, no copy.
    # C: api->Run(session, NULL, input_names, input_values, n_inputs, {"showers"}, 1, &output): one call per batch.
    (showers,) = session.run(["showers"], feeds)
    # C: api->GetTensorMutableData(output, (void**)&cells): N·n_cells floats, row-major, in MeV; read them, then
    #    api->ReleaseValue(output) (and the inputs); ReleaseSession / ReleaseEnv at the end of the job.

    totals = showers.sum(axis=1)
    print(
        f"showers {showers.shape} {showers.dtype} MeV: E_tot/E_inc mean {np.mean(totals / incident[:, 0]):.3f}, "
        f"hit cells per shower {np.mean(np.count_nonzero(showers, axis=1)):.1f}"
    )
    if args.output:
        np.save(Path(args.output), showers)
        print(f"wrote {args.output}")
    return showers


if __name__ == "__main__":
    main()
