"""rsc_predict / rsc_certify: determinism, stream keying, and the analytic certificate."""
import math

import numpy as np
import pytest
from scipy.stats import norm

import rsc
from rsc import models


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory):
    from rsc import format as rf
    path = tmp_path_factory.mktemp("m") / "conv.rscm"
    rf.write_model(models.random_conv_snn(seed=5), path)
    return rsc.load(path)


def test_same_seed_same_counts_for_any_thread_count(conv_model):
    x = np.random.default_rng(1).random(conv_model.info.input_len)
    runs = [conv_model.predict(x, n=3000, seed=9, threads=t) for t in (1, 2, 3, 1)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.counts, runs[0].counts)
        assert r == runs[0]
    assert runs[0].counts.sum() == 3000
    certs = [conv_model.certify(x, n0=50, n=2000, seed=9, threads=t) for t in (1, 2)]
    assert certs[0] == certs[1]


def test_seed_and_stream_key_the_noise(conv_model):
    x = np.random.default_rng(2).random(conv_model.info.input_len)
    base = conv_model.predict(x, n=2000, seed=1, stream=7).counts
    # Other calls in between do not matter: each (seed, stream) is its own noise.
    conv_model.predict(x, n=500, seed=1, stream=8)
    np.testing.assert_array_equal(conv_model.predict(x, n=2000, seed=1, stream=7).counts, base)
    assert not np.array_equal(conv_model.predict(x, n=2000, seed=1, stream=8).counts, base)
    assert not np.array_equal(conv_model.predict(x, n=2000, seed=2, stream=7).counts, base)


def test_progress_reports_and_cancels(conv_model):
    x = np.zeros(conv_model.info.input_len)
    seen = []
    conv_model.certify(x, n0=100, n=20000, progress=lambda f: seen.append(f) or True)
    assert seen[0] == 0 and seen[-1] == pytest.approx(1) and seen == sorted(seen) and len(seen) > 3
    with pytest.raises(rsc.errors.CancelledError, match="cancelled"):
        conv_model.certify(x, n0=100, n=20000, progress=lambda f: f < 0.5)


@pytest.mark.parametrize("coding", ["gaussian", "gaussian-shared"])
@pytest.mark.parametrize("T", [1, 8])
def test_analytic_linear_certificate(coding, T, write):
    """One linear layer, two classes: the logit difference is N(margin, (sigma_eff ||w||)^2), so
    P(f(x + noise) = 1) = Phi(margin / (sigma_eff ||w||)) and the distance to the decision boundary
    is margin / ||w||. The certificate must stay below both, and come close."""
    rng = np.random.default_rng(T)
    d, sigma = 20, 0.5
    spec = models.linear_classifier(rng.normal(size=(2, d)), rng.normal(size=2) * 0.1,
                                    time_steps=T, coding=coding, sigma=sigma)
    layer = spec.layers[-1]
    w = layer.weight.astype(np.float64) * layer.scale.astype(np.float64)[:, None]  # what rsc runs
    b = layer.bias.astype(np.float64)
    dw, db = w[1] - w[0], b[1] - b[0]
    sigma_eff = sigma / math.sqrt(T) if coding == "gaussian" else sigma
    model = rsc.load(write(spec))
    assert model.info.sigma_eff == pytest.approx(sigma_eff)
    for target in (0.8, 0.95, 0.995):
        # Place x at the distance from the boundary that gives P(class 1) = target.
        dist = sigma_eff * norm.ppf(target)
        x0 = rng.random(d)
        x = x0 + ((dist - (dw @ x0 + db) / np.linalg.norm(dw)) / np.linalg.norm(dw)) * dw
        x = x.astype(np.float32)
        margin = dw @ x.astype(np.float64) + db
        p_true = norm.cdf(margin / (sigma_eff * np.linalg.norm(dw)))
        true_radius = margin / np.linalg.norm(dw)
        cert = model.certify(x, n0=100, n=100_000, alpha=0.001, seed=T)
        assert cert.label == 1
        print(f"{coding} T={T}: p_true={p_true:.5f} pA={cert.pa_lower:.5f} "
              f"R={cert.radius:.5f} true={true_radius:.5f}")
        assert cert.pa_lower <= p_true
        assert cert.pa_lower >= p_true - 0.03 * p_true
        assert cert.radius <= true_radius
        assert cert.radius >= 0.85 * true_radius


def test_poisson_and_direct_coding_inside_predict(write):
    """The kernel's own coding, checked against exact probabilities. Class 1's logit is the mean
    over T of the spikes of input 0 (each Bernoulli(x0) under poisson coding), class 0's a
    constant 0.3: class 1 wins a pass iff input 0 spikes on at least half of T = 2 steps, i.e.
    with probability 1 - (1 - x0)^2. Direct coding feeds x itself: every pass is the same class.
    Input 1 only pads the model (its weights are zero)."""
    w = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([0.3, 0.0])
    for x0 in (0.0, 0.2, 0.5, 0.9, 1.0):
        x = np.array([x0, 0.7])
        p1 = 1 - (1 - x0) ** 2
        poisson = rsc.load(write(models.linear_classifier(w, b, time_steps=2, coding="poisson")))
        n = 20_000
        counts = poisson.predict(x, n=n, seed=4).counts
        assert counts.sum() == n
        # 5 standard deviations of a binomial count (exact at p = 0 or 1).
        assert abs(counts[1] - n * p1) <= 5 * math.sqrt(n * p1 * (1 - p1)) + 1e-9, (x0, counts)
        direct = rsc.load(write(models.linear_classifier(w, b, time_steps=2, coding="direct")))
        want = 1 if x0 > 0.3 else 0
        assert direct.predict(x, n=500, seed=4).counts[want] == 500
