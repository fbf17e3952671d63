"""The official CIFAR-10 tarball, downloaded with the standard library (no TensorFlow, so the analysis
environment can run it): md5-checked, atomic, cached in $DEEPENS_CACHE (default ~/.cache/deepens),
with a clear message when the machine is offline."""
from __future__ import annotations

import hashlib
import http.client
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .cifar10 import BATCHES_DIR, MAX_TAR_BYTES, TARBALL, DatasetFileError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
CACHE_ENV = "DEEPENS_CACHE"  # overrides the download cache directory
DOWNLOAD_TIMEOUT_S = 60  # per connect / per read, not for the whole download
_CHUNK = 1 << 20


class DatasetDownloadError(DatasetFileError):
    """The release could not be downloaded (offline, HTTP error, or wrong md5)."""


def default_cache_dir() -> Path:
    """Where downloads are kept: $DEEPENS_CACHE if set, else ~/.cache/deepens.

    A per-user cache rather than the run's scratch directory, so every results tree,
    checkout and worktree shares one 163 MiB download; safe to share because a file is
    used only after its md5 matches. Not keras' ~/.keras/datasets: that directory belongs
    to another tool (whose own loader also extracts there), and the pipeline never used
    it (the keras downloader was given the run's scratch directory).
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "deepens"


def md5_file(path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _offline_advice(url, md5) -> str:
    return (f"download {TARBALL} from {url} (md5 {md5}) on a machine with internet access, "
            f"copy it to this machine and set the config key dataset.path to that file (in your --configfile, "
            f"or --config 'dataset={{\"name\": \"cifar10\", \"path\": "
            f"\"/path/to/{TARBALL}\"}}'); dataset.path may also name the extracted "
            f"{BATCHES_DIR}/ directory.")


def download(cache_dir=None, url: str = URL, md5: str = MD5,
             timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Return cache_dir/cifar-10-python.tar.gz with the given md5, downloading it if needed.

    cache_dir defaults to `default_cache_dir()`. A cached file whose md5 matches is reused
    without any request; one that does not match is downloaded again. The download goes
    to a hidden temporary file in cache_dir, is md5-checked, and only then renamed to the
    final name, so an interrupted or corrupt download never looks complete. Standard
    library only (proxies via the usual http(s)_proxy variables): never imports
    TensorFlow or Keras. url and md5 are parameters for tests; the pipeline uses the
    official release.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = cache_dir / TARBALL
    if final.is_file():
        got = md5_file(final)
        if got == md5:
            return final
        print(f"{final}: md5 {got} is not the expected {md5}; downloading {url} again",
              file=sys.stderr)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{TARBALL}.", suffix=".part", dir=cache_dir)
    except OSError as exc:
        raise DatasetDownloadError(
            f"cannot write the download cache {cache_dir} ({exc}); set ${CACHE_ENV} to a "
            f"writable directory, or set the config key dataset.path to a local copy of "
            f"{TARBALL}") from exc
    tmp = Path(tmp)
    try:
        print(f"downloading {url} to {final}", file=sys.stderr)
        h, size = hashlib.md5(usedforsecurity=False), 0
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                while chunk := resp.read(_CHUNK):
                    size += len(chunk)
                    if size > MAX_TAR_BYTES:
                        raise DatasetDownloadError(
                            f"{url}: more than {MAX_TAR_BYTES} bytes; not the CIFAR-10 release")
                    h.update(chunk)
                    out.write(chunk)
                if length is not None and length.isdigit() and size != int(length):
                    raise DatasetDownloadError(
                        f"download of {url} stopped after {size} of {length} bytes; run "
                        f"again, or {_offline_advice(url, md5)}")
                out.flush()
                os.fsync(out.fileno())
        except urllib.error.HTTPError as exc:  # before URLError: its subclass
            raise DatasetDownloadError(
                f"{url} answered HTTP {exc.code} ({exc.reason}). Instead, "
                f"{_offline_advice(url, md5)}") from exc
        except urllib.error.URLError as exc:  # DNS failure, refused, no route, TLS ...
            raise DatasetDownloadError(
                f"this machine cannot reach {url} ({exc.reason}). Instead, "
                f"{_offline_advice(url, md5)}") from exc
        except (TimeoutError, ConnectionError, ssl.SSLError, http.client.HTTPException) as exc:
            # read timeouts and resets mid-transfer (connect failures arrive as URLError)
            raise DatasetDownloadError(
                f"this machine cannot reach {url} ({type(exc).__name__}: {exc}). Instead, "
                f"{_offline_advice(url, md5)}") from exc
        except OSError as exc:  # e.g. the disk filled up while writing
            raise DatasetDownloadError(
                f"cannot write the download of {url} to {tmp} ({exc}); free space or set "
                f"${CACHE_ENV} to another directory, or {_offline_advice(url, md5)}") from exc
        got = h.hexdigest()
        if got != md5:
            raise DatasetDownloadError(
                f"md5 mismatch for {url}: the download for {final} has md5 {got}, expected "
                f"{md5}; it was deleted, not cached. A proxy or captive portal may have "
                f"answered instead of the server; run again, or {_offline_advice(url, md5)}")
        os.replace(tmp, final)  # same directory, so atomic; concurrent runs write equal files
    finally:
        tmp.unlink(missing_ok=True)
    return final
