#!/usr/bin/env python3
"""Everything a 15-minute GPU session measures, in one call of at most 8 minutes (issue 22 §3, issue 26).

    python3 benchmarks/device/gpu_session.py --out "$OUT"              # on the lent H200 (see docs/GPU.md, "On a lent GPU machine")
    python3 benchmarks/device/gpu_session.py --out /tmp/s --device cpu --tiny   # the rehearsal here (a test runs it)

Sections, in order; ``session.json`` under ``--out`` is rewritten after each one, so a call cut off at its time
limit still brings back what it did (each section: ``status`` ok / failed (with the error) / skipped (over budget),
its ``seconds`` and its numbers):

    env         Python, torch, CUDA, the GPU, the packages the pipeline imports, nvidia-smi -L
    steps       per method (every row of the methods table), at k_start (500) and k_end (50), TF32 and bf16, eager
                and CUDA-graph: ms per stage-3 step (median of 3 timings of --steps steps after a warm-up pass that
                also captures the graph), the implied paper-scale epoch (x 1,152 steps), aten ops per eager step
    graph_check per method, one stage-3 epoch from the same start with eager steps and with CUDA-graph replays: the
                two histories' loss terms and the models should agree to the GPU's rounding (its kernels are not
                deterministic); a replay that computed something else shows here
    eval        the per-epoch evaluation (StageRunner.evaluate) on the paper's 10,000 monitor images
    checkpoint  the resume checkpoint (model + AdamW, 0.82 GB) saved atomically, device-to-host copy included
    resume      a stage-3 job killed after 2 of 4 epochs, resumed from its resume file on the GPU (the RNG state must
                come back to the host), against the uninterrupted run
    chain       pretrain -> init -> sparsify (topk) -> extend -> evaluate through the rules' own CLIs
                (python -m vaesae.cli.train / vaesae.cli.evaluate) on a procedural subset, paper model, short epochs

Nothing beyond the machine's image is needed: torch, numpy, pandas, h5py, scikit-learn, PyYAML and tqdm are there;
jsonschema (the config's schema) is not, so when it cannot be imported the wheels under ``--wheels`` (``.whl``, from
``benchmarks/device/fetch_wheels.py``) are unzipped, without pip, into a folder appended to ``sys.path`` (the
image's own packages keep precedence). Snakemake is not used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAPER_STEPS_PER_EPOCH = 1152  # 589,824 training images / 512
WHEEL_SITE = Path(tempfile.gettempdir()) / "vaesae-wheels"


def unpack_wheels(wheels: Path) -> list[str]:
    """Unzip every wheel in ``wheels`` into WHEEL_SITE (no pip) and append it to sys.path; returns their names."""
    names = sorted(p.name for p in wheels.glob("*.whl"))
    WHEEL_SITE.mkdir(parents=True, exist_ok=True)
    for name in names:
        with zipfile.ZipFile(wheels / name) as whl:
            whl.extractall(WHEEL_SITE)
    if str(WHEEL_SITE) not in sys.path:
        sys.path.append(str(WHEEL_SITE))
    return names


def ensure_imports(wheels: Path) -> dict:
    """jsonschema from the carried wheels when the image lacks it; the pipeline's sources on sys.path."""
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import jsonschema  # noqa: F401

        return {"jsonschema": "image"}
    except ImportError:
        if not wheels.is_dir():
            raise SystemExit(f"gpu_session.py: jsonschema is missing and there is no wheel folder {wheels} "
                             "(run benchmarks/device/fetch_wheels.py here and carry .whl)")  # fmt: skip
        names = unpack_wheels(wheels)
        import jsonschema  # noqa: F401

        return {"jsonschema": "wheels", "wheels": len(names)}


class Session:
    """The sections' results, written to ``session.json`` after each section; a wall-clock budget for all."""

    def __init__(self, out: Path, budget_s: float):
        self.out, self.t0, self.budget = out, time.monotonic(), budget_s
        self.results: dict = {"budget_s": budget_s, "sections": {}}
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.t0)

    def write(self) -> None:
        tmp = self.out / ".session.json.tmp"
        tmp.write_text(json.dumps(self.results, indent=1, default=str))
        tmp.replace(self.out / "session.json")

    def run(self, name: str, fn, *, needs_s: float = 0.0) -> None:
        t0 = time.monotonic()
        if self.left() < needs_s:
            entry = {"status": "skipped", "why": f"{self.left():.0f} s left of the budget, {needs_s:.0f} s needed"}
        else:
            print(f"== {name} ({self.left():.0f} s left)", flush=True)
            try:
                entry = {"status": "ok", **fn()}
            except Exception as err:  # noqa: BLE001 - every section reports, the next one still runs
                traceback.print_exc()
                entry = {"status": "failed", "error": f"{type(err).__name__}: {err}",
                         "traceback": traceback.format_exc()[-3000:]}  # fmt: skip
        entry["seconds"] = round(time.monotonic() - t0, 2)
        self.results["sections"][name] = entry
        self.write()
        print(f"   {name}: {entry['status']} in {entry['seconds']} s", flush=True)


# ------------------------------------------------------------------------------------------------ sections
def section_env(args) -> dict:
    import h5py
    import numpy
    import pandas
    import sklearn
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cuda_available": torch.cuda.is_available(), "numpy": numpy.__version__, "pandas": pandas.__version__,
           "h5py": h5py.__version__, "sklearn": sklearn.__version__, "commit": args.commit,
           "cpu_count": os.cpu_count(), "imports": args.imports}  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, capability=f"{props.major}.{props.minor}", memory_gib=props.total_memory / 2**30,
                   sms=props.multi_processor_count)  # fmt: skip
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            env["nvidia_smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    elif args.device == "cuda":
        raise RuntimeError("torch sees no GPU (torch.cuda.is_available() is False)")
    return env


def _cfg(args) -> dict:
    from vaesae.workflow import load_config

    files = [ROOT / "workflow/presets/tiny.yaml"] if args.tiny else []
    return load_config(*files, root=ROOT)


def section_steps(args, cfg, data: Path, tmp: Path, session: Session) -> dict:
    from bench_step_ops import count_step_ops, last_epoch, make_runner, time_steps

    from vaesae import methods as method_table

    methods = args.methods or list(method_table.METHODS)
    rows = []
    epochs, precisions, modes = (0, last_epoch(cfg)), ("tf32", "bf16"), (True, False)
    cases = [(m, e, p, g) for m in methods for e in epochs for p in precisions for g in modes]
    for method, epoch, precision, graphs in cases:
        row = {"method": method, "epoch": epoch, "precision": precision, "graphs": graphs}
        if session.left() < args.reserve_s:  # the later sections keep their time
            rows.append(dict(row, status="skipped"))
            continue
        try:
            runner = make_runner(cfg, method, data, tmp, device=args.device, bf16=precision == "bf16", graphs=graphs,
                                 n_eval=min(1000, cfg["eval"]["n_samples"]))  # fmt: skip
            row.update(time_steps(runner, epoch, args.steps, repeats=3))
            row["paper_epoch_s"] = row["ms_per_step"] * PAPER_STEPS_PER_EPOCH / 1e3
            row["fell_back"] = getattr(runner.stepper, "fell_back", None)
            if not graphs and precision == "tf32":
                ops = count_step_ops(runner, epoch)
                row.update(ops=ops["ops"], kernel_ops=ops["kernel_ops"], adamw_ops=ops["adamw_ops"],
                           syncs=len(ops["syncs"]))
            row["status"] = "ok"
            del runner
        except Exception as err:  # noqa: BLE001
            row.update(status="failed", error=f"{type(err).__name__}: {err}")
            traceback.print_exc()
        rows.append(row)
        print(f"   {method:13s} k={row.get('k')!s:>4} {precision} {'graph' if graphs else 'eager'}: "
              f"{row.get('ms_per_step', float('nan')):.2f} ms/step {row['status']}", flush=True)  # fmt: skip
        session.results["sections"]["steps"] = {"status": "running", "rows": rows}
        session.write()
        _free()
    return {"rows": rows, "steps_timed": args.steps}


def _free() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def section_graph_check(args, cfg, data: Path, tmp: Path) -> dict:
    """Eager and graph runs of one epoch per method, same seed and start: the largest relative differences."""
    import torch
    from bench_step_ops import make_runner

    from vaesae import methods as method_table

    out = {}
    for method in args.methods or list(method_table.METHODS):
        rows, models = [], []
        for graphs in (False, True):
            runner = make_runner(cfg, method, data, tmp, device=args.device, graphs=graphs, n_eval=1000)
            rows.append(runner.train_epoch(0))
            models.append({k: v.detach().float().cpu() for k, v in runner.model.state_dict().items()})
            out.setdefault(method, {})["graph_used" if graphs else "eager_steps"] = (
                getattr(runner.stepper, "captures", 0) > 0 if graphs else True)
            del runner
            _free()
        terms = [k for k in rows[0] if k.startswith("loss") or k in ("recon", "kl", "l0", "l0_latent")]
        rel = {k: abs(rows[0][k] - rows[1][k]) / max(abs(rows[0][k]), 1e-12) for k in terms
               if isinstance(rows[0][k], float)}  # fmt: skip
        param = max(float((a - models[1][k]).abs().max() / a.abs().max().clamp_min(1e-12))
                    for k, a in models[0].items() if a.is_floating_point())  # fmt: skip
        out[method].update(max_rel_loss_diff=max(rel.values()), rel_loss_diff=rel, max_rel_param_diff=param,
                           suspicious=max(rel.values()) > 1e-2 or not math.isfinite(param))  # fmt: skip
        print(f"   {method:13s} graph vs eager: loss terms within {max(rel.values()):.2e}, parameters within "
              f"{param:.2e}", flush=True)  # fmt: skip
    return {"methods": out, "torch_deterministic": torch.are_deterministic_algorithms_enabled()}


def section_eval_and_checkpoint(args, cfg, data: Path, tmp: Path) -> dict:
    import torch
    from bench_step_ops import make_runner

    from vaesae.train.checkpoint import save_checkpoint

    n_eval = cfg["eval"]["n_samples"]
    runner = make_runner(cfg, "topk", data, tmp, device=args.device, n_eval=n_eval)
    sync = torch.cuda.synchronize if runner.device.type == "cuda" else (lambda: None)
    runner.train_epoch(0)  # warm-up (and the graph's capture)
    sync()
    t0 = time.perf_counter()
    row = runner.train_epoch(0)
    sync()
    epoch_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        runner.evaluate(row["k"], row["k_latent"])
        sync()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    path = tmp / "resume.pt"
    save_checkpoint(path, runner.resume_payload(0, []))
    ckpt_s = time.perf_counter() - t0
    out = {"eval_images": len(runner.eval_factors), "eval_s": statistics.median(times), "eval_all_s": times,
           "checkpoint_s": ckpt_s, "checkpoint_gb": path.stat().st_size / 1e9,
           "train_epoch_s": epoch_s, "train_images": len(runner.data.train_idx)}  # fmt: skip
    path.unlink()
    return out


def section_resume(args, cfg, data: Path, tmp: Path) -> dict:
    """A killed stage-3 job resumed on the device, against the uninterrupted run."""
    import pandas as pd

    from vaesae.config.sections import StageConfig
    from vaesae.train.loop import StageRunner
    from vaesae.workflow import load_config, rule_params

    small = load_config(ROOT / "workflow/presets/tiny.yaml", root=ROOT)  # a small model: this checks resumption
    small["sparsify"]["epochs"] = 4
    params = lambda rule, method=None: dict(rule_params(small, rule, method=method), device=args.device)  # noqa: E731

    def runner(stage, out, init, method="none"):
        rule = {"pretrain": "pretrain_vae", "init": "init_sae"}.get(stage, stage)
        rule_params_ = params(rule, None if method == "none" else method)
        return StageRunner(StageConfig.from_params(stage, rule_params_, method), dataset_file=str(data), seed=3,
                           out_model=str(out / "model.pt"), out_history=str(out / "history.csv"),
                           init_checkpoint=None if init is None else str(init), checkpoint_minutes=0,
                           progress=False)  # fmt: skip

    runner("pretrain", tmp / "r_vae", None).run()
    runner("init", tmp / "r_init", tmp / "r_vae/model.pt").run()
    runner("sparsify", tmp / "r_full", tmp / "r_init/model.pt", "topk").run()
    runner("sparsify", tmp / "r_killed", tmp / "r_init/model.pt", "topk").run(stop_after=2)
    assert (tmp / "r_killed/model.pt.resume").exists(), "no resume file after 2 epochs"
    resumed = runner("sparsify", tmp / "r_killed", tmp / "r_init/model.pt", "topk")
    start, _ = resumed._resume()
    resumed.run()
    a = pd.read_csv(tmp / "r_full/history.csv")
    b = pd.read_csv(tmp / "r_killed/history.csv")
    cols = ["loss", "mig", "mse"]
    return {"resumed_at_epoch": start, "epochs": len(b), "device": str(resumed.device),
            "max_abs_diff": {c: float((a[c] - b[c]).abs().max()) for c in cols},
            "note": "CUDA kernels are not deterministic here: the two runs agree to rounding, not bit for bit"}


def section_chain(args, cfg, data: Path, tmp: Path) -> dict:
    """The rules' CLIs in order, as Snakemake would run them (the params each rule passes)."""
    import h5py
    import yaml

    from vaesae.workflow import deep_merge, load_config, rule_params

    short = yaml.safe_load((ROOT / "benchmarks/device/short-epochs.yaml").read_text())
    chain_cfg = load_config(*([ROOT / "workflow/presets/tiny.yaml"] if args.tiny else []), root=ROOT,
                            overrides=deep_merge(short, {"device": args.device}))  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), *sys.path[1:]]), PYTHONUNBUFFERED="1")
    runs = tmp / "chain"
    steps = [("pretrain", "pretrain_vae", None, None, "vae"), ("init", "init_sae", None, "vae", "init"),
             ("sparsify", "sparsify", "topk", "init", "topk"), ("extend", "extend", "topk", "topk", "topk_extended")]
    times = {}
    for stage, rule, method, init, phase in steps:
        params = dict(rule_params(chain_cfg, rule, method=method), device=args.device)
        cmd = [sys.executable, "-m", "vaesae.cli.train", stage, "--dataset", str(data), "--seed", "42",
               "--params", json.dumps(params), "--out-model", str(runs / phase / "model.pt"),
               "--out-history", str(runs / phase / "history.csv"), "--out-raw", str(runs / phase / "history.h5"),
               "--checkpoint-minutes", "0", "--no-progress"]  # fmt: skip
        if method:
            cmd += ["--method", method]
        if init:
            cmd += ["--init", str(runs / init / "model.pt")]
        times[phase] = _run(cmd, env, runs / f"{phase}.log")
    params = dict(rule_params(chain_cfg, "evaluate"), device=args.device)
    cmd = [sys.executable, "-m", "vaesae.cli.evaluate", "--dataset", str(data), "--seed", "42", "--phase",
           "topk_extended", "--checkpoint", str(runs / "topk_extended/model.pt"), "--params", json.dumps(params),
           "--out", str(runs / "eval.h5")]  # fmt: skip
    times["evaluate"] = _run(cmd, env, runs / "evaluate.log")
    with h5py.File(runs / "eval.h5") as f:
        scores = {"mig": float(f.attrs["mig"]), "mse": float(f.attrs["mse"]), "n_eval": int(f.attrs["n_eval"])}
    return {"seconds_per_job": times, "evaluation": scores, "epochs": {k: chain_cfg[k]["epochs"] for k in short}}


def _run(cmd: list[str], env: dict, log: Path) -> float:
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed ({proc.returncode}): {log.read_text()[-1500:]}")
    return round(time.perf_counter() - t0, 2)


def summary(results: dict) -> str:
    """The short table printed last (the device tool returns the end of the output)."""
    lines = ["", "| method | k | precision | eager ms/step | graph ms/step | paper epoch s (graph) | ops/step |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    rows = results["sections"].get("steps", {}).get("rows", [])
    table: dict = {}
    for r in rows:
        if r.get("status") == "ok":
            table.setdefault((r["method"], r["k"], r["precision"]), {})[r["graphs"]] = r
    for (method, k, precision), by_mode in table.items():
        e, g = by_mode.get(False, {}), by_mode.get(True, {})
        lines.append(f"| {method} | {k} | {precision} | {e.get('ms_per_step', float('nan')):.2f} | "
                     f"{g.get('ms_per_step', float('nan')):.2f} | {g.get('paper_epoch_s', float('nan')):.1f} | "
                     f"{e.get('ops', '')} |")  # fmt: skip
    for name, sec in results["sections"].items():
        if name != "steps":
            keep = {k: v for k, v in sec.items() if k not in ("traceback", "rows", "nvidia_smi")}
            lines.append(f"{name}: {json.dumps(keep, default=str)[:600]}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for session.json ($OUT on the device machine)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="the tiny preset's model and sizes (CPU rehearsal)")
    ap.add_argument("--budget-s", type=float, default=470.0, help="wall-clock budget of the whole call")
    ap.add_argument("--reserve-s", type=float, default=210.0, help="kept for the sections after the step timings")
    ap.add_argument("--steps", type=int, default=20, help="steps per timing")
    ap.add_argument("--images", type=int, default=65536, help="procedural dSprites images (10,000+ monitor images)")
    ap.add_argument("--methods", nargs="*", default=None, help="default: every method of the methods table")
    ap.add_argument("--wheels", type=Path, default=ROOT / ".whl")
    ap.add_argument("--commit", default="")
    args = ap.parse_args(argv)
    session = Session(args.out, args.budget_s)
    args.imports = ensure_imports(args.wheels)
    session.run("env", lambda: section_env(args))
    if session.results["sections"]["env"]["status"] != "ok":
        print(summary(session.results))
        return 1
    from vaesae.data.generate import make_procedural

    cfg = _cfg(args)
    with tempfile.TemporaryDirectory(prefix="vaesae-session-") as tmp:
        tmp = Path(tmp)
        data = tmp / "dsprites.h5"
        make_procedural("dsprites", data, subset=args.images, progress=False)
        session.run("steps", lambda: section_steps(args, cfg, data, tmp, session), needs_s=args.reserve_s)
        session.run("graph_check", lambda: section_graph_check(args, cfg, data, tmp), needs_s=60)
        session.run("eval_checkpoint", lambda: section_eval_and_checkpoint(args, cfg, data, tmp), needs_s=30)
        session.run("resume", lambda: section_resume(args, cfg, data, tmp), needs_s=30)
        session.run("chain", lambda: section_chain(args, cfg, data, tmp), needs_s=40)
    session.results["total_s"] = round(time.monotonic() - session.t0, 1)
    session.write()
    print(summary(session.results))
    return 0 if all(s["status"] == "ok" for s in session.results["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
