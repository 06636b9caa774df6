"""One rule for inputs everywhere (issue 16): the same uint8 image gives the same answer through
the Python binding, rsc-cli and rsc.distributed; shapes other than (C, H, W) / (d,) for one input
and (N, C, H, W) / (N, d) for a batch are refused with a message naming both; the command lines
of rsc.convert and rsc.distributed end in one line, not a traceback."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import data as rdata
from rsc.errors import InputSizeError

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / ".build" / "release" / "rsc-cli"
DEMO = REPO / "models" / "demo"
MODEL = DEMO / "fmnist_demo.rscm"
ENV = dict(os.environ, PYTHONPATH=str(Path(rsc.__file__).resolve().parent.parent))


@pytest.fixture(scope="module")
def model():
    return rsc.load(MODEL)


@pytest.fixture(scope="module")
def images_u8():
    x = np.load(DEMO / "test_images.npy")[:6]
    return np.rint(x * 255).astype(np.uint8)  # (6, 1, 28, 28), 8-bit pixels as files store them


def test_uint8_is_scaled_by_1_over_255(model, images_u8):
    x8 = images_u8[0]
    xf = x8.astype(np.float32) / np.float32(255)
    assert np.array_equal(rdata.input_floats(x8), xf)
    a = model.certify(x8, n0=20, n=300, seed=3)
    b = model.certify(xf, n0=20, n=300, seed=3)
    assert (a.label, a.count_selected, a.pa_lower) == (b.label, b.count_selected, b.pa_lower)
    u8 = np.broadcast_to(x8, (4,) + x8.shape)
    assert np.array_equal(model.forward(u8), model.forward(u8.astype(np.float32) / 255))
    # A 0..255 float image is taken as it is: it is not the same input.
    assert not np.array_equal(model.forward(u8.astype(np.float32)), model.forward(u8 / 255.0))


def test_same_uint8_image_same_answer_in_python_cli_and_distributed(model, images_u8, tmp_path):
    """The issue's case: a uint8 .npy predicted by the binding, by rsc-cli and read by
    rsc.distributed's command line gives one answer per image."""
    path = tmp_path / "u8.npy"
    np.save(path, images_u8)
    py = [p.label for p in model.predict_batch(images_u8, n=400, seed=5, progress=False)]
    out = subprocess.run([str(CLI), "predict", str(MODEL), str(path), "--n", "400", "--seed", "5"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cli = [int(line.split("\t")[2]) for line in out.stdout.strip().splitlines()[1:]]
    assert cli == py
    from rsc import distributed as rd
    assert np.array_equal(rd.load_array(path), rdata.input_floats(images_u8))
    assert np.array_equal(rdata.load_images(path), images_u8.astype(np.float32) / np.float32(255))


def test_dtypes(model):
    x = np.zeros((1, 28, 28), bool)
    x[0, 10:18, 10:18] = True
    assert np.array_equal(rdata.input_floats(x), x.astype(np.float32))
    assert np.array_equal(rdata.input_floats(np.array([0, 7, 300], np.int16)),
                          np.array([0, 7, 300], np.float32))  # other integers: not scaled
    for bad in (np.zeros(784, np.complex64), np.array(["a"] * 784), np.zeros(784, object)):
        with pytest.raises(TypeError, match="not supported"):
            model.predict(bad, n=10)


@pytest.mark.parametrize("shape", [(1, 28, 28), (784,)])
def test_one_input_shapes_accepted(model, shape):
    x = np.load(DEMO / "test_images.npy")[0]
    a = model.certify(x.reshape(shape), n0=20, n=200, seed=1)
    b = model.certify(x.reshape(-1), n0=20, n=200, seed=1)
    assert (a.label, a.count_selected) == (b.label, b.count_selected)


@pytest.mark.parametrize("shape", [(28, 28, 1), (28, 28), (1, 784), (784, 1), (2, 392)])
def test_one_input_other_shapes_refused(model, shape):
    with pytest.raises(InputSizeError) as e:
        model.predict(np.zeros(shape, np.float32), n=10)
    msg = str(e.value)
    assert "(1, 28, 28)" in msg and "(784,)" in msg and str(shape) in msg
    with pytest.raises(InputSizeError):
        model.certify(np.zeros(shape, np.float32), n0=10, n=10)
    with pytest.raises(InputSizeError):
        model.certify(np.zeros(shape, np.float32), n0=10, n=10, radii=[0.1])


def test_batch_shapes(model):
    xs = np.load(DEMO / "test_images.npy")[:3]
    a = model.predict_batch(xs, n=200, progress=False)
    b = model.predict_batch(xs.reshape(3, 784), n=200, progress=False)
    assert [p.counts.tolist() for p in a] == [p.counts.tolist() for p in b]
    for shape in [(3, 28, 28, 1), (3, 28, 28), (3, 1, 784), (2352,)]:
        with pytest.raises(InputSizeError) as e:
            model.certify_batch(np.zeros(shape, np.float32), n0=10, n=10, progress=False)
        assert "(N, 1, 28, 28) or (N, 784)" in str(e.value) and str(shape) in str(e.value)


def test_forward_shapes(model):
    u = np.random.default_rng(0).random((4, 784), dtype=np.float32)
    want = model.forward(u)
    assert np.array_equal(model.forward(u.reshape(4, 1, 28, 28)), want)
    assert np.array_equal(model.forward(u.reshape(-1)), want)  # T * d values, as rsc_forward
    with pytest.raises(InputSizeError, match=r"\(4, 1, 28, 28\).*got shape \(2, 2, 784\)"):
        model.forward(u.reshape(2, 2, 784))


def test_repr(model, tmp_path):
    r = repr(model)
    assert r.startswith("<rsc.Model 'fmnist-demo'") and "input (1, 28, 28)" in r
    assert "T = 4" in r and "sigma 0.25" in r and str(MODEL) in r
    m = rsc.load_from_memory(MODEL.read_bytes()) if hasattr(rsc, "load_from_memory") else None
    if m is not None:
        assert "from memory" in repr(m)
    m2 = rsc.load(MODEL)
    m2.close()
    assert repr(m2).endswith(", closed>")


# ---- data files ---------------------------------------------------------------------------------

def test_read_array_by_content_not_name(tmp_path):
    import gzip
    a = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    idx = bytes([0, 0, 0x08, 3]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape) + a.tobytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx))
    (tmp_path / "b.bin").write_bytes(idx)
    assert np.array_equal(rdata.read_array(tmp_path / "a.gz"), a)
    assert np.array_equal(rdata.read_array(tmp_path / "b.bin"), a)
    (tmp_path / "short.idx").write_bytes(idx[:-1])
    with pytest.raises(ValueError, match="needs 12 data bytes, the file has 11"):
        rdata.read_array(tmp_path / "short.idx")
    (tmp_path / "text.txt").write_text("hello")
    with pytest.raises(ValueError, match="not .npy, idx or gzip"):
        rdata.read_array(tmp_path / "text.txt")
    with pytest.raises(FileNotFoundError):
        rdata.read_array(tmp_path / "missing.npy")


def test_labels_rules(tmp_path):
    np.save(tmp_path / "ok.npy", np.array([[1], [2]], np.uint8))
    assert rdata.load_labels(tmp_path / "ok.npy").tolist() == [1, 2]
    np.save(tmp_path / "f.npy", np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="integers"):
        rdata.load_labels(tmp_path / "f.npy")
    np.save(tmp_path / "neg.npy", np.array([1, -1]))
    with pytest.raises(ValueError, match="negative label -1 at index 1"):
        rdata.load_labels(tmp_path / "neg.npy")


# ---- command lines: one line, the fix, no traceback ---------------------------------------------

def _one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 1, (out.returncode, out.stderr)
    err = out.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    for n in needles:
        assert n in err, (n, err)


def _distributed(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rsc.distributed", *map(str, args)], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=120)


def test_distributed_unreachable_scheduler_is_one_line(tmp_path):
    pytest.importorskip("distributed", reason="Dask's `distributed` is not installed")
    out = _distributed("certify", MODEL, DEMO / "test_images.npy", "--scheduler",
                       "tcp://127.0.0.1:9", "--connect-timeout", "2", "--count", "1",
                       "--no-progress", cwd=tmp_path)
    _one_line_error(out, "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 2 s",
                    "--connect-timeout")


def test_distributed_resume_mismatch_names_no_resume(tmp_path):
    pytest.importorskip("distributed", reason="Dask's `distributed` is not installed")
    tsv = tmp_path / "out.tsv"
    common = [MODEL, DEMO / "test_images.npy", "--local-workers", "1", "--threads", "1",
              "--tsv", tsv, "--n0", "10", "--n", "50", "--count", "2", "--no-progress"]
    first = _distributed("certify", *common, "--seed", "1", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = _distributed("certify", *common, "--seed", "2", cwd=tmp_path)
    _one_line_error(out, "seed", "--no-resume")
    assert "resume=False" not in out.stderr


def test_distributed_missing_and_bad_files(tmp_path):
    (tmp_path / "junk.npy").write_text("not an array")
    for args, needle in [((tmp_path / "none.npy",), "none.npy"),
                         ((tmp_path / "junk.npy",), "not .npy, idx or gzip")]:
        out = _distributed("predict", MODEL, *args, "--scheduler", "tcp://127.0.0.1:9",
                           "--no-progress", cwd=tmp_path)
        _one_line_error(out, needle)


def _convert(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rsc.convert", *map(str, args)], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=300)


def test_convert_nir_bad_files_are_one_line(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py is not installed (it comes with nir)")
    pytest.importorskip("nir", reason="nir is not installed")
    (tmp_path / "text.nir").write_text("not a NIR graph")
    with h5py.File(tmp_path / "half.nir", "w") as f:  # HDF5, but not what nir.write stores
        f.create_group("node")
    cases = [(tmp_path / "missing.nir", "no such file"),
             (tmp_path / "text.nir", "not a NIR file"),
             (tmp_path / "half.nir", "not a complete NIR graph")]
    for path, needle in cases:
        out = _convert("nir", path, "--dt", "1e-4", "--time-steps", "4",
                       "--out", tmp_path / "x.rscm", cwd=tmp_path)
        _one_line_error(out, needle)
    assert not (tmp_path / "x.rscm").exists()


def test_convert_torch_bad_files_are_one_line(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    for path, needle in [(tmp_path / "missing.pt", "no such file"),
                         (tmp_path / "junk.pt", "not a checkpoint of `rsc.train --checkpoint`")]:
        out = _convert("torch", path, "--out", tmp_path / "x.rscm", cwd=tmp_path)
        _one_line_error(out, needle)


# ---- review findings: TSV radii, image indices, streams, labels, the library path ---------------

def test_tsv_radius_is_rounded_down():
    from rsc.model import radius_text
    assert radius_text(0.24997) == "0.2499" and radius_text(0.25) == "0.2500"
    assert radius_text(0.3) == "0.3000"  # a requested radius reads back as itself
    rng = np.random.default_rng(0)
    assert all(float(radius_text(v)) <= v for v in rng.random(20000) * 2)


def test_tsv_radius_never_exceeds_the_certificate(model, tmp_path):
    xs = np.load(DEMO / "test_images.npy")[:6] * 0.6  # dimmer images: radii spread below the cap
    certs = model.certify_batch(xs, n0=20, n=300, seed=2, tsv=tmp_path / "c.tsv", progress=False)
    rows = [line.split("\t") for line in (tmp_path / "c.tsv").read_text().splitlines()[1:]]
    for c, row in zip(certs, rows):
        assert float(row[3]) <= c.radius < float(row[3]) + 1e-4


def test_invalid_input_names_the_image_of_the_data_set(model):
    xs = np.zeros((800, 1, 28, 28), np.float32)
    xs[700, 0, 3, 3] = np.inf
    with pytest.raises(rsc.errors.InputValueError, match=r"^image 700: .*x\[87\] is inf"):
        model.predict_batch(xs, n=100, progress=False)  # several batch calls of fewer images
    with pytest.raises(rsc.errors.InputValueError, match=r"^image 15: .*x\[87\] is inf"):
        model.certify_batch(xs[695:705], n0=10, n=70000, first_stream=10, progress=False)


def test_batch_streams_past_2_64_are_refused_before_any_work(model, tmp_path):
    xs = np.zeros((3, 784), np.float32)
    with pytest.raises(rsc.errors.InvalidArgumentError, match="first_stream"):
        model.certify_batch(xs, n0=10, n=70000, first_stream=2**64 - 2, progress=False,
                            tsv=tmp_path / "c.tsv")
    assert not (tmp_path / "c.tsv").exists()


def test_float_labels_are_refused(model):
    with pytest.raises(ValueError, match="labels must be integers"):
        model.predict_batch(np.zeros((3, 784), np.float32), labels=[1.9, 0.2, 3.0], n=10,
                            progress=False)


def test_relative_library_path(tmp_path):
    lib = Path(rsc._native.lib()._name)
    (tmp_path / "librsc.so").symlink_to(lib)
    env = dict(ENV, RSC_LIBRARY="./librsc.so", LD_LIBRARY_PATH="")
    out = subprocess.run([sys.executable, "-c", "import rsc; print(rsc.version())"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr


def test_distributed_command_line_shapes_labels_and_ranges(tmp_path):
    pytest.importorskip("distributed", reason="Dask's `distributed` is not installed")
    from rsc import distributed as rd
    xs = np.load(DEMO / "test_images.npy")
    ys = np.load(DEMO / "test_labels.npy")
    np.save(tmp_path / "hwc.npy", np.moveaxis(xs, 1, -1))           # (N, 28, 28, 1)
    np.save(tmp_path / "hw.npy", xs[:, 0])                           # (N, 28, 28): idx-style
    np.save(tmp_path / "range.npy", ys[2:5])
    bad = [(["hwc.npy"], "samples have shape (28, 28, 1)"),
           (["hw.npy", "--labels", "range.npy", "--start", "2", "--count", "4"],
            "holds 3 labels; labels must cover all 20 samples or exactly the 4 selected"),
           (["hw.npy", "--seed", "-1"], "--seed must lie in 0 .. 2^64 - 1"),
           (["hw.npy", "--start", "20"], "no inputs among the 20")]
    for args, msg in bad:
        out = _distributed("predict", MODEL, *args, "--scheduler", "tcp://127.0.0.1:9",
                           "--no-progress", cwd=tmp_path)
        assert out.returncode in (1, 2) and msg in out.stderr and "Traceback" not in out.stderr, \
            (args, out.stderr)
    # (N, H, W) for a one-channel model and labels of the selected range only are accepted.
    out = _distributed("predict", MODEL, "hw.npy", "--labels", "range.npy", "--start", "2",
                       "--count", "3", "--n", "50", "--local-workers", "1", "--threads", "1",
                       "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.strip().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == [2, 3, 4] and [int(r[1]) for r in rows] == ys[2:5].tolist()
    assert rd.main  # the module imports
