"""rsc_predict_batch / rsc_certify_batch: results identical to one single call per input (input i
on stream first + i) for any thread count, cancellable, every bad argument a status with a
message and no output written; Model.predict_batch / certify_batch go through them."""
import ctypes
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import _native, errors

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "models" / "demo"
SIZE_MAX = 2**64 - 1


@pytest.fixture(scope="module")
def model():
    return rsc.load(DEMO / "fmnist_demo.rscm")


@pytest.fixture(scope="module")
def rows():
    xs = np.load(DEMO / "test_images.npy")[:5]
    return np.ascontiguousarray(xs.reshape(len(xs), -1), dtype=np.float32)


def fields(s) -> tuple:
    return tuple(getattr(s, f) for f, _ in s._fields_)


def call(librsc, kind, model, rows, params, out, count=None, xs_len=None):
    fn = getattr(librsc, f"rsc_{kind}_batch")
    n = len(rows) if count is None else count
    return fn(model._handle, rows.ctypes.data_as(_native._f32p), rows.size if xs_len is None else xs_len, n,
              ctypes.byref(params) if params is not None else None, out)


def outputs(kind, n):
    t = _native.Prediction if kind == "predict" else _native.Certificate
    out = (t * n)()
    for o in out:
        o.struct_size = ctypes.sizeof(t)
    return out


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_certify_batch_equals_single_calls(librsc, model, rows, threads):
    p = librsc.rsc_certify_default_params()
    p.n0, p.n, p.seed, p.stream, p.num_threads = 20, 150, 9, 40, threads
    out = outputs("certify", len(rows))
    assert call(librsc, "certify", model, rows, p, out) == 0, librsc.rsc_last_error()
    for i, x in enumerate(rows):
        one = librsc.rsc_certificate_init()
        p1 = librsc.rsc_certify_default_params()
        p1.n0, p1.n, p1.seed, p1.stream, p1.num_threads = 20, 150, 9, 40 + i, 1
        assert librsc.rsc_certify(model._handle, x.ctypes.data_as(_native._f32p), x.size, ctypes.byref(p1),
                                  ctypes.byref(one)) == 0
        assert fields(out[i]) == fields(one), i  # bit for bit, struct_size included


@pytest.mark.parametrize("threads", [1, 2])
def test_predict_batch_equals_single_calls_with_counts(librsc, model, rows, threads):
    K = model.info.num_classes
    counts = np.zeros((len(rows), K), dtype=np.uint64)
    p = librsc.rsc_predict_default_params()
    p.n, p.seed, p.stream, p.num_threads = 90, 3, 7, threads
    p.counts = counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
    out = outputs("predict", len(rows))
    assert call(librsc, "predict", model, rows, p, out) == 0, librsc.rsc_last_error()
    for i, x in enumerate(rows):
        single = model.predict(x, n=90, seed=3, stream=7 + i, threads=1)
        assert (out[i].label, out[i].top, out[i].runner_up, out[i].count_top, out[i].count_runner_up,
                out[i].p_value) == (single.label, single.top, single.runner_up, single.count_top,
                                    single.count_runner_up, single.p_value)
        assert np.array_equal(counts[i].astype(np.int64), single.counts)
        assert counts[i].sum() == 90


def test_python_batch_forms_use_the_batch_call(model, rows, monkeypatch):
    """Model.certify_batch / predict_batch equal per-input calls; they make one batch call for a
    small n, not one call per image."""
    calls = []
    real = model._batch
    monkeypatch.setattr(model, "_batch", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    certs = model.certify_batch(rows, n0=10, n=60, seed=2, first_stream=5, progress=False)
    preds = model.predict_batch(rows, n=60, seed=2, first_stream=5, progress=False)
    assert calls == [len(rows), len(rows)]
    for i, x in enumerate(rows):
        assert certs[i] == model.certify(x, n0=10, n=60, seed=2, stream=5 + i)
        assert preds[i] == model.predict(x, n=60, seed=2, stream=5 + i)


def test_struct_stride_follows_the_callers_struct_size(librsc, model, rows):
    """A caller built against a newer header has larger structs: elements lie struct_size apart
    and the bytes past this library's struct stay untouched."""
    size = ctypes.sizeof(_native.Certificate)
    stride = size + 16
    buf = (ctypes.c_uint8 * (stride * 3))(*([0xAB] * (stride * 3)))
    ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint32))[0] = stride
    p = librsc.rsc_certify_default_params()
    p.n0, p.n = 10, 50
    assert call(librsc, "certify", model, rows[:3], p, ctypes.cast(buf, ctypes.POINTER(_native.Certificate))) == 0
    single = outputs("certify", 3)
    assert call(librsc, "certify", model, rows[:3], p, single) == 0
    raw = bytes(buf)
    for i in range(3):
        # struct_size stays as the caller set it (out[0]'s the stride, the others not read).
        want = stride.to_bytes(4, "little") if i == 0 else b"\xab" * 4
        assert raw[i * stride:i * stride + 4] == want
        assert raw[i * stride + 4:i * stride + size] == bytes(single[i])[4:]
        assert raw[i * stride + size:(i + 1) * stride] == b"\xab" * 16


@pytest.mark.parametrize("kind", ["predict", "certify"])
def test_a_larger_stride_array_reused_for_a_second_call(librsc, model, rows, kind):
    """Review finding 1: a caller with 8 bytes more per struct (a newer header) reuses its array;
    the second call must use the same stride, not the library's sizeof that the first call used
    to write into struct_size, and give the same, correct results."""
    base = _native.Prediction if kind == "predict" else _native.Certificate

    class Newer(ctypes.Structure):
        _fields_ = base._fields_ + [("future", ctypes.c_uint64)]

    n = 4
    arr = (Newer * n)()
    for e in arr:
        e.struct_size, e.future = ctypes.sizeof(Newer), 0xAAAA
    p = getattr(librsc, f"rsc_{kind}_default_params")()
    p.n, p.seed, p.stream = 60, 3, 11
    if kind == "certify":
        p.n0 = 20
    want = outputs(kind, n)
    assert call(librsc, kind, model, rows[:n], p, want) == 0, librsc.rsc_last_error()
    for attempt in range(2):
        got = call(librsc, kind, model, rows[:n], p, ctypes.cast(arr, ctypes.POINTER(base)))
        assert got == 0, librsc.rsc_last_error()
        for i, e in enumerate(arr):
            assert e.struct_size == ctypes.sizeof(Newer), (attempt, i)  # as the caller set it
            assert e.future == 0xAAAA, (attempt, i)  # past the library's struct: untouched
            assert fields(e)[1:-1] == fields(want[i])[1:], (attempt, i)


def test_progress_covers_the_batch_and_cancels(librsc, model, rows):
    seen = []

    def progress(done, _user):
        seen.append(done)
        return done < 0.5

    cb = _native.c_progress(progress)
    p = librsc.rsc_certify_default_params()
    p.n0, p.n, p.num_threads, p.progress = 100, 5000, 1, cb
    out = outputs("certify", len(rows))
    before = bytes(out)
    assert call(librsc, "certify", model, rows, p, out) == errors.CancelledError.status
    assert "cancelled" in librsc.rsc_last_error().decode()
    assert bytes(out) == before  # no output written
    assert seen[0] == 0 and max(seen) >= 0.5 and seen == sorted(seen)


@pytest.mark.parametrize("case,status,message", [
    ("model NULL", errors.NullPointerError, "model is NULL"),
    ("xs NULL", errors.NullPointerError, "xs is NULL"),
    ("out NULL", errors.NullPointerError, "out is NULL"),
    ("no inputs", errors.InvalidArgumentError, "num_inputs is 0"),
    ("xs_len short", errors.InputSizeError, "xs has"),
    ("xs_len SIZE_MAX", errors.InputSizeError, "xs_len is 18446744073709551615"),
    ("num_inputs overflows", errors.InputSizeError, "overflows"),
    ("num_inputs SIZE_MAX", errors.InputSizeError, "num_inputs is 18446744073709551615"),
    ("out struct_size 0", errors.InvalidArgumentError, "struct_size is 0"),
    ("out struct_size odd", errors.InvalidArgumentError, "alignment"),
    ("params struct_size 0", errors.InvalidArgumentError, "params.struct_size is 0"),
    ("streams wrap", errors.InvalidArgumentError, "2^64 - 1"),
    ("bad value", errors.InputValueError, "xs[3]"),
])
@pytest.mark.parametrize("kind", ["predict", "certify"])
def test_errors_are_statuses_with_a_message(librsc, model, rows, kind, case, status, message):
    rows = rows.copy()
    p = getattr(librsc, f"rsc_{kind}_default_params")()
    p.n = 10
    out = outputs(kind, len(rows))
    fn = getattr(librsc, f"rsc_{kind}_batch")
    xs, handle, target, count, xs_len = rows.ctypes.data_as(_native._f32p), model._handle, out, len(rows), rows.size
    if case == "model NULL":
        handle = None
    elif case == "xs NULL":
        xs = None
    elif case == "out NULL":
        target = None
    elif case == "no inputs":
        count = 0
    elif case == "xs_len short":
        xs_len -= 1
    elif case == "xs_len SIZE_MAX":
        xs_len = SIZE_MAX
    elif case == "num_inputs overflows":
        count = 2**62
    elif case == "num_inputs SIZE_MAX":
        count = SIZE_MAX
    elif case == "out struct_size 0":
        out[0].struct_size = 0
    elif case == "out struct_size odd":
        out[0].struct_size = ctypes.sizeof(out[0]) + 1
    elif case == "params struct_size 0":
        p.struct_size = 0
    elif case == "streams wrap":
        p.stream = SIZE_MAX - 2
    elif case == "bad value":
        rows[3, 5] = np.nan
    before = bytes(out)
    got = fn(handle, xs, xs_len, count, ctypes.byref(p), target)
    assert got == status.status, (case, librsc.rsc_last_error())
    msg = librsc.rsc_last_error().decode()
    assert msg.startswith(f"rsc_{kind}_batch: ") and message in msg, msg
    assert bytes(out) == before


def test_init_functions_set_struct_size_and_zero(librsc):
    for fn, t in [("rsc_model_info_init", _native.ModelInfo), ("rsc_prediction_init", _native.Prediction),
                  ("rsc_certificate_init", _native.Certificate),
                  ("rsc_sequential_certificate_init", _native.SequentialCertificate)]:
        s = getattr(librsc, fn)()
        assert s.struct_size == ctypes.sizeof(t), fn
        assert bytes(s)[4:] == bytes(ctypes.sizeof(t) - 4), fn


@pytest.mark.parametrize("kind", ["predict", "certify"])
def test_a_batch_of_one_input_uses_the_batch_wording(librsc, model, rows, kind):
    """Review finding 4a: num_inputs = 1 is still a batch call; its messages name xs and xs[0],
    as for any num_inputs, not the single calls' x."""
    p = getattr(librsc, f"rsc_{kind}_default_params")()
    p.n = 10
    one = np.ascontiguousarray(rows[:3])
    out = outputs(kind, 1)
    assert call(librsc, kind, model, one, p, out, count=1) == errors.InputSizeError.status
    msg = librsc.rsc_last_error().decode()
    assert "xs has 2352 values, 1 inputs of 784" in msg and "x has" not in msg, msg
    bad = np.ascontiguousarray(rows[:1].copy())
    bad[0, 5] = np.nan
    assert call(librsc, kind, model, bad, p, out, count=1) == errors.InputValueError.status
    msg = librsc.rsc_last_error().decode()
    assert "xs[0][5] is nan" in msg, msg


_HUGE_BATCH = r"""
import ctypes, sys
import numpy as np
import rsc
from rsc import _native
lib = _native.lib()
m = rsc.load(sys.argv[1])
kind = sys.argv[2]
d = m.info.input_len
x = np.zeros(d, np.float32)  # the only real memory: xs_len claims 2^33 inputs
p = getattr(lib, f"rsc_{kind}_default_params")()
if kind == "predict":
    p.n = 2**30 + 1   # 2^33 x (2^30 + 1) passes: within 2^64, above 2^63 - 1
    out = lib.rsc_prediction_init()
else:
    p.n0, p.n = 2**29, 2**29 + 1  # 2^33 x (n0 + n) as above
    out = lib.rsc_certificate_init()
fn = getattr(lib, f"rsc_{kind}_batch")
s = fn(m._handle, x.ctypes.data_as(_native._f32p), 2**33 * d, 2**33, ctypes.byref(p), ctypes.byref(out))
print(s, lib.rsc_last_error().decode())
"""


@pytest.mark.parametrize("kind", ["predict", "certify"])
def test_num_inputs_times_passes_past_int_max_is_an_error_before_xs_is_read(kind):
    """Review finding 5: num_inputs = 2^33 with xs_len = 2^33 * d (only d floats of real memory)
    and num_inputs x passes between 2^63 and 2^64: RSC_E_ARG with a message, decided before any
    value of xs is read or anything is allocated (else this reads far past the buffer, or traps on
    a signed overflow). In a child process, so that a crash is a failure, not the end of the run."""
    import subprocess
    import sys
    got = subprocess.run([sys.executable, "-c", _HUGE_BATCH, str(DEMO / "fmnist_demo.rscm"), kind],
                         capture_output=True, text=True, timeout=120, cwd=Path(rsc.__file__).parents[1])
    assert got.returncode == 0, got.stderr[-2000:]
    status, msg = got.stdout.strip().split(" ", 1)
    assert int(status) == errors.InvalidArgumentError.status, msg
    assert msg.startswith(f"rsc_{kind}_batch: ") and "num_inputs x passes = 8589934592 x" in msg, msg
