"""Checksummed downloads and conversion of the original dataset files, against small files in the real formats.

A local ThreadingHTTPServer (and file:// URLs) stands in for the real hosts; no test touches the network.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import io
import pickle
import socket
import struct
import threading
import time
import urllib.request

import h5py
import numpy as np
import pytest

from vaesae.data import dsprites, shapes3d
from vaesae.data.canonical import DatasetError, read_dataset
from vaesae.data.convert import convert, convert_dsprites_npz, convert_shapes3d_h5
from vaesae.data.download import NO_NETWORK_HINT, DownloadError, fetch, file_digest, verify

N_ROWS = 300


# ------------------------------------------------------------------------------------------------ real-format files


def dsprites_rows(n: int = N_ROWS, seed: int = 0):
    """Grid rows in the real order: 6-column classes (color first) and the real latent values."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(dsprites.N_TOTAL, size=n, replace=False)).astype(np.int64)
    classes = np.stack(np.unravel_index(index, [1, *dsprites.FACTOR_SIZES]), axis=1).astype(np.int64)
    values = np.stack(
        [
            np.ones(n),
            classes[:, 1] + 1.0,
            dsprites.SCALES[classes[:, 2]],
            dsprites.ORIENTATIONS[classes[:, 3]],
            dsprites.POSITIONS[classes[:, 4]],
            dsprites.POSITIONS[classes[:, 5]],
        ],
        axis=1,
    )
    return index, classes, values


def write_dsprites_npz(path, *, drop: str | None = None, shuffle: bool = False):
    index, classes, values = dsprites_rows()
    imgs = (dsprites.render(classes[:, 1:])[..., 0] // 255).astype(np.uint8)  # {0, 1} like the real file
    if shuffle:
        perm = np.random.default_rng(1).permutation(len(index))
        imgs, classes, values = imgs[perm], classes[perm], values[perm]
    arrays = {
        "imgs": imgs,
        "latents_values": values,
        "latents_classes": classes,
        "metadata": np.array(
            {"description": "a pickled dict, as in the real file", "latents_sizes": [1, 3, 6]}, object
        ),
    }
    arrays.pop(drop, None)
    np.savez_compressed(path, **arrays)
    return index, classes, values, imgs


SHAPES3D_HUES = np.linspace(0.0, 1.0, 10, endpoint=False)  # how the release spells 0.0 … 0.9


def write_shapes3d_h5(path, *, drop: str | None = None, off_grid: bool = False):
    rng = np.random.default_rng(2)
    index = np.sort(rng.choice(shapes3d.N_TOTAL, size=N_ROWS, replace=False)).astype(np.int64)
    classes = np.stack(np.unravel_index(index, shapes3d.FACTOR_SIZES), axis=1).astype(np.int64)
    labels = np.stack(
        [
            SHAPES3D_HUES[classes[:, 0]],
            SHAPES3D_HUES[classes[:, 1]],
            SHAPES3D_HUES[classes[:, 2]],
            np.linspace(0.75, 1.25, 8)[classes[:, 3]],
            classes[:, 4].astype(np.float64),
            np.linspace(-30, 30, 15)[classes[:, 5]],
        ],
        axis=1,
    )
    if off_grid:
        labels[7, 3] += 0.01
    images = rng.integers(0, 256, size=(N_ROWS, 64, 64, 3), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        if drop != "images":
            f.create_dataset("images", data=images, chunks=(1, 64, 64, 3), compression="gzip")
        if drop != "labels":
            f.create_dataset("labels", data=labels)
    return index, classes, labels, images


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("originals")
    out = {"dir": d}
    out["dsprites"] = d / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    out["dsprites_data"] = write_dsprites_npz(out["dsprites"])
    out["shapes3d"] = d / "3dshapes.h5"
    out["shapes3d_data"] = write_shapes3d_h5(out["shapes3d"])
    return out


# ------------------------------------------------------------------------------------------------------ the server


class Server:
    def __init__(self):
        self.routes: dict[str, tuple] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append(self.path)
                kind, *rest = server.routes.get(self.path, ("status", 404))
                if kind == "status":
                    self.send_error(rest[0])
                elif kind == "file":
                    body, ctype = rest
                    self.send_response(200)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif kind == "truncated":  # promise more than is sent, then close cleanly
                    (body,) = rest
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body) + 4096))
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                elif kind == "reset":  # send part of the body, then drop the connection with a TCP reset
                    (body,) = rest
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    time.sleep(0.3)  # the client has the headers and is blocked reading the body
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True

        class Quiet(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # the reset route's closed socket is expected
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def _server(files, request):
    srv = Server()
    request.addfinalizer(srv.close)
    npz, h5 = files["dsprites"].read_bytes(), files["shapes3d"].read_bytes()
    srv.routes.update(
        {
            "/dsprites.npz": ("file", npz, "application/octet-stream"),
            "/3dshapes.h5": ("file", h5, "application/x-hdf5"),
            "/truncated.npz": ("truncated", npz),
            "/reset.npz": ("reset", npz),
            "/login.html": ("file", b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html; charset=utf-8"),
            "/sneaky.npz": ("file", b"\n  \t<HTML><body>quota exceeded</body></HTML>", "application/octet-stream"),
            "/gone.npz": ("status", 404),
        }
    )
    return srv


@pytest.fixture
def server(_server):
    _server.requests.clear()
    return _server


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -------------------------------------------------------------------------------------------------- happy paths


def test_download_and_convert_dsprites(server, files, tmp_path):
    digest = sha(files["dsprites"])
    dest = fetch(server.url("/dsprites.npz"), tmp_path / "dl" / "dsprites.npz", sha256=digest, progress=False)
    assert dest == tmp_path / "dl" / "dsprites.npz"
    assert dest.read_bytes() == files["dsprites"].read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dsprites.npz"]  # no temporary file left
    assert server.requests == ["/dsprites.npz"]

    out = tmp_path / "dsprites.h5"
    convert("dsprites", dest, out, checksum=verify(dest, sha256=digest), chunk=64, progress=False)
    index, classes, values, imgs = files["dsprites_data"]
    ds = read_dataset(out)
    assert ds.name == "dsprites" and ds.source == "download" and ds.checksum == digest
    assert ds.factor_names == dsprites.FACTOR_NAMES and ds.factor_sizes == dsprites.FACTOR_SIZES
    assert ds.n_total == 737280 and ds.description == "dSprites (Matthey et al. 2017), converted from dsprites.npz"
    assert ds.images.shape == (N_ROWS, 64, 64, 1) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images[..., 0], imgs * 255)
    assert set(np.unique(ds.images)) == {0, 255}
    np.testing.assert_array_equal(ds.factors, classes[:, 1:])
    np.testing.assert_array_equal(ds.factor_values, values[:, 1:])
    np.testing.assert_array_equal(ds.index, index)
    np.testing.assert_array_equal(ds.factors @ dsprites.STRIDES, ds.index)
    np.testing.assert_allclose(ds.factor_values, dsprites.factor_values(ds.factors))


def test_download_and_convert_shapes3d_via_file_url(files, tmp_path):
    digest = sha(files["shapes3d"])
    dest = fetch(files["shapes3d"].as_uri(), tmp_path / "3dshapes.h5", sha256=digest, progress=False)
    out = tmp_path / "shapes3d.h5"
    convert_shapes3d_h5(dest, out, checksum=digest, chunk=70, progress=False)  # chunk does not divide N
    index, classes, labels, images = files["shapes3d_data"]
    ds = read_dataset(out)
    assert ds.name == "shapes3d" and ds.checksum == digest and ds.n_total == 480000
    assert ds.factor_names == shapes3d.FACTOR_NAMES and ds.factor_sizes == shapes3d.FACTOR_SIZES
    np.testing.assert_array_equal(ds.images, images)
    np.testing.assert_array_equal(ds.factors, classes)
    np.testing.assert_array_equal(ds.factor_values, labels)
    np.testing.assert_array_equal(ds.index, index)
    np.testing.assert_allclose(ds.factor_values, shapes3d.factor_values(ds.factors), atol=1e-12)


def test_existing_verified_file_is_reused_without_network(server, files, tmp_path):
    dest = tmp_path / "dsprites.npz"
    digest = sha(files["dsprites"])
    fetch(files["dsprites"].as_uri(), dest, sha256=digest, progress=False)
    mtime = dest.stat().st_mtime_ns
    assert fetch(server.url("/dsprites.npz"), dest, sha256=digest, progress=False) == dest
    md5 = hashlib.md5(dest.read_bytes()).hexdigest()
    assert fetch(f"http://127.0.0.1:{closed_port()}/x", dest, md5=md5, progress=False) == dest
    assert server.requests == []
    assert dest.stat().st_mtime_ns == mtime


def test_existing_corrupt_file_is_downloaded_again(server, files, tmp_path):
    dest = tmp_path / "dsprites.npz"
    dest.write_bytes(b"half a file")
    digest = sha(files["dsprites"])
    fetch(server.url("/dsprites.npz"), dest, sha256=digest, progress=False)
    assert server.requests == ["/dsprites.npz"] and sha(dest) == digest


def test_verify_accepts_md5_and_sha256(files):
    path = files["dsprites"]
    data = path.read_bytes()
    md5, sha256 = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    assert file_digest(path, "md5") == md5 and file_digest(path, "sha256") == sha256
    assert verify(path, md5=md5) == sha256
    assert verify(path, sha256=sha256.upper()) == sha256
    assert verify(path, sha256=sha256, md5=md5) == sha256
    assert verify(path) == sha256
    with pytest.raises(DownloadError, match="MD5 mismatch") as err:
        verify(path, sha256=sha256, md5="0" * 32)
    assert "0" * 32 in str(err.value) and md5 in str(err.value) and str(path) in str(err.value)


# ------------------------------------------------------------------------------------------------ failing downloads


def assert_nothing_left(folder):
    assert not folder.exists() or list(folder.iterdir()) == []


def test_wrong_checksum_raises_and_leaves_no_file(server, files, tmp_path):
    folder = tmp_path / "dl"
    wrong = "ab" * 32
    with pytest.raises(DownloadError) as err:
        fetch(server.url("/dsprites.npz"), folder / "dsprites.npz", sha256=wrong, progress=False)
    msg = str(err.value)
    assert wrong in msg and sha(files["dsprites"]) in msg and "SHA256 mismatch" in msg
    assert_nothing_left(folder)
    with pytest.raises(DownloadError, match="MD5 mismatch"):
        fetch(files["dsprites"].as_uri(), folder / "dsprites.npz", md5="0" * 32, progress=False)
    assert_nothing_left(folder)


def test_truncated_body_raises(server, tmp_path):
    size = len(server.routes["/truncated.npz"][1])
    with pytest.raises(DownloadError, match="truncated") as err:
        fetch(server.url("/truncated.npz"), tmp_path / "dsprites.npz", progress=False)
    assert f"{size} bytes received, {size + 4096} expected" in str(err.value)
    assert_nothing_left(tmp_path)


def test_interrupted_download_raises_and_leaves_no_file(server, tmp_path):
    size = len(server.routes["/reset.npz"][1])
    with pytest.raises(DownloadError, match=rf"\d+ bytes received, {size} expected") as err:
        fetch(server.url("/reset.npz"), tmp_path / "dsprites.npz", progress=False, chunk=1 << 16)
    assert "interrupted" in str(err.value) or "truncated" in str(err.value)
    assert_nothing_left(tmp_path)


def test_incomplete_read_raises(monkeypatch, tmp_path):
    class Response(io.BytesIO):
        headers = {"Content-Length": "100", "Content-Type": "application/octet-stream"}

        def read(self, n=-1):
            if self.tell() == 0:
                return super().read(10)
            raise http.client.IncompleteRead(b"x" * 5, 85)

        read1 = read

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Response(b"PK" + b"\0" * 98))
    with pytest.raises(DownloadError, match="15 bytes received, 100 expected"):
        fetch("http://example.invalid/x.npz", tmp_path / "x.npz", progress=False)
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize("path", ["/login.html", "/sneaky.npz"])
def test_html_page_with_status_200_raises(server, tmp_path, path):
    with pytest.raises(DownloadError, match="HTML page"):
        fetch(server.url(path), tmp_path / "dsprites.npz", progress=False)
    assert_nothing_left(tmp_path)


def test_http_404_raises(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url("/gone.npz"), tmp_path / "dsprites.npz", progress=False)
    assert_nothing_left(tmp_path)


def test_no_network_says_how_to_work_offline(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/3dshapes.h5"
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "3dshapes.h5", progress=False, timeout=5, dataset="shapes3d")
    msg = str(err.value)
    assert url in msg and "data.source: procedural" in msg and "data.source: path" in msg
    assert "data.path.shapes3d" in msg
    assert_nothing_left(tmp_path)
    assert "data.path.<dataset>" in NO_NETWORK_HINT


def test_missing_local_file_raises(tmp_path):
    with pytest.raises(DownloadError, match="cannot read"):
        fetch((tmp_path / "nope.npz").as_uri(), tmp_path / "out" / "x.npz", progress=False)
    assert_nothing_left(tmp_path / "out")


# ------------------------------------------------------------------------------------------------ failing conversions


@pytest.mark.parametrize("key", ["imgs", "latents_values", "latents_classes"])
def test_missing_npz_key_raises(tmp_path, key):
    src = tmp_path / "d.npz"
    write_dsprites_npz(src, drop=key)
    with pytest.raises(DatasetError, match=f"no '{key}'") as err:
        convert_dsprites_npz(src, tmp_path / "out.h5", progress=False)
    assert str(src) in str(err.value)
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("key", ["images", "labels"])
def test_missing_h5_key_raises(tmp_path, key):
    src = tmp_path / "3dshapes.h5"
    write_shapes3d_h5(src, drop=key)
    with pytest.raises(DatasetError, match=f"no '{key}'"):
        convert_shapes3d_h5(src, tmp_path / "out.h5", progress=False)
    assert not (tmp_path / "out.h5").exists()


def test_npz_metadata_is_never_unpickled(files, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the dSprites metadata must not be unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    out = tmp_path / "dsprites.h5"
    convert_dsprites_npz(files["dsprites"], out, progress=False)
    assert read_dataset(out).factors.shape == (N_ROWS, 5)


def test_dsprites_rows_out_of_order_raise(tmp_path):
    src = tmp_path / "d.npz"
    write_dsprites_npz(src, shuffle=True)
    with pytest.raises(DatasetError, match="strictly increasing"):
        convert_dsprites_npz(src, tmp_path / "out.h5", progress=False)


def test_shapes3d_label_off_grid_raises(tmp_path):
    src = tmp_path / "3dshapes.h5"
    write_shapes3d_h5(src, off_grid=True)
    with pytest.raises(DatasetError, match="'scale' of row 7"):
        convert_shapes3d_h5(src, tmp_path / "out.h5", progress=False)
    assert not (tmp_path / "out.h5").exists()


def test_not_hdf5_or_truncated_h5_raises(files, tmp_path):
    html = tmp_path / "3dshapes.h5"
    html.write_bytes(b"<!DOCTYPE html><html></html>")
    with pytest.raises(DatasetError, match="not an HDF5 file"):
        convert_shapes3d_h5(html, tmp_path / "out.h5", progress=False)
    cut = tmp_path / "cut.h5"
    data = files["shapes3d"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        convert_shapes3d_h5(cut, tmp_path / "out.h5", progress=False)
    assert not (tmp_path / "out.h5").exists()


def test_truncated_or_foreign_npz_raises(files, tmp_path):
    cut = tmp_path / "cut.npz"
    data = files["dsprites"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError):
        convert_dsprites_npz(cut, tmp_path / "out.h5", progress=False)
    with pytest.raises(DatasetError, match="unknown dataset"):
        convert("mnist", files["dsprites"], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
