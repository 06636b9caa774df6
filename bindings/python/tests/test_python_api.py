"""The Python package's public surface: info, batch forms, TSV, certified accuracy, plot, library
discovery, errors."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rsc

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "models" / "demo"


@pytest.fixture(scope="module")
def demo():
    return rsc.load(DEMO / "fmnist_demo.rscm")


@pytest.fixture(scope="module")
def images():
    return np.load(DEMO / "test_images.npy"), np.load(DEMO / "test_labels.npy")


def test_info(demo):
    i = demo.info
    assert (i.input_shape, i.input_len, i.num_classes, i.time_steps) == ((1, 28, 28), 784, 10, 4)
    assert i.coding == "gaussian" and i.sigma == pytest.approx(0.25) and i.sigma_eff == pytest.approx(0.125)
    assert i.class_names[9] == "Ankle boot" and i.name == "fmnist-demo"
    assert rsc.version() == rsc.__version__


def test_batches_equal_single_calls_and_write_tsv(demo, images, tmp_path):
    xs, ys = images
    certs = demo.certify_batch(xs[2:5], ys[2:5], n0=50, n=1000, seed=4, first_stream=2,
                               tsv=tmp_path / "c.tsv", progress=False)
    for i, c in zip(range(2, 5), certs):
        assert c == demo.certify(xs[i], n0=50, n=1000, seed=4, stream=i)
    rows = (tmp_path / "c.tsv").read_text().splitlines()
    assert rows[0] == "idx\tlabel\tpredict\tradius\tcorrect\ttime"
    assert [r.split("\t")[0] for r in rows[1:]] == ["2", "3", "4"]
    assert all(r.split("\t")[4] == str(int(c.label == y)) for r, c, y in zip(rows[1:], certs, ys[2:5]))
    preds = demo.predict_batch(xs[:3], n=500, tsv=tmp_path / "p.tsv", progress=True)
    assert [p.counts.sum() for p in preds] == [500] * 3
    assert (tmp_path / "p.tsv").read_text().splitlines()[0] == "idx\tlabel\tpredict\tcorrect\ttime"
    assert (tmp_path / "p.tsv").read_text().splitlines()[1].split("\t")[1] == "-1"


def test_batch_shape_errors(demo):
    with pytest.raises(rsc.errors.InputSizeError, match="784 values"):  # also a ValueError
        demo.certify_batch(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="2 labels for 3 inputs"):
        demo.predict_batch(np.zeros((3, 784)), labels=[1, 2])


def test_certified_accuracy_and_plot(demo, images, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (extra `plot`) is not installed")
    from rsc.plot import certified_accuracy_plot
    xs, ys = images
    certs = demo.certify_batch(xs[:6], n0=50, n=2000, progress=False)
    acc = rsc.certified_accuracy(certs, ys[:6], [0.0, 0.1, 10.0])
    assert acc[0] >= acc[1] >= acc[2] == 0
    assert acc[0] == np.mean([c.label == y for c, y in zip(certs, ys[:6])])
    out = tmp_path / "curve.png"
    certified_accuracy_plot({"demo": (certs, ys[:6]), "demo again": (certs[:3], ys[:3])}, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    with pytest.raises(ValueError):
        rsc.certified_accuracy(certs, ys[:5], [0])


def test_closed_model_and_context_manager():
    with rsc.load(DEMO / "fmnist_demo.rscm") as m:
        assert m.info.num_classes == 10
    with pytest.raises(ValueError, match="closed"):
        m.forward(np.zeros(4 * 784))


def test_close_races_and_in_flight_calls():
    """close() from several threads at once frees the model once (a double free crashed the
    process); close() during a call lets the call finish, and later calls say "closed"."""
    import threading
    x = np.load(DEMO / "test_images.npy")[0]
    for _ in range(50):
        m = rsc.load(DEMO / "fmnist_demo.rscm")
        barrier = threading.Barrier(4)

        def close():
            barrier.wait()
            m.close()
        ts = [threading.Thread(target=close) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert m._handle is None
    m = rsc.load(DEMO / "fmnist_demo.rscm")
    expect = m.predict(x, n=3000, seed=1, threads=1)
    started, result = threading.Event(), []

    def slow():
        result.append(m.predict(x, n=3000, seed=1, threads=1,
                                progress=lambda f: started.set() or True))
    t = threading.Thread(target=slow)
    t.start()
    started.wait()
    m.close()
    t.join()
    assert len(result) == 1 and np.array_equal(result[0].counts, expect.counts)
    assert m._handle is None
    with pytest.raises(ValueError, match="closed"):
        m.predict(x, n=10)


def test_copies_and_pickles_load_the_file_again(demo):
    import copy
    import pickle
    x = np.load(DEMO / "test_images.npy")[0]
    expect = demo.certify(x, n0=20, n=500, seed=2)
    for other in (copy.copy(demo), copy.deepcopy(demo), pickle.loads(pickle.dumps(demo))):
        assert other._handle is not None and other._handle.value != demo._handle.value
        assert other.info == demo.info and other.path == demo.path
        other.close()
        assert demo.certify(x, n0=20, n=500, seed=2) == expect  # the original is untouched


@pytest.mark.parametrize("kw", [dict(threads=-1), dict(threads=2**32), dict(n=2**64 + 100),
                                dict(n=-5), dict(seed=-1), dict(stream=2**64 + 3)])
def test_out_of_range_integers_are_errors_not_wrapped(demo, kw):
    x = np.zeros(784, np.float32)
    with pytest.raises(rsc.errors.InvalidArgumentError, match=next(iter(kw))):
        demo.predict(x, **{"n": 10, **kw})
    with pytest.raises(rsc.errors.InvalidArgumentError, match=next(iter(kw))):
        demo.certify(x, **{"n0": 5, "n": 10, **kw})
    with pytest.raises(TypeError, match="integer"):
        demo.predict(x, n=10.0)
    with pytest.raises(rsc.errors.InvalidArgumentError):
        rsc.set_num_threads(2**32)


def test_progress_callback_errors_propagate_and_falsy_cancels(demo):
    x = np.load(DEMO / "test_images.npy")[0]
    with pytest.raises(ZeroDivisionError):
        demo.predict(x, n=5000, progress=lambda f: 1 / 0)
    with pytest.raises(KeyboardInterrupt):
        demo.certify(x, n0=10, n=5000, progress=lambda f: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(rsc.errors.CancelledError):
        demo.predict(x, n=5000, progress=lambda f: np.bool_(False))
    calls = []
    demo.predict(x, n=5000, progress=calls.append)  # returns None: runs to the end
    assert calls and calls[0] == 0.0


def test_model_path_with_nul_is_rejected():
    with pytest.raises(ValueError, match="null byte"):
        rsc.load(str(DEMO / "fmnist_demo.rscm") + "\0/etc/passwd")


def test_library_not_found_says_what_it_tried(tmp_path):
    code = "import rsc\ntry:\n    rsc.load('x')\nexcept OSError as e:\n    print(e)\n"
    env = dict(os.environ, RSC_LIBRARY=str(tmp_path / "nolib.so"))
    # Run from a directory without a build, importing a copy of the package without a library.
    pkg = tmp_path / "pkg" / "rsc"
    pkg.mkdir(parents=True)
    for f in (Path(rsc.__file__).parent).glob("*.py"):
        (pkg / f.name).write_text(f.read_text())
    env["PYTHONPATH"] = str(pkg.parent)
    env["RSC_TEST_INSTALLED"] = "1"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "librsc.so not found" in out.stdout and "nolib.so" in out.stdout, out.stdout + out.stderr


def test_batch_labels_must_be_classes_of_the_model(demo, images):
    xs, ys = images
    with pytest.raises(ValueError, match="label 10 at index 1 is not a class"):
        demo.certify_batch(xs[:3], [1, 10, 2], n0=10, n=100, progress=False)
    with pytest.raises(ValueError, match="2 labels for 3 inputs"):
        demo.predict_batch(xs[:3], [1, 2], n=100, progress=False)
    preds = demo.predict_batch(xs[:2], [-1, ys[1]], n=100, progress=False)  # -1: unknown
    assert len(preds) == 2


@pytest.mark.parametrize("shape", [(0, 784), (0, 1, 28, 28)])
def test_empty_batches_give_empty_results(demo, tmp_path, shape):
    """Issue 15, item 11: a (0, d) data set is no work, not numpy's reshape error; a TSV holds
    its header only."""
    xs = np.zeros(shape, np.float32)
    t = tmp_path / "out.tsv"
    assert demo.predict_batch(xs, n=10, progress=False, tsv=t) == []
    assert t.read_text() == "idx\tlabel\tpredict\tcorrect\ttime\n"
    assert demo.certify_batch(xs, [], n0=5, n=10, progress=False, tsv=t) == []
    assert t.read_text() == "idx\tlabel\tpredict\tradius\tcorrect\ttime\n"
    assert demo.certify_batch(xs, n0=5, n=10, radii=[0.1], progress=False, tsv=t) == []
    assert t.read_text() == "idx\tlabel\tpredict\tradius\tcorrect\ttime\tpasses\n"
    with pytest.raises(rsc.errors.InputSizeError):
        demo.predict_batch(np.zeros((0, 5)), n=10, progress=False)
