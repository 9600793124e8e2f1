"""The Python API speaks hist and awkward: metrics on hist.Hist, compare(), events as vector records."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import awkward as ak
import hist
import numpy as np
import pytest

from hepgan import compare, read_events
from hepgan.domains import generate_to_file
from hepgan.generate import EventGenerator
from hepgan.io.events import EventBatch
from hepgan.validation import chi2_two_histograms, separation_power
from hepgan.validation.histograms import make_hist
from hepgan.validation.metrics import chi2_unweighted, chi2_weighted

from .helpers import ROOT, toy_zmumu

GOLDEN_EVENTS = ROOT / "tests" / "data" / "golden" / "events_checkpoint.pt"
EDGES = np.linspace(-3.0, 3.0, 25)


def samples(shift: float = 0.0, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(0.0, 1.0, n), rng.normal(shift, 1.0, n)


class PlainUHIAxis:
    """A UHI axis with bins only (no ``edges``)."""

    def __init__(self, edges: np.ndarray) -> None:
        self._edges = edges

    def __len__(self) -> int:
        return len(self._edges) - 1

    def __getitem__(self, index: int) -> tuple[float, float]:
        return float(self._edges[index]), float(self._edges[index + 1])


class PlainUHIHistogram:
    """The bare UHI PlottableHistogram protocol: ``values()``/``variances()`` without flow, ``axes``."""

    def __init__(self, counts: np.ndarray, edges: np.ndarray) -> None:
        self._counts = counts
        self.axes = (PlainUHIAxis(edges),)
        self.kind = "COUNT"

    def values(self) -> np.ndarray:
        return self._counts

    def variances(self) -> np.ndarray:
        return self._counts

    def counts(self) -> np.ndarray:
        return self._counts


def test_chi2_and_separation_take_hist_objects() -> None:
    ref, gen = samples(shift=0.2)
    h_ref, h_gen = make_hist(ref, EDGES), make_hist(gen, EDGES)
    counts_ref, counts_gen = h_ref.values(flow=True), h_gen.values(flow=True)
    from_hists = chi2_two_histograms(h_ref, h_gen)
    assert from_hists == chi2_unweighted(counts_ref, counts_gen)
    assert from_hists.ndf == len(EDGES) + 1 - 1  # 24 bins + 2 flow bins, all filled, minus 1
    assert from_hists.p_value < 1e-3  # a 0.2 sigma shift with 4000 entries each is seen
    assert separation_power(h_ref, h_gen) == pytest.approx(separation_power(counts_ref, counts_gen))
    assert chi2_two_histograms(h_ref, counts_gen) == from_hists  # a histogram and an array of counts mix
    # an Int64 hist against the bare protocol (no flow bins): the in-range bins
    h_int = hist.Hist(hist.axis.Variable(EDGES)).fill(ref)
    plain = PlainUHIHistogram(h_gen.values(), EDGES)
    assert chi2_two_histograms(h_int, plain) == chi2_unweighted(h_ref.values(), h_gen.values())
    assert chi2_two_histograms(h_int, h_gen.values()) == chi2_two_histograms(h_int, plain)
    with pytest.raises(ValueError, match="26 and 5 bins"):
        chi2_two_histograms(h_ref, np.ones(5))


def test_a_weighted_histogram_uses_the_weighted_test() -> None:
    ref, gen = samples()
    weights = np.random.default_rng(2).uniform(0.5, 1.5, gen.size)
    h_ref, h_gen = make_hist(ref, EDGES), make_hist(gen, EDGES, weights=weights)
    result = chi2_two_histograms(h_ref, h_gen)
    expected = chi2_weighted(
        h_ref.values(flow=True), h_gen.values(flow=True), h_ref.values(flow=True), h_gen.variances(flow=True)
    )
    assert result == expected
    assert result != chi2_unweighted(h_ref.values(flow=True), h_gen.values(flow=True))


def test_histograms_on_different_bins_are_refused() -> None:
    ref, gen = samples()
    with pytest.raises(ValueError, match="different bin edges"):
        chi2_two_histograms(make_hist(ref, EDGES), make_hist(gen, EDGES * 1.1))
    with pytest.raises(ValueError, match="different bin edges"):
        separation_power(make_hist(ref, EDGES), make_hist(gen, EDGES[:-1]))
    two_d = hist.Hist(hist.axis.Regular(4, 0, 1), hist.axis.Regular(4, 0, 1))
    with pytest.raises(ValueError, match="1-D histogram"):
        chi2_two_histograms(two_d, two_d)


def test_compare_returns_metrics_verdict_and_hist_objects() -> None:
    ref, gen = samples(shift=0.0, n=3000)
    same = compare(ref, gen[: len(gen) // 2], bins=30)
    h_ref, h_gen = same["hist_reference"], same["hist_generated"]
    assert isinstance(h_ref, hist.Hist) and isinstance(h_gen, hist.Hist)
    assert h_ref.sum(flow=True).value == len(ref) and h_gen.sum(flow=True).value == len(gen) // 2
    assert len(h_ref.axes[0]) == 30 and np.array_equal(h_ref.axes[0].edges, same["edges"])
    assert same["chi2"] == pytest.approx(chi2_two_histograms(h_ref, h_gen).chi2)
    assert same["separation_power"] == pytest.approx(separation_power(h_ref, h_gen))
    assert same["verdict"] == "ok" and same["floor"]["chi2_ndf"] is not None
    shifted = compare(ref, samples(shift=0.5, n=3000)[1], bins=30)
    assert shifted["verdict"] == "fail" and shifted["w1"] == pytest.approx(0.5, abs=0.1)
    fixed = compare(ref, gen, bins=EDGES)
    assert np.array_equal(fixed["hist_reference"].axes[0].edges, EDGES)
    with pytest.raises(ValueError, match="at least 10 finite values"):
        compare(ref, [1.0, np.nan])
    with pytest.raises(ValueError, match="strictly increasing"):
        compare(ref, gen, bins=[1.0, 0.0])


def numpy_pair_mass(batch: EventBatch) -> np.ndarray:
    """m = sqrt((E1 + E2)^2 - |p1 + p2|^2) of the first two objects, from pT, eta, phi, m by hand."""
    px, py = batch.pt * np.cos(batch.phi), batch.pt * np.sin(batch.phi)
    pz = batch.pt * np.sinh(batch.eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + batch.mass**2)
    total = [component[:, 0] + component[:, 1] for component in (energy, px, py, pz)]
    return np.sqrt(np.maximum(total[0] ** 2 - total[1] ** 2 - total[2] ** 2 - total[3] ** 2, 0.0))


def test_events_to_awkward_drop_absent_objects_and_have_vector_behaviour() -> None:
    batch = toy_zmumu(300, seed=3)
    batch.mask[::7, 1] = False  # every seventh event lost its second muon
    for key in ("pt", "eta", "phi", "mass"):
        getattr(batch, key)[~batch.mask] = 0.0
    events = batch.to_awkward()
    assert str(events.type) == "300 * var * Momentum4D[pt: float64, eta: float64, phi: float64, mass: float64]"
    assert ak.to_list(ak.num(events)) == batch.mask.sum(axis=1).tolist()
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(events.mass)), batch.mass[batch.mask])
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(events.pt)), batch.pt[batch.mask])
    pairs = events[ak.num(events) == 2]
    mu1, mu2 = pairs[:, 0], pairs[:, 1]
    complete = batch.subset(batch.mask.all(axis=1))
    np.testing.assert_allclose(ak.to_numpy((mu1 + mu2).mass), numpy_pair_mass(complete), rtol=1e-9)
    assert np.all(ak.to_numpy(mu1.deltaR(mu2)) > 0)


def test_generated_events_as_awkward(tmp_path: Path) -> None:
    generator = EventGenerator.from_checkpoint(GOLDEN_EVENTS, device="cpu")
    events = generator.sample_awkward(500, seed=4)
    batch = generator.sample(500, seed=4)
    assert len(events) == 500 and "Momentum4D" in str(events.type)
    np.testing.assert_allclose(ak.to_numpy((events[:, 0] + events[:, 1]).mass), numpy_pair_mass(batch), rtol=1e-9)


def readme_block(heading: str) -> str:
    """The first ```python block after ``heading`` in the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_the_readme_comparison_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = readme_block("### Comparing two samples")
    assert len([line for line in code.splitlines() if line and not line.startswith(("from ", "import "))]) == 3
    (tmp_path / "data").mkdir()
    os.symlink(ROOT / "data" / "zmumu_pythia.h5", tmp_path / "data" / "zmumu_pythia.h5")
    generate_to_file(GOLDEN_EVENTS, 3000, tmp_path / "dimuons.h5", seed=1, device="cpu")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    line = out.getvalue().strip()
    match = re.fullmatch(r"m_mumu: chi2/ndf (\S+), W1 (\S+) GeV, verdict (ok|tension|fail|no floor)", line)
    assert match, line
    assert float(match.group(1)) > 0 and float(match.group(2)) > 0
    assert len(read_events(tmp_path / "dimuons.h5")) == 3000
