"""rsc.train's poisson/direct codings, --teacher (logit distillation) and --ann --sigma (the
randomized-smoothing ANN). Tiny runs: 64 training images, 1 epoch, small layers."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from rsc import train  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
TINY = ["--channels", "4", "8", "--hidden", "16"]


def _run(fmnist_dir, *extra) -> int:
    return train.main(["--batch", "32", "--data", str(fmnist_dir), "--threads", "1",
                       "--eval-count", "16", "--epochs", "1", *TINY, *extra])


@pytest.fixture(scope="module")
def ann_checkpoint(fmnist_dir, tmp_path_factory):
    """A tiny RS-ANN checkpoint (rsc.train --ann --sigma 0.5)."""
    ck = tmp_path_factory.mktemp("ann") / "ann.pt"
    assert _run(fmnist_dir, "--ann", "--sigma", "0.5", "--checkpoint", str(ck)) == 0
    return ck


# ---- poisson and direct coding ------------------------------------------------------------------

@pytest.mark.parametrize("coding", ["poisson", "direct"])
def test_train_poisson_and_direct_codings(fmnist_dir, tmp_path, coding, librsc, capsys):
    import rsc
    out, ck = tmp_path / "m.rscm", tmp_path / "m.pt"
    assert _run(fmnist_dir, "--coding", coding, "--qat-steps", "1", "--out", str(out),
                "--checkpoint", str(ck), "--validate-count", "2", "--validate-predict", "2",
                "--predict-n", "10") == 0
    log = capsys.readouterr().out
    assert f"{coding} coding (sigma 0): validating rsc_forward and PREDICT only" in log
    m = rsc.load(out)
    assert m.info.coding == coding and m.info.sigma == 0 and m.info.time_steps == 4
    config = torch.load(ck, weights_only=True)["config"]
    assert config["coding"] == coding and config["sigma"] == 0
    assert config["name"] == f"fmnist-rsc-{coding}-T4"


@pytest.mark.parametrize("argv,message", [
    (["--coding", "poisson", "--sigma", "0.25"],
     "--coding poisson takes no --sigma (got --sigma 0.25)"),
    (["--coding", "direct", "--sigma", "1"], "--coding direct takes no --sigma (got --sigma 1)"),
    (["--coding", "gaussian-shared"], "--sigma is required with --coding gaussian-shared"),
    (["--ann", "--coding", "poisson"], "drop --coding poisson"),
    (["--ann", "--teacher", "t.pt"], "--teacher distils into an SNN: drop it with --ann"),
    (["--sigma", "0.25", "--teacher", "no-such.pt"], "--teacher no-such.pt: no such file"),
    (["--sigma", "0.25", "--distill-weight", "1.5"], "--distill-weight must lie in [0, 1]"),
    (["--sigma", "0.25", "--distill-temperature", "0"], "--distill-temperature must be > 0"),
    (["--ann", "--sigma", "-1"], "--ann --sigma must lie in [0,"),
])
def test_usage_errors(fmnist_dir, tmp_path, capsys, argv, message):
    extra = ["--checkpoint", str(tmp_path / "c.pt")] if "--ann" in argv else \
        ["--out", str(tmp_path / "x.rscm")]
    with pytest.raises(SystemExit) as e:
        train.main([*argv, *extra, "--data", str(fmnist_dir)])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.rscm").exists() and not (tmp_path / "c.pt").exists()


# ---- distillation -------------------------------------------------------------------------------

def test_distillation_loss_formula():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(5, 10, generator=g, requires_grad=True)
    t = torch.randn(5, 10, generator=g)
    y = torch.randint(0, 10, (5,), generator=g)
    ce = torch.nn.functional.cross_entropy(s, y)
    assert torch.allclose(train.distillation_loss(s, t, y, 4.0, 0.0), ce)
    # a = 1, the teacher's logits as the student's: KL = 0
    same = train.distillation_loss(s, s.detach(), y, 4.0, 1.0).detach()
    assert float(same) == pytest.approx(0, abs=1e-6)
    # The formula written out: (1 - a) CE + a T^2 sum_k p_t (log p_t - log p_s), batch mean.
    T, a = 3.0, 0.3
    pt, ps = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()
    assert torch.allclose(train.distillation_loss(s, t, y, T, a), (1 - a) * ce + a * T * T * kl,
                          atol=1e-6)
    # With a = 1 the gradient pulls the student's distribution towards the teacher's.
    loss = train.distillation_loss(s, t, y, T, 1.0)
    loss.backward()
    with torch.no_grad():
        s2 = s - 0.5 * s.grad
        kl2 = (pt * (pt.log() - torch.log_softmax(s2 / T, 1))).sum(1).mean()
    assert float(kl2) < float(kl.detach())


def test_train_with_teacher_records_it_and_changes_the_loss(fmnist_dir, tmp_path, ann_checkpoint):
    runs = {}
    for tag, extra in (("plain", []), ("distil", ["--teacher", str(ann_checkpoint),
                                                  "--distill-temperature", "2",
                                                  "--distill-weight", "0.7"])):
        ck, summary = tmp_path / f"{tag}.pt", tmp_path / f"{tag}.json"
        assert _run(fmnist_dir, "--sigma", "0.25", "--qat-steps", "1", "--out",
                    str(tmp_path / f"{tag}.rscm"), "--checkpoint", str(ck), "--summary",
                    str(summary), "--validate-count", "0", "--validate-predict", "0", *extra) == 0
        runs[tag] = (torch.load(ck, weights_only=True)["train"],
                     json.loads(summary.read_text())["history"][0]["loss"])
    meta, loss = runs["distil"]
    assert meta["teacher"] == str(ann_checkpoint)
    assert (meta["distill_temperature"], meta["distill_weight"]) == (2.0, 0.7)
    assert "teacher" not in runs["plain"][0]
    assert loss != pytest.approx(runs["plain"][1], rel=1e-3)


# ---- the randomized-smoothing ANN ---------------------------------------------------------------

def test_ann_sigma_is_recorded(ann_checkpoint):
    ck = torch.load(ann_checkpoint, weights_only=True)
    assert ck["train"]["sigma"] == 0.5 and ck["train"]["ann"] is True
    # The net itself stays the clean ANN (rsc.eval attacks it as before).
    assert ck["config"]["coding"] == "direct" and ck["config"]["sigma"] == 0.0
    assert ck["config"]["name"] == "fmnist-ann-relu-sigma0.5"


def test_ann_noise_augmentation_changes_training(fmnist_dir, tmp_path, ann_checkpoint):
    ck = tmp_path / "clean.pt"
    assert _run(fmnist_dir, "--ann", "--checkpoint", str(ck)) == 0
    clean = torch.load(ck, weights_only=True)
    noisy = torch.load(ann_checkpoint, weights_only=True)
    assert clean["train"]["sigma"] == 0.0
    w = "body.0.weight"
    assert not torch.equal(clean["state_dict"][w], noisy["state_dict"][w])
