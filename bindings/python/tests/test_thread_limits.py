"""libomp has no error path for a thread it cannot create: it prints "OMP: Error #34" and aborts
the process. rsc sizes each call's team by first creating the threads itself (kernel_threads.c),
so a call under an address-space cap or a process limit gets a smaller team, and the same votes,
instead of killing its host."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import rsc

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "fmnist_sigma025.rscm"
IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
CLI = REPO / ".build" / "release" / "rsc-cli"

CAPPED = r"""
import resource, sys
import numpy as np
import rsc
model = rsc.load(sys.argv[1])
x = np.load(sys.argv[2])[0]
with open("/proc/self/status") as f:
    vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize:")) * 1024
cap = vm + (400 << 20)   # room for some threads of 8 MiB stacks, far from 1024 of them
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
p = model.predict(x, n=2000, threads=1024, seed=3)
print(" ".join(map(str, p.counts)))
"""


def test_1024_threads_under_an_address_space_cap():
    out = subprocess.run([sys.executable, "-c", CAPPED, str(MODEL), str(IMAGES)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"rc {out.returncode}: {out.stderr[-2000:]}"
    assert "OMP: Error" not in out.stderr
    want = rsc.load(MODEL).predict(np.load(IMAGES)[0], n=2000, threads=1, seed=3).counts
    assert out.stdout.split() == [str(c) for c in want]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run as another user under a process limit")
def test_default_threads_under_a_process_limit():
    # RLIMIT_NPROC counts the threads of a user and does not bind root: run rsc-cli as nobody,
    # from a directory nobody can read (pytest's tmp_path is private to root).
    assert CLI.exists(), "build rsc-cli first: swift build -c release"
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        _run_as_nobody(Path(tmp))


def _run_as_nobody(d: Path):
    for f in (CLI, MODEL, IMAGES):
        shutil.copy(f, d)
    cmd = f"ulimit -u 1 && exec {d}/rsc-cli predict {d}/{MODEL.name} {d}/{IMAGES.name} --count 2 --n 500"
    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c", cmd],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"rc {out.returncode}: {out.stderr[-2000:]}"
    assert "OMP: Error" not in out.stderr
    assert len(out.stdout.strip().splitlines()) == 3  # header and two images
