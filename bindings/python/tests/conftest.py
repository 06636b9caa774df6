"""Make `import rsc...` work from a source checkout without installing the package."""

import os
import subprocess
import sys
from pathlib import Path

PYTHON_ROOT = Path(__file__).resolve().parent.parent  # bindings/python
REPO_ROOT = PYTHON_ROOT.parent.parent
# RSC_TEST_INSTALLED=1 tests the installed package (scripts/test.sh runs the suite in a fresh
# virtualenv that way); otherwise the source tree is imported.
if os.environ.get("RSC_TEST_INSTALLED") != "1" and str(PYTHON_ROOT) not in sys.path:
    sys.path.insert(0, str(PYTHON_ROOT))

import pytest  # noqa: E402


def fashion_mnist_idx(d: Path, n_train: int, n_test: int) -> Path:
    """Fashion-MNIST idx.gz files in d, as rsc.train reads them, made from the shipped test images:
    the first n_train as training set, the next n_test as test set."""
    import gzip
    import numpy as np

    def write(path, arr):
        arr = np.asarray(arr, dtype=np.uint8)
        header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
        with gzip.open(path, "wb") as f:
            f.write(header + arr.tobytes())

    data = REPO_ROOT / "models" / "data"
    x = np.rint(np.load(data / "fmnist_test_1000_images.npy")[:, 0] * 255)
    y = np.load(data / "fmnist_test_1000_labels.npy")
    write(d / "train-images-idx3-ubyte.gz", x[:n_train])
    write(d / "train-labels-idx1-ubyte.gz", y[:n_train])
    write(d / "t10k-images-idx3-ubyte.gz", x[n_train:n_train + n_test])
    write(d / "t10k-labels-idx1-ubyte.gz", y[n_train:n_train + n_test])
    return d


@pytest.fixture(scope="session")
def make_fmnist_idx():
    """fashion_mnist_idx, for tests that need other sizes than fmnist_dir's."""
    return fashion_mnist_idx


@pytest.fixture(scope="module")
def fmnist_dir(tmp_path_factory):
    """Tiny Fashion-MNIST idx files (64 training, 32 test images) for rsc.train runs."""
    return fashion_mnist_idx(tmp_path_factory.mktemp("fmnist"), 64, 32)


@pytest.fixture(scope="session")
def librsc():
    """librsc.so as the binding finds it; the test command builds it first, so a missing
    library is a failure here, not a skip."""
    from rsc import _native
    return _native.lib()


@pytest.fixture(scope="module")
def torch_one_thread():
    """torch on one thread for a module (`pytestmark = pytest.mark.usefixtures(...)`, which sets
    it before the module's own fixtures): the tensors in the tests are small, where one thread is
    fastest, and multi-threaded torch slows down badly on a busy machine."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def prefix(tmp_path_factory):
    """rsc installed by scripts/install.sh: $RSC_TEST_PREFIX (scripts/test.sh installs one once
    for the suite), else an install made now, once per session."""
    if os.environ.get("RSC_TEST_PREFIX"):
        return Path(os.environ["RSC_TEST_PREFIX"])
    p = tmp_path_factory.mktemp("prefix")
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "install.sh"), str(p)], check=True,
                   capture_output=True)
    return p


@pytest.fixture
def write(tmp_path):
    """write(model) -> path of the model written as .rscm in a temporary directory."""
    from rsc import format as rf
    counter = iter(range(10**6))

    def _write(model) -> str:
        path = tmp_path / f"model{next(counter)}.rscm"
        rf.write_model(model, path)
        return str(path)
    return _write


def pytest_sessionfinish(session, exitstatus):
    """With RSC_TEST_REQUIRE_EXTRAS=1 (scripts/test.sh, i.e. CI), a test skipped because an
    optional package is not installed fails the run: the test command installs them all, so such a
    skip means a broken install, and a suite that passes by skipping proves nothing."""
    if os.environ.get("RSC_TEST_REQUIRE_EXTRAS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    missing = [r for r in skipped if "not installed" in str(r.longrepr)]
    if missing:
        for r in missing:
            print(f"\nRSC_TEST_REQUIRE_EXTRAS: {r.nodeid} skipped: {r.longrepr[2] if isinstance(r.longrepr, tuple) else r.longrepr}")
        session.exitstatus = 1
