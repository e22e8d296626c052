"""Training stages on a tiny procedural dSprites: outputs, determinism, resumption, failures."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vaesae.config.sections import EvalConfig, StageConfig
from vaesae.device import DeviceError, resolve_device
from vaesae.train.checkpoint import CheckpointError, load_checkpoint
from vaesae.train.history import read_history
from vaesae.train.loop import HISTORY_COLUMNS, NonFiniteLossError, StageRunner

from conftest import stage_params


def run(stage, data, tmp, params, init=None, method="none", tag="", stop_after=None, checkpoint_minutes=0, **kw):
    out = tmp / f"{stage}{tag}"
    runner = StageRunner(
        StageConfig.from_params(stage, params, method),
        dataset_file=str(data),
        seed=7,
        out_model=str(out / "model.pt"),
        out_history=str(out / "history.csv"),
        init_checkpoint=None if init is None else str(init),
        checkpoint_minutes=checkpoint_minutes,
        progress=False,
        **kw,
    )
    runner.run(stop_after=stop_after)
    return out


@pytest.fixture(scope="module")
def chain(tiny_cfg, dsprites_small, tmp_path_factory):
    """pretrain -> init -> sparsify topk, each with exactly the params its rule passes; ``params``: sparsify topk's."""
    tmp = tmp_path_factory.mktemp("chain")
    params = stage_params(tiny_cfg, "sparsify", "topk")
    vae = run("pretrain", dsprites_small, tmp, stage_params(tiny_cfg, "pretrain"))
    init = run("init", dsprites_small, tmp, stage_params(tiny_cfg, "init"), init=vae / "model.pt")
    topk = run("sparsify", dsprites_small, tmp, params, init=init / "model.pt", method="topk")
    return {"tmp": tmp, "cfg": tiny_cfg, "params": params, "vae": vae, "init": init, "topk": topk}


def test_stage_outputs_and_history(chain, tiny_cfg):
    hist = pd.read_csv(chain["topk"] / "history.csv")
    assert list(hist.columns) == HISTORY_COLUMNS
    sp = tiny_cfg["sparsify"]
    assert len(hist) == sp["epochs"]
    assert hist["k"].iloc[0] == sp["k_start"] and hist["k"].iloc[-1] == sp["k_end"]
    assert hist[["loss", "mig", "mse", "boosted", "reinit"]].notna().all().all()
    assert not {"dead_pct", "specialized"} & set(hist.columns)  # no threshold in training outputs
    assert (hist["mse"] > 0).all() and (hist["mse"] < 1).all()
    raw = read_history(chain["topk"] / "history.h5")
    m, n_factors = tiny_cfg["model"]["conv_sae_neurons"], 5
    assert raw["epoch"].tolist() == list(range(sp["epochs"]))
    assert raw["conv_sae/activation_rate"].shape == (sp["epochs"], m)
    assert raw["conv_sae/mi"].shape == raw["conv_sae/mi_pre"].shape == (sp["epochs"], m, n_factors)
    assert np.asarray(raw["attrs"]["factor_entropy"]).shape == (n_factors,)  # raw MI in nats = nMI · H downstream
    assert (np.asarray(raw["attrs"]["factor_entropy"]) > 0).all()
    assert raw["revival/reinit"].shape == raw["revival/boost"].shape == (sp["epochs"], m)
    assert np.allclose(raw["scalars/mig"], hist["mig"]) and np.allclose(raw["scalars/loss"], hist["loss"])
    # the pre-Top-k reading fires at least as often as ã, and ã's mean active count is at most k
    assert (raw["conv_sae/activation_rate_pre"] >= raw["conv_sae/activation_rate"] - 1e-7).all()
    assert (raw["conv_sae/active"] <= hist["k"].to_numpy() + 1e-6).all()
    assert raw["attrs"]["phase"] == "topk" and raw["attrs"]["data_source"] == "procedural"
    assert not (chain["topk"] / "model.pt.history-parts").exists()
    ckpt = load_checkpoint(chain["topk"] / "model.pt")
    assert ckpt["k"] == sp["k_end"] and "optimizer" in ckpt and "revival" in ckpt
    assert not (chain["topk"] / "model.pt.resume").exists()  # resume file removed on success
    init_hist = pd.read_csv(chain["init"] / "history.csv")
    assert (init_hist["k"] == sp["k_start"]).all()


def test_history_is_byte_identical_across_runs(chain, dsprites_small):
    again = run("sparsify", dsprites_small, chain["tmp"], chain["params"], init=chain["init"] / "model.pt",
                method="topk", tag="_again")  # fmt: skip
    a = (chain["topk"] / "history.csv").read_text().splitlines()
    b = (again / "history.csv").read_text().splitlines()
    strip = lambda lines: [",".join(line.split(",")[:-1]) for line in lines]  # noqa: E731 (drop wall time)
    assert strip(a) == strip(b)


def test_resume_checkpoints_follow_the_clock_and_resume_to_the_same_numbers(chain, dsprites_small):
    """checkpoint_minutes=10 with epochs ending 7, 14, 21 and 28 minutes into the job: one resume file, after the
    epoch ending at 14 (the first >= 10 minutes after the start); the one at 28 is the last epoch, where model.pt
    follows. A job killed after epoch 3 resumes from epoch 2, recomputes epoch 3, and ends bit for bit where the
    uninterrupted run did."""
    assert chain["cfg"]["sparsify"]["epochs"] == 4
    args = ("sparsify", dsprites_small, chain["tmp"], chain["params"])
    minutes = iter([0, 7, 14, 21, 28])  # the job's start, then the end of each epoch
    clock = lambda: 60.0 * next(minutes)  # noqa: E731
    out = run(*args, init=chain["init"] / "model.pt", method="topk", tag="_clock", stop_after=3,
              checkpoint_minutes=10, clock=clock)  # fmt: skip
    state = load_checkpoint(out / "model.pt.resume")
    assert state["epoch"] == 2 and len(state["history"]) == 2  # epoch 3 (index 2) ended 7 minutes later: none
    run(*args, init=chain["init"] / "model.pt", method="topk", tag="_clock", checkpoint_minutes=10)
    full = pd.read_csv(chain["topk"] / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(full, pd.read_csv(out / "history.csv").drop(columns="seconds"))
    a, b = read_history(chain["topk"] / "history.h5"), read_history(out / "history.h5")
    for key in ("conv_sae/mi", "conv_sae/activation_rate", "revival/boost"):
        assert np.array_equal(a[key], b[key]), key
    a_sd, b_sd = load_checkpoint(chain["topk"] / "model.pt")["model"], load_checkpoint(out / "model.pt")["model"]
    assert all(torch.equal(a_sd[k], b_sd[k]) for k in a_sd)
    assert not (out / "model.pt.resume").exists()

    config = StageConfig.from_params(args[0], chain["params"], "topk")
    runner = StageRunner(config, dataset_file=str(dsprites_small), seed=7, out_model=str(chain["tmp"] / "x/model.pt"),
                         out_history=str(chain["tmp"] / "x/h.csv"), init_checkpoint=str(chain["init"] / "model.pt"),
                         checkpoint_minutes=10, progress=False)  # fmt: skip
    runner._last_checkpoint = 0.0
    assert [runner.checkpoint_due(e, 60.0 * m) for e, m in enumerate((9.9, 10, 30, 40))] == [False, True, True, False]
    runner.checkpoint_minutes = 0
    assert [runner.checkpoint_due(e, 0.0) for e in range(4)] == [True, True, True, False]  # never after the last
    with pytest.raises(ValueError, match="checkpoint_minutes must be a number of minutes >= 0, got -1"):
        StageRunner(config, dataset_file=str(dsprites_small), seed=7, out_model=str(chain["tmp"] / "y/model.pt"),
                    out_history=str(chain["tmp"] / "y/h.csv"), init_checkpoint=str(chain["init"] / "model.pt"),
                    checkpoint_minutes=-1)  # fmt: skip


def test_killed_job_resumes_to_the_same_numbers(chain, dsprites_small):
    out = run("sparsify", dsprites_small, chain["tmp"], chain["params"], init=chain["init"] / "model.pt",
              method="topk", tag="_killed", stop_after=2)  # fmt: skip
    assert (out / "model.pt.resume").exists() and not (out / "model.pt").exists()
    run("sparsify", dsprites_small, chain["tmp"], chain["params"], init=chain["init"] / "model.pt",
        method="topk", tag="_killed")  # fmt: skip
    full = pd.read_csv(chain["topk"] / "history.csv").drop(columns="seconds")
    resumed = pd.read_csv(out / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(full, resumed)
    a_raw, b_raw = read_history(chain["topk"] / "history.h5"), read_history(out / "history.h5")
    for key in ("conv_sae/mi", "conv_sae/activation_rate", "revival/boost", "revival/reinit"):
        assert np.array_equal(a_raw[key], b_raw[key]), key
    a, b = load_checkpoint(chain["topk"] / "model.pt"), load_checkpoint(out / "model.pt")
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_l1_and_extend_stages(chain, dsprites_small, tiny_cfg):
    l1 = run("sparsify", dsprites_small, chain["tmp"], stage_params(tiny_cfg, "sparsify", "l1"),  # beside topk's
             init=chain["init"] / "model.pt", method="l1", tag="_l1")  # fmt: skip
    hist = pd.read_csv(l1 / "history.csv")
    assert hist["k"].isna().all()
    assert hist["l1_lambda"].iloc[0] == pytest.approx(tiny_cfg["sparsify"]["l1_start"])
    assert hist["l1_lambda"].iloc[-1] == pytest.approx(tiny_cfg["sparsify"]["l1_end"])
    ext = run("extend", dsprites_small, chain["tmp"], stage_params(tiny_cfg, "extend", "topk"),
              init=chain["topk"] / "model.pt", method="topk")  # fmt: skip
    ext_hist = pd.read_csv(ext / "history.csv")
    assert (ext_hist["k"] == tiny_cfg["sparsify"]["k_end"]).all()
    assert len(ext_hist) == tiny_cfg["extend"]["epochs"]
    ckpt = load_checkpoint(ext / "model.pt")
    assert ckpt["revival"]["epochs_done"] == tiny_cfg["sparsify"]["epochs"] + tiny_cfg["extend"]["epochs"]


def test_nan_loss_stops_with_stage_epoch_step_and_writes_nothing(chain, dsprites_small):
    params = dict(chain["params"], optim=dict(chain["params"]["optim"], lr=float("inf")))
    out = chain["tmp"] / "nan"
    with pytest.raises(NonFiniteLossError, match=r"stage sparsify .* epoch 0, step \d+"):
        run("sparsify", dsprites_small, chain["tmp"], params, init=chain["init"] / "model.pt", method="topk",
            tag="_nan")  # fmt: skip
    assert not (chain["tmp"] / "sparsify_nan" / "model.pt").exists()
    assert not (chain["tmp"] / "sparsify_nan" / "history.csv").exists()
    assert not (chain["tmp"] / "sparsify_nan" / "history.h5").exists()
    assert not out.exists()


def test_cuda_request_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceError, match="device='cuda'.*sees none"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_deterministic_kernels_sets_the_flag_without_importing_inductor():
    """A fresh interpreter: the flag and warn-only are on, and torch._inductor (2 s per job) was not imported."""
    code = (
        "import sys, torch; from vaesae.device import deterministic_kernels; "
        "assert not torch.are_deterministic_algorithms_enabled(); deterministic_kernels(); "
        "print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(), "
        "'torch._inductor' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False"]


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_checkpoint(bad)


def test_checkpoint_on_a_full_disk_is_an_enospc_error_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    from collections import namedtuple

    import vaesae.train.checkpoint as ckpt

    def torch_save_on_full_disk(obj, f):  # what torch raises when a write hits ENOSPC
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(ckpt.torch, "save", torch_save_on_full_disk)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: usage(1 << 30, (1 << 30) - 4096, 4096))
    with pytest.raises(OSError, match=r"No space left on device: writing checkpoint .*model.pt.* 4096 bytes free") as e:
        ckpt.save_checkpoint(tmp_path / "model.pt", {"x": torch.zeros(3)})
    assert e.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []  # neither the checkpoint nor its temporary
    # with space left, torch's own error passes through unchanged
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: usage(1 << 30, 0, 1 << 30))
    with pytest.raises(RuntimeError, match="enforce fail"):
        ckpt.save_checkpoint(tmp_path / "model.pt", {"x": torch.zeros(3)})
    assert list(tmp_path.iterdir()) == []


def runner_for(stage, chain, data, method="topk", **overrides):
    method = method if stage in ("sparsify", "extend") else "none"  # stages 1-2 are shared by every method
    params = copy.deepcopy(stage_params(chain["cfg"], stage, None if method == "none" else method))
    for section, values in overrides.items():
        params[section] = dict(params[section], **values)
    init = {"init": chain["vae"], "sparsify": chain["init"], "extend": chain["topk"]}[stage] / "model.pt"
    out = chain["tmp"] / f"probe_{stage}"
    return StageRunner(StageConfig.from_params(stage, params, method), dataset_file=str(data), seed=7,
                       out_model=str(out / "model.pt"), out_history=str(out / "h.csv"), init_checkpoint=str(init),
                       progress=False)  # fmt: skip


def test_lr_per_stage_overrides_the_global_lr(chain, dsprites_small):
    r = runner_for("sparsify", chain, dsprites_small, optim={"lr_per_stage": {"sparsify": 3e-4}})
    assert all(g["lr"] == 3e-4 for g in r.optimizer.param_groups)
    r = runner_for("init", chain, dsprites_small, optim={"lr_per_stage": {"sparsify": 3e-4}})
    assert all(g["lr"] == chain["params"]["optim"]["lr"] for g in r.optimizer.param_groups)


def test_bias_boost_switch(chain, dsprites_small):
    on = runner_for("sparsify", chain, dsprites_small, revival={"bias_boost": True, "bias_base": 0.05})
    on.train_epoch(0)  # epoch t = 1, n_i = 0 for every neuron: b_i = b_base
    assert torch.allclose(on.model.conv_sae.b_boost, torch.full_like(on.model.conv_sae.b_boost, 0.05))
    off = runner_for("sparsify", chain, dsprites_small, revival={"bias_boost": False})
    off.train_epoch(0)
    assert torch.count_nonzero(off.model.conv_sae.b_boost) == 0


def test_reinit_switch_and_topk_l1_coeff(chain, dsprites_small):
    kw = {"reinit_dead_fraction": 0.0, "reinit_patience": 0}  # fire as soon as anything is dead
    on = runner_for("sparsify", chain, dsprites_small, revival=dict(kw, reinit=True), sparsify={"topk_l1_coeff": 0.2})
    row = on.train_epoch(0)
    assert row["reinit"] > 0 and row["l1_lambda"] == 0.2
    off = runner_for("sparsify", chain, dsprites_small, revival=dict(kw, reinit=False))
    assert off.train_epoch(0)["reinit"] == 0


def test_a_neuron_reinitialised_at_a_boundary_is_not_counted_alive_before_it(chain, dsprites_small, tmp_path):
    """Revival acts between epochs: each history row, the resume checkpoint and model.pt are the network as trained;
    the selection of the last epoch waits in the checkpoint and extended training applies it first."""
    from vaesae.cli.evaluate import evaluate_checkpoint

    revival = {"reinit_dead_fraction": 0.0, "reinit_patience": 0, "reinit": True, "bias_boost": False,
               "inactive_rate": 0.2}  # fmt: skip  # most neurons are inactive under 0.2: the rule fires every epoch
    params = dict(chain["params"], revival=dict(chain["params"]["revival"], **revival))
    out = run("sparsify", dsprites_small, tmp_path, params, init=chain["init"] / "model.pt", method="topk")
    raw = read_history(out / "history.h5")
    hist = pd.read_csv(out / "history.csv")
    reinit = raw["revival/reinit"].astype(bool)
    assert (hist["reinit"] > 0).all() and (reinit.sum(1) == hist["reinit"]).all()
    ckpt = load_checkpoint(out / "model.pt")
    last = reinit[-1]
    assert ckpt["revival"]["pending"].tolist() == np.flatnonzero(last).tolist()  # selected, not yet applied
    # the saved model's evaluation is the last row: a neuron selected at the last boundary keeps its trained
    # (inactive) weights and is not counted alive; a revived clone of a live donor would be
    ev_params = EvalConfig.from_params({"device": "cpu", "model": params["model"], "optim": {"tf32": False},
                                        "data": params["data"], "eval": params["eval"]})  # fmt: skip
    evaluate_checkpoint(str(dsprites_small), 7, "topk", str(out / "model.pt"), ev_params, str(tmp_path / "e.h5"))
    from vaesae.evalfile import read_eval

    rates = read_eval(tmp_path / "e.h5")["conv_sae"]["activation_rate"]
    assert np.allclose(rates, raw["conv_sae/activation_rate"][-1], atol=1e-6)
    # (the saved rows are not yet re-initialised: extended training, which applies the pending selection first,
    # starts from other rows; checked below)
    # extended training starts with the pending re-initialisation: its first epoch's record counts it
    ext_params = dict(stage_params(chain["cfg"], "extend", "topk"), revival=params["revival"])
    ext = run("extend", dsprites_small, tmp_path, ext_params, init=out / "model.pt", method="topk")
    before = ckpt["model"]["conv_sae.W_e"]
    after_start = load_checkpoint(ext / "model.pt")["model"]["conv_sae.W_e"]
    assert not torch.equal(before[last], after_start[last])
    # mid-run: the resume checkpoint after epoch 0 evaluates to row 0 exactly
    mid = run("sparsify", dsprites_small, tmp_path, params, init=chain["init"] / "model.pt", method="topk",
              tag="_mid", stop_after=1)  # fmt: skip
    state = load_checkpoint(mid / "model.pt.resume")
    assert state["revival"]["pending"].tolist() == np.flatnonzero(reinit[0]).tolist()
    parts = sorted((mid / "model.pt.history-parts").glob("epoch_*.npz"))
    assert [p.name for p in parts] == ["epoch_00000.npz"]
    with np.load(parts[0]) as npz:
        assert np.array_equal(npz["conv_sae|activation_rate"], raw["conv_sae/activation_rate"][0])


def test_bf16_autocast_trains(chain, dsprites_small):
    r = runner_for("sparsify", chain, dsprites_small, optim={"bf16": True})
    row = r.train_epoch(0)
    assert np.isfinite(row["loss"]) and row["k"] == chain["params"]["sparsify"]["k_start"]


def test_init_stage_freezes_the_vae(chain, dsprites_small):
    r = runner_for("init", chain, dsprites_small)
    before = {k: v.clone() for k, v in r.model.vae.state_dict().items()}
    row = r.train_epoch(0)
    assert all(torch.equal(before[k], v) for k, v in r.model.vae.state_dict().items())
    assert row["l1_lambda"] == chain["cfg"]["init"]["l1_coeff"] and row["loss_vae"] == 0


# ------------------------------------------------------------------------------------------------ model.tied_sae
def test_a_tied_sae_trains_through_stages_2_3_and_extend_revives_and_evaluates(chain, dsprites_small, tmp_path):
    from vaesae.cli.evaluate import evaluate_checkpoint

    cfg = chain["cfg"]
    tied = {"tied_sae": True}

    def params(stage, method=None):
        p = copy.deepcopy(stage_params(cfg, stage, method))
        p["model"].update(tied)
        return p

    init = run("init", dsprites_small, tmp_path, params("init"), init=chain["vae"] / "model.pt")
    revival = {"reinit_dead_fraction": 0.0, "reinit_patience": 0, "reinit": True, "inactive_rate": 0.2}
    sp = params("sparsify", "topk")
    sp["revival"].update(revival)  # re-initialisation fires at every boundary
    out = run("sparsify", dsprites_small, tmp_path, sp, init=init / "model.pt", method="topk")
    hist = pd.read_csv(out / "history.csv")
    assert len(hist) == cfg["sparsify"]["epochs"] and np.isfinite(hist[["loss", "loss_sae_conv", "mse"]]).all().all()
    assert (hist["reinit"] > 0).all()  # revival selected (and, from epoch 1 on, applied) with one matrix
    ckpt = load_checkpoint(out / "model.pt")
    assert "conv_sae.W_d" not in ckpt["model"] and "latent_sae.W_d" not in ckpt["model"]
    # the decoder column norms in history.csv are those of W_eᵀ, the network's only matrix
    w = ckpt["model"]["conv_sae.W_e"].double()
    assert hist["dec_norm_max"].iloc[-1] == pytest.approx(w.norm(dim=1).max().item(), rel=1e-9)
    ext_params = params("extend", "topk")
    ext_params["revival"].update(revival)
    ext = run("extend", dsprites_small, tmp_path, ext_params, init=out / "model.pt", method="topk")
    assert np.isfinite(pd.read_csv(ext / "history.csv")["loss"]).all()
    ev = EvalConfig.from_params({"device": "cpu", "model": sp["model"], "optim": {"tf32": False}, "data": sp["data"],
                                 "eval": sp["eval"]})  # fmt: skip
    assert np.isfinite(evaluate_checkpoint(str(dsprites_small), 7, "topk", str(out / "model.pt"), ev,
                                           str(tmp_path / "e.h5"))["mse"])  # fmt: skip
    # AuxK's unit-norm decoder on a tied SAE: unit rows of W_e (its decoder columns) at every step
    auxk = params("sparsify", "topk_auxk")
    r = StageRunner(StageConfig.from_params("sparsify", auxk, "topk_auxk"), dataset_file=str(dsprites_small), seed=7,
                    out_model=str(tmp_path / "a/model.pt"), out_history=str(tmp_path / "a/h.csv"),
                    init_checkpoint=str(init / "model.pt"), progress=False)  # fmt: skip
    torch.testing.assert_close(r.model.conv_sae.W_e.norm(dim=1), torch.ones(cfg["model"]["conv_sae_neurons"]))
    assert np.isfinite(r.train_epoch(0)["loss"])
    torch.testing.assert_close(r.model.conv_sae.W_e.norm(dim=1), torch.ones(cfg["model"]["conv_sae_neurons"]),
                               atol=0.05, rtol=0)  # renormalised before each step, moved by the step only
    with pytest.raises(ValueError, match="model.tied_sae"):  # an untied stage-2 checkpoint into a tied stage 3
        run("sparsify", dsprites_small, tmp_path, sp, init=chain["init"] / "model.pt", method="topk", tag="_mixed")


def test_revival_of_a_tied_sae_copies_encoder_rows_only_and_resets_the_moments_it_has():
    from vaesae.models.sae import SparseAutoencoder
    from vaesae.train.revival import reinit_neurons

    torch.manual_seed(0)
    sae = SparseAutoencoder(4, 6, tied=True)
    opt = torch.optim.AdamW(sae.parameters(), lr=1e-2)
    h = torch.randn(8, 4)
    ((h - sae(h, None)[1]) ** 2).sum().backward()
    opt.step()
    for p in sae.parameters():
        opt.state[p]["exp_avg"].fill_(1.0)
    before = sae.W_e.detach().clone()
    dead, donors = torch.tensor([0, 1]), torch.tensor([4, 5])
    reinit_neurons(sae, opt, dead, donors, 0.01, torch.Generator().manual_seed(1))
    assert torch.equal(sae.W_e[2:], before[2:])
    for i in (0, 1):  # a noisy copy of a donor's row, which is also its decoder column
        assert min((sae.W_e[i] - before[j]).norm() for j in (4, 5)) < 0.1 * before[4:].norm(dim=1).min()
        assert torch.equal(sae.W_d[:, i], sae.W_e[i])
    assert (opt.state[sae.W_e]["exp_avg"][:2] == 0).all() and (opt.state[sae.W_e]["exp_avg"][2:] == 1).all()
    assert (opt.state[sae.b_e]["exp_avg"][:2] == 0).all() and len(opt.state) == 2


# ------------------------------------------------------------------------------------------------ model.sae_gradient
def _encoder_grads(r, x, terms):
    """The VAE encoder's gradient after one backward of the stage-3 loss built from ``terms`` (same noise each time)."""
    r.model.train()
    r.optimizer.zero_grad(set_to_none=True)
    torch.manual_seed(11)
    out = r.stage.loss(x, r.stage.sparsity(0), 1.0)
    sum(out[t] for t in terms).backward()
    return [p.grad.clone() for p in r.model.vae.encoder.parameters()]


@pytest.mark.parametrize("gradient, method", [("joint", "topk"), ("detach", "topk"), ("joint", "topk_detached"),
                                              ("detach", "topk_auxk")])
def test_detached_saes_send_no_gradient_into_the_vae_encoder(chain, dsprites_small, gradient, method):
    """Under detach (or the stop-gradient control), the encoder's gradient of the whole stage-3 loss is that of the
    VAE loss alone; under joint (the paper) the SAE losses add to it."""
    if method == "topk_detached":  # its runs get no model.sae_gradient: it detaches whatever the key says
        assert "sae_gradient" not in stage_params(chain["cfg"], "sparsify", method)["model"]
        r = runner_for("sparsify", chain, dsprites_small, method=method)
    else:
        r = runner_for("sparsify", chain, dsprites_small, method=method, model={"sae_gradient": gradient})
    detached = gradient == "detach" or method == "topk_detached"
    assert r.stage.detach_sae is detached
    x = r.data.batch(r.data.train_idx[:32])
    everything = _encoder_grads(r, x, ["loss"])
    vae_only = _encoder_grads(r, x, ["loss_vae"])
    same = [torch.equal(a, b) for a, b in zip(everything, vae_only)]
    assert all(same) if detached else not any(same)
    assert all(torch.isfinite(g).all() for g in everything)
    # the SAEs still train on their own losses
    r.optimizer.zero_grad(set_to_none=True)
    r.stage.loss(x, r.stage.sparsity(0), 1.0)["loss_sae_conv"].backward()
    assert r.model.conv_sae.W_e.grad.abs().sum() > 0
    enc = [p.grad for p in r.model.vae.encoder.parameters()]
    assert all(g is None or not g.any() for g in enc) if detached else any(g is not None and g.any() for g in enc)


def test_the_stop_gradient_control_trains_like_topk(chain, dsprites_small, tmp_path):
    params = stage_params(chain["cfg"], "sparsify", "topk_detached")
    out = run("sparsify", dsprites_small, tmp_path, params, init=chain["init"] / "model.pt", method="topk_detached")
    hist, topk = pd.read_csv(out / "history.csv"), pd.read_csv(chain["topk"] / "history.csv")
    assert (hist["phase"] == "topk_detached").all() and hist["k"].tolist() == topk["k"].tolist()
    assert np.isfinite(hist[["loss", "mse", "mig"]]).all().all()
    assert not np.allclose(hist["loss_vae"], topk["loss_vae"])  # a different VAE trajectory
    ext = run("extend", dsprites_small, tmp_path, stage_params(chain["cfg"], "extend", "topk_detached"),
              init=out / "model.pt", method="topk_detached")  # fmt: skip
    assert (pd.read_csv(ext / "history.csv")["phase"] == "topk_detached_extended").all()


# ------------------------------------------------------------------------------------------------ diagnostics
def test_the_diagnostic_columns_match_a_direct_computation():
    from vaesae.evaluation import DIAGNOSTICS, forward_eval, measure
    from vaesae.models.hybrid import HybridVAESAE
    from vaesae.models.sae import relu_topk
    from vaesae.config.sections import ModelConfig

    from conftest import load_config

    torch.manual_seed(0)
    model = HybridVAESAE(1, ModelConfig.from_params(load_config("tiny")["model"])).eval()
    with torch.no_grad():
        model.conv_sae.W_d.mul_(torch.linspace(0.5, 2.0, model.conv_sae.m))  # column norms that differ
    images = torch.randint(0, 256, (30, 1, 64, 64), dtype=torch.uint8)
    factors = np.stack([np.arange(30) % 3, np.arange(30) % 5], axis=1)
    got = measure(forward_eval(model, images, 5, 1, batch_size=7), factors, n_bins=4)
    x = images.float() / 255.0
    with torch.no_grad():
        h = model.vae.encoder.features(x).double()
        a = relu_topk(model.conv_sae.pre(h.float()), 5).double()
    h_norm = np.sqrt((h.numpy() ** 2).sum(1))
    dec = np.sqrt((model.conv_sae.W_d.detach().double().numpy() ** 2).sum(0))
    expected = {"h_norm_mean": h_norm.mean(), "h_norm_std": h_norm.std(), "dec_norm_min": dec.min(),
                "dec_norm_median": np.median(dec), "dec_norm_max": dec.max(), "a_l1": a.abs().sum(1).mean().item()}
    with torch.no_grad():
        mu = model.vae(x, sample=False)[1].double().numpy()
    for sae, inp in (("conv", h.numpy()), ("latent", mu)):  # the input geometry, the obvious way
        mean_norm, std_norm = np.linalg.norm(inp.mean(0)), np.linalg.norm(inp.std(0))
        expected.update({f"{sae}_input_mean_norm": mean_norm, f"{sae}_input_std_norm": std_norm,
                         f"{sae}_input_gamma": mean_norm / std_norm})  # fmt: skip
    assert set(expected) == set(DIAGNOSTICS) and list(DIAGNOSTICS) == [c for c in HISTORY_COLUMNS if c in expected]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key
    assert got["dec_norm_min"] < got["dec_norm_median"] < got["dec_norm_max"] and got["a_l1"] > 0
    # without the SAEs (stage 1): the decoder and ã columns are NaN, ‖h‖ is real
    vae_only = measure(forward_eval(model, images, None, None, batch_size=7, with_sae=False), factors, n_bins=4)
    assert vae_only["h_norm_mean"] == pytest.approx(expected["h_norm_mean"], rel=1e-6)
    assert all(math.isnan(vae_only[k]) for k in ("dec_norm_min", "dec_norm_median", "dec_norm_max", "a_l1"))


def test_every_stage_logs_the_diagnostics(chain):
    assert HISTORY_COLUMNS[-1] == "seconds"  # the diagnostics come before the wall time
    vae = pd.read_csv(chain["vae"] / "history.csv")
    assert (vae["h_norm_mean"] > 0).all() and (vae["h_norm_std"] > 0).all()
    assert vae[["dec_norm_min", "dec_norm_median", "dec_norm_max", "a_l1"]].isna().all().all()
    for run_dir in (chain["init"], chain["topk"]):
        hist = pd.read_csv(run_dir / "history.csv")
        assert hist[["h_norm_mean", "h_norm_std", "dec_norm_min", "dec_norm_median", "dec_norm_max", "a_l1"]
                    ].notna().all().all()  # fmt: skip
        assert (hist["dec_norm_min"] <= hist["dec_norm_median"]).all()
        assert (hist["dec_norm_median"] <= hist["dec_norm_max"]).all()
    hist = pd.read_csv(chain["topk"] / "history.csv")
    w_d = load_checkpoint(chain["topk"] / "model.pt")["model"]["conv_sae.W_d"].double()
    assert hist["dec_norm_median"].iloc[-1] == pytest.approx(float(np.median(w_d.norm(dim=0).numpy())), rel=1e-9)
    raw = read_history(chain["topk"] / "history.h5")
    assert np.allclose(raw["scalars/a_l1"], hist["a_l1"]) and np.allclose(raw["scalars/h_norm_std"], hist["h_norm_std"])


# ------------------------------------------------------------------------------------------------ revival's probe
def test_the_spread_probe_is_a_seeded_random_subset_of_the_evaluation_images(chain, dsprites_small):
    from vaesae.train.loop import probe_indices

    idx = probe_indices(1000, 100, seed=42)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100  # distinct
    assert not torch.equal(idx, torch.arange(100)) and idx.max() >= 100  # not the first ones
    assert 0 <= idx.min() and idx.max() < 1000 and torch.equal(idx, idx.sort().values)
    assert torch.equal(idx, probe_indices(1000, 100, seed=42))  # deterministic for a seed
    assert not torch.equal(idx, probe_indices(1000, 100, seed=43))
    assert torch.equal(probe_indices(50, 100, seed=1), torch.arange(50))  # a probe as large as the set: all of it
    state = torch.get_rng_state()
    probe_indices(1000, 100, seed=42)
    assert torch.equal(state, torch.get_rng_state())  # its own generator: the global RNG is untouched
    # the runner's probe: those images of the evaluation set, the same for every run (resumed or not) of the seed
    a = runner_for("sparsify", chain, dsprites_small, eval={"batch_size": 40})
    b = runner_for("extend", chain, dsprites_small, eval={"batch_size": 40})
    n = len(a.eval_images)
    assert torch.equal(a.probe_idx, probe_indices(n, 40, 7)) and torch.equal(a.probe_idx, b.probe_idx)
    assert torch.equal(a.probe_u8, a.eval_images[a.probe_idx]) and not torch.equal(a.probe_idx, torch.arange(40))
