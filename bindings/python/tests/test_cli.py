"""rsc-cli end to end: Cohen-style TSV, same results as the Python binding for the same seed and
stream, and the idx.gz reader on the real Fashion-MNIST test set."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import rsc

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / ".build" / "release" / "rsc-cli"
DEMO = REPO / "models" / "demo"
FMNIST = Path("/usr/share/datasets/fashion-mnist")


def run(*args) -> subprocess.CompletedProcess:
    assert CLI.exists(), "build rsc-cli first: swift build -c release"
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True)


def test_info():
    out = run("info", DEMO / "fmnist_demo.rscm")
    assert out.returncode == 0, out.stderr
    assert "fmnist-demo" in out.stdout and "sigma_eff    0.125" in out.stdout


def test_certify_tsv_matches_python_binding():
    out = run("certify", DEMO / "fmnist_demo.rscm", DEMO / "test_images.npy", "--labels",
              DEMO / "test_labels.npy", "--n0", 50, "--n", 2000, "--seed", 7, "--start", 3, "--count", 3)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split("\t") == ["idx", "label", "predict", "radius", "correct", "time"]
    model = rsc.load(DEMO / "fmnist_demo.rscm")
    images, labels = np.load(DEMO / "test_images.npy"), np.load(DEMO / "test_labels.npy")
    for line in lines[1:]:
        idx, label, pred, radius, correct, time = line.split("\t")
        i = int(idx)
        cert = model.certify(images[i], n0=50, n=2000, seed=7, stream=i)
        assert (int(label), int(pred)) == (labels[i], cert.label)
        assert float(radius) == pytest.approx(cert.radius, abs=5e-5)
        assert int(correct) == int(cert.label == labels[i])
        assert time.count(":") == 2
    assert [int(line.split("\t")[0]) for line in lines[1:]] == [3, 4, 5]
    assert "certified" in out.stderr and "3 images" in out.stderr


def test_predict_on_fashion_mnist_idx_gz():
    if not (FMNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("dataset-fashion-mnist is not installed (scripts/setup.sh installs it)")
    out = run("predict", DEMO / "fmnist_demo.rscm", FMNIST / "t10k-images-idx3-ubyte.gz", "--labels",
              FMNIST / "t10k-labels-idx1-ubyte.gz", "--n", 200, "--count", 10)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.strip().splitlines()[1:]]
    assert len(rows) == 10
    # The shipped images are the first 20 of the same test set: same labels, same predictions.
    labels = np.load(DEMO / "test_labels.npy")
    assert [int(r[1]) for r in rows] == labels[:10].tolist()
    assert sum(int(r[3]) for r in rows) >= 7


def test_errors_exit_nonzero_with_message(tmp_path):
    out = run("certify", DEMO / "fmnist_demo.rscm", tmp_path / "missing.npy")
    assert out.returncode != 0 and "missing.npy" in out.stderr
    bad = tmp_path / "x.npy"
    np.save(bad, np.zeros((2, 5), np.float32))
    out = run("certify", DEMO / "fmnist_demo.rscm", bad)
    assert out.returncode != 0 and "784" in out.stderr
    out = run("certify", DEMO / "fmnist_demo.rscm", DEMO / "test_images.npy", "--n", "many")
    assert out.returncode == 2 and "--n" in out.stderr
    out = run("info", REPO / "README.md")
    assert out.returncode == 1 and "magic" in out.stderr
