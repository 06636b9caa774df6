"""rsc.distributed on a Dask LocalCluster of worker processes: identical results to the single
process run (any chunk size, worker count, thread count, split of the data set), a worker killed
mid-run loses and duplicates nothing, a rerun resumes a TSV, and the command line."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed", reason="Dask's `distributed` is not installed (pip install "
                                          "distributed; scripts/setup.sh installs it): "
                                          "rsc.distributed is not tested")
import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import rsc  # noqa: E402
from rsc import distributed as rd  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "models" / "demo"
MODEL = DEMO / "fmnist_demo.rscm"
N0, N, SEED = 32, 500, 11  # small n: the whole file runs in well under a minute
SLOW_N, SLOW_COUNT = 10000, 12  # the killed-worker tests: long enough to kill a worker mid-run


def cluster(n_workers: int) -> tuple[LocalCluster, Client]:
    c = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                     dashboard_address=":0", silence_logs=40)
    return c, Client(c)


def without_time(text: str) -> list[list[str]]:
    """TSV rows without the time column (the only one that may differ between runs)."""
    return [line.split("\t")[:-1] for line in text.splitlines()]


@pytest.fixture(scope="module")
def data():
    return np.load(DEMO / "test_images.npy"), np.load(DEMO / "test_labels.npy")


@pytest.fixture(scope="module")
def model():
    with rsc.load(MODEL) as m:
        yield m


@pytest.fixture(scope="module")
def reference(model, data, tmp_path_factory):
    """The single-process run: certificates and its TSV."""
    xs, ys = data
    tsv = tmp_path_factory.mktemp("ref") / "ref.tsv"
    certs = model.certify_batch(xs, ys, n0=N0, n=N, seed=SEED, tsv=tsv, progress=False)
    return certs, tsv.read_text()


@pytest.fixture(scope="module")
def slow_reference(model, data, tmp_path_factory):
    """The single-process run of the killed-worker tests, with n large enough (~0.2 s per image)
    that chunks are in flight when a worker is killed, with a margin for faster kernels."""
    xs, ys = data
    tsv = tmp_path_factory.mktemp("slow") / "ref.tsv"
    certs = model.certify_batch(xs[:SLOW_COUNT], ys[:SLOW_COUNT], n0=N0, n=SLOW_N, seed=SEED,
                                tsv=tsv, progress=False)
    return certs, tsv.read_text()


@pytest.fixture(scope="module")
def client2():
    c, client = cluster(2)
    yield client
    client.close()
    c.close()


@pytest.mark.parametrize("chunk_size,threads", [(1, 0), (3, 1), (7, 2), (20, 0), (None, 0)])
def test_certify_equals_single_process(client2, data, reference, tmp_path, chunk_size, threads):
    xs, ys = data
    ref, ref_tsv = reference
    tsv = tmp_path / "out.tsv"
    got = rd.certify_dataset(MODEL, xs, ys, client=client2, chunk_size=chunk_size, threads=threads,
                             n0=N0, n=N, seed=SEED, tsv=tsv, progress=chunk_size == 3)
    assert got == ref  # every field, floats bit for bit
    assert without_time(tsv.read_text()) == without_time(ref_tsv)


@pytest.mark.parametrize("n_workers", [1, 3])
def test_worker_count_does_not_matter(data, reference, n_workers):
    xs, ys = data
    c, client = cluster(n_workers)
    try:
        got = rd.certify_dataset(MODEL.read_bytes(), xs, ys, client=client, chunk_size=4,
                                 n0=N0, n=N, seed=SEED, progress=False)
    finally:
        client.close()
        c.close()
    assert got == reference[0]


RADII = (0.0, 0.1, 0.2, 0.4)


def without_time_column(text: str) -> list[list[str]]:
    """Sequential TSV rows without the time column (the 6th; passes comes after it)."""
    return [line.split("\t")[:5] + line.split("\t")[6:] for line in text.splitlines()]


@pytest.mark.parametrize("chunk_size,threads", [(1, 0), (6, 2)])
def test_sequential_equals_single_process(client2, model, data, tmp_path, chunk_size, threads):
    """Sequential certification (radii=...) on the cluster: the same certificates and passes
    as certify_batch, for any chunk size and thread count; the TSV has the passes column and
    resumes."""
    xs, ys = data
    kw = dict(n0=N0, n=4000, seed=SEED, radii=RADII)
    ref = model.certify_batch(xs, ys, progress=False, tsv=tmp_path / "ref.tsv", **kw)
    assert all(isinstance(c, rsc.SequentialCertificate) for c in ref)
    tsv = tmp_path / "seq.tsv"
    got = rd.certify_dataset(MODEL, xs, ys, client=client2, chunk_size=chunk_size, threads=threads,
                             tsv=tsv, progress=False, **kw)
    assert got == ref
    text = tsv.read_text()
    assert text.splitlines()[0] == rd.HEADERS["sequential"] and text.splitlines()[0].endswith("\tpasses")
    assert without_time_column(text) == without_time_column((tmp_path / "ref.tsv").read_text())
    cols = rd.read_tsv(tsv)
    assert cols["passes"].tolist() == [c.passes for c in ref]
    # A rerun resumes (nothing left to do); other radii are another run.
    again = rd.certify_dataset(MODEL, xs, ys, client=client2, tsv=tsv, progress=False, **kw)
    assert again == [None] * len(xs)
    with pytest.raises(ValueError, match="radii"):
        rd.certify_dataset(MODEL, xs, ys, client=client2, tsv=tsv, progress=False,
                           **{**kw, "radii": (0.0, 0.3)})


def test_model_sent_once_and_cached_per_worker(client2, data):
    xs, ys = data
    rd.certify_dataset(MODEL, xs[:6], ys[:6], client=client2, chunk_size=1, n0=N0, n=100,
                       seed=SEED, progress=False)
    digest = rd._model_source(MODEL)[1]
    infos = client2.run(rd._worker_info)
    assert len(infos) == 2 and all(i["models"] == [digest] for i in infos.values())
    # Automatic threads: the host's CPUs shared by its 2 single-threaded workers.
    auto = client2.submit(rd._auto_threads, rd._host_threads(client2), pure=False).result()
    assert auto == max(1, len(os.sched_getaffinity(0)) // 2)


def test_predict_and_split_data_set(client2, model, data, tmp_path):
    """predict_dataset equals predict_batch; a part of the data set run with first_stream = its
    offset gives the same rows as the whole run."""
    xs, ys = data
    ref = model.predict_batch(xs, ys, n=N, seed=SEED, progress=False, tsv=tmp_path / "ref.tsv")
    got = rd.predict_dataset(MODEL, xs, ys, client=client2, chunk_size=3, n=N, seed=SEED,
                             tsv=tmp_path / "all.tsv", progress=False)
    assert got == ref
    assert without_time((tmp_path / "all.tsv").read_text()) == \
        without_time((tmp_path / "ref.tsv").read_text())
    part = rd.predict_dataset(MODEL, xs[13:], ys[13:], client=client2, chunk_size=2, n=N,
                              seed=SEED, first_stream=13, tsv=tmp_path / "part.tsv", progress=False)
    assert part == ref[13:]
    assert without_time((tmp_path / "part.tsv").read_text())[1:] == \
        without_time((tmp_path / "all.tsv").read_text())[14:]


@pytest.mark.parametrize("allowed_failures,kill_all", [(3, False), (0, False), (3, True)],
                         ids=["scheduler-reruns", "resubmitted", "all-workers"])
def test_killed_worker_loses_and_duplicates_nothing(data, slow_reference, tmp_path, caplog,
                                                    allowed_failures, kill_all):
    """SIGKILL a worker process while it runs a chunk (its nanny starts a new one).
    - scheduler-reruns: with the default allowed-failures the scheduler reruns its chunks on the
      survivor;
    - resubmitted: with allowed-failures 0 the scheduler gives up on them (KilledWorker) and
      certify_dataset submits them again;
    - all-workers: every worker is killed, so the model's bytes are lost with them; certify_dataset
      sends them again and resubmits the cancelled chunks.
    Either way: every image once, in order, identical to the single-process run."""
    xs, ys = data
    xs, ys = xs[:SLOW_COUNT], ys[:SLOW_COUNT]
    ref, ref_tsv = slow_reference
    tsv = tmp_path / "out.tsv"
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        c, client = cluster(2)
    killed = {}

    def killer():
        pids = client.run(os.getpid)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = tsv.read_text().count("\n") - 1 if tsv.exists() else 0
            busy = [w for w, keys in client.processing().items()
                    if any(str(k).startswith("rsc-certify") for k in keys)]
            if rows >= 1 and busy:  # mid-run: some rows written, a chunk in flight on busy[0]
                victims = list(pids) if kill_all else busy[:1]
                killed.update(pids={pids[w] for w in victims}, rows=rows)
                for w in victims:
                    os.kill(pids[w], signal.SIGKILL)
                return
            time.sleep(0.02)

    try:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        got = rd.certify_dataset(MODEL, xs, ys, client=client, chunk_size=2, n0=N0, n=SLOW_N,
                                 seed=SEED, tsv=tsv, progress=False)
        thread.join(5)
        survivors = set(client.run(os.getpid).values())
    finally:
        client.close()
        c.close()
    assert killed, "the run ended before a worker could be killed mid-run"
    assert killed["rows"] < len(xs)
    assert not killed["pids"] & survivors
    resubmitted = [r for r in caplog.records if "submitting them again" in r.getMessage()]
    assert bool(resubmitted) == (allowed_failures == 0 or kill_all)
    assert got == ref
    lines = tsv.read_text().splitlines()
    assert [int(line.split("\t")[0]) for line in lines[1:]] == list(range(len(xs)))  # no loss, no dup
    assert without_time(tsv.read_text()) == without_time(ref_tsv)


def test_resume_computes_only_the_rest(client2, data, reference, tmp_path):
    xs, ys = data
    ref, ref_tsv = reference
    tsv = tmp_path / "out.tsv"
    full = rd.certify_dataset(MODEL, xs, ys, client=client2, chunk_size=3, n0=N0, n=N, seed=SEED,
                              tsv=tsv, progress=False)
    assert full == ref
    text = tsv.read_text()
    lines = text.splitlines(keepends=True)
    # A crash after 7 images, in the middle of writing the 8th row.
    tsv.write_text("".join(lines[:8]) + lines[8][:4])
    got = rd.certify_dataset(MODEL, xs, ys, client=client2, chunk_size=3, n0=N0, n=N, seed=SEED,
                             tsv=tsv, progress=False)
    assert got[:7] == [None] * 7  # skipped: their rows were in the file
    assert got[7:] == ref[7:]
    assert without_time(tsv.read_text()) == without_time(text)
    assert tsv.read_text().splitlines()[:8] == text.splitlines()[:8]  # old rows untouched
    # Complete: nothing left to do, no cluster needed.
    again = rd.certify_dataset(MODEL, xs, ys, client=None, n0=N0, n=N, seed=SEED, tsv=tsv,
                               progress=False)
    assert again == [None] * len(xs)
    cols = rd.read_tsv(tsv)
    assert cols["idx"].tolist() == list(range(20)) and cols["label"].tolist() == ys.tolist()
    exact = np.array([c.radius for c in ref])  # the TSV rounds down to 4 decimals
    assert np.all(cols["radius"] <= exact) and np.all(exact - cols["radius"] < 1e-4)


def test_resume_a_single_process_tsv(client2, data, reference, tmp_path):
    """A TSV written by Model.certify_batch (no .rsc.json) is continued as well."""
    xs, ys = data
    ref, ref_tsv = reference
    tsv = tmp_path / "out.tsv"
    tsv.write_text("".join(ref_tsv.splitlines(keepends=True)[:11]))
    got = rd.certify_dataset(MODEL, xs, ys, client=client2, n0=N0, n=N, seed=SEED, tsv=tsv,
                             progress=False)
    assert got[:10] == [None] * 10 and got[10:] == ref[10:]
    assert without_time(tsv.read_text()) == without_time(ref_tsv)


def test_resume_refuses_another_run(client2, data, tmp_path):
    xs, ys = data
    tsv = tmp_path / "out.tsv"
    rd.certify_dataset(MODEL, xs[:4], ys[:4], client=client2, n0=N0, n=100, seed=SEED, tsv=tsv,
                       progress=False)
    with pytest.raises(ValueError, match="seed differ"):
        rd.certify_dataset(MODEL, xs[:4], ys[:4], client=client2, n0=N0, n=100, seed=SEED + 1,
                           tsv=tsv, progress=False)
    (tmp_path / "other.tsv").write_text(tsv.read_text())  # a certify TSV, no .rsc.json
    with pytest.raises(ValueError, match="header"):
        rd.predict_dataset(MODEL, xs[:4], ys[:4], client=client2, n=100, seed=SEED,
                           tsv=tmp_path / "other.tsv", progress=False)
    (tmp_path / "gap.tsv").write_text(f"{rd.HEADERS['certify']}\n0\t{ys[0]}\t0\t0.1\t0\t0:00:01\n"
                                      f"2\t{ys[2]}\t1\t0.1\t1\t0:00:01\n")
    with pytest.raises(ValueError, match="idx 2, expected 1"):
        rd.certify_dataset(MODEL, xs[:4], ys[:4], client=client2, n0=N0, n=100, seed=SEED,
                           tsv=tmp_path / "gap.tsv", progress=False)
    # resume=False starts over.
    got = rd.certify_dataset(MODEL, xs[:4], ys[:4], client=client2, n0=N0, n=100, seed=SEED + 1,
                             tsv=tsv, progress=False, resume=False)
    assert None not in got and len(tsv.read_text().splitlines()) == 5


def test_argument_errors(client2, data):
    xs, ys = data
    with pytest.raises(rsc.errors.InputSizeError, match="784 values"):  # as Model.certify's
        rd.certify_dataset(MODEL, np.zeros((3, 10)), client=client2, progress=False)
    with pytest.raises(ValueError, match="2 labels for 3 inputs"):
        rd.certify_dataset(MODEL, xs[:3], [1, 2], client=client2, progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        rd.certify_dataset(MODEL, xs[:3], client=client2, chunk_size=0, progress=False)
    with pytest.raises(rsc.errors.RSCError):  # the library's error, raised on the worker
        rd.certify_dataset(MODEL, xs[:3], client=client2, n=0, progress=False)


def test_command_line_with_scheduler_address(client2, reference, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(rsc.__file__).resolve().parent.parent))
    tsv = tmp_path / "cli.tsv"
    out = subprocess.run(
        [sys.executable, "-m", "rsc.distributed", "certify", str(MODEL), str(DEMO / "test_images.npy"),
         "--labels", str(DEMO / "test_labels.npy"), "--scheduler", client2.scheduler.address,
         "--tsv", str(tsv), "--n0", str(N0), "--n", str(N), "--seed", str(SEED), "--chunk-size", "4",
         "--start", "5", "--count", "10", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "10 inputs run" in out.stderr and "certified accuracy" in out.stderr
    ref_rows = without_time(reference[1])
    assert without_time(tsv.read_text()) == [ref_rows[0]] + ref_rows[6:16]


def test_command_line_sequential(client2, model, data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(rsc.__file__).resolve().parent.parent))
    tsv = tmp_path / "cli.tsv"
    out = subprocess.run(
        [sys.executable, "-m", "rsc.distributed", "certify", str(MODEL), str(DEMO / "test_images.npy"),
         "--labels", str(DEMO / "test_labels.npy"), "--scheduler", client2.scheduler.address,
         "--tsv", str(tsv), "--n0", str(N0), "--n", "4000", "--seed", str(SEED), "--sequential",
         "--radii", ",".join(map(str, RADII)), "--count", "5", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    xs, ys = data
    ref = model.certify_batch(xs[:5], ys[:5], n0=N0, n=4000, seed=SEED, radii=RADII, progress=False)
    assert f"{sum(c.passes for c in ref)} estimation passes" in out.stderr
    assert "certified accuracy at radius 0.40" in out.stderr
    assert rd.read_tsv(tsv)["passes"].tolist() == [c.passes for c in ref]


def test_command_line_errors_are_one_line_before_any_cluster(tmp_path, capsys):
    """Bad inputs are refused before a cluster starts, in one line naming the problem: labels
    of another data set (they were sliced to fit), a missing or invalid model, no cluster."""
    labels = tmp_path / "labels.npy"
    np.save(labels, np.zeros(60, np.int64))
    images = str(DEMO / "test_images.npy")
    cases = [([str(MODEL), images, "--labels", str(labels)], "holds 60 labels; labels must cover all 20 samples or exactly the 20 selected"),
             ([str(tmp_path / "none.rscm"), images], "No such file"),
             ([str(DEMO / "test_labels.npy"), images], "not an rsc model"),
             ([str(MODEL), images, "--labels", str(DEMO / "test_images.npy")], "labels")]
    for args, msg in cases:
        with pytest.raises(SystemExit) as e:
            rd.main(["certify", *args, "--scheduler", "tcp://127.0.0.1:1", "--no-progress"])
        err = capsys.readouterr().err
        assert e.value.code == 1 and msg in err and "Traceback" not in err, (args, err)
    with pytest.raises(SystemExit) as e:
        rd.main(["certify", str(MODEL), images])
    assert e.value.code == 2 and "--local-workers" in capsys.readouterr().err


def test_load_array_reads_idx_like_rsc_cli(data):
    fmnist = Path("/usr/share/datasets/fashion-mnist")
    if not (fmnist / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)")
    xs, ys = data
    images = rd.load_array(fmnist / "t10k-images-idx3-ubyte.gz")  # uint8 / 255, as rsc-cli
    labels = rd.load_array(fmnist / "t10k-labels-idx1-ubyte.gz", scale_uint8=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.float32
    assert np.array_equal(images[:20].reshape(20, -1), xs.reshape(20, -1))  # the shipped 20
    assert np.array_equal(labels[:20], ys)
