"""Bad input through the C API: a distinct status and a message naming the problem, never a
crash. Corrupted files are made from a valid fixture, with the checksum recomputed so that the
intended check, not the checksum, is what fires."""
import ctypes
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import _native, errors, models

FIXTURES = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures"
CONV = (FIXTURES / "conv_lif.rscm").read_bytes()
LAYER0 = 128  # first layer record


def patched(data: bytes, offset: int, fmt: str, value, fix_crc: bool = True) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    if fix_crc:
        b[12:16] = b"\0\0\0\0"
        struct.pack_into("<I", b, 12, zlib.crc32(bytes(b)))
    return bytes(b)


def load_bytes(tmp_path, data: bytes):
    p = tmp_path / "bad.rscm"
    p.write_bytes(data)
    return rsc.load(p)


CORRUPTIONS = {
    "bad magic": (lambda: b"GIF89a" + CONV[6:], errors.BadMagicError, "magic"),
    "version": (lambda: patched(CONV, 8, "<I", 3), errors.UnsupportedVersionError, "version 3"),
    "truncated": (lambda: CONV[:-100], errors.TruncatedError, "file_size"),
    "short header": (lambda: CONV[:60], errors.TruncatedError, "header"),
    "checksum": (lambda: patched(CONV, 2000, "<B", CONV[2000] ^ 1, fix_crc=False), errors.ChecksumError, "checksum"),
    # The canonical layout (docs/format.md, "Tensors"): each tensor where the previous one ends,
    # rounded up to 64; a file whose tensors overlap, leave junk between them or are followed by
    # data is refused (a shared weight tensor multiplied memory at load, trailing data was read).
    "weight moved": (lambda: patched(CONV, LAYER0 + 72, "<Q", len(CONV) // 64 * 64), errors.InvalidFieldError, "weight_offset"),
    "huge offset": (lambda: patched(CONV, LAYER0 + 88, "<Q", 2**63), errors.InvalidFieldError, "scale_offset"),
    "shared weight": (lambda: patched(CONV, LAYER0 + 128 * 2 + 72, "<Q", struct.unpack_from("<Q", CONV, LAYER0 + 72)[0]),
                      errors.InvalidFieldError, "layer 2 (conv2d): weight_offset"),
    "trailing data": (lambda: patched(CONV + bytes(64), 16, "<Q", len(CONV) + 64), errors.InvalidFieldError, "after its last tensor"),
    "padding junk": (lambda: patched(CONV, struct.unpack_from("<Q", CONV, LAYER0 + 72)[0] - 1, "<B", 7),
                     errors.InvalidFieldError, "padding"),
    "last tensor cut": (lambda: patched(CONV[:-4], 16, "<Q", len(CONV) - 4), errors.OutOfBoundsError, "past the end"),
    "shape chain": (lambda: patched(CONV, LAYER0 + 128 + 12, "<I", 7), errors.ShapeError, "layer 1"),
    "weight size": (lambda: patched(CONV, LAYER0 + 80, "<Q", 53), errors.ShapeError, "weight_size"),
    "absurd layers": (lambda: patched(CONV, 32, "<I", 100000), errors.LimitError, "num_layers"),
    "absurd input": (lambda: patched(CONV, 44, "<I", 1 << 20), errors.LimitError, "input height"),
    "absurd T": (lambda: patched(CONV, 56, "<I", 1 << 30), errors.LimitError, "time_steps"),
    "sigma zero": (lambda: patched(CONV, 60, "<f", 0.0), errors.InvalidFieldError, "sigma"),
    "sigma negative": (lambda: patched(CONV, 60, "<f", -0.25), errors.InvalidFieldError, "sigma"),
    "sigma nan": (lambda: patched(CONV, 60, "<f", float("nan")), errors.InvalidFieldError, "sigma"),
    "unknown kind": (lambda: patched(CONV, LAYER0, "<I", 9), errors.InvalidFieldError, "kind"),
    "reserved": (lambda: patched(CONV, 100, "<I", 1), errors.InvalidFieldError, "reserved"),
    "tau below 1": (lambda: patched(CONV, LAYER0 + 60, "<f", 0.5), errors.InvalidFieldError, "tau"),
    "unaligned tensor": (lambda: patched(CONV, LAYER0 + 72, "<Q", struct.unpack_from("<Q", CONV, LAYER0 + 72)[0] + 1),
                         errors.InvalidFieldError, "multiple of 64"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_corrupted_file_is_rejected(case, tmp_path):
    make, exc, words = CORRUPTIONS[case]
    with pytest.raises(exc) as info:
        load_bytes(tmp_path, make())
    assert words in info.value.message, info.value.message


def test_every_truncation_and_byte_flip_is_rejected_cleanly(tmp_path):
    """A cheap fuzz: every prefix length (step 7) and single-byte changes with a fixed checksum
    either load or fail with an RSCError; the process never dies."""
    for n in range(0, len(CONV), 7):
        with pytest.raises(errors.RSCError):
            load_bytes(tmp_path, CONV[:n])
    rng = np.random.default_rng(0)
    outcomes = set()
    for _ in range(400):
        off = int(rng.integers(0, 2048))
        try:
            load_bytes(tmp_path, patched(CONV, off, "<B", int(rng.integers(0, 256))))
            outcomes.add("ok")
        except errors.RSCError as e:
            outcomes.add(type(e).__name__)
    assert len(outcomes) >= 5, outcomes


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(errors.ModelIOError, match="cannot open"):
        rsc.load(tmp_path / "nope.rscm")
    with pytest.raises(errors.ModelIOError, match="not a regular file"):
        rsc.load(tmp_path)


@pytest.fixture(scope="module")
def conv():
    return rsc.load(FIXTURES / "conv_lif.rscm")


def test_argument_errors(conv):
    x = np.zeros(conv.info.input_len, np.float32)
    with pytest.raises(errors.InvalidArgumentError, match="n is 0"):
        conv.predict(x, n=0)
    with pytest.raises(errors.InvalidArgumentError, match="n0 is 0"):
        conv.certify(x, n0=0)
    with pytest.raises(errors.InvalidArgumentError, match="n is 0"):
        conv.certify(x, n=0)
    for alpha in (0.0, 1.0, -0.1, 1.5, float("nan")):
        with pytest.raises(errors.InvalidArgumentError, match="alpha"):
            conv.certify(x, n=10, alpha=alpha)
        with pytest.raises(errors.InvalidArgumentError, match="alpha"):
            conv.predict(x, n=10, alpha=alpha)
    with pytest.raises(errors.InputSizeError, match="143 values"):
        conv.certify(x[:-1], n=10)
    with pytest.raises(errors.InputSizeError, match="T x d"):
        conv.forward(np.zeros(10))
    for bad in (np.nan, np.inf, -np.inf, 1e7):
        y = x.copy()
        y[17] = bad
        with pytest.raises(errors.InputValueError, match=r"x\[17\]"):
            conv.predict(y, n=10)
    with pytest.raises(errors.InvalidArgumentError, match="num_threads"):
        rsc.set_num_threads(-1)


def test_certify_needs_gaussian_coding(write):
    for coding in ("poisson", "direct"):
        model = rsc.load(write(models.random_mlp(seed=1, coding=coding)))
        x = np.full(model.info.input_len, 0.5)
        with pytest.raises(errors.UnsupportedError, match=f"{coding} coding"):
            model.certify(x, n=10)
        assert model.predict(x, n=50).counts.sum() == 50  # predict works


@pytest.mark.parametrize("window", [15, 2])
def test_accumulator_range_is_checked_at_load(write, window):
    """Always-firing neurons, sum-pooled over 16x16 then window x window: counts up to
    256 * window^2 feed a linear layer whose rows sum to 127 * 6 * (50 - window)^2 in int8. At
    window 15 the product passes 2^31 and the int32 sums would wrap (the runtime then voted the
    wrong class, with full confidence): refused at load. At window 2 the bound is 1.8e9 < 2^31:
    it loads and runs exactly."""
    from rsc import format as rf
    from rsc import reference as ref
    n = 6 * (50 - window) ** 2
    w1 = np.zeros((2, n))
    w1[0], w1[1] = 1.0, -1.0
    m = rf.build_model((1, 64, 64), [
        ("conv2d", np.ones((6, 1, 1, 1)), np.full(6, 10.0), {"neuron": "if", "v_threshold": 1.0}),
        ("sumpool2d", 16, 1), ("sumpool2d", window, 1), ("flatten",),
        ("linear", w1, np.zeros(2))], time_steps=1, coding="gaussian", sigma=0.25)
    if window == 15:
        with pytest.raises(errors.UnsupportedError, match="layer 4 .* 32-bit accumulators"):
            rsc.load(write(m))
    else:
        x = np.zeros((1, 64, 64), np.float32)
        got, want = rsc.load(write(m)).forward(x[None]), ref.forward(m, x[None])
        assert np.allclose(got, want, rtol=1e-6) and want[0] == pytest.approx(1024 * n, rel=1e-6)


def test_null_pointers_and_struct_sizes(librsc, conv):
    lib = librsc
    out = ctypes.c_void_p(1)
    assert lib.rsc_load(None, ctypes.byref(out)) == errors.NullPointerError.status
    assert out.value is None and b"path is NULL" in lib.rsc_last_error()
    assert lib.rsc_load(str(FIXTURES / "conv_lif.rscm").encode(), None) == errors.NullPointerError.status
    info = _native.ModelInfo(struct_size=ctypes.sizeof(_native.ModelInfo))
    assert lib.rsc_model_info(None, ctypes.byref(info)) == errors.NullPointerError.status
    assert lib.rsc_model_info(conv._handle, None) == errors.NullPointerError.status
    info.struct_size = 0
    assert lib.rsc_model_info(conv._handle, ctypes.byref(info)) == errors.InvalidArgumentError.status
    assert b"struct_size" in lib.rsc_last_error()
    cert = _native.Certificate(struct_size=ctypes.sizeof(_native.Certificate))
    x = (ctypes.c_float * 144)()
    assert lib.rsc_certify(conv._handle, None, 144, None, ctypes.byref(cert)) == errors.NullPointerError.status
    assert lib.rsc_certify(conv._handle, x, 144, None, None) == errors.NullPointerError.status
    assert lib.rsc_certify(None, x, 144, None, ctypes.byref(cert)) == errors.NullPointerError.status
    params = lib.rsc_certify_default_params()
    params.struct_size = 8
    assert lib.rsc_certify(conv._handle, x, 144, ctypes.byref(params), ctypes.byref(cert)) == errors.InvalidArgumentError.status
    seq = _native.SequentialCertificate(struct_size=ctypes.sizeof(_native.SequentialCertificate))
    assert lib.rsc_certify_sequential(conv._handle, None, 144, None, ctypes.byref(seq)) == errors.NullPointerError.status
    assert lib.rsc_certify_sequential(conv._handle, x, 144, None, None) == errors.NullPointerError.status
    assert lib.rsc_certify_sequential(None, x, 144, None, ctypes.byref(seq)) == errors.NullPointerError.status
    sp = lib.rsc_certify_sequential_default_params()
    assert (sp.struct_size, sp.n0, sp.n_max, sp.alpha, sp.num_radii) == (ctypes.sizeof(sp), 100, 100_000, 0.001, 0)
    sp.num_radii = 2  # radii NULL
    assert lib.rsc_certify_sequential(conv._handle, x, 144, ctypes.byref(sp), ctypes.byref(seq)) == errors.NullPointerError.status
    assert b"radii is NULL" in lib.rsc_last_error()
    sp.num_radii, sp.struct_size = 0, 8
    assert lib.rsc_certify_sequential(conv._handle, x, 144, ctypes.byref(sp), ctypes.byref(seq)) == errors.InvalidArgumentError.status
    seq.struct_size = 4
    assert lib.rsc_certify_sequential(conv._handle, x, 144, None, ctypes.byref(seq)) == errors.InvalidArgumentError.status
    assert b"rsc_sequential_certificate.struct_size" in lib.rsc_last_error()
    logits = (ctypes.c_float * 10)()
    assert lib.rsc_forward(conv._handle, None, 576, logits, 10) == errors.NullPointerError.status
    lib.rsc_free(None)  # a no-op


def test_status_strings_and_version(librsc):
    assert librsc.rsc_version().decode() == rsc.version() == "0.4.0"
    names = [librsc.rsc_status_string(s).decode().split(":")[0] for s in range(18)]
    assert names[0] == "RSC_OK" and names[4] == "RSC_E_MAGIC" and len(set(names)) == 18
    for cls in errors.BY_STATUS.values():
        assert names[cls.status] == cls.name
    assert librsc.rsc_status_string(999) == b"unknown rsc_status"


def test_last_error_is_per_thread(librsc, tmp_path):
    import threading
    assert librsc.rsc_load(str(tmp_path / "a.rscm").encode(), ctypes.byref(ctypes.c_void_p())) != 0
    seen = {}

    def other():
        seen["before"] = librsc.rsc_last_error()
        librsc.rsc_set_num_threads(-5)
        seen["after"] = librsc.rsc_last_error()
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen["before"] == b"" and b"num_threads" in seen["after"]
    assert b"a.rscm" in librsc.rsc_last_error()


def test_path_bytes_that_are_not_utf8_name_their_own_file(tmp_path):
    """rsc_load passes the caller's bytes to open(): `model\\xff` is not `model\\ufffd` (the
    decoded and re-encoded name, which rsc used to open instead), through C/Python and rsc-cli."""
    import os
    import subprocess
    sibling = os.path.join(os.fsencode(tmp_path), "model\ufffd".encode())
    with open(sibling, "wb") as f:
        f.write(CONV)
    wanted = os.path.join(os.fsencode(tmp_path), b"model\xff")
    with pytest.raises(errors.ModelIOError, match=r"model\\xff': No such file"):
        rsc.load(wanted)
    assert rsc.load(sibling).info.num_classes == 10
    cli = FIXTURES.parent.parent / ".build" / "release" / "rsc-cli"
    if cli.exists():
        r = subprocess.run([os.fsencode(cli), b"info", wanted], capture_output=True)
        assert r.returncode != 0 and b"No such file" in r.stderr
        assert subprocess.run([os.fsencode(cli), b"info", sibling], capture_output=True).returncode == 0
    with open(wanted, "wb") as f:
        f.write(CONV)
    assert rsc.load(wanted).info.num_classes == 10


def test_models_that_can_overflow_float32_are_refused(tmp_path):
    """Analog sum pools before the first weighted layer overflowed float32 (rsc_forward returned
    [nan, inf] with RSC_OK and predict voted class 0); scales near 3.4e38 gave infinite logits.
    Both are refused at load, and what loads returns finite logits at the input limit."""
    from rsc import format as rf
    pools = [("sumpool2d", 8, {"stride": 1, "padding": 7})] * 18  # x 64 each: 64^18 = 3e32
    spec = rf.build_model((1, 4, 4), pools + [("flatten",), ("linear", np.ones((2, 130 * 130)))],
                          time_steps=1, coding="gaussian", sigma=1.0)
    p = tmp_path / "pools.rscm"
    rf.write_model(spec, p)
    with pytest.raises(errors.UnsupportedError, match="beyond float32"):
        rsc.load(p)
    spec = rf.build_model((4, 1, 1), [("linear", np.ones((2, 4)))], time_steps=1, coding="gaussian", sigma=1.0)
    spec.layers[0].scale = np.array([3e38, 1.0], np.float32)
    p = tmp_path / "scale.rscm"
    rf.write_model(spec, p)
    with pytest.raises(errors.UnsupportedError, match="beyond float32"):
        rsc.load(p)
    spec.layers[0].scale = np.array([1e20, 1.0], np.float32)
    rf.write_model(spec, p)
    logits = rsc.load(p).forward(np.full((1, 4), 1e6, np.float32))
    assert np.all(np.isfinite(logits))


def test_cancellation_counts_the_passes_of_the_whole_call(conv):
    """Review finding 4b: a certify of n0 = 120, n = 3000 has 3120 passes; a cancellation says
    where among them it stopped and in which phase, not "after 0 of 120" or "of 3000"."""
    x = np.zeros(conv.info.input_len, np.float32)
    with pytest.raises(errors.CancelledError, match=r"after 0 of the call's 3120 passes \(in its selection phase\)"):
        conv.certify(x, n0=120, n=3000, threads=1, progress=lambda f: False)
    with pytest.raises(errors.CancelledError) as e:
        conv.certify(x, n0=120, n=3000, threads=1, progress=lambda f: f < 0.5)
    msg = str(e.value)
    assert "of the call's 3120 passes (in its estimation phase)" in msg, msg
    done = int(re.search(r"(?:after|during passes) (\d+)", msg).group(1))
    assert 120 <= done < 3120, msg
    # A batch counts the passes of all its inputs: 3 x (120 + 3000).
    cb = _native.c_progress(lambda done, _user: False)
    p = _native.lib().rsc_certify_default_params()
    p.n0, p.n, p.num_threads, p.progress = 120, 3000, 1, cb
    xs = np.zeros(3 * conv.info.input_len, np.float32)
    out = (_native.Certificate * 3)(*[_native.lib().rsc_certificate_init() for _ in range(3)])
    got = _native.lib().rsc_certify_batch(conv._handle, xs.ctypes.data_as(_native._f32p), xs.size, 3,
                                          ctypes.byref(p), out)
    assert got == errors.CancelledError.status
    assert "after 0 of the call's 9360 passes (in its selection phase)" in _native.lib().rsc_last_error().decode()


def test_struct_size_errors_name_the_init_function(librsc, conv):
    """Review finding 4c: a wrong struct_size names the function that sets it."""
    lib = librsc
    x = (ctypes.c_float * conv.info.input_len)()
    n = conv.info.input_len
    pred = _native.Prediction(struct_size=4)
    assert lib.rsc_predict(conv._handle, x, n, None, ctypes.byref(pred)) == errors.InvalidArgumentError.status
    assert "rsc_prediction_init()" in lib.rsc_last_error().decode()
    cert = _native.Certificate(struct_size=4)
    assert lib.rsc_certify(conv._handle, x, n, None, ctypes.byref(cert)) == errors.InvalidArgumentError.status
    assert "rsc_certificate_init()" in lib.rsc_last_error().decode()
    assert lib.rsc_certify_batch(conv._handle, x, n, 1, None, ctypes.byref(cert)) == errors.InvalidArgumentError.status
    assert "rsc_certificate_init()" in lib.rsc_last_error().decode()
    seq = _native.SequentialCertificate(struct_size=4)
    assert lib.rsc_certify_sequential(conv._handle, x, n, None, ctypes.byref(seq)) == errors.InvalidArgumentError.status
    assert "rsc_sequential_certificate_init()" in lib.rsc_last_error().decode()
    info = _native.ModelInfo(struct_size=4)
    assert lib.rsc_model_info(conv._handle, ctypes.byref(info)) == errors.InvalidArgumentError.status
    assert "rsc_model_info_init()" in lib.rsc_last_error().decode()
    params = lib.rsc_certify_default_params()
    params.struct_size = 8
    cert.struct_size = ctypes.sizeof(cert)
    assert lib.rsc_certify(conv._handle, x, n, ctypes.byref(params), ctypes.byref(cert)) == errors.InvalidArgumentError.status
    assert "rsc_certify_default_params()" in lib.rsc_last_error().decode()
