"""The robustness-accuracy trade-off of RSC models: clean, smoothed, certified and attacked
accuracy, next to an ANN baseline of the same architecture.

    python3 -m rsc.eval --count 500 --md ../../docs/tradeoff.md      # the shipped models

For every SNN (a `.rscm` file and its PyTorch twin, the `.pt` checkpoint of `rsc.train`), on the
first `--count` images of a test set:

* **clean**: the base SNN through rsc's runtime (`rsc_forward`): without noise (u_t = x) and under
  its own coding noise (the fraction of PREDICT's n noise passes that vote for the true class);
* **smoothed**: Cohen et al.'s PREDICT through rsc (n, alpha): accuracy and abstain rate;
* **certified**: certified accuracy at a list of radii, read from `rsc.results`' per-image TSVs
  (`docs/results/`, CERTIFY n = 100,000) where they exist, else computed with `--certify-n` on
  `--certify-count` images (0: skipped);
* **attacked**: FGSM and PGD under L2 and Linf at the given eps, computed on the PyTorch twin
  (`rsc.nn.RSCNet`: surrogate gradients through the spikes, backpropagation through the T steps)
  with expectation over transformation (EOT): every gradient is the mean of the cross-entropy
  gradients over `--eot` independent draws of the coding noise. The attacked images are then
  *evaluated through rsc* exactly like the clean ones (base SNN under noise, PREDICT), with rsc's
  own noise (Philox, seed and stream as for the clean images), which the attacker never sees.

An ANN (`rsc.train --ann`: the same layers with ReLU, no noise, one step) is attacked the same
way and evaluated in torch (rsc runs SNNs only).

Attacks (images in [0, 1], every iterate clipped to [0, 1]):
* FGSM: one step of size eps along sign(grad) (Linf) or grad / ||grad||_2 (L2);
* PGD (Madry et al.): a uniform random start in the eps ball (Linf; for L2 a random direction at
  a uniform radius in [0, eps]), `--pgd-steps` steps of size `--pgd-step-scale * eps / steps`,
  each followed by projection onto the eps ball and [0, 1].

Results are kept per (model, part, settings) in a JSON file (`--json`), so a long run resumes
where it stopped, and the Markdown (`--md`) and the PNG plots are rebuilt from it. Text after the
line `<!-- discussion -->` in an existing `--md` file is kept (hand-written discussion).
Needs torch for the attacks and the ANN, matplotlib (extra `plot`) for the plots.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ._args import files, require, smoothing
from .results import DEFAULT_IMAGES, DEFAULT_LABELS, DEFAULT_MODELS, RADII, REPO, cpu_name

__all__ = ["Attack", "parse_attacks", "base_accuracy", "smoothed_accuracy", "certified_from_tsv",
           "certified_accuracy_of", "attack", "torch_accuracy", "load_net", "evaluate_snn",
           "evaluate_ann", "markdown", "tradeoff_plot", "certified_plot", "main"]

DISCUSSION_MARKER = "<!-- discussion -->"
DEFAULT_SNNS = DEFAULT_MODELS  # the shipped models and images, as rsc.results finds them
DEFAULT_ANN = REPO / "models" / "fmnist_ann.pt"
# Cohen et al.'s randomized-smoothing ANNs (rsc.train --ann --sigma S), certified by rsc.smoothed_ann
DEFAULT_RS_ANNS = [REPO / "models" / f"fmnist_ann_sigma{t}.pt" for t in ("012", "025", "050")]
DEFAULT_RADII = (*RADII, 1.5)  # 1.5: within reach of one noise draw per pass at sigma 0.5


# ---- attacks ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attack:
    """One attack: `kind` 'fgsm' or 'pgd', `norm` 'linf' or 'l2', budget `eps`; PGD takes
    `steps` steps of size `step_scale * eps / steps` from a random start."""

    kind: str
    norm: str
    eps: float
    steps: int = 10
    step_scale: float = 2.5

    def __post_init__(self):
        if self.kind not in ("fgsm", "pgd"):
            raise ValueError(f"attack kind must be 'fgsm' or 'pgd', got {self.kind!r}")
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"attack norm must be 'linf' or 'l2', got {self.norm!r}")
        if not self.eps >= 0:
            raise ValueError(f"eps must be >= 0, got {self.eps}")
        if self.kind == "pgd" and self.steps < 1:
            raise ValueError("PGD needs steps >= 1")

    @property
    def label(self) -> str:
        n = "Linf" if self.norm == "linf" else "L2"
        return f"{self.kind.upper()}-{n} eps={self.eps:g}"

    @property
    def key(self) -> str:
        if self.kind == "fgsm":
            return f"fgsm-{self.norm}-{self.eps:g}"
        return f"pgd-{self.norm}-{self.eps:g}-k{self.steps}-s{self.step_scale:g}"


def parse_attacks(linf_eps: Iterable[float] = (), l2_eps: Iterable[float] = (),
                  kinds: Sequence[str] = ("fgsm", "pgd"), steps: int = 10,
                  step_scale: float = 2.5) -> list[Attack]:
    out = []
    for norm, epss in (("linf", linf_eps), ("l2", l2_eps)):
        for eps in epss:
            for k in kinds:
                out.append(Attack(k, norm, float(eps), steps, step_scale))
    return out


def _eot_loss(net, xb, yb, eot: int, gen):
    """Mean cross-entropy over `eot` draws of the net's coding noise (one draw for a net without
    noise: its coding is 'direct')."""
    import torch
    import torch.nn.functional as F
    draws = eot if net.coding.coding != "direct" else 1
    b = xb.shape[0]
    xr = xb.repeat((draws,) + (1,) * (xb.dim() - 1))
    logits = net(xr, generator=gen)
    return F.cross_entropy(logits, yb.repeat(draws), reduction="sum") / draws, logits.view(
        draws, b, -1)


def _grad(net, x_adv, yb, eot: int, gen):
    import torch
    x_adv = x_adv.detach().requires_grad_(True)
    loss, _ = _eot_loss(net, x_adv, yb, eot, gen)
    (g,) = torch.autograd.grad(loss, x_adv)
    return g


def _l2_normalize(g):
    import torch
    n = g.flatten(1).norm(dim=1).clamp_min(1e-12)
    return g / n.view((-1,) + (1,) * (g.dim() - 1))


def _project(x_adv, x, a: Attack):
    import torch
    d = x_adv - x
    if a.norm == "linf":
        d = d.clamp(-a.eps, a.eps)
    else:
        n = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        d = d * (a.eps / n).clamp(max=1.0).view((-1,) + (1,) * (d.dim() - 1))
    return (x + d).clamp(0.0, 1.0)


def attack(net, x: np.ndarray, y: np.ndarray, a: Attack, eot: int = 8, seed: int = 0,
           batch: int = 50) -> np.ndarray:
    """Adversarial examples (float32, like x) for `net` (an `rsc.nn.RSCNet`, SNN or ANN) under
    attack `a`, with EOT over `eot` draws of the coding noise per gradient."""
    import torch
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    out = np.empty_like(np.asarray(x, dtype=np.float32))
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32))
        yb = torch.from_numpy(np.asarray(y[i:i + batch], dtype=np.int64))
        if a.eps == 0:
            out[i:i + batch] = xb.numpy()
            continue
        if a.kind == "fgsm":
            g = _grad(net, xb, yb, eot, gen)
            step = g.sign() if a.norm == "linf" else _l2_normalize(g)
            xa = (xb + a.eps * step).clamp(0.0, 1.0)
        else:
            if a.norm == "linf":
                xa = xb + (torch.rand(xb.shape, generator=gen) * 2 - 1) * a.eps
            else:
                d = _l2_normalize(torch.randn(xb.shape, generator=gen))
                r = torch.rand((xb.shape[0],), generator=gen) * a.eps
                xa = xb + d * r.view((-1,) + (1,) * (xb.dim() - 1))
            xa = _project(xa, xb, a)
            alpha = a.step_scale * a.eps / a.steps
            for _ in range(a.steps):
                g = _grad(net, xa, yb, eot, gen)
                step = g.sign() if a.norm == "linf" else _l2_normalize(g)
                xa = _project(xa + alpha * step, xb, a)
        out[i:i + batch] = xa.detach().numpy()
    return out


def torch_accuracy(net, x: np.ndarray, y: np.ndarray, samples: int = 8, seed: int = 1,
                   batch: int = 100) -> float:
    """Accuracy of the torch net on x: argmax of the logits averaged over `samples` draws of the
    coding noise (one pass for a net without noise)."""
    import torch
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    draws = samples if net.coding.coding != "direct" else 1
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32))
            b = xb.shape[0]
            logits = net(xb.repeat((draws, 1, 1, 1)), generator=gen).view(draws, b, -1).mean(0)
            correct += int((logits.argmax(1).numpy() == y[i:i + batch]).sum())
    return correct / len(x)


def _train_entry(checkpoint) -> dict:
    """The `train` entry `rsc.train` records in a checkpoint ({} if none or no file)."""
    if checkpoint is None or not Path(checkpoint).exists():
        return {}
    import torch
    return dict(torch.load(checkpoint, map_location="cpu", weights_only=True).get("train") or {})


def noisy_accuracy(net, x: np.ndarray, y: np.ndarray, sigma: float, samples: int = 8,
                   seed: int = 1, batch: int = 100) -> float:
    """The fraction of single passes of the (ANN) net on x + sigma * eps that are correct, over
    `samples` draws per image: the base classifier's accuracy under the smoothing noise."""
    import torch
    net.eval()
    gen = torch.Generator().manual_seed(seed)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32))
            xb = xb.repeat((samples, 1, 1, 1))
            pred = net(xb + sigma * torch.randn(xb.shape, generator=gen)).argmax(1).numpy()
            correct += int((pred == np.tile(y[i:i + batch], samples)).sum())
    return correct / (len(x) * samples)


def load_net(path: str | os.PathLike):
    """An `rsc.nn.RSCNet` (eval mode) from an `rsc.train --checkpoint` file (SNN or ANN)."""
    from .convert.torch import load_checkpoint
    return load_checkpoint(path)


# ---- rsc: base SNN, PREDICT, CERTIFY ------------------------------------------------------------

def base_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Base SNN through rsc_forward without noise (u_t = x at every step)."""
    t = model.info.time_steps
    pred = [int(np.argmax(model.forward(np.broadcast_to(xi, (t,) + xi.shape)))) for xi in x]
    return float(np.mean(np.array(pred) == np.asarray(y)))


def smoothed_accuracy(model, x: np.ndarray, y: np.ndarray, n: int = 1000, alpha: float = 0.001,
                      seed: int = 0, first_stream: int = 0, threads: int = 1) -> dict:
    """PREDICT through rsc on every image (image i on stream first_stream + i): smoothed accuracy
    (abstentions are errors), abstain rate, and the base SNN's accuracy under its own noise (the
    fraction of the n noise passes voting for the true class)."""
    y = np.asarray(y)
    pred = np.empty(len(x), dtype=np.int64)
    votes = np.empty(len(x))
    t0 = time.perf_counter()
    for i, xi in enumerate(x):
        p = model.predict(xi, n=n, alpha=alpha, seed=seed, stream=first_stream + i, threads=threads)
        pred[i] = p.label
        votes[i] = p.counts[int(y[i])] / n
    return dict(count=len(x), n=n, alpha=alpha, acc=float(np.mean(pred == y)),
                abstain=float(np.mean(pred < 0)), base_noisy=float(np.mean(votes)),
                seconds=time.perf_counter() - t0)


def _certified_rows(pred, labels, radius, radii) -> list[float]:
    ok = np.asarray(pred) == np.asarray(labels)
    rad = np.asarray(radius, dtype=float)
    return [float(np.mean(ok & (rad >= r))) for r in radii]


def certified_from_tsv(path: str | os.PathLike, radii=DEFAULT_RADII,
                       count: int | None = None) -> dict | None:
    """Certified accuracy from a `rsc.results` CERTIFY TSV: the contiguous prefix of images
    0..K-1 (at most `count`); None if the file is missing or empty."""
    from .results import _read_tsv
    # The file may be growing (rsc.results appends to it): drop a partly written last line.
    rows = {i: r for i, r in _read_tsv(Path(path)).items()
            if all(r.get(c) not in (None, "") for c in ("label", "predict", "radius", "n"))}
    if not rows:
        return None
    k = 0
    while k in rows and (count is None or k < count):
        k += 1
    if k == 0:
        return None
    rows = [rows[i] for i in range(k)]
    lab = [int(r["label"]) for r in rows]
    pred = [int(r["predict"]) for r in rows]
    rad = [float(r["radius"]) for r in rows]
    return dict(count=k, n=int(rows[0]["n"]), source=os.path.relpath(path, REPO)
                if str(path).startswith(str(REPO)) else str(path),
                radii=list(map(float, radii)), acc=_certified_rows(pred, lab, rad, radii),
                abstain=float(np.mean(np.array(pred) < 0)), labels=lab, predict=pred, radius=rad)


def _certified_from_results(results_dir, stem: str, radii, count: int) -> dict | None:
    """certified_from_tsv of the `{stem}_certify_n*.tsv` in results_dir with the largest n that
    has rows (default results_dir: docs/results), else None."""
    tsvs = sorted(Path(results_dir or REPO / "docs" / "results").glob(f"{stem}_certify_n*.tsv"),
                  key=lambda p: -int(p.stem.rsplit("_n", 1)[1]))
    return next((c for c in (certified_from_tsv(t, radii, count=count) for t in tsvs) if c), None)


def certified_accuracy_of(model, x: np.ndarray, y: np.ndarray, radii=DEFAULT_RADII,
                          n0: int = 100, n: int = 10_000, alpha: float = 0.001, seed: int = 0,
                          threads: int = 1) -> dict:
    """CERTIFY through rsc on every image (image i on stream i): certified accuracy at `radii`."""
    t0 = time.perf_counter()
    certs = [model.certify(xi, n0=n0, n=n, alpha=alpha, seed=seed, stream=i, threads=threads)
             for i, xi in enumerate(x)]
    return dict(_computed_certified(certs, y, radii, n), seconds=time.perf_counter() - t0)


def _computed_certified(certs, y, radii, n: int) -> dict:
    """The certified-accuracy record of certificates computed here (rsc's or rsc.smoothed_ann's:
    both have .label and .radius), in certified_from_tsv's layout."""
    lab = [int(v) for v in y]
    pred = [c.label for c in certs]
    rad = [float(c.radius) for c in certs]
    return dict(count=len(certs), n=n, source="computed", radii=list(map(float, radii)),
                acc=_certified_rows(pred, lab, rad, radii),
                abstain=float(np.mean(np.array(pred) < 0)), labels=lab, predict=pred, radius=rad)


# ---- one model ---------------------------------------------------------------------------------

def _cached(cache: dict, key: str, fn, log, compute: bool = True):
    """cache[key], else fn() stored under key; with compute=False a missing part is None."""
    if key in cache:
        log(f"  {key}: cached")
        return cache[key]
    if not compute:
        log(f"  {key}: not run")
        return None
    t0 = time.perf_counter()
    v = fn()
    if isinstance(v, dict):
        v.setdefault("seconds", time.perf_counter() - t0)
    cache[key] = v
    log(f"  {key}: {_summary(v)} [{time.perf_counter() - t0:.0f} s]")
    return v


def _summary(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {v[k]:.4f}" if isinstance(v[k], float) else f"{k} {v[k]}"
                         for k in ("acc", "abstain", "base_noisy", "no_noise", "torch_acc")
                         if k in v)
    return str(v)


def evaluate_snn(rscm: str | os.PathLike, x: np.ndarray, y: np.ndarray, attacks: Sequence[Attack],
                 checkpoint: str | os.PathLike | None = None, predict_n: int = 1000,
                 alpha: float = 0.001, seed: int = 0, eot: int = 8, radii=DEFAULT_RADII,
                 results_dir: str | os.PathLike | None = None, certify_n: int = 0,
                 certify_count: int = 0, threads: int = 1, batch: int = 50,
                 cache: dict | None = None, save=None, log=lambda s: None,
                 compute: bool = True) -> dict:
    """Every part for one SNN; `cache` (a dict, e.g. loaded from JSON) holds finished parts,
    keyed by part and settings, and `save()` is called after each part. With compute=False only
    cached parts are reported (the others are None / left out)."""
    import rsc
    m = rsc.load(rscm)
    rscm = Path(rscm)
    cache = {} if cache is None else cache
    save = save or (lambda: None)
    k = len(x)
    checkpoint = Path(checkpoint) if checkpoint else rscm.with_suffix(".pt")
    res = dict(kind="snn", path=str(rscm), name=m.info.name, sigma=float(m.info.sigma),
               sigma_eff=float(m.info.sigma_eff), time_steps=m.info.time_steps, count=k,
               predict_n=predict_n, eot=eot, coding=m.info.coding,
               arch=[m.info.format_version, m.info.num_layers, list(m.info.input_shape)],
               teacher=_train_entry(checkpoint).get("teacher") or "")
    log(f"{rscm.name}: sigma {m.info.sigma:g}, {k} images")
    v = _cached(cache, f"base-no-noise/{k}", lambda: dict(acc=base_accuracy(m, x, y)), log,
                compute)
    res["clean_no_noise"] = v["acc"] if v else None
    save()
    # Clean PREDICT: rsc.results' TSV when it has these images with the same settings.
    def clean_predict():
        tsv = Path(results_dir or REPO / "docs" / "results") / f"{rscm.stem}_predict_n{predict_n}.tsv"
        from .results import _read_tsv
        rows = _read_tsv(tsv)
        if all(i in rows for i in range(k)) and seed == 0 and alpha == 0.001:
            rows = [rows[i] for i in range(k)]
            if all(int(r["label"]) == int(y[i]) for i, r in enumerate(rows)):
                pred = np.array([int(r["predict"]) for r in rows])
                return dict(count=k, n=predict_n, alpha=alpha, acc=float(np.mean(pred == y)),
                            abstain=float(np.mean(pred < 0)),
                            base_noisy=float(np.mean([int(r["count_label"]) / int(r["n"])
                                                      for r in rows])),
                            source=os.path.relpath(tsv, REPO))
        return smoothed_accuracy(m, x, y, n=predict_n, alpha=alpha, seed=seed, threads=threads)
    res["clean"] = _cached(cache, f"predict/{k}/n{predict_n}/a{alpha:g}/s{seed}", clean_predict,
                           log, compute)
    save()
    # Certified accuracy: rsc.results' TSVs (n = 100,000) where they exist.
    cert = _certified_from_results(results_dir, rscm.stem, radii, k)
    if cert is None and certify_n and certify_count and m.info.coding.startswith("gaussian"):
        cert = _cached(cache, f"certify/{min(certify_count, k)}/n{certify_n}/s{seed}",
                       lambda: certified_accuracy_of(m, x[:certify_count], y[:certify_count],
                                                     radii, n=certify_n, alpha=alpha, seed=seed,
                                                     threads=threads), log, compute)
        save()
    res["certified"] = cert
    # Attacks on the torch twin, evaluated through rsc.
    if attacks:
        net = load_net(checkpoint)
        if abs(net.coding.sigma - m.info.sigma) > 1e-6 or net.time_steps != m.info.time_steps:
            raise ValueError(f"{checkpoint} (sigma {net.coding.sigma}, T {net.time_steps}) is not "
                             f"the twin of {rscm} (sigma {m.info.sigma}, T {m.info.time_steps})")
        res["attacks"] = {}
        for a in attacks:
            def run(a=a):
                t0 = time.perf_counter()
                xa = attack(net, x, y, a, eot=eot, seed=seed, batch=batch)
                t_att = time.perf_counter() - t0
                d = (xa - x).reshape(len(x), -1)
                r = smoothed_accuracy(m, xa, y, n=predict_n, alpha=alpha, seed=seed,
                                      threads=threads)
                r.update(attack=asdict(a), label=a.label, attack_seconds=t_att,
                         no_noise=base_accuracy(m, xa, y),
                         torch_acc=torch_accuracy(net, xa, y, samples=eot, seed=seed + 1),
                         max_linf=float(np.abs(d).max()), max_l2=float(np.linalg.norm(d, axis=1).max()))
                return r
            v = _cached(cache, f"attack/{a.key}/{k}/eot{eot}/n{predict_n}/s{seed}", run, log,
                        compute)
            if v is not None:
                res["attacks"][a.key] = v
            save()
    return res


def evaluate_ann(checkpoint: str | os.PathLike, x: np.ndarray, y: np.ndarray,
                 attacks: Sequence[Attack], seed: int = 0, batch: int = 50,
                 cache: dict | None = None, save=None, log=lambda s: None,
                 compute: bool = True) -> dict:
    """The ANN baseline, in torch: clean accuracy and accuracy on each attack's examples."""
    net = load_net(checkpoint)
    cache = {} if cache is None else cache
    save = save or (lambda: None)
    k = len(x)
    res = dict(kind="ann", path=str(checkpoint), name=net.name, sigma=0.0, count=k)
    log(f"{Path(checkpoint).name}: ANN, {k} images")
    v = _cached(cache, f"torch-clean/{k}", lambda: dict(acc=torch_accuracy(net, x, y)), log,
                compute)
    res["clean_no_noise"] = v["acc"] if v else None
    res["attacks"] = {}
    for a in attacks:
        def run(a=a):
            t0 = time.perf_counter()
            xa = attack(net, x, y, a, eot=1, seed=seed, batch=batch)
            d = (xa - x).reshape(len(x), -1)
            return dict(label=a.label, attack=asdict(a), acc=torch_accuracy(net, xa, y),
                        attack_seconds=time.perf_counter() - t0, max_linf=float(np.abs(d).max()),
                        max_l2=float(np.linalg.norm(d, axis=1).max()))
        v = _cached(cache, f"attack/{a.key}/{k}/s{seed}", run, log, compute)
        if v is not None:
            res["attacks"][a.key] = v
        save()
    save()
    return res


def evaluate_rs_ann(checkpoint: str | os.PathLike, x: np.ndarray, y: np.ndarray,
                    radii=DEFAULT_RADII, results_dir: str | os.PathLike | None = None,
                    certify_n: int = 0, certify_count: int = 0, seed: int = 0,
                    samples: int = 8, cache: dict | None = None, save=None,
                    log=lambda s: None, compute: bool = True) -> dict:
    """A randomized-smoothing ANN (`rsc.train --ann --sigma S`), in torch: clean accuracy, the
    base ANN's accuracy under its noise, and certified accuracy from `rsc.smoothed_ann`'s TSV
    (`{stem}_certify_n*.tsv` in results_dir, the largest n), else computed with
    `rsc.smoothed_ann.certify` at certify_n on certify_count images. Not attacked."""
    from . import smoothed_ann
    checkpoint = Path(checkpoint)
    sigma = float(_train_entry(checkpoint).get("sigma") or 0.0)
    if not sigma > 0:
        raise ValueError(f"{checkpoint} records no training noise (rsc.train --ann --sigma S): "
                         "not a randomized-smoothing ANN")
    net = load_net(checkpoint)
    cache = {} if cache is None else cache
    save = save or (lambda: None)
    k = len(x)
    res = dict(kind="rs-ann", path=str(checkpoint), name=net.name, sigma=sigma, sigma_eff=sigma,
               coding="gaussian", count=k, arch=None, teacher="")
    log(f"{checkpoint.name}: smoothed ANN, sigma {sigma:g}, {k} images")
    v = _cached(cache, f"torch-clean/{k}", lambda: dict(acc=torch_accuracy(net, x, y)), log,
                compute)
    res["clean_no_noise"] = v["acc"] if v else None
    v = _cached(cache, f"torch-noisy/{k}/x{samples}/s{seed + 1}",
                lambda: dict(acc=noisy_accuracy(net, x, y, sigma, samples, seed + 1)), log,
                compute)
    res["clean"] = dict(base_noisy=v["acc"]) if v else None
    save()
    cert = _certified_from_results(results_dir, checkpoint.stem, radii, k)
    if cert is None and certify_n and certify_count:
        def run():
            certs = smoothed_ann.certify_batch(net, x[:certify_count], sigma, n=certify_n,
                                               seed=seed)
            return _computed_certified(certs, y[:certify_count], radii, certify_n)
        cert = _cached(cache, f"certify/{min(certify_count, k)}/n{certify_n}/s{seed}", run, log,
                       compute)
        save()
    res["certified"] = cert
    return res


# ---- tables and plots ----------------------------------------------------------------------------

def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _model_label(r: dict) -> str:
    """The file's stem (names stay apart where sigmas repeat: distilled, shared-noise, SEW)."""
    stem = Path(r["path"]).stem
    return {"ann": f"{stem} (ANN)", "rs-ann": f"{stem} (smoothed ANN)"}.get(r["kind"], stem)


def _coding_label(r: dict) -> str:
    if r["kind"] == "ann":
        return "none (ReLU)"
    if r["kind"] == "rs-ann":
        return "gaussian, 1 draw (ReLU)"
    c = r.get("coding", "gaussian")
    return c + (f", teacher {Path(r['teacher']).stem}" if r.get("teacher") else "")


def _rmax(r: dict, n: int) -> float:
    """The largest radius CERTIFY can give with n passes (all votes for one class)."""
    return r["sigma_eff"] * _phi_inv(0.001 ** (1 / n))


def markdown(results: Sequence[dict], attacks: Sequence[Attack], radii=DEFAULT_RADII) -> str:
    """The Markdown tables: accuracy and certified accuracy, accuracy under each attack, then
    the comparisons of codings (Poisson and direct against RSC) and of distilled models."""
    snns = [r for r in results if r["kind"] == "snn"]
    lines = ["### Clean, smoothed and certified accuracy", "",
             "| model | coding | sigma | images | base, no noise | base, under noise | "
             "smoothed (PREDICT) | abstain | " + " | ".join(f"cert. r={v:g}" for v in radii)
             + " | cert. images (n) |",
             "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(radii) + "---:|"]
    for r in results:
        c = r.get("clean") or {}
        cert = r.get("certified")
        if r["kind"] == "ann":
            cells = [_pct(r["clean_no_noise"]), "-", "-", "-"]
        elif r["kind"] == "rs-ann":
            cells = [_pct(r["clean_no_noise"]), _pct(c.get("base_noisy")), "-", "-"]
        else:
            cells = [_pct(r["clean_no_noise"]), _pct(c.get("base_noisy")), _pct(c.get("acc")),
                     _pct(c.get("abstain"))]
        if cert:
            cells += [_pct(_cert_at(cert, v)) + ("†" if v > _rmax(r, cert["n"]) else "")
                      for v in radii]
            cells.append(f"{cert['count']} ({cert['n']:,})")
        else:
            cells += ["-"] * len(radii) + ["-"]
        lines.append(f"| {_model_label(r)} | {_coding_label(r)} | {r['sigma']:g} | {r['count']} | "
                     + " | ".join(cells) + " |")
    lines += [""]
    # Attacks: one row per model, one column per attack.
    keys = [a.key for a in attacks]
    attacked = [r for r in results if r["kind"] != "rs-ann"]
    lines += ["### Accuracy under attack", "",
              "SNN cells: smoothed PREDICT accuracy through rsc / base SNN under noise through rsc "
              "(fraction of noise passes voting for the true class) / torch twin (EOT-averaged "
              "logits). ANN cells: torch accuracy."
              + (" The smoothed ANNs are certified, not attacked." if len(attacked) < len(results)
                 else ""), "",
              "| model | clean | " + " | ".join(a.label for a in attacks) + " |",
              "|---|---:|" + "---:|" * len(attacks)]
    for r in attacked:
        att = r.get("attacks", {})
        if r["kind"] == "ann":
            clean = _pct(r["clean_no_noise"])
            cells = [_pct(att[k]["acc"]) if k in att else "not run" for k in keys]
        else:
            c = r.get("clean") or {}
            clean = f"{_pct(c.get('acc'))} / {_pct(c.get('base_noisy'))}"
            cells = [f"{_pct(att[k]['acc'])} / {_pct(att[k]['base_noisy'])} / "
                     f"{_pct(att[k]['torch_acc'])}" if k in att else "not run" for k in keys]
        lines.append(f"| {_model_label(r)} | {clean} | " + " | ".join(cells) + " |")
    lines.append("")
    if any(a.get("abstain") for r in snns for a in r.get("attacks", {}).values()):
        lines += ["PREDICT abstain rate under attack (abstentions count as errors above):", "",
                  "| model | " + " | ".join(a.label for a in attacks) + " |",
                  "|---|" + "---:|" * len(attacks)]
        for r in snns:
            att = r.get("attacks", {})
            lines.append(f"| {_model_label(r)} | " + " | ".join(
                _pct(att[k]["abstain"]) if k in att else "-" for k in keys) + " |")
        lines.append("")
    lines += coding_markdown(results, attacks)
    lines += distillation_markdown(results, attacks, radii)
    return "\n".join(lines)


def _rsc_references(results: Sequence[dict], arch) -> list[dict]:
    """The plain RSC-SNNs of an architecture: per-step gaussian coding, no teacher; by sigma."""
    return sorted((r for r in results if r["kind"] == "snn" and r.get("coding") == "gaussian"
                   and not r.get("teacher") and r.get("arch") == arch),
                  key=lambda r: r["sigma"])


def _attacked_acc(r: dict, key: str | None) -> float | None:
    """Smoothed PREDICT accuracy through rsc, clean (key None) or under attack `key`."""
    part = r.get("clean") if key is None else r.get("attacks", {}).get(key)
    return part.get("acc") if part else None


def coding_markdown(results: Sequence[dict], attacks: Sequence[Attack]) -> list[str]:
    """Poisson- and direct-coded SNNs against the RSC-SNNs of the same architecture: smoothed
    PREDICT accuracy clean and under each attack, and the RSC sigma whose accuracy is closest
    to each one's (the paper's claim: Poisson coding is a form of randomized smoothing)."""
    others = [r for r in results if r["kind"] == "snn" and r.get("coding") in ("poisson", "direct")]
    lines = []
    for arch in {json.dumps(r.get("arch")): r.get("arch") for r in others}.values():
        group = [r for r in others if r.get("arch") == arch]
        refs = _rsc_references(results, arch)
        if not refs:
            continue
        conds = [(None, "clean")] + [(a.key, a.label) for a in attacks]
        lines += ["### Poisson and direct coding against RSC", "",
                  "Smoothed PREDICT accuracy through rsc of SNNs of the same architecture that "
                  "differ only in their input coding (" + ", ".join(_model_label(r) for r in group)
                  + " against " + ", ".join(_model_label(r) for r in refs) + "), and for each "
                  "non-gaussian coding the RSC sigma whose accuracy is closest (in points).", "",
                  "| condition | " + " | ".join(_model_label(r) for r in group + refs) + " | "
                  + " | ".join(f"{_model_label(r)} closest to" for r in group) + " |",
                  "|---|" + "---:|" * (len(group) + len(refs)) + "---|" * len(group)]
        for key, label in conds:
            vals = [_attacked_acc(r, key) for r in group + refs]
            if all(v is None for v in vals):
                continue
            ref_acc = [(q, _attacked_acc(q, key)) for q in refs]
            ref_acc = [(q, a) for q, a in ref_acc if a is not None]
            near = []
            for v in vals[:len(group)]:
                if v is None or not ref_acc:
                    near.append("-")
                    continue
                q, a = min(ref_acc, key=lambda t: abs(t[1] - v))
                near.append(f"sigma={q['sigma']:g} ({100 * (v - a):+.1f})")
            lines.append(f"| {label} | " + " | ".join(_pct(v) for v in vals) + " | "
                         + " | ".join(near) + " |")
        lines.append("")
    return lines


def distillation_markdown(results: Sequence[dict], attacks: Sequence[Attack],
                          radii=DEFAULT_RADII) -> list[str]:
    """Each distilled SNN (its checkpoint names a teacher) against the SNN of the same
    architecture, coding and sigma without one: differences in points."""
    pairs = []
    for r in results:
        if r["kind"] != "snn" or not r.get("teacher"):
            continue
        base = [q for q in results if q["kind"] == "snn" and not q.get("teacher")
                and q.get("arch") == r.get("arch") and q.get("coding") == r.get("coding")
                and abs(q["sigma"] - r["sigma"]) < 1e-9]
        if base:
            pairs.append((r, base[0]))
    if not pairs:
        return []
    def certified_pair(r, q, v):
        """Certified accuracy at radius v of r and q over the images both have."""
        if not (r.get("certified") and q.get("certified")):
            return None, None
        k = min(r["certified"]["count"], q["certified"]["count"])
        return tuple(_certified_rows(c["predict"][:k], c["labels"][:k], c["radius"][:k], [v])[0]
                     for c in (r["certified"], q["certified"]))

    cols = ([("base, no noise", lambda r, q: (r.get("clean_no_noise"), q.get("clean_no_noise"))),
             ("smoothed (PREDICT)", lambda r, q: (_attacked_acc(r, None), _attacked_acc(q, None)))]
            + [(f"cert. r={v:g}", lambda r, q, v=v: certified_pair(r, q, v))
               for v in radii if v > 0]
            + [(a.label, lambda r, q, k=a.key: (_attacked_acc(r, k), _attacked_acc(q, k)))
               for a in attacks])
    lines = ["### Distilled against not distilled", "",
             "Each SNN trained with `--teacher` against the SNN of the same architecture, coding "
             "and sigma trained without one: the distilled model's accuracy and, in brackets, its "
             "difference in points (certified accuracy over the images both have).", "",
             "| model | against | " + " | ".join(c for c, _ in cols) + " |",
             "|---|---|" + "---:|" * len(cols)]
    for r, q in pairs:
        cells = []
        for _, pair in cols:
            a, b = pair(r, q)
            cells.append("-" if a is None or b is None else f"{_pct(a)} ({100 * (a - b):+.1f})")
        lines.append(f"| {_model_label(r)} | {_model_label(q)} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _cert_at(cert: dict, r: float) -> float:
    if r in cert["radii"]:
        return cert["acc"][cert["radii"].index(r)]
    return _certified_rows(cert["predict"], cert["labels"], cert["radius"], [r])[0]


def _phi_inv(p: float) -> float:
    from statistics import NormalDist
    return NormalDist().inv_cdf(p)


# One look per model on both plots: colour by sigma (the noise), marker and line by family (what
# else differs), so a dozen models stay apart and each comparison reads as "same colour".
_SIGMA_COLORS = {0.12: "tab:blue", 0.25: "tab:orange", 0.5: "tab:green"}
_FAMILY = {  # family: (marker, marker size, line style, line width, alpha)
    "conv": ("o", 7, "-", 1.5, 1.0), "residual": ("D", 6, (0, (6, 2)), 1.5, 1.0),
    "distilled": ("*", 10, (0, (1, 1.5)), 2.0, 1.0), "shared": ("P", 8, "-.", 1.5, 1.0),
    "poisson": ("^", 8, "-", 1.5, 1.0), "direct": ("v", 8, "-", 1.5, 1.0),
    "ann": ("s", 7, "-", 1.5, 1.0), "rs-ann": ("X", 8, "-", 3.5, 0.4)}


def _family(r: dict) -> str:
    if r["kind"] in ("ann", "rs-ann"):
        return r["kind"]
    if r.get("teacher"):
        return "distilled"
    coding = r.get("coding", "gaussian")
    if coding != "gaussian":
        return {"gaussian-shared": "shared"}.get(coding, coding)
    return "residual" if (r.get("arch") or [1])[0] >= 2 else "conv"


def _style(r: dict, cycle: Sequence[str]) -> dict:
    """matplotlib keywords for model r: colour, marker, ms, ls, lw, alpha."""
    fam = _family(r)
    marker, ms, ls, lw, alpha = _FAMILY[fam]
    color = {"ann": "k", "poisson": "tab:purple", "direct": "tab:brown"}.get(fam) or \
        _SIGMA_COLORS.get(round(float(r.get("sigma", 0)), 2)) or \
        cycle[int(round(float(r.get("sigma", 0)) * 100)) % len(cycle)]
    return dict(color=color, marker=marker, ms=ms, ls=ls, lw=lw, alpha=alpha)


def _attacked(results: Sequence[dict], attacks: Sequence[Attack]) -> list[Attack]:
    """The attacks some model of results has a result for (the trade-off plot's panels)."""
    return [a for a in attacks if any(a.key in r.get("attacks", {}) for r in results)]


def tradeoff_plot(results: Sequence[dict], attacks: Sequence[Attack], path: str | os.PathLike) -> None:
    """PNG: one panel per attack, clean accuracy (x) against accuracy under that attack (y), one
    point per model (SNN: smoothed PREDICT through rsc, filled; base SNN under noise, hollow;
    ANN: torch, black square). Colour: sigma; marker: the model's family (_style)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    attacks = _attacked(results, attacks)
    if not attacks:
        raise ValueError("no attack results to plot")
    cols = min(len(attacks), 4)
    rows = math.ceil(len(attacks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.2 * rows), dpi=120, squeeze=False)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles = {}
    for ax, a in zip(axes.flat, attacks):
        for r in results:
            att = r.get("attacks", {}).get(a.key)
            if att is None or (r["kind"] == "snn" and not r.get("clean")) or \
                    r.get("clean_no_noise") is None:
                continue
            st = _style(r, cycle)
            kw = dict(color=st["color"], marker=st["marker"], ms=st["ms"], ls="none")
            if r["kind"] == "ann":
                h, = ax.plot(r["clean_no_noise"], att["acc"], **kw)
            else:
                h, = ax.plot(r["clean"]["acc"], att["acc"], **kw)
                ax.plot(r["clean"]["base_noisy"], att["base_noisy"], mfc="none", **kw)
            handles.setdefault(_model_label(r), h)
        ax.set_title(a.label, fontsize=9)
        ax.set_xlabel("clean accuracy", fontsize=8)
        ax.set_ylabel("accuracy under attack", fontsize=8)
        ax.set_ylim(-0.02, 1.0)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(attacks):]:
        ax.axis("off")
    ncol = min(len(handles), 4)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.035 * math.ceil(len(handles) / ncol) + 0.02, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def certified_plot(results: Sequence[dict], path: str | os.PathLike) -> None:
    """PNG: certified accuracy against L2 radius, one step curve per model with certificates
    (colour: sigma; line: family, as in the trade-off plot)."""
    from .model import Certificate
    from .plot import certified_accuracy_plot
    data, styles = {}, {}
    certified = [r for r in results if r["kind"] in ("snn", "rs-ann") and r.get("certified")]
    if not certified:
        raise ValueError("no certified results to plot")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in certified:
        c = r["certified"]
        certs = [Certificate(p, p, 0, c["n"], 0.0, rad) for p, rad in zip(c["predict"], c["radius"])]
        name = (f"{_model_label(r)}: sigma {r['sigma']:g}, scale {r['sigma_eff']:g} "
                f"({c['count']} images, n={c['n']:,})")
        data[name] = (certs, c["labels"])
        st = _style(r, cycle)
        styles[name] = dict(color=st["color"], ls=st["ls"], lw=st["lw"], alpha=st["alpha"])
    top = max(_rmax(r, r["certified"]["n"]) for r in certified) * 1.05
    certified_accuracy_plot(data, path, max_radius=top, styles=styles,
                            title="Certified accuracy (CERTIFY; SNNs through rsc, smoothed ANNs "
                                  "in torch)")


# ---- command -----------------------------------------------------------------------------------

def _rel(p) -> str:
    try:
        return os.path.relpath(p, REPO)
    except ValueError:
        return str(p)


def _document(results, attacks, args, plots: dict, started: str, wall: float) -> str:
    snns = [r for r in results if r["kind"] == "snn"]
    lines = [
        "# The robustness-accuracy trade-off of the shipped models",
        "",
        "Generated by `python3 -m rsc.eval` (`bindings/python/rsc/eval.py`) from "
        f"`{_rel(args.json)}`; the text after the discussion marker at the end is written by hand "
        "and kept when the page is regenerated. Models (model card `models/README.md`; each row "
        "is named by its file): the SNNs "
        + ", ".join(f"`{_rel(r['path'])}`" for r in snns)
        + " (each with its PyTorch twin, the `.pt` beside it)"
        + "".join(f", the ANN baseline `{_rel(r['path'])}` (the conv net's layers with ReLU, "
                  "no noise)" for r in results if r["kind"] == "ann")
        + (", the randomized-smoothing ANNs " + ", ".join(
            f"`{_rel(r['path'])}`" for r in results if r["kind"] == "rs-ann")
           + " (the same ANN trained on x + sigma * eps, Cohen et al.'s recipe, certified in "
             "PyTorch by `rsc.smoothed_ann` with rsc's statistics)"
           if any(r["kind"] == "rs-ann" for r in results) else "")
        + ". Images: the first "
        f"{results[0]['count'] if results else 0} of the shipped Fashion-MNIST test subset "
        "(`models/data/`).",
        "",
        "## Settings",
        "",
        f"- **Through rsc** (`librsc.so`, Python binding): base SNN without noise "
        f"(`rsc_forward`, u_t = x); PREDICT n = {args.predict_n}, alpha = {args.alpha:g}, "
        f"noise seed {args.seed}, image i on stream i (the same noise for clean and attacked "
        "images); \"base, under noise\" is the fraction of PREDICT's n noise passes whose class "
        "is correct. Abstentions count as errors.",
        f"- **Certified accuracy**: CERTIFY (n0 = 100, alpha = 0.001) from `rsc.results`' "
        "per-image TSVs in `docs/results/` (the images certified so far: the column \"cert. "
        "images\"); radius in L2, pixel space. † marks radii above the largest certifiable with "
        "that n (0% by construction).",
        "- **Codings** (column \"coding\"): `gaussian` draws x + sigma * eps fresh at each of "
        "the T steps (RSC; radius scale sigma / sqrt(T)), `gaussian-shared` one draw for all T "
        "steps (radius scale sigma), `poisson` spikes 1[U_t < x] fresh at each step, `direct` x "
        "at every step (no noise: PREDICT's votes are all one class). \"teacher\": trained with "
        "`rsc.train --teacher` (logit distillation from that ANN). Only the gaussian codings "
        "have a certified radius. The smoothed ANNs' \"base, under noise\" is the fraction of "
        "single noisy passes (8 per image, torch) that are correct.",
        f"- **Attacks** on the PyTorch twin (float32, the same int8-rounded weights as the "
        f".rscm), surrogate gradients (atan) through the spikes, EOT over {args.eot} draws of the "
        f"coding noise per gradient (each draw: T fresh inputs of the coding). Through Poisson "
        "coding the gradient is that of the spikes' expectation, d E[1[U < x]] / dx = 1 "
        "(straight through; the draw itself has none). FGSM: one step of size "
        f"eps. PGD: random start, {args.pgd_steps} steps of size {args.pgd_step_scale:g} * eps / "
        f"{args.pgd_steps}, projection onto the eps ball and [0, 1]. Attack seed {args.seed}. "
        "The ANN is attacked the same way (its EOT is a single pass: it has no noise).",
        "",
        "## Results",
        "",
        markdown(results, attacks, args.radii),
    ]
    if plots.get("tradeoff"):
        lines += ["### Trade-off: clean accuracy against accuracy under attack", "",
                  f"![trade-off]({_rel_to(plots['tradeoff'], Path(args.md).parent)})", "",
                  "Filled markers: the smoothed SNN (PREDICT through rsc); hollow: the base SNN "
                  "under its noise (through rsc); black square: the ANN (torch). Colour: the "
                  "training sigma (blue 0.12, orange 0.25, green 0.50; purple Poisson, brown "
                  "direct coding); marker: the family (circle conv net, diamond residual net, star "
                  "distilled, plus one noise draw per pass, triangles Poisson and direct).", ""]
    if plots.get("certified"):
        lines += ["### Certified accuracy against radius", "",
                  f"![certified accuracy]({_rel_to(plots['certified'], Path(args.md).parent)})", "",
                  "Colour: sigma, as above; line: solid conv net, dashed residual net, dotted "
                  "distilled, dash-dot one noise draw per pass, wide and light the smoothed ANN. "
                  "\"scale\" is the certificate's noise scale (sigma / sqrt(T) for noise at each "
                  "of T steps, sigma for one draw per pass): the largest certifiable radius at n is "
                  "3.81 times it at n = 100,000 (docs/results.md).", ""]
    times, certify_cmds = [], []
    for r in results:
        if r["kind"] == "rs-ann":  # not attacked; certified by rsc.smoothed_ann (the command below)
            c = r.get("certified")
            if c and c.get("source") != "computed":
                stem = Path(r["path"]).stem
                certify_cmds.append(
                    f"python3 -m rsc.smoothed_ann ../../models/{stem}.pt --count {c['count']} "
                    f"--n {c['n']} --compile --out ../../docs/results/{stem}_certify_n{c['n']}.tsv")
            continue
        secs = sum(a.get("attack_seconds", 0.0) for a in r.get("attacks", {}).values())
        pred = sum(a.get("seconds", 0.0) for a in r.get("attacks", {}).values())
        times.append(f"{_model_label(r)}: attacks {secs / 60:.1f} min"
                     + (f", rsc evaluation of the attacked images {pred / 60:.1f} min"
                        if r["kind"] == "snn" else ""))
    lines += [
        "## What was run",
        "",
        f"Regenerated {started} (this invocation: {wall / 60:.1f} min wall; parts found in the "
        "JSON were not recomputed). Time spent per model (one torch thread, one rsc thread, "
        f"on {cpu_name()} with {os.cpu_count()} logical CPUs shared with other jobs): "
        + "; ".join(times) + ".",
        "",
        "The models' training commands are in `models/README.md`; the SNNs' certified columns "
        "come from `rsc.results` (`docs/results.md`, \"What was run\"), the smoothed ANNs' from "
        "`rsc.smoothed_ann` (resumable, the counts of the table):",
        "",
        "```sh",
        "export RSC_LIBRARY=$PWD/.build/release/librsc.so      # swift build -c release",
        "cd bindings/python",
        "python3 -m rsc.train --ann --epochs 8 --seed 0 --threads 1 --checkpoint ../../models/fmnist_ann.pt",
        *certify_cmds,
        " ".join(["python3 -m rsc.eval"] + [a for a in args.cmdline
                                             if a not in ("--fresh", "--cached-only")]),
        "```",
        "",
    ]
    return "\n".join(lines)


def _rel_to(p, base: Path) -> str:
    return os.path.relpath(Path(p).resolve(), base.resolve())


def _model_cache(store: dict, path, *more, log=lambda s: None) -> dict:
    """The cached parts of the model at `path` (a key of `store`), started afresh when its file,
    or one of `more` (its twin), is not the one they were computed from (a retrained model
    under the same name)."""
    import hashlib
    h = hashlib.sha256()
    for f in (path, *more):
        if Path(f).exists():
            h.update(Path(f).read_bytes())
    key = _rel(Path(path).resolve())
    cache = store.setdefault(key, {})
    if cache.get("sha256") != h.hexdigest():
        if cache:
            log(f"{key}: the file changed since its cached results: computing them again")
        cache.clear()
        cache["sha256"] = h.hexdigest()
    return cache


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rsc.eval", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", nargs="*", default=[str(m) for m in DEFAULT_SNNS],
                   help=".rscm files; each one's PyTorch twin is the .pt next to it")
    p.add_argument("--ann", default=str(DEFAULT_ANN), help="ANN checkpoint ('' to skip)")
    p.add_argument("--rs-anns", nargs="*", default=[str(m) for m in DEFAULT_RS_ANNS],
                   help="randomized-smoothing ANN checkpoints (rsc.train --ann --sigma S): "
                        "certified accuracy from rsc.smoothed_ann's TSVs in --results-dir")
    p.add_argument("--images", default=str(DEFAULT_IMAGES))
    p.add_argument("--labels", default=str(DEFAULT_LABELS))
    p.add_argument("--count", type=int, default=500, help="the first N test images")
    p.add_argument("--linf-eps", type=float, nargs="*", default=[0.1])
    p.add_argument("--l2-eps", type=float, nargs="*", default=[1.0])
    p.add_argument("--attacks", nargs="*", default=["fgsm", "pgd"], choices=["fgsm", "pgd"])
    p.add_argument("--pgd-steps", type=int, default=10)
    p.add_argument("--pgd-step-scale", type=float, default=2.5,
                   help="PGD step size = scale * eps / steps")
    p.add_argument("--eot", type=int, default=8, help="noise draws per gradient (EOT)")
    p.add_argument("--predict-n", type=int, default=1000)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--radii", type=float, nargs="*", default=list(DEFAULT_RADII))
    p.add_argument("--results-dir", default=str(REPO / "docs" / "results"),
                   help="rsc.results' TSVs (read only)")
    p.add_argument("--certify-n", type=int, default=0,
                   help="CERTIFY n for models without a TSV (0: no certification)")
    p.add_argument("--certify-count", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch and rsc threads")
    p.add_argument("--batch", type=int, default=50, help="images per attack batch")
    p.add_argument("--json", default="", help="results cache (default: next to --md, .json)")
    p.add_argument("--md", default="", help="write the Markdown page here")
    p.add_argument("--plot-dir", default="", help="PNG plots here (default: --md's folder)")
    p.add_argument("--fresh", action="store_true", help="ignore the JSON cache")
    p.add_argument("--cached-only", action="store_true",
                   help="compute nothing: rebuild the page and plots from the JSON (parts not "
                        "there are reported as not run)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    require(p, [(args.count >= 1, f"--count must be >= 1, got {args.count}"),
                (args.certify_count >= 0,
                 f"--certify-count must be >= 0, got {args.certify_count}"),
                (args.certify_n >= 0, f"--certify-n must be >= 0 (0: none), got {args.certify_n}"),
                *[(e > 0, f"attack budgets must be > 0, got {e}")
                  for e in args.linf_eps + args.l2_eps],
                (args.pgd_steps >= 1, f"--pgd-steps must be >= 1, got {args.pgd_steps}"),
                (args.pgd_step_scale > 0, "--pgd-step-scale must be > 0"),
                (args.eot >= 1, f"--eot must be >= 1, got {args.eot}"),
                (args.batch >= 1, f"--batch must be >= 1, got {args.batch}"),
                *smoothing(args, "predict_n"),
                *files(args.images, args.labels, args.ann, *args.models, *args.rs_anns)])
    args.cmdline = list(argv if argv is not None else sys.argv[1:])
    if not args.json:
        args.json = str(Path(args.md).with_suffix(".json")) if args.md else "rsc_eval.json"
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, flush=True)

    x = np.load(args.images).astype(np.float32)[:args.count]
    y = np.load(args.labels).astype(np.int64)[:args.count]
    attacks = parse_attacks(args.linf_eps, args.l2_eps, args.attacks, args.pgd_steps,
                            args.pgd_step_scale)
    if attacks:
        import torch
        torch.set_num_threads(args.threads)
    jpath = Path(args.json)
    store = {} if args.fresh or not jpath.exists() else json.loads(jpath.read_text())

    def save():
        jpath.parent.mkdir(parents=True, exist_ok=True)
        tmp = jpath.with_suffix(".tmp")
        tmp.write_text(json.dumps(store, indent=1))
        os.replace(tmp, jpath)

    results = []
    compute = not args.cached_only
    if args.ann:  # first: it is cheap
        cache = _model_cache(store, args.ann, log=log)
        ann = evaluate_ann(args.ann, x, y, attacks, seed=args.seed, batch=args.batch,
                           cache=cache, save=save, log=log, compute=compute)
    for mpath in args.models:
        cache = _model_cache(store, mpath, Path(mpath).with_suffix(".pt"), log=log)
        results.append(evaluate_snn(mpath, x, y, attacks, predict_n=args.predict_n,
                                    alpha=args.alpha, seed=args.seed, eot=args.eot,
                                    radii=args.radii, results_dir=args.results_dir,
                                    certify_n=args.certify_n, certify_count=args.certify_count,
                                    threads=args.threads, batch=args.batch, cache=cache,
                                    save=save, log=log, compute=compute))
    for cpath in args.rs_anns:
        cache = _model_cache(store, cpath, log=log)
        results.append(evaluate_rs_ann(cpath, x, y, radii=args.radii, results_dir=args.results_dir,
                                       certify_n=args.certify_n,
                                       certify_count=args.certify_count, seed=args.seed,
                                       cache=cache, save=save, log=log, compute=compute))
    if args.ann:
        results.append(ann)
    save()
    table = markdown(results, attacks, args.radii)
    if not args.md:
        print(table)
        return 0
    md = Path(args.md)
    plot_dir = Path(args.plot_dir) if args.plot_dir else md.parent / (md.stem)
    plot_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    try:
        if _attacked(results, attacks):
            plots["tradeoff"] = plot_dir / "tradeoff.png"
            tradeoff_plot(results, attacks, plots["tradeoff"])
        if any(r.get("certified") for r in results):
            plots["certified"] = plot_dir / "certified_accuracy.png"
            certified_plot(results, plots["certified"])
    except ImportError:
        log("matplotlib not installed (extra `plot`): no plots")
        plots = {}
    discussion = ""
    if md.exists():
        old = md.read_text()
        if DISCUSSION_MARKER in old:
            discussion = old[old.index(DISCUSSION_MARKER):]
    text = _document(results, attacks, args, plots, started, time.perf_counter() - t_start)
    md.write_text(text + ("\n" + discussion if discussion else "\n" + DISCUSSION_MARKER + "\n"))
    log(f"wrote {md}" + "".join(f", {v}" for v in plots.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
