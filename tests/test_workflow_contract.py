"""The workflow contract in the package (vaesae.workflow): config preparation, params, targets, source inputs,
resources. Unit tests; the CLI tests are in test_workflow.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from vaesae import methods, workflow as wf
from vaesae.workflow.closure import _excluded, _module_file
from vaesae.workflow.paths import SRC_DIR

from conftest import ROOT, load_config
from test_workflow import snakemake

SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


# ------------------------------------------------------------------------------------------------ config
def test_command_line_strings_are_coerced_to_the_schema_types():
    given = {"seeds": ["42", "7"], "optim": {"lr": "0.0001", "bf16": "true", "betas": ["0.8", "0.9"]},
             "data": {"subset": "null", "subset_seed": "3"}, "datasets": ["dsprites"], "device": "cpu"}  # fmt: skip
    out = wf.coerce(given, SCHEMA)
    assert out["seeds"] == [42, 7] and out["optim"]["lr"] == 1e-4 and out["optim"]["bf16"] is True
    assert out["optim"]["betas"] == [0.8, 0.9] and out["data"] == {"subset": None, "subset_seed": 3}
    assert out["datasets"] == ["dsprites"] and out["device"] == "cpu"  # strings stay strings
    assert wf.coerce({"seeds": ["x"]}, SCHEMA) == {"seeds": ["x"]}  # left for validation to name


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optim": {"lr": "fast"}}, "config key optim.lr: 'fast' is not of type 'number'"),
        ({"seeds": ["x"]}, "config key seeds.0:"),
        ({"eval": {"bogus": 1}}, "config key eval.bogus:"),
        ({"sparsify": {"k_start": 0}}, "config key sparsify.k_start:"),
        ({"methods": ["topk", "magnitude"]}, "config key methods: unknown method(s) 'magnitude'"),
        ({"sparsify": {"k_start": 50, "k_end": 500}}, "config key sparsify.k_end (500)"),
    ],
)
def test_bad_values_name_their_key_path(overrides, message):
    with pytest.raises(wf.ConfigError) as err:
        load_config("tiny", **overrides)
    assert message in str(err.value)


def test_schema_defaults_are_filled_and_the_paper_config_is_unchanged():
    cfg = wf.prepare_config({"datasets": ["dsprites"], "methods": ["topk"], "seeds": [1], "data": {}},
                            ROOT / "workflow/schemas/config.schema.yaml")  # fmt: skip
    paper = load_config(None)
    for section in ("model", "optim", "sparsify", "revival", "eval", "claims"):
        assert {k: v for k, v in cfg[section].items() if k not in ("paper", "contradictions")} == {
            k: v for k, v in paper[section].items() if k not in ("paper", "contradictions")}, section
    assert cfg["sparsify"]["k_start"] == 500 and cfg["claims"]["mig_relative_tolerance"] == 0.10


# ------------------------------------------------------------------------------------------------ params
def test_sparsify_params_hold_only_the_methods_keys():
    cfg = load_config(None)
    for name, method in methods.METHODS.items():
        params = wf.rule_params(cfg, "sparsify", method=name)
        assert set(params["sparsify"]) == set(method.keys)
        assert set(params) == {"device", "model", "optim", "data", "pretrain", "sparsify", "revival", "eval", "loss"}
    assert "l1_end" not in json.dumps(wf.rule_params(cfg, "sparsify", method="topk"))
    assert "k_end" not in json.dumps(wf.rule_params(cfg, "sparsify", method="l1"))


def test_the_sae_model_keys_reach_only_the_rules_that_read_them():
    """model.tied_sae and model.sae_bias reach the rules that train or load SAE weights (not stage 1: every reading
    starts from the same VAE), model.sae_gradient those where the VAE trains with the SAEs (not the stop-gradient
    control's, which detaches whatever it says); the architecture keys reach every rule that builds the model.
    Editing any of them changes no other rule's params."""
    cfg = load_config(None)
    sae = {"tied_sae", "sae_bias"}
    architecture = set(cfg["model"]) - sae - {"sae_gradient"}
    cases = {("pretrain_vae", None): set(), ("init_sae", None): sae, ("evaluate", None): sae,
             ("sparsify", "topk"): sae | {"sae_gradient"}, ("extend", "jumprelu"): sae | {"sae_gradient"},
             ("sparsify", "topk_detached"): sae, ("extend", "topk_detached"): sae}  # fmt: skip
    for (rule, method), extra in cases.items():
        wildcards = {"method": method} if method else {}
        assert set(wf.rule_params(cfg, rule, **wildcards)["model"]) == architecture | extra, (rule, method)
    for key, value in (("tied_sae", True), ("sae_gradient", "detach"), ("sae_bias", "centred")):
        edited = load_config(None, model={key: value})
        changed = {(rule, method) for (rule, method) in cases
                   if wf.rule_params(cfg, rule, **({"method": method} if method else {}))
                   != wf.rule_params(edited, rule, **({"method": method} if method else {}))}  # fmt: skip
        assert changed == {c for c, extra in cases.items() if key in extra}, key
    assert wf.rule_params(cfg, "sparsify", method="topk")["model"]["sae_gradient"] == "joint"
    assert wf.rule_params(cfg, "evaluate")["model"]["tied_sae"] is False


def test_the_decoder_norm_keys_reach_only_their_methods_runs():
    cfg = load_config(None)
    owners = {"batchtopk_unit_norm_decoder": {"batchtopk"}, "jumprelu_unit_norm_decoder": {"jumprelu"},
              "jumprelu_sparsity_warmup_fraction": {"jumprelu"}}  # fmt: skip
    for key, methods_with_it in owners.items():
        for rule in ("sparsify", "extend"):
            for name, method in methods.METHODS.items():
                if rule == "extend" and not method.extended:
                    continue
                assert (key in wf.rule_params(cfg, rule, method=name)["sparsify"]) == (name in methods_with_it)
    assert cfg["sparsify"]["batchtopk_unit_norm_decoder"] is False
    assert cfg["sparsify"]["jumprelu_sparsity_warmup_fraction"] == 0.0


def test_reporting_rules_get_only_their_thresholds():
    cfg = load_config(None)
    assert wf.rule_params(cfg, "tables") == {"p_value": 0.05, "mse_relative_tolerance": 0.10,
                                             "mig_relative_tolerance": 0.10, "mig_reference": "init"}  # fmt: skip
    assert wf.rule_params(cfg, "claims") is cfg["claims"]
    assert set(wf.rule_params(cfg, "global_metrics")) == {"dci_model", "train_fraction"}
    with pytest.raises(ValueError, match="no params for rule 'nope'"):
        wf.rule_params(cfg, "nope")


def test_the_rules_pass_exactly_the_builders_params():
    """`snakemake -p` prints the command of each job: its --params is the builder's JSON, byte for byte."""
    proc = snakemake("-n", "-p", "all", "--config", "datasets=[dsprites]", "seeds=[42]")
    out = proc.stdout + proc.stderr
    cfg = load_config(None, datasets=["dsprites"], seeds=[42])
    for rule, wildcards, marker in [("sparsify", {"method": "l1"}, "sparsify --method l1"),
                                    ("extend", {"method": "topk"}, "extend --method topk"),
                                    ("pretrain_vae", {}, "cli.train pretrain")]:  # fmt: skip
        line = next(ln for ln in out.splitlines() if marker in ln)
        assert "--params " + "'" + wf.as_json(wf.rule_params(cfg, rule, **wildcards)) + "'" in line, line


def test_thresholds_and_the_reading_reach_no_training_or_evaluation_rule():
    """eval.dead_threshold, eval.specialization_threshold, eval.specialization_activations and the sweep lists are
    reporting choices: only summarize, sweep and the renderers get them."""
    cfg = load_config(None)
    reporting = set(wf.REPORTING_KEYS) | {"dead_thresholds", "specialization_thresholds"}
    for rule, wildcards in [("pretrain_vae", {}), ("init_sae", {}), ("sparsify", {"method": "topk"}),
                            ("sparsify", {"method": "l1"}), ("extend", {"method": "topk"}), ("evaluate", {})]:  # fmt: skip
        params = wf.rule_params(cfg, rule, **wildcards)
        assert set(params["eval"]) == set(wf.MEASURE_KEYS), rule
        assert not reporting & set(json.loads(wf.as_json(params)).get("eval", {})), rule
    assert wf.rule_params(cfg, "summarize") == {"dead_threshold": 0.001, "specialization_threshold": 0.5,
                                                "specialization_activations": "topk",
                                                "specialization_mi": "normalized"}  # fmt: skip
    assert wf.rule_params(cfg, "sweep")["specialization_activations"] == "topk"
    assert wf.rule_params(cfg, "sweep")["specialization_mi"] == "normalized"
    assert wf.rule_params(cfg, "sparsify", method="topk")["revival"]["inactive_rate"] == 0.001


# ------------------------------------------------------------------------------------------------ targets
def test_phases_and_targets_come_from_the_methods_table():
    cfg = load_config(None)
    assert wf.phases(cfg) == ["init", "topk", "topk_extended", "l1"]
    # tables, figures, claims (md, csv) + gates.csv + the two sweeps + the two summaries, previews, evals
    assert len(wf.eval_files(cfg)) == 2 * 3 * 4 and len(wf.all_outputs(cfg)) == 16 + 24 + 2 + 1 + 2 + 2 + 4 + 24
    only_l1 = dict(cfg, methods=["l1"])
    assert wf.phases(only_l1) == ["init", "l1"] and wf.extended_methods(only_l1) == []
    assert not [f for f in wf.benchmark_files(only_l1) if "topk" in f]
    constraints = wf.wildcard_constraints(cfg)
    assert re.fullmatch(constraints["phase"], "topk_extended") and not re.fullmatch(constraints["method"], "init")


# ------------------------------------------------------------------------------------------------ source inputs
ENTRY_RULES = sorted(wf.RULES)


@pytest.mark.parametrize("rule", ENTRY_RULES)
def test_the_ast_closure_contains_every_module_the_entry_point_imports(rule):
    """Run the entry point's imports for real: every vaesae module loaded is in the ast closure."""
    entry = wf.RULES[rule].entry
    code = f"import sys, {entry}; print('\\n'.join(m for m in sys.modules if m.split('.')[0] == 'vaesae'))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                cwd=ROOT).stdout.split())  # fmt: skip
    assert loaded and loaded <= set(wf.import_closure(entry)), loaded - set(wf.import_closure(entry))


def test_global_metrics_lists_every_module_it_imports():
    """The drift of the hand-written lists: metrics/extra.py imports metrics/mutual_info.py, and
    metrics/__init__.py pulls in every metric; the rule lists them all."""
    files = wf.rule_code("global_metrics", relative_to=ROOT)
    for needed in ("mutual_info.py", "extra.py", "__init__.py", "mig.py", "dead.py", "dead_floor.py",
                   "specialization.py"):
        assert f"src/vaesae/metrics/{needed}" in files, needed
    assert len(wf.rule_modules("global_metrics")) == 21  # + the reader (evalfile) and train/{__init__,history}.py


def _declared_code(output: str) -> dict[str, set[str]]:
    """Per rule, the union of the src/ files its jobs list as inputs in a dry run."""
    declared: dict[str, set[str]] = {}
    for block in re.split(r"^(?:local)?rule ", output, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        inputs = re.search(r"^\s+input: (.*)$", block, flags=re.M)
        files = {f for f in (inputs.group(1).split(", ") if inputs else []) if f.startswith("src/")}
        declared.setdefault(rule, set()).update(files)
    return declared


def test_every_rule_lists_its_import_closure_minus_the_written_exceptions():
    proc = snakemake("-n", "all", "--cores", "1", "--resources", "gpu=1")
    declared = _declared_code(proc.stdout + proc.stderr)
    cfg = load_config(None)
    runs = {"sparsify": cfg["methods"], "evaluate": cfg["methods"], "extend": wf.extended_methods(cfg)}
    for rule, spec in wf.RULES.items():
        closure = wf.import_closure(spec.entry, *[methods.get(m).module for m in runs.get(rule, [])])
        expected = {str(_module_file(m, SRC_DIR).relative_to(ROOT)) for m in closure if not _excluded(m, rule)}
        assert declared[rule] == expected, (rule, declared[rule] ^ expected)
    # the written exceptions: training leaves out only the monitor behind history.csv, with a reason
    assert declared["sparsify"] >= {"src/vaesae/models/sae.py", "src/vaesae/methods.py",
                                    "src/vaesae/sparsifiers/topk.py", "src/vaesae/sparsifiers/l1.py"}  # fmt: skip
    assert not [f for f in declared["sparsify"] if "/metrics/" in f or f.endswith("evaluation.py")]
    assert all(reason for prefixes in wf.NARROWER.values() for reason in prefixes.values())
    assert "src/vaesae/report/figures.py" not in declared["tables"] | declared["claims"]
    assert "src/vaesae/report/tables.py" not in declared["figures"]


def test_each_method_run_lists_only_its_own_sparsifier():
    topk = wf.rule_code("sparsify", method="topk", relative_to=ROOT)
    l1 = wf.rule_code("sparsify", method="l1", relative_to=ROOT)
    assert "src/vaesae/sparsifiers/topk.py" in topk and "src/vaesae/sparsifiers/l1.py" not in topk
    assert "src/vaesae/sparsifiers/l1.py" in l1


# ------------------------------------------------------------------------------------------------ resources
def test_resources_follow_the_dataset_and_the_epochs():
    paper, quick = load_config(None), load_config("quick")
    big = wf.rule_resources(paper, "sparsify", "shapes3d")
    small = wf.rule_resources(quick, "sparsify", "shapes3d")
    assert big["mem_mb"] > 12_000 and small["mem_mb"] < 3_000  # 480,000 RGB images vs a 3,500-image subset
    assert wf.rule_resources(paper, "extend", "dsprites")["runtime"] > wf.rule_resources(paper, "sparsify",
                                                                                          "dsprites")["runtime"]
    assert wf.rule_resources(paper, "sparsify", "shapes3d", attempt=2) == {k: 2 * v for k, v in big.items()}
    assert wf.rule_resources(paper, "tables") == {"mem_mb": 2000, "runtime": 15}


# ------------------------------------------------------------------------------------------------ the rule table
def test_the_rule_table_is_the_workflows_rules_and_each_rule_names_only_itself():
    """wf.RULES lists every rule with a job; each rule block of workflow/rules/*.smk passes its own name, and no
    other, to the helpers that read the table (code, params, mem_mb, runtime); rule_params knows every rule."""
    blocks = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule )", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0].removeprefix("rule ").strip()
            blocks[name] = set(re.findall(r'\b(?:code|params|mem_mb|runtime)\("([a-z_]+)"\)', block))
    blocks.pop("all", None)
    assert set(blocks) == set(wf.RULES) and blocks["pretrain_vae"] == {"pretrain_vae"}
    for name, named in blocks.items():
        assert named <= {name}, (name, named)
    cfg = load_config(None)
    wildcards = {"dataset": "dsprites", "seed": "42", "method": "topk", "phase": "topk"}
    for name in wf.RULES:
        assert isinstance(wf.rule_params(cfg, name, **wildcards), dict), name
    assert wf.TRAINING_RULES == ("pretrain_vae", "init_sae", "sparsify", "extend")
    assert [wf.RULES[r].stage for r in wf.TRAINING_RULES] == list(methods.STAGES)
