"""Event readers and writers on the real ROOT files in tests/data/events and on written tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from hepgan.errors import ConfigError, InputFileError, OutputError
from hepgan.io.events import (
    EventBatch,
    EventReader,
    EventSelection,
    EventWriter,
    RootTableSource,
    read_events,
    write_events,
)
from hepgan.validation.kinematics import event_observables

from .helpers import TEST_DATA

EVENTS = TEST_DATA / "events"
ZMUMU = EVENTS / "uproot-Zmumu.root"
HZZ = EVENTS / "uproot-HZZ.root"

CARTESIAN = {"px": "px", "py": "py", "pz": "pz", "energy": "E"}
ZMUMU_SELECTION = {"kind": "flat", "collection": "", "fields": CARTESIAN, "n_objects": 2}
HZZ_SELECTION = {"collection": "Muon", "fields": {"px": "Px", "py": "Py", "pz": "Pz", "energy": "E"}, "n_objects": 3}


def zmumu(**changes: object) -> EventSelection:
    return EventSelection.from_dict({**ZMUMU_SELECTION, **changes}, "test")


def hzz(**changes: object) -> EventSelection:
    return EventSelection.from_dict({**HZZ_SELECTION, **changes}, "test")


def small_batch(n: int = 50, n_objects: int = 3, seed: int = 1) -> EventBatch:
    rng = np.random.default_rng(seed)
    pt = -np.sort(-rng.exponential(30.0, (n, n_objects)) - 1.0, axis=1)
    mask = np.ones((n, n_objects), dtype=bool)
    mask[::4, -1] = False
    zero = lambda a: np.where(mask, a, 0.0)  # noqa: E731
    return EventBatch(
        zero(pt),
        zero(rng.normal(0, 2, pt.shape)),
        zero(rng.uniform(-np.pi, np.pi, pt.shape)),
        zero(rng.uniform(0, 5, pt.shape)),
        mask,
    )


def assert_same(a: EventBatch, b: EventBatch) -> None:
    for key, value in a.arrays().items():
        np.testing.assert_array_equal(value, getattr(b, key), err_msg=key)


def slot_batch(n: int = 40, n_objects: int = 6, seed: int = 2) -> EventBatch:
    """Fixed truth slots: masks that are not a prefix, event 0 with no object, full float64 values."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n_objects)) < 0.6
    mask[0] = False
    mask[1] = [False, True, False, True, True, False][:n_objects]
    mask[2] = True
    zero = lambda a: np.where(mask, a, 0.0)  # noqa: E731
    shape = (n, n_objects)
    return EventBatch(
        zero(rng.exponential(40.0, shape)),
        zero(rng.normal(0, 2, shape)),
        zero(rng.uniform(-np.pi, np.pi, shape)),
        zero(rng.uniform(0, 10, shape)),
        mask,
    )


def write_raw_tree(path: Path, branches: dict[str, Any], metadata: dict[str, Any]) -> None:
    """A TTree 'events' written with plain uproot (jagged awkward or (N,)/(N, k) numpy branches) + metadata."""
    types = {k: v.type.content if isinstance(v, ak.Array) else (v.dtype, v.shape[1:]) for k, v in branches.items()}
    with uproot.recreate(path) as file:
        file.mktree("events", types).extend(branches)
        file["hepgan_metadata"] = json.dumps(metadata)


def table_metadata(n_objects: int, **extra: Any) -> dict[str, Any]:
    base = {"units": "GeV", "layout": "hepgan-events", "n_objects": n_objects, "hepgan_version": "0.1.0"}
    return {**base, **extra, "tree": "events"}


# ------------------------------------------------------------------ real files
def test_zmumu_flat_branches_give_two_ordered_muons() -> None:
    batch = read_events(ZMUMU, zmumu())
    assert len(batch) == 2304 and batch.n_objects == 2
    assert batch.mask.all()
    assert (batch.pt[:, 0] >= batch.pt[:, 1]).all()
    assert np.all((batch.phi > -np.pi) & (batch.phi <= np.pi))
    np.testing.assert_allclose(batch.mass, 0.10566, rtol=1e-3)  # muons


def test_zmumu_vector_pair_mass_matches_m_branch() -> None:
    batch = read_events(ZMUMU, zmumu())
    stored = uproot.open(ZMUMU)["events"]["M"].array(library="np")
    mass = event_observables(batch.pt, batch.eta, batch.phi, batch.mass, batch.mask)["m_12"]
    close = np.abs(mass - stored) <= 1e-3 * stored
    assert close.mean() > 0.99


def test_zmumu_transverse_fields_with_fixed_mass() -> None:
    selection = zmumu(fields={"pt": "pt", "eta": "eta", "phi": "phi"}, mass_gev=0.10566)
    batch = read_events(ZMUMU, selection, max_events=10)
    np.testing.assert_array_equal(batch.mass, 0.10566)
    pt1 = uproot.open(ZMUMU)["events"]["pt1"].array(library="np", entry_stop=10)
    assert np.isin(pt1, batch.pt).all()


def test_hzz_jagged_muons_selected_ordered_and_masked() -> None:
    with EventReader(HZZ, hzz(pt_min_gev=5.0), chunk_size=1000) as reader:
        assert len(reader) == 2421
        batch = reader.read()
    n_muons = uproot.open(HZZ)["events"]["NMuon"].array(library="np")
    per_event = batch.mask.sum(axis=1)
    assert (per_event <= np.minimum(n_muons, 3)).all()
    assert (per_event >= 2).sum() > 1000
    assert (batch.pt[batch.mask] >= 5.0).all()
    assert (batch.pt[~batch.mask] == 0).all() and (batch.mass[~batch.mask] == 0).all()
    assert (np.diff(batch.pt, axis=1) <= 0).all()  # decreasing pT, padding last
    assert not (np.diff(batch.mask.astype(int), axis=1) > 0).any()  # no present object after an absent one


def test_chunked_reading_equals_full() -> None:
    full = read_events(HZZ, hzz())
    with EventReader(HZZ, hzz(), chunk_size=333) as reader:
        chunks = list(reader.iter_chunks())
    assert len(chunks) == 8
    assert_same(EventBatch.concatenate(chunks), full)


def test_eta_cut_and_n_objects() -> None:
    batch = read_events(HZZ, hzz(abs_eta_max=1.0, n_objects=1))
    assert batch.n_objects == 1
    assert (np.abs(batch.eta[batch.mask]) <= 1.0).all()


# ------------------------------------------------------------------ write / read round trips
@pytest.mark.parametrize("suffix", [".h5", ".root"])
def test_write_read_round_trip(tmp_path: Path, suffix: str) -> None:
    batch = small_batch()
    path = tmp_path / f"events{suffix}"
    with EventWriter(path, 3, attrs={"seed": 5}, chunk_rows=16) as writer:
        writer.write(batch.subset(slice(0, 20)))
        writer.write(batch.subset(slice(20, None)))
    with EventReader(path, chunk_size=7) as reader:
        assert len(reader) == 50 and reader.n_objects == 3
        assert reader.attrs["seed"] == 5 and reader.attrs["units"] == "GeV"
        assert_same(reader.read(), batch)
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("suffix", [".h5", ".root"])
def test_real_events_round_trip_and_reselect(tmp_path: Path, suffix: str) -> None:
    batch = read_events(HZZ, hzz())
    path = tmp_path / f"hzz{suffix}"
    write_events(path, batch)
    assert_same(read_events(path), batch)
    cut = read_events(path, EventSelection(collection="Muon", pt_min_gev=20.0, n_objects=2))
    assert_same(cut, read_events(HZZ, hzz(pt_min_gev=20.0, n_objects=2)))


def test_root_table_is_jagged_and_round_trips_exactly(tmp_path: Path) -> None:
    batch = slot_batch()
    path = tmp_path / "partons.root"
    with EventWriter(path, 6, attrs={"seed": 3}, chunk_rows=8) as writer:
        writer.write(batch.subset(slice(0, 13)))
        writer.write(batch.subset(slice(13, None)))
    assert_same(read_events(path), batch)
    with uproot.open(path) as file:
        tree = file["events"]
        assert set(tree.keys()) == {"nObject", "Object_pt", "Object_eta", "Object_phi", "Object_mass", "Object_slot"}
        arrays = tree.arrays()
        metadata = json.loads(str(file["hepgan_metadata"]))
    counts = batch.mask.sum(axis=1)
    assert str(arrays["Object_pt"].type.content) == "var * float64"
    np.testing.assert_array_equal(arrays["nObject"], counts)
    np.testing.assert_array_equal(ak.num(arrays["Object_pt"]), counts)
    assert ak.to_list(arrays["Object_pt"]) == ak.to_list(batch.to_awkward().pt)
    assert ak.to_list(arrays["Object_slot"][1]) == [1, 3, 4]
    assert metadata["collection"] == "Object" and metadata["n_objects"] == 6 and metadata["seed"] == 3


def test_root_collection_name(tmp_path: Path) -> None:
    batch = slot_batch(10, 4)
    path = tmp_path / "jets.root"
    write_events(path, batch, collection="Jet")
    with uproot.open(path) as file:
        assert {"nJet", "Jet_pt", "Jet_slot"} <= set(file["events"].keys())
    with EventReader(path) as reader:
        assert reader.attrs["collection"] == "Jet" and reader.n_objects == 4
        assert_same(reader.read(), batch)
    for bad in ("2jets", "Jet-pt", "", 5):
        with pytest.raises(ConfigError, match="collection"):
            EventWriter(tmp_path / "bad.root", 4, collection=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="collection"):
        EventWriter(tmp_path / "bad.root", 4, attrs={"collection": "Jet"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jets.root"]


def test_root_jagged_chunked_reading_equals_whole(tmp_path: Path) -> None:
    batch = slot_batch(103)
    path = tmp_path / "events.root"
    with EventWriter(path, 6, chunk_rows=10) as writer:
        writer.write(batch)
    with EventReader(path, chunk_size=17) as reader:
        chunks = list(reader.iter_chunks())
        middle = reader.read(30, 75)
    assert [len(c) for c in chunks] == [17] * 6 + [1]
    assert_same(EventBatch.concatenate(chunks), batch)
    assert_same(middle, batch.subset(slice(30, 75)))


def test_old_fixed_layout_root_table_still_reads(tmp_path: Path) -> None:
    batch = slot_batch(30, 3)
    path = tmp_path / "old.root"
    write_raw_tree(path, batch.arrays(), table_metadata(3, seed=9))
    with EventReader(path, chunk_size=7) as reader:
        assert reader.n_objects == 3 and reader.attrs["seed"] == 9
        assert_same(reader.read(), batch)
    source = RootTableSource(path)
    try:
        assert source.layout == "fixed" and source.mask_branch == "mask"
    finally:
        source.close()


def test_to_awkward_pair_mass_with_vector() -> None:
    pt = np.array([[45.0, 45.0, 0.0], [30.0, 20.0, 10.0]])
    zero = np.zeros_like(pt)
    phi = np.array([[0.0, np.pi, 0.0], [0.0, 1.0, 2.0]])
    events = EventBatch(pt, zero, phi, zero, pt > 0).to_awkward()
    assert ak.to_list(ak.num(events)) == [2, 3]
    pair_mass = (events[:, 0] + events[:, 1]).mass
    np.testing.assert_allclose(pair_mass[0], 90.0, rtol=1e-12)  # back to back, massless, pT 45 GeV at η 0
    np.testing.assert_allclose(pair_mass[1], np.sqrt(2 * 30.0 * 20.0 * (1 - np.cos(1.0))), rtol=1e-12)


# ------------------------------------------------------------------ bad input
def _one_line(exc: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


@pytest.mark.parametrize(
    ("path", "selection", "branch"),
    [
        (ZMUMU, {**ZMUMU_SELECTION, "fields": {**CARTESIAN, "px": "Px"}}, "Px1"),
        (HZZ, {**HZZ_SELECTION, "collection": "Muons"}, "Muons_"),
        (HZZ, {**HZZ_SELECTION, "tree": "Events"}, "Events"),
    ],
)
def test_wrong_branch_or_tree_name(path: Path, selection: dict, branch: str) -> None:
    with pytest.raises(InputFileError) as exc:
        EventReader(path, EventSelection.from_dict(selection))
    _one_line(exc, str(path), branch)


def test_non_numeric_jagged_branch() -> None:
    selection = {**HZZ_SELECTION, "collection": "Jet", "fields": {"px": "Px", "py": "Py", "pz": "Pz", "mass": "ID"}}
    with pytest.raises(InputFileError) as exc:
        EventReader(HZZ, EventSelection.from_dict(selection))
    _one_line(exc, str(HZZ), "Jet_ID", "expected numbers")


def test_non_numeric_flat_branch(tmp_path: Path) -> None:
    path = tmp_path / "flags.root"
    columns = {"px1": np.ones(3), "py1": np.ones(3), "pz1": np.ones(3), "E1": np.ones(3, dtype=bool)}
    with uproot.recreate(path) as file:
        file.mktree("events", {key: value.dtype for key, value in columns.items()}).extend(columns)
    with pytest.raises(InputFileError) as exc:
        EventReader(path, zmumu(n_objects=1))
    _one_line(exc, str(path), "E1", "expected numbers")


def test_empty_selection_raises_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    with pytest.raises(InputFileError) as exc:
        with EventReader(HZZ, hzz(pt_min_gev=1e6), chunk_size=1000) as reader, EventWriter(out, 3) as writer:
            for batch in reader.iter_chunks():
                writer.write(batch)
    _one_line(exc, str(HZZ), "Muon_Px", "selects no objects")
    assert list(tmp_path.iterdir()) == []


def test_truncated_root_file(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(ZMUMU.read_bytes()[: ZMUMU.stat().st_size // 2])
    with pytest.raises(InputFileError) as exc:
        read_events(truncated, zmumu())
    _one_line(exc, str(truncated))


def test_pdg_id_needs_a_pdg_branch() -> None:
    with pytest.raises(InputFileError) as exc:
        EventReader(HZZ, hzz(pdg_id=[13, -13]))
    _one_line(exc, str(HZZ), "Muon_pdgId")


def test_hdf5_table_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    with h5py.File(missing, "w") as file:
        for key in ("pt", "eta", "phi", "mass"):
            file[key] = np.ones((4, 2))
    with pytest.raises(InputFileError) as exc:
        EventReader(missing)
    _one_line(exc, str(missing), "'mask'")

    strings = tmp_path / "strings.h5"
    with h5py.File(strings, "w") as file:
        for key in ("pt", "eta", "phi", "mass"):
            file[key] = np.ones((4, 2))
        file["eta"][...] = 0
        del file["eta"]
        file["eta"] = np.array([[b"a", b"b"]] * 4)
        file["mask"] = np.ones((4, 2), dtype=bool)
    with pytest.raises(InputFileError) as exc:
        EventReader(strings)
    _one_line(exc, str(strings), "'eta'", "expected numbers")

    good = tmp_path / "good.h5"
    write_events(good, small_batch(200))
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(InputFileError) as exc:
        read_events(truncated)
    _one_line(exc, str(truncated))


def test_nan_in_table_is_rejected(tmp_path: Path) -> None:
    batch = small_batch(10)
    batch.eta[3, 0] = np.nan
    path = tmp_path / "nan.h5"
    write_events(path, batch)
    with pytest.raises(InputFileError) as exc:
        read_events(path)
    _one_line(exc, str(path), "'eta'", "event 3")


def _jagged_branches(batch: EventBatch) -> dict[str, Any]:
    """NanoAOD-style branches of ``batch`` built with awkward alone: nObject and Object_* lists."""
    counts = batch.mask.sum(axis=1)
    branches: dict[str, Any] = {"nObject": counts.astype(np.int32)}
    for key in ("pt", "eta", "phi", "mass"):
        branches[f"Object_{key}"] = ak.unflatten(getattr(batch, key)[batch.mask], counts)
    branches["Object_slot"] = ak.unflatten(np.nonzero(batch.mask)[1].astype(np.int32), counts)
    return branches


def _edit(values: Any, event: int, change: Any) -> ak.Array:
    """``values`` with the list of ``event`` replaced by ``change(list)``, dtype kept."""
    rows = ak.to_list(values)
    rows[event] = change(rows[event])
    return ak.values_astype(ak.Array(rows), ak.flatten(values).type.content.primitive)


BAD_JAGGED = {
    "missing": (lambda b: {k: v for k, v in b.items() if k != "Object_mass"}, ["'Object_mass'"]),
    "slot out of range": (
        lambda b: {**b, "Object_slot": _edit(b["Object_slot"], 5, lambda r: [3, *r[1:]])},
        ["'Object_slot'", "slot 3", "event 5", "0..2"],
    ),
    "slot twice": (
        lambda b: {**b, "Object_slot": _edit(b["Object_slot"], 6, lambda r: [r[1], *r[1:]])},
        ["'Object_slot'", "event 6", "more than once"],
    ),
    "counter disagrees": (
        lambda b: {**b, "nObject": b["nObject"] + (np.arange(len(b["nObject"])) == 7)},
        ["'nObject'", "'Object_pt'", "event 7"],
    ),
    "lists disagree": (
        lambda b: {**b, "Object_eta": _edit(b["Object_eta"], 8, lambda r: [*r, 0.5])},
        ["'Object_eta'", "event 8", "expected equal"],
    ),
    "nan": (
        lambda b: {**b, "Object_phi": _edit(b["Object_phi"], 4, lambda r: [np.nan, *r[1:]])},
        ["'Object_phi'", "event 4"],
    ),
    "inf": (
        lambda b: {**b, "Object_mass": _edit(b["Object_mass"], 9, lambda r: [*r[:-1], np.inf])},
        ["'Object_mass'", "event 9"],
    ),
    "float slots": (
        lambda b: {**b, "Object_slot": ak.values_astype(b["Object_slot"], np.float32)},
        ["'Object_slot'", "expected integers"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_JAGGED))
def test_bad_jagged_root_table(tmp_path: Path, case: str) -> None:
    batch = small_batch(12)
    good = tmp_path / "good.root"
    write_raw_tree(good, _jagged_branches(batch), table_metadata(3, collection="Object"))
    assert_same(read_events(good), batch)  # the hand-built layout is the one hepgan writes
    edit, parts = BAD_JAGGED[case]
    path = tmp_path / "bad.root"
    write_raw_tree(path, edit(_jagged_branches(batch)), table_metadata(3, collection="Object"))
    with pytest.raises(InputFileError) as exc:
        read_events(path)
    _one_line(exc, str(path), *parts)


def test_jagged_root_table_needs_n_objects(tmp_path: Path) -> None:
    path = tmp_path / "no_n.root"
    metadata = {k: v for k, v in table_metadata(3, collection="Object").items() if k != "n_objects"}
    write_raw_tree(path, _jagged_branches(small_batch(5)), metadata)
    with pytest.raises(InputFileError) as exc:
        EventReader(path)
    _one_line(exc, str(path), "n_objects", "hepgan_metadata")


@pytest.mark.parametrize(("suffix", "key"), [(".h5", "'mass'"), (".root", "'Object_mass'")])
def test_infinite_value_in_written_table(tmp_path: Path, suffix: str, key: str) -> None:
    batch = small_batch(10)
    batch.mass[6, 1] = np.inf
    path = tmp_path / f"inf{suffix}"
    write_events(path, batch)
    with pytest.raises(InputFileError) as exc:
        read_events(path)
    _one_line(exc, str(path), key, "event 6")


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        EventReader(tmp_path / "nope.root", EventSelection(collection="Muon"))
    text = tmp_path / "notes.root"
    text.write_text("hello")
    with pytest.raises(InputFileError, match="neither a ROOT nor an HDF5"):
        EventReader(text, EventSelection(collection="Muon"))


# ------------------------------------------------------------------ writer failures
def test_writer_abort_keeps_existing_target(tmp_path: Path) -> None:
    path = tmp_path / "events.root"
    write_events(path, small_batch(5))
    before = path.read_bytes()
    with pytest.raises(RuntimeError), EventWriter(path, 3) as writer:
        writer.write(small_batch(7))
        raise RuntimeError("interrupted")
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        EventWriter(tmp_path / "no" / "dir.h5", 2)
    with pytest.raises(ConfigError, match="output format"):
        EventWriter(tmp_path / "events.txt", 2)
    with pytest.raises(ConfigError, match="units"):
        EventWriter(tmp_path / "events.h5", 2, attrs={"units": "MeV"})
    with pytest.raises(OutputError, match="3 objects"), EventWriter(tmp_path / "events.h5", 2) as writer:
        writer.write(small_batch(4))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ selection config
def test_selection_from_dict_validates_and_names_fields() -> None:
    selection = EventSelection.from_dict(
        {"collection": "GenPart", "pdg_id": [13, -13], "status": 1, "n_objects": 2}, "data.selection"
    )
    assert selection.branch("pt") == "GenPart_pt" and selection.branch("pdg_id") == "GenPart_pdgId"
    assert EventSelection.from_dict(selection.to_dict()) == selection
    assert zmumu().branches("px") == ["px1", "px2"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"collection": "Muon", "n_objects": 0}, "data.selection.n_objects"),
        ({"collection": "Muon", "kind": "nested"}, "data.selection.kind"),
        ({"kind": "jagged"}, "data.selection.collection"),
        ({"collection": "Muon", "pt_min_gev": "ten"}, "data.selection.pt_min_gev"),
        ({"collection": "Muon", "fields": {"pt": "pt", "px": "px"}}, "data.selection.fields"),
        ({"collection": "Muon", "fields": {"pt": "pt", "eta": "eta", "phi": "phi"}}, "mass_gev"),
        ({"collection": "Muon", "fields": {"rapidity": "y"}}, "data.selection.fields"),
        ({"collection": "Muon", "colour": "red"}, "unknown key 'colour'"),
    ]
    for data, expected in bad:
        with pytest.raises(ConfigError, match=expected):
            EventSelection.from_dict(data, "data.selection")


def test_table_selection_refuses_pdg_cuts(tmp_path: Path) -> None:
    path = tmp_path / "events.h5"
    write_events(path, small_batch(5))
    with pytest.raises(ConfigError, match="pdg_id"):
        EventReader(path, EventSelection(collection="Muon", pdg_id=(13,)))


def test_corrupt_basket_names_branches_and_writes_nothing(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.root"
    data = bytearray(ZMUMU.read_bytes())
    data[20000:23000] = bytes(3000)  # inside the baskets: the file opens, reading fails
    corrupt.write_bytes(bytes(data))
    out = tmp_path / "out.root"
    with pytest.raises(InputFileError) as exc:
        with EventReader(corrupt, zmumu()) as reader, EventWriter(out, 2) as writer:
            for batch in reader.iter_chunks():
                writer.write(batch)
    _one_line(exc, str(corrupt), "px1", "corrupt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.root"]
