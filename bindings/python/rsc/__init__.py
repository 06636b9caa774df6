"""rsc: certifiably robust spiking neural networks (randomized smoothing coding).

Python binding of librsc.so (ctypes): load an .rscm model, run the base SNN, predict with the
smoothed classifier, certify an L2 radius.

    import rsc
    model = rsc.load("models/fmnist_sigma025.rscm")
    cert = model.certify(x, n0=100, n=100_000, alpha=0.001, seed=0)
    print(cert.label, cert.radius)
"""
from __future__ import annotations

from .errors import RSCError  # noqa: F401  (re-exported)
from .model import (  # noqa: F401
    Certificate, Model, ModelInfo, Prediction, SequentialCertificate, certified_accuracy, load,
    load_from_memory, sequential_schedule, set_num_threads, version)

__version__ = "0.4.0"

ABSTAIN = -1
