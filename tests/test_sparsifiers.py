"""Sparsifiers against their formulas, the typed stage config, and a method added through one keys dataclass, one
class and one row of the methods table only."""

from __future__ import annotations

import dataclasses
import json
import math

import h5py
import pandas as pd
import pytest
import torch

from vaesae import methods, sparsifiers
from vaesae.config.base import ConfigKeyError
from vaesae.config.keys import L1Keys, SparsifyKeys, StartKeys, TopKKeys
from vaesae.config.sections import EvalConfig, ModelConfig, StageConfig
from vaesae.methods import METHODS, Method, register
from vaesae.models.sae import SparseAutoencoder
from vaesae.sparsifiers import Sparsifier, Sparsity
from vaesae.sparsifiers.l1 import L1Anneal
from vaesae.sparsifiers.topk import TopK
from vaesae.train.checkpoint import load_checkpoint
from vaesae.train.loop import HISTORY_COLUMNS, StageRunner

from conftest import shared_stages, stage_params

TOPK_CFG = TopKKeys(epochs=4, k_start=16, k_end=2, warmup_fraction=0.1, hold_fraction=0.1, topk_l1_coeff=0.01)
L1_CFG = L1Keys(epochs=5, l1_start=0.001, l1_end=0.1)


# ------------------------------------------------------------------------------------------------ the two methods
def test_methods_table_names_these_classes():
    assert methods.sparsifier_class("topk") is TopK and methods.sparsifier_class("l1") is L1Anneal


def test_each_methods_row_and_its_sparsifier_name_the_same_keys_class():
    """The keys are declared once: the row's ``keys_class`` is the sparsifier's ``Keys``, and the row's ``keys`` (its
    rules' params) are that dataclass's fields."""
    for name, row in METHODS.items():
        assert methods.sparsifier_class(name).Keys is row.keys_class, name
        assert issubclass(row.keys_class, SparsifyKeys) and dataclasses.is_dataclass(row.keys_class), name
        assert row.keys == tuple(f.name for f in dataclasses.fields(row.keys_class)), name
    assert METHODS["topk"].keys == ("epochs", "k_start", "k_end", "warmup_fraction", "hold_fraction", "topk_l1_coeff")
    assert METHODS["l1"].keys == ("epochs", "l1_start", "l1_end")


def test_the_stage_method_rule_is_one_function():
    assert methods.stage_keys("pretrain") is None and methods.stage_keys("init") is StartKeys
    assert methods.stage_keys("sparsify", "l1") is L1Keys and methods.stage_keys("extend", "topk") is TopKKeys
    for stage, method, message in (("init", "topk", "shared by every method"), ("extend", "l1", "no extended training"),
                                   ("sparsify", "none", "needs a method"), ("finetune", "none", "unknown stage"),
                                   ("sparsify", "bogus", "unknown method")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            methods.stage_keys(stage, method)


def test_topk_keeps_exactly_the_k_largest_of_relu_pre():
    torch.manual_seed(0)
    pre = torch.randn(6, 40)
    got = TopK(TOPK_CFG, 256, 64).activate(pre, 5)
    for row, p in zip(got, pre):
        relu = [max(v, 0.0) for v in p.tolist()]
        keep = sorted(range(len(relu)), key=lambda i: -relu[i])[:5]  # the 5 largest, by a plain sort
        expect = [relu[i] if i in keep else 0.0 for i in range(len(relu))]
        assert row.tolist() == expect
        assert int(torch.count_nonzero(row)) == min(5, sum(v > 0 for v in relu))
    assert torch.equal(TopK(TOPK_CFG, 256, 64).activate(pre, None), torch.relu(pre))


def test_topk_schedule_and_final_follow_the_formulas():
    s = TopK(TOPK_CFG, 256, 64)
    W, A = 1, 2  # round(0.1 * 4) -> at least 1 warm-up and 1 hold epoch, 2 anneal epochs

    def k_at(t):
        if t < W:
            return 16
        if t >= W + A:
            return 2
        return round(2 + 14 * math.cos(math.pi * ((t - W) / A) / 2))

    for t in range(4):
        k = k_at(t)
        assert s.sparsity(t) == Sparsity(k, max(1, round(k * 64 / 256)), 0.01), t
    assert [s.sparsity(t).k for t in range(4)] == [16, 16, 12, 2]
    assert s.final() == Sparsity(2, 1, 0.01)  # k_end; k_lat = max(1, round(0.5)) = 1


def test_l1_is_relu_with_a_linear_lambda():
    torch.manual_seed(1)
    pre = torch.randn(4, 9)
    s = L1Anneal(L1_CFG, 256, 20)
    assert torch.equal(s.activate(pre, None), torch.relu(pre))
    assert torch.equal(s.activate(pre, 3), torch.relu(pre))  # no Top-k whatever k
    for t in range(5):
        assert s.sparsity(t) == Sparsity(None, None, pytest.approx(0.001 + (0.1 - 0.001) * t / 4)), t
    assert s.sparsity(0).l1 == 0.001 and s.final() == s.sparsity(4) and s.final().l1 == pytest.approx(0.1)


def test_sae_encode_is_pre_then_the_default_activation():
    torch.manual_seed(2)
    sae = SparseAutoencoder(6, 12)
    sae.b_boost.fill_(0.05)
    h = torch.randn(5, 6)
    pre = sae.pre(h)
    assert torch.equal(pre, torch.addmm(sae.b_e + sae.b_boost, h, sae.W_e.t()))
    assert torch.equal(sae.encode(h, 4), TopK(TOPK_CFG, 12, 4).activate(pre, 4))
    assert torch.equal(sae.encode(h, None), L1Anneal(L1_CFG, 12, 4).activate(pre, None))


def test_a_sparsifier_needs_its_keys_and_defaults_to_no_state():
    given = {k: v for k, v in TOPK_CFG.as_dict().items() if k != "k_end"}
    with pytest.raises(ConfigKeyError, match=r"missing config key sparsify\.k_end"):
        TopKKeys.from_params(given)
    with pytest.raises(ConfigKeyError, match=r"unknown config key sparsify\.l1_end \(section sparsify has epochs, "):
        TopKKeys.from_params(dict(TOPK_CFG.as_dict(), l1_end=0.1))
    with pytest.raises(TypeError, match="built from TopKKeys, got L1Keys"):
        sparsifiers.build("topk", L1_CFG, ModelConfig(10, (8, 8, 8), 4, 16, 256, 20))
    s = L1Anneal(L1_CFG, 256, 20)
    assert s.state_dict() == {} and s.aux_loss(None, None) == {}
    s.load_state_dict({})
    with pytest.raises(ValueError, match="keeps no state"):
        s.load_state_dict({"x": 1})


def test_for_checkpoint_remakes_the_sparsifier():
    model = ModelConfig(10, (8, 8, 8), 4, 16, 256, 20)
    s = sparsifiers.for_checkpoint({"stage": "sparsify", "method": "topk", "sparsify": TOPK_CFG.as_dict(),
                                    "sparsifier": {}, "k": 2, "k_latent": 1}, model)  # fmt: skip
    assert isinstance(s, TopK) and s.final() == Sparsity(2, 1, 0.01)
    with pytest.raises(ConfigKeyError, match=r"missing config key sparsify\.topk_l1_coeff"):
        sparsifiers.for_checkpoint({"stage": "sparsify", "method": "topk", "sparsifier": {}, "k": 2, "k_latent": 1,
                                    "sparsify": {k: v for k, v in TOPK_CFG.as_dict().items() if k != "topk_l1_coeff"}},
                                   model)  # fmt: skip
    init = sparsifiers.for_checkpoint({"stage": "init", "method": "none", "k": 16, "k_latent": 1}, model)
    assert init.sparsity(0) == (16, 1, None)
    pre = torch.randn(3, 30)
    assert torch.equal(init.activate(pre, 16), TopK(TOPK_CFG, 30, 3).activate(pre, 16))


# ------------------------------------------------------------------------------------------------ typed config
def test_stage_config_names_a_missing_or_unknown_key(tiny_cfg):
    params = stage_params(tiny_cfg, "sparsify", "topk")
    cfg = StageConfig.from_params("sparsify", params, "topk")
    assert cfg.sparsify == TopKKeys(**params["sparsify"]) and cfg.sparsify.k_end == tiny_cfg["sparsify"]["k_end"]
    assert cfg.extend is None and cfg.init is None and cfg.epochs == tiny_cfg["sparsify"]["epochs"]
    missing = dict(params, sparsify={k: v for k, v in params["sparsify"].items() if k != "k_end"})
    with pytest.raises(ConfigKeyError, match=r"missing config key sparsify\.k_end"):
        StageConfig.from_params("sparsify", missing, "topk")
    with pytest.raises(ConfigKeyError, match=r"unknown config key sparsify\.l1_end"):
        StageConfig.from_params("sparsify", dict(params, sparsify=dict(params["sparsify"], l1_end=0.1)), "topk")
    from vaesae.cli import train

    with pytest.raises(ConfigKeyError, match=r"sparsify\.k_end"):  # the entry point types --params before any work
        train.main(["sparsify", "--method", "topk", "--dataset", "unused.h5", "--seed", "1", "--params",
                    json.dumps(missing), "--init", "unused.pt", "--out-model", "m.pt", "--out-history", "h.csv"])
    with pytest.raises(TypeError, match="needs a StageConfig"):
        StageRunner(params, dataset_file="unused.h5", seed=1, out_model="m.pt", out_history="h.csv",
                    init_checkpoint="unused.pt", progress=False)  # fmt: skip
    with pytest.raises(ConfigKeyError, match=r"unknown config key revival\.bogus"):
        StageConfig.from_params("sparsify", dict(params, revival=dict(params["revival"], bogus=1)), "topk")
    with pytest.raises(ConfigKeyError, match=r"missing config key revival\.reinit_noise"):
        revival = {k: v for k, v in params["revival"].items() if k != "reinit_noise"}
        StageConfig.from_params("sparsify", dict(params, revival=revival), "topk")
    with pytest.raises(ConfigKeyError, match="missing config section revival"):
        StageConfig.from_params("sparsify", {k: v for k, v in params.items() if k != "revival"}, "topk")
    with pytest.raises(ConfigKeyError, match=r"missing config key pretrain\.beta_end"):
        pre = stage_params(tiny_cfg, "pretrain")
        StageConfig.from_params("pretrain", dict(pre, pretrain={k: v for k, v in pre["pretrain"].items()
                                                                if k != "beta_end"}))  # fmt: skip
    with pytest.raises(ValueError, match="no extended training"):
        StageConfig.from_params("extend", stage_params(tiny_cfg, "extend", "topk"), "l1")
    with pytest.raises(ValueError, match="must be 'none'"):
        StageConfig.from_params("init", stage_params(tiny_cfg, "init"), "topk")
    with pytest.raises(ConfigKeyError, match="stage pretrain reads none of its keys"):
        StageConfig.from_params("pretrain", dict(stage_params(tiny_cfg, "pretrain"), sparsify={"k_start": 4}))
    with pytest.raises(ConfigKeyError, match=r"config key loss\.sae_reduction must be 'sum' or 'mean', got 'max'"):
        StageConfig.from_params("sparsify", dict(params, loss={"sae_reduction": "max"}), "topk")
    with pytest.raises(ConfigKeyError, match=r"unknown config key optim\.lr_per_stage\.finetune"):
        StageConfig.from_params("sparsify", dict(params, optim=dict(params["optim"], lr_per_stage={"finetune": 1})),
                                "topk")  # fmt: skip
    evaluate = dict(stage_params(tiny_cfg, "init"), optim={"tf32": False})
    with pytest.raises(ConfigKeyError, match=r"unknown config section pretrain \(the evaluation reads device, model"):
        EvalConfig.from_params(evaluate)


def test_stage_config_is_frozen_and_holds_only_what_the_rule_passes(tiny_cfg):
    pre = StageConfig.from_params("pretrain", stage_params(tiny_cfg, "pretrain"))
    assert pre.revival is None and pre.sparsify is None and pre.loss is None
    assert not hasattr(pre.monitor, "dead_threshold")  # thresholds are reporting choices, never training inputs
    assert isinstance(pre.model.encoder_channels, tuple) and isinstance(pre.optim.betas, tuple)
    init = StageConfig.from_params("init", stage_params(tiny_cfg, "init"))
    assert init.sparsify == StartKeys(k_start=tiny_cfg["sparsify"]["k_start"]) and init.revival is None
    assert init.optim.lr_for("init") == tiny_cfg["optim"]["lr"]
    l1 = StageConfig.from_params("sparsify", stage_params(tiny_cfg, "sparsify", "l1"), "l1")
    assert type(l1.sparsify) is L1Keys and tuple(l1.sparsify.as_dict()) == METHODS["l1"].keys
    for obj, field in ((pre, "stage"), (pre.optim, "lr"), (pre.model, "latent_dim"), (l1.sparsify, "l1_end"),
                       (l1.revival, "reinit"), (pre.optim.lr_per_stage, "pretrain"), (l1.monitor, "n_bins")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, 1)


# ------------------------------------------------------------------------------------------------ a new method
@dataclasses.dataclass(frozen=True)
class ThresholdKeys(SparsifyKeys):
    """The toy method's sparsify keys."""

    epochs: int
    topk_l1_coeff: float


class Threshold(Sparsifier):
    """Toy method for the test: ã = pre · 1[pre > θ] (θ fixed, no Top-k), λ = topk_l1_coeff, an auxiliary term
    L_aux = c · mean_b Σ_i ReLU(θ − pre_conv,i) (pulls pre-activations up to θ), and two counters (training
    steps, epochs) kept in checkpoints."""

    Keys = ThresholdKeys
    theta = 0.05
    aux_coeff = 0.01

    def __init__(self, keys: ThresholdKeys, conv_neurons: int, latent_neurons: int):
        self.epochs, self.l1 = keys.epochs, keys.topk_l1_coeff
        self.steps = self.epochs_seen = 0

    def sparsity(self, epoch):
        return Sparsity(None, None, self.l1)

    def final(self):
        return Sparsity(None, None, self.l1)

    def activate(self, pre, k, **_):
        return pre * (pre > self.theta)

    def aux_loss(self, conv, latent):
        self.steps += 1
        return {"aux_pre": self.aux_coeff * torch.relu(self.theta - conv.pre).sum(1).mean()}

    def end_epoch(self):
        self.epochs_seen += 1

    def state_dict(self):
        return {"steps": self.steps, "epochs_seen": self.epochs_seen}

    def load_state_dict(self, state):
        self.steps, self.epochs_seen = int(state["steps"]), int(state["epochs_seen"])


NAME = "testthreshold"


@pytest.fixture(scope="module")
def threshold_method():
    method = register(Method(name=NAME, sparsifier=f"{__name__}:Threshold", keys_class=ThresholdKeys,
                             extended=True, label="Threshold"))  # fmt: skip
    yield method
    METHODS.pop(NAME)


@pytest.fixture(scope="module")
def start(tiny_cfg, dsprites_small, tmp_path_factory):
    """Stages 1-2 once (shared by every method), on the tiny dataset."""
    return shared_stages(tiny_cfg, dsprites_small, tmp_path_factory.mktemp("newmethod"), seed=3)


def runner(stage, tiny_cfg, data, out, init, **kw):
    config = StageConfig.from_params(stage, stage_params(tiny_cfg, stage, NAME), NAME)
    return StageRunner(config, dataset_file=str(data), seed=3, out_model=str(out / "model.pt"),
                       out_history=str(out / "history.csv"), init_checkpoint=str(init), progress=False,
                       **{"checkpoint_minutes": 0, **kw})  # fmt: skip


def test_a_registered_method_trains_extends_resumes_and_evaluates(threshold_method, start, tiny_cfg,
                                                                  dsprites_small):  # fmt: skip
    from vaesae.cli.evaluate import evaluate_checkpoint
    from vaesae.workflow import rule_params

    init = start / "init/model.pt"
    epochs = tiny_cfg["sparsify"]["epochs"]
    n_steps = 640 // tiny_cfg["optim"]["batch_size"]  # 800 images, 20% validation
    # one epoch by hand: the auxiliary term is in the minimised loss
    r = runner("sparsify", tiny_cfg, dsprites_small, start / "probe", init)
    assert isinstance(r.stage.sparsifier, Threshold)
    row = r.train_epoch(0)
    assert row["aux_pre"] > 0 and row["k"] is None and row["l1_lambda"] == tiny_cfg["sparsify"]["topk_l1_coeff"]
    without_aux = row["loss_vae"] + row["loss_sae_conv"] + row["loss_sae_latent"]
    assert row["loss"] - without_aux == pytest.approx(row["aux_pre"], abs=2e-3) and row["aux_pre"] > 0.02
    # the whole stage: history rows and the sparsifier state in model.pt
    full = start / NAME
    runner("sparsify", tiny_cfg, dsprites_small, full, init).run()
    hist = pd.read_csv(full / "history.csv")
    assert list(hist.columns) == HISTORY_COLUMNS and len(hist) == epochs
    assert (hist["phase"] == NAME).all() and (hist["method"] == NAME).all() and hist["k"].isna().all()
    assert hist[["loss", "mig", "mse", "boosted", "reinit"]].notna().all().all()
    ckpt = load_checkpoint(full / "model.pt")
    assert ckpt["method"] == NAME and ckpt["k"] == -1
    assert ckpt["sparsifier"] == {"steps": epochs * n_steps, "epochs_seen": epochs}
    assert ckpt["sparsify"] == {k: tiny_cfg["sparsify"][k] for k in threshold_method.keys}
    # killed after two epochs: the resume file holds the state, and the resumed run ends where the full one did
    killed = start / f"{NAME}_killed"
    runner("sparsify", tiny_cfg, dsprites_small, killed, init).run(stop_after=2)
    assert load_checkpoint(killed / "model.pt.resume")["sparsifier"] == {"steps": 2 * n_steps, "epochs_seen": 2}
    resumed = runner("sparsify", tiny_cfg, dsprites_small, killed, init)
    assert resumed.stage.sparsifier.state_dict() == {"steps": 0, "epochs_seen": 0}
    resumed.run()
    assert load_checkpoint(killed / "model.pt")["sparsifier"] == ckpt["sparsifier"]
    pd.testing.assert_frame_equal(hist.drop(columns="seconds"),
                                  pd.read_csv(killed / "history.csv").drop(columns="seconds"))  # fmt: skip
    # extended training continues the sparsifier state at final()
    ext = start / threshold_method.extended_phase
    runner("extend", tiny_cfg, dsprites_small, ext, full / "model.pt").run()
    ext_hist = pd.read_csv(ext / "history.csv")
    assert (ext_hist["phase"] == f"{NAME}_extended").all() and (ext_hist["stage"] == "extend").all()
    ext_ckpt = load_checkpoint(ext / "model.pt")
    total = epochs + tiny_cfg["extend"]["epochs"]
    assert ext_ckpt["sparsifier"] == {"steps": total * n_steps, "epochs_seen": total}
    assert ext_ckpt["revival"]["epochs_done"] == total
    # the evaluation remakes the method's sparsifier: every stored activation passed the threshold
    params = EvalConfig.from_params(dict(rule_params(tiny_cfg, "evaluate"), device="cpu"))
    evaluate_checkpoint(str(dsprites_small), 3, NAME, str(full / "model.pt"), params, str(start / "eval.h5"))
    with h5py.File(start / "eval.h5") as f:
        values = f["conv_sae/values"][()]
        assert f.attrs["method"] == NAME and f.attrs["phase"] == NAME and f.attrs["k"] == -1
    assert values.size and (values > Threshold.theta).all()
    with pytest.raises(ValueError, match="not a run of phase"):
        evaluate_checkpoint(str(dsprites_small), 3, "topk", str(full / "model.pt"), params, str(start / "x.h5"))


def test_cli_method_choices_come_from_the_table(threshold_method, capsys):
    from vaesae.cli import train

    args = ["--dataset", "d.h5", "--seed", "1", "--params", "{}", "--out-model", "m.pt", "--out-history", "h.csv"]
    with pytest.raises(SystemExit):
        train.main(["sparsify", "--method", "bogus", *args])
    assert NAME in capsys.readouterr().err  # listed among the choices
    with pytest.raises(SystemExit):
        train.main(["extend", "--method", "l1", *args])
    assert "no extended training" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["init", "--method", "topk", *args])
    assert "shared by every method" in capsys.readouterr().err
