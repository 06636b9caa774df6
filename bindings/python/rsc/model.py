"""The Model class: numpy arrays in, dataclasses out, RSCError subclasses on failure."""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import _native
from .errors import from_status

CODINGS = {0: "direct", 1: "gaussian", 2: "gaussian-shared", 3: "poisson"}


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
    num_layers: int

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


def _check(status: int) -> None:
    if status != 0:
        raise from_status(status, _native.lib().rsc_last_error().decode("utf-8", "replace"))


def _progress(fn: Optional[Callable[[float], bool]]):
    if fn is None:
        return _native.c_progress()
    return _native.c_progress(lambda done, _user: bool(fn(done) is not False))


def version() -> str:
    return _native.lib().rsc_version().decode()


def set_num_threads(n: int) -> None:
    """Threads for calls that pass threads=0 (0 = all hardware threads)."""
    _check(_native.lib().rsc_set_num_threads(int(n)))


def load(path: str | os.PathLike) -> "Model":
    return Model(path)


class Model:
    """A loaded .rscm model; thread-safe, released by close() or when garbage collected."""

    def __init__(self, path: str | os.PathLike):
        self._lib = _native.lib()
        handle = ctypes.c_void_p()
        _check(self._lib.rsc_load(os.fsencode(path), ctypes.byref(handle)))
        self._handle = handle
        raw = _native.ModelInfo(struct_size=ctypes.sizeof(_native.ModelInfo))
        _check(self._lib.rsc_model_info(self._handle, ctypes.byref(raw)))
        self.info = ModelInfo(
            name=raw.name.decode(),
            input_shape=(raw.input_channels, raw.input_height, raw.input_width),
            num_classes=raw.num_classes, time_steps=raw.time_steps, coding=CODINGS[raw.coding],
            sigma=raw.sigma, sigma_eff=raw.sigma_eff,
            class_names=tuple(raw.class_names[k].decode() for k in range(raw.num_classes)),
            num_layers=raw.num_layers)

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.rsc_free(self._handle)
            self._handle = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def _ptr(self):
        if not self._handle:
            raise ValueError("model is closed")
        return self._handle

    @staticmethod
    def _floats(x) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(-1))

    def forward(self, inputs) -> np.ndarray:
        """The base SNN on per-step inputs of shape (T, ...) with T*d values; returns the
        T-averaged logits (float32, shape (K,))."""
        u = self._floats(inputs)
        logits = np.zeros(self.info.num_classes, dtype=np.float32)
        _check(self._lib.rsc_forward(self._ptr(), u.ctypes.data_as(_native._f32p), u.size,
                                     logits.ctypes.data_as(_native._f32p), logits.size))
        return logits

    def predict(self, x, n: int = 100_000, alpha: float = 0.001, seed: int = 0, stream: int = 0,
                threads: int = 0, progress: Optional[Callable[[float], bool]] = None) -> Prediction:
        """Smoothed prediction of one input (d values); label -1 means abstain."""
        xs = self._floats(x)
        counts = np.zeros(self.info.num_classes, dtype=np.uint64)
        p = self._lib.rsc_predict_default_params()
        p.n, p.alpha, p.seed, p.stream, p.num_threads = n, alpha, seed, stream, threads
        p.progress = _progress(progress)
        p.counts = counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64))
        out = _native.Prediction(struct_size=ctypes.sizeof(_native.Prediction))
        _check(self._lib.rsc_predict(self._ptr(), xs.ctypes.data_as(_native._f32p), xs.size,
                                     ctypes.byref(p), ctypes.byref(out)))
        return Prediction(out.label, out.top, out.runner_up, out.count_top, out.count_runner_up,
                          out.p_value, counts.astype(np.int64))

    def certify(self, x, n0: int = 100, n: int = 100_000, alpha: float = 0.001, seed: int = 0,
                stream: int = 0, threads: int = 0,
                progress: Optional[Callable[[float], bool]] = None) -> Certificate:
        """Certified prediction of one input (d values) with its L2 radius; label -1 = abstain."""
        xs = self._floats(x)
        p = self._lib.rsc_certify_default_params()
        p.n0, p.n, p.alpha, p.seed, p.stream, p.num_threads = n0, n, alpha, seed, stream, threads
        p.progress = _progress(progress)
        out = _native.Certificate(struct_size=ctypes.sizeof(_native.Certificate))
        _check(self._lib.rsc_certify(self._ptr(), xs.ctypes.data_as(_native._f32p), xs.size,
                                     ctypes.byref(p), ctypes.byref(out)))
        return Certificate(out.label, out.selected, out.count_selected, out.n, out.pa_lower, out.radius)

    # ---- data sets --------------------------------------------------------------------------

    def _batch(self, xs) -> np.ndarray:
        xs = np.asarray(xs, dtype=np.float32)
        if xs.ndim < 2 or int(np.prod(xs.shape[1:])) != self.info.input_len:
            raise ValueError(f"expected an (N, ...) array of inputs with {self.info.input_len} values "
                             f"each (input shape {self.info.input_shape}), got shape {xs.shape}")
        return np.ascontiguousarray(xs.reshape(len(xs), -1))

    def predict_batch(self, xs, labels=None, n: int = 100_000, alpha: float = 0.001, seed: int = 0,
                      first_stream: int = 0, threads: int = 0, progress: bool = True,
                      tsv: Optional[str | os.PathLike] = None) -> list[Prediction]:
        """PREDICT for each row of xs (N, ...). Input i uses noise stream first_stream + i, so
        results do not depend on how a data set is split into calls. With tsv, writes Cohen et
        al.'s columns `idx label predict correct time` (label/correct -1 without labels)."""
        return self._run_batch("predict", xs, labels, tsv, progress, dict(n=n, alpha=alpha, seed=seed,
                               threads=threads), first_stream)

    def certify_batch(self, xs, labels=None, n0: int = 100, n: int = 100_000, alpha: float = 0.001,
                      seed: int = 0, first_stream: int = 0, threads: int = 0, progress: bool = True,
                      tsv: Optional[str | os.PathLike] = None) -> list[Certificate]:
        """CERTIFY for each row of xs (N, ...), streams first_stream + i. With tsv, writes Cohen
        et al.'s columns `idx label predict radius correct time`."""
        return self._run_batch("certify", xs, labels, tsv, progress, dict(n0=n0, n=n, alpha=alpha,
                               seed=seed, threads=threads), first_stream)

    def _run_batch(self, kind: str, xs, labels, tsv, progress: bool, kwargs: dict, first_stream: int):
        import datetime
        import time
        xs = self._batch(xs)
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if len(labels) != len(xs):
                raise ValueError(f"{len(labels)} labels for {len(xs)} inputs")
        out = open(tsv, "w") if tsv is not None else None
        bar = _progress_bar(len(xs), progress, f"rsc {kind}")
        results = []
        try:
            if out:
                out.write("idx\tlabel\tpredict\tradius\tcorrect\ttime\n" if kind == "certify"
                          else "idx\tlabel\tpredict\tcorrect\ttime\n")
            for i, x in enumerate(xs):
                t0 = time.perf_counter()
                r = getattr(self, kind)(x, stream=first_stream + i, **kwargs)
                dt = datetime.timedelta(seconds=time.perf_counter() - t0)
                results.append(r)
                if out:
                    label = int(labels[i]) if labels is not None else -1
                    correct = -1 if label < 0 else int(r.label == label)
                    radius = f"\t{r.radius:.4f}" if kind == "certify" else ""
                    out.write(f"{first_stream + i}\t{label}\t{r.label}{radius}\t{correct}\t{dt}\n")
                    out.flush()
                bar.update(1)
        finally:
            bar.close()
            if out:
                out.close()
        return results


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
