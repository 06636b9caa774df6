"""The committed demo model (models/demo/, made by scripts/make_demo_model.py) is a valid .rscm
file with the documented header, and it is trained: the float64 reference classifies noisy
passes of the committed Fashion-MNIST test images mostly correctly (a random network would get
about 10%)."""

from pathlib import Path

import numpy as np
import pytest

from rsc import format as rf
from rsc import reference as ref

DEMO = Path(__file__).resolve().parents[3] / "models" / "demo"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
DRAWS = 8
# Measured when the model was made: 0.94 (150/160 passes, seed 0; 0.93-0.95 over seeds 0-5).
MIN_NOISY_ACCURACY = 0.80


@pytest.fixture(scope="module")
def model() -> rf.Model:
    return rf.read_model(DEMO / "fmnist_demo.rscm")  # checks magic, CRC-32 and every rule


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return np.load(DEMO / "test_images.npy"), np.load(DEMO / "test_labels.npy")


def test_header(model):
    assert model.name == "fmnist-demo"
    assert model.class_names == CLASS_NAMES
    assert model.input_shape == (1, 28, 28)
    assert model.num_classes == 10
    assert model.coding == "gaussian"
    assert model.sigma == float(np.float32(0.25))
    assert model.time_steps == 4


def test_layers(model):
    assert [l.kind for l in model.layers] == ["conv2d", "avgpool2d", "flatten", "linear"]
    conv, pool, flat, lin = model.layers
    assert conv.neuron == "lif" and conv.reset == "hard"
    assert (conv.tau, conv.v_threshold, conv.v_reset) == (2.0, 1.0, 0.0)
    assert conv.out_shape == (16, 14, 14) and conv.stride == (2, 2)
    assert pool.out_shape == (16, 7, 7)
    assert flat.out_shape == (784, 1, 1)
    assert lin.neuron is None and lin.out_shape == (10, 1, 1)
    assert lin.weight.shape == (10, 784) and np.count_nonzero(lin.weight) > 1000


def test_committed_images(data):
    x, y = data
    assert x.dtype == np.float32 and x.shape == (20, 1, 28, 28)
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5
    assert y.dtype == np.int64 and y.shape == (20,)
    assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) >= 5


def test_noisy_passes_are_mostly_correct(model, data):
    x, y = data
    rng = np.random.default_rng(0)
    u = np.concatenate([ref.encode_batch(model, xi, DRAWS, rng) for xi in x])
    pred = ref.predict_batch(model, u).reshape(len(x), DRAWS)
    accuracy = float((pred == y[:, None]).mean())
    assert accuracy >= MIN_NOISY_ACCURACY, f"noisy-pass accuracy {accuracy:.3f}"
    rate = ref.firing_rates(model, u)[0]
    assert 0.05 <= rate <= 0.5, f"LIF firing rate {rate:.3f}"
