"""Checksummed, atomic downloads of the original dataset files (dSprites npz, Shapes3D h5).

    path = fetch(URL, "resources/downloads/3dshapes.h5", sha256=SHA256, dataset="shapes3d")

``fetch`` streams with urllib (``http(s)://`` and ``file://``), writes under a temporary name next to ``dest`` and
gives the file its final name only once it is complete and its checksums match, so an interrupted, truncated,
HTML-instead-of-data or corrupted download never leaves a file behind. Every failure raises ``DownloadError``
(a ``DatasetError``) with a message that says what went wrong and, when the network is unreachable, how to run
offline instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from vaesae.data.canonical import DatasetError
from vaesae.io import atomic_path

log = logging.getLogger("vaesae.data")

NO_NETWORK_HINT = (
    "set data.source: procedural for the offline procedural datasets, or download the file elsewhere and set "
    "data.source: path with data.path.<dataset>"
)
ALGOS = ("md5", "sha256")
_SNIFF = 1024  # bytes of the body kept to recognise an HTML page


class DownloadError(DatasetError):
    """A download that failed, was incomplete, or does not match its checksum."""


def no_network_hint(dataset: str | None = None) -> str:
    """``NO_NETWORK_HINT`` with the dataset's name filled in (left as ``<dataset>`` when unknown)."""
    return NO_NETWORK_HINT.replace("<dataset>", dataset) if dataset else NO_NETWORK_HINT


def _new_hashes(algos) -> dict[str, "hashlib._Hash"]:
    out = {}
    for algo in algos:
        if algo not in ALGOS:
            raise ValueError(f"unsupported digest {algo!r}; expected one of {ALGOS}")
        out[algo] = hashlib.new(algo)
    return out


def _digests(path, algos, chunk: int = 1 << 20) -> dict[str, str]:
    hashes = _new_hashes(algos)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            for h in hashes.values():
                h.update(block)
    return {algo: h.hexdigest() for algo, h in hashes.items()}


def file_digest(path, algo: str) -> str:
    """Hex digest (``md5`` or ``sha256``) of a file, read in blocks so memory stays bounded."""
    return _digests(path, [algo])[algo]


def _expected(sha256: str | None, md5: str | None) -> dict[str, str]:
    return {algo: value.strip().lower() for algo, value in (("sha256", sha256), ("md5", md5)) if value}


def _check(actual: dict[str, str], expected: dict[str, str], what: str) -> None:
    for algo, want in expected.items():
        if actual[algo] != want:
            raise DownloadError(f"{what}: {algo.upper()} mismatch: expected {want}, got {actual[algo]}")


def verify(path, *, sha256: str | None = None, md5: str | None = None) -> str:
    """Check every given checksum of ``path`` (one read); return its SHA-256. Raises DownloadError on a mismatch."""
    path = Path(path)
    if not path.is_file():
        raise DownloadError(f"{path} does not exist")
    actual = _digests(path, ALGOS if md5 else ("sha256",))
    _check(actual, _expected(sha256, md5), f"checksum of {path}")
    return actual["sha256"]


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:9].lower()
    return start.startswith(b"<!doctype") or start.startswith(b"<html")


def _content_length(resp) -> int | None:
    value = resp.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _open(url: str, timeout: float, dataset: str | None):
    """urlopen with every failure to get a response mapped to DownloadError."""
    local = urllib.parse.urlsplit(url).scheme == "file"
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http(s) and file URLs by design)
    except urllib.error.HTTPError as err:  # before URLError: HTTPError is a URLError
        err.close()
        raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if local:
            raise DownloadError(f"cannot read {url}: {err.reason}") from None
        raise DownloadError(f"cannot reach {url} ({err.reason}); no network? {no_network_hint(dataset)}") from None
    except (socket.timeout, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as err:
        if local:
            raise DownloadError(f"cannot read {url}: {err}") from None
        raise DownloadError(
            f"cannot reach {url} ({type(err).__name__}: {err}); no network? {no_network_hint(dataset)}"
        ) from None


def fetch(
    url: str,
    dest,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60,
    chunk: int = 1 << 20,
    dataset: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically and verify it; return ``dest``.

    An existing ``dest`` that matches the given checksums is returned without touching the network (with no
    checksum given, any existing file is taken as complete: ``fetch`` only ever creates complete files). An
    existing file that does not match is deleted and downloaded again. Raises DownloadError on an HTTP error
    status, an HTML page in place of data, a truncated or interrupted body, a checksum mismatch, or no network;
    in every case neither ``dest`` nor a partial file is left behind.
    """
    dest = Path(dest)
    expected = _expected(sha256, md5)
    if dest.exists():
        try:
            verify(dest, sha256=sha256, md5=md5)
            log.info("%s exists and verifies; not downloading", dest)
            return dest
        except DownloadError as err:
            log.warning("%s; deleting it and downloading again", err)
            dest.unlink()

    resp = _open(url, timeout, dataset)
    with contextlib.closing(resp), atomic_path(dest) as tmp:
        length = _content_length(resp)
        ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml"):
            raise DownloadError(
                f"{url} returned an HTML page (Content-Type {ctype}) instead of the data file; "
                "the URL is probably wrong or needs a login"
            )
        hashes = _new_hashes(ALGOS)
        received, head, sniffed = 0, b"", False

        def interrupted(reason: str) -> DownloadError:
            total = f"{length} expected" if length is not None else "total size unknown"
            return DownloadError(f"download of {url} was interrupted ({reason}): {received} bytes received, {total}")

        # read1: one receive at a time, so the bytes counted on an interruption are the bytes that really arrived
        read = getattr(resp, "read1", resp.read)
        bar = tqdm(total=length, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name, disable=not progress,
                   mininterval=1.0)  # fmt: skip
        with bar, open(tmp, "wb") as out:
            while True:
                try:
                    block = read(chunk)
                except http.client.IncompleteRead as err:
                    received += len(err.partial)
                    raise interrupted("incomplete read") from None
                except (ConnectionError, socket.timeout, TimeoutError, OSError, http.client.HTTPException) as err:
                    raise interrupted(f"{type(err).__name__}: {err}") from None
                if not sniffed and (len(head) < _SNIFF or not block):
                    head += block[: _SNIFF - len(head)]
                    if len(head.lstrip()) >= 9 or len(head) >= _SNIFF or not block:
                        sniffed = True
                        if _looks_like_html(head):
                            raise DownloadError(
                                f"{url} returned an HTML page instead of the data file (body starts with "
                                f"{head.lstrip()[:40]!r}); the URL is probably wrong or needs a login"
                            )
                if not block:
                    break
                out.write(block)
                for h in hashes.values():
                    h.update(block)
                received += len(block)
                bar.update(len(block))
        if length is not None and received != length:
            raise DownloadError(
                f"download of {url} is truncated: {received} bytes received, {length} expected (Content-Length)"
            )
        if received == 0:
            raise DownloadError(f"download of {url} is empty (0 bytes received)")
        actual = {algo: h.hexdigest() for algo, h in hashes.items()}
        _check(actual, expected, f"download of {url} (for {dest})")
        if not expected:
            log.warning("no checksum given for %s; downloaded file not verified (SHA-256 %s)", url, actual["sha256"])
    log.info("downloaded %s to %s (%d bytes, SHA-256 %s)", url, dest, received, actual["sha256"])
    return dest


__all__ = ["NO_NETWORK_HINT", "DownloadError", "fetch", "file_digest", "no_network_hint", "verify"]
