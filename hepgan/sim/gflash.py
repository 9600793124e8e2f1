"""GFlash reference shower simulator for electromagnetic showers.

Implements the Grindhammer–Peters parametrisation (G. Grindhammer, M. Rudowicz,
S. Peters, NIM A290 (1990) 469; G. Grindhammer and S. Peters, hep-ex/0001020) as
summarised in ``shared/design/GFLASH.md``:

- individual longitudinal profiles: a gamma distribution in depth t (X0) whose
  (ln T, ln α) are bivariate normal (§2, homogeneous; §3, sampling);
- radial profiles: core + tail, f(r) = p·2rR_C²/(r²+R_C²)² + (1−p)·2rR_T²/(r²+R_T²)²
  in units of R_M, with R_C, R_T, p functions of the scaled depth τ and E (§4);
- energy spots: the shower is stepped in 0.1 X0; each step deposits E·ΔP(α, βt) in
  max(1, ⌊N_spot·ΔP_s⌋) equal spots, where P_s is the spot profile (§5).

hepgan's choices (see the sheet's "How hepgan uses this sheet"):

- critical energy from the fit with X0 in g/cm² (``convention="pdg"``); ``"geant4"``
  uses X0 in mm and Geant4's tail-radius slope k4 = 0.3585 + 0.0412·ln E to reproduce
  Geant4's numbers, while "pdg" uses the paper's 0.0421;
- sampling mode deposits energy with the sampling parameters (T_sam, α_sam), uses the
  sampling spot constants (N_spot = 10.3/c_S·E^0.959, T_s = T·(0.813 + 0.0019 Z),
  α_s = α·(0.844 + 0.0026 Z)) and smears each step with a Gamma law whose variance is
  c_S²·ΔE with ΔE in GeV (σ/E = c_S/√(E/GeV));
- photons convert after an exponential path of mean 9/7 X0 and then shower like an
  electron of the same energy; t = 0 is the conversion point (photons) or the front face
  of the geometry (electrons, positrons);
- low-energy clamps (both modes): ⟨ln T⟩ uses max(ln y − 0.812, 0.1), ⟨ln α⟩ uses
  max(…, 0.1) (then ≥ 0.1 for the homogeneous mode so that ᾱ > 1), σ's are capped at 0.5
  (a non-positive denominator gives 0.5), individual T ≥ 1 X0 and α ≥ 1.1, spot-profile
  T_s ≥ 0.5 X0 and α_s ≥ 1.1, p is clipped to [0, 1] and radii to ≥ 1e-3 R_M;
- no kill energy by default: the profile is followed to the back of the geometry
  (Geant4's 0.1 GeV kill can be switched on with ``kill_energy_mev=100``);
- steps are also cut at the layer boundaries so that every step lies in one layer
  (or outside all layers, where its energy is lost).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammainc

from hepgan.errors import ConfigError
from hepgan.io.geometry import CaloGeometry, Layer
from hepgan.sim.calorimeter import K4_SLOPE_PAPER, CalorimeterSpec

logger = logging.getLogger(__name__)

PARTICLES = ("photon", "electron", "positron")
PHOTON_CONVERSION_X0 = 9.0 / 7.0
SIGMA_CAP = 0.5
MIN_T_X0 = 1.0
MIN_ALPHA = 1.1
MIN_T_SPOT_X0 = 0.5
MIN_RADIUS_RM = 1e-3
VALID_ENERGY_RANGE_MEV = (100.0, 1.0e7)


# --------------------------------------------------------------------------- longitudinal profile


@dataclass(frozen=True)
class ProfileParameters:
    """Bivariate-normal parameters of (ln T, ln α); T in X0. Arrays broadcast like the energies."""

    mean_ln_t: np.ndarray
    mean_ln_alpha: np.ndarray
    sigma_ln_t: np.ndarray
    sigma_ln_alpha: np.ndarray
    rho: np.ndarray

    @property
    def median_t(self) -> np.ndarray:
        """Median depth of maximum exp⟨ln T⟩ in X0."""
        return np.exp(self.mean_ln_t)

    @property
    def median_alpha(self) -> np.ndarray:
        """Median shape parameter exp⟨ln α⟩."""
        return np.exp(self.mean_ln_alpha)


def _capped_inverse(denominator: np.ndarray, cap: float = SIGMA_CAP) -> np.ndarray:
    """min(cap, 1/denominator), and cap where the denominator is not positive."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, np.minimum(cap, 1.0 / safe), cap)


def _ln_y(energy_mev: np.ndarray | float, critical_energy_mev: float) -> np.ndarray:
    return np.log(np.asarray(energy_mev, dtype=np.float64) / critical_energy_mev)


def homogeneous_profile_parameters(
    energy_mev: np.ndarray | float, z: float, critical_energy_mev: float, clamp: bool = True
) -> ProfileParameters:
    """Individual-profile parameters in a homogeneous medium (§2).

    ⟨ln T⟩ = ln(ln y − 0.812), ⟨ln α⟩ = ln(0.81 + (0.458 + 2.26/Z)·ln y),
    σ(ln T) = 1/(−1.4 + 1.26·ln y), σ(ln α) = 1/(−0.58 + 0.86·ln y), ρ = 0.705 − 0.023·ln y,
    with y = E/E_c. ``clamp`` applies the sheet's sampling-mode clamps (arguments of the
    logs ≥ 0.1, σ ≤ 0.5); they do not act for y ≳ 100.
    """
    ln_y = _ln_y(energy_mev, critical_energy_mev)
    t_arg = ln_y - 0.812
    a_arg = 0.81 + (0.458 + 2.26 / z) * ln_y
    den_t = -1.4 + 1.26 * ln_y
    den_a = -0.58 + 0.86 * ln_y
    if clamp:
        mean_ln_t = np.log(np.maximum(t_arg, 0.1))
        mean_ln_alpha = np.log(np.maximum(a_arg, 0.1))
        sigma_t, sigma_a = _capped_inverse(den_t), _capped_inverse(den_a)
    else:
        mean_ln_t, mean_ln_alpha = np.log(t_arg), np.log(a_arg)
        sigma_t, sigma_a = 1.0 / den_t, 1.0 / den_a
    rho = np.clip(0.705 - 0.023 * ln_y, -0.99, 0.99)
    return ProfileParameters(mean_ln_t, mean_ln_alpha, sigma_t, sigma_a, rho)


def sampling_profile_parameters(
    energy_mev: np.ndarray | float, z: float, critical_energy_mev: float, sampling_frequency: float, e_over_mip: float
) -> tuple[ProfileParameters, ProfileParameters]:
    """Homogeneous (clamped) and sampling profile parameters of a sampling calorimeter (§3).

    ⟨ln T_sam⟩ = max(0.1, ln(e^⟨ln T_h⟩ − 0.55/F_S − 0.69·(1 − ê))),
    ⟨ln α_sam⟩ = max(0.1, ln(e^⟨ln α_h⟩ − 0.476/F_S)),
    σ(ln T_sam) = min(0.5, 1/(−2.5 + 1.25·ln y)), σ(ln α_sam) = min(0.5, 1/(−0.82 + 0.79·ln y)),
    ρ_sam = 0.784 − 0.023·ln y; Z, E_c are the effective values of the mix.

    Returns:
        (homogeneous part, sampling parameters).
    """
    hom = homogeneous_profile_parameters(energy_mev, z, critical_energy_mev, clamp=True)
    ln_y = _ln_y(energy_mev, critical_energy_mev)
    t_sam = np.exp(hom.mean_ln_t) - 0.55 / sampling_frequency - 0.69 * (1.0 - e_over_mip)
    a_sam = np.exp(hom.mean_ln_alpha) - 0.476 / sampling_frequency
    mean_ln_t = np.maximum(0.1, np.log(np.maximum(t_sam, 1e-300)))
    mean_ln_alpha = np.maximum(0.1, np.log(np.maximum(a_sam, 1e-300)))
    sigma_t = _capped_inverse(-2.5 + 1.25 * ln_y)
    sigma_a = _capped_inverse(-0.82 + 0.79 * ln_y)
    rho = np.clip(0.784 - 0.023 * ln_y, -0.99, 0.99)
    return hom, ProfileParameters(mean_ln_t, mean_ln_alpha, sigma_t, sigma_a, rho)


def average_profile_parameters(
    energy_mev: np.ndarray | float, z: float, critical_energy_mev: float
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's average profile: T = ln y − 0.858 (X0), α = 0.21 + (0.492 + 2.38/Z)·ln y."""
    ln_y = _ln_y(energy_mev, critical_energy_mev)
    return ln_y - 0.858, 0.21 + (0.492 + 2.38 / z) * ln_y


def correlated_lognormal_pair(
    params: ProfileParameters, z1: np.ndarray, z2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(T, α) from standard normals z1, z2: ln T = μ_T + σ_T(a z1 + b z2), ln α = μ_α + σ_α(a z1 − b z2).

    a = √((1+ρ)/2), b = √((1−ρ)/2), so that corr(ln T, ln α) = ρ.
    """
    a = np.sqrt((1.0 + params.rho) / 2.0)
    b = np.sqrt((1.0 - params.rho) / 2.0)
    ln_t = params.mean_ln_t + params.sigma_ln_t * (a * z1 + b * z2)
    ln_alpha = params.mean_ln_alpha + params.sigma_ln_alpha * (a * z1 - b * z2)
    return np.exp(ln_t), np.exp(ln_alpha)


def spot_profile_parameters(
    t_max: np.ndarray, alpha: np.ndarray, z: float, mode: str = "homogeneous"
) -> tuple[np.ndarray, np.ndarray]:
    """Spot-profile (T_s in X0, α_s) from a shower's (T, α) (§5).

    Homogeneous: T_s = T·(0.698 + 0.00212 Z), α_s = α·(0.639 + 0.00334 Z);
    sampling: T_s = T·(0.813 + 0.0019 Z), α_s = α·(0.844 + 0.0026 Z). Clamped to T_s ≥ 0.5, α_s ≥ 1.1.
    """
    if mode == "homogeneous":
        t_s, a_s = t_max * (0.698 + 0.00212 * z), alpha * (0.639 + 0.00334 * z)
    else:
        t_s, a_s = t_max * (0.813 + 0.0019 * z), alpha * (0.844 + 0.0026 * z)
    return np.maximum(t_s, MIN_T_SPOT_X0), np.maximum(a_s, MIN_ALPHA)


@dataclass(frozen=True)
class FluctuatedProfile:
    """One set of fluctuated shower parameters per energy (depths in X0).

    Attributes:
        t_max: depth of maximum T of the energy profile.
        alpha: shape α of the energy profile.
        mean_alpha: ᾱ = exp⟨ln α⟩ used in the scaled depth τ.
        t_spot, alpha_spot: the spot-profile pair.
    """

    t_max: np.ndarray
    alpha: np.ndarray
    mean_alpha: np.ndarray
    t_spot: np.ndarray
    alpha_spot: np.ndarray

    @property
    def beta(self) -> np.ndarray:
        """β = (α − 1)/T in 1/X0."""
        return (self.alpha - 1.0) / self.t_max

    @property
    def beta_spot(self) -> np.ndarray:
        """β_s = (α_s − 1)/T_s in 1/X0."""
        return (self.alpha_spot - 1.0) / self.t_spot


def profile_parameters(energy_mev: np.ndarray | float, calorimeter: CalorimeterSpec) -> ProfileParameters:
    """The (ln T, ln α) parameters that drive energy deposition in ``calorimeter`` (sampling: T_sam, α_sam)."""
    med = calorimeter.medium()
    if calorimeter.mode == "homogeneous":
        return homogeneous_profile_parameters(energy_mev, med.z, med.critical_energy_mev, clamp=True)
    assert med.sampling_frequency is not None and med.e_over_mip is not None, "a sampling medium has F_S and ê"
    return sampling_profile_parameters(
        energy_mev, med.z, med.critical_energy_mev, med.sampling_frequency, med.e_over_mip
    )[1]


def sample_profile_parameters(
    energy_mev: np.ndarray, rng: np.random.Generator, calorimeter: CalorimeterSpec
) -> FluctuatedProfile:
    """Draw one fluctuated (T, α) and spot pair (T_s, α_s) per energy (MeV), with the module's clamps."""
    energy_mev = np.asarray(energy_mev, dtype=np.float64)
    params = profile_parameters(energy_mev, calorimeter)
    z1 = rng.standard_normal(energy_mev.shape)
    z2 = rng.standard_normal(energy_mev.shape)
    t_max, alpha = correlated_lognormal_pair(params, z1, z2)
    t_max, alpha = np.maximum(t_max, MIN_T_X0), np.maximum(alpha, MIN_ALPHA)
    mean_alpha = np.maximum(np.exp(params.mean_ln_alpha), MIN_ALPHA)
    z = calorimeter.medium().z
    t_spot, alpha_spot = spot_profile_parameters(t_max, alpha, z, calorimeter.mode)
    return FluctuatedProfile(t_max, alpha, mean_alpha, t_spot, alpha_spot)


def longitudinal_cdf(t_x0: np.ndarray, t_max: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Fraction of the energy deposited before depth t (X0): P(α, βt), β = (α − 1)/T."""
    beta = (np.asarray(alpha) - 1.0) / np.asarray(t_max)
    return gammainc(alpha, beta * np.maximum(t_x0, 0.0))


# --------------------------------------------------------------------------- radial profile


def scaled_depth(t_x0: np.ndarray, t_max: np.ndarray, alpha: np.ndarray, mean_alpha: np.ndarray) -> np.ndarray:
    """τ = (t/T)·((α − 1)/α)·(ᾱ/(ᾱ − 1)); for the average shower (α = ᾱ) this is t/T."""
    return (t_x0 / t_max) * ((alpha - 1.0) / alpha) * (mean_alpha / (mean_alpha - 1.0))


def radial_parameters(
    tau: np.ndarray | float,
    energy_mev: np.ndarray | float,
    z: float,
    k4_slope: float = K4_SLOPE_PAPER,
    sampling_frequency: float | None = None,
    e_over_mip: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Core radius R_C, tail radius R_T (units of R_M) and core fraction p at scaled depth τ (§4).

    R_C = z1 + z2·τ, R_T = k1·[e^{k3(τ−k2)} + e^{k4(τ−k2)}], p = p1·exp[(p2−τ)/p3 − e^{(p2−τ)/p3}],
    with E in GeV inside the coefficients. If ``sampling_frequency`` and ``e_over_mip`` are
    given, the sampling corrections are added (Z is then Z_eff, radii in R_M,eff).
    p is clipped to [0, 1] and radii to ≥ 1e-3.
    """
    tau = np.asarray(tau, dtype=np.float64)
    ln_e = np.log(np.asarray(energy_mev, dtype=np.float64) / 1000.0)
    r_core = 0.0251 + 0.00319 * ln_e + (0.1162 - 0.000381 * z) * tau
    k1, k2, k3 = 0.659 - 0.00309 * z, 0.645, -2.59
    k4 = 0.3585 + k4_slope * ln_e
    r_tail = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2, p3 = 2.632 - 0.00094 * z, 0.401 + 0.00187 * z, 1.313 - 0.0686 * ln_e
    x = (p2 - tau) / p3
    p = p1 * np.exp(x - np.exp(x))
    if sampling_frequency is not None and e_over_mip is not None:
        g = 1.0 - e_over_mip
        r_core = r_core - 0.0203 * g + 0.0397 * np.exp(-tau) / sampling_frequency
        r_tail = r_tail - 0.14 * g - 0.495 * np.exp(-tau) / sampling_frequency
        p = p + g * (0.348 - 0.642 * np.exp(-((tau - 1.0) ** 2)) / sampling_frequency)
    return np.maximum(r_core, MIN_RADIUS_RM), np.maximum(r_tail, MIN_RADIUS_RM), np.clip(p, 0.0, 1.0)


def radial_cdf(r: np.ndarray | float, r_core: np.ndarray, r_tail: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Fraction of a slice's energy within radius r (same unit as the radii): Σ w·r²/(r² + R²)."""
    r2 = np.asarray(r, dtype=np.float64) ** 2
    return p * r2 / (r2 + r_core**2) + (1.0 - p) * r2 / (r2 + r_tail**2)


# --------------------------------------------------------------------------- spots


def n_spots_homogeneous(energy_mev: np.ndarray | float, z: float) -> np.ndarray:
    """N_spot = 93·ln Z·(E/GeV)^0.876 (homogeneous)."""
    return 93.0 * math.log(z) * (np.asarray(energy_mev, dtype=np.float64) / 1000.0) ** 0.876


def n_spots_sampling(
    energy_mev: np.ndarray | float, stochastic_term: float, n1: float = 10.3, n2: float = 0.959
) -> np.ndarray:
    """N_spot = n1/c_S·(E/GeV)^n2 (sampling; c_S in √GeV). Geant4's coded form is n1 = 93, n2 = 0.876, c_S = 0.11."""
    return n1 / stochastic_term * (np.asarray(energy_mev, dtype=np.float64) / 1000.0) ** n2


def n_spots(energy_mev: np.ndarray | float, calorimeter: CalorimeterSpec) -> np.ndarray:
    """Number of spots per shower for ``calorimeter`` (including ``spot_scale``)."""
    if calorimeter.mode == "homogeneous":
        base = n_spots_homogeneous(energy_mev, calorimeter.medium().z)
    else:
        base = n_spots_sampling(energy_mev, calorimeter.stochastic_term)
    return calorimeter.spot_scale * base


# --------------------------------------------------------------------------- simulator


@dataclass
class SimulatedShowers:
    """Output of :meth:`ShowerSimulator.simulate`.

    Attributes:
        energies_mev: incident energies (N,) in MeV.
        showers: (N, n_voxels) float32 voxel energies in MeV (electromagnetic scale).
        overflow: (N, n_layers) float32 energy in MeV inside a layer's depth range but
            outside its transverse binning.
        start_depth_x0: (N,) depth of the shower start (photon conversion) in X0.
        t_max_x0: (N,) fluctuated depth of maximum T in X0 (relative to the start).
        alpha: (N,) fluctuated shape α.
        n_spots: (N,) number of spots generated inside layers.
    """

    energies_mev: np.ndarray
    showers: np.ndarray
    overflow: np.ndarray
    start_depth_x0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    t_max_x0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_spots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def total_energy_mev(self) -> np.ndarray:
        """Recorded energy per shower (voxels + overflow) in MeV, float64."""
        return self.showers.sum(axis=1, dtype=np.float64) + self.overflow.sum(axis=1, dtype=np.float64)


@dataclass(frozen=True)
class _Steps:
    """The active steps of a chunk, ordered by layer (flat arrays, one entry per step)."""

    shower: np.ndarray  # index of the shower in the chunk
    layer: np.ndarray
    counts: np.ndarray  # spots in the step
    energy: np.ndarray  # MeV deposited in the step
    tau: np.ndarray


class ShowerSimulator:
    """Simulates GFlash showers in a voxel geometry.

    Args:
        geometry: the voxel geometry (layer depths in X0 of the calorimeter's medium).
        calorimeter: the medium (default: homogeneous PbWO4, "pdg" convention).
        particle: "photon", "electron" or "positron".
        step_x0: longitudinal step in X0 (0.1 as in GFlash).
        kill_energy_mev: if > 0, once the energy left is below this the remainder goes
            into the next step (Geant4 uses 100 MeV); 0 follows the profile to the end.
        max_spots_per_chunk: memory bound: showers are processed in groups of about this many spots.
    """

    def __init__(
        self,
        geometry: CaloGeometry,
        calorimeter: CalorimeterSpec | None = None,
        particle: str = "photon",
        *,
        step_x0: float = 0.1,
        kill_energy_mev: float = 0.0,
        max_spots_per_chunk: int = 4_000_000,
    ) -> None:
        if particle not in PARTICLES:
            raise ConfigError(f"particle must be one of {', '.join(PARTICLES)}, got {particle!r}")
        if not (step_x0 > 0 and math.isfinite(step_x0)):
            raise ConfigError(f"step_x0 must be a positive depth in X0, got {step_x0!r}")
        if not (kill_energy_mev >= 0 and math.isfinite(kill_energy_mev)):
            raise ConfigError(f"kill_energy_mev must be >= 0 MeV, got {kill_energy_mev!r}")
        if max_spots_per_chunk < 1:
            raise ConfigError(f"max_spots_per_chunk must be >= 1, got {max_spots_per_chunk!r}")
        self.geometry = geometry
        self.calorimeter = calorimeter if calorimeter is not None else CalorimeterSpec()
        self.particle = particle
        self.step_x0 = float(step_x0)
        self.kill_energy_mev = float(kill_energy_mev)
        self.max_spots_per_chunk = int(max_spots_per_chunk)
        self.medium = self.calorimeter.medium()
        depths = geometry.depth_edges_x0
        self._layer_start, self._layer_end = depths[:, 0], depths[:, 1]
        self._boundaries = np.unique(depths.ravel())
        self._depth_end = float(depths[:, 1].max())
        self._voxel_offsets = np.cumsum([0] + [layer.n_voxels for layer in geometry.layers])
        self._n_bins = geometry.n_voxels + geometry.n_layers  # voxels, then one overflow bin per layer

    # ---- public

    def simulate(self, energies_mev: np.ndarray, rng: np.random.Generator) -> SimulatedShowers:
        """Simulate one shower per incident energy (MeV); reproducible for a given ``rng`` state."""
        energies = np.asarray(energies_mev, dtype=np.float64).ravel()
        if energies.size and not (np.all(np.isfinite(energies)) and np.all(energies > 0)):
            raise ConfigError("energies_mev must be positive, finite energies in MeV")
        low, high = VALID_ENERGY_RANGE_MEV
        if energies.size and (energies.min() < low or energies.max() > high):
            logger.warning("energies outside GFlash's usual range %g MeV - %g MeV", low, high)
        n, geo = len(energies), self.geometry
        out = SimulatedShowers(
            energies_mev=energies,
            showers=np.zeros((n, geo.n_voxels), dtype=np.float32),
            overflow=np.zeros((n, geo.n_layers), dtype=np.float32),
            start_depth_x0=np.zeros(n),
            t_max_x0=np.zeros(n),
            alpha=np.zeros(n),
            n_spots=np.zeros(n, dtype=np.int64),
        )
        for chunk in self._chunks(energies):
            self._simulate_chunk(energies[chunk], rng, out, chunk)
        return out

    # ---- chunking

    def _chunks(self, energies: np.ndarray) -> list[slice]:
        """Contiguous groups of showers with about ``max_spots_per_chunk`` expected spots each."""
        n_steps = self._depth_end / self.step_x0 + len(self._boundaries)
        expected = n_spots(energies, self.calorimeter) + n_steps
        before = np.concatenate([[0.0], np.cumsum(expected)[:-1]])
        group = np.floor(before / self.max_spots_per_chunk).astype(np.int64)
        starts = np.flatnonzero(np.diff(group, prepend=-1))
        ends = np.append(starts[1:], len(energies))
        return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]

    # ---- one chunk

    def _start_depths(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Shower start in the geometry's depth coordinate (X0): conversion depth for photons, else 0."""
        if self.particle == "photon":
            return rng.exponential(PHOTON_CONVERSION_X0, size=n)
        return np.zeros(n)

    def _step_edges(self, t_start: np.ndarray) -> np.ndarray:
        """(n, m+1) step edges in shower depth (X0): a 0.1 X0 grid plus layer boundaries, clipped to the end."""
        available = np.clip(self._depth_end - t_start, 0.0, None)
        n_grid = max(1, math.ceil(available.max() / self.step_x0)) if available.size else 1
        grid = np.broadcast_to(np.arange(n_grid + 1) * self.step_x0, (len(t_start), n_grid + 1))
        boundaries = self._boundaries[None, :] - t_start[:, None]
        edges = np.clip(np.concatenate([grid, boundaries], axis=1), 0.0, available[:, None])
        return np.sort(edges, axis=1)

    def _layer_at(self, depth_x0: np.ndarray) -> np.ndarray:
        """Layer index (0..n_layers-1) containing each geometry depth, -1 outside every layer."""
        idx = np.searchsorted(self._layer_start, depth_x0, side="right") - 1
        safe = np.clip(idx, 0, None)
        return np.where((idx >= 0) & (depth_x0 < self._layer_end[safe]), idx, -1)

    def _apply_kill(
        self,
        d_energy: np.ndarray,
        d_spot: np.ndarray,
        cdf: np.ndarray,
        cdf_spot: np.ndarray,
        energies: np.ndarray,
        length: np.ndarray,
    ) -> np.ndarray:
        """Put the remainder into the first step that starts with less than the kill energy; mask later steps.

        Modifies ``d_energy`` and ``d_spot`` in place; returns the mask of steps that still deposit.
        """
        remaining = energies[:, None] * (1.0 - cdf[:, :-1])
        killed = (remaining <= self.kill_energy_mev) & (length > 0)
        # numpy's stubs give ndarray.any(axis=int) as np.bool | NDArray; on the 2-d ``killed`` it is an array
        has = cast(NDArray[np.bool_], killed.any(axis=1))
        first = np.argmax(killed, axis=1)
        rows = np.flatnonzero(has)
        d_energy[rows, first[rows]] = remaining[rows, first[rows]]
        d_spot[rows, first[rows]] = 1.0 - cdf_spot[rows, first[rows]]
        columns = np.arange(d_energy.shape[1])[None, :]
        return ~(has[:, None] & (columns > first[:, None]))

    def _steps(
        self, energies: np.ndarray, t_start: np.ndarray, prof: FluctuatedProfile, rng: np.random.Generator
    ) -> tuple[_Steps, np.ndarray]:
        """Energy, spot count and τ of every step that lies in a layer, ordered by layer."""
        edges = self._step_edges(t_start)
        cdf = gammainc(prof.alpha[:, None], prof.beta[:, None] * edges)
        cdf_spot = gammainc(prof.alpha_spot[:, None], prof.beta_spot[:, None] * edges)
        d_energy = energies[:, None] * np.diff(cdf, axis=1)
        d_spot = np.diff(cdf_spot, axis=1)
        length = np.diff(edges, axis=1)
        mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
        layer = self._layer_at(t_start[:, None] + mid)
        active = (length > 0) & (layer >= 0)
        if self.kill_energy_mev > 0:
            active &= self._apply_kill(d_energy, d_spot, cdf, cdf_spot, energies, length)
        n_spot = n_spots(energies, self.calorimeter)
        counts = np.where(active, np.maximum(1.0, np.floor(n_spot[:, None] * d_spot)), 0.0).astype(np.int64)
        flat = np.flatnonzero(active.ravel())
        flat = flat[np.argsort(layer.ravel()[flat], kind="stable")]
        shower = flat // d_energy.shape[1]
        energy = d_energy.ravel()[flat]
        if self.calorimeter.mode == "sampling":
            energy = self._smear(energy, rng)
        tau = scaled_depth(mid.ravel()[flat], prof.t_max[shower], prof.alpha[shower], prof.mean_alpha[shower])
        steps = _Steps(shower, layer.ravel()[flat], counts.ravel()[flat], energy, tau)
        return steps, counts.sum(axis=1)

    def _smear(self, energy_mev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Gamma smearing of step energies: mean ΔE, variance c_S²·ΔE with ΔE in GeV (returns MeV)."""
        scale_mev = self.calorimeter.stochastic_term**2 * 1000.0
        positive = energy_mev > 0
        out = np.zeros_like(energy_mev)
        out[positive] = rng.gamma(energy_mev[positive] / scale_mev, scale_mev)
        return out

    def _simulate_chunk(
        self, energies: np.ndarray, rng: np.random.Generator, out: SimulatedShowers, chunk: slice
    ) -> None:
        n = len(energies)
        t_start = self._start_depths(n, rng)
        prof = sample_profile_parameters(energies, rng, self.calorimeter)
        steps, spots_per_shower = self._steps(energies, t_start, prof, rng)
        med = self.medium
        r_core, r_tail, p_core = radial_parameters(
            steps.tau,
            energies[steps.shower],
            med.z,
            self.calorimeter.k4_slope,
            med.sampling_frequency,
            med.e_over_mip,
        )
        deposits = self._deposit_spots(steps, r_core, r_tail, p_core, n, rng)
        deposits = deposits.reshape(n, self._n_bins)
        n_vox = self.geometry.n_voxels
        if self.calorimeter.readout_threshold_mev > 0:
            voxels = deposits[:, :n_vox]
            voxels[voxels < self.calorimeter.readout_threshold_mev] = 0.0
        out.showers[chunk] = deposits[:, :n_vox]
        out.overflow[chunk] = deposits[:, n_vox:]
        out.start_depth_x0[chunk] = t_start
        out.t_max_x0[chunk] = prof.t_max
        out.alpha[chunk] = prof.alpha
        out.n_spots[chunk] = spots_per_shower

    def _deposit_spots(
        self,
        steps: _Steps,
        r_core: np.ndarray,
        r_tail: np.ndarray,
        p_core: np.ndarray,
        n_showers: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Generate the spots of all steps and histogram their energy into (n_showers·n_bins,) MeV."""
        total = np.zeros(n_showers * self._n_bins)
        if steps.counts.size == 0:
            return total
        spot_energy = steps.energy / steps.counts
        r_m = np.float32(self.medium.moliere_radius_mm)
        radii = np.stack([r_core, r_tail], axis=1).astype(np.float32).ravel() * r_m
        layer_ends = np.cumsum(np.bincount(steps.layer, weights=steps.counts, minlength=self.geometry.n_layers))
        layer_ends = layer_ends.astype(np.int64)
        step_of_spot = np.repeat(np.arange(steps.counts.size), steps.counts)
        u_comp = rng.random(step_of_spot.size, dtype=np.float32)
        u_rad = rng.random(step_of_spot.size, dtype=np.float32)
        tail = u_comp >= p_core.astype(np.float32)[step_of_spot]
        r_mm = radii[2 * step_of_spot + tail] * np.sqrt(u_rad / (np.float32(1.0) - u_rad))
        start = 0
        for index, layer in enumerate(self.geometry.layers):
            end = int(layer_ends[index])
            if end > start:
                sid = step_of_spot[start:end]
                local = self._voxel_in_layer(layer, r_mm[start:end], rng)
                bins = np.where(local >= 0, self._voxel_offsets[index] + local, self.geometry.n_voxels + index)
                flat_bins = steps.shower[sid] * self._n_bins + bins
                total += np.bincount(flat_bins, weights=spot_energy[sid], minlength=total.size)
            start = end
        return total

    @staticmethod
    def _voxel_in_layer(layer: Layer, r_mm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Voxel index inside ``layer`` of spots at radius r (mm) with uniform azimuth; -1 outside."""
        if layer.kind == "polar":
            edges = np.asarray(layer.r_edges, dtype=np.float32)
            ir = np.searchsorted(edges, r_mm, side="right") - 1
            n_r = len(edges) - 1
            inside = (ir >= 0) & (ir < n_r)
            if layer.n_alpha > 1:
                ia = (rng.random(r_mm.size, dtype=np.float32) * layer.n_alpha).astype(np.int64)
                ia = np.minimum(ia, layer.n_alpha - 1)
                ir = ia * n_r + ir
            return np.where(inside, ir, -1)
        phi = rng.random(r_mm.size) * (2.0 * np.pi)
        return layer.voxel_index(r_mm * np.cos(phi), r_mm * np.sin(phi))
