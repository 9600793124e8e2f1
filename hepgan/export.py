"""Export a trained generator with its pre/post-processing to ONNX for C++ frameworks.

The exported graph takes

- ``noise`` (N, latent_dim) float32: standard-normal latent vectors;
- ``incident_energy`` (N, 1) float32: incident energies in MeV;
- ``calibration_ranks`` (N, n_voxels + n_extra) float32, only when the checkpoint has a fitted
  cell calibration (:mod:`hepgan.data.calibration`, ``preprocessing.cell_calibration``): uniform
  random numbers in [0, 1), one per cell, the ranks the calibration gives empty cells (hepgan
  draws them with 16-bit resolution on the CPU, :func:`~hepgan.data.calibration.draw_ranks`);

and returns ``showers`` (N, n_voxels + n_extra) float32: cell energies in MeV (voxels in the
geometry's order, then overflow cells where the layout has them), the numbers
:meth:`hepgan.generate.ShowerGenerator.cells_from_noise` returns for the same noise, energies
and ranks: network, inverse transform with its empty-cell cut, then the cell calibration,
then the profile calibration (:mod:`hepgan.data.profile_calibration`, with
:func:`~hepgan.data.profile_calibration.scale_groups` itself) and the response calibration
(:mod:`hepgan.data.response_calibration`, with :func:`~hepgan.data.response_calibration.map_response`
itself) where the checkpoint has them.
The batch axis is dynamic. The graph computes in float32; hepgan's own generation may run the
network under bf16 autocast where the CPU has bf16 (``generation.precision: auto``), so its
showers differ from the graph's by bf16 rounding there. The condition and the inverse of
:class:`~hepgan.data.transforms.ShowerTransform` are re-implemented here in float32 with
operations every ONNX runtime supports (the piecewise-linear interpolation in ln E of the
response and, with per-energy standardisation, of the cell means and stds uses clamped ramps
instead of a search); the calibration is the same arithmetic as
:meth:`~hepgan.data.calibration.CellCalibration.apply`: an energy bin from a comparison with
the bin edges, a node position per cell, a flat gather of the map's values and slopes.

``onnx`` (and ``onnxscript`` for torch's exporter) are optional: ``pip install 'hepgan[onnx]'``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from hepgan import __version__
from hepgan.data.calibration import _FLOOR_FRACTION, _TOP_MARGIN, N_EMPTY_NODES, N_NODES, RANK_LEVELS, CellCalibration
from hepgan.data.profile_calibration import ProfileCalibration, scale_groups
from hepgan.data.response_calibration import ResponseCalibration, map_response
from hepgan.data.transforms import MIN_CELL_RTOL, ShowerTransform, raw_fractions
from hepgan.errors import HepganError, InputFileError, OutputError
from hepgan.generate.showers import ShowerGenerator
from hepgan.io.atomic import refuse_output_onto_inputs, temporary_path

if TYPE_CHECKING:
    import onnx

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'hepgan[onnx]'"
MIN_TORCH = (2, 5)  # torch.onnx.export(..., dynamo=True, dynamic_shapes=...)
DEFAULT_OPSET = 17
INPUT_NAMES = ("noise", "incident_energy")
"""The inputs of every exported graph; a graph with the cell calibration has :data:`RANKS_NAME` third."""
RANKS_NAME = "calibration_ranks"
OUTPUT_NAME = "showers"


class MissingDependencyError(HepganError):
    """An optional package needed for this command is not installed (the message gives the install line)."""


def _require_exporter() -> None:
    """Fail with one line when torch is too old or ``onnx``/``onnxscript`` are missing."""
    major, minor = (int(part) for part in re.findall(r"\d+", torch.__version__)[:2])
    if (major, minor) < MIN_TORCH:
        raise MissingDependencyError(
            f"ONNX export needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]} (torch.export-based exporter), "
            f"found {torch.__version__}"
        )
    for module in ("onnx", "onnxscript"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(f"ONNX export needs the '{module}' package: {INSTALL_HINT}") from None


def _ramp_coefficients(xp: torch.Tensor, fp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Knots, segment widths and slopes (float32) such that interp(x) = fp[0] + Σ slope·clamp(x − xp, 0, width)."""
    xp64, fp64 = xp.to(torch.float64), fp.to(torch.float64)
    if len(xp64) < 2:
        empty = torch.zeros(0, dtype=torch.float32)
        return empty, empty.clone(), empty.clone()
    widths = xp64[1:] - xp64[:-1]
    slopes = (fp64[1:] - fp64[:-1]) / widths
    return xp64[:-1].float(), widths.float(), slopes.float()


class ExportableCalibration(nn.Module):
    """A fitted :class:`~hepgan.data.calibration.CellCalibration` in float32 ONNX-friendly ops (no search).

    The same arithmetic as :meth:`CellCalibration.apply`: the energy bin is the number of inner
    bin edges below ln E (a comparison summed), each cell's node position a·ln f + c (f its
    energy fraction) raised to its empty-cell rank's, and the calibrated fraction the map's
    value + slope·(position − node), each read with one flat gather from the (bins, cells, nodes)
    tables; then the cells are scaled back to the shower's total energy.
    """

    log_edges: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor
    values: torch.Tensor
    slopes: torch.Tensor
    cell_offsets: torch.Tensor

    def __init__(self, calibration: CellCalibration) -> None:
        super().__init__()
        values, slopes = calibration.composite_map()
        scale, shift = calibration.position_coefficients()
        self.n_bins, self.n_cells = calibration.n_bins, calibration.n_cells
        self.register_buffer("log_edges", torch.from_numpy(calibration.log_edges).float().reshape(1, -1))
        self.register_buffer("scale", torch.from_numpy(scale).float())  # (B, n_cells)
        self.register_buffer("shift", torch.from_numpy(shift).float())
        self.register_buffer("values", torch.from_numpy(values).float().reshape(-1))  # (B·n_cells·N_NODES,)
        self.register_buffer("slopes", torch.from_numpy(slopes).float().reshape(-1))
        self.register_buffer("cell_offsets", (torch.arange(self.n_cells, dtype=torch.int64) * N_NODES).reshape(1, -1))

    def forward(self, cells: torch.Tensor, log_e: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """Calibrated cells (N, n_cells) in MeV from cells (N, n_cells) in MeV, ln(E_inc/MeV) (N, 1), ranks [0, 1)."""
        totals = cells.sum(dim=1, keepdim=True)
        log_fraction = torch.log(torch.clamp_min(cells * (1.0 / torch.clamp_min(totals, 1e-30)), _FLOOR_FRACTION))
        if self.n_bins > 1:
            bins = (self.log_edges < log_e).to(torch.int64).sum(dim=1)  # (N,): searchsorted, left side
            scale, shift = self.scale.index_select(0, bins), self.shift.index_select(0, bins)
            offsets = self.cell_offsets + (bins * (self.n_cells * N_NODES)).unsqueeze(1)
        else:
            scale, shift, offsets = self.scale, self.shift, self.cell_offsets
        position = shift + log_fraction * scale  # empty cells (f floored at 1e-30) land far below 0
        # a NaN shower (as apply: its row stays NaN through the total) must not become an out-of-range index
        position = torch.where(torch.isnan(position), torch.zeros_like(position), position)
        position = torch.maximum(position, ranks * float(N_EMPTY_NODES - 1))
        position = torch.clamp(position, max=float(N_NODES - 1) - _TOP_MARGIN)
        node = position.to(torch.int64)  # truncation = floor: positions are >= 0
        offset = position - node.to(torch.float32)
        index = (node + offsets).reshape(-1)  # flat: one ONNX Gather per table (torch.take exports as GatherND)
        value = self.values.index_select(0, index).reshape(-1, self.n_cells)
        out = value + offset * self.slopes.index_select(0, index).reshape(-1, self.n_cells)
        norm = out.sum(dim=1, keepdim=True)
        return out * (totals / torch.clamp_min(norm, 1e-30))


class ExportableResponseCalibration(nn.Module):
    """A fitted :class:`~hepgan.data.response_calibration.ResponseCalibration`: each shower scaled so that
    E_tot/E_inc is the calibrated response (:func:`~hepgan.data.response_calibration.map_response`)."""

    log_edges: torch.Tensor
    low: torch.Tensor
    scale: torch.Tensor
    values: torch.Tensor
    slopes: torch.Tensor

    def __init__(self, calibration: ResponseCalibration) -> None:
        super().__init__()
        low, scale, values, slopes = calibration.tables()
        self.register_buffer("log_edges", torch.from_numpy(calibration.log_edges).float().reshape(1, -1))
        for name, table in (("low", low), ("scale", scale), ("values", values), ("slopes", slopes)):
            self.register_buffer(name, torch.from_numpy(table))

    def forward(self, cells: torch.Tensor, incident_energy: torch.Tensor, log_e: torch.Tensor) -> torch.Tensor:
        """Scaled cells (N, n_cells) in MeV from cells (N, n_cells) in MeV, E_inc (N, 1) in MeV and ln(E_inc/MeV)."""
        bins = (self.log_edges < log_e).to(torch.int64).sum(dim=1)  # (N,): searchsorted, left side
        response = cells.sum(dim=1) / incident_energy.reshape(-1)
        finite = torch.isfinite(response)
        safe = torch.where(finite, response, torch.zeros_like(response))
        mapped = map_response(safe, bins, self.low, self.scale, self.values, self.slopes)
        positive = response > 0
        factor = torch.where(
            positive, torch.clamp_min(mapped, 0.0) / torch.clamp_min(response, 1e-30), torch.ones_like(mapped)
        )
        return cells * factor.unsqueeze(1)


class ExportableProfileCalibration(nn.Module):
    """A fitted :class:`~hepgan.data.profile_calibration.ProfileCalibration`: each layer's (or ring's) cells scaled
    so that the group energies are the calibrated ones (:func:`~hepgan.data.profile_calibration.scale_groups`). The
    group sums are one product with a (cells × groups) one-hot matrix."""

    log_edges: torch.Tensor
    group_index: torch.Tensor
    onehot: torch.Tensor

    def __init__(self, calibration: ProfileCalibration) -> None:
        super().__init__()
        self.n_groups = calibration.n_groups
        index = torch.from_numpy(calibration.group_index)
        self.register_buffer("log_edges", torch.from_numpy(calibration.log_edges).float().reshape(1, -1))
        self.register_buffer("group_index", index)
        self.register_buffer("onehot", nn.functional.one_hot(index, self.n_groups + 1).float())
        self.n_tables = 0
        for table in calibration.tables():
            self.register_buffer(f"table_{self.n_tables}", torch.from_numpy(table))
            self.n_tables += 1

    def forward(self, cells: torch.Tensor, incident_energy: torch.Tensor, log_e: torch.Tensor) -> torch.Tensor:
        """Scaled cells (N, n_cells) in MeV from cells (N, n_cells) in MeV, E_inc (N, 1) in MeV and ln(E_inc/MeV)."""
        bins = (self.log_edges < log_e).to(torch.int64).sum(dim=1)  # (N,): searchsorted, left side
        # summed in float64 as in ProfileCalibration.apply: a narrow generated range makes the map steep in ln x
        sums = cells.to(torch.float64) @ self.onehot.to(torch.float64)
        shares = (sums[:, : self.n_groups] / incident_energy.to(torch.float64)).to(torch.float32)
        tables = tuple(getattr(self, f"table_{i}") for i in range(self.n_tables))
        return scale_groups(cells, shares, bins, tables, self.group_index)


class ExportableGenerator(nn.Module):
    """Generator network + float32 ShowerTransform (+ cell calibration): (noise, incident MeV (N, 1)[, ranks]) → MeV.

    With ``calibration`` (fitted) the forward pass takes a third input, the empty-cell ranks
    (N, n_cells) in [0, 1), and returns calibrated cells; without, it takes two.
    """

    # buffers (register_buffer); the fitted tables' ``{name}_start`` and ``{name}_slopes`` are read with getattr
    log_energy_mean: torch.Tensor
    log_energy_std: torch.Tensor
    knots: torch.Tensor
    widths: torch.Tensor

    def __init__(
        self,
        network: nn.Module,
        transform: ShowerTransform,
        calibration: CellCalibration | None = None,
        response_calibration: ResponseCalibration | None = None,
        profile_calibration: ProfileCalibration | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.calibration = ExportableCalibration(calibration) if calibration is not None else None
        self.profile_calibration = (
            ExportableProfileCalibration(profile_calibration) if profile_calibration is not None else None
        )
        self.response_calibration = (
            ExportableResponseCalibration(response_calibration) if response_calibration is not None else None
        )
        self.response_scale = float(transform.response_scale)
        self.fraction_epsilon = float(transform.fraction_epsilon)
        self.register_buffer("log_energy_mean", transform.log_energy_mean.float().reshape(1, 1))
        self.register_buffer("log_energy_std", transform.log_energy_std.float().reshape(1, 1))
        self.empty_cell_cut = bool(transform.empty_cell_cut)
        self.min_cell_mev = float(transform.min_cell_mev) * (1.0 - MIN_CELL_RTOL)
        self.n_response_bins = len(transform.response_log_energy)
        # ramps in ln E shared by the response and (per-energy standardisation) the cell parameters
        knots, widths, _ = _ramp_coefficients(transform.response_log_energy, transform.response_mean)
        self.register_buffer("knots", knots.reshape(1, -1))
        self.register_buffer("widths", widths.reshape(1, -1))
        tables = {"response_mean": transform.response_mean, "response_std": transform.response_std}
        per_energy = transform.cell_mean.dim() == 2 and len(transform.cell_mean) > 1
        cells = {"cell_mean": transform.cell_mean, "cell_std": transform.cell_std}
        cell_max = transform.cell_max
        self.capped = cell_max is not None
        if cell_max is not None:
            cells["cell_max"] = cell_max
        tables |= {name: table if per_energy else table.reshape(1, -1) for name, table in cells.items()}
        for name, table in tables.items():
            table = table.to(torch.float64).reshape(len(table), -1)  # (n_bins, width)
            self.register_buffer(f"{name}_start", table[:1].float())
            if len(table) > 1:
                steps = transform.response_log_energy.to(torch.float64).diff()[:, None]
                slopes = (table[1:] - table[:-1]) / steps
            else:
                slopes = torch.zeros(0, table.shape[1], dtype=torch.float64)
            self.register_buffer(f"{name}_slopes", slopes.float())

    def _interp(self, log_e: torch.Tensor, name: str) -> torch.Tensor:
        """A fitted table (N, width) at ln(E_inc/MeV) (N, 1); linear between bins, constant beyond."""
        start = getattr(self, f"{name}_start")
        slopes = getattr(self, f"{name}_slopes")
        if slopes.shape[0] == 0:
            return start.expand(log_e.shape[0], -1)
        ramps = torch.minimum(torch.relu(log_e - self.knots), self.widths)  # (N, n_bins - 1)
        return start + ramps @ slopes

    @property
    def input_names(self) -> tuple[str, ...]:
        """The graph's input names: noise, incident_energy (and calibration_ranks with the calibration)."""
        return (*INPUT_NAMES, RANKS_NAME) if self.calibration is not None else INPUT_NAMES

    def forward(
        self, noise: torch.Tensor, incident_energy: torch.Tensor, calibration_ranks: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Cell energies (N, n_cells) in MeV from latent noise (N, latent_dim), incident energies (N, 1) in MeV and,
        with the calibration, the empty-cell ranks (N, n_cells) in [0, 1)."""
        log_e = torch.log(incident_energy)
        cond = (log_e - self.log_energy_mean) / self.log_energy_std
        features = self.network(noise, cond)
        mu = self._interp(log_e, "response_mean")
        sigma = self._interp(log_e, "response_std")
        response = torch.relu(mu + sigma * features[:, :1] / self.response_scale)
        cap = self._interp(log_e, "cell_max") if self.capped else None
        mean, std = self._interp(log_e, "cell_mean"), self._interp(log_e, "cell_std")
        fractions = raw_fractions(features[:, 1:], mean, std, cap, self.fraction_epsilon, in_place=False)
        if self.empty_cell_cut:
            fractions = torch.where(fractions < self.fraction_epsilon, torch.zeros_like(fractions), fractions)
        norm = fractions.sum(dim=1, keepdim=True)
        fractions = fractions / torch.where(norm > 0, norm, torch.ones_like(norm))
        cells = fractions * (response * incident_energy)
        if self.empty_cell_cut and self.min_cell_mev > 0:
            cells = torch.where(cells < self.min_cell_mev, torch.zeros_like(cells), cells)
        if self.calibration is not None:
            if calibration_ranks is None:
                raise ValueError(f"the cell calibration needs the {RANKS_NAME} input (N, n_cells) in [0, 1)")
            cells = self.calibration(cells, log_e, calibration_ranks)
        if self.profile_calibration is not None:
            cells = self.profile_calibration(cells, incident_energy, log_e)
        if self.response_calibration is not None:
            cells = self.response_calibration(cells, incident_energy, log_e)
        return cells


def _inputs_description(latent_dim: int, n_cells: int, calibrated: bool) -> str:
    """The graph's inputs in words (shapes, dtypes, units), for the model's metadata."""
    parts = [
        f"noise (N, {latent_dim}) float32: standard-normal latent vectors",
        "incident_energy (N, 1) float32: incident energies in MeV",
    ]
    if calibrated:
        parts.append(
            f"{RANKS_NAME} (N, {n_cells}) float32: uniform [0,1) random numbers, one per cell (the cell calibration's "
            f"ranks for empty cells); hepgan draws them with {RANK_LEVELS.bit_length() - 1}-bit resolution on CPU"
        )
    return "; ".join(parts)


def build_exportable(
    checkpoint: str | Path, use_ema: bool = True, opset: int = DEFAULT_OPSET
) -> tuple[ExportableGenerator, dict[str, str]]:
    """The wrapped generator (CPU, eval mode, with the checkpoint's fitted cell calibration) and its metadata.

    Raises:
        InputFileError: missing, corrupt or non-hepgan checkpoint.
    """
    try:
        generator = ShowerGenerator.from_checkpoint(checkpoint, device="cpu", use_ema=use_ema)
    except (KeyError, TypeError, RuntimeError) as exc:  # a hepgan-format file missing or mismatching parts
        raise InputFileError(f"{checkpoint}: not a usable hepgan checkpoint ({type(exc).__name__}: {exc})") from None
    calibration = generator.calibration if generator.calibration is not None and generator.calibration.fitted else None
    response = generator.response_calibration
    response = response if response is not None and response.fitted else None
    profile = generator.profile_calibration
    profile = profile if profile is not None and profile.fitted else None
    model = ExportableGenerator(generator.network, generator.transform, calibration, response, profile).eval()
    n_cells = generator.geometry.n_voxels + generator.n_extra
    metadata = {
        "producer": "hepgan",
        "hepgan_version": __version__,
        "geometry": generator.geometry.name,
        "latent_dim": str(generator.latent_dim),
        "n_voxels": str(generator.geometry.n_voxels),
        "n_extra": str(generator.n_extra),
        "checkpoint": str(checkpoint),
        "checkpoint_step": str(generator.step),
        "weights": "ema" if use_ema else "raw",
        "architecture": generator.config.model.architecture,
        "opset": str(opset),
        "input_names": ",".join(model.input_names),
        "inputs": _inputs_description(generator.latent_dim, n_cells, calibration is not None),
        "outputs": f"showers (N, {n_cells}) float32: cell energies in MeV (n_voxels + n_extra cells)",
        "energy_unit": "MeV",
        "cell_calibration": "included" if calibration is not None else "none",
        "profile_calibration": "included" if profile is not None else "none",
        "response_calibration": "included" if response is not None else "none",
        "precision": "float32",
        "precision_note": (
            "the graph computes in float32; hepgan's own generation may run the network under bf16 autocast "
            "where the hardware has bf16 (generation.precision), so its showers differ by bf16 rounding there"
        ),
    }
    return model, metadata


def _example_inputs(model: ExportableGenerator, latent_dim: int, batch: int = 3) -> tuple[torch.Tensor, ...]:
    """Inputs to trace the graph with: one tensor per name in ``model.input_names``."""
    noise = torch.zeros(batch, latent_dim, dtype=torch.float32)
    incident = torch.full((batch, 1), 1024.0, dtype=torch.float32)
    if model.calibration is None:
        return noise, incident
    return noise, incident, torch.full((batch, model.calibration.n_cells), 0.5, dtype=torch.float32)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence torch/onnxscript's internal chatter during export (not hepgan's own warnings).

    torch's exporter emits deprecation notices about its own internals, a note that the
    shared batch axis gets one name, and log lines about optional operator libraries
    (torchvision) and opset conversion: none of it says anything about the exported model.
    """
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=r"(torch|onnxscript|onnx_ir|onnx|copyreg)\b")
        warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used", category=UserWarning)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _export_proto(model: ExportableGenerator, latent_dim: int, opset: int) -> onnx.ModelProto:
    """ONNX model from torch's ``torch.export``-based exporter, batch axis of every input dynamic."""
    batch = torch.export.Dim("batch")
    names = model.input_names
    with _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            model,
            _example_inputs(model, latent_dim),
            input_names=list(names),
            output_names=[OUTPUT_NAME],
            dynamic_shapes={name: {0: batch} for name in names},
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
    if program is None:
        raise HepganError("torch.onnx.export(dynamo=True) returned no ONNX program")
    return program.model_proto


def _check_dynamic_batch(proto: onnx.ModelProto, checkpoint: Path) -> None:
    """Refuse a graph whose batch axis came out fixed (a ``len(tensor)`` in a network's forward does that)."""
    values = [*proto.graph.input, *proto.graph.output]
    fixed = [v.name for v in values if not any(d.dim_param for d in v.type.tensor_type.shape.dim[:1])]
    if fixed:
        raise HepganError(
            f"{checkpoint}: the exported graph has a fixed batch size for {', '.join(fixed)}: the network's "
            f"forward turns the batch size into a Python int (use tensor.shape[0], not len(tensor))"
        )


def _with_metadata(proto: onnx.ModelProto, metadata: dict[str, str]) -> bytes:
    """The serialized ONNX model with ``metadata`` in its metadata_props, checked by ``onnx.checker``."""
    import onnx

    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "hepgan"
    proto.producer_version = __version__
    proto.doc_string = (
        "hepgan shower generator: noise + incident energy (MeV) [+ calibration ranks] -> cell energies (MeV)"
    )
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _write_atomic(data: bytes, output: Path) -> None:
    """Write ``data`` to a temporary file beside ``output``, fsync, rename; nothing is left on failure."""
    tmp = temporary_path(output)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{output}: cannot write ONNX model ({exc.strerror or exc})") from None


def export_onnx(checkpoint: Path, output: Path, opset: int = DEFAULT_OPSET, use_ema: bool = True) -> Path:
    """Write the generator of ``checkpoint`` with its pre/post-processing and cell calibration as an ONNX model.

    Inputs ``noise`` (N, latent_dim), ``incident_energy`` (N, 1) in MeV and, when the
    checkpoint has a fitted cell calibration, ``calibration_ranks`` (N, n_voxels + n_extra)
    uniform in [0, 1); output ``showers`` (N, n_voxels + n_extra) in MeV; all float32, N
    dynamic. Metadata (geometry, latent dim, inputs, units, opset, precision, hepgan
    version, checkpoint step, whether the calibration is included) is stored in the model's
    ``metadata_props``. The file appears under ``output`` only when complete.

    Args:
        checkpoint: a hepgan checkpoint file (``runs/.../checkpoints/step_NNNNNNN.pt``).
        output: the ``.onnx`` file to write (its folder must exist).
        opset: ONNX opset version (>= 13).
        use_ema: export the exponential-moving-average generator weights (as ``generate`` does).

    Returns:
        ``output`` as a Path.

    Raises:
        MissingDependencyError: ``onnx``/``onnxscript`` not installed (gives the install line).
        InputFileError: missing, corrupt or non-hepgan checkpoint.
        OutputError: output folder missing or not writable, or ``output`` is the checkpoint.
        HepganError: unsupported opset.
    """
    checkpoint, output = Path(checkpoint), Path(output)
    refuse_output_onto_inputs(output, [checkpoint], "checkpoint")
    _require_exporter()
    if not 13 <= int(opset) <= 23:
        raise HepganError(f"--opset: expected an ONNX opset in [13, 23], got {opset}")
    if not output.parent.is_dir():
        raise OutputError(f"{output}: output folder {output.parent} does not exist")
    if output.is_dir():
        raise OutputError(f"{output}: is a folder, expected an .onnx file name")
    model, metadata = build_exportable(checkpoint, use_ema=use_ema, opset=int(opset))
    try:
        proto = _export_proto(model, int(metadata["latent_dim"]), int(opset))
    except Exception as exc:  # the exporter raises many types; report one line
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise HepganError(f"{checkpoint}: ONNX export failed ({type(exc).__name__}: {first})") from None
    _check_dynamic_batch(proto, checkpoint)
    _write_atomic(_with_metadata(proto, metadata), output)
    log.info(
        "wrote ONNX generator %s (opset %d, inputs %s, cell calibration %s) from %s",
        output,
        opset,
        metadata["input_names"],
        metadata["cell_calibration"],
        checkpoint,
    )
    return output
