"""rsc.eval on tiny models: attacks (budgets, and that they really lower an ANN's accuracy), the
rsc-side evaluation (base SNN, PREDICT, CERTIFY, the results TSVs), caching, tables, plots, the
command, and rsc.train --ann."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0 "
                                            "(rsc.eval's attacks run on the PyTorch twin)")

from rsc import eval as ev  # noqa: E402
from rsc import nn as rnn  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _data(n=64, seed=0):
    """Two classes of 1x8x8 images: the left (class 0) or right (class 1) half is brighter by
    0.3. Any Linf perturbation of 0.15 per pixel can erase the difference; random noise of that
    size cannot."""
    g = np.random.default_rng(seed)
    y = g.integers(0, 2, n)
    x = 0.4 + 0.05 * g.standard_normal((n, 1, 8, 8))
    x[y == 0, :, :, :4] += 0.3
    x[y == 1, :, :, 4:] += 0.3
    return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)


def _tiny(neuron="relu", sigma=0.25, seed=0):
    torch.manual_seed(seed)
    if neuron == "relu":
        return rnn.RSCNet(input_shape=(1, 8, 8), channels=(4, 8), hidden=16, num_classes=2,
                          time_steps=1, coding="direct", sigma=0.0, neuron="relu",
                          batch_norm=False, name="tiny-ann")
    return rnn.RSCNet(input_shape=(1, 8, 8), channels=(4, 8), hidden=16, num_classes=2,
                      time_steps=2, coding="gaussian", sigma=sigma, batch_norm=False,
                      name="tiny-snn")


def _fit(net, x, y, steps=150):
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(0)
    net.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(net(xt, generator=g), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net


@pytest.fixture(scope="module")
def ann():
    x, y = _data(256)
    return _fit(_tiny("relu"), x, y, steps=100)


@pytest.fixture(scope="module")
def snn_files(tmp_path_factory):
    """A trained tiny SNN as (rscm, checkpoint): int8 weights, so torch and rsc compute the same
    network."""
    from rsc.convert import torch as ct
    d = tmp_path_factory.mktemp("snn")
    x, y = _data(256)
    net = _fit(_tiny("lif"), x, y, steps=60)
    rnn.quantize_weights(net)
    rnn.quantize_weights(net, enable=False)
    model, _ = ct.convert_module(net)
    ct.write(model, d / "tiny.rscm")
    torch.save(dict(config=net.config, state_dict=net.state_dict()), d / "tiny.pt")
    torch.save(dict(config=_tiny("relu").config, state_dict=_tiny("relu").state_dict()),
               d / "ann.pt")
    return d / "tiny.rscm", d / "tiny.pt", d / "ann.pt"


# ---- attacks -----------------------------------------------------------------------------------

def test_attack_spec():
    a = ev.Attack("pgd", "l2", 0.5, steps=7)
    assert a.label == "PGD-L2 eps=0.5" and a.key == "pgd-l2-0.5-k7-s2.5"
    assert ev.Attack("fgsm", "linf", 0.1).key == "fgsm-linf-0.1"
    for bad in (dict(kind="cw", norm="l2", eps=1), dict(kind="pgd", norm="l1", eps=1),
                dict(kind="pgd", norm="l2", eps=-1), dict(kind="pgd", norm="l2", eps=1, steps=0)):
        with pytest.raises(ValueError):
            ev.Attack(**bad)
    atts = ev.parse_attacks([0.1, 0.2], [1.0], ("fgsm", "pgd"), steps=3)
    assert [a.key for a in atts] == ["fgsm-linf-0.1", "pgd-linf-0.1-k3-s2.5", "fgsm-linf-0.2",
                                     "pgd-linf-0.2-k3-s2.5", "fgsm-l2-1", "pgd-l2-1-k3-s2.5"]


@pytest.mark.parametrize("kind", ["fgsm", "pgd"])
@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.4)])
def test_attack_stays_in_budget_and_range(ann, kind, norm, eps):
    x, y = _data(20, seed=1)
    x[0] = 0.0  # pixels at the edges of [0, 1]
    x[1] = 1.0
    for net, eot in ((ann, 1), (_tiny("lif"), 3)):
        xa = ev.attack(net, x, y, ev.Attack(kind, norm, eps, steps=3), eot=eot, batch=8)
        assert xa.shape == x.shape and xa.dtype == np.float32
        assert xa.min() >= 0 and xa.max() <= 1
        d = (xa - x).reshape(len(x), -1)
        if norm == "linf":
            assert np.abs(d).max() <= eps + 1e-6
        else:
            assert np.linalg.norm(d, axis=1).max() <= eps + 1e-5
        assert np.abs(d).max() > 0  # it moved
    assert np.array_equal(ev.attack(ann, x, y, ev.Attack(kind, norm, 0.0)), x)


def test_attacks_lower_the_ann_accuracy(ann):
    """The check that a broken attack cannot pass for robustness: on a tiny ANN that is ~100%
    accurate, FGSM and PGD at a budget that can erase the class signal bring the accuracy down,
    PGD at least as far as FGSM, and far below random perturbations of the same size."""
    x, y = _data(200, seed=2)
    clean = ev.torch_accuracy(ann, x, y)
    assert clean >= 0.95
    g = np.random.default_rng(0)
    for norm, eps in (("linf", 0.2), ("l2", 1.6)):
        if norm == "linf":
            noise = eps * g.choice([-1.0, 1.0], size=x.shape)
        else:
            r = g.standard_normal(x.shape)
            noise = eps * r / np.linalg.norm(r.reshape(len(x), -1), axis=1)[:, None, None, None]
        rand = ev.torch_accuracy(ann, np.clip(x + noise, 0, 1).astype(np.float32), y)
        fgsm = ev.torch_accuracy(ann, ev.attack(ann, x, y, ev.Attack("fgsm", norm, eps)), y)
        pgd = ev.torch_accuracy(ann, ev.attack(ann, x, y, ev.Attack("pgd", norm, eps, steps=10)), y)
        assert rand >= 0.8, (norm, rand)
        assert fgsm <= 0.5, (norm, fgsm)
        assert pgd <= 0.1, (norm, pgd)
        assert pgd <= fgsm + 1e-9


def test_eot_attack_lowers_a_noisy_snn_twin():
    """The EOT gradient through the surrogate spikes is a real gradient: a trained tiny SNN's
    accuracy (torch, averaged over noise draws) drops under PGD."""
    x, y = _data(256)
    net = _fit(_tiny("lif", sigma=0.1), x, y, steps=80)
    xt, yt = _data(100, seed=3)
    clean = ev.torch_accuracy(net, xt, yt, samples=8)
    assert clean >= 0.9
    pgd = ev.torch_accuracy(net, ev.attack(net, xt, yt, ev.Attack("pgd", "linf", 0.2, steps=5),
                                           eot=4), yt, samples=8)
    assert pgd <= clean - 0.4, (clean, pgd)


# ---- through rsc ---------------------------------------------------------------------------------

def test_base_and_smoothed_accuracy(snn_files, librsc):
    import rsc
    rscm, _, _ = snn_files
    m = rsc.load(rscm)
    x, y = _data(8, seed=4)
    want = np.mean([np.argmax(m.forward(np.stack([xi, xi]))) == yi for xi, yi in zip(x, y)])
    assert ev.base_accuracy(m, x, y) == pytest.approx(want)
    r = ev.smoothed_accuracy(m, x, y, n=64, alpha=0.01, seed=3, first_stream=5)
    preds = [m.predict(xi, n=64, alpha=0.01, seed=3, stream=5 + i) for i, xi in enumerate(x)]
    assert r["acc"] == pytest.approx(np.mean([p.label == yi for p, yi in zip(preds, y)]))
    assert r["abstain"] == pytest.approx(np.mean([p.label < 0 for p in preds]))
    assert r["base_noisy"] == pytest.approx(np.mean([p.counts[yi] / 64 for p, yi in zip(preds, y)]))
    assert r["count"] == 8 and r["n"] == 64


def test_certified_accuracy(snn_files, librsc):
    import rsc
    from rsc.model import certified_accuracy
    rscm, _, _ = snn_files
    m = rsc.load(rscm)
    x, y = _data(5, seed=5)
    radii = [0.0, 0.05, 0.1, 0.3]
    r = ev.certified_accuracy_of(m, x, y, radii, n=200, alpha=0.01)
    certs = [m.certify(xi, n0=100, n=200, alpha=0.01, seed=0, stream=i) for i, xi in enumerate(x)]
    assert np.allclose(r["acc"], certified_accuracy(certs, y, radii))
    assert r["radius"] == pytest.approx([c.radius for c in certs])
    assert all(a >= b for a, b in zip(r["acc"], r["acc"][1:]))


def test_certified_from_tsv(tmp_path):
    from rsc.results import CERT_COLS
    path = tmp_path / "m_certify_n1000.tsv"
    rows = [(0, 1, 1, 0.40), (1, 2, 2, 0.10), (2, 3, -1, 0.0), (3, 4, 5, 0.3), (5, 1, 1, 0.9)]
    with open(path, "w") as f:
        f.write("\t".join(CERT_COLS) + "\n")
        for i, lab, pred, rad in rows:
            f.write(f"{i}\t{lab}\t{pred}\t{rad}\t{int(lab == pred)}\t1.0\t0.9\t900\t1000\n")
        f.write("6\t1\t1")  # a line still being written by rsc.results
    r = ev.certified_from_tsv(path, radii=[0.0, 0.2, 0.5])
    # contiguous prefix 0..3: image 5 (after the gap) and the partial line are left out
    assert r["count"] == 4 and r["n"] == 1000
    assert r["acc"] == pytest.approx([0.5, 0.25, 0.0])
    assert r["abstain"] == pytest.approx(0.25)
    assert ev.certified_from_tsv(path, radii=[0.0], count=2)["acc"] == pytest.approx([1.0])
    assert ev.certified_from_tsv(tmp_path / "missing.tsv") is None


# ---- whole models, cache, tables, plots, command ------------------------------------------------

def test_evaluate_snn_ann_and_cache(snn_files, librsc, tmp_path):
    rscm, ck, ann_ck = snn_files
    x, y = _data(6, seed=6)
    atts = [ev.Attack("fgsm", "linf", 0.1), ev.Attack("pgd", "l2", 0.5, steps=2)]
    cache = {}
    kw = dict(predict_n=50, eot=2, results_dir=tmp_path, certify_n=100, certify_count=3,
              radii=(0.0, 0.1), batch=4)
    r = ev.evaluate_snn(rscm, x, y, atts, checkpoint=ck, cache=cache, **kw)
    assert r["kind"] == "snn" and r["sigma"] == pytest.approx(0.25) and r["count"] == 6
    assert 0 <= r["clean_no_noise"] <= 1 and r["clean"]["n"] == 50
    assert r["certified"]["count"] == 3 and r["certified"]["n"] == 100
    assert set(r["attacks"]) == {a.key for a in atts}
    for a in r["attacks"].values():
        assert {"acc", "abstain", "base_noisy", "no_noise", "torch_acc"} <= set(a)
    assert r["attacks"]["fgsm-linf-0.1"]["max_linf"] <= 0.1 + 1e-6
    assert r["attacks"]["pgd-l2-0.5-k2-s2.5"]["max_l2"] <= 0.5 + 1e-5
    # Everything is cached: a second call computes nothing (compute=False would say "not run").
    again = ev.evaluate_snn(rscm, x, y, atts, checkpoint=ck, cache=json.loads(json.dumps(cache)),
                            compute=False, **kw)
    assert again["attacks"] == r["attacks"] and again["clean"] == r["clean"]
    partial = ev.evaluate_snn(rscm, x, y, atts + [ev.Attack("fgsm", "l2", 0.3)], checkpoint=ck,
                              cache=dict(cache), compute=False, **kw)
    assert "fgsm-l2-0.3" not in partial["attacks"]
    # The twin must match the .rscm.
    with pytest.raises(ValueError, match="twin"):
        ev.evaluate_snn(rscm, x, y, atts[:1], checkpoint=ann_ck, predict_n=20, results_dir=tmp_path)
    a = ev.evaluate_ann(ann_ck, x, y, atts)
    assert a["kind"] == "ann" and set(a["attacks"]) == {k.key for k in atts}
    md = ev.markdown([r, a], atts + [ev.Attack("fgsm", "l2", 0.3)], radii=(0.0, 0.1))
    assert "| tiny | gaussian | 0.25 | 6 |" in md and "| ann (ANN) | none (ReLU) | 0 | 6 |" in md
    assert "FGSM-Linf eps=0.1" in md and "not run" in md


def test_plots(snn_files, librsc, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (extra `plot`)")
    rscm, ck, ann_ck = snn_files
    x, y = _data(4, seed=7)
    atts = [ev.Attack("fgsm", "linf", 0.1)]
    r = ev.evaluate_snn(rscm, x, y, atts, checkpoint=ck, predict_n=20, eot=1,
                        results_dir=tmp_path, certify_n=100, certify_count=4)
    a = ev.evaluate_ann(ann_ck, x, y, atts)
    ev.tradeoff_plot([r, a], atts, tmp_path / "t.png")
    ev.certified_plot([r, a], tmp_path / "c.png")
    for f in ("t.png", "c.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        ev.certified_plot([a], tmp_path / "none.png")


def test_command_writes_page_and_keeps_discussion(snn_files, librsc, tmp_path):
    rscm, ck, ann_ck = snn_files
    x, y = _data(5, seed=8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    md = tmp_path / "page.md"
    argv = ["--models", str(rscm), "--ann", str(ann_ck), "--rs-anns",  # none (default: the shipped)
            "--images", str(tmp_path / "x.npy"),
            "--labels", str(tmp_path / "y.npy"), "--count", "5", "--linf-eps", "0.1",
            "--l2-eps", "0.5", "--pgd-steps", "2", "--eot", "2", "--predict-n", "30",
            "--certify-n", "100", "--certify-count", "2", "--radii", "0", "0.1",
            "--results-dir", str(tmp_path), "--md", str(md), "--quiet"]
    assert ev.main(argv) == 0
    text = md.read_text()
    assert "| tiny | gaussian | 0.25 | 5 |" in text and "PGD-L2 eps=0.5" in text
    assert text.rstrip().endswith(ev.DISCUSSION_MARKER)
    store = json.loads((tmp_path / "page.json").read_text())
    assert len(store) == 2
    if "tradeoff.png" in text:
        assert (tmp_path / "page" / "tradeoff.png").exists()
    md.write_text(text + "\nHand-written discussion.\n")
    assert ev.main(argv + ["--cached-only"]) == 0
    assert md.read_text().rstrip().endswith("Hand-written discussion.")
    assert json.loads((tmp_path / "page.json").read_text()) == store


def _tiny_file(tmp_path, coding, sigma=0.0, name="p"):
    """A tiny SNN of the given coding as (rscm, checkpoint), int8 weights."""
    from rsc.convert import torch as ct
    x, y = _data(256)
    torch.manual_seed(1)
    net = rnn.RSCNet(input_shape=(1, 8, 8), channels=(4, 8), hidden=16, num_classes=2,
                     time_steps=2, coding=coding, sigma=sigma, batch_norm=False, name=name)
    net = _fit(net, x, y, steps=60)
    rnn.quantize_weights(net)
    rnn.quantize_weights(net, enable=False)
    model, _ = ct.convert_module(net)
    ct.write(model, tmp_path / f"{name}.rscm")
    torch.save(dict(config=net.config, state_dict=net.state_dict()), tmp_path / f"{name}.pt")
    return tmp_path / f"{name}.rscm", tmp_path / f"{name}.pt"


def test_poisson_snn_is_attacked_through_its_coding(librsc, tmp_path):
    """A Poisson-coded SNN: its attacks see the gradient of the spikes' expectation (without it
    FGSM would not move a pixel and the model would look robust), and no CERTIFY is attempted
    (it has no radius)."""
    rscm, ck = _tiny_file(tmp_path, "poisson")
    x, y = _data(6, seed=9)
    r = ev.evaluate_snn(rscm, x, y, [ev.Attack("fgsm", "linf", 0.1)], checkpoint=ck,
                        predict_n=30, eot=2, results_dir=tmp_path, certify_n=100,
                        certify_count=3, batch=6)
    assert r["coding"] == "poisson" and r["certified"] is None and r["teacher"] == ""
    assert r["attacks"]["fgsm-linf-0.1"]["max_linf"] == pytest.approx(0.1, abs=1e-6)
    net = ev.load_net(ck)
    xt = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.cross_entropy(net(xt), torch.from_numpy(y)).backward()
    assert float(xt.grad.abs().sum()) > 0


def test_smoothed_ann_rows(tmp_path):
    """evaluate_rs_ann: certified accuracy computed, or read from rsc.smoothed_ann's TSV (the
    same numbers); its rows in the tables and the certified plot; an ANN without training noise
    is refused."""
    from rsc import smoothed_ann as sa
    x, y = _data(64)
    net = _fit(_tiny("relu"), x, y, steps=100)
    ck = tmp_path / "rsann.pt"
    torch.save(dict(config=net.config, state_dict=net.state_dict(),
                    train=dict(ann=True, sigma=0.25)), ck)
    x, y = _data(5, seed=10)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    radii = (0.0, 0.1, 0.5)
    computed = ev.evaluate_rs_ann(ck, x, y, radii=radii, results_dir=tmp_path, certify_n=200,
                                  certify_count=5)
    assert computed["kind"] == "rs-ann" and computed["sigma_eff"] == 0.25
    assert computed["certified"]["source"] == "computed" and computed["certified"]["count"] == 5
    assert 0.5 <= computed["clean"]["base_noisy"] <= 1 and computed["clean_no_noise"] == 1.0
    assert sa.main([str(ck), "--images", str(tmp_path / "x.npy"), "--labels",
                    str(tmp_path / "y.npy"), "--count", "5", "--n", "200",
                    "--out", str(tmp_path / "rsann_certify_n200.tsv")]) == 0
    read = ev.evaluate_rs_ann(ck, x, y, radii=radii, results_dir=tmp_path)
    assert read["certified"]["source"].endswith("rsann_certify_n200.tsv")
    assert read["certified"]["acc"] == computed["certified"]["acc"]
    assert read["certified"]["predict"] == computed["certified"]["predict"]
    md = ev.markdown([read], [ev.Attack("fgsm", "linf", 0.1)], radii=radii)
    assert "| rsann (smoothed ANN) | gaussian, 1 draw (ReLU) | 0.25 | 5 |" in md
    assert "not attacked" in md and "rsann (smoothed ANN) |" not in md.split("Accuracy under")[1]
    page = tmp_path / "page.md"  # the page names the command that made the TSV, no attack time
    assert ev.main(["--models", "--ann", "", "--rs-anns", str(ck), "--images",
                    str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--count", "5",
                    "--radii", "0", "0.1", "--results-dir", str(tmp_path), "--md", str(page),
                    "--quiet"]) == 0
    run = page.read_text().split("## What was run")[1]
    assert ("python3 -m rsc.smoothed_ann ../../models/rsann.pt --count 5 --n 200 --compile "
            "--out ../../docs/results/rsann_certify_n200.tsv") in run
    assert "rsann (smoothed ANN): attacks" not in run
    plain = tmp_path / "ann.pt"
    torch.save(dict(config=net.config, state_dict=net.state_dict(), train=dict(ann=True)), plain)
    with pytest.raises(ValueError, match="no training noise"):
        ev.evaluate_rs_ann(plain, x, y)
    pytest.importorskip("matplotlib", reason="matplotlib not installed (extra `plot`)")
    ev.certified_plot([read], tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def _row(stem, coding, sigma, clean, attacked, teacher="", cert=None, arch=(1, 6, [1, 8, 8])):
    """A result dict as evaluate_snn returns it, for the comparison tables."""
    return dict(kind="snn", path=f"/m/{stem}.rscm", sigma=sigma, sigma_eff=sigma / 2, count=4,
                coding=coding, arch=list(arch), teacher=teacher, clean_no_noise=clean,
                clean=dict(acc=clean, abstain=0.0, base_noisy=clean), certified=cert,
                attacks={k: dict(acc=v, abstain=0.0, base_noisy=v, torch_acc=v)
                         for k, v in attacked.items()})


def test_coding_and_distillation_tables():
    """Poisson against RSC names the RSC sigma of the closest accuracy per condition, only
    among plain per-step gaussian SNNs of the same architecture; each distilled SNN is compared
    with its undistilled twin, certified accuracy over the images both have."""
    a = ev.Attack("pgd", "l2", 1.0, steps=2)
    cert = lambda pred, rad: dict(count=len(pred), n=1000, radii=[0.0, 0.25], acc=[0, 0],
                                  labels=[1] * len(pred), predict=pred, radius=rad)
    rs = [_row("rsc012", "gaussian", 0.12, 0.90, {a.key: 0.20}),
          _row("rsc025", "gaussian", 0.25, 0.88, {a.key: 0.40}, cert=cert([1, 1, 1, 0], [.3, .3, .1, 0])),
          _row("rsc050", "gaussian", 0.50, 0.85, {a.key: 0.60}),
          _row("poisson", "poisson", 0.0, 0.89, {a.key: 0.35}),
          _row("direct", "direct", 0.0, 0.91, {a.key: 0.05}),
          _row("distilled", "gaussian", 0.25, 0.90, {a.key: 0.45}, teacher="/m/ann.pt",
               cert=cert([1, 1, 0], [.3, .2, 0])),
          _row("shared", "gaussian-shared", 0.25, 0.80, {a.key: 0.9}),
          _row("other_arch", "gaussian", 0.25, 0.89, {a.key: 0.35}, arch=(2, 9, [1, 8, 8]))]
    md = ev.markdown(rs, [a], radii=(0.0, 0.25))
    part = md.split("### Poisson and direct coding against RSC")[1].split("###")[0]
    assert "against rsc012, rsc025, rsc050)" in part and "other_arch" not in part
    assert "| clean | 89.0% | 91.0% | 90.0% | 88.0% | 85.0% | sigma=0.12 (-1.0) | sigma=0.12 (+1.0) |" in part
    assert "| PGD-L2 eps=1 | 35.0% | 5.0% | 20.0% | 40.0% | 60.0% | sigma=0.25 (-5.0) | sigma=0.12 (-15.0) |" in part
    dist = md.split("### Distilled against not distilled")[1]
    # r=0.25 over the 3 images both have: distilled 1 of 3 (radius .3; .2 < .25), plain 2 of 3
    assert "| distilled | rsc025 | 90.0% (+2.0) | 90.0% (+2.0) | 33.3% (-33.3) | 45.0% (+5.0) |" in dist
    assert "shared |" not in dist
def test_train_ann_option(tmp_path):
    """rsc.train --ann: the same script trains the ReLU twin (no noise, T = 1, no .rscm)."""
    import gzip
    from pathlib import Path
    from rsc import train
    data = Path(__file__).resolve().parents[3] / "models" / "data"
    x = np.rint(np.load(data / "fmnist_test_1000_images.npy")[:96, 0] * 255).astype(np.uint8)
    y = np.load(data / "fmnist_test_1000_labels.npy")[:96].astype(np.uint8)

    def idx(path, arr):
        head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        with gzip.open(path, "wb") as f:
            f.write(head + arr.tobytes())
    for split, sl in (("train", slice(0, 64)), ("t10k", slice(64, 96))):
        idx(tmp_path / f"{split}-images-idx3-ubyte.gz", x[sl])
        idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", y[sl])
    ck = tmp_path / "ann.pt"
    assert train.main(["--ann", "--epochs", "1", "--batch", "32", "--data", str(tmp_path),
                       "--checkpoint", str(ck), "--threads", "1", "--eval-count", "16"]) == 0
    net = ev.load_net(ck)
    assert net.config["neuron"] == "relu" and net.coding.coding == "direct"
    assert net.time_steps == 1 and not any(isinstance(m, rnn.SpikingNeuron) for m in net.body)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(SystemExit):
        train.main(["--ann", "--data", str(tmp_path)])  # no --checkpoint
    with pytest.raises(SystemExit):
        train.main(["--epochs", "1", "--data", str(tmp_path)])  # an SNN needs --sigma and --out
    for bad in (["--sigma", "2e4"], ["--sigma", "0.25", "--time-steps", "0"],
                ["--sigma", "0.25", "--batch", "0"], ["--sigma", "0.25", "--tau", "0.5"]):
        with pytest.raises(SystemExit):  # before any training
            train.main([*bad, "--out", str(tmp_path / "x.rscm"), "--data", str(tmp_path)])
    assert not (tmp_path / "x.rscm").exists()
    for bad in (["--count", "-1"], ["--pgd-steps", "0"], ["--linf-eps", "-1"], ["--alpha", "2"]):
        with pytest.raises(SystemExit):
            ev.main([*bad, "--md", str(tmp_path / "t.md")])
    assert not (tmp_path / "t.md").exists()


def test_cache_is_dropped_when_the_model_changes(tmp_path):
    """A model retrained under the same file name (or its twin) gets its parts computed again."""
    m, t = tmp_path / "m.rscm", tmp_path / "m.pt"
    m.write_bytes(b"one")
    t.write_bytes(b"twin")
    store = {}
    ev._model_cache(store, m, t)["predict/5"] = {"acc": 1.0}
    assert "predict/5" in ev._model_cache(store, m, t)  # same files: kept
    t.write_bytes(b"twin, retrained")
    assert "predict/5" not in ev._model_cache(store, m, t)
    ev._model_cache(store, m, t)["predict/5"] = {"acc": 0.5}
    m.write_bytes(b"two")
    assert list(ev._model_cache(store, m, t)) == ["sha256"]
