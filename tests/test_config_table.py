"""The configuration reference (docs/CONFIGURATION.md) cannot drift from config.yaml, in either direction: every key
its table names exists and every default it states equals config.yaml's value (a row that lists k keys lists k
defaults, in order), and every key of config.yaml has a row. (config.yaml and the schema hold the same keys.)"""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT

#: Rows whose default column is prose rather than one value per key, with the reason.
PROSE = {
    "data.download.{dataset}.url": "the URLs and checksums are long; config.yaml holds them",
    "sweep.specialization_thresholds": "two lists, summarised as their lengths (checked below)",
    "claims.paper.bound": "a mapping, summarised",
    "claims.paper.*": "the paper's reported values: see config.yaml",
    "claims.contradictions": "a list of sentences: see config.yaml",
}

TABLE = ROOT / "docs" / "CONFIGURATION.md"


def table_rows() -> list[tuple[list[str], str]]:
    text = TABLE.read_text()
    start = text.index("| key | default | meaning |")
    rows = []
    for line in text[start:].split("\n\n")[0].splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def split_top(cell: str) -> list[str]:
    """``a, [b, c], d`` -> ``["a", "[b, c]", "d"]`` (commas inside brackets and braces stay)."""
    out, depth, cur = [], 0, ""
    for ch in cell:
        depth += ch in "[{" and 1 or 0
        depth -= ch in "]}" and 1 or 0
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


def parse(value: str):
    value = re.sub(r"\s*\(.*\)$", "", value.replace("`", "").strip())  # "download (schema default: ...)"
    if re.fullmatch(r"\d+/\d+", value):
        num, den = value.split("/")
        return int(num) / int(den)
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):
        try:
            return float(parsed)  # YAML 1.1 reads 1e-5 as a string
        except ValueError:
            return parsed
    return parsed


def lookup(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def expand(keys: list[str]) -> list[str]:
    """``optim.lr`` stays; ``.md5`` after ``data.download.{dataset}.url`` becomes ``data.download.{dataset}.md5``."""
    out = []
    for key in keys:
        if key.startswith(".") and out:
            key = out[-1].rsplit(".", 1)[0] + key
        out.append(key)
    return out


def concrete(key: str, cfg: dict) -> list[str]:
    """A key pattern's concrete keys in config.yaml (``{dataset}``, ``{a,b}``); ``claims.*`` is a section."""
    if key.endswith(".*"):
        return [key[:-2]]
    m = re.search(r"\{([^}]+)\}", key)
    if not m:
        return [key]
    names = m.group(1).split(",") if "," in m.group(1) else cfg["datasets"]
    return [x for name in names for x in concrete(key[: m.start()] + name.strip() + key[m.end() :], cfg)]


def test_every_key_in_the_table_is_in_config_yaml_and_every_stated_default_is_its_value():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    checked = 0
    for keys, default in table_rows():
        keys = expand(keys)
        for key in keys:
            for name in concrete(key, cfg):
                lookup(cfg, name)  # KeyError names a key the table documents but config.yaml lacks
        if keys[0] in PROSE:
            continue
        values = split_top(default)
        assert len(values) == len(keys), f"docs/CONFIGURATION.md row {keys}: {len(keys)} keys, defaults {values}"
        for key, value in zip(keys, values):
            for name in concrete(key, cfg):
                stated, expected = parse(value), lookup(cfg, name)
                numeric = isinstance(stated, float) and isinstance(expected, (int, float))
                same = stated == pytest.approx(expected) if numeric else stated == expected
                assert same, f"docs/CONFIGURATION.md says {name} = {value}, config.yaml has {expected!r}"
                checked += 1
    assert checked > 60  # the table really was read


def test_the_summarised_rows_say_what_config_yaml_holds():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    row = next(d for k, d in table_rows() if k and k[0] == "sweep.specialization_thresholds")
    assert row == f"{len(cfg['sweep']['specialization_thresholds'])} and {len(cfg['sweep']['dead_thresholds'])} values"


def test_the_check_catches_a_drifted_default(monkeypatch):
    """The check fails when docs/CONFIGURATION.md and config.yaml disagree (here: a JumpReLU default edited in config.yaml)."""
    real = yaml.safe_load((ROOT / "config.yaml").read_text())
    real["sparsify"]["jumprelu_bandwidth"] = 0.001
    monkeypatch.setattr(yaml, "safe_load", lambda text, _real=yaml.safe_load: real if "sparsify:" in text
                        else _real(text))  # fmt: skip
    with pytest.raises(AssertionError, match="jumprelu_bandwidth"):
        test_every_key_in_the_table_is_in_config_yaml_and_every_stated_default_is_its_value()


def config_keys(node, prefix: str = "") -> list[str]:
    """Every leaf key of a config mapping, dotted (a list or an empty mapping is a leaf: ``revival.per_method``)."""
    if not isinstance(node, dict) or not node:
        return [prefix]
    return [k for name, value in node.items() for k in config_keys(value, f"{prefix}.{name}" if prefix else str(name))]


def documented(cfg: dict) -> dict[str, list[str]]:
    """Each table row's first key -> the concrete config.yaml keys (or summarised sections) the row covers."""
    return {expand(keys)[0]: [name for key in expand(keys) for name in concrete(key, cfg)] for keys, _ in table_rows()}


def test_every_key_of_config_yaml_has_a_row_in_the_table():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    covered = [name for names in documented(cfg).values() for name in names]
    missing = [k for k in config_keys(cfg) if not any(k == c or k.startswith(c + ".") for c in covered)]
    assert not missing, f"config.yaml keys without a row in docs/CONFIGURATION.md: {missing}"
    assert len(config_keys(cfg)) > 100  # the whole file was walked


def test_only_the_summarised_rows_document_a_whole_section():
    """A row naming a mapping would cover every key under it; only the PROSE rows may (they say why)."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    for first, names in documented(cfg).items():
        if first in PROSE:
            continue
        for name in names:
            value = lookup(cfg, name)
            assert not (isinstance(value, dict) and value), f"row {first} documents the whole section {name}"


def test_the_check_catches_an_undocumented_key(monkeypatch):
    """A key added to config.yaml without a row fails the check, naming the key."""
    real = yaml.safe_load((ROOT / "config.yaml").read_text())
    real["sparsify"]["new_knob"] = 1
    monkeypatch.setattr(yaml, "safe_load", lambda text, _real=yaml.safe_load: real if "sparsify:" in text
                        else _real(text))  # fmt: skip
    with pytest.raises(AssertionError, match="sparsify.new_knob"):
        test_every_key_of_config_yaml_has_a_row_in_the_table()
