"""Certify or predict a whole data set on a Dask ``distributed`` cluster, with the same results as
one process.

    from distributed import Client
    from rsc.distributed import certify_dataset

    client = Client("tcp://scheduler:8786")            # or a LocalCluster
    certs = certify_dataset("model.rscm", images, labels, client=client,
                            n0=100, n=100_000, alpha=0.001, seed=0, tsv="out.tsv")

The data set (N, ...) is cut into chunks of consecutive images; each chunk is one Dask task that
runs the images through the C library (rsc_certify / rsc_predict) on the worker. Image i always
uses noise stream ``first_stream + i`` and the library's noise depends only on (seed, stream), so
every result is identical, image for image, to ``Model.certify_batch`` / ``predict_batch`` with the
same seed, whatever the number of workers, the chunk size, the threads, or which worker ran what.

- The model's bytes go to the cluster once (``client.scatter(..., broadcast=True)``), and each
  worker process loads them once (a module-level cache keyed by their SHA-256): workers need no
  shared file system, only the ``rsc`` package and its library.
- Results come back in input order; the TSV (Cohen et al.'s columns, as ``certify_batch`` writes
  them) receives rows in input order as soon as the chunks before them are done, flushed and fsynced
  chunk by chunk.
- A worker that dies loses nothing: the scheduler runs its chunks again elsewhere (a task is a pure
  function of its inputs, so the rerun gives the same rows), and every chunk is written once.
- Rerunning with the same TSV resumes: the rows already there (checked against the header, the
  indices, the labels and a ``<tsv>.rsc.json`` record of the run's parameters) are skipped.

Command line: ``python3 -m rsc.distributed certify MODEL IMAGES --labels L --scheduler ADDR --tsv
out.tsv`` (``--help`` lists the options). Needs ``pip install distributed``. docs/distributed.md
has the details.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence, Union

import numpy as np

from ._args import require, smoothing
from .data import load_array, load_images, load_labels
from .errors import RSCError
from .model import (TSV_HEADERS, Certificate, Model, Prediction, _input_rows, _labels,
                    _progress_bar, _radii, radius_text)

ModelSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

# certify, predict, and sequential certification (certify_dataset with radii: a last column
# `passes`), as Model.certify_batch / predict_batch write them.
HEADERS = dict(TSV_HEADERS)
META_SUFFIX = ".rsc.json"
META_FORMAT = "rsc-distributed-run/1"
log = logging.getLogger("rsc.distributed")

__all__ = ["certify_dataset", "predict_dataset", "read_tsv", "load_array", "HEADERS",
           "ResumeError", "SchedulerUnreachableError"]


class ResumeError(ValueError):
    """An existing TSV does not continue this run. `what` says why; the message adds the fix
    (the command line names its own option for it)."""

    def __init__(self, what: str):
        super().__init__(f"{what}; remove it or pass resume=False to start over")
        self.what = what


class SchedulerUnreachableError(ConnectionError):
    """No Dask scheduler answered at `address` within `timeout` seconds."""

    def __init__(self, address: str, timeout: float):
        super().__init__(f"cannot reach the Dask scheduler at {address} within {timeout:g} s; "
                         "check the address and that the scheduler is running, or pass a longer "
                         "connect_timeout")
        self.address, self.timeout = address, timeout


# ---- worker side --------------------------------------------------------------------------------

_MODELS: dict[str, Model] = {}
_MODELS_LOCK = threading.Lock()


def _cached_model(digest: str, data: bytes) -> Model:
    """The model with this content hash, loaded once per process."""
    with _MODELS_LOCK:
        model = _MODELS.get(digest)
        if model is None:
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError("model bytes do not match their SHA-256")
            model = _MODELS[digest] = Model(None, data=bytes(data))
        return model


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _auto_threads(host_threads: dict[str, int]) -> int:
    """rsc threads for one chunk on this worker: the host's CPUs shared among the Dask threads of
    all workers on the host (each of which may run a chunk at the same time). An explicit count is
    needed in any case: Dask's nanny sets OMP_NUM_THREADS=1, the library's default."""
    cpus = _usable_cpus()
    try:
        from distributed import get_worker
        from distributed.comm import get_address_host
        worker = get_worker()
        host = get_address_host(worker.address)
        share = host_threads.get(host) or worker.state.nthreads
    except Exception:  # not on a worker (called directly): use the whole machine
        share = 1
    return max(1, cpus // max(1, int(share)))


def _run_chunk(kind: str, digest: str, model_bytes: bytes, xs: np.ndarray, first_stream: int,
               params: dict, threads: int, host_threads: dict[str, int]) -> list:
    """One task: [(result, seconds)] for the rows of xs, image k with stream first_stream + k."""
    model = _cached_model(digest, model_bytes)
    nthreads = threads if threads > 0 else _auto_threads(host_threads)
    if kind == "sequential":  # no batch call: one rsc_certify_sequential per image
        out = []
        for k, x in enumerate(xs):
            t0 = time.perf_counter()
            r = model.certify(x, stream=first_stream + k, threads=nthreads, **params)
            out.append((r, time.perf_counter() - t0))
        return out
    # One rsc_predict_batch / rsc_certify_batch call: the threads share the chunk's images when n
    # is small; a row's seconds are the call's over its images.
    t0 = time.perf_counter()
    rs = model._batch(kind, xs, first_stream, threads=nthreads, **params)
    seconds = (time.perf_counter() - t0) / max(1, len(rs))
    return [(r, seconds) for r in rs]


def _worker_info() -> dict:
    """(pid, cached model digests): used by tests and for diagnostics."""
    return {"pid": os.getpid(), "models": sorted(_MODELS)}


# ---- client side --------------------------------------------------------------------------------

def _model_source(model: ModelSource) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    else:
        data = Path(model).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _local_info(data: bytes, model: ModelSource):
    """The model's info, loaded here to check shapes before anything is sent; None when this
    machine has no librsc.so (then the workers check)."""
    try:
        if isinstance(model, (str, os.PathLike)):
            with Model(model) as m:
                return m.info
        with Model(None, data=data) as m:
            return m.info
    except OSError as e:
        if "librsc.so not found" in str(e):
            return None
        raise


def _dataset(images, labels, info) -> tuple[np.ndarray, Optional[np.ndarray]]:
    xs = _input_rows(images, info)
    if labels is not None:
        labels = _labels(labels, len(xs), info.num_classes if info is not None else None)
    return xs, labels


def _sha256_array(a: Optional[np.ndarray]) -> Optional[str]:
    if a is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(a).view(np.uint8).reshape(-1).data).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path.parent if str(path.parent) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_meta(path: Path, meta: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _resume(tsv: Path, kind: str, meta: dict, labels: Optional[np.ndarray], first_stream: int,
            count: int) -> int:
    """How many leading images the existing TSV already holds (0 if there is none). Checks that
    the file belongs to this run: the header, the idx column (first_stream, first_stream + 1, ...
    with no gap or repeat), the label column, the number of columns, and the parameters recorded
    in <tsv>.rsc.json when it exists. A last line cut short by a crash is removed."""
    if not tsv.exists():
        return 0
    meta_path = tsv.with_name(tsv.name + META_SUFFIX)
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except (ValueError, UnicodeDecodeError) as e:  # a run record cut short, or another file
            raise ResumeError(f"{meta_path} is not a record of an rsc run ({e})") from None
        diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k)) \
            if isinstance(old, dict) else ["the whole record"]
        if diff:
            raise ResumeError(f"{tsv} was written by a different run ({', '.join(diff)} differ; "
                              f"see {meta_path})")
    raw = tsv.read_bytes()
    keep = raw.rfind(b"\n") + 1  # drop a line cut short by a crash
    try:
        lines = raw[:keep].decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ResumeError(f"{tsv} is not a text file") from None
    if not lines:
        return -1  # nothing usable: start afresh (the caller rewrites the header)
    if lines[0] != HEADERS[kind]:
        raise ResumeError(f"{tsv}: header {lines[0]!r} is not that of an rsc {kind} TSV "
                          f"({HEADERS[kind]!r})")
    ncols = len(HEADERS[kind].split("\t"))
    rows = lines[1:]
    if len(rows) > count:
        raise ResumeError(f"{tsv} has {len(rows)} rows, more than the {count} inputs of this run")
    for k, row in enumerate(rows):
        cols = row.split("\t")
        where = f"{tsv}, line {k + 2}"
        if len(cols) != ncols:
            raise ResumeError(f"{where}: {len(cols)} columns, expected {ncols}")
        try:
            idx, label, pred = int(cols[0]), int(cols[1]), int(cols[2])
        except ValueError:
            raise ResumeError(f"{where}: not a result row: {row!r}") from None
        if idx != first_stream + k:
            raise ResumeError(f"{where}: idx {idx}, expected {first_stream + k}: the file is not "
                              f"a prefix of this run's rows (first_stream {first_stream})")
        expected = int(labels[k]) if labels is not None else -1
        if label != expected:
            raise ResumeError(f"{where}: label {label}, but this run's label for idx {idx} is "
                              f"{expected}")
        if pred < -1:
            raise ResumeError(f"{where}: invalid prediction {pred}")
    if keep != len(raw):
        with open(tsv, "r+b") as f:
            f.truncate(keep)
    return len(rows)


def _row(kind: str, idx: int, label: int, r, seconds: float) -> str:
    """A TSV row exactly as Model.certify_batch / predict_batch write it."""
    correct = -1 if label < 0 else int(r.label == label)
    dt = datetime.timedelta(seconds=seconds)
    radius = f"\t{radius_text(r.radius)}" if kind != "predict" else ""
    passes = f"\t{r.n}" if kind == "sequential" else ""
    return f"{idx}\t{label}\t{r.label}{radius}\t{correct}\t{dt}{passes}\n"


def _host_threads(client) -> dict[str, int]:
    from distributed.comm import get_address_host
    hosts: dict[str, int] = collections.Counter()
    for address, n in client.nthreads().items():
        hosts[get_address_host(address)] += int(n)
    return dict(hosts)


def _is_worker_loss(exc: BaseException) -> bool:
    from distributed import KilledWorker
    return isinstance(exc, KilledWorker)


def _open_client(client, scheduler_address, connect_timeout: Optional[float]):
    """(client, whether we own it)."""
    if client is not None:
        if scheduler_address is not None:
            raise ValueError("pass client or scheduler_address, not both")
        return client, False
    import dask
    from distributed import Client, default_client
    if scheduler_address is not None:
        if connect_timeout is None:
            connect_timeout = dask.utils.parse_timedelta(
                dask.config.get("distributed.comm.timeouts.connect"), "s")
        try:
            return Client(scheduler_address, timeout=connect_timeout), True
        except OSError:  # Dask retries a refused connection until the timeout, then says so
            raise SchedulerUnreachableError(scheduler_address, connect_timeout) from None
    try:
        return default_client(), False
    except ValueError:
        raise ValueError("no Dask cluster: pass client=Client(...) or scheduler_address="
                         "'tcp://host:8786' (or create a Client first)") from None


def _run(kind: str, model: ModelSource, images, labels, *, client, scheduler_address,
         chunk_size: Optional[int], params: dict, first_stream: int, tsv, progress: bool,
         threads: int, resume: bool, fsync: bool, max_resubmits: int, max_in_flight: Optional[int],
         connect_timeout: Optional[float]):
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ImportError("rsc.distributed needs Dask's `distributed` package: "
                          "pip install distributed") from None
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size is {chunk_size}, it must be >= 1")
    if threads < 0:
        raise ValueError(f"threads is {threads}, it must be >= 0 (0: automatic)")
    if first_stream < 0:
        raise ValueError(f"first_stream is {first_stream}, it must be >= 0")
    if connect_timeout is not None and not connect_timeout > 0:
        raise ValueError(f"connect_timeout is {connect_timeout}, it must be > 0 seconds")
    data, digest = _model_source(model)
    info = _local_info(data, model)
    xs, labels = _dataset(images, labels, info)
    count = len(xs)
    results: list[Any] = [None] * count

    out = None
    done = 0
    if tsv is not None:
        tsv = Path(tsv)
        meta = {"format": META_FORMAT, "kind": kind, "model_sha256": digest,
                "images_sha256": _sha256_array(xs), "labels_sha256": _sha256_array(labels),
                "count": count, "first_stream": first_stream,
                **{k: v for k, v in params.items()}}
        done = _resume(tsv, kind, meta, labels, first_stream, count) if resume else -1
        if done <= 0:  # a fresh file
            out = open(tsv, "w", encoding="utf-8")
            out.write(HEADERS[kind] + "\n")
            done = 0
        else:
            out = open(tsv, "a", encoding="utf-8")
        _write_meta(tsv.with_name(tsv.name + META_SUFFIX), meta)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
            _fsync_dir(tsv)

    bar = _progress_bar(count, progress, f"rsc {kind}", initial=done)
    own = False
    futures: dict = {}
    try:
        if done == count:
            return results
        client, own = _open_client(client, scheduler_address, connect_timeout)
        host_threads = _host_threads(client)
        total_threads = max(1, sum(host_threads.values()))
        if chunk_size is None:  # about 4 chunks per Dask thread, at most 64 images each
            chunk_size = max(1, min(64, -(-(count - done) // (4 * total_threads))))
        window = max_in_flight or max(4, 2 * total_threads)
        chunks = collections.deque((s, min(s + chunk_size, count))
                                   for s in range(done, count, chunk_size))
        # A key of its own per run (hash=False): a content-hashed key could be released by the
        # end of a previous run just as this one scatters it. The workers' cache is keyed by
        # digest, so a worker still loads the model once.
        model_future = [None]

        def send_model() -> None:
            [model_future[0]] = client.scatter([data], broadcast=True, hash=False)

        send_model()
        token = uuid.uuid4().hex[:12]

        from distributed import as_completed
        pending = as_completed()

        def submit(chunk: tuple[int, int], attempt: int) -> None:
            s, e = chunk
            f = client.submit(_run_chunk, kind, digest, model_future[0], xs[s:e], first_stream + s,
                              params, threads, host_threads, pure=False,
                              key=f"rsc-{kind}-{token}-{first_stream + s}-{attempt}")
            futures[f] = (chunk, attempt, model_future[0])
            pending.add(f)

        def refill() -> None:
            while chunks and len(futures) < window:
                submit(chunks.popleft(), 0)

        refill()
        finished: dict[int, tuple[int, list]] = {}
        next_row = done
        for f in pending:
            (s, e), attempt, sent_model = futures.pop(f)
            try:
                chunk_results = f.result()
            except Exception as exc:
                # KilledWorker: Dask gave up on the chunk after its workers died. Cancelled: this
                # code cancels nothing while running, so the chunk lost its dependency, the
                # model's bytes, with every worker that held them.
                cancelled = isinstance(exc, CancelledError)
                if (_is_worker_loss(exc) or cancelled) and attempt < max_resubmits:
                    log.warning("images %d..%d: %s; submitting them again (attempt %d of %d)",
                                first_stream + s, first_stream + e - 1, exc, attempt + 2,
                                max_resubmits + 1)
                    if cancelled and sent_model is model_future[0]:
                        send_model()
                    submit((s, e), attempt + 1)  # same inputs, same rows
                    continue
                raise
            finally:
                f.release()
            if len(chunk_results) != e - s:
                raise RuntimeError(f"chunk {s}..{e} gave {len(chunk_results)} results")
            finished[s] = (e, chunk_results)
            for k, (r, _) in enumerate(chunk_results):
                results[s + k] = r
            bar.update(e - s)
            # Write every chunk that now continues the file's prefix, in input order.
            wrote = False
            while next_row in finished:
                e2, rows = finished.pop(next_row)
                if out is not None:
                    out.write("".join(_row(kind, first_stream + next_row + k,
                                           int(labels[next_row + k]) if labels is not None else -1,
                                           r, sec) for k, (r, sec) in enumerate(rows)))
                    wrote = True
                next_row = e2
            if wrote:
                out.flush()
                if fsync:
                    os.fsync(out.fileno())
            refill()
        if next_row != count:
            raise RuntimeError(f"internal error: {next_row} of {count} rows written")
        return results
    finally:
        for f in list(futures):
            f.cancel()
        bar.close()
        if out is not None:
            out.close()
        if own:
            client.close()


def certify_dataset(model: ModelSource, images, labels=None, *, client=None,
                    scheduler_address: Optional[str] = None, chunk_size: Optional[int] = None,
                    n0: int = 100, n: int = 100_000, alpha: float = 0.001, seed: int = 0,
                    first_stream: int = 0, tsv: Optional[Union[str, os.PathLike]] = None,
                    progress: bool = True, threads: int = 0, resume: bool = True,
                    fsync: bool = True, max_resubmits: int = 3,
                    max_in_flight: Optional[int] = None,
                    radii: Optional[Sequence[float]] = None,
                    connect_timeout: Optional[float] = None) -> list[Optional[Certificate]]:
    """CERTIFY every image of images ((N, C, H, W) or (N, d), values as in ``Model.certify``) on
    a Dask cluster; image i uses noise stream first_stream + i, so each certificate equals
    ``Model.certify_batch``'s with the same seed.

    model: an .rscm path (read here) or its bytes; sent to the cluster once.
    client / scheduler_address: a ``distributed.Client``, or the scheduler's address (a client is
        opened and closed here); neither: the current default client.
    connect_timeout: seconds to wait for the scheduler at scheduler_address (default: Dask's
        distributed.comm.timeouts.connect, 30 s); then SchedulerUnreachableError.
    chunk_size: images per task (default: about 4 tasks per Dask thread, at most 64 images).
    threads: rsc threads per task; 0 = the worker host's CPUs divided among its Dask threads.
    tsv: write Cohen et al.'s TSV (``idx label predict radius correct time``) in input order as
        chunks finish, plus ``<tsv>.rsc.json`` (the run's parameters and hashes). With resume (the
        default) an existing TSV of the same run is continued: its rows are skipped and their
        entries in the returned list are None (``read_tsv`` reads them back); a TSV of another
        run is a ResumeError; resume=False overwrites it.
    max_resubmits: times a chunk is submitted again after Dask gives up on it (KilledWorker).
    max_in_flight: chunks submitted at a time (default: 2 per Dask thread, at least 4).
    radii: sequential certification at these radii (``Model.certify(..., radii=...)``, n is
        n_max, docs/sequential.md): the TSV's radius column is the largest requested radius
        certified, and a last column ``passes`` holds the estimation passes used.

    Returns the certificates in input order."""
    params = dict(n0=int(n0), n=int(n), alpha=float(alpha), seed=int(seed))
    if radii is not None:
        params["radii"] = [float(v) for v in _radii(radii)]
    return _run("sequential" if radii is not None else "certify", model, images, labels,
                client=client, scheduler_address=scheduler_address,
                chunk_size=chunk_size, params=params,
                first_stream=int(first_stream), tsv=tsv, progress=progress, threads=int(threads),
                resume=resume, fsync=fsync, max_resubmits=max_resubmits, max_in_flight=max_in_flight,
                connect_timeout=connect_timeout)


def predict_dataset(model: ModelSource, images, labels=None, *, client=None,
                    scheduler_address: Optional[str] = None, chunk_size: Optional[int] = None,
                    n: int = 100_000, alpha: float = 0.001, seed: int = 0, first_stream: int = 0,
                    tsv: Optional[Union[str, os.PathLike]] = None, progress: bool = True,
                    threads: int = 0, resume: bool = True, fsync: bool = True,
                    max_resubmits: int = 3, max_in_flight: Optional[int] = None,
                    connect_timeout: Optional[float] = None) -> list[Optional[Prediction]]:
    """PREDICT every image of images ((N, C, H, W) or (N, d)) on a Dask cluster, equal to ``Model.predict_batch``
    with the same seed; TSV columns ``idx label predict correct time``. Options as in
    certify_dataset."""
    return _run("predict", model, images, labels, client=client, scheduler_address=scheduler_address,
                chunk_size=chunk_size, params=dict(n=int(n), alpha=float(alpha), seed=int(seed)),
                first_stream=int(first_stream), tsv=tsv, progress=progress, threads=int(threads),
                resume=resume, fsync=fsync, max_resubmits=max_resubmits, max_in_flight=max_in_flight,
                connect_timeout=connect_timeout)


def read_tsv(path: Union[str, os.PathLike]) -> dict[str, np.ndarray]:
    """The columns of an rsc TSV (certify or predict) as arrays: idx, label, predict, correct
    (int64), radius (float64, certify only) and time (seconds, float64)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] not in HEADERS.values():
        raise ValueError(f"{path}: not an rsc TSV")
    names = lines[0].split("\t")
    cols = list(zip(*(line.split("\t") for line in lines[1:]))) or [()] * len(names)
    out = {}
    for name, values in zip(names, cols):
        if name == "radius":
            out[name] = np.array(values, dtype=np.float64)
        elif name == "time":
            out[name] = np.array([_seconds(v) for v in values], dtype=np.float64)
        else:
            out[name] = np.array(values, dtype=np.int64)
    return out


def _seconds(text: str) -> float:
    """str(timedelta) (H:MM:SS[.ffffff], maybe 'N day(s), ' first) to seconds."""
    days = 0
    if "day" in text:
        d, text = text.split(", ")
        days = int(d.split()[0])
    h, m, s = text.split(":")
    return days * 86400 + int(h) * 3600 + int(m) * 60 + float(s)


# ---- command line -------------------------------------------------------------------------------

def _fail(what: str, fix: str = "") -> NoReturn:
    """How the command line ends on an error that is not a usage error (argparse's, status 2):
    one line `error: what; fix` on stderr and status 1, as rsc-cli."""
    print(f"error: {what}" + (f"; {fix}" if fix else ""), file=sys.stderr)
    sys.exit(1)


def _os_text(e: OSError) -> str:
    return f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)


def _command_line_inputs(a) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Images (N, d) of --start/--count and their labels, from the command line's files, checked
    as rsc-cli checks them before a cluster starts: a sample is the model's (C, H, W), (d,), or
    (H, W) for a one-channel model (idx files store such images so); labels cover the whole file
    or exactly the selected samples."""
    def read(fn, path: str, what: str):
        try:
            return fn(path)
        except OSError as e:
            _fail(_os_text(e), f"check the path of {what}")
        except ValueError as e:
            _fail(str(e), f"give an .npy or idx file (optionally gzipped) of {what}")
    images = read(load_images, a.images, "the N inputs")
    labels = read(load_labels, a.labels, "the N integer labels") if a.labels else None
    try:
        data, _ = _model_source(a.model)
        info = _local_info(data, a.model)
    except OSError as e:
        _fail(_os_text(e), "check the path of the .rscm model")
    except RSCError as e:
        _fail(str(e), "give an .rscm model file")
    sample = tuple(images.shape[1:])
    if info is not None:
        c, h, w = info.input_shape if len(info.input_shape) == 3 else (None, None, None)
        accepted = [tuple(info.input_shape), (info.input_len,)] + ([(h, w)] if c == 1 else [])
        if sample not in accepted:
            _fail(f"{a.images}: samples have shape {sample}, the model takes "
                  f"{' or '.join(map(str, accepted))} (values in C order: an (H, W, C) image is "
                  "not a (C, H, W) one)", "give images of the model's input shape")
    images = images.reshape(len(images), int(np.prod(sample)))
    total = len(images)
    stop = total if a.count is None else min(total, a.start + a.count)
    if not 0 <= a.start < stop:
        _fail(f"--start {a.start} / --count {a.count}: no inputs among the {total} of {a.images}",
              "choose a range inside the file")
    images = images[a.start:stop]
    if labels is not None:
        if len(labels) == total:
            labels = labels[a.start:stop]
        elif len(labels) != len(images):
            _fail(f"{a.labels} holds {len(labels)} labels; labels must cover all {total} samples "
                  f"or exactly the {len(images)} selected (samples {a.start} to {stop - 1})",
                  "give the labels of these images")
    try:
        _dataset(images, labels, info)  # the checks _run makes
    except ValueError as e:
        _fail(str(e), "give the labels of these images")
    return images, labels


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line; exit status 0, 1 (an error: one line on stderr) or 2 (a usage error)."""
    p = argparse.ArgumentParser(prog="python3 -m rsc.distributed",
                                description="Certify or predict a data set on a Dask cluster; "
                                            "writes Cohen et al.'s TSV in input order.")
    p.add_argument("command", choices=["certify", "predict"])
    p.add_argument("model", help=".rscm file (sent to the workers; they need no copy)")
    p.add_argument("images", help=".npy or idx, optionally gzipped: N inputs of the model's d "
                                  "values each (uint8 is scaled by 1/255)")
    p.add_argument("--labels", help=".npy or idx, optionally gzipped: N integer labels")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR",
                       help="the Dask scheduler, e.g. tcp://10.0.0.5:8786")
    where.add_argument("--local-workers", type=int, metavar="K",
                       help="start a LocalCluster of K worker processes here instead")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for the --scheduler to answer (default 10)")
    p.add_argument("--tsv", help="output TSV (default: stdout, no resume)")
    p.add_argument("--n0", type=int, default=100)
    p.add_argument("--n", type=int, default=100_000,
                   help="estimation passes (n_max with --sequential)")
    p.add_argument("--sequential", action="store_true",
                   help="certify: sequential certification at --radii (docs/sequential.md)")
    p.add_argument("--radii", default="0,0.25,0.5,0.75,1.0",
                   help="certify: radii of the summary (and, with --sequential, to decide)")
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="first input (its index is its stream)")
    p.add_argument("--count", type=int, help="number of inputs (default: all from --start)")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--threads", type=int, default=0,
                   help="rsc threads per task (0: the host's CPUs / its Dask threads)")
    p.add_argument("--no-resume", action="store_true", help="overwrite an existing --tsv")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if not a.scheduler and a.local_workers is None:
        p.error("give --scheduler ADDR (a running Dask scheduler) or --local-workers K")
    require(p, smoothing(a, "n0", "n") + [
        (a.local_workers is None or a.local_workers >= 1,
         f"--local-workers must be >= 1, got {a.local_workers}"),
        (a.chunk_size is None or a.chunk_size >= 1, f"--chunk-size must be >= 1, got {a.chunk_size}"),
        (a.connect_timeout > 0, f"--connect-timeout must be > 0 seconds, got {a.connect_timeout}"),
        # The library's ranges, checked here so that a bad value is not an error on every worker.
        (0 <= a.seed < 2**64, f"--seed must lie in 0 .. 2^64 - 1, got {a.seed}"),
        (a.start >= 0, f"--start must be >= 0, got {a.start}"),
        (a.count is None or a.count >= 1, f"--count must be >= 1, got {a.count}")] +
        [(getattr(a, k) < 2**32, f"--{k} must be at most 2^32 - 1 passes, got {getattr(a, k)}")
         for k in ("n0", "n")])
    try:
        radii = [float(v) for v in a.radii.split(",")]
    except ValueError:
        p.error(f"--radii: {a.radii!r} is not a comma-separated list of numbers")
    if not all(np.isfinite(r) and r >= 0 for r in radii):
        p.error(f"--radii: {a.radii!r}: radii must be finite and >= 0")
    if a.sequential and a.command != "certify":
        p.error("--sequential is an option of certify")
    images, labels = _command_line_inputs(a)

    cluster = client = None
    if a.local_workers:
        from distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=a.local_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    tsv = a.tsv
    tmp = None
    if tsv is None:  # stdout: write to a temporary file, then print it
        tmp = tempfile.NamedTemporaryFile(suffix=".tsv", delete=False)
        tmp.close()
        tsv = tmp.name
    try:
        common = dict(client=client, scheduler_address=a.scheduler, chunk_size=a.chunk_size,
                      seed=a.seed, n=a.n, alpha=a.alpha, first_stream=a.start, tsv=tsv,
                      progress=not a.no_progress, threads=a.threads,
                      resume=not a.no_resume and tmp is None, connect_timeout=a.connect_timeout)
        t0 = time.perf_counter()
        if a.command == "certify":
            got = certify_dataset(a.model, images, labels, n0=a.n0,
                                  radii=radii if a.sequential else None, **common)
        else:
            got = predict_dataset(a.model, images, labels, **common)
        wall = time.perf_counter() - t0
        cols = read_tsv(tsv)
        if tmp is not None:
            sys.stdout.write(Path(tsv).read_text())
        computed = sum(r is not None for r in got)
        msg = f"{computed} inputs run in {wall:.1f} s"
        if a.sequential and len(cols["idx"]):
            msg += f", {int(cols['passes'].sum())} estimation passes"
        if computed < len(got):
            msg += f" ({len(got) - computed} already in {tsv})"
        if labels is not None and len(cols["idx"]):
            msg += f"; accuracy {np.mean(cols['correct'] == 1):.3f}"
            if a.command == "certify":
                for r in radii:
                    msg += f"\n  certified accuracy at radius {r:.2f}: " \
                           f"{np.mean((cols['correct'] == 1) & (cols['radius'] >= r)):.3f}"
        print(msg, file=sys.stderr)
    except ResumeError as e:
        _fail(e.what, "remove it or pass --no-resume to start over")
    except SchedulerUnreachableError as e:
        _fail(f"cannot reach the Dask scheduler at {e.address} within {e.timeout:g} s",
              "check --scheduler ADDR and that the scheduler is running there, or give a longer "
              "--connect-timeout")
    except (RSCError, OSError, ValueError) as e:  # the library's or the system's: it names them
        _fail(_os_text(e) if isinstance(e, OSError) else str(e))
    finally:
        if tmp is not None:
            for q in (tsv, tsv + META_SUFFIX):
                if os.path.exists(q):
                    os.unlink(q)
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return 0


if __name__ == "__main__":
    # Run the importable module's main, so that tasks pickle as rsc.distributed._run_chunk (a
    # function of __main__ could not be found on the workers).
    from rsc.distributed import main as _main
    sys.exit(_main())
