"""The config: :func:`prepare_config`, run on it before any rule (strings typed, defaults filled, validation and the
cross-key checks, errors naming the key path: ``optim.lr``), and :func:`load_config`, the loader of tests and tools."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from vaesae import methods as method_table
from vaesae.workflow.paths import SRC_DIR


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message names the key."""


def _load_yaml(path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def _resolve(schema: dict, root: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        target = root
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


_TRUE, _FALSE, _NULL = {"true", "yes", "on"}, {"false", "no", "off"}, {"null", "none", "~", ""}


def _coerce_scalar(value: str, kinds: list[str]):
    text = value.strip()
    low = text.lower()
    if "null" in kinds and low in _NULL:
        return None
    if "boolean" in kinds and low in _TRUE | _FALSE:
        return low in _TRUE
    if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if "number" in kinds:
        try:
            return float(text)
        except ValueError:
            pass
    return value


def coerce(value, schema: dict, root: dict | None = None):
    """Convert strings to the types the schema asks for, recursively.

    Snakemake hands nested ``--config`` values over as strings (YAML BaseLoader: ``seeds=[42]`` gives ``['42']``,
    ``'optim={lr: 0.0001}'`` gives ``{'lr': '0.0001'}``). A string that does not parse as the wanted type is left
    alone, so validation then names it.
    """
    root = schema if root is None else root
    schema = _resolve(schema, root)
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if isinstance(value, str) and kinds and "string" not in kinds:
        return _coerce_scalar(value, kinds)
    if isinstance(value, list) and "items" in schema:
        return [coerce(v, schema["items"], root) for v in value]
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: coerce(v, props[k], root) if k in props else v for k, v in value.items()}
    return value


def _validator(schema: dict):
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, prop in properties.items():
                if "default" in prop:
                    instance.setdefault(name, copy.deepcopy(prop["default"]))
        yield from check_properties(validator, properties, instance, subschema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)


def _key_path(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    # an unexpected or a missing key is named by the message, not the path (which ends at the key's parent)
    key = re.findall(r"'([^']+)' (?:was unexpected|is a required property)", error.message)
    if error.validator in ("additionalProperties", "required") and key:
        path = ".".join(filter(None, [path, key[0]]))
    return path or "(top level)"


def check_config(cfg: dict) -> None:
    """The cross-key rules the schema cannot express; each error names its keys."""
    unknown = [m for m in cfg["methods"] if m not in method_table.METHODS]
    if unknown:
        raise ConfigError(f"config key methods: unknown method(s) {', '.join(map(repr, unknown))}; the methods table "
                          f"(src/vaesae/methods.py) has {', '.join(method_table.METHODS)}")  # fmt: skip
    from vaesae.workflow.params import revival_params  # here: params imports ConfigError from this module

    for method in cfg["methods"]:
        revival_params(cfg, method)  # an unknown method under revival.per_method fails here, naming the key
    sp = cfg["sparsify"]
    if sp["k_end"] > sp["k_start"]:
        raise ConfigError(f"config key sparsify.k_end ({sp['k_end']}) must not exceed sparsify.k_start "
                          f"({sp['k_start']})")  # fmt: skip
    if sp["k_start"] > cfg["model"]["conv_sae_neurons"]:
        raise ConfigError(f"config key sparsify.k_start ({sp['k_start']}) exceeds model.conv_sae_neurons "
                          f"({cfg['model']['conv_sae_neurons']})")  # fmt: skip
    if sp["warmup_fraction"] + sp["hold_fraction"] >= 1:
        raise ConfigError("config keys sparsify.warmup_fraction + sparsify.hold_fraction must be < 1")
    if len(set(cfg["seeds"])) != len(cfg["seeds"]):
        raise ConfigError(f"config key seeds has duplicates: {cfg['seeds']}")
    if cfg["data"]["source"] == "path":
        for ds in cfg["datasets"]:
            path = (cfg["data"].get("path") or {}).get(ds)
            if not path:
                raise ConfigError(f"config key data.path.{ds} must be set when data.source is 'path'")
            if not Path(path).exists():
                raise ConfigError(f"config key data.path.{ds}: file {path} does not exist")


def prepare_config(config: dict, schema_path) -> dict:
    """What the Snakefile runs on ``config`` before any rule, in place: coerce, fill the schema's defaults, validate
    (a :class:`ConfigError` names the key path of each error: ``config key optim.lr: 'fast' is not of type
    'number'``), then :func:`check_config`."""
    schema = _load_yaml(schema_path)
    coerced = coerce(config, schema)
    config.clear()
    config.update(coerced)
    errors = sorted(_validator(schema).iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"config key {_key_path(e)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    check_config(config)
    return config


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*files, overrides: dict | None = None, root: Path | None = None) -> dict:
    """config.yaml, then each ``--configfile``, then ``--config`` overrides, prepared as the workflow prepares it."""
    root = Path(root) if root is not None else SRC_DIR.parent
    cfg = _load_yaml(root / "config.yaml")
    for f in files:
        cfg = deep_merge(cfg, _load_yaml(f))
    cfg = deep_merge(cfg, overrides or {})
    return prepare_config(cfg, root / "workflow/schemas/config.schema.yaml")
