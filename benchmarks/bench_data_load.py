"""Benchmark: a job's start, the dataset read onto the device (issue 22), before and after.

    .venv/bin/python -m vaesae.data.generate --dataset dsprites --out /tmp/full_dsprites.h5
    .venv/bin/python -m vaesae.data.generate --dataset shapes3d --out /tmp/full_shapes3d.h5
    .venv/bin/python benchmarks/bench_data_load.py /tmp/full_dsprites.h5 /tmp/full_shapes3d.h5 [--repeats 3]
    .venv/bin/python benchmarks/bench_data_load.py /tmp/full_dsprites.h5 /tmp/full_shapes3d.h5 --compare-reads

Variants, each run in a process of its own under ``/usr/bin/time`` (wall seconds of the process, peak RSS), with one
torch thread (config ``threads: 1``), the splits of config.yaml (``data``, ``eval.n_samples``) and seed 42:

- ``before``: the code before issue 22, inline: ``read_dataset`` (the whole file), the splits,
  ``permute(0, 3, 1, 2).contiguous().to(device)``, then the evaluation images;
- ``train``: ``load_device_data(part="train")`` (a training job: the train split and the evaluation set), then
  ``eval_images()``;
- ``eval``: ``load_device_data(part="eval")`` (the ``evaluate`` job), then ``eval_images()``.

Before each run the file is read once to /dev/null, so the page cache is warm. ``load_s`` is the load alone (no
imports). Prints a Markdown table (median and min of the repeats; the largest peak RSS) and one JSON line with
every run.

``--compare-reads`` times instead three ways of reading the images of a part's rows, each in a process of its own:
``fancy`` (h5py's ``dset[rows]``), ``blocks`` (``vaesae.data.canonical.take_rows``: chunk-aligned blocks, rows picked
out) and ``rows`` (one HDF5 hyperslab read per row); warm, and for part ``eval`` also cold (the file's pages dropped
from the page cache first with ``posix_fadvise(DONTNEED)``, that file only). A read past ``--timeout`` is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("before", "train", "eval")
SEED = 42


def split_params() -> dict:
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    return dict(val_fraction=cfg["data"]["val_fraction"], shapes3d_n_val=cfg["data"]["shapes3d_n_val"],
                n_eval=cfg["eval"]["n_samples"])  # fmt: skip


def load_once(variant: str, path: str, device: str) -> dict:
    """One load in this process; returns its seconds and what was loaded."""
    import torch

    from vaesae.data.canonical import read_dataset
    from vaesae.data.device import load_device_data
    from vaesae.data.splits import make_splits

    torch.set_num_threads(1)
    dev, split = torch.device(device), split_params()
    t0 = time.perf_counter()
    if variant == "before":
        ds = read_dataset(path)
        train_idx, _, eval_idx = make_splits(ds.name, len(ds.images), seed=SEED, **split)
        images = torch.from_numpy(ds.images).permute(0, 3, 1, 2).contiguous().to(dev)
        train_idx, eval_idx = torch.as_tensor(train_idx, device=dev), torch.as_tensor(eval_idx, device=dev)
        evals = images[eval_idx]
        n_rows = len(images)
    else:
        data = load_device_data(path, SEED, device=dev, part=variant, **split)
        evals = data.eval_images()
        n_rows = len(data.images)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return {"load_s": time.perf_counter() - t0, "rows_on_device": n_rows, "eval_images": len(evals)}


def read_once(method: str, part: str, path: str, cold: bool) -> dict:
    """Read the images of ``part``'s rows with ``method`` in this process; returns its seconds."""
    import h5py
    import numpy as np

    from vaesae.data.canonical import take_rows
    from vaesae.data.splits import make_splits

    if cold:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    with h5py.File(path, "r") as f:
        dset = f["images"]
        train, _, evals = make_splits(f.attrs["name"], dset.shape[0], seed=SEED, **split_params())
        rows = np.union1d(train, evals) if part == "train" else evals
        t0 = time.perf_counter()
        if method == "fancy":
            out = dset[rows]
        elif method == "blocks":
            out = take_rows(dset, rows)
        else:
            out = np.empty((len(rows),) + dset.shape[1:], np.uint8)
            file_space, row_space = dset.id.get_space(), h5py.h5s.create_simple((1,) + dset.shape[1:])
            for i, r in enumerate(rows.tolist()):
                file_space.select_hyperslab((r, 0, 0, 0), (1,) + dset.shape[1:])
                dset.id.read(row_space, file_space, out[i : i + 1])
        return {"read_s": time.perf_counter() - t0, "rows": len(out)}


def compare_reads(files: list[str], timeout: float) -> list[dict]:
    runs = []
    print("| file | part | rows | cache | fancy (s) | blocks (s) | rows (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in files:
        for part, cache in (("eval", "warm"), ("eval", "cold"), ("train", "warm")):
            cells, n_rows = [], 0
            for method in ("fancy", "blocks", "rows"):
                if cache == "warm":
                    warm(path)
                cmd = [sys.executable, __file__, "--read", method, part, path] + (["--cold"] if cache == "cold" else [])
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
                except subprocess.TimeoutExpired:
                    runs.append(dict(file=Path(path).name, part=part, cache=cache, method=method, read_s=None))
                    cells.append(f"> {timeout:.0f}")
                    continue
                r = json.loads(proc.stdout.splitlines()[-1])
                n_rows = r["rows"]
                runs.append(dict(r, file=Path(path).name, part=part, cache=cache, method=method))
                cells.append(f"{r['read_s']:.2f}")
            print(f"| {Path(path).name} | {part} | {n_rows:,} | {cache} | {' | '.join(cells)} |", flush=True)
    print(json.dumps({"compare_reads": runs}))
    return runs


def warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def run_variant(variant: str, path: str, device: str) -> dict:
    warm(path)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        cmd = ["/usr/bin/time", "-o", timing.name, "-f", "%e %M", sys.executable, __file__, "--one", variant, path,
               "--device", device]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        wall, rss_kb = timing.read().split()[-2:]
    return dict(json.loads(proc.stdout.splitlines()[-1]), wall_s=float(wall), peak_rss_gib=int(rss_kb) / 2**20)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="canonical dataset files")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--compare-reads", action="store_true", help="time fancy indexing / blocks / per-row reads")
    ap.add_argument("--timeout", type=float, default=300, help="--compare-reads: seconds before a read is stopped")
    ap.add_argument("--one", nargs=2, metavar=("VARIANT", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--read", nargs=3, metavar=("METHOD", "PART", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(load_once(*args.one, args.device)))
        return []
    if args.read:
        print(json.dumps(read_once(*args.read, args.cold)))
        return []
    if args.compare_reads:
        return compare_reads(args.files, args.timeout)
    runs = []
    print("| file | variant | rows on the device | load (s), median (min) | process wall (s), median (min) "
          "| peak RSS (GiB) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for path in args.files:
        for variant in args.variants:
            reps = [run_variant(variant, path, args.device) for _ in range(args.repeats)]
            runs += [dict(r, file=Path(path).name, variant=variant) for r in reps]
            cell = {k: f"{statistics.median(r[k] for r in reps):.2f} ({min(r[k] for r in reps):.2f})"
                    for k in ("load_s", "wall_s")}  # fmt: skip
            rss = max(r["peak_rss_gib"] for r in reps)
            print(f"| {Path(path).name} | {variant} | {reps[0]['rows_on_device']:,} | {cell['load_s']} | "
                  f"{cell['wall_s']} | {rss:.2f} |", flush=True)  # fmt: skip
    print(json.dumps({"device": args.device, "repeats": args.repeats, "runs": runs}))
    return runs


if __name__ == "__main__":
    main()
