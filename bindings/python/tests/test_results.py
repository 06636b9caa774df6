"""rsc.results (the script behind docs/results.md) on the small demo model: per-image TSVs equal
to direct calls, resuming, --fresh discarding only what it redoes, and the tables computed from
the TSVs (certified accuracy per radius, the dagger above the largest certifiable radius)."""

import csv
import re
from pathlib import Path

import numpy as np
import pytest

import rsc
from rsc import results as R

# The checkout's files, not R.REPO's: the suite also runs on the installed package.
REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "models" / "demo" / "fmnist_demo.rscm"
IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
LABELS = REPO / "models" / "data" / "fmnist_test_1000_labels.npy"


def _run(tmp_path, *extra):
    argv = ["--models", str(MODEL), "--images", str(IMAGES), "--labels", str(LABELS),
            "--count", "6", "--certify-count", "4", "--n", "1000", "--n0", "20",
            "--predict-n", "50", "--threads", "1", "--out-dir", str(tmp_path),
            "--md", str(tmp_path / "results.md"), "--quiet", *extra]
    assert R.main(argv) == 0
    return (tmp_path / "results.md").read_text()


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def data():
    return np.load(IMAGES).astype(np.float32), np.load(LABELS).astype(np.int64)


def test_rows_equal_direct_calls(tmp_path, librsc, data):
    x, y = data
    _run(tmp_path)
    m = rsc.load(MODEL)
    pred = _rows(tmp_path / "fmnist_demo_predict_n50.tsv")
    cert = _rows(tmp_path / "fmnist_demo_certify_n1000.tsv")
    assert [int(r["idx"]) for r in pred] == list(range(6))
    assert [int(r["idx"]) for r in cert] == list(range(4))
    for r in pred:
        i = int(r["idx"])
        p = m.predict(x[i], n=50, alpha=0.001, seed=0, stream=i, threads=2)
        assert (int(r["label"]), int(r["predict"])) == (y[i], p.label)
        assert int(r["count_top"]) == p.count_top
        assert int(r["count_label"]) == p.counts[y[i]]
    for r in cert:
        i = int(r["idx"])
        c = m.certify(x[i], n0=20, n=1000, alpha=0.001, seed=0, stream=i, threads=2)
        assert (int(r["predict"]), int(r["count"])) == (c.label, c.count_selected)
        assert float(r["radius"]) <= c.radius < float(r["radius"]) + 1e-4  # rounded down
        assert int(r["correct"]) == int(c.label == y[i])


def test_resume_and_fresh(tmp_path, librsc):
    _run(tmp_path)
    ctsv = tmp_path / "fmnist_demo_certify_n1000.tsv"
    ptsv = tmp_path / "fmnist_demo_predict_n50.tsv"
    first = _rows(ctsv)
    _run(tmp_path, "--certify-count", "6")
    again = _rows(ctsv)
    assert [int(r["idx"]) for r in again] == list(range(6))
    assert again[:4] == first  # kept as they were (times included): not recomputed
    # --fresh discards only the TSVs this run redoes: PREDICT here, the CERTIFY rows stay.
    ptsv.write_text(ptsv.read_text() + "99\t0\t0\t1\t0.1\t0\t50\t50\t50\n")  # a row to discard
    _run(tmp_path, "--fresh", "--skip-certify")
    assert [int(r["idx"]) for r in _rows(ptsv)] == list(range(6))
    assert _rows(ctsv) == again


def test_tables_from_tsvs(tmp_path, librsc):
    md = _run(tmp_path)
    cert = _rows(tmp_path / "fmnist_demo_certify_n1000.tsv")
    # Hand-made rows with known radii replace the computed ones: the table must follow them.
    radii = ["0.1000", "0.3000", "0.0000", "0.2400"]
    correct = [1, 1, 0, 1]
    for r, rad, ok in zip(cert, radii, correct):
        r["radius"], r["correct"] = rad, str(ok)
        r["predict"] = r["label"] if ok else str((int(r["label"]) + 1) % 10)
    with open(tmp_path / "fmnist_demo_certify_n1000.tsv", "w") as f:
        f.write("\t".join(R.CERT_COLS) + "\n")
        f.writelines("\t".join(r[c] for c in R.CERT_COLS) + "\n" for r in cert)
    md = _run(tmp_path, "--skip-predict", "--skip-certify")
    row = next(line for line in md.splitlines() if re.match(r"\| fmnist_demo \| 0\.25 \| 1,000 \| 4 \|", line))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # r = 0: 3 of 4 correct; r = 0.25: one (0.30); r >= 0.5: none, above the largest radius at
    # n = 1000 (sigma_eff 0.125 * PhiInv(0.001^(1/1000)) = 0.31): marked with the dagger.
    assert cells[4:9] == ["75.0%", "25.0%", "0.0%†", "0.0%†", "0.0%†"]
    assert cells[9] == "0.0%"  # abstain
    assert "n0 = 20, alpha = 0.001" in md


@pytest.mark.parametrize("bad", [["--count", "0"], ["--count", "-1"], ["--certify-count", "-2"],
                                 ["--n", "0"], ["--n0", "0"], ["--predict-n", "0"],
                                 ["--alpha", "1"], ["--threads", "-1"],
                                 ["--models", "/no/such.rscm"]])
def test_bad_arguments_are_usage_errors_before_any_work(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as e:
        _run(tmp_path, *bad)
    assert e.value.code == 2 and "error: " in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_sequential_rows_and_table(tmp_path, librsc, data):
    """--sequential: rows equal direct sequential calls at the table's radii, resume, and the
    sequential table compares them with the fixed-n rows of the same images."""
    x, y = data
    md = _run(tmp_path, "--sequential")
    m = rsc.load(MODEL)
    rows = _rows(tmp_path / "fmnist_demo_sequential_nmax1000.tsv")
    assert [int(r["idx"]) for r in rows] == list(range(4))
    for r in rows:
        i = int(r["idx"])
        c = m.certify(x[i], n0=20, n=1000, alpha=0.001, seed=0, stream=i, radii=R.RADII)
        assert (int(r["predict"]), int(r["passes"]), int(r["count"])) == \
            (c.label, c.passes, c.count_selected)
        assert float(r["radius"]) <= c.radius < float(r["radius"]) + 1e-4  # rounded down
    line = next(s for s in md.splitlines() if re.match(r"\| fmnist_demo \| 0\.25 \| 1,000 \| 4 \|", s)
                and "x |" in s)
    cells = [c.strip() for c in line.strip("|").split("|")]
    passes = sum(int(r["passes"]) for r in rows) + 4 * 20
    assert cells[10] == f"{passes:,}" and cells[11] == f"{4 * 1020:,}"
    assert cells[12] == f"{4 * 1020 / passes:.1f}x"
    assert "## Sequential certification (n0 = 20, alpha = 0.001)" in md
    assert "fewer), " in md
    # Resumed, not recomputed.
    _run(tmp_path, "--sequential", "--skip-certify", "--skip-predict")
    assert _rows(tmp_path / "fmnist_demo_sequential_nmax1000.tsv") == rows


def test_variants_against_conv_net(tmp_path, librsc):
    """The comparison table pairs `X_sew_Y`, `X_distill_Y` and `X_shared_Y` with `X_Y` and
    compares them on the common images."""
    import shutil
    conv, sew = tmp_path / "fm_sigma025.rscm", tmp_path / "fm_sew_sigma025.rscm"
    distill = tmp_path / "fm_distill_sigma025.rscm"
    for m in (conv, sew, distill):
        shutil.copy(MODEL, m)
    argv = ["--images", str(IMAGES), "--labels", str(LABELS), "--count", "6",
            "--certify-count", "4", "--n", "1000", "--n0", "20", "--predict-n", "50",
            "--threads", "1", "--out-dir", str(tmp_path), "--md", str(tmp_path / "results.md"),
            "--quiet"]
    assert R.main(["--models", str(conv), str(sew), *argv]) == 0
    # Make the residual model's first PREDICT row wrong (abstain) and drop its last two rows:
    # the comparison uses the 4 common images.
    p = tmp_path / "fm_sew_sigma025_predict_n50.tsv"
    rows = _rows(p)[:4]
    conv_rows = _rows(tmp_path / "fm_sigma025_predict_n50.tsv")[:4]
    rows[0]["predict"], rows[0]["correct"] = "-1", "0"
    with open(p, "w") as f:
        f.write("\t".join(R.PRED_COLS) + "\n")
        f.writelines("\t".join(r[c] for c in R.PRED_COLS) + "\n" for r in rows)
    # The distilled stand-in: PREDICT rows only (so no CERTIFY cells).
    shutil.copy(tmp_path / "fm_sigma025_predict_n50.tsv", tmp_path / "fm_distill_sigma025_predict_n50.tsv")
    md = (R.main(["--models", str(conv), str(sew), str(distill), *argv, "--skip-predict",
                  "--skip-certify"]), (tmp_path / "results.md").read_text())[1]

    def cells(stem):
        section = md[md.index("## Variants against the conv net"):]
        line = next(s for s in section.splitlines() if s.startswith(f"| {stem} |"))
        return [c.strip() for c in line.strip("|").split("|")]
    c = cells("fm_sew_sigma025")
    acc_conv = sum(int(r["predict"]) == int(r["label"]) for r in conv_rows) / 4
    acc_sew = sum(int(r["predict"]) == int(r["label"]) for r in rows) / 4
    assert c[1:5] == [R.VARIANTS["sew"], "fm_sigma025", "0.25", "4"]
    assert c[5] == f"{100 * acc_sew:.1f}% ({100 * (acc_sew - acc_conv):+.1f})"
    assert acc_sew < acc_conv
    assert c[6:8] == ["1,000", "4"] and len(c) == 8 + len(R.RADII)
    assert all(x.endswith("(+0.0)") for x in c[8:])  # same model: same certificates
    c = cells("fm_distill_sigma025")
    assert c[1:3] == [R.VARIANTS["distill"], "fm_sigma025"] and c[5].endswith("(+0.0)")
    assert c[6:] == ["-"] * (2 + len(R.RADII))


def test_against_the_model_fine_tuned_from(tmp_path, librsc):
    """--baseline-dir: each model against the TSVs of the model it was fine-tuned from, on the
    images both have, in points; nothing without the directory."""
    import shutil
    out, base = tmp_path / "out", tmp_path / "float"
    out.mkdir()
    argv = ["--models", str(MODEL), "--images", str(IMAGES), "--labels", str(LABELS), "--count", "6",
            "--certify-count", "4", "--n", "1000", "--n0", "20", "--predict-n", "50", "--threads", "1",
            "--out-dir", str(out), "--md", str(tmp_path / "results.md"), "--quiet"]
    assert R.main([*argv, "--baseline-dir", str(base)]) == 0
    assert "## Against the models they were fine-tuned from" not in (tmp_path / "results.md").read_text()
    shutil.copytree(out, base)
    # The earlier model got image 1 wrong and had only 5 PREDICT rows.
    p = base / "fmnist_demo_predict_n50.tsv"
    rows = _rows(p)[:5]
    rows[1]["predict"] = str((int(rows[1]["label"]) + 1) % 10)
    with open(p, "w") as f:
        f.write("\t".join(R.PRED_COLS) + "\n")
        f.writelines("\t".join(r[c] for c in R.PRED_COLS) + "\n" for r in rows)
    assert R.main([*argv, "--baseline-dir", str(base), "--skip-predict", "--skip-certify"]) == 0
    md = (tmp_path / "results.md").read_text()
    now = _rows(out / "fmnist_demo_predict_n50.tsv")[:5]
    acc = sum(int(r["predict"]) == int(r["label"]) for r in now) / 5
    before = sum(int(r["predict"]) == int(r["label"]) for r in rows) / 5
    assert acc > before
    assert (f"| fmnist_demo | PREDICT n = 50 | 5 | accuracy {100 * acc:.1f}% ({100 * (acc - before):+.1f}),"
            in md)
    assert "| fmnist_demo | CERTIFY n = 1,000 | 4 | r = 0: " in md and "(+0.0)" in md


def test_codings_without_radius_get_predict_rows_only(tmp_path, librsc):
    """A Poisson-coded model: PREDICT rows, no CERTIFY or sequential run (it has no radius), and
    no row in the radius table; its coding is in the accuracy table."""
    from rsc import format as F
    m = F.read_model(MODEL)
    m.coding, m.sigma, m.name = "poisson", 0.0, "demo-poisson"
    F.write_model(m, tmp_path / "demo_poisson.rscm")
    argv = ["--models", str(tmp_path / "demo_poisson.rscm"), str(MODEL), "--images", str(IMAGES),
            "--labels", str(LABELS), "--count", "3", "--certify-count", "2", "--n", "200",
            "--n0", "20", "--predict-n", "40", "--threads", "1", "--out-dir", str(tmp_path),
            "--md", str(tmp_path / "results.md"), "--quiet", "--sequential"]
    assert R.main(argv) == 0
    md = (tmp_path / "results.md").read_text()
    assert len(_rows(tmp_path / "demo_poisson_predict_n40.tsv")) == 3
    assert not list(tmp_path.glob("demo_poisson_certify_*")) + list(
        tmp_path.glob("demo_poisson_sequential_*"))
    assert len(_rows(tmp_path / "fmnist_demo_certify_n200.tsv")) == 2
    assert re.search(r"\| demo_poisson \| poisson \| 0\.00 \| 3 \|", md)
    radius_table = md.split("## Accuracy")[0]
    assert "| gaussian | 0.25 | 0.125 |" in radius_table and "poisson | 0.00" not in radius_table
    assert not any(line.startswith("| demo_poisson |") and "200" in line
                   for line in md.split("## Certified accuracy")[1].splitlines())
