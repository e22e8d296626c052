"""Dataset preview figure: a grid of random samples, then one row per factor sweeping that factor alone.

Rows are read from the canonical file by grid index; for a procedural subset that lacks a sweep's images they are
rendered with the same procedural renderer that wrote the file. Only the rows shown are read from disk.
"""

from __future__ import annotations

import h5py
import numpy as np
from matplotlib.figure import Figure

from vaesae.data import dsprites, shapes3d
from vaesae.report.style import dataset_label, new_figure

MODULES = {"dsprites": dsprites, "shapes3d": shapes3d}
MAX_SWEEP = 10


def _read_rows(images: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    order = np.argsort(rows)
    out = np.empty((len(rows),) + images.shape[1:], dtype=images.dtype)
    out[order] = images[np.asarray(rows)[order]]
    return out


def sweep_classes(base: np.ndarray, sizes: list[int], factor: int) -> np.ndarray:
    """``base`` repeated with ``factor`` stepping through up to MAX_SWEEP evenly spaced classes."""
    steps = np.unique(np.round(np.linspace(0, sizes[factor] - 1, min(sizes[factor], MAX_SWEEP))).astype(int))
    classes = np.repeat(base[None], len(steps), axis=0)
    classes[:, factor] = steps
    return classes


def preview_data(path, n_samples: int = 16, seed: int = 0, base: np.ndarray | None = None) -> dict:
    """Samples and per-factor sweeps (uint8 images) of a canonical dataset file (sweeps around ``base``)."""
    with h5py.File(path, "r") as f:
        name = str(f.attrs["name"])
        mod = MODULES[name]
        sizes = [int(s) for s in f.attrs["factor_sizes"]]
        names = [str(s) for s in f.attrs["factor_names"]]
        index = f["index"][:]
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(index), size=min(n_samples, len(index)), replace=False))
        samples = _read_rows(f["images"], rows)
        base = f["factors"][int(rows[len(rows) // 2])] if base is None else np.asarray(base, dtype=np.int64)
        sweeps = []
        for j in range(len(sizes)):
            classes = sweep_classes(base, sizes, j)
            grid = classes @ mod.STRIDES
            pos = np.searchsorted(index, grid).clip(max=len(index) - 1)
            if np.array_equal(index[pos], grid):
                imgs = _read_rows(f["images"], pos)
            elif str(f.attrs["source"]) == "procedural":
                imgs = mod.render(classes)
            else:
                imgs = None
            sweeps.append((names[j], classes[:, j], imgs))
        return {"name": name, "source": str(f.attrs["source"]), "samples": samples, "sweeps": sweeps,
                "description": str(f.attrs["description"])}  # fmt: skip


def _show(ax, img):
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def figure_dataset_preview(path, n_samples: int = 16, seed: int = 0) -> Figure:
    data = preview_data(path, n_samples, seed)
    n_rows = 2 + len(data["sweeps"])
    cols = max(MAX_SWEEP, n_samples // 2)
    fig = new_figure(figsize=(1.25 * cols + 1.6, 1.3 * n_rows + 0.9))
    grid = fig.add_gridspec(n_rows, cols, wspace=0.06, hspace=0.28)
    for i, img in enumerate(data["samples"][: 2 * cols]):
        _show(fig.add_subplot(grid[i // cols, i % cols]), img)
    for r, (factor, steps, imgs) in enumerate(data["sweeps"], start=2):
        if imgs is None:
            ax = fig.add_subplot(grid[r, :])
            ax.axis("off")
            ax.text(0.0, 0.5, f"{factor}: sweep not in this file", fontsize=9)
            continue
        for c, (img, step) in enumerate(zip(imgs, steps)):
            ax = fig.add_subplot(grid[r, c])
            _show(ax, img)
            ax.set_title(f"{step}", fontsize=7, pad=2)
            if c == 0:
                ax.set_ylabel(factor, fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle(
        f"{dataset_label(data['name'])} ({data['source']}): random samples (top two rows), then one factor swept "
        "per row (class index above each image)",
        fontsize=11,
    )
    return fig
