"""Training stages on a tiny procedural dSprites: outputs, determinism, resumption, failures."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vaesae.device import DeviceError, resolve_device
from vaesae.train.checkpoint import CheckpointError, load_checkpoint
from vaesae.train.history import read_history
from vaesae.train.loop import HISTORY_COLUMNS, NonFiniteLossError, StageRunner

from conftest import stage_params


def run(stage, data, tmp, params, init=None, method="none", tag="", stop_after=None, checkpoint_minutes=0, **kw):
    out = tmp / f"{stage}{tag}"
    runner = StageRunner(
        stage,
        dataset_file=str(data),
        seed=7,
        params=params,
        out_model=str(out / "model.pt"),
        out_history=str(out / "history.csv"),
        init_checkpoint=None if init is None else str(init),
        method=method,
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

    runner = StageRunner(*args[:1], dataset_file=str(dsprites_small), seed=7, params=chain["params"],
                         out_model=str(chain["tmp"] / "x/model.pt"), out_history=str(chain["tmp"] / "x/h.csv"),
                         init_checkpoint=str(chain["init"] / "model.pt"), method="topk", checkpoint_minutes=10,
                         progress=False)  # fmt: skip
    runner._last_checkpoint = 0.0
    assert [runner.checkpoint_due(e, 60.0 * m) for e, m in enumerate((9.9, 10, 30, 40))] == [False, True, True, False]
    runner.checkpoint_minutes = 0
    assert [runner.checkpoint_due(e, 0.0) for e in range(4)] == [True, True, True, False]  # never after the last
    with pytest.raises(ValueError, match="checkpoint_minutes must be a number of minutes >= 0, got -1"):
        StageRunner(*args[:1], dataset_file=str(dsprites_small), seed=7, params=chain["params"],
                    out_model=str(chain["tmp"] / "y/model.pt"), out_history=str(chain["tmp"] / "y/h.csv"),
                    init_checkpoint=str(chain["init"] / "model.pt"), method="topk", checkpoint_minutes=-1)  # fmt: skip


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
    return StageRunner(stage, dataset_file=str(data), seed=7, params=params, out_model=str(out / "model.pt"),
                       out_history=str(out / "h.csv"), init_checkpoint=str(init), method=method, progress=False)  # fmt: skip


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
    ev_params = {"device": "cpu", "model": params["model"], "optim": {"tf32": False}, "data": params["data"],
                 "eval": params["eval"]}  # fmt: skip
    evaluate_checkpoint(str(dsprites_small), 7, "topk", str(out / "model.pt"), ev_params, str(tmp_path / "e.h5"))
    import h5py

    with h5py.File(tmp_path / "e.h5") as f:
        rates = f["conv_sae/activation_rate"][()]
    assert np.allclose(rates, raw["conv_sae/activation_rate"][-1], atol=1e-6)
    w = ckpt["model"]["conv_sae.W_e"]
    for i in np.flatnonzero(last)[:20]:  # not a noisy copy (noise 0.01 std) of any neuron that stays
        dist = (w[~torch.from_numpy(last)] - w[i]).norm(dim=1).min()
        assert dist > 0.05 * w[i].norm()
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
