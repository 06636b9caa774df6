#!/usr/bin/env python3
"""Train and write the small Fashion-MNIST demo SNN in models/demo/ (numpy only).

    python3 scripts/make_demo_model.py [--data DIR] [--train N] [--out DIR]

Needs the Fashion-MNIST idx files (train/t10k images and labels, .gz) in DIR, by default
/usr/share/datasets/fashion-mnist as installed by the Debian/Ubuntu package
`dataset-fashion-mnist` (`apt-get install dataset-fashion-mnist`). It installs nothing itself.

Writes models/demo/fmnist_demo.rscm, models/demo/test_images.npy (the first 20 test images,
float32 (20, 1, 28, 28) in [0, 1]) and models/demo/test_labels.npy (int64 (20,)), and prints
the accuracy of the written (int8) model through the float64 reference on the first 1000 test
images, with and without the RSC noise, and the LIF layer's firing rate.

The network is an extreme-learning-machine style SNN, a stand-in until properly trained
(surrogate gradient) models exist:

    conv2d(1 -> 16, 5x5, stride 2, pad 2, fixed hand-designed filters) -> LIF (tau 2, hard reset)
    -> avgpool2d(2) -> flatten (16*7*7 = 784) -> linear(784 -> 10)  (the logits, no neuron)

with gaussian coding, sigma = 0.25 (in [0, 1] pixel space), T = 4. The filters are fixed
(oriented edges, bars, center-surround, blurred intensity); each channel's bias is set by
bisection so that the channel fires on a target fraction of its (neuron, step) slots on noisy
training images. Only the readout is trained: ridge regression on the T-averaged spike features
that `rsc.reference` computes for noisy training inputs (one fresh noise draw per image), i.e.
exactly the features the last layer sees, since its logits are W * mean_t(a_t) + b.

Deterministic: fixed seeds; the same numpy build gives the same bytes (a different BLAS may
change the last bits of the ridge solution and so, rarely, a weight or a scale).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bindings" / "python"))

from rsc import format as rf  # noqa: E402
from rsc import models as rm  # noqa: E402
from rsc import reference as ref  # noqa: E402

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = ROOT / "models" / "demo"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]

NAME = "fmnist-demo"
SEED = 20240601
TIME_STEPS = 4
SIGMA = 0.25
CODING = "gaussian"
TAU, V_THRESHOLD, V_RESET = 2.0, 1.0, 0.0
GAIN = 8.0  # filters have unit L1 mass per sign; currents are GAIN * (filter (*) image)
TARGET_RATE = 0.2  # firing rate of the feature channels
INTENSITY_RATES = (0.15, 0.5)  # the two blurred-intensity channels: a dim and a bright level
N_TRAIN = 20000
N_CALIB = 512
RIDGE = 1.0
N_EVAL = 1000
N_COMMIT = 20


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip-compressed) as a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path}: not an idx file of unsigned bytes")
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load_fashion_mnist(data_dir: Path) -> dict[str, np.ndarray]:
    missing = [name for name in FILES.values() if not (data_dir / name).is_file()]
    if missing:
        sys.exit(f"error: Fashion-MNIST not found in {data_dir} (missing {', '.join(missing)}).\n"
                 "Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; "
                 "it puts the files in /usr/share/datasets/fashion-mnist), or download the four "
                 "idx .gz files from https://github.com/zalandoresearch/fashion-mnist and pass "
                 "--data DIR.")
    d = {k: read_idx(data_dir / v) for k, v in FILES.items()}
    for k in ("train_images", "test_images"):
        d[k] = (d[k].astype(np.float32) / np.float32(255.0))[:, None]  # (N, 1, 28, 28)
    for k in ("train_labels", "test_labels"):
        d[k] = d[k].astype(np.int64)
    return d


# ---------------------------------------------------------------------------------------------
# The spiking feature layer
# ---------------------------------------------------------------------------------------------

def filter_bank(k: int = 5) -> np.ndarray:
    """16 fixed 5x5 filters (16, 1, 5, 5): 8 oriented edges (4 orientations x 2 polarities),
    4 oriented bars, center-surround ON and OFF, and 2 copies of a blurred intensity filter
    (given different biases: a dim and a bright level). Zero-mean filters have L1 mass 2
    (1 per sign), the intensity filter sums to 1."""
    r = np.arange(k) - (k - 1) / 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    env = np.exp(-(xx ** 2 + yy ** 2) / (2 * 1.2 ** 2))

    def gauss(s):
        g = np.exp(-(xx ** 2 + yy ** 2) / (2 * s * s))
        return g / g.sum()

    def unit(f):
        f = f - f.mean()
        return f / (np.abs(f).sum() / 2)

    filters = []
    for th in np.arange(4) * np.pi / 4:  # odd (edge) filters, both polarities
        edge = unit((xx * np.cos(th) + yy * np.sin(th)) * env)
        filters += [edge, -edge]
    cs = unit(gauss(0.8) - gauss(2.0))
    filters += [cs, -cs]
    for th in (0.0, np.pi / 2, np.pi / 4, 3 * np.pi / 4):  # even (bar) filters
        d = xx * np.cos(th) + yy * np.sin(th)
        filters.append(unit(np.cos(np.pi * d / 2.5) * env))
    box = gauss(1.5)
    filters += [box, box]
    return np.array(filters)[:, None]


def target_rates() -> np.ndarray:
    t = np.full(16, TARGET_RATE)
    t[-2:] = INTENSITY_RATES
    return t


def calibrate_biases(layer: rf.Layer, u: np.ndarray, targets: np.ndarray,
                     iters: int = 40) -> np.ndarray:
    """Per channel, bisect the bias so the channel fires on `targets[c]` of its (pass, step,
    position) slots for the layer inputs u (B, T, C, H, W); sets layer.bias (float32) and
    returns the rates it gives. Uses the reference's own neuron step (via rsc.models)."""
    currents = rm._currents(layer, u)
    span = (layer.tau + 1.0) * abs(layer.v_threshold - layer.v_reset) + \
        float(np.abs(currents).max()) + 1.0
    lo = np.full(layer.out_shape[0], -span)
    hi = np.full(layer.out_shape[0], span)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        layer.bias = mid.astype(np.float32)
        low = rm._channel_stats(layer, currents)[0] < targets
        lo = np.where(low, mid, lo)
        hi = np.where(low, hi, mid)
    layer.bias = (0.5 * (lo + hi)).astype(np.float32)
    return rm._channel_stats(layer, currents)[0]


def noisy(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One pass's inputs per image, as the gaussian coding makes them: (B, T, 1, 28, 28)."""
    x = x.astype(np.float64)[:, None]
    return x + SIGMA * rng.standard_normal((x.shape[0], TIME_STEPS) + x.shape[2:])


def spike_features(layers: list[rf.Layer], x: np.ndarray, rng: np.random.Generator,
                   chunk: int = 1000) -> np.ndarray:
    """The T-averaged output of `layers` (conv+LIF, pool, flatten) on one noisy pass per image,
    (B, 784): the reference forward pass up to the readout."""
    return np.concatenate([ref._run(layers, noisy(x[i:i + chunk], rng))
                           for i in range(0, len(x), chunk)])


def ridge(features: np.ndarray, labels: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression onto +-1 one-hot targets with an unpenalized bias: (W (10, n), b)."""
    a = np.hstack([features, np.ones((len(features), 1))])
    y = 2.0 * np.eye(10)[labels] - 1.0
    m = a.T @ a + lam * np.eye(a.shape[1])
    m[-1, -1] -= lam
    wb = np.linalg.solve(m, a.T @ y)
    return wb[:-1].T, wb[-1]


# ---------------------------------------------------------------------------------------------
# Evaluation through the reference
# ---------------------------------------------------------------------------------------------

def evaluate(model: rf.Model, x: np.ndarray, y: np.ndarray, seed: int,
             chunk: int = 250) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    right_noisy = right_clean = 0
    spikes = 0.0
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk].astype(np.float64)
        u = noisy(xb, rng)
        right_noisy += int((ref.predict_batch(model, u) == y[i:i + chunk]).sum())
        spikes += ref.firing_rates(model, u)[0] * len(xb)
        clean = np.broadcast_to(xb[:, None], u.shape)  # u_t = x: the network without noise
        right_clean += int((ref.predict_batch(model, clean) == y[i:i + chunk]).sum())
    return {"noisy": right_noisy / len(x), "clean": right_clean / len(x),
            "rate": spikes / len(x)}


def build(data: dict[str, np.ndarray], n_train: int, log=print) -> tuple[rf.Model, dict]:
    rng = np.random.default_rng(SEED)
    xtr, ytr = data["train_images"], data["train_labels"]
    conv = rf.conv2d((1, 28, 28), GAIN * filter_bank(), None, stride=2, padding=2,
                     neuron="lif", tau=TAU, v_threshold=V_THRESHOLD, v_reset=V_RESET,
                     reset="hard")
    pool = rf.avgpool2d(conv.out_shape, 2)
    flat = rf.flatten(pool.out_shape)
    # Biases on the quantized filters (rf.conv2d already rounded them to int8).
    order = rng.permutation(len(xtr))
    calib_idx, train_idx = order[:N_CALIB], order[N_CALIB:N_CALIB + n_train]
    rates = calibrate_biases(conv, noisy(xtr[calib_idx], rng), target_rates())
    log(f"calibrated LIF rates per channel: {np.array2string(rates, precision=3)}")
    t0 = time.time()
    feats = spike_features([conv, pool, flat], xtr[train_idx], rng)
    w, b = ridge(feats, ytr[train_idx], RIDGE)
    train_acc = float((np.argmax(feats @ w.T + b, axis=1) == ytr[train_idx]).mean())
    log(f"readout: ridge (lambda {RIDGE}) on {len(train_idx)} noisy training images, "
        f"{time.time() - t0:.1f} s, train accuracy (float readout) {train_acc:.4f}")
    model = rf.build_model((1, 28, 28), [conv, pool, flat, ("linear", w, b)],
                           time_steps=TIME_STEPS, coding=CODING, sigma=SIGMA,
                           name=NAME, class_names=CLASS_NAMES)
    return model, {"train_acc": train_acc, "n_train": len(train_idx)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help=f"directory of the Fashion-MNIST idx .gz files (default {DEFAULT_DATA})")
    ap.add_argument("--train", type=int, default=N_TRAIN,
                    help=f"training images for the readout (default {N_TRAIN})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="output directory (default models/demo)")
    args = ap.parse_args(argv)

    t0 = time.time()
    data = load_fashion_mnist(args.data)
    model, _ = build(data, args.train)
    train_s = time.time() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fmnist_demo.rscm"
    rf.write_model(model, path)
    same = rf.read_model(path)
    assert same == model
    images = np.ascontiguousarray(data["test_images"][:N_COMMIT], dtype=np.float32)
    labels = np.ascontiguousarray(data["test_labels"][:N_COMMIT], dtype=np.int64)
    np.save(args.out / "test_images.npy", images)
    np.save(args.out / "test_labels.npy", labels)

    n = min(N_EVAL, len(data["test_images"]))
    res = evaluate(same, data["test_images"][:n], data["test_labels"][:n], SEED + 1)
    print(f"wrote {path} ({path.stat().st_size} bytes), {images.shape[0]} test images and labels")
    print(f"training (data load, calibration, features, ridge): {train_s:.1f} s")
    print(f"first {n} test images, int8 model through the reference:")
    print(f"  noisy accuracy (base SNN, one gaussian pass, sigma {SIGMA}, T {TIME_STEPS}): "
          f"{res['noisy']:.4f}")
    print(f"  clean accuracy (u_t = x, no noise):                              "
          f"{res['clean']:.4f}")
    print(f"  LIF firing rate (noisy passes): {res['rate']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
