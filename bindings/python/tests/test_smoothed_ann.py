"""rsc.smoothed_ann: Cohen et al.'s CERTIFY of an ANN in PyTorch with rsc's statistics
(Clopper-Pearson lower bound, lowest-index argmax, abstain below 1/2, radius sigma PhiInv)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from rsc import smoothed_ann as sa  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


# ---- Cohen et al.'s CERTIFY of the ANN ----------------------------------------------------------

@pytest.mark.parametrize("k,n,alpha", [(1, 1, 0.001), (5, 10, 0.001), (990, 1000, 0.001),
                                       (99990, 100000, 0.001), (50000, 100000, 0.05),
                                       (3, 100000, 0.001), (70, 100, 0.3), (100, 100, 0.001),
                                       (0, 10, 0.01)])
def test_clopper_pearson_against_scipy(k, n, alpha):
    stats = pytest.importorskip("scipy.stats", reason="scipy not installed")
    ref = stats.beta.ppf(alpha, k, n - k + 1) if k > 0 else 0.0
    assert sa.clopper_pearson_lower(k, n, alpha) == pytest.approx(ref, rel=1e-9, abs=1e-300)
    for a, b, x in ((2.5, 3.0, 0.4), (k + 1, n - k + 1, 0.7)):
        assert sa.betainc(a, b, x) == pytest.approx(stats.beta.cdf(x, a, b), rel=1e-9, abs=1e-300)


class _Const(torch.nn.Module):
    """Logits with class `c` always on top."""

    def __init__(self, c, k=10):
        super().__init__()
        self.c, self.k = c, k

    def forward(self, x):
        out = torch.zeros(len(x), self.k)
        out[:, self.c] = 1
        return out


class _Sign(torch.nn.Module):
    """Class 0 when the sum of the input is >= 0, else class 1: at x = 0 a fair coin."""

    def forward(self, x):
        s = x.flatten(1).sum(1, keepdim=True)
        return torch.cat([s, -s], 1)


def _tiny_ann():
    from rsc import nn as rnn
    torch.manual_seed(0)
    net = rnn.RSCNet(channels=(2, 4), hidden=8, time_steps=1, coding="direct", sigma=0.0,
                     neuron="relu")
    return net.eval()


def test_certificate_is_the_recomputation_from_its_votes():
    stats = pytest.importorskip("scipy.stats", reason="scipy not installed")
    net = _tiny_ann()
    x = np.load(REPO / "models" / "data" / "fmnist_test_1000_images.npy")[:3]
    certs = sa.certify_batch(net, x, 0.25, n0=20, n=200, alpha=0.001, seed=3, batch=64)
    for i, c in enumerate(certs):
        # The image's own stream (seed, i) gives the same votes again.
        g = sa._generator(3, i)
        c0 = sa.vote_counts(net, x[i], 0.25, 20, g, 64)
        c1 = sa.vote_counts(net, x[i], 0.25, 200, g, 64)
        assert np.array_equal(c0, c.counts0) and np.array_equal(c1, c.counts)
        assert c0.sum() == 20 and c1.sum() == 200
        sel = int(np.argmax(c0))
        na = int(c1[sel])
        pa = stats.beta.ppf(0.001, na, 200 - na + 1) if na else 0.0
        assert (c.selected, c.count_selected, c.n) == (sel, na, 200)
        assert c.pa_lower == pytest.approx(pa, rel=1e-9)
        if pa >= 0.5:
            assert c.label == sel and c.radius == pytest.approx(0.25 * stats.norm.ppf(pa), rel=1e-9)
        else:
            assert c.label == -1 and c.radius == 0
    # Deterministic per (seed, index).
    again = sa.certify(net, x[1], 0.25, n0=20, n=200, alpha=0.001, seed=3, batch=64, index=1)
    assert np.array_equal(again.counts, certs[1].counts)


def test_certify_abstains_and_ties_pick_the_lowest_class():
    x = np.zeros((1, 28, 28), np.float32)
    c = sa.certify(_Sign(), x, 0.5, n0=50, n=500, alpha=0.001, seed=0)
    assert c.abstained and c.label == -1 and c.radius == 0 and c.pa_lower < 0.5
    assert c.counts.sum() == 500 and 150 < c.counts[0] < 350
    tie = sa.certify_from_counts([5, 5, 0], [90, 10, 0], 1.0, 0.001)
    assert tie.selected == 0 and tie.label == 0
    # Selection by the n0 votes, not the estimation votes: cA = 1 with few votes -> abstain.
    c2 = sa.certify_from_counts([1, 9], [90, 10], 1.0, 0.001)
    assert c2.selected == 1 and c2.abstained


def test_radius_grows_with_n_and_uses_sigma():
    x = np.zeros((1, 28, 28), np.float32)
    radii = [sa.certify(_Const(3), x, 0.5, n0=10, n=n, alpha=0.001).radius
             for n in (10, 100, 1000, 10000)]
    assert all(r > 0 for r in radii) and radii == sorted(radii) and len(set(radii)) == 4
    # All n votes for cA: pA_lower = alpha^(1/n), radius sigma * PhiInv(pA_lower), not / sqrt(T).
    from statistics import NormalDist
    assert radii[1] == pytest.approx(0.5 * NormalDist().inv_cdf(0.001 ** (1 / 100)), rel=1e-12)
    c = sa.certify(_Const(3), x, 0.5, n0=10, n=5, alpha=0.001)
    assert c.abstained  # 0.001^(1/5) = 0.25 < 1/2
    with pytest.raises(ValueError):
        sa.certify(_Const(3), x, 0.0, n0=10, n=5)


def test_smoothed_ann_command(tmp_path, capsys):
    """python3 -m rsc.smoothed_ann on a checkpoint as rsc.train --ann --sigma writes it: the
    sigma comes from its train entry."""
    net = _tiny_ann()
    ck = tmp_path / "ann.pt"
    torch.save(dict(config=net.config, state_dict=net.state_dict(),
                    train=dict(ann=True, sigma=0.25)), ck)
    data = Path(__file__).resolve().parents[3] / "models" / "data"  # the checkout's (also when installed)
    assert sa.main([str(ck), "--images", str(data / "fmnist_test_1000_images.npy"),
                    "--labels", str(data / "fmnist_test_1000_labels.npy"),
                    "--count", "2", "--n0", "5", "--n", "20"]) == 0
    lines = capsys.readouterr().out.strip().split("\n")
    assert lines[0].startswith("idx\tlabel\tpredict\tradius") and len(lines) == 3
    # --compile (torch.compile) is the same classifier up to float32 evaluation order: on the
    # same noise the votes agree but for passes at a near-tie.
    args = [str(ck), "--images", str(data / "fmnist_test_1000_images.npy"),
            "--labels", str(data / "fmnist_test_1000_labels.npy"), "--count", "2", "--n0", "5",
            "--n", "200", "--batch", "100"]
    assert sa.main(args) == 0 and sa.main(args + ["--compile"]) == 0
    out = capsys.readouterr().out.strip().split("\n")
    plain, compiled = ([ln.split("\t") for ln in rows[1:]] for rows in (out[:3], out[3:]))
    for a, b in zip(plain, compiled):
        assert a[2] == b[2] and abs(int(a[7]) - int(b[7])) <= 2  # predict, count


def test_smoothed_ann_out_resumes(tmp_path, capsys):
    """The columns are rsc.results' CERTIFY TSV's (rsc.results and rsc.eval read it);
    --out appends and a rerun continues after the images written, with the same rows as one
    uninterrupted run; a cut-off last line is redone; another n is refused, not mixed in."""
    from rsc.results import CERT_COLS
    net = _tiny_ann()
    ck = tmp_path / "ann.pt"
    torch.save(dict(config=net.config, state_dict=net.state_dict(),
                    train=dict(ann=True, sigma=0.25)), ck)
    data = Path(__file__).resolve().parents[3] / "models" / "data"
    base = [str(ck), "--images", str(data / "fmnist_test_1000_images.npy"),
            "--labels", str(data / "fmnist_test_1000_labels.npy"), "--n0", "5", "--n", "20"]
    whole, part = tmp_path / "whole.tsv", tmp_path / "part.tsv"
    assert sa.main(base + ["--count", "4", "--out", str(whole)]) == 0
    assert sa.main(base + ["--count", "2", "--out", str(part)]) == 0
    with open(part, "a") as f:
        f.write("2\t0\t")  # an interrupted write
    assert sa.main(base + ["--count", "4", "--out", str(part)]) == 0
    assert capsys.readouterr().out == ""

    def rows(p):  # all but the timing column
        return [[v for c, v in zip(CERT_COLS, ln.split("\t")) if c != "time"]
                for ln in p.read_text().splitlines()]
    assert rows(part) == rows(whole) and len(rows(whole)) == 5
    assert whole.read_text().splitlines()[0].split("\t") == CERT_COLS
    with pytest.raises(SystemExit, match="n = 30"):
        sa.main(base[:-1] + ["30", "--count", "5", "--out", str(part)])
