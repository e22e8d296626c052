"""Datasets: canonical layout and its errors, procedural renderers, splits, the generate entry point."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from vaesae.data import dsprites, shapes3d
from vaesae.data.canonical import DatasetError, read_dataset
from vaesae.data.generate import grid_classes, main as generate_main, make_procedural
from vaesae.data.splits import make_splits

from conftest import write_dataset


def small_arrays(n=6):
    rng = np.random.default_rng(0)
    return dict(
        images=rng.integers(0, 256, (n, 64, 64, 1), dtype=np.uint8),
        factors=np.stack([np.arange(n) % 3, np.arange(n) % 2], 1).astype(np.int64),
        factor_values=np.zeros((n, 2)),
        index=np.arange(n, dtype=np.int64),
        name="dsprites",
        factor_names=["a", "b"],
        factor_sizes=[3, 2],
        source="procedural",
        description="test",
        n_total=n,
    )


def test_round_trip(tmp_path):
    arrays = small_arrays()
    write_dataset(tmp_path / "d.h5", **arrays)
    ds = read_dataset(tmp_path / "d.h5")
    assert np.array_equal(ds.images, arrays["images"]) and np.array_equal(ds.factors, arrays["factors"])
    assert ds.factor_names == ["a", "b"] and ds.factor_sizes == [3, 2] and ds.source == "procedural"


def test_bad_arrays_raise_and_leave_nothing(tmp_path):
    arrays = small_arrays()
    arrays["factors"] = arrays["factors"] + 5
    with pytest.raises(DatasetError, match="outside factor_sizes"):
        write_dataset(tmp_path / "d.h5", **arrays)
    arrays = small_arrays()
    arrays["images"] = arrays["images"].astype(np.float32)
    with pytest.raises(DatasetError, match="'images' must be uint8"):
        write_dataset(tmp_path / "d.h5", **arrays)
    arrays = small_arrays()
    arrays["factor_names"] = ["a"]
    with pytest.raises(DatasetError, match="1 factor_names but 2 factor_sizes"):
        write_dataset(tmp_path / "d.h5", **arrays)
    arrays = small_arrays()
    arrays["index"] = arrays["index"][:3]
    with pytest.raises(DatasetError, match="'index' must be integer with shape"):
        write_dataset(tmp_path / "d.h5", **arrays)
    assert list(tmp_path.iterdir()) == []  # no partial or temporary file


@pytest.mark.parametrize("damage, message", [
    ("missing", "does not exist"), ("not_hdf5", "not an HDF5 file"), ("no_key", "has no 'factors' array"),
    ("dtype", "'images' must be uint8"), ("range", "outside factor_sizes"), ("no_attr", "has no 'n_total' attribute"),
    ("factors_dtype", "'factors' must be int64, got int32"), ("values_dtype", "'factor_values' must be float64"),
])  # fmt: skip
def test_read_dataset_errors_name_the_problem(tmp_path, damage, message):
    path = tmp_path / "d.h5"
    write_dataset(path, **small_arrays())
    if damage == "missing":
        path.unlink()
    elif damage == "not_hdf5":
        path.write_bytes(b"<html>404 Not Found</html>")
    else:
        with h5py.File(path, "a") as f:
            if damage == "no_key":
                del f["factors"]
            elif damage == "dtype":
                data = f["images"][:].astype(np.float32)
                del f["images"]
                f["images"] = data
            elif damage == "no_attr":
                del f.attrs["n_total"]
            elif damage in ("factors_dtype", "values_dtype"):
                key = "factors" if damage == "factors_dtype" else "factor_values"
                data = f[key][:].astype(np.int32 if key == "factors" else np.float32)
                del f[key]
                f[key] = data
            else:
                f["factors"][0, 0] = 99
    with pytest.raises(DatasetError, match=message) as err:
        read_dataset(path)
    assert str(path) in str(err.value)


def test_dsprites_factor_values_and_order(tmp_path):
    classes = grid_classes(np.array([0, 1, 32, 1024, 40960, 245760, 737279]), dsprites.FACTOR_SIZES)
    assert classes.tolist()[:6] == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0],
                                    [0, 1, 0, 0, 0], [1, 0, 0, 0, 0]]  # fmt: skip
    assert classes[-1].tolist() == [2, 5, 39, 31, 31]
    assert np.array_equal(classes @ dsprites.STRIDES, [0, 1, 32, 1024, 40960, 245760, 737279])
    values = dsprites.factor_values(classes)
    assert values[-1].tolist() == pytest.approx([3.0, 1.0, 2 * np.pi, 1.0, 1.0])
    assert values[4, 1] == pytest.approx(0.6)
    make_procedural("dsprites", tmp_path / "d.h5", subset=300, subset_seed=3, progress=False)
    ds = read_dataset(tmp_path / "d.h5")
    assert np.array_equal(ds.factors @ dsprites.STRIDES, ds.index) and np.all(np.diff(ds.index) > 0)
    assert np.array_equal(ds.images, dsprites.render(ds.factors))


def _extent(img):
    ys, xs = np.nonzero(img[..., 0])
    return ys.min(), ys.max(), xs.min(), xs.max()


def test_dsprites_geometry_binary_and_distinct():
    big = dsprites.render(np.array([[s, 5, 0, 16, 16] for s in range(3)]))
    assert set(np.unique(big)) == {0, 255}
    for img in big:  # centred on the canvas: posX = posY = class 16 -> px 32.0
        y0, y1, x0, x1 = _extent(img)
        assert abs((y0 + y1) / 2 - 32) <= 2 and abs((x0 + x1) / 2 - 32) <= 2
    # sizes at scale 1 as measured on the real images (tests/test_dsprites_shapes.py): square 19.2 px a side
    # (≈ 369 px²), ellipse 25.6 × 14.4 px (≈ 290 px²), heart ≈ 227 px²
    y0, y1, x0, x1 = _extent(big[0])
    assert (y1 - y0 + 1, x1 - x0 + 1) == (19, 19)
    areas = (big[..., 0] > 0).sum(axis=(1, 2))
    assert abs(areas[0] - 369) <= 10 and abs(areas[1] - 290) <= 10 and abs(areas[2] - 227) <= 10
    y0, y1, x0, x1 = _extent(big[1])
    assert 14 <= y1 - y0 + 1 <= 16 and 25 <= x1 - x0 + 1 <= 27  # ellipse ≈ 1 : 1.8, lying along x at orientation 0
    small = dsprites.render(np.array([[0, 0, 0, 16, 16]]))  # scale 0.5 halves the square: 9.6 px, 9 or 10 pixels
    assert _extent(small[0])[1] - _extent(small[0])[0] + 1 in (9, 10)
    corners = dsprites.render(np.array([[0, 0, 0, 0, 0], [0, 0, 0, 31, 31]]))
    assert np.mean(_extent(corners[0])[:2]) == 15.5 and np.mean(_extent(corners[1])[:2]) == 47.5
    assert _extent(corners[1])[3] - _extent(corners[0])[3] == 32  # posX moves the centre from column 15.5 to 47.5
    # every (shape, scale, orientation) sprite is distinct; orientation 0 and 2π coincide, as in the real set
    cl = np.array(np.meshgrid(range(3), range(6), range(40), [10], [21], indexing="ij")).reshape(5, -1).T
    flat = dsprites.render(cl).reshape(len(cl), -1)
    assert len({img.tobytes() for img in flat[cl[:, 2] < 39]}) == 3 * 6 * 39
    assert np.array_equal(flat[cl[:, 2] == 0], flat[cl[:, 2] == 39])
    # no sprite is a shifted copy of another, so images at different positions differ too
    crops = set()
    for m in dsprites.sprites()[:, :, :39].reshape(-1, dsprites.PATCH, dsprites.PATCH):
        ys, xs = np.nonzero(m)
        crops.add((m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].tobytes(), int(np.ptp(ys)), int(np.ptp(xs))))
    assert len(crops) == 3 * 6 * 39
    rng = np.random.default_rng(1)  # and a random sample of whole images, positions included
    sample = np.unique(np.stack([rng.integers(0, s, 20000) for s in dsprites.FACTOR_SIZES], 1), axis=0)
    sample = sample[sample[:, 2] < 39]
    assert len({img.tobytes() for img in dsprites.render(sample)}) == len(sample)


def _region(classes, factor, a, b):
    c0, c1 = np.array([classes]), np.array([classes])
    c0[0, factor], c1[0, factor] = a, b
    return np.any(shapes3d.render(c0)[0] != shapes3d.render(c1)[0], axis=-1)


@pytest.mark.parametrize("orientation", [1, 7, 13])  # the room corner in view on the left, none, on the right
def test_shapes3d_each_factor_changes_only_its_part(orientation):
    regions, _ = shapes3d.backgrounds()
    o = orientation
    base = [2, 5, 7, 4, 0, o]
    masks, _, shadows = shapes3d.objects()
    obj, shadow = masks[4, 0, o], shadows[4, 0, o]
    floor = (regions[o] == shapes3d.REGION_FLOOR) & ~obj
    walls = np.isin(regions[o], [shapes3d.REGION_BACK, shapes3d.REGION_SIDE]) & ~obj
    assert shadow.any() and not np.any(shadow & ~floor)  # the shadow lies on the floor
    changed = _region(base, 0, 2, 6)  # floor hue
    assert changed.any() and np.array_equal(changed, floor)
    changed = _region(base, 1, 5, 1)  # wall hue
    assert changed.any() and np.array_equal(changed, walls)
    changed = _region(base, 2, 7, 3)  # object hue
    assert changed.any() and np.array_equal(changed, obj)
    for shape in (1, 2, 3):  # shape: object and shadow only
        changed = _region(base, 4, 0, shape)
        other = masks[4, shape, o] | shadows[4, shape, o]
        assert changed.any() and not np.any(changed & ~(obj | shadow | other))
    assert _region(base, 5, o, (o + 5) % 15).any() and _region(base, 3, 0, 7).any()
    img = shapes3d.render(np.array([base]))[0]
    assert np.array_equal(img[2, 32], np.round(shapes3d.SKY * 255).astype(np.uint8))  # sky band on top


def test_shapes3d_scene_layout():
    """Sky over ~14 rows, walls down to ~row 39, floor below, object centred; the corner swings with orientation."""
    regions, light = shapes3d.backgrounds()
    centre = regions[7, :, 32]
    wall_rows = np.nonzero(centre == shapes3d.REGION_BACK)[0]
    assert 12 <= wall_rows[0] <= 16 and 37 <= wall_rows[-1] <= 41
    assert np.all(centre[: wall_rows[0]] == shapes3d.REGION_SKY) and np.all(centre[wall_rows[-1] + 1 :] == 3)
    assert not np.any(regions[7] == shapes3d.REGION_SIDE)  # looking straight at the back wall
    at_minus30 = np.nonzero(np.any(regions[0] == shapes3d.REGION_SIDE, axis=0))[0]
    at_plus30 = np.nonzero(np.any(regions[14] == shapes3d.REGION_SIDE, axis=0))[0]
    assert at_minus30.min() >= 40 and at_minus30.max() == 63  # the corner at the right at -30°, mirrored at +30°
    assert at_plus30.min() == 0 and at_plus30.max() <= 24
    assert np.all(light[regions == shapes3d.REGION_BACK] == 1.0)  # walls at HSV(hue, 1, 1), side walls darker
    assert np.all(light[regions == shapes3d.REGION_SIDE] < 0.8)
    masks, shades, shadows = shapes3d.objects()
    for s in range(4):
        ys, xs = np.nonzero(masks[4, s, 7])
        assert abs((xs.min() + xs.max()) / 2 - 31.5) <= 1 and 48 <= ys.max() <= 56  # centred, standing on the floor
        sy, sx = np.nonzero(shadows[4, s, 7])
        assert sx.mean() > xs.mean() and sy.mean() > ys.mean()  # shadow to the lower right
    width = [np.ptp(np.nonzero(masks[i, 0, 7])[1]) + 1 for i in range(8)]
    assert np.all(np.diff(width) >= 0) and 15 <= width[0] <= 18 and 24 <= width[-1] <= 29  # cube grows with scale
    img = shapes3d.render(np.array([[0, 0, 0, sc, sh, o] for sc in range(8) for sh in range(4) for o in range(15)]))
    assert len({im.tobytes() for im in img}) == 480  # every (scale, shape, orientation) looks different


def test_shapes3d_order_and_values():
    classes = grid_classes(np.array([0, 1, 15, 60, 480, 4800, 48000, 479999]), shapes3d.FACTOR_SIZES)
    assert np.array_equal(classes @ shapes3d.STRIDES, [0, 1, 15, 60, 480, 4800, 48000, 479999])
    values = shapes3d.factor_values(classes)
    assert values[-1].tolist() == pytest.approx([0.9, 0.9, 0.9, 1.25, 3.0, 30.0])
    assert values[0].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.75, 0.0, -30.0])


def test_splits_are_seeded_disjoint_and_sized():
    tr, va, ev = make_splits("dsprites", 1000, seed=4, val_fraction=0.2, shapes3d_n_val=80000, n_eval=50)
    assert len(tr) == 800 and len(va) == 200 and len(ev) == 50
    assert not set(tr) & set(va) and set(ev) <= set(va)
    again = make_splits("dsprites", 1000, seed=4, val_fraction=0.2, shapes3d_n_val=80000, n_eval=50)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, ev), again))
    other = make_splits("dsprites", 1000, seed=5, val_fraction=0.2, shapes3d_n_val=80000, n_eval=50)
    assert not np.array_equal(ev, other[2])
    tr, va, _ = make_splits("shapes3d", 480000, seed=0, val_fraction=0.2, shapes3d_n_val=80000, n_eval=10000)
    assert (len(tr), len(va)) == (400000, 80000)
    with pytest.raises(ValueError, match="no validation"):
        make_splits("dsprites", 2, seed=0, val_fraction=0.2, shapes3d_n_val=80000, n_eval=10)


def test_generate_cli(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert generate_main(["--dataset", "shapes3d", "--out", str(out), "--params", '{"subset": 50}']) == 0
    ds = read_dataset(out)
    assert ds.images.shape == (50, 64, 64, 3) and "look-alike" in ds.description and ds.n_total == 480000
    assert generate_main(["--dataset", "mnist", "--out", str(tmp_path / "m.h5")]) == 1
    assert "unknown dataset 'mnist'" in capsys.readouterr().err
    copy = tmp_path / "copy.h5"
    assert generate_main(["--dataset", "shapes3d", "--out", str(copy), "--params",
                          f'{{"source": "path", "path": "{out}"}}']) == 0  # fmt: skip
    assert read_dataset(copy).images.shape == (50, 64, 64, 3)
    assert generate_main(["--dataset", "dsprites", "--out", str(copy), "--params",
                          f'{{"source": "path", "path": "{out}"}}']) == 1  # fmt: skip
    assert "holds dataset 'shapes3d'" in capsys.readouterr().err
    assert generate_main(["--dataset", "dsprites", "--out", str(tmp_path / "x.h5"), "--params",
                          '{"source": "download", "download": {"md5": null}}']) == 1  # fmt: skip
    assert "data.download.dsprites.url is not set" in capsys.readouterr().err
    assert generate_main(["--dataset", "dsprites", "--out", str(tmp_path / "x.h5"), "--params",
                          '{"source": "download", "subset": 10}']) == 1  # fmt: skip
    assert "data.subset applies to data.source: procedural only" in capsys.readouterr().err
    assert not (tmp_path / "x.h5").exists()


def test_generate_download_and_path_sources(tmp_path, capsys):
    """The dataset entry point on the real code path: file:// download, checksum, conversion; a user's own file."""
    import json

    from test_download import sha, write_dsprites_npz

    npz = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    write_dsprites_npz(npz)
    good = {"url": npz.as_uri(), "md5": None, "sha256": sha(npz)}
    params = {"source": "download", "download": good, "raw_dir": str(tmp_path / "raw")}
    assert generate_main(["--dataset", "dsprites", "--out", str(tmp_path / "d.h5"), "--params", json.dumps(params)]) == 0
    ds = read_dataset(tmp_path / "d.h5")
    assert ds.source == "download" and ds.checksum == good["sha256"] and ds.images.shape[1:] == (64, 64, 1)
    assert np.array_equal(ds.factors @ dsprites.STRIDES, ds.index)
    assert (tmp_path / "raw" / npz.name).exists()  # the original is kept for the next run
    bad = dict(params, download=dict(good, sha256="0" * 64))
    assert generate_main(["--dataset", "dsprites", "--out", str(tmp_path / "bad.h5"), "--params", json.dumps(bad)]) == 1
    assert "0" * 64 in capsys.readouterr().err and not (tmp_path / "bad.h5").exists()
    own = {"source": "path", "path": str(npz), "download": good}
    assert generate_main(["--dataset", "dsprites", "--out", str(tmp_path / "own.h5"), "--params", json.dumps(own)]) == 0
    assert read_dataset(tmp_path / "own.h5").source == "path"
    wrong = dict(own, download=dict(good, sha256="f" * 64))
    assert generate_main(["--dataset", "dsprites", "--out", str(tmp_path / "w.h5"), "--params", json.dumps(wrong)]) == 1
    assert "f" * 64 in capsys.readouterr().err and not (tmp_path / "w.h5").exists()
