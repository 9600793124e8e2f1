"""Property-based tests: configuration holes that let a mistake pass silently or end in a traceback.

Hypothesis writes otherwise valid run configurations (``configs/calo.yaml`` and
``configs/events.yaml``) with one hole each:

- a key repeated at a random depth (top level, a section, a free-form section such as
  ``data.selection`` or ``simulation.calorimeter``, ``data.selection.fields``), in the file or
  in a ``--set`` value: the later one would silently win;
- nesting of random depth (up to thousands of levels) in the file, in a ``--set`` key
  (``--set a.b.c...=1``) or in a ``--set`` value (``[[[...]]]``);
- a random unknown key inside a free-form section (``data.selection``, ``simulation.calorimeter``,
  ``simulation.spectrum``, ``simulation.pythia``, ``preprocessing.events``, ``generation.spectrum``).

Each is run as ``hepgan train CONFIG`` in-process (with ``--dry-run`` where the refusal must
come at config load) in a working folder holding an earlier run: exit code 2, exactly one
stderr line ``hepgan: error: ...`` naming the file (or ``--set``) and the key, no traceback,
no new ``runs/`` entry, and every earlier file unchanged (SHA-256). The CLI's safety net is
disabled, so only a real check can pass a case. ``data.validation_fraction: 0`` trains to
the end and says that the held-out validation was skipped.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hepgan.config import FREE_FORM_KEYS, MAX_DEPTH
from hepgan.data.event_transforms import EventTransform
from hepgan.io.event_selection import EventSelection
from hepgan.io.events import write_events
from hepgan.sim.calorimeter import CalorimeterSpec
from hepgan.sim.pythia import PythiaConfig
from hepgan.sim.spectra import EnergySpectrum

from .cli_checks import assert_one_error_line, digest, disable_safety_net, run_cli
from .helpers import EVENT_CONFIG, ROOT, case_counter, small_config, small_event_config, toy_zmumu

CASES = case_counter(__file__)

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}
BASES = {
    "calo": yaml.safe_load((ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8")),
    "events": yaml.safe_load(EVENT_CONFIG.read_text(encoding="utf-8")),
}
KEY_TEXT = st.text(st.characters(categories=("L", "N"), include_characters="_-"), min_size=1, max_size=12)


@pytest.fixture(autouse=True)
def _no_safety_net(monkeypatch: pytest.MonkeyPatch) -> None:
    disable_safety_net(monkeypatch)


# --------------------------------------------------------------------------- helpers
def in_fresh_dir(parent: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new working folder per example holding an earlier run's files (relative paths land here)."""
    work = Path(tempfile.mkdtemp(dir=parent))
    monkeypatch.chdir(work)
    earlier = work / "runs" / "calo-20250101-000000"
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("name: calo\n", encoding="utf-8")
    (earlier / "run.json").write_text('{"steps": 4000}\n', encoding="utf-8")
    return work


def refuses(work: Path, argv: list[str], capsys, caplog, *names: str) -> str:
    """``hepgan ARGV`` gives one error line naming ``names`` and changes nothing under ``work``."""
    before = digest(work)
    line = assert_one_error_line(run_cli(argv, capsys, caplog), *names)
    assert digest(work) == before, "something was written or changed"
    return line


def block_yaml(data: dict[str, Any], repeat: tuple[str, ...] | None = None, value: Any = None) -> tuple[str, int, int]:
    """``data`` as block YAML (values as JSON flow), with the key path ``repeat`` written a second
    time (with ``value``) at the end of its mapping; returns the text and the lines of both."""
    lines: list[str] = []
    first = second = 0

    def emit(mapping: dict[str, Any], place: tuple[str, ...], indent: int) -> None:
        nonlocal first, second
        for key, item in mapping.items():
            if repeat is not None and (*place, key) == repeat:
                first = len(lines) + 1
            if isinstance(item, dict) and item:
                lines.append(f"{' ' * indent}{json.dumps(key)}:")
                emit(item, (*place, key), indent + 2)
            else:
                lines.append(f"{' ' * indent}{json.dumps(key)}: {json.dumps(item)}")
        if repeat is not None and place == repeat[:-1]:
            lines.append(f"{' ' * indent}{json.dumps(repeat[-1])}: {json.dumps(value)}")
            second = len(lines)

    emit(data, (), 0)
    return "\n".join(lines) + "\n", first, second


def mapping_places(data: dict[str, Any], place: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every (mapping place, key) pair of ``data``, as key paths."""
    out = []
    for key, item in data.items():
        out.append((*place, key))
        if isinstance(item, dict):
            out += mapping_places(item, (*place, key))
    return out


# --------------------------------------------------------------------------- duplicate keys
@settings(max_examples=40, **SETTINGS)
@given(kind=st.sampled_from(sorted(BASES)), data=st.data())
def test_duplicate_keys_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, kind: str, data) -> None:
    """A key written twice at any depth of a valid config (the second with any value, even the same):
    one line naming the file, the dotted key and both line numbers; nothing written."""
    CASES["duplicate keys"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    places = mapping_places(BASES[kind])
    repeat = data.draw(st.sampled_from(places), label="key")
    value = data.draw(st.one_of(st.integers(0, 5), st.just("x"), st.just([1, 2])), label="value")
    text, first, second = block_yaml(BASES[kind], repeat, value)
    path = work / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    line = refuses(work, ["train", str(path), "--dry-run"], capsys, caplog, str(path), "duplicate key")
    assert f"'{'.'.join(repeat)}'" in line
    assert f"lines {first} and {second}" in line


def test_repeated_training_section_is_refused(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    """The reported case: a second ``training:`` section would reset mmd_weight from 20 to 0."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = work / "run.yaml"
    text = (ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8") + "training:\n  max_steps: 10\n"
    path.write_text(text, encoding="utf-8")
    refuses(work, ["train", str(path), "--no-progress"], capsys, caplog, str(path), "duplicate key 'training'")


@settings(max_examples=15, **SETTINGS)
@given(key=KEY_TEXT, depth=st.integers(1, 5))
def test_duplicate_keys_in_set_values_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, key: str, depth: int):
    """``--set data.selection={k: {k: ... {a: 1, a: 2}}}``: one line naming --set and the key."""
    CASES["duplicate keys (--set)"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    value = "{a: 1, a: 2}"
    for _ in range(depth - 1):
        value = f"{{{json.dumps(key)}: {value}}}"
    config = ROOT / "configs" / "calo.yaml"
    refuses(work, ["train", str(config), "--dry-run", "--set", f"data.selection={value}"], capsys, caplog, "--set")


# --------------------------------------------------------------------------- nesting
DEPTHS = st.one_of(st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3), st.integers(MAX_DEPTH + 1, 5000))


@settings(max_examples=30, **SETTINGS)
@given(depth=DEPTHS, shape=st.sampled_from(["list", "mapping"]), where=st.sampled_from(["top", "selection"]))
def test_deep_nesting_in_files(tmp_path: Path, monkeypatch, capsys, caplog, depth: int, shape: str, where: str):
    """``[[[...]]]`` or ``{a: {a: ...}}`` of any depth as a top-level key or inside data.selection:
    one line naming the file (the nesting beyond 32 levels, else the unknown key), no RecursionError."""
    CASES["nesting (file)"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    nested = "[" * depth + "]" * depth if shape == "list" else "{a: " * depth + "1" + "}" * depth
    prefix = 3 if where == "selection" else 1  # the mappings around the value
    path = work / "deep.yaml"
    if where == "top":
        path.write_text(f"name: calo\nextra: {nested}\n", encoding="utf-8")
    else:
        path.write_text(f"name: calo\ndata:\n  selection:\n    extra: {nested}\n", encoding="utf-8")
    too_deep = prefix + depth > MAX_DEPTH
    expected = "nested deeper than 32 levels" if too_deep else "unknown key"
    refuses(work, ["train", str(path), "--dry-run"], capsys, caplog, str(path), expected)


@settings(max_examples=25, **SETTINGS)
@given(depth=DEPTHS, section=st.sampled_from(["data.selection", "preprocessing.events", "nosuch"]))
def test_deep_set_keys(tmp_path: Path, monkeypatch, capsys, caplog, depth: int, section: str) -> None:
    """``--set SECTION.a.a.a...=1`` with thousands of levels: one line naming --set, no RecursionError."""
    CASES["nesting (--set key)"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    key = ".".join([section, *["a"] * depth])
    config = ROOT / "configs" / "calo.yaml"
    line = refuses(work, ["train", str(config), "--dry-run", "--set", f"{key}=1"], capsys, caplog)
    assert "--set" in line or "unknown key" in line


@settings(max_examples=20, **SETTINGS)
@given(depth=DEPTHS)
def test_deep_set_values(tmp_path: Path, monkeypatch, capsys, caplog, depth: int) -> None:
    """``--set data.selection.x=[[[...]]]``: one line, no RecursionError."""
    CASES["nesting (--set value)"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    config = ROOT / "configs" / "calo.yaml"
    argv = ["train", str(config), "--dry-run", "--set", f"data.selection.x={'[' * depth}{']' * depth}"]
    line = refuses(work, argv, capsys, caplog)
    assert "nested deeper" in line or "data.selection.x" in line


def test_deep_config_from_a_checkpoint_is_refused() -> None:
    """Plain data (as a checkpoint stores it) nested 10 000 deep: ConfigError, no RecursionError."""
    from hepgan.config import config_from_dict
    from hepgan.errors import ConfigError

    CASES["explicit"] += 1
    nested: dict[str, Any] = {}
    node = nested
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError, match="nested deeper than 32 levels"):
        config_from_dict({"data": {"selection": nested}}, "ckpt")


# --------------------------------------------------------------------------- free-form sections
FREE_FORM = sorted(FREE_FORM_KEYS)


@settings(max_examples=50, **SETTINGS)
@given(kind=st.sampled_from(sorted(BASES)), section=st.sampled_from(FREE_FORM), data=st.data())
def test_unknown_keys_in_free_form_sections(tmp_path: Path, monkeypatch, capsys, caplog, kind: str, section: str, data):
    """A random unknown key inside a free-form section, of either kind: refused at config load
    (``--dry-run``) with one line naming the file and ``<section>.<key>``."""
    CASES["free-form unknown keys"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    key = data.draw(KEY_TEXT.filter(lambda k: k not in FREE_FORM_KEYS[section]), label="key")
    config = yaml.safe_load(yaml.safe_dump(BASES[kind]))
    outer, inner = section.split(".")
    config.setdefault(outer, {}).setdefault(inner, {})[key] = data.draw(st.integers(0, 3), label="value")
    path = work / "run.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    via_set = data.draw(st.booleans(), label="via --set")
    argv = ["train", str(path), "--dry-run"]
    if via_set:
        path.write_text(yaml.safe_dump(BASES[kind], allow_unicode=True), encoding="utf-8")
        argv += ["--set", f"{section}.{key}=1"]
    refuses(work, argv, capsys, caplog, str(path), f"{section}.{key}: unknown key")


def test_free_form_keys_are_those_the_readers_know() -> None:
    """The config's lists of free-form keys are exactly the fields each section's reader accepts."""
    CASES["explicit"] += 1
    readers = {
        "data.selection": [f.name for f in dataclasses.fields(EventSelection)],
        "simulation.calorimeter": [f.name for f in dataclasses.fields(CalorimeterSpec)],
        "simulation.spectrum": [f.name for f in dataclasses.fields(EnergySpectrum)],
        "generation.spectrum": [f.name for f in dataclasses.fields(EnergySpectrum)],
        "simulation.pythia": [f.name for f in dataclasses.fields(PythiaConfig)],
        "preprocessing.events": [p for p in inspect.signature(EventTransform).parameters if p != "n_objects"],
    }
    assert {name: sorted(keys) for name, keys in FREE_FORM_KEYS.items()} == {k: sorted(v) for k, v in readers.items()}


def test_shipped_configs_still_load() -> None:
    """The shipped configs use only known keys, no repeated key and shallow nesting."""
    from hepgan.config import load_config

    CASES["explicit"] += 2
    for path in (ROOT / "configs" / "calo.yaml", EVENT_CONFIG):
        load_config(path)


# --------------------------------------------------------------------------- validation_fraction 0
@pytest.mark.parametrize("kind", ["calo", "events"])
def test_zero_validation_fraction_trains_and_skips_the_validation(
    tmp_path: Path, monkeypatch, capsys, caplog, reference_file: Path, kind: str
) -> None:
    """``data.validation_fraction: 0`` trains to the end (exit 0); the held-out validation says it was
    skipped and ``run.json`` records why."""
    CASES["explicit"] += 1
    monkeypatch.chdir(tmp_path)
    if kind == "calo":
        config = small_config(tmp_path, reference_file, max_steps=2).to_dict()
    else:
        write_events(tmp_path / "events.h5", toy_zmumu(200, seed=1))
        config = small_event_config(tmp_path, tmp_path / "events.h5").to_dict()
    config["data"]["validation_fraction"] = 0
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_cli(["train", str(path), "--no-progress"], capsys, caplog)
    assert result.code == 0, result.err
    assert "held-out validation skipped: no" in result.out
    assert "data.validation_fraction" in result.out
    (run,) = (tmp_path / "runs").iterdir()
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert "data.validation_fraction" in record["validation"]["skipped"]
