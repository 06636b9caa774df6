"""The ways the kernel runs a spike-fed layer give the same votes.

Steps with dense events run as u8 x s8 dot products (AVX-512 VNNI, or AVX2 for counts <= 128,
Sources/CRSCKernel/kernel_dense.c), sparse ones as event-driven row adds; all are exact int32
sums, so every vote count must be bit-identical whichever paths run: the CPU's own choice, with
VNNI switched off (RSC_DISABLE_VNNI=1: AVX2 where the CPU has it), with the AVX-512 build of the
hot loops off (RSC_DISABLE_AVX512=1: the x86-64-v3 one) and with all of them off
(RSC_DISABLE_AVX2=1: the x86-64 baseline code, events only). The float first layer and the noise
are compared too, across the three levels of the hot loops. The switches are read once per
process, hence the subprocesses. The models cover strides, padding, sumpool counts above one,
channel counts that are not a multiple of 4, IF and soft reset, firing rates from sparse to busy,
and the shipped model."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rsc import format as rf
from rsc import models

REPO = Path(__file__).resolve().parents[3]

CHILD = r"""
import json, sys
import numpy as np
import rsc
out = {}
for path in json.loads(sys.argv[1]):
    m = rsc.load(path)
    rng = np.random.default_rng(3)
    xs = [np.load(sys.argv[2])[i] for i in range(2)] if path.endswith("sigma025.rscm") else \
         [rng.random(m.info.input_len) for _ in range(2)]
    out[path] = [m.predict(x, n=400, seed=5, stream=i, threads=2).counts.tolist() for i, x in enumerate(xs)]
print(json.dumps(out))
"""


def _votes(paths, disable: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSC_DISABLE_")}
    if disable:
        env[disable] = "1"
    images = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(paths), str(images)], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_dense_and_event_paths_give_identical_votes(tmp_path):
    variants = [
        dict(seed=1),
        dict(seed=2, target_rate=0.05),                      # sparse: mostly the event path
        dict(seed=3, target_rate=0.6),                       # busy: mostly dense
        dict(seed=4, conv2_stride=2, neuron="if", reset="soft"),
        dict(seed=5, input_shape=(3, 12, 12), channels=(5, 7), hidden=20),
    ]
    paths = []
    for i, kw in enumerate(variants):
        p = tmp_path / f"m{i}.rscm"
        rf.write_model(models.random_conv_snn(**kw), p)
        paths.append(str(p))
    # Graphs (format v2): ADD of spike maps gives counts 0..2 into the next conv, maxpool keeps
    # spikes, global average pooling folds 1/(H*W) into the head.
    graphs = [
        dict(seed=6, style="sew", connect="ADD", width=16, blocks=3),
        dict(seed=7, style="spiking", width=20, target_rate=0.5),
        dict(seed=8, style="sew", connect="IAND", pool="sumpool2d", input_shape=(3, 12, 12)),
    ]
    for i, kw in enumerate(graphs):
        p = tmp_path / f"g{i}.rscm"
        rf.write_model(models.random_resnet(**kw), p)
        paths.append(str(p))
    paths.append(str(REPO / "models" / "fmnist_sigma025.rscm"))
    with_dense = _votes(paths)
    for switch in ("RSC_DISABLE_VNNI", "RSC_DISABLE_AVX512", "RSC_DISABLE_AVX2"):
        assert _votes(paths, switch) == with_dense, switch
    for counts in with_dense.values():
        assert all(sum(c) == 400 for c in counts)
    # The runs are not degenerate: the models do not all vote one class.
    assert len({int(np.argmax(c)) for v in with_dense.values() for c in v}) > 1
