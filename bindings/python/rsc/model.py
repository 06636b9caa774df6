"""The Model class: numpy arrays in, dataclasses out, RSCError subclasses on failure."""
from __future__ import annotations

import contextlib
import ctypes
import decimal
import operator
import os
import re
import threading
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _native
from .data import input_floats
from .errors import InputSizeError, InputValueError, InvalidArgumentError, from_status

CODINGS = {0: "direct", 1: "gaussian", 2: "gaussian-shared", 3: "poisson"}

# The TSV columns of the batch calls (Cohen et al.'s first); sequential certification adds the
# estimation passes used.
TSV_HEADERS = {"certify": "idx\tlabel\tpredict\tradius\tcorrect\ttime",
               "predict": "idx\tlabel\tpredict\tcorrect\ttime",
               "sequential": "idx\tlabel\tpredict\tradius\tcorrect\ttime\tpasses"}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    time_steps: int
    coding: str
    sigma: float
    sigma_eff: float  # radius scale: sigma/sqrt(T) (gaussian), sigma (gaussian-shared), 0 otherwise
    class_names: tuple[str, ...]
    num_layers: int  # layers (format version 1) or nodes (version 2)
    format_version: int = 1
    scratch_bytes: int = 0  # kernel scratch memory per thread of a call
    work_per_pass: int = 0  # operations of one pass (MACs, pooling, neuron updates, T steps)
    plan_bytes: int = 0  # memory of the loaded network
    noise_tail_mass: float = 0.0  # Gaussian mass per pass the noise does not draw (subtracted from pA)
    arithmetic: str = "float"  # or "integer": the classifier is docs/format.md's integer pipeline
    input_shift: int = 0  # integer: the input grid's step is 2^-input_shift
    input_limit: int = 0  # integer: grid values are clamped to +-input_limit

    @property
    def input_len(self) -> int:
        c, h, w = self.input_shape
        return c * h * w


@dataclass(frozen=True, eq=False)
class Prediction:
    label: int  # -1 (rsc.ABSTAIN) when the binomial test cannot separate the top two classes
    top: int
    runner_up: int
    count_top: int
    count_runner_up: int
    p_value: float
    counts: np.ndarray  # votes per class

    @property
    def abstained(self) -> bool:
        return self.label < 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prediction):
            return NotImplemented
        return (self.label, self.top, self.runner_up, self.count_top, self.count_runner_up,
                self.p_value) == (other.label, other.top, other.runner_up, other.count_top,
                                  other.count_runner_up, other.p_value) \
            and np.array_equal(self.counts, other.counts)


@dataclass(frozen=True)
class Certificate:
    label: int  # -1 (rsc.ABSTAIN) when pa_lower < 1/2
    selected: int
    count_selected: int
    n: int
    pa_lower: float
    radius: float

    @property
    def abstained(self) -> bool:
        return self.label < 0


@dataclass(frozen=True)
class SequentialCertificate(Certificate):
    """The result of sequential certification (`Model.certify(..., radii=...)`,
    docs/sequential.md). `radius` is the largest requested radius certified (every requested
    radius <= it is certified; 0 when none is or on abstain), `n` the estimation passes used (at
    most `n_max`), `pa_lower` the anytime-valid lower bound at stopping, `num_certified` how many
    of `radii` are certified."""
    n_max: int
    radii: tuple[float, ...]
    num_certified: int

    @property
    def passes(self) -> int:
        return self.n


def _values(shape: tuple) -> str:
    n = int(np.prod(shape, dtype=np.int64))
    return f"{n} value{'s' if n != 1 else ''}"


def _input(x: ArrayLike, info: ModelInfo) -> np.ndarray:
    """One input, (C, H, W) or (d,), as contiguous float32 (d,) by rsc.data's dtype rule. Other
    shapes are refused even with d values: a (28, 28, 1) image is not the (1, 28, 28) one."""
    a = input_floats(x)
    if a.shape not in (info.input_shape, (info.input_len,)):
        raise InputSizeError(f"expected one input of shape {info.input_shape} or "
                             f"({info.input_len},) ({_values(info.input_shape)}), got shape "
                             f"{a.shape} ({_values(a.shape)})", InputSizeError.status)
    return np.ascontiguousarray(a.reshape(-1))


def _input_rows(xs: ArrayLike, info: Optional[ModelInfo]) -> np.ndarray:
    """A data set, (N, C, H, W) or (N, d), as contiguous float32 rows (N, d) by rsc.data's dtype
    rule; another shape is an InputSizeError naming both (info None: any (N, ...), the shape is
    checked where the model is)."""
    xs = input_floats(xs)
    if info is None:
        ok = xs.ndim >= 2
        want = "(N, ...)"
    else:
        ok = xs.shape[1:] in (info.input_shape, (info.input_len,))
        want = f"(N, {', '.join(map(str, info.input_shape))}) or (N, {info.input_len})"
    if not ok:
        each = "" if info is None else f" ({_values(info.input_shape)} each)"
        raise InputSizeError(f"expected inputs of shape {want}{each}, got shape {xs.shape}",
                             InputSizeError.status)
    # An empty data set is (0, d): reshape(0, -1) cannot infer d from no elements.
    return np.ascontiguousarray(xs.reshape(len(xs), int(np.prod(xs.shape[1:]))))


def radius_text(radius: float) -> str:
    """A radius for a TSV: rounded down to 4 decimals, so that a reader comparing it with a radius
    r never counts an image certified at r that is not (0.24997 prints 0.2499, not 0.2500).
    Rounded from the shortest decimal that reads back as the same double (repr), so a requested
    radius of sequential certification such as 0.3 prints 0.3000 and reads back as itself; no
    4-decimal number lies between a double and its repr, so the text never exceeds the radius."""
    return str(decimal.Decimal(repr(float(radius))).quantize(decimal.Decimal("0.0001"),
                                                             rounding=decimal.ROUND_FLOOR))


def _labels(labels, count: int, num_classes: Optional[int]) -> np.ndarray:
    """One int64 label per input; a value >= num_classes is an error (negative: unknown).
    Labels are integers (or bool): floats are refused rather than truncated, as rsc-cli does."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iub" and labels.size:
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.reshape(-1).astype(np.int64)
    if len(labels) != count:
        raise ValueError(f"{len(labels)} labels for {count} inputs")
    bad = np.flatnonzero(labels >= num_classes) if num_classes is not None else []
    if len(bad):
        raise ValueError(f"label {labels[bad[0]]} at index {bad[0]} is not a class of the model "
                         f"({num_classes} classes)")
    return labels


def _progress_bar(total: int, enabled: bool, desc: str, initial: int = 0):
    """A tqdm bar when tqdm is installed (extra `progress`) and enabled, else a no-op."""
    if enabled:
        try:
            from tqdm.auto import tqdm
            return tqdm(total=total, initial=initial, desc=desc, unit="img")
        except ImportError:
            pass

    class _Null:
        def update(self, n: int = 1) -> None: ...
        def close(self) -> None: ...
    return _Null()


def _radii(radii) -> np.ndarray:
    """Requested radii as contiguous float64 (the library checks their values)."""
    if isinstance(radii, (str, bytes)):
        raise TypeError("radii must be a sequence of numbers")
    r = np.ascontiguousarray(np.asarray(radii, dtype=np.float64).reshape(-1))
    return r


def _name_image(err: InputValueError, idx: Optional[int]) -> InputValueError:
    """The library's message on a bad input value, naming the image by its index in the data set
    (the TSV's idx: first_stream + i) rather than by its place in one call."""
    what = re.sub(r"\bxs\[\d+\](?=\[)", "x", err.message, count=1)
    where = f"image {idx}: " if idx is not None else ""
    return InputValueError(where + what, err.status)


def _check(status: int) -> None:
    if status != 0:
        raise from_status(status, _native.lib().rsc_last_error().decode("utf-8", "replace"))


def _int(name: str, v, hi: int, lo: int = 0) -> int:
    """v as an int in [lo, hi]: ctypes would silently wrap anything outside its field."""
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(v).__name__}") from None
    if not lo <= i <= hi:
        raise InvalidArgumentError(f"{name} is {i}, it must be in [{lo}, {hi}]"
                                   + (" (0: the library default)" if name == "threads" else ""),
                                   InvalidArgumentError.status)
    return i


_U32, _U64 = 2**32 - 1, 2**64 - 1


class _Progress:
    """The C progress callback around fn(done) -> bool: a false result (None continues) cancels
    the call. An exception in fn (KeyboardInterrupt too) cancels it and is re-raised by
    `raise_pending` after the C call returns, instead of dying inside ctypes."""

    def __init__(self, fn: Optional[Callable[[float], bool]]):
        self.fn, self.error = fn, None
        self.c = _native.c_progress(self._call) if fn is not None else _native.c_progress()

    def _call(self, done: float, _user) -> bool:
        try:
            r = self.fn(done)
            return r is None or bool(r)
        except BaseException as e:  # KeyboardInterrupt too: re-raised by raise_pending
            self.error = e
            return False

    def raise_pending(self) -> None:
        if self.error is not None:
            raise self.error


def version() -> str:
    return _native.lib().rsc_version().decode()


def set_num_threads(n: int) -> None:
    """Threads for calls that pass threads=0 (0 = all hardware threads)."""
    # The int's range only: the library itself rejects negative counts.
    _check(_native.lib().rsc_set_num_threads(_int("threads", n, 2**31 - 1, -2**31)))


def load(path: str | os.PathLike, *, max_work_per_pass: Optional[int] = None) -> "Model":
    """Loads and validates an .rscm file. max_work_per_pass: refuse models whose pass takes more
    operations (default 2^33, accepted 1 .. 2^40; docs/reliability.md)."""
    return Model(path, max_work_per_pass=max_work_per_pass)


def load_from_memory(data: bytes | bytearray | memoryview, *, max_work_per_pass: Optional[int] = None) -> "Model":
    """Loads a model from the bytes of an .rscm file, validated as a file is."""
    return Model(None, data=data, max_work_per_pass=max_work_per_pass)


class Model:
    """A loaded .rscm model; thread-safe, released by close() or when garbage collected.

    close() may be called from any thread at any time: calls in flight finish on the model, and
    the last of them releases it. Copies and pickles load the file again (`path`), or, for a model
    loaded from memory (`path` None), its bytes, which it keeps for that."""

    def __init__(self, path: str | os.PathLike | None, *, data: bytes | bytearray | memoryview | None = None,
                 max_work_per_pass: Optional[int] = None):
        self._lib = _native.lib()
        self._lock = threading.Lock()
        self._handle, self._users, self._closed = None, 0, False
        self._max_work = max_work_per_pass
        options = self._lib.rsc_load_default_options()
        if max_work_per_pass is not None:
            options.max_work_per_pass = _int("max_work_per_pass", max_work_per_pass, _U64)
        handle = ctypes.c_void_p()
        if (path is None) == (data is None):
            raise TypeError("give a path or data, not both")
        if path is not None:
            raw_path = os.fsencode(path)
            if b"\0" in raw_path:
                raise ValueError(f"embedded null byte in the model path {path!r}")
            self.path, self._data = os.path.abspath(os.fsdecode(raw_path)), None
            _check(self._lib.rsc_load_with_options(raw_path, ctypes.byref(options), ctypes.byref(handle)))
        else:
            self.path, self._data = None, bytes(data)
            # bytes pass as a pointer to their buffer (no copy); the library copies what it keeps
            _check(self._lib.rsc_load_from_memory_with_options(self._data, len(self._data), ctypes.byref(options),
                                                               ctypes.byref(handle)))
        self._handle = handle
        raw = _native.ModelInfo(struct_size=ctypes.sizeof(_native.ModelInfo))
        _check(self._lib.rsc_model_info(self._handle, ctypes.byref(raw)))
        self.info = ModelInfo(
            name=raw.name.decode(),
            input_shape=(raw.input_channels, raw.input_height, raw.input_width),
            num_classes=raw.num_classes, time_steps=raw.time_steps, coding=CODINGS[raw.coding],
            sigma=raw.sigma, sigma_eff=raw.sigma_eff,
            class_names=tuple(raw.class_names[k].decode() for k in range(raw.num_classes)),
            num_layers=raw.num_layers, format_version=raw.format_version,
            scratch_bytes=raw.scratch_bytes, work_per_pass=raw.work_per_pass,
            plan_bytes=raw.plan_bytes, noise_tail_mass=raw.noise_tail_mass,
            arithmetic="integer" if raw.arithmetic == 1 else "float", input_shift=raw.input_shift,
            input_limit=raw.input_limit)

    def close(self) -> None:
        if getattr(self, "_lock", None) is None:  # __init__ failed before there was a handle
            return
        with self._lock:
            self._closed = True
            self._free_if_unused()

    def _free_if_unused(self) -> None:  # with the lock held
        if self._closed and not self._users and self._handle is not None:
            handle, self._handle = self._handle, None
            self._lib.rsc_free(handle)

    @contextlib.contextmanager
    def _use(self):
        """The handle for one C call; close() waits for the call's end before freeing it."""
        with self._lock:
            if self._closed or self._handle is None:
                raise ValueError("model is closed")
            self._users += 1
        try:
            yield self._handle
        finally:
            with self._lock:
                self._users -= 1
                self._free_if_unused()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __reduce__(self):
        if self.path is None:
            return (_from_memory, (self._data, self._max_work))
        return (_from_path, (self.path, self._max_work))

    def __repr__(self) -> str:
        i = getattr(self, "info", None)
        if i is None:  # __init__ failed
            return "<rsc.Model (not loaded)>"
        where = f", path {self.path!r}" if self.path is not None else ", from memory"
        return (f"<rsc.Model {i.name!r}, format {i.format_version}: input {i.input_shape}, "
                f"{i.num_classes} classes, T = {i.time_steps}, coding {i.coding}, sigma {i.sigma:g}"
                f"{', integer arithmetic' if i.arithmetic == 'integer' else ''}"
                f"{where}{', closed' if self._closed else ''}>")

    def forward(self, inputs: ArrayLike) -> np.ndarray:
        """The base SNN on per-step inputs of shape (T, C, H, W), (T, d) or (T * d,) as rsc_forward
        takes them, T the model's time steps (values by rsc.data's dtype rule, uint8 / 255);
        returns the T-averaged logits (float32, shape (K,))."""
        i = self.info
        t, d = i.time_steps, i.input_len
        u = input_floats(inputs)
        if u.shape not in ((t,) + i.input_shape, (t, d), (t * d,)):
            raise InputSizeError(f"forward takes T x d inputs of shape {(t,) + i.input_shape}, "
                                 f"{(t, d)} or ({t * d},) (T = {t} steps of "
                                 f"{_values(i.input_shape)}), got shape {u.shape}",
                                 InputSizeError.status)
        u = np.ascontiguousarray(u.reshape(-1))
        logits = np.zeros(self.info.num_classes, dtype=np.float32)
        with self._use() as h:
            _check(self._lib.rsc_forward(h, u.ctypes.data_as(_native._f32p), u.size,
                                         logits.ctypes.data_as(_native._f32p), logits.size))
        return logits

    def predict(self, x: ArrayLike, n: int = 100_000, alpha: float = 0.001, seed: int = 0,
                stream: int = 0, threads: int = 0,
                progress: Optional[Callable[[float], bool]] = None) -> Prediction:
        """Smoothed prediction of one input, shape (C, H, W) or (d,) (values by rsc.data's dtype
        rule: uint8 is scaled by 1/255); label -1 means abstain.

        threads: 0 = the library default (`set_num_threads`); results do not depend on it.
        progress(done), done in [0, 1], runs between chunks of passes on this thread: a false
        result cancels (CancelledError), None continues, an exception it raises propagates."""
        xs = _input(x, self.info)
        counts = np.zeros(self.info.num_classes, dtype=np.uint64)
        p = self._lib.rsc_predict_default_params()
        p.n, p.alpha = _int("n", n, _U64), alpha
        p.seed, p.stream = _int("seed", seed, _U64), _int("stream", stream, _U64)
        p.num_threads = _int("threads", threads, _U32)
        cb = _Progress(progress)
        p.progress = cb.c
        p.counts = counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
        out = _native.Prediction(struct_size=ctypes.sizeof(_native.Prediction))
        with self._use() as h:
            status = self._lib.rsc_predict(h, xs.ctypes.data_as(_native._f32p), xs.size,
                                           ctypes.byref(p), ctypes.byref(out))
        cb.raise_pending()
        _check(status)
        return Prediction(out.label, out.top, out.runner_up, out.count_top, out.count_runner_up,
                          out.p_value, counts.astype(np.int64))

    def certify(self, x: ArrayLike, n0: int = 100, n: int = 100_000, alpha: float = 0.001,
                seed: int = 0, stream: int = 0, threads: int = 0,
                progress: Optional[Callable[[float], bool]] = None,
                radii: Optional[ArrayLike] = None) -> Certificate:
        """Certified prediction of one input ((C, H, W) or (d,), as in `predict`) with its L2
        radius; label -1 = abstain. threads and progress as in `predict`.

        radii (a sequence of L2 radii >= 0): sequential certification instead (docs/sequential.md,
        rsc_certify_sequential): decides whether each radius is certified, stopping as soon as
        that is decided, with n as the cap n_max on the estimation passes and the same alpha
        guarantee. Returns a `SequentialCertificate`, whose radius is the largest requested radius
        certified and whose n is the passes used."""
        if radii is not None:
            return self._certify_sequential(x, n0, n, alpha, seed, stream, threads, progress, radii)
        xs = _input(x, self.info)
        p = self._lib.rsc_certify_default_params()
        p.n0, p.n, p.alpha = _int("n0", n0, _U64), _int("n", n, _U64), alpha
        p.seed, p.stream = _int("seed", seed, _U64), _int("stream", stream, _U64)
        p.num_threads = _int("threads", threads, _U32)
        out = self._call(self._lib.rsc_certify, xs, p, _native.Certificate, progress)
        return Certificate(out.label, out.selected, out.count_selected, out.n, out.pa_lower,
                           out.radius)

    def _call(self, fn, xs: np.ndarray, params, out_type, progress):
        """fn(model, x, len, &params, &out) with the progress callback in params; the output
        struct, or the error (an exception of the callback first)."""
        cb = _Progress(progress)
        params.progress = cb.c
        out = out_type(struct_size=ctypes.sizeof(out_type))
        with self._use() as h:
            status = fn(h, xs.ctypes.data_as(_native._f32p), xs.size, ctypes.byref(params),
                        ctypes.byref(out))
        cb.raise_pending()
        _check(status)
        return out

    def _certify_sequential(self, x, n0, n_max, alpha, seed, stream, threads, progress,
                            radii) -> SequentialCertificate:
        xs = _input(x, self.info)
        r = _radii(radii)
        p = self._lib.rsc_certify_sequential_default_params()
        p.n0, p.n_max, p.alpha = _int("n0", n0, _U64), _int("n", n_max, _U64), alpha
        p.seed, p.stream = _int("seed", seed, _U64), _int("stream", stream, _U64)
        p.num_threads = _int("threads", threads, _U32)
        p.radii = r.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) if r.size else None
        p.num_radii = r.size
        out = self._call(self._lib.rsc_certify_sequential, xs, p, _native.SequentialCertificate,
                         progress)
        return SequentialCertificate(out.label, out.selected, out.count_selected, out.passes,
                                     out.pa_lower, out.radius, p.n_max, tuple(float(v) for v in r),
                                     out.num_certified)

    # ---- data sets --------------------------------------------------------------------------

    def predict_batch(self, xs: ArrayLike, labels: Optional[ArrayLike] = None, n: int = 100_000,
                      alpha: float = 0.001, seed: int = 0, first_stream: int = 0,
                      threads: int = 0, progress: bool = True,
                      tsv: Optional[str | os.PathLike] = None) -> list[Prediction]:
        """PREDICT for each input of xs, shape (N, C, H, W) or (N, d) (values as in `predict`; an
        empty (0, d) gives []). Input i uses noise stream first_stream + i, so results do not
        depend on how a data set is split into calls. With tsv, writes Cohen et al.'s columns
        `idx label predict correct time` (label/correct -1 without labels)."""
        return self._run_batch("predict", xs, labels, tsv, progress, dict(n=n, alpha=alpha, seed=seed,
                               threads=threads), first_stream)

    def certify_batch(self, xs: ArrayLike, labels: Optional[ArrayLike] = None, n0: int = 100,
                      n: int = 100_000, alpha: float = 0.001, seed: int = 0, first_stream: int = 0,
                      threads: int = 0, progress: bool = True,
                      tsv: Optional[str | os.PathLike] = None,
                      radii: Optional[ArrayLike] = None) -> list[Certificate]:
        """CERTIFY for each input of xs ((N, C, H, W) or (N, d), as in `predict_batch`), streams
        first_stream + i. With tsv, writes Cohen et al.'s columns `idx label predict radius
        correct time`. With radii, sequential certification of each input (`certify`'s radii; n
        is n_max): the TSV's radius column holds the largest requested radius certified, and a
        last column `passes` the estimation passes used."""
        kwargs = dict(n0=n0, n=n, alpha=alpha, seed=seed, threads=threads)
        if radii is not None:
            kwargs["radii"] = tuple(float(v) for v in _radii(radii))
        return self._run_batch("certify", xs, labels, tsv, progress, kwargs, first_stream)

    def _run_batch(self, kind: str, xs, labels, tsv, progress: bool, kwargs: dict,
                   first_stream: int) -> list:
        import datetime
        xs = _input_rows(xs, self.info)
        if labels is not None:
            labels = _labels(labels, len(xs), self.info.num_classes)
        first_stream = _int("first_stream", first_stream, _U64)
        if len(xs) and first_stream + len(xs) - 1 > _U64:
            raise InvalidArgumentError(f"first_stream is {first_stream}: the {len(xs)} inputs' "
                                       f"streams first_stream + i run past 2^64 - 1",
                                       InvalidArgumentError.status)
        out = open(tsv, "w") if tsv is not None else None
        bar = _progress_bar(len(xs), progress, f"rsc {kind}")
        results = []
        try:
            sequential = "radii" in kwargs
            if out:
                out.write(TSV_HEADERS["sequential" if sequential else kind] + "\n")
            for s, e, rs, seconds in self._chunks(kind, xs, first_stream, kwargs):
                for i, r in zip(range(s, e), rs):
                    results.append(r)
                    if out:
                        label = int(labels[i]) if labels is not None else -1
                        correct = -1 if label < 0 else int(r.label == label)
                        radius = f"\t{radius_text(r.radius)}" if kind == "certify" else ""
                        passes = f"\t{r.n}" if sequential else ""
                        dt = datetime.timedelta(seconds=seconds)
                        out.write(f"{first_stream + i}\t{label}\t{r.label}{radius}\t{correct}\t{dt}"
                                  f"{passes}\n")
                if out:
                    out.flush()
                bar.update(e - s)
        finally:
            bar.close()
            if out:
                out.close()
        return results

    # Passes per batch call: enough to keep many threads busy, few enough that the progress bar
    # and the TSV advance every few seconds.
    _BATCH_PASSES = 1 << 16

    def _chunks(self, kind: str, xs: np.ndarray, first_stream: int, kwargs: dict):
        """(start, end, results, seconds per input) for consecutive chunks of the rows xs: one
        rsc_predict_batch / rsc_certify_batch call per chunk (sequential certification: one call
        per input), so the seconds are the chunk's time over its inputs."""
        import time
        if "radii" in kwargs:
            per_call = 1
        else:
            passes = kwargs["n"] + kwargs.get("n0", 0)
            per_call = max(1, min(len(xs), self._BATCH_PASSES // max(1, passes)))
        for s in range(0, len(xs), per_call):
            e = min(len(xs), s + per_call)
            t0 = time.perf_counter()
            if per_call == 1:
                try:
                    rs = [getattr(self, kind)(xs[s], stream=first_stream + s, **kwargs)]
                except InputValueError as err:
                    raise _name_image(err, first_stream + s) from None
            else:
                rs = self._batch(kind, xs[s:e], first_stream + s, **kwargs)
            yield s, e, rs, (time.perf_counter() - t0) / (e - s)

    def _batch(self, kind: str, rows: np.ndarray, first_stream: int, *, n: int, alpha: float, seed: int,
               threads: int, n0: int = 100, progress: Optional[Callable[[float], bool]] = None) -> list:
        """One rsc_predict_batch / rsc_certify_batch call on rows (N, d) float32: input i on stream
        first_stream + i, results equal to N single calls. progress as in `predict` (the
        fraction of all N inputs' passes)."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        count = len(rows)
        K = self.info.num_classes
        if kind == "predict":
            p = self._lib.rsc_predict_default_params()
            counts = np.zeros((count, K), dtype=np.uint64)
            p.counts = counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
            out_type, fn = _native.Prediction, self._lib.rsc_predict_batch
        else:
            p = self._lib.rsc_certify_default_params()
            p.n0 = _int("n0", n0, _U64)
            out_type, fn = _native.Certificate, self._lib.rsc_certify_batch
        p.n, p.alpha = _int("n", n, _U64), alpha
        p.seed, p.stream = _int("seed", seed, _U64), _int("first_stream", first_stream, _U64)
        p.num_threads = _int("threads", threads, _U32)
        cb = _Progress(progress)
        p.progress = cb.c
        out = (out_type * max(1, count))()
        out[0].struct_size = ctypes.sizeof(out_type)
        with self._use() as h:
            status = fn(h, rows.ctypes.data_as(_native._f32p), rows.size, count, ctypes.byref(p), out)
        cb.raise_pending()
        try:
            _check(status)
        except InputValueError as err:  # the library counts from this call's first input
            k = re.search(r"xs\[(\d+)\]", err.message)
            raise _name_image(err, first_stream + int(k[1]) if k else None) from None
        if kind == "predict":
            return [Prediction(o.label, o.top, o.runner_up, o.count_top, o.count_runner_up, o.p_value,
                               counts[i].astype(np.int64)) for i, o in enumerate(out[:count])]
        return [Certificate(o.label, o.selected, o.count_selected, o.n, o.pa_lower, o.radius)
                for o in out[:count]]


SEQUENTIAL_FIRST_LOOK = 64


def sequential_schedule(n_max: int, alpha: float = 0.001) -> list[tuple[int, float]]:
    """The looks of sequential certification (docs/sequential.md) as the library makes them:
    (estimation passes counted, test level) pairs, n_1 = 64, n_{j+1} = n_j + n_j // 2 while
    below n_max, then n_max, each at level alpha / J."""
    looks, n = [], SEQUENTIAL_FIRST_LOOK
    while n < n_max:
        looks.append(n)
        n += n // 2
    looks.append(n_max)
    return [(m, alpha / len(looks)) for m in looks]


def certified_accuracy(certificates: list[Certificate], labels, radii) -> np.ndarray:
    """Fraction of inputs certified correct at each radius: label == true label and radius >= r
    (Cohen et al.'s certified accuracy)."""
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(certificates):
        raise ValueError(f"{len(labels)} labels for {len(certificates)} certificates")
    if not len(certificates):
        raise ValueError("no certificates")
    pred = np.array([c.label for c in certificates])
    rad = np.array([c.radius for c in certificates])
    ok = pred == labels
    return np.array([np.mean(ok & (rad >= r)) for r in np.asarray(radii, dtype=float)])


def _from_path(path, max_work_per_pass):
    return Model(path, max_work_per_pass=max_work_per_pass)


def _from_memory(data, max_work_per_pass):
    return Model(None, data=data, max_work_per_pass=max_work_per_pass)
