"""The dataset on the device (issue 22): only the rows a job uses are read, batches and evaluation images are the
same as with the old whole-file load (read_dataset, then NCHW), and a damaged file still fails naming the problem."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest
import torch

from vaesae.data import canonical
from vaesae.data import device as device_module
from vaesae.data.canonical import DatasetError, open_dataset, read_dataset, row_blocks, take_rows
from vaesae.data.device import load_device_data
from vaesae.data.generate import make_procedural
from vaesae.data.splits import make_splits

SPLIT = dict(val_fraction=0.2, shapes3d_n_val=80000)
N = {"dsprites": 1500, "shapes3d": 1200}
N_EVAL = 150


@pytest.fixture(scope="module", params=["dsprites", "shapes3d"])
def dataset_file(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("device") / f"{request.param}.h5"
    make_procedural(request.param, path, subset=N[request.param], subset_seed=1, progress=False)
    return path


def reference(path, seed):
    """The pre-issue-22 path: the whole file, NCHW, splits indexing it."""
    ds = read_dataset(path)
    train, _, evals = make_splits(ds.name, len(ds.images), seed=seed, n_eval=N_EVAL, **SPLIT)
    return ds, torch.from_numpy(ds.images).permute(0, 3, 1, 2).contiguous(), torch.as_tensor(train), evals


@pytest.fixture(params=[None, 1], ids=["one-block", "block-per-chunk"])
def block_bytes(request, monkeypatch):
    """The real block size (the whole small file in one block) and the smallest (one 256-image chunk a block)."""
    if request.param is not None:
        monkeypatch.setattr(canonical, "BLOCK_BYTES", request.param)


def test_train_batches_and_eval_images_are_the_old_ones(dataset_file, block_bytes):
    seed, bs = 3, 64
    ds, ref_images, ref_train, ref_eval = reference(dataset_file, seed)
    data = load_device_data(str(dataset_file), seed, n_eval=N_EVAL, device=torch.device("cpu"), **SPLIT)
    assert data.part == "train" and data.n_train == len(ref_train) == len(data.train_idx)
    assert len(data.images) == len(ref_train) + N_EVAL < len(ds.images)  # the validation rows past n_eval: not read
    assert data.images.shape[1:] == (64, 64, ds.images.shape[3]) and data.images.dtype == torch.uint8
    assert data.channels == ds.images.shape[3] and data.name == ds.name and data.factor_names == ds.factor_names
    assert data.source == ds.source and data.description == ds.description
    assert np.array_equal(data.rows[data.train_idx.numpy()], ref_train.numpy())
    assert np.array_equal(data.rows[data.eval_idx.numpy()], ref_eval)
    np.testing.assert_array_equal(data.images.numpy(), ds.images[data.rows])
    np.testing.assert_array_equal(data.factors, ds.factors[data.rows])
    # the training loop's draw: the same permutation of train_idx gives the same images, byte for byte
    order = torch.randperm(len(ref_train), generator=torch.Generator().manual_seed(0))
    perm, ref_perm = data.train_idx[order], ref_train[order]
    for step in range(len(order) // bs):
        x = data.batch(perm[step * bs : (step + 1) * bs])
        ref = ref_images[ref_perm[step * bs : (step + 1) * bs]].float().div_(255.0)
        assert x.dtype == torch.float32 and x.shape == ref.shape and x.stride() == ref.stride() and x.is_contiguous()
        assert x.numpy().tobytes() == ref.numpy().tobytes()
    ev = data.eval_images()
    assert ev.dtype == torch.uint8 and ev.is_contiguous() and ev.stride() == ref_images[:1].stride()
    assert torch.equal(ev, ref_images[torch.as_tensor(ref_eval)])
    np.testing.assert_array_equal(data.eval_factors(), ds.factors[ref_eval])


def test_eval_part_reads_only_the_evaluation_set(dataset_file, block_bytes, monkeypatch):
    seed = 5
    ds, ref_images, _, ref_eval = reference(dataset_file, seed)
    asked = []
    monkeypatch.setattr(canonical, "take_rows", lambda d, rows: asked.append((d.name, len(rows))) or take_rows(d, rows))
    data = load_device_data(str(dataset_file), seed, n_eval=N_EVAL, device=torch.device("cpu"), part="eval", **SPLIT)
    assert asked == [("/factors", N_EVAL), ("/images", N_EVAL)]  # the evaluation rows only
    assert data.part == "eval" and data.n_train == 0 and len(data.images) == len(data.factors) == N_EVAL
    assert np.array_equal(data.rows, ref_eval) and torch.equal(data.eval_idx, torch.arange(N_EVAL))
    ev = data.eval_images()
    assert ev.dtype == torch.uint8 and ev.is_contiguous() and ev.shape == (N_EVAL, ds.images.shape[3], 64, 64)
    assert ev.stride() == ref_images[:1].stride()
    assert torch.equal(ev, ref_images[torch.as_tensor(ref_eval)])
    np.testing.assert_array_equal(data.eval_factors(), ds.factors[ref_eval])
    # the evaluation set is the training job's: same rows, same images
    train = load_device_data(str(dataset_file), seed, n_eval=N_EVAL, device=torch.device("cpu"), **SPLIT)
    assert torch.equal(train.eval_images(), ev) and np.array_equal(train.eval_factors(), data.eval_factors())


@pytest.mark.parametrize("chunks", [None, (7, 3), (1000, 3)], ids=["contiguous", "chunk7", "chunk1000"])
def test_take_rows_is_fancy_indexing(tmp_path, monkeypatch, chunks):
    monkeypatch.setattr(canonical, "BLOCK_BYTES", 100 * 3 * 8)  # blocks of about 100 rows: some full, some skipped
    data = np.random.default_rng(0).normal(size=(1000, 3))
    with h5py.File(tmp_path / "a.h5", "w") as f:
        dset = f.create_dataset("a", data=data, chunks=chunks)
        rng = np.random.default_rng(1)
        for rows in (np.arange(1000), np.arange(150, 420), np.sort(rng.choice(1000, 37, replace=False)),
                     np.r_[np.arange(0, 300), np.sort(rng.choice(np.arange(600, 1000), 50, replace=False))],
                     np.array([999]), np.zeros(0, np.int64)):  # fmt: skip
            np.testing.assert_array_equal(take_rows(dset, rows), data[rows])
        np.testing.assert_array_equal(take_rows(dset, None), data)
        for bad in ([3, 2], [1, 1], [-1, 4], [5, 1000]):
            with pytest.raises(ValueError, match="sorted distinct row numbers in 0..999"):
                take_rows(dset, np.array(bad))


def test_row_blocks_without_out_reuse_one_buffer(tmp_path, monkeypatch):
    monkeypatch.setattr(canonical, "BLOCK_BYTES", 64 * 8)  # blocks of 64 rows
    data = np.arange(1000, dtype=np.int64)
    rows = np.r_[np.arange(64, 128), np.arange(300, 700, 7)]  # one full block, then partial ones
    with h5py.File(tmp_path / "a.h5", "w") as f:
        dset = f.create_dataset("a", data=data, chunks=(16,))
        got, buffers = np.zeros(len(rows), np.int64), set()
        for lo, hi, block in row_blocks(dset, rows):
            got[lo:hi] = block
            buffers.add(block.__array_interface__["data"][0])
    assert np.array_equal(got, rows) and len(buffers) == 1


@pytest.mark.parametrize("part", ["train", "eval"])
def test_streamed_to_the_device_block_by_block_is_the_same(dataset_file, monkeypatch, part):
    """Off the CPU, images go to the device block by block; forced here on the CPU: the same tensors."""
    kw = dict(n_eval=N_EVAL, device=torch.device("cpu"), part=part, **SPLIT)
    whole = load_device_data(str(dataset_file), 2, **kw)
    monkeypatch.setattr(canonical, "BLOCK_BYTES", 1)  # a block per chunk, most of them partial
    monkeypatch.setattr(device_module, "_streams", lambda device: True)
    whole_arrays = []
    monkeypatch.setattr(canonical, "take_rows", lambda d, rows: whole_arrays.append(d.name) or take_rows(d, rows))
    streamed = load_device_data(str(dataset_file), 2, **kw)
    assert whole_arrays == ["/factors"]  # the images never in one host array
    assert torch.equal(streamed.images, whole.images) and np.array_equal(streamed.rows, whole.rows)
    assert torch.equal(streamed.train_idx, whole.train_idx) and torch.equal(streamed.eval_idx, whole.eval_idx)


def test_part_must_be_train_or_eval(dataset_file):
    with pytest.raises(ValueError, match="part must be one of"):
        load_device_data(str(dataset_file), 0, n_eval=N_EVAL, device=torch.device("cpu"), part="val", **SPLIT)


DAMAGES = [
    ("missing", "does not exist"), ("not_hdf5", "not an HDF5 file"), ("truncated", "cannot be opened .truncated"),
    ("no_key", "has no 'factors' array"), ("no_attr", "has no 'n_total' attribute"),
    ("images_dtype", "'images' must be uint8"), ("factors_dtype", "'factors' must be int64, got int32"),
    ("index_shape", "'index' must be integer with shape"), ("range", "outside factor_sizes"),
]  # fmt: skip


def damage(path, how):
    if how == "missing":
        path.unlink()
    elif how == "not_hdf5":
        path.write_bytes(b"<html>404 Not Found</html>")
    elif how == "truncated":
        os.truncate(path, os.path.getsize(path) // 2)
    else:
        with h5py.File(path, "a") as f:
            if how == "no_key":
                del f["factors"]
            elif how == "no_attr":
                del f.attrs["n_total"]
            elif how == "range":
                f["factors"][:, 0] = 99  # every row: whichever rows are read
            else:
                key, fix = {"images_dtype": ("images", lambda a: a.astype(np.float32)),
                            "factors_dtype": ("factors", lambda a: a.astype(np.int32)),
                            "index_shape": ("index", lambda a: a[:-1])}[how]  # fmt: skip
                data = fix(f[key][:])
                del f[key]
                f[key] = data


@pytest.mark.parametrize("how, message", DAMAGES, ids=[d[0] for d in DAMAGES])
@pytest.mark.parametrize("reader", ["read_dataset", "train", "eval"])
def test_damaged_file_fails_naming_it_and_the_problem(tmp_path, how, message, reader):
    path = tmp_path / "d.h5"
    make_procedural("dsprites", path, subset=600, progress=False)
    damage(path, how)
    with pytest.raises(DatasetError, match=message) as err:
        if reader == "read_dataset":
            read_dataset(path)
        else:
            load_device_data(str(path), 0, n_eval=50, device=torch.device("cpu"), part=reader, **SPLIT)
    assert str(path) in str(err.value)


def test_unreadable_rows_fail_naming_the_file(tmp_path):
    path = tmp_path / "d.h5"
    make_procedural("dsprites", path, subset=600, progress=False)
    with h5py.File(path, "a") as f:  # a filtered (gzip) copy of the images, then its second chunk overwritten
        data = f["images"][:]
        del f["images"]
        f.create_dataset("images", data=data, chunks=(256, 64, 64, 1), compression="gzip")
        offset = f["images"].id.get_chunk_info(1).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 64)
    with open_dataset(path) as f:
        assert len(f) == 600 and f.name == "dsprites"
        with pytest.raises(DatasetError, match=r"'images' cannot be read \(truncated or corrupt\?\)") as err:
            f.read_rows("images", np.array([300]))
    assert str(path) in str(err.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_equal_cpu(dataset_file):
    cpu = load_device_data(str(dataset_file), 0, n_eval=N_EVAL, device=torch.device("cpu"), **SPLIT)
    gpu = load_device_data(str(dataset_file), 0, n_eval=N_EVAL, device=torch.device("cuda"), **SPLIT)
    idx = cpu.train_idx[torch.randperm(cpu.n_train)[:256]]
    x = gpu.batch(idx.cuda())
    assert x.is_cuda and x.is_contiguous() and torch.equal(x.cpu(), cpu.batch(idx))
    assert torch.equal(gpu.eval_images().cpu(), cpu.eval_images())
