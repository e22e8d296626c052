"""Dataset preview figure: samples and single-factor sweeps from a canonical file."""

import numpy as np

from vaesae.data import dsprites, shapes3d
from vaesae.data.generate import make_procedural
from vaesae.report.preview import figure_dataset_preview, preview_data
from vaesae.report.style import save_figure


def test_preview_sweeps_change_one_factor(tmp_path):
    path = tmp_path / "s.h5"
    make_procedural("shapes3d", path, subset=200, subset_seed=1, progress=False)
    data = preview_data(path, n_samples=8)
    assert data["samples"].shape == (8, 64, 64, 3)
    assert [name for name, _, _ in data["sweeps"]] == shapes3d.FACTOR_NAMES
    for j, (name, steps, imgs) in enumerate(data["sweeps"]):
        assert len(steps) == min(shapes3d.FACTOR_SIZES[j], 10) and len(imgs) == len(steps)
        assert len(np.unique(imgs.reshape(len(imgs), -1), axis=0)) == len(imgs), name  # each step looks different
    png, pdf = save_figure(figure_dataset_preview(path, n_samples=8), tmp_path / "p.png")
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.stat().st_size > 1000


def test_preview_reads_sweeps_from_the_file(tmp_path, monkeypatch):
    from conftest import write_dataset
    from vaesae.report.preview import sweep_classes

    base = np.array([1, 2, 7, 5, 9])
    classes = np.unique(np.concatenate([sweep_classes(base, dsprites.FACTOR_SIZES, j) for j in range(5)]), axis=0)
    classes = classes[np.argsort(classes @ dsprites.STRIDES)]
    path = tmp_path / "d.h5"
    write_dataset(path, images=dsprites.render(classes), factors=classes, factor_values=dsprites.factor_values(classes),
                  index=classes @ dsprites.STRIDES, name="dsprites", factor_names=dsprites.FACTOR_NAMES,
                  factor_sizes=dsprites.FACTOR_SIZES, source="download", description="test", n_total=737280)  # fmt: skip
    monkeypatch.setattr(dsprites, "render", lambda *_: (_ for _ in ()).throw(AssertionError("rendered")))
    data = preview_data(path, n_samples=4, base=base)  # every sweep is in the file: read, never re-rendered
    for j, (_, steps, imgs) in enumerate(data["sweeps"]):
        assert imgs is not None and len(imgs) == len(steps)
        assert np.all(sweep_classes(base, dsprites.FACTOR_SIZES, j)[:, j] == steps)
    data = preview_data(path, n_samples=4, base=np.array([0, 0, 0, 0, 0]))  # not in a non-procedural file
    assert any(imgs is None for _, _, imgs in data["sweeps"])
