"""Property-based tests: malformed YAML run configurations and ``--set`` overrides.

Hypothesis writes run configurations derived from ``configs/calo.yaml`` with one defect each
(an unknown key at the top level or in a section, random unicode keys, a wrong type for any
field of any section, an out-of-range value, NaN/inf/huge numbers), malformed ``--set``
overrides, and YAML carrying Python tags (``!!python/object/apply:os.system``) that would
create a marker file if executed. Each is run as ``hepgan train CONFIG`` in-process in an
empty working folder and must give exit code 2 and exactly one stderr line
``hepgan: error: ...`` naming the configuration file and the dotted field (``training.batch_size``),
with no traceback, no marker file and nothing written (no ``runs/`` folder).

The working folder has no reference showers, so a defect that wrongly passes the
configuration checks fails fast on the missing ``data.path`` (and the test fails, because that
message does not name the field).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hepgan.config import RunConfig

from .cli_checks import assert_one_error_line, run_cli, snapshot
from .helpers import ROOT, case_counter

CASES = case_counter(__file__)

SETTINGS = {
    "deadline": None,
    "database": None,  # no .hypothesis/ folder in the repository
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}
BASE = yaml.safe_load((ROOT / "configs" / "calo.yaml").read_text(encoding="utf-8"))
SECTIONS = ("data", "simulation", "preprocessing", "model", "training", "generation", "validation")


def _fields() -> dict[str, Any]:
    """Dotted field name -> annotation, for every field of every section and the top level."""
    out: dict[str, Any] = {}
    top = typing.get_type_hints(RunConfig)
    for f in dataclasses.fields(RunConfig):
        if f.name in SECTIONS:
            cls = top[f.name]
            for name, annotation in typing.get_type_hints(cls).items():
                out[f"{f.name}.{name}"] = annotation
        else:
            out[f.name] = top[f.name]
    return out


FIELDS = _fields()
ALLOWED = {"": set(SECTIONS) | {k for k in FIELDS if "." not in k}} | {
    s: {k.split(".", 1)[1] for k in FIELDS if k.startswith(f"{s}.")} for s in SECTIONS
}


# --------------------------------------------------------------------------- helpers
def assert_names_field(line: str, dotted: str) -> None:
    """The message names ``dotted`` as a field (``x.training.batch_size:``, ``x: training.betas[1]:``)."""
    assert re.search(rf"(^|[.\s]){re.escape(dotted)}(\[\d+\])?:", line), f"field {dotted!r} not named in {line!r}"


def in_fresh_dir(parent: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new empty working folder per example (relative paths such as runs/ land there)."""
    work = Path(tempfile.mkdtemp(dir=parent))
    monkeypatch.chdir(work)
    return work


def with_value(dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of the base config with ``dotted`` set to ``value``."""
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


def write_config(work: Path, data: Any, name: str = "run.yaml") -> Path:
    path = work / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def train_refuses(
    path: Path, capsys, caplog, work: Path, *names: str, extra: tuple[str, ...] = ()
) -> tuple[str, dict[str, bytes | None]]:
    before = snapshot(work)
    result = run_cli(["train", str(path), "--no-progress", "--no-validate", *extra], capsys, caplog)
    line = assert_one_error_line(result, *names)
    assert snapshot(work) == before, "something was written"
    assert not (work / "runs").exists()
    return line, before


# --------------------------------------------------------------------------- strategies
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
NOT_INTEGRAL = st.floats().filter(lambda x: not (math.isfinite(x) and x.is_integer()))
LISTS = st.lists(st.integers(-5, 5), max_size=3)
DICTS = st.dictionaries(st.text("abc", min_size=1, max_size=3), st.integers(), min_size=1, max_size=2)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def wrong_type(annotation: Any) -> st.SearchStrategy[Any]:
    """Values that are not of ``annotation`` (and are not silently converted to it)."""
    origin = typing.get_origin(annotation)
    if annotation is int:
        return st.one_of(TEXT, NOT_INTEGRAL, st.booleans(), st.none(), LISTS, DICTS)
    if annotation is float:
        return st.one_of(TEXT, NON_FINITE, st.booleans(), st.none(), LISTS, DICTS)
    if annotation is str:
        return st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.none(), LISTS, DICTS)
    if annotation is bool:
        return st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.none(), LISTS)
    if origin is tuple:
        args = typing.get_args(annotation)
        element = args[0]
        bad_list = st.lists(wrong_type(element), min_size=1, max_size=3)
        if args[-1] is not Ellipsis:  # fixed length: also the wrong number of good values
            good = st.floats(0.0, 0.5)
            bad_list = st.one_of(bad_list, st.lists(good, max_size=5).filter(lambda v: len(v) != len(args)))
        return st.one_of(st.integers(), TEXT, st.booleans(), st.none(), DICTS, bad_list)
    if origin is dict:
        return st.one_of(st.integers(), TEXT, st.booleans(), st.none(), LISTS)
    raise AssertionError(f"no strategy for {annotation!r}")


def _ints_outside(lo: int | None, hi: int | None) -> st.SearchStrategy[int]:
    parts = []
    if lo is not None:
        parts.append(st.integers(min_value=-(10**30), max_value=lo - 1))
    if hi is not None:
        parts.append(st.integers(min_value=hi + 1, max_value=10**30))
    return st.one_of(*parts)


def _floats_outside(lo: float | None, hi: float | None, lo_ok: bool = True, hi_ok: bool = True):
    """Finite floats below ``lo`` (or equal when not ``lo_ok``) / above ``hi``, plus NaN and inf."""
    parts: list[st.SearchStrategy[float]] = [NON_FINITE]
    if lo is not None:
        parts.append(st.floats(min_value=-1e300, max_value=lo, exclude_max=lo_ok))
    if hi is not None:
        parts.append(st.floats(min_value=hi, max_value=1e300, exclude_min=hi_ok))
    return st.one_of(*parts)


def _text_not_in(*allowed: str) -> st.SearchStrategy[str]:
    return TEXT.filter(lambda s: s not in allowed)


OUT_OF_RANGE: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(st.sampled_from(["", ".", "..", "../x", "a/b", "/abs", ".hidden"]), TEXT.map(lambda s: f"x/{s}")),
    "kind": _text_not_in("calo", "events"),
    "data.validation_fraction": _floats_outside(0.0, 0.9, lo_ok=True, hi_ok=False),
    "data.chunk_size": _ints_outside(1, None),
    "data.max_showers": _ints_outside(0, None),
    "simulation.n_showers": _ints_outside(1, None),
    "simulation.particle": _text_not_in("photon", "electron", "positron"),
    "preprocessing.fraction_epsilon": _floats_outside(0.0, 1e-2, lo_ok=False, hi_ok=False),
    "preprocessing.response_bins": _ints_outside(1, 1000),
    "preprocessing.response_scale": _floats_outside(0.0, 100.0, lo_ok=False, hi_ok=True),
    "model.architecture": _text_not_in("mlp", "dcgan", "cylinder"),
    "model.latent_dim": _ints_outside(1, 4096),
    "model.generator_hidden": st.tuples(LISTS.map(lambda v: [abs(x) + 1 for x in v]), _ints_outside(1, None)).map(
        lambda t: [*t[0], t[1]]
    ),
    "model.critic_hidden": st.tuples(_ints_outside(1, None)).map(list),
    "model.dcgan_channels": _ints_outside(1, None),
    "model.cylinder_channels": _ints_outside(1, 1024),
    "training.loss": _text_not_in("wgan-gp", "minimax", "non-saturating"),
    "training.gp_lambda": _floats_outside(0.0, None, lo_ok=True),
    "training.mmd_weight": _floats_outside(0.0, None, lo_ok=True),
    "training.mmd_bandwidths": st.one_of(
        st.just([]), st.tuples(_floats_outside(0.0, 1e3, lo_ok=False, hi_ok=True)).map(lambda t: [1.0, *t])
    ),
    "training.mmd_condition_scale": _floats_outside(0.0, 1e3, lo_ok=True, hi_ok=True),
    "training.d_steps": _ints_outside(1, 100),
    "training.g_steps": _ints_outside(1, 100),
    "training.batch_size": _ints_outside(1, 1_000_000),
    "training.lr_generator": _floats_outside(0.0, 1.0, lo_ok=False, hi_ok=False),
    "training.lr_discriminator": _floats_outside(0.0, 1.0, lo_ok=False, hi_ok=False),
    "training.betas": st.tuples(st.floats(0.0, 0.99), _floats_outside(0.0, 1.0, lo_ok=True, hi_ok=False)).map(list),
    "training.max_steps": _ints_outside(1, None),
    "training.checkpoint_every": _ints_outside(1, None),
    "training.log_every": _ints_outside(1, None),
    "training.keep_checkpoints": _ints_outside(1, None),
    "training.ema_decay": _floats_outside(0.0, 1.0, lo_ok=True, hi_ok=False),
    "training.on_divergence": _text_not_in("stop", "rollback"),
    "training.max_rollbacks": _ints_outside(0, 100),
    "training.rollback_lr_factor": _floats_outside(0.0, 1.0, lo_ok=False, hi_ok=True),
    "training.critic_runaway": _floats_outside(0.0, None, lo_ok=False),
    "training.collapse_ratio": _floats_outside(0.0, 1.0, lo_ok=True, hi_ok=False),
    "training.collapse_check_after": _ints_outside(0, None),
    "training.device": TEXT.filter(lambda s: s not in ("auto", "cpu", "cuda") and not s.startswith("cuda:")),
    "training.threads": _ints_outside(0, None),
    "generation.batch_size": _ints_outside(1, 10_000_000),
    "generation.compression": _text_not_in("none", "gzip"),
    "validation.reference": _text_not_in("holdout", "simulate"),
    "validation.n_showers": _ints_outside(100, 10_000_000),
    "validation.seed": _ints_outside(0, 2**63 - 1),
}


def _unknown_key(level: str) -> st.SearchStrategy[Any]:
    keys = st.one_of(TEXT, st.integers(), st.booleans())
    return keys.filter(lambda k: k not in ALLOWED[level] and k != "<<" and k is not None)


# --------------------------------------------------------------------------- properties
@settings(max_examples=50, **SETTINGS)
@given(data=st.data())
def test_unknown_keys_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, data: st.DataObject) -> None:
    """An unknown key (random unicode text, an int, a bool) at the top level or in any section:
    one error line naming the file, the section and the key."""
    CASES["unknown keys"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    level = data.draw(st.sampled_from(["", *SECTIONS]), label="level")
    key = data.draw(_unknown_key(level), label="key")
    config = yaml.safe_load(yaml.safe_dump(BASE))
    (config.setdefault(level, {}) if level else config)[key] = data.draw(st.one_of(st.integers(), TEXT), label="value")
    path = write_config(work, config)
    line, _ = train_refuses(path, capsys, caplog, work, str(path), f"unknown key {key!r}")
    if level:
        assert f".{level}:" in line


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_wrong_types_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, data: st.DataObject) -> None:
    """A value of the wrong type for any field (strings for ints, scalars for lists, bools, nulls,
    nested mappings, NaN/inf): one error line naming the file and the dotted field."""
    CASES["wrong types"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    dotted = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
    value = data.draw(wrong_type(FIELDS[dotted]), label="value")
    path = write_config(work, with_value(dotted, value))
    line, _ = train_refuses(path, capsys, caplog, work, str(path))
    assert_names_field(line, dotted)


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_out_of_range_values_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, data: st.DataObject) -> None:
    """Out-of-range values (negative batch size, lr >= 1, NaN, inf, 1e30, unknown choices, unsafe run
    names): one error line naming the file and the dotted field."""
    CASES["out of range"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    dotted = data.draw(st.sampled_from(sorted(OUT_OF_RANGE)), label="field")
    value = data.draw(OUT_OF_RANGE[dotted], label="value")
    path = write_config(work, with_value(dotted, value))
    line, _ = train_refuses(path, capsys, caplog, work, str(path))
    assert_names_field(line, dotted)


SET_RAW = {  # YAML texts of --set values that no field of the annotated type accepts
    int: ["abc", "'12'", "[1, 2]", "{a: 1}", "true", "null", "", "1.5", ".nan", ".inf", "-.inf", "1e400"],
    float: ["abc", "'0.1'", "[0.1]", "{a: 1}", "false", "null", "", ".nan", ".inf", "-.inf"],
    str: ["5", "1.5", "[a]", "{a: 1}", "true", "null", ""],
    bool: ["5", "abc", "null", "[true]", "''", "1.0"],
    tuple: ["5", "abc", "{a: 1}", "null", "[a, b]", "true"],
    dict: ["5", "abc", "[1]", "null", "true"],
}


def _raw_for(annotation: Any) -> list[str]:
    return SET_RAW.get(annotation) or SET_RAW[typing.get_origin(annotation)]


@settings(max_examples=50, **SETTINGS)
@given(data=st.data())
def test_malformed_set_values_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, data: st.DataObject) -> None:
    """``--set FIELD=VALUE`` with a value of the wrong type: one error line naming the file and the field."""
    CASES["--set values"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    dotted = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
    raw = data.draw(st.sampled_from(_raw_for(FIELDS[dotted])), label="raw")
    path = write_config(work, BASE)
    line, _ = train_refuses(path, capsys, caplog, work, str(path), extra=("--set", f"{dotted}={raw}"))
    assert_names_field(line, dotted)


@settings(max_examples=40, **SETTINGS)
@given(override=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40))
def test_random_set_overrides_never_crash(tmp_path: Path, monkeypatch, capsys, caplog, override: str) -> None:
    """Any ``--set`` text that is not a valid override: exit 2, one error line, nothing written."""
    CASES["random --set"] += 1
    assume(not override.startswith("-"))  # would be parsed as an option
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = write_config(work, BASE)
    train_refuses(path, capsys, caplog, work, extra=("--set", override))


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("training.batch_size", "--set"),
        ("=5", "unknown key ''"),
        ("training.batch_size=[1", "--set"),
        ("training.batch_size={a", "--set"),
        ("training..batch_size=5", "unknown key ''"),
        ("training=5", "training"),
        ("name.x=1", "--set"),
        ("training.batch_size.x=1", "--set"),
        ("a.b.c=1", "unknown key 'a'"),
    ],
)
def test_malformed_set_syntax_is_refused(tmp_path: Path, monkeypatch, capsys, caplog, override: str, named: str):
    """Broken ``--set`` syntax (no '=', empty key, broken YAML, a scalar used as a section): one line."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = write_config(work, BASE)
    train_refuses(path, capsys, caplog, work, named, extra=("--set", override))


PAYLOADS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.check_call [["touch", "{marker}"]]',
    '!!python/object/new:os.system ["touch {marker}"]',
    "!!python/object/apply:builtins.exec [\"open('{marker}', 'w').close()\"]",
    "!!python/name:os.system",
    "!!python/module:os",
]
PLACES = ["document", "top-level value", "section value", "list element", "unknown key value", "mapping key"]


def _tagged_yaml(payload: str, place: str) -> str:
    base = yaml.safe_dump(BASE, sort_keys=False)
    if place == "document":
        return payload + "\n"
    if place == "top-level value":
        return base + f"seed: {payload}\n"
    if place == "section value":
        return base.replace("  batch_size: 256", f"  batch_size: {payload}")
    if place == "list element":
        return base + f"extra: [{payload}]\n"
    if place == "unknown key value":
        return base + f"surprise:\n  x: {payload}\n"
    return base + f"? {payload}\n: 1\n"


@settings(max_examples=36, **SETTINGS)
@given(payload=st.sampled_from(PAYLOADS), place=st.sampled_from(PLACES))
def test_python_tags_are_never_executed(tmp_path: Path, monkeypatch, capsys, caplog, payload: str, place: str) -> None:
    """YAML with ``!!python/...`` tags anywhere is refused by the safe loader as invalid YAML, the
    marker file the payload would create never appears, and nothing is written."""
    CASES["python tags"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    marker = work / "pwned"
    path = work / "evil.yaml"
    path.write_text(_tagged_yaml(payload.format(marker=marker), place), encoding="utf-8")
    train_refuses(path, capsys, caplog, work, str(path), "not valid YAML")
    assert not marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_python_tags_in_set_and_resumed_run_configs(tmp_path: Path, monkeypatch, capsys, caplog, payload: str):
    """The same payloads in a ``--set`` value and in a run folder's config.yaml read by ``--resume``:
    refused, never executed, nothing written."""
    CASES["explicit"] += 2
    work = in_fresh_dir(tmp_path, monkeypatch)
    marker = work / "pwned"
    path = write_config(work, BASE)
    tagged = payload.format(marker=marker)
    train_refuses(
        path, capsys, caplog, work, "--set", "not valid YAML", extra=("--set", f"training.batch_size={tagged}")
    )
    run = work / "runs" / "calo-20260101-000000"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(f"name: calo\nseed: {tagged}\n", encoding="utf-8")
    before = snapshot(work)
    result = run_cli(["train", str(path), "--resume", str(run), "--no-progress", "--no-validate"], capsys, caplog)
    assert_one_error_line(result, str(run / "config.yaml"), "not valid YAML")
    assert snapshot(work) == before
    assert not marker.exists()


@pytest.mark.parametrize(
    "text",
    ["[1, 2]", "just a string", "42", "{a: [", "\tname: x", "name: [unclosed", "? [a, b]\n: 1\n"],
)
def test_structurally_broken_yaml_is_refused(tmp_path: Path, monkeypatch, capsys, caplog, text: str) -> None:
    """Not a mapping at the top, broken YAML, tabs, unhashable keys: one line naming the file."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = work / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    train_refuses(path, capsys, caplog, work, str(path))


def test_non_utf8_config_is_refused(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    """A config file that is not UTF-8 text (random binary): one line naming the file."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = work / "binary.yaml"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes() + b"\xff\xfe")
    train_refuses(path, capsys, caplog, work, str(path))


# --------------------------------------------------------------------------- explicit cases: bugs
@pytest.mark.parametrize("level", ["", "training"])
def test_unknown_keys_of_mixed_types(tmp_path: Path, monkeypatch, capsys, caplog, level: str) -> None:
    """Two unknown keys, an int and a string, in one mapping: one line naming the file."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = work / "mixed.yaml"
    path.write_text("1: a\nb: c\n" if not level else f"{level}:\n  1: a\n  b: c\n", encoding="utf-8")
    train_refuses(path, capsys, caplog, work, str(path), "unknown key")


@pytest.mark.parametrize(("dotted", "value"), [("seed", -1), ("seed", 10**24), ("simulation.seed", -5)])
def test_seeds_out_of_range_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, dotted: str, value: int):
    """Seeds outside [0, 2^63): one line naming the file and the field."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = write_config(work, with_value(dotted, value))
    line, _ = train_refuses(path, capsys, caplog, work, str(path))
    assert_names_field(line, dotted)


@pytest.mark.parametrize(
    ("dotted", "value"),
    [("training.threads", 10**11), ("model.generator_hidden", [10**12]), ("model.critic_hidden", [10**12])],
)
def test_huge_resources_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, dotted: str, value: Any):
    """Absurd thread counts and layer widths are refused by the configuration checks."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = write_config(work, with_value(dotted, value))
    line, _ = train_refuses(path, capsys, caplog, work, str(path))
    assert_names_field(line, dotted)


@pytest.mark.parametrize(
    ("dotted", "value"),
    [("name", "a\x00b"), ("name", "x" * 300), ("training.runs_dir", "r\x00"), ("data.path", "\x00")],
)
def test_unusable_names_and_paths_are_refused(tmp_path: Path, monkeypatch, capsys, caplog, dotted: str, value: str):
    """A run name or path that cannot be a file name: one line naming the file and the field."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    path = write_config(work, with_value(dotted, value))
    line, _ = train_refuses(path, capsys, caplog, work, str(path))
    assert_names_field(line, dotted)


def test_yaml_alias_bombs_are_refused(tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    """A 'billion laughs' config (here only 10^4 leaves, so the unfixed code finishes) is refused."""
    CASES["explicit"] += 1
    work = in_fresh_dir(tmp_path, monkeypatch)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 4)]
    path = work / "bomb.yaml"
    path.write_text("simulation:\n  pythia:\n" + "".join(f"    {line}\n" for line in lines), encoding="utf-8")
    train_refuses(path, capsys, caplog, work, str(path), extra=("--dry-run",))
