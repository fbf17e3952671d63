"""deepens.cifar10 on a tiny fake CIFAR-10 written in the official Python 2 pickle format."""
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from deepens import cifar10, cifar10_download
from deepens.cifar10 import DatasetFileError
from deepens.data import prepare_cifar10

ROOT = Path(__file__).resolve().parents[1]

CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]
PER_BATCH = 3
_reconstruct = np.ndarray.__reduce_ex__(np.zeros(1), 2)[0]


class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 cPickle wrote the release: str as BINSTRING (loaded back as
    bytes with encoding="bytes", no _codecs global) and numpy.core.multiarray._reconstruct."""

    numpy_module = b"numpy.core.multiarray"
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        if obj is _reconstruct:
            self.write(pickle.GLOBAL + self.numpy_module + b"\n_reconstruct\n")
        else:
            super().save_global(obj, name)


def py2_dumps(obj, numpy_module=b"numpy.core.multiarray"):
    buf = io.BytesIO()
    p = Py2Pickler(buf, protocol=2, fix_imports=False)  # keep real module names
    p.numpy_module = numpy_module
    p.dump(obj)
    return buf.getvalue()


def batch_dict(data, labels, label=b"fake batch"):
    return {b"batch_label": label, b"labels": list(labels), b"data": data,
            b"filenames": [b"img_%d.png" % i for i in range(len(labels))]}


def make_release(root):
    """Write cifar-10-batches-py/ and cifar-10-python.tar.gz under root; return the truth."""
    rng = np.random.default_rng(0)
    bdir = root / "cifar-10-batches-py"
    bdir.mkdir(parents=True)
    rows, labels = {}, {}
    for k, name in enumerate([*cifar10.TRAIN_FILES, "test_batch"]):
        data = rng.integers(0, 256, size=(PER_BATCH, 3072), dtype=np.uint8)
        data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10 + k, 20 + k, 30 + k
        rows[name], labels[name] = data, [(2 * k + i) % 10 for i in range(PER_BATCH)]
        (bdir / name).write_bytes(py2_dumps(batch_dict(data, labels[name])))
    meta = {b"label_names": [c.encode() for c in CLASSES],
            b"num_cases_per_batch": PER_BATCH, b"num_vis": 3072}
    (bdir / "batches.meta").write_bytes(py2_dumps(meta))
    (bdir / "readme.html").write_text("<html></html>")
    tar = root / "cifar-10-python.tar.gz"
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(bdir, arcname="cifar-10-batches-py")
    return {"dir": bdir, "tar": tar, "rows": rows, "labels": labels}


@pytest.fixture
def release(tmp_path):
    return make_release(tmp_path / "release")


def write_tar(path, members):
    """members: list of (TarInfo, bytes or None for links)."""
    with tarfile.open(path, "w:gz") as tf:
        for info, payload in members:
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


# --- 1. loading ----------------------------------------------------------------------

def test_load_from_tarball_dir_and_parent_agree(release, tmp_path):
    loaded = [cifar10.load_cifar10(release["tar"], tmp_path / "scratch"),
              cifar10.load_cifar10(release["dir"], tmp_path / "unused"),
              cifar10.load_cifar10(release["dir"].parent, tmp_path / "unused")]
    assert not (tmp_path / "unused").exists()  # directories are read in place
    for d in loaded[1:]:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(d[key], loaded[0][key])
        assert d["class_names"] == loaded[0]["class_names"]

    d = loaded[0]
    assert d["x_train"].shape == (5 * PER_BATCH, 32, 32, 3) and d["x_train"].dtype == np.uint8
    assert d["x_test"].shape == (PER_BATCH, 32, 32, 3) and d["x_test"].dtype == np.uint8
    assert d["y_train"].dtype == np.int64 and d["y_test"].dtype == np.int64
    assert d["class_names"] == CLASSES

    # Training set = data_batch_1..5 in order; labels follow.
    rows = np.concatenate([release["rows"][n] for n in cifar10.TRAIN_FILES])
    labels = sum((release["labels"][n] for n in cifar10.TRAIN_FILES), [])
    assert d["y_train"].tolist() == labels
    assert d["y_test"].tolist() == release["labels"]["test_batch"]

    # Channel order: plane-filled first image of each batch is R=10+k, G=20+k, B=30+k.
    for k in range(5):
        img = d["x_train"][k * PER_BATCH]
        assert (img[..., 0] == 10 + k).all() and (img[..., 1] == 20 + k).all()
        assert (img[..., 2] == 30 + k).all()
    # Every pixel, spelled out from the format description rather than by reshaping.
    np.testing.assert_array_equal(d["x_train"], nhwc_from_rows(rows))
    np.testing.assert_array_equal(d["x_test"], nhwc_from_rows(release["rows"]["test_batch"]))
    assert d["x_train"][4, 1, 2, 1] == rows[4, 1024 + 1 * 32 + 2]


def nhwc_from_rows(rows):
    """x[n, r, c, ch] = row[n, ch*1024 + r*32 + c]: channel-first planes, each row-major."""
    n, r, c, ch = np.meshgrid(np.arange(len(rows)), np.arange(32), np.arange(32),
                              np.arange(3), indexing="ij")
    return rows[n, ch * 1024 + r * 32 + c]


@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_load_batch_accepts_both_numpy_module_names(tmp_path, module):
    data = np.arange(2 * 3072, dtype=np.uint64).astype(np.uint8).reshape(2, 3072)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_dumps(batch_dict(data, [0, 9]), numpy_module=module))
    batch = cifar10.load_batch(path)
    np.testing.assert_array_equal(batch[b"data"], data)
    assert batch[b"labels"] == [0, 9] and batch[b"batch_label"] == b"fake batch"


def test_extraction_is_cached_and_leaves_no_temp_dirs(release, tmp_path):
    scratch = tmp_path / "scratch"
    out = cifar10.safe_extract(release["tar"], scratch)
    assert out == scratch / "cifar-10-batches-py" and (out / "batches.meta").is_file()
    assert sorted(p.name for p in scratch.iterdir()) == ["cifar-10-batches-py"]
    assert cifar10.find_batches_dir(release["tar"], scratch) == out


def test_module_does_not_import_tensorflow():
    code = ("import sys; import deepens.cifar10; "
            "sys.exit(any(m in sys.modules for m in ('keras', 'tensorflow')))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


# --- 1b. downloading (standard library only, from a local HTTP server) ---------------

class _Server:
    """A local HTTP server in a thread: files maps a URL path to bytes; requests logs paths."""

    def __init__(self, files):
        self.files, self.requests, self.short_by = dict(files), [], 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + outer.short_by))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path="/cifar-10-python.tar.gz"):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy_no_home_cache(monkeypatch, tmp_path):
    """Requests go straight to 127.0.0.1, and nothing is ever cached in the real home."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setenv("DEEPENS_CACHE", str(tmp_path / "default-cache"))


@pytest.fixture
def serve():
    servers = []

    def start(files):
        servers.append(_Server(files))
        return servers[-1]

    yield start
    for srv in servers:
        srv.close()


def md5_of(data):
    return hashlib.md5(data).hexdigest()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same(a, b):
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(a[key], b[key])
    assert a["class_names"] == b["class_names"]


def test_download_loads_equal_to_the_local_file(release, tmp_path, serve):
    body = release["tar"].read_bytes()
    srv = serve({"/cifar-10-python.tar.gz": body})
    cache = tmp_path / "cache"
    got = cifar10.load_cifar10(cifar10_download.download(url=srv.url(), md5=md5_of(body), cache_dir=cache),
                               tmp_path / "scratch")
    assert_same(got, cifar10.load_cifar10(release["tar"], tmp_path / "scratch2"))
    assert srv.requests == ["/cifar-10-python.tar.gz"]
    # Cached under its final name only (no temporary file), byte for byte.
    assert [p.name for p in cache.iterdir()] == ["cifar-10-python.tar.gz"]
    assert (cache / "cifar-10-python.tar.gz").read_bytes() == body
    assert [p.name for p in (tmp_path / "scratch").iterdir()] == []  # extraction cleaned up


def test_prepare_cifar10_records_the_url_and_digest_of_a_download(release, tmp_path, serve):
    body = release["tar"].read_bytes()
    srv = serve({"/cifar-10-python.tar.gz": body})
    ds = prepare_cifar10(None, 2, tmp_path / "scratch", url=srv.url(), md5=md5_of(body),
                         cache_dir=tmp_path / "cache")
    assert ds.meta == {"source": srv.url(), "source_sha256": hashlib.sha256(body).hexdigest()}
    assert len(ds.y_val) == 2 and len(ds.y_train) == 5 * PER_BATCH - 2


def test_md5_mismatch_is_refused_and_nothing_is_cached(release, tmp_path, serve):
    good = release["tar"].read_bytes()
    tampered = good[:-1] + bytes([good[-1] ^ 0xFF])
    srv = serve({"/cifar-10-python.tar.gz": tampered})
    cache = tmp_path / "cache"
    with pytest.raises(DatasetFileError) as err:
        cifar10.load_cifar10(cifar10_download.download(url=srv.url(), md5=md5_of(good), cache_dir=cache),
                             tmp_path / "scratch")
    msg = str(err.value)
    assert "md5 mismatch" in msg and srv.url() in msg and "dataset.path" in msg
    assert str(cache / "cifar-10-python.tar.gz") in msg
    assert md5_of(tampered) in msg and md5_of(good) in msg
    assert list(cache.iterdir()) == []  # neither the bad file nor a temporary one
    # The expected md5 defaults to the official release's.
    with pytest.raises(DatasetFileError, match="c58f30108f718f92721af3b95e74349a"):
        cifar10_download.download(cache, url=srv.url())
    assert cifar10_download.MD5 == "c58f30108f718f92721af3b95e74349a"
    assert list(cache.iterdir()) == []


def test_cached_good_file_is_reused_without_a_request(release, tmp_path, serve, monkeypatch):
    body = release["tar"].read_bytes()
    srv = serve({"/cifar-10-python.tar.gz": body})
    cache = tmp_path / "cache"
    first = cifar10_download.download(cache, url=srv.url(), md5=md5_of(body))
    assert len(srv.requests) == 1
    assert cifar10_download.download(cache, url=srv.url(), md5=md5_of(body)) == first
    assert len(srv.requests) == 1
    # The default cache directory is $DEEPENS_CACHE; a good file there needs no network.
    monkeypatch.setenv("DEEPENS_CACHE", str(cache))
    offline = f"http://127.0.0.1:{closed_port()}/cifar-10-python.tar.gz"
    got = cifar10.load_cifar10(cifar10_download.download(url=offline, md5=md5_of(body)), tmp_path / "scratch")
    assert_same(got, cifar10.load_cifar10(release["tar"], tmp_path / "scratch2"))
    assert len(srv.requests) == 1


def test_cached_bad_file_is_downloaded_again(release, tmp_path, serve):
    body = release["tar"].read_bytes()
    srv = serve({"/cifar-10-python.tar.gz": body})
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cifar-10-python.tar.gz").write_bytes(body[: len(body) // 2])
    cifar10_download.download(cache, url=srv.url(), md5=md5_of(body))
    assert len(srv.requests) == 1
    assert (cache / "cifar-10-python.tar.gz").read_bytes() == body


def test_default_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPENS_CACHE", str(tmp_path / "c"))
    assert cifar10_download.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DEEPENS_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cifar10_download.default_cache_dir() == tmp_path / "home" / ".cache" / "deepens"


def _assert_offline_message(msg, url):
    assert "cannot reach" in msg and url in msg
    assert "set the config key dataset.path" in msg and "cifar-10-python.tar.gz" in msg


def test_unreachable_url_says_to_set_dataset_path(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/"
    cache = tmp_path / "cache"
    with pytest.raises(DatasetFileError) as err:
        cifar10.load_cifar10(cifar10_download.download(url=url, cache_dir=cache), tmp_path / "scratch")
    _assert_offline_message(str(err.value), url)
    assert list(cache.iterdir()) == []


def test_unknown_host_says_to_set_dataset_path(tmp_path, monkeypatch):
    def no_dns(*args, **kwargs):  # a DNS failure, without asking a resolver that may hang
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    url = "http://cifar.invalid/cifar-10-python.tar.gz"
    with pytest.raises(DatasetFileError) as err:
        cifar10_download.download(tmp_path / "cache", url=url)
    assert "Name or service not known" in str(err.value)
    _assert_offline_message(str(err.value), url)


def test_silent_server_times_out_with_the_offline_message(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/cifar-10-python.tar.gz"
        with pytest.raises(DatasetFileError) as err:
            cifar10_download.download(tmp_path / "cache", url=url, timeout=0.5)
    _assert_offline_message(str(err.value), url)
    assert list((tmp_path / "cache").iterdir()) == []


def test_http_error_and_short_download_are_refused(release, tmp_path, serve):
    body = release["tar"].read_bytes()
    srv = serve({"/cifar-10-python.tar.gz": body})
    cache = tmp_path / "cache"
    with pytest.raises(DatasetFileError, match=r"HTTP 404.*dataset\.path"):
        cifar10_download.download(cache, url=srv.url("/missing.tar.gz"), md5=md5_of(body))
    srv.short_by = 1000  # Content-Length promises more than is sent
    with pytest.raises(DatasetFileError, match=rf"stopped after {len(body)} of {len(body) + 1000}"):
        cifar10_download.download(cache, url=srv.url(), md5=md5_of(body))
    assert list(cache.iterdir()) == []


def test_download_works_without_tensorflow_or_keras(release, tmp_path, serve):
    body = release["tar"].read_bytes()
    srv = serve({"/cifar-10-python.tar.gz": body})
    code = f"""
import sys
for name in ("tensorflow", "keras"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        sys.exit(name + " is importable: the blocker is not active")
from deepens import cifar10, cifar10_download
d = cifar10.load_cifar10(cifar10_download.download(url={srv.url()!r}, md5={md5_of(body)!r},
                                                  cache_dir={str(tmp_path / "cache")!r}),
                         {str(tmp_path / "scratch")!r})
assert not any(m in sys.modules for m in ("tensorflow", "keras")), "imported"
print(d["x_train"].shape, d["y_test"].tolist())
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "tf_blocker"),
                                                       *sys.path]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == f"(15, 32, 32, 3) {release['labels']['test_batch']}"
    assert srv.requests == ["/cifar-10-python.tar.gz"]


# --- 2. hostile pickles --------------------------------------------------------------

class _Exploit:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("func, arg, refused", [
    (os.system, "touch {marker}", "system"),
    (exec, "open({marker!r}, 'w').close()", "builtins.exec"),
    (subprocess.call, ["touch", "{marker}"], "subprocess.call"),
])
def test_malicious_pickle_is_refused_and_never_runs(release, tmp_path, func, arg, refused):
    marker = tmp_path / "pwned"
    arg = [a.format(marker=str(marker)) for a in arg] if isinstance(arg, list) \
        else arg.format(marker=str(marker))
    target = release["dir"] / "data_batch_1"
    # Hidden inside an otherwise plausible batch dict, written in the official dialect.
    target.write_bytes(py2_dumps({b"labels": [], b"data": _Exploit(func, arg)}))
    with pytest.raises(DatasetFileError) as err:
        cifar10.load_cifar10(release["dir"], tmp_path / "scratch")
    assert "data_batch_1" in str(err.value) and refused in str(err.value)
    assert not marker.exists()


def test_python2_builtin_eval_is_refused(tmp_path):
    # Hand-written Python 2 style: __builtin__.eval("open(marker, 'w')").
    marker = tmp_path / "pwned"
    path = tmp_path / "test_batch"
    path.write_bytes(b"c__builtin__\neval\n(S\"open(%r, 'w')\"\ntR." % str(marker).encode())
    with pytest.raises(DatasetFileError, match=r"test_batch.*__builtin__\.eval"):
        cifar10.load_batch(path)
    assert not marker.exists()


def test_python3_protocol2_bytes_need_codecs_global_and_are_refused(tmp_path):
    # Not the official format: Python 3 writes protocol-2 bytes via _codecs.encode.
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"labels": []}, protocol=2))
    with pytest.raises(DatasetFileError, match="_codecs.encode"):
        cifar10.load_batch(path)


# --- 3. hostile tarballs -------------------------------------------------------------

def _assert_refused(tar, tmp_path, member):
    dest = tmp_path / "dest"
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(DatasetFileError) as err:
        cifar10.safe_extract(tar, dest)
    assert tar.name in str(err.value) and member in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(before) | {"dest"})
    assert list(dest.iterdir()) == []  # no half directory, no leftover temp dir


def test_dotdot_member_is_refused(tmp_path):
    tar = write_tar(tmp_path / "evil.tar.gz", [
        (tarfile.TarInfo("cifar-10-batches-py/data_batch_1"), b"x"),
        (tarfile.TarInfo("../escaped.txt"), b"owned")])
    _assert_refused(tar, tmp_path, "../escaped.txt")
    assert not (tmp_path / "escaped.txt").exists()


def test_nested_dotdot_member_is_refused(tmp_path):
    tar = write_tar(tmp_path / "evil.tar.gz",
                    [(tarfile.TarInfo("cifar-10-batches-py/../../escaped.txt"), b"owned")])
    _assert_refused(tar, tmp_path, "escaped.txt")
    assert not (tmp_path / "escaped.txt").exists()


def test_absolute_member_is_refused(tmp_path):
    target = tmp_path / "abs_escaped.txt"
    tar = write_tar(tmp_path / "evil.tar.gz", [(tarfile.TarInfo(str(target)), b"owned")])
    _assert_refused(tar, tmp_path, str(target))
    assert not target.exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_link_member_is_refused(tmp_path, kind):
    link = tarfile.TarInfo("cifar-10-batches-py/link")
    link.type, link.linkname = kind, "../../outside"
    tar = write_tar(tmp_path / "evil.tar.gz",
                    [(link, None), (tarfile.TarInfo("cifar-10-batches-py/link/x"), b"owned")])
    _assert_refused(tar, tmp_path, "cifar-10-batches-py/link")
    assert not (tmp_path / "outside").exists()


def test_corrupt_or_wrong_tarball_is_refused(tmp_path):
    junk = tmp_path / "cifar-10-python.tar.gz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(DatasetFileError, match="cifar-10-python.tar.gz"):
        cifar10.load_cifar10(junk, tmp_path / "scratch")
    other = write_tar(tmp_path / "other.tar.gz", [(tarfile.TarInfo("somewhere/else"), b"x")])
    with pytest.raises(DatasetFileError, match="somewhere/else"):
        cifar10.safe_extract(other, tmp_path / "scratch")


# --- 4. corrupt or wrongly shaped pickles --------------------------------------------

def test_truncated_pickle_is_refused(release, tmp_path):
    path = release["dir"] / "data_batch_3"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetFileError, match="data_batch_3"):
        cifar10.load_cifar10(release["dir"], tmp_path / "scratch")


@pytest.mark.parametrize("payload, expected", [
    ({b"labels": [0]}, "b'data'"),
    (batch_dict(np.zeros((2, 3000), np.uint8), [0, 1]), "b'data'"),
    (batch_dict(np.zeros((2, 3072), np.float32), [0, 1]), "uint8"),
    (batch_dict(np.zeros((2, 3072), np.uint8), [0]), "labels"),
    (batch_dict(np.zeros((2, 3072), np.uint8), [0, 10]), "labels"),
    ([1, 2, 3], "dict"),
])
def test_wrong_structure_is_refused(tmp_path, payload, expected):
    path = tmp_path / "data_batch_2"
    path.write_bytes(py2_dumps(payload))
    with pytest.raises(DatasetFileError) as err:
        cifar10.load_batch(path)
    assert "data_batch_2" in str(err.value) and expected in str(err.value)


def test_bad_meta_is_refused(release, tmp_path):
    (release["dir"] / "batches.meta").write_bytes(py2_dumps({b"label_names": [b"cat"]}))
    with pytest.raises(DatasetFileError, match="batches.meta"):
        cifar10.load_cifar10(release["dir"], tmp_path / "scratch")


# --- 5. missing files ----------------------------------------------------------------

def test_missing_batch_file_is_named(release, tmp_path):
    (release["dir"] / "data_batch_4").unlink()
    for path in (release["dir"], release["dir"].parent):
        with pytest.raises(DatasetFileError, match="data_batch_4"):
            cifar10.load_cifar10(path, tmp_path / "scratch")


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(DatasetFileError, match="nowhere"):
        cifar10.load_cifar10(tmp_path / "nowhere", tmp_path / "scratch")
