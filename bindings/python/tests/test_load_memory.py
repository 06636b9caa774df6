"""Peak memory at load is bounded by the file (issue 15, item 1; docs/reliability.md, "Limits"):
the file image plus the plan `rsc_model_info.plan_bytes` reports, and the plan by 16 x the file
size + 64 MiB. Measured in a fresh process (peak RSS over the RSS before `rsc_load`), on a model
whose weights are mostly spike-fed (plan ~2x the weights: int8 rows for the event path and
tiles for the dense one) and on one whose weights are analog-fed (plan ~4x: float32)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import format as rf

MiB = 1 << 20
DEMO = Path(__file__).resolve().parents[3] / "models" / "demo" / "fmnist_demo.rscm"
MEASURE = f"""
import os, sys
import rsc
def status(key):  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent
    line = next(l for l in open("/proc/self/status") if l.startswith(key + ":"))
    return int(line.split()[1]) * 1024
rsc.load({str(DEMO)!r}).close()  # the library, libomp and the binding's own first allocations
before = status("VmRSS")
m = rsc.load(sys.argv[1])
peak = status("VmHWM")
print(peak - before, m.info.plan_bytes)
"""


def _mlp(path, d: int, hidden: int, layers: int) -> int:
    rng = np.random.default_rng(0)
    w = lambda o, i: rng.standard_normal((o, i)).astype(np.float32) * 0.05  # noqa: E731
    spec = [("linear", w(hidden, d), None, {"neuron": "lif"})]
    spec += [("linear", w(hidden, hidden), None, {"neuron": "lif"}) for _ in range(layers)]
    spec.append(("linear", w(10, hidden)))
    rf.write_model(rf.build_model((d, 1, 1), spec, time_steps=2, coding="gaussian", sigma=0.25),
                   path)
    return os.path.getsize(path)


@pytest.mark.parametrize("kind", ["spike-fed", "analog-fed"])
def test_peak_memory_at_load_is_file_plus_plan(tmp_path, kind):
    path = tmp_path / "big.rscm"
    size = _mlp(path, 64, 4096, 1) if kind == "spike-fed" else _mlp(path, 4096, 3072, 0)
    env = dict(os.environ, PYTHONPATH=str(Path(rsc.__file__).resolve().parent.parent))
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    peak, plan = map(int, out.stdout.split())
    assert plan <= 16 * size + 64 * MiB
    # The file image once, the plan, and a few MiB of records and Swift objects.
    assert peak <= size + plan + 8 * MiB, (kind, size, plan, peak)
    assert peak <= 5 * size + 8 * MiB, (kind, size, plan, peak)
