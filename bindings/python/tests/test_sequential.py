"""Sequential certification (rsc_certify_sequential, docs/sequential.md): validity on the analytic
linear model, a naive rule the same check rejects, determinism, agreement with CERTIFY."""
import math

import numpy as np
import pytest
from scipy.stats import binom, norm

import rsc
from rsc import models


def linear_model(write, sigma=0.5, seed=0, d=20):
    """Two classes, one linear layer, T = 1: P(f(x + noise) = 1) = Phi(margin / (sigma ||dw||))
    and the smoothed classifier's exact L2 radius is margin / ||dw|| (negative: class 0's)."""
    rng = np.random.default_rng(seed)
    spec = models.linear_classifier(rng.normal(size=(2, d)), rng.normal(size=2) * 0.1, time_steps=1,
                                    coding="gaussian", sigma=sigma)
    layer = spec.layers[-1]
    w = layer.weight.astype(np.float64) * layer.scale.astype(np.float64)[:, None]  # what rsc runs
    b = layer.bias.astype(np.float64)
    dw, db = w[1] - w[0], b[1] - b[0]
    model = rsc.load(write(spec))
    x0 = rng.random(d)

    def place(radius):
        """An input at signed distance `radius` from the boundary, and its exact radius."""
        x = x0 + ((radius - (dw @ x0 + db) / np.linalg.norm(dw)) / np.linalg.norm(dw)) * dw
        x = x.astype(np.float32)
        return x, (dw @ x.astype(np.float64) + db) / np.linalg.norm(dw)
    return model, place


ALPHA = 0.01
N_MAX = 10_000
RADII = (0.0, 0.25, 0.5)
RUNS = 2100


def wrong_certificates(model, place, alpha, sigma_eff=0.5):
    """RUNS runs, each with the true pA just below one of the thresholds Phi(r / sigma_eff) of
    RADII (uniformly within one standard deviation of a count at N_MAX), so that certifying that
    radius is wrong and whether and when each run stops varies widely. Returns the wrong
    certificates (a certified radius above the true radius of the certified class), the passes
    used and the lower bounds against the true pA of the selected class."""
    wrong, passes, bounds = 0, [], []
    for i in range(RUNS):
        k = i % len(RADII)
        pk = norm.cdf(RADII[k] / sigma_eff)
        sd = math.sqrt(pk * (1 - pk) / N_MAX)
        p_true = pk - (i * 0.618034 % 1) * sd          # spread deterministically over [0, sd)
        x, true_radius = place(sigma_eff * norm.ppf(p_true))
        c = model.certify(x, n0=100, n=N_MAX, alpha=alpha, seed=11, stream=i, radii=RADII,
                          threads=1)
        passes.append(c.passes)
        own = true_radius if c.selected == 1 else -true_radius  # the selected class's radius
        if c.label >= 0 and c.radius > own:
            wrong += 1
        p_sel = norm.cdf(own / sigma_eff)
        bounds.append((c.pa_lower, p_sel))
    return wrong, np.array(passes), bounds


def allowed(alpha):
    """The most wrong certificates in RUNS runs consistent with a rate <= alpha (one-sided binomial
    test at level 0.001)."""
    return int(binom.ppf(0.999, RUNS, alpha))


def test_analytic_model_p_true_is_exact(write):
    """The analytic pA the validity test relies on is the library's: a long PREDICT agrees."""
    model, place = linear_model(write)
    for r in (0.0, 0.25):
        x, true_radius = place(r)
        p = norm.cdf(true_radius / 0.5)
        n = 400_000
        counts = model.predict(x, n=n, seed=5).counts
        assert abs(counts[1] / n - p) <= 5 * math.sqrt(p * (1 - p) / n), (r, counts[1] / n, p)


def test_validity_near_thresholds(write):
    """At alpha = 0.01 over 2,100 runs, the rate of certifying a radius the smoothed classifier does
    not have is <= alpha within a binomial margin, whatever the stopping times."""
    model, place = linear_model(write)
    wrong, passes, bounds = wrong_certificates(model, place, ALPHA)
    print(f"sequential: {wrong} wrong of {RUNS} (allowed {allowed(ALPHA)}); passes "
          f"10/50/90%: {np.percentile(passes, [10, 50, 90])}")
    assert wrong <= allowed(ALPHA)
    # Stopping times vary widely, each at a look of the schedule.
    looks = {n for n, _ in rsc.sequential_schedule(N_MAX, ALPHA)}
    assert set(passes) <= looks
    assert passes.min() <= 1000 and passes.max() == N_MAX and len(set(passes)) >= 8
    # The lower bound at stopping is a valid bound as well.
    assert sum(lo > p for lo, p in bounds) <= allowed(ALPHA)


def test_naive_rule_fails_the_same_check(write):
    """The naive rule, "stop when the fixed-n bound clears" (each look tested at level alpha, no
    correction for looking J times: the library's own schedule at alpha' = J * alpha, so each of
    its J looks is at alpha), certifies wrong radii far more often than alpha: the check above
    can tell."""
    model, place = linear_model(write)
    J = len(rsc.sequential_schedule(N_MAX, ALPHA))
    assert [a for _, a in rsc.sequential_schedule(N_MAX, J * ALPHA)] == pytest.approx([ALPHA] * J)
    wrong, _, _ = wrong_certificates(model, place, J * ALPHA)
    print(f"naive: {wrong} wrong of {RUNS} (allowed {allowed(ALPHA)})")
    assert wrong > allowed(ALPHA)


def test_agrees_with_fixed_n_certify_on_clear_cases(write):
    """Far from every threshold, sequential certification certifies exactly the requested radii
    below CERTIFY's radius, with far fewer passes; with n_max <= 64 (one look at level alpha) it
    is CERTIFY itself on the same passes."""
    model, place = linear_model(write)
    radii = [0.0, 0.1, 0.3, 0.6, 5.0]
    for r in (-0.5, 0.2, 0.45, 1.2):
        x, true_radius = place(r)
        fixed = model.certify(x, n0=100, n=100_000, alpha=0.001, seed=2, stream=3)
        seq = model.certify(x, n0=100, n=100_000, alpha=0.001, seed=2, stream=3, radii=radii)
        assert isinstance(seq, rsc.SequentialCertificate) and seq.n_max == 100_000
        assert seq.selected == fixed.selected
        assert seq.label == fixed.label
        want = [v for v in radii if v <= fixed.radius] if fixed.label >= 0 else []
        assert seq.num_certified == len(want) and seq.radius == (max(want) if want else 0.0)
        assert seq.passes < 20_000, (r, seq)
        assert seq.pa_lower <= norm.cdf(abs(true_radius) / 0.5)
    x, _ = place(0.3)
    for n in (10, 64):
        fixed = model.certify(x, n0=50, n=n, alpha=0.01, seed=4, stream=8)
        seq = model.certify(x, n0=50, n=n, alpha=0.01, seed=4, stream=8, radii=[0.1])
        assert (seq.label, seq.selected, seq.count_selected, seq.passes, seq.pa_lower) == \
            (fixed.label, fixed.selected, fixed.count_selected, n, fixed.pa_lower)


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory):
    from rsc import format as rf
    path = tmp_path_factory.mktemp("m") / "conv.rscm"
    rf.write_model(models.random_conv_snn(seed=5), path)
    return rsc.load(path)


def test_same_result_for_any_thread_count_and_split(conv_model, tmp_path):
    rng = np.random.default_rng(3)
    xs = rng.random((6, conv_model.info.input_len)).astype(np.float32)
    radii = [0.0, 0.05, 0.1, 0.2]
    kw = dict(n0=50, n=5000, alpha=0.01, seed=7, radii=radii)
    runs = [[conv_model.certify(x, stream=i, threads=t, **kw) for i, x in enumerate(xs)]
            for t in (1, 2, 3)]
    assert runs[0] == runs[1] == runs[2]
    whole = conv_model.certify_batch(xs, progress=False, threads=2, **kw)
    parts = (conv_model.certify_batch(xs[:4], progress=False, threads=1, **kw)
             + conv_model.certify_batch(xs[4:], first_stream=4, progress=False, threads=3, **kw))
    assert whole == parts == runs[0]
    for c in whole:
        assert c.passes in {n for n, _ in rsc.sequential_schedule(5000, 0.01)}
        assert c.radii == tuple(radii)


def test_batch_tsv_has_passes(conv_model, tmp_path):
    xs = np.random.default_rng(4).random((3, conv_model.info.input_len)).astype(np.float32)
    tsv = tmp_path / "seq.tsv"
    certs = conv_model.certify_batch(xs, labels=[0, 1, 2], n0=20, n=2000, radii=[0, 0.1],
                                     progress=False, tsv=tsv)
    lines = tsv.read_text().splitlines()
    assert lines[0] == "idx\tlabel\tpredict\tradius\tcorrect\ttime\tpasses"
    for c, line in zip(certs, lines[1:]):
        cols = line.split("\t")
        assert int(cols[2]) == c.label and float(cols[3]) == pytest.approx(c.radius, abs=1e-4)
        assert int(cols[6]) == c.passes


def test_progress_and_cancellation(conv_model):
    x = np.zeros(conv_model.info.input_len)
    seen = []
    conv_model.certify(x, n0=100, n=20000, radii=[0.5], progress=lambda f: seen.append(f) or True)
    assert seen[0] == 0 and seen[-1] == pytest.approx(1) and seen == sorted(seen)
    with pytest.raises(rsc.errors.CancelledError, match="cancelled"):
        conv_model.certify(x, n0=100, n=20000, radii=[0.5], progress=lambda f: f < 0.001)


def test_argument_errors(conv_model):
    x = np.zeros(conv_model.info.input_len)
    for radii, match in [([-0.1], "radii\\[0\\]"), ([0.1, float("nan")], "radii\\[1\\]"),
                         ([float("inf")], "finite"), ([0.1] * 1025, "at most 1024")]:
        with pytest.raises(rsc.errors.InvalidArgumentError, match=match):
            conv_model.certify(x, n=100, radii=radii)
    with pytest.raises(rsc.errors.InvalidArgumentError, match="n_max"):
        conv_model.certify(x, n=0, radii=[0.1])
    with pytest.raises(rsc.errors.InvalidArgumentError, match="alpha"):
        conv_model.certify(x, n=100, alpha=1.0, radii=[0.1])
    with pytest.raises(TypeError):
        conv_model.certify(x, n=100, radii="0.1")
    # No radii: only the class (radius 0) is decided.
    c = conv_model.certify(x, n0=20, n=1000, radii=[])
    assert c.num_certified == 0 and c.radius == 0 and c.radii == ()


def test_schedule():
    s = rsc.sequential_schedule(100_000, 0.001)
    looks = [n for n, _ in s]
    assert looks[:4] == [64, 96, 144, 216] and looks[-1] == 100_000 and len(s) == 20
    assert sum(a for _, a in s) == pytest.approx(0.001) and len({a for _, a in s}) == 1
    assert rsc.sequential_schedule(64, 0.01) == [(64, 0.01)]
    assert rsc.sequential_schedule(65, 0.01) == [(64, 0.005), (65, 0.005)]
