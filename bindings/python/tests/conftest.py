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
