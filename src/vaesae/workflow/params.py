"""The config slice each rule receives (:func:`rule_params`): only the keys it reads, so editing one key reruns only
the rules that read it; :func:`as_json` writes it for the rule's ``--params``."""

from __future__ import annotations

import json

from vaesae import methods as method_table
from vaesae.report import catalog as report_catalog
from vaesae.workflow.config import ConfigError


#: The ``eval`` keys behind the raw measurements (training's monitor and the evaluate rule). The thresholds and the
#: reading are reporting choices (:data:`REPORTING_KEYS`): only the summarize rule and the renderers get them.
MEASURE_KEYS = ("n_samples", "n_bins", "batch_size")
REPORTING_KEYS = ("dead_threshold", "specialization_threshold", "specialization_activations", "specialization_mi")


def _free_bits(cfg: dict) -> dict:
    p = cfg["pretrain"]
    return {"free_bits": p["free_bits"], "free_bits_mode": p["free_bits_mode"]}


def _sparsify_keys(cfg: dict, stage: str, method: str = "none") -> dict:
    """The ``sparsify`` keys a training stage reads for ``method``: the stage/method rule's keys class
    (``vaesae.methods.stage_keys``; stage 2: ``k_start``, stages 3 and extend: the method's keys)."""
    return {k: cfg["sparsify"][k] for k in method_table.stage_keys(stage, method).key_names()}


def revival_params(cfg: dict, method: str) -> dict:
    """The revival keys of a method's runs: ``revival`` with ``revival.per_method[method]`` over it."""
    r = dict(cfg["revival"])
    per_method = r.pop("per_method", None) or {}
    unknown = [m for m in per_method if m not in method_table.METHODS]
    if unknown:
        raise ConfigError(f"config key revival.per_method: unknown method(s) {', '.join(map(repr, unknown))}")
    return {**r, **(per_method.get(method) or {})}


def dataset_params(cfg: dict, dataset: str) -> dict:
    d = cfg["data"]
    params = {"source": d["source"], "subset": d["subset"], "subset_seed": d["subset_seed"]}
    if d["source"] == "path":
        params["path"] = d["path"][dataset]
    if d["source"] in ("path", "download"):
        params["download"] = (d.get("download") or {}).get(dataset) or {}
    if d["source"] == "download":
        params["raw_dir"] = d.get("raw_dir") or f"{cfg['resources_dir']}/raw"
    return params


_SAE_RULES = ("init_sae", "sparsify", "extend", "evaluate")  # where SAE weights are trained or loaded
#: ``model`` keys that only some rules read: {key: the rules that get it}. Every other ``model`` key (the
#: architecture) reaches every rule that builds the model, so editing one of these reruns only its rules. The SAE
#: tying and the SAE bias reading matter wherever SAE weights are trained or loaded (not stage 1: every reading of a
#: run starts from the same VAE); the SAE gradient only where the VAE trains with the SAEs.
MODEL_KEY_RULES = {"tied_sae": _SAE_RULES, "sae_bias": _SAE_RULES, "sae_gradient": ("sparsify", "extend")}


def model_params(cfg: dict, rule: str, method: str | None = None) -> dict:
    """The ``model`` keys of a rule's params: the architecture, plus the keys of :data:`MODEL_KEY_RULES` that name
    the rule. ``sae_gradient`` stays out of the runs of a method that detaches whatever it says (``detach_sae``)."""
    left_out = {key for key, rules in MODEL_KEY_RULES.items() if rule not in rules}
    if method is not None and method_table.get(method).detach_sae:
        left_out.add("sae_gradient")
    return {key: value for key, value in cfg["model"].items() if key not in left_out}


def _model_rule(cfg: dict, rule: str, method: str | None = None, **sections) -> dict:
    """The params of a rule that builds the model (training, evaluation): the device, the model, the optimiser, the
    data split and the measurement keys, then ``sections`` (which may replace any of these)."""
    return {"device": cfg["device"], "model": model_params(cfg, rule, method), "optim": cfg["optim"],
            "data": {k: cfg["data"][k] for k in ("val_fraction", "shapes3d_n_val")},
            "eval": {k: cfg["eval"][k] for k in MEASURE_KEYS}, **sections}  # fmt: skip


def rule_params(cfg: dict, rule: str, **wildcards) -> dict:
    """The config slice a rule passes to its entry point (``--params``): only the keys the rule reads."""
    method = wildcards.get("method")
    if rule == "dataset":
        return dataset_params(cfg, wildcards["dataset"])
    if rule == "pretrain_vae":
        return _model_rule(cfg, rule, pretrain=cfg["pretrain"])
    if rule == "init_sae":
        return _model_rule(cfg, rule, pretrain=_free_bits(cfg), init=cfg["init"], sparsify=_sparsify_keys(cfg, "init"),
                           loss=cfg["loss"])  # fmt: skip
    if rule in ("sparsify", "extend"):
        extend = {"extend": cfg["extend"]} if rule == "extend" else {}
        return _model_rule(cfg, rule, method, pretrain=_free_bits(cfg), sparsify=_sparsify_keys(cfg, rule, method),
                           revival=revival_params(cfg, method), loss=cfg["loss"], **extend)  # fmt: skip
    if rule == "evaluate":  # only the optimiser's tf32 switch
        return _model_rule(cfg, rule, optim={"tf32": cfg["optim"]["tf32"]})
    if rule == "global_metrics":
        g = cfg["global_metrics"]
        return {"dci_model": g["dci_model"], "train_fraction": g["train_fraction"]}
    if rule == "summarize":
        return {k: cfg["eval"][k] for k in REPORTING_KEYS}
    if rule == "sweep":
        return {**cfg["sweep"], "specialization_activations": cfg["eval"]["specialization_activations"],
                "specialization_mi": cfg["eval"]["specialization_mi"]}
    if rule == "tables":  # the claims keys the catalog's tables take (their rows' options)
        return {k: cfg["claims"][k] for table in report_catalog.TABLES.values() for k in table.options}
    if rule == "figures":
        e = cfg["eval"]
        return {"datasets": cfg["datasets"], "dead_threshold": e["dead_threshold"],
                "specialization_threshold": e["specialization_threshold"]}  # fmt: skip
    if rule == "claims":
        return cfg["claims"]
    if rule == "dataset_preview":
        return {}
    raise ValueError(f"no params for rule {rule!r}")


def as_json(obj) -> str:
    """A rule's ``--params`` value (sorted keys: the same config gives the same string, so no spurious reruns)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
