"""Regenerate docs/results.md: accuracy, smoothed prediction and certified accuracy of the
shipped models on the shipped test images, with rsc's runtime.

    python3 -m rsc.results                                   # everything (long: see below)
    python3 -m rsc.results --certify-count 50                # certify only the first 50 images
    python3 -m rsc.results --models models/fmnist_sigma025.rscm --certify-count 10 --n 10000

Per model, on the first `--count` images (default 500):
  * base SNN without noise (`rsc_forward` with u_t = x): "clean" accuracy;
  * base SNN under its own coding noise: the fraction of PREDICT's noise passes that vote for the
    true class (n = `--predict-n` passes per image);
  * PREDICT (Cohen et al.): accuracy and abstain rate, n = 1000, alpha = 0.001;
and on the first `--certify-count` images (default: all `--count`):
  * CERTIFY (n0 = 100, n = 100000, alpha = 0.001): certified accuracy at radius 0, 0.25, 0.5,
    0.75, 1.0 (Cohen et al.'s "approximate certified test accuracy") and time per image;
  * with `--sequential`, sequential certification at the same radii (docs/sequential.md, n_max =
    `--n`), compared with the CERTIFY rows of the same images: passes, time, certified accuracy.

Per-image results go to TSV files (Cohen et al.'s columns first) in `--out-dir`; a run resumes
from them (images already there are skipped unless `--fresh`), so a long run can be split over
several invocations, and the markdown is always rebuilt from everything in the TSVs. Image i uses
noise stream i with `--seed`, as `rsc-cli`, so per-image results do not depend on the split.

CERTIFY at n = 100000 costs seconds per image on a small CPU; 500 images x 3 models take hours.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ._args import files, require, smoothing
from .model import radius_text


def _repo() -> Path:
    """The source checkout (bindings/python/rsc/results.py), else the working directory."""
    here = Path(__file__).resolve()
    if len(here.parents) > 3 and (here.parents[3] / "models").is_dir():
        return here.parents[3]
    return Path.cwd()


REPO = _repo()
# The conv nets (format v1), the residual SEW-ResNets (format v2) and the conv nets of the
# coding, distillation and noise-sharing comparisons (Poisson, direct, distilled, one noise draw
# per pass): models/README.md.
DEFAULT_MODELS = ([REPO / "models" / f"fmnist_sigma{t}.rscm" for t in ("012", "025", "050")]
                  + [REPO / "models" / f"fmnist_sew_sigma{t}.rscm" for t in ("025", "050")]
                  + [REPO / "models" / f"fmnist_{c}.rscm" for c in ("poisson", "direct")]
                  + [REPO / "models" / f"fmnist_{v}_sigma{t}.rscm"
                     for v in ("distill", "shared") for t in ("025", "050")])
DEFAULT_IMAGES = REPO / "models" / "data" / "fmnist_test_1000_images.npy"
DEFAULT_LABELS = REPO / "models" / "data" / "fmnist_test_1000_labels.npy"
RADII = (0.0, 0.25, 0.5, 0.75, 1.0)

CERT_COLS = ["idx", "label", "predict", "radius", "correct", "time", "pa_lower", "count", "n"]
# Sequential certification (docs/sequential.md): radius is the largest of RADII certified,
# passes the estimation passes used, n_max their cap.
SEQ_COLS = ["idx", "label", "predict", "radius", "correct", "time", "passes", "pa_lower", "count",
            "n_max"]
PRED_COLS = ["idx", "label", "predict", "correct", "time", "top", "count_top", "count_label", "n"]


def _read_tsv(path: Path) -> dict[int, dict]:
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {int(r["idx"]): r for r in csv.DictReader(f, delimiter="\t")}


def _append(path: Path, cols: list[str], row: dict) -> None:
    new = not path.exists()
    with open(path, "a") as f:
        if new:
            f.write("\t".join(cols) + "\n")
        f.write("\t".join(str(row[c]) for c in cols) + "\n")


def _phi_inv(p: float) -> float:
    from statistics import NormalDist
    return NormalDist().inv_cdf(p)


def _run_model(path: Path, x: np.ndarray, y: np.ndarray, args, out_dir: Path, log) -> dict:
    import rsc
    m = rsc.load(path)
    stem = path.stem
    info = m.info
    res: dict = dict(path=path, info=info)
    k = min(args.count, len(x))

    # Base SNN without noise: u_t = x for every step.
    t = info.time_steps
    clean = np.array([int(np.argmax(m.forward(np.broadcast_to(x[i], (t,) + x[i].shape))))
                      for i in range(k)])
    res["clean_acc"] = float(np.mean(clean == y[:k]))
    res["clean_count"] = k
    log(f"{stem}: base SNN without noise, {k} images: {res['clean_acc']:.4f}")

    # PREDICT
    ptsv = out_dir / f"{stem}_predict_n{args.predict_n}.tsv"
    if args.fresh and not args.skip_predict and ptsv.exists():  # only what this run redoes
        ptsv.unlink()
    done = _read_tsv(ptsv)
    if not args.skip_predict:
        t0 = time.perf_counter()
        for i in range(k):
            if i in done:
                continue
            s = time.perf_counter()
            p = m.predict(x[i], n=args.predict_n, alpha=args.alpha, seed=args.seed, stream=i,
                          threads=args.threads)
            row = dict(idx=i, label=int(y[i]), predict=p.label, correct=int(p.label == y[i]),
                       time=f"{time.perf_counter() - s:.4f}", top=p.top, count_top=p.count_top,
                       count_label=int(p.counts[int(y[i])]), n=args.predict_n)
            _append(ptsv, PRED_COLS, row)
            done[i] = {c: str(v) for c, v in row.items()}
        log(f"{stem}: PREDICT n = {args.predict_n} on {k} images [{time.perf_counter() - t0:.0f} s]")
    rows = [done[i] for i in sorted(done) if i < k]
    if rows:
        lab = np.array([int(r["label"]) for r in rows])
        pred = np.array([int(r["predict"]) for r in rows])
        res["predict"] = dict(count=len(rows), n=int(rows[0]["n"]), rows=rows,
                              acc=float(np.mean(pred == lab)), abstain=float(np.mean(pred < 0)),
                              base_noisy=float(np.mean([int(r["count_label"]) / int(r["n"])
                                                        for r in rows])),
                              time=float(np.mean([float(r["time"]) for r in rows])))

    # CERTIFY
    kc = min(args.certify_count if args.certify_count is not None else k, len(x))
    radius = info.coding.startswith("gaussian")  # poisson and direct coding certify no radius
    if not radius and not (args.skip_certify and not args.sequential):
        log(f"{stem}: {info.coding} coding has no certified radius: PREDICT only")
    if not args.skip_certify and radius:
        _certify_images(m, stem, x, y, kc, args, out_dir / f"{stem}_certify_n{args.n}.tsv", None,
                        log)
    # Sequential CERTIFY at RADII (--sequential; the n_max cap is --n)
    if args.sequential and radius:
        _certify_images(m, stem, x, y, kc, args, out_dir / f"{stem}_sequential_nmax{args.n}.tsv",
                        RADII, log)
    res["sequential"] = {}
    for f in sorted(out_dir.glob(f"{stem}_sequential_nmax*.tsv")):
        rows = _prefix_rows(f)
        if not rows:
            continue
        acc, abstain = _certified(rows)
        res["sequential"][int(rows[0]["n_max"])] = dict(
            count=len(rows), file=f.name, acc=acc, abstain=abstain,
            passes=int(sum(int(r["passes"]) for r in rows)),
            time=float(sum(float(r["time"]) for r in rows)))
    res["certify"] = {}
    for f in sorted(out_dir.glob(f"{stem}_certify_n*.tsv")):
        rows = _prefix_rows(f)
        if not rows:
            continue
        acc, abstain = _certified(rows)
        res["certify"][int(rows[0]["n"])] = dict(
            count=len(rows), file=f.name, acc=acc, abstain=abstain,
            time=float(np.mean([float(r["time"]) for r in rows])), rows=rows)
    return res


def _certified(rows: list[dict]) -> tuple[list[float], float]:
    """Certified accuracy at each of RADII (correct class, radius >= r) and the abstain rate."""
    lab = np.array([int(r["label"]) for r in rows])
    pred = np.array([int(r["predict"]) for r in rows])
    rad = np.array([float(r["radius"]) for r in rows])
    ok = pred == lab
    return [float(np.mean(ok & (rad >= r))) for r in RADII], float(np.mean(pred < 0))


def _certify_images(m, stem: str, x, y, count: int, args, tsv: Path, radii, log) -> None:
    """CERTIFY (radii None) or sequential certification of images 0..count-1 into tsv, skipping
    those already there (--fresh: starting over)."""
    kind = "sequential" if radii is not None else "certify"
    if args.fresh and tsv.exists():
        tsv.unlink()
    done = _read_tsv(tsv)
    t0 = time.perf_counter()
    for i in range(count):
        if i in done:
            continue
        s = time.perf_counter()
        c = m.certify(x[i], n0=args.n0, n=args.n, alpha=args.alpha, seed=args.seed, stream=i,
                      threads=args.threads, radii=radii)
        dt = time.perf_counter() - s
        row = dict(idx=i, label=int(y[i]), predict=c.label, radius=radius_text(c.radius),
                   correct=int(c.label == y[i]), time=f"{dt:.3f}", pa_lower=f"{c.pa_lower:.6f}",
                   count=c.count_selected, n=args.n, passes=c.n, n_max=args.n)
        _append(tsv, SEQ_COLS if radii is not None else CERT_COLS, row)
        done[i] = row
        log(f"{stem}: {kind} {i}: label {y[i]} predict {c.label} radius {c.radius:.4f}"
            + (f" passes {c.n}" if radii is not None else "") + f" [{dt:.1f} s]")
    log(f"{stem}: {kind} " + ("n_max" if radii is not None else "n")
        + f" = {args.n} on {count} images [{time.perf_counter() - t0:.0f} s]")


def _prefix_rows(path: Path) -> list[dict]:
    """The rows of a TSV for the contiguous prefix 0..K-1 of images, in order, so that runs with
    different counts compare."""
    rows = list(_read_tsv(path).values())
    idx = sorted(int(r["idx"]) for r in rows)
    kk = next((j for j, v in enumerate(idx) if v != j), len(idx))
    return sorted((r for r in rows if int(r["idx"]) < kk), key=lambda r: int(r["idx"]))


def _rel(p) -> str:
    try:
        return os.path.relpath(p, REPO)
    except ValueError:
        return str(p)


def _fmt_pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _markdown(results: list[dict], args, cpu: str, started: str) -> str:
    def sig(r):
        return r["info"].sigma

    def name(r):
        return r["path"].stem

    results = sorted(results, key=lambda r: (sig(r), name(r)))
    lines = [
        "# Results: certified robustness of the shipped RSC-SNNs",
        "",
        "Generated by `python3 -m rsc.results` (`bindings/python/rsc/results.py`) from the "
        f"per-image TSV files in `{_rel(args.out_dir)}/`; do not edit by hand. Models: "
        "`models/fmnist_sigma*.rscm` (conv nets, format v1), `models/fmnist_sew_sigma*.rscm` "
        "(residual SEW-ResNets, format v2) and the conv nets of the coding and training "
        "comparisons (`fmnist_poisson`, `fmnist_direct`, `fmnist_distill_sigma*` distilled from "
        "the ANN, `fmnist_shared_sigma*` with one noise draw per pass; `docs/tradeoff.md`); model "
        "card: `models/README.md`. Images: the shipped "
        "Fashion-MNIST test subset in `models/data/` (the first images of the test set, in "
        "order). Every number comes from rsc's runtime (`librsc.so` through the Python binding), "
        f"noise seed {args.seed}, image i on noise stream i (as `rsc-cli`).",
        "",
        "The certificate is Cohen et al.'s: radius `sigma_eff * PhiInv(pA)`, with `sigma_eff = "
        "sigma / sqrt(T)` for the models that draw fresh gaussian noise at each of their T = 4 "
        "steps (coding `gaussian`) and `sigma` for those that draw it once per pass "
        "(`gaussian-shared`; `docs/format.md`). Models of other codings (`poisson`, `direct`) "
        "have PREDICT rows only. With n passes and alpha = 0.001 the largest certifiable radius "
        "(all n votes for one class, pA = 0.001^(1/n)) is "
        f"`{_phi_inv(0.001 ** (1 / 100000)):.2f} * sigma_eff` at n = 100,000 and "
        f"`{_phi_inv(0.001 ** (1 / 10000)):.2f} * sigma_eff` at n = 10,000:",
        "",
        "| coding | sigma | sigma_eff | largest radius, n = 100,000 | n = 10,000 |",
        "|---|---:|---:|---:|---:|",
    ]
    seen = set()
    for r in results:
        se = r["info"].sigma_eff
        if not r["info"].coding.startswith("gaussian") or (r["info"].coding, sig(r)) in seen:
            continue
        seen.add((r["info"].coding, sig(r)))
        lines.append(f"| {r['info'].coding} | {sig(r):.2f} | {se:.3f} | "
                     f"{se * _phi_inv(0.001 ** (1 / 100000)):.3f} | "
                     f"{se * _phi_inv(0.001 ** (1 / 10000)):.3f} |")
    lines += [
        "",
        "## Accuracy (base SNN and smoothed PREDICT)",
        "",
        "| model | coding | sigma | images | base SNN, no noise | base SNN under noise | "
        "PREDICT accuracy | PREDICT abstain | PREDICT n | time / image |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p = r.get("predict")
        if p:
            lines.append(f"| {name(r)} | {r['info'].coding} | {sig(r):.2f} | {p['count']} | "
                         f"{_fmt_pct(r['clean_acc'])}% | "
                         f"{_fmt_pct(p['base_noisy'])}% | {_fmt_pct(p['acc'])}% | "
                         f"{_fmt_pct(p['abstain'])}% | {p['n']} | {p['time']:.2f} s |")
    lines += [
        "",
        "\"Base SNN, no noise\": one pass with u_t = x (`rsc_forward`). \"Base SNN under noise\": "
        "the fraction of all PREDICT noise passes (n per image) whose base classification is "
        "correct, i.e. the base classifier's accuracy under its own coding noise. PREDICT: "
        "Cohen et al.'s smoothed prediction (two-sided binomial test, "
        f"alpha = {args.alpha:g}); abstentions count as errors in its accuracy.",
        "",
        f"## Certified accuracy (CERTIFY, n0 = {args.n0}, alpha = {args.alpha:g})",
        "",
        "Laid out like Cohen et al.'s tables: the fraction of images whose certified class is "
        "correct with a radius of at least r (L2 norm, pixel space [0, 1]; abstentions count as "
        "errors).",
        "",
        "| model | sigma | n | images | " + " | ".join(f"r = {v:g}" for v in RADII)
        + " | abstain | time / image |",
        "|---|---:|---:|---:|" + "---:|" * len(RADII) + "---:|---:|",
    ]
    dagger = False
    for r in results:
        for n, c in sorted(r["certify"].items(), reverse=True):
            rmax = r["info"].sigma_eff * _phi_inv(args.alpha ** (1 / n))
            cells = []
            for rad, a in zip(RADII, c["acc"]):
                mark = "†" if rad > rmax else ""
                dagger |= bool(mark)
                cells.append(f"{_fmt_pct(a)}%{mark}")
            lines.append(f"| {name(r)} | {sig(r):.2f} | {n:,} | {c['count']} | "
                         + " | ".join(cells) + f" | {_fmt_pct(c['abstain'])}% | {c['time']:.1f} s |")
    if dagger:
        lines += ["", "† r is above the largest radius certifiable with this n and "
                  "sigma_eff (first table): 0% by construction, not a measured failure."]
    lines += _comparison_markdown(results, args)
    lines += _baseline_markdown(results, args)
    lines += _sequential_markdown(results, args)
    lines += [
        "",
        "## What was run",
        "",
        f"Last regenerated {started} on {cpu} ({os.cpu_count()} logical CPUs). The TSV rows "
        "may come from several runs (a run resumes where the last stopped), with different "
        "thread counts, kernel versions and loads on a machine shared with other work, so the "
        "times are the mean as run, not a speed measurement (that is `bench/RESULTS.md`); the "
        "results themselves do not depend on any of these (same seed, same votes). "
        "Each row covers exactly the images it lists (the first N of the shipped subset); a row "
        "with fewer than 500 images is a partial run, not an estimate for the rest. To "
        "regenerate or extend (resumes from the TSVs; `--n 10000` adds rows at n = 10,000; "
        "`--sequential --skip-predict --skip-certify` runs only the sequential rows):",
        "",
        "```sh",
        "swift build -c release && export RSC_LIBRARY=$PWD/.build/release/librsc.so",
        "cd bindings/python && python3 -m rsc.results --count 500 --certify-count 500 --sequential",
        "```",
        "",
    ]
    return "\n".join(lines)


# Variants of the conv net (file stem fmnist_<tag>_sigmaXXX) and what each differs in.
VARIANTS = {"sew": "residual SEW-ResNet", "distill": "distilled from the ANN",
            "shared": "one noise draw per pass"}


def _comparison_markdown(results: list[dict], args) -> list[str]:
    """Each variant of the conv net (`*_sew_*`, `*_distill_*`, `*_shared_*`) against the conv net
    of the same sigma (the same stem without the tag), on the images both have results for:
    PREDICT accuracy, and certified accuracy at every radius at the largest common n."""
    by_stem = {r["path"].stem: r for r in results}
    lines = []
    for r in results:
        stem = r["path"].stem
        tag = next((t for t in VARIANTS if f"_{t}_" in stem), None)
        base = by_stem.get(stem.replace(f"_{tag}_", "_")) if tag else None
        if base is None:
            continue
        cells = [stem, VARIANTS[tag], base["path"].stem, f"{r['info'].sigma:.2f}"]
        pr, pb = r.get("predict"), base.get("predict")
        if pr and pb and pr["n"] == pb["n"]:
            k = min(pr["count"], pb["count"])
            a, b = (float(np.mean([int(x["predict"]) == int(x["label"]) for x in p["rows"][:k]]))
                    for p in (pr, pb))
            cells += [str(k), f"{_fmt_pct(a)}% ({100 * (a - b):+.1f})"]
        else:
            cells += ["-"] * 2
        common = sorted(set(r["certify"]) & set(base["certify"]))
        if common:
            n = common[-1]
            k = min(r["certify"][n]["count"], base["certify"][n]["count"])
            a, b = (_certified(m["certify"][n]["rows"][:k])[0] for m in (r, base))
            cells += [f"{n:,}", str(k)] + [f"{_fmt_pct(x)}% ({100 * (x - y):+.1f})"
                                           for x, y in zip(a, b)]
        else:
            cells += ["-"] * (2 + len(RADII))
        if set(cells[4:]) != {"-"}:  # no results in common (yet): no row
            lines.append("| " + " | ".join(cells) + " |")
    if not lines:
        return []
    return [
        "",
        "## Variants against the conv net",
        "",
        "Each variant of the conv net against the conv net trained with the same sigma "
        "(`fmnist_sigmaXXX`), on the images both have rows for (the first k of the shipped "
        "subset): PREDICT accuracy and certified accuracy at each radius (CERTIFY at the largest "
        "n both have), in brackets the difference in points. A model with one noise draw per "
        "pass has twice the radius scale (sigma against sigma / 2 at T = 4), so it can certify "
        "where the per-step model cannot (up to 3.81 sigma against 1.91 sigma at n = 100,000).",
        "",
        "| model | variant | against | sigma | PREDICT: images | PREDICT (difference) | "
        "CERTIFY n | images | " + " | ".join(f"r = {v:g}" for v in RADII) + " |",
        "|---|---|---|---:|---:|---:|---:|---:|" + "---:|" * len(RADII),
        *lines,
    ]


def _baseline_markdown(results: list[dict], args) -> list[str]:
    """Each model against the results of the model it was fine-tuned from, kept in
    `--baseline-dir` under the same stem (the float models before the integer arithmetic,
    docs/format.md "Arithmetic"): on the images both have rows for, PREDICT accuracy and abstain,
    and certified accuracy at every radius of the CERTIFY rows at n = --n, in points."""
    base_dir = Path(args.baseline_dir) if args.baseline_dir else None
    if base_dir is None or not base_dir.is_dir():
        return []
    lines = []
    for r in results:
        stem = r["path"].stem
        pb = _prefix_rows(base_dir / f"{stem}_predict_n{args.predict_n}.tsv")
        cb = _prefix_rows(base_dir / f"{stem}_certify_n{args.n}.tsv")
        pr, cr = r.get("predict"), r["certify"].get(args.n)
        cells = []
        if pr and pb:
            k = min(pr["count"], len(pb))
            (a, aa), (b, ba) = (((float(np.mean([int(x["predict"]) == int(x["label"]) for x in rows[:k]])),
                                  float(np.mean([int(x["predict"]) < 0 for x in rows[:k]]))))
                                for rows in (pr["rows"], pb))
            cells.append(f"PREDICT n = {args.predict_n:,} | {k} | accuracy {_fmt_pct(a)}% ({100 * (a - b):+.1f}), "
                         f"abstain {_fmt_pct(aa)}% ({100 * (aa - ba):+.1f})")
        if cr and cb:
            k = min(cr["count"], len(cb))
            a, b = _certified(cr["rows"][:k])[0], _certified(cb[:k])[0]
            cells.append(f"CERTIFY n = {args.n:,} | {k} | " + ", ".join(
                f"r = {v:g}: {_fmt_pct(x)}% ({100 * (x - y):+.1f})" for v, x, y in zip(RADII, a, b)))
        lines += [f"| {stem} | {c} |" for c in cells]
    if not lines:
        return []
    return [
        "",
        "## Against the models they were fine-tuned from",
        "",
        f"The models in `{_rel(base_dir)}/` were the shipped ones before they were fine-tuned to "
        "the integer arithmetic (docs/format.md, \"Arithmetic\"; models/README.md); their TSVs are "
        "kept there. Each row: this model's accuracy on the images both have rows for (the first "
        "k), and in brackets the difference from the earlier model in points.",
        "",
        "| model | run | images | accuracy (difference) |",
        "|---|---|---:|---|",
        *lines,
    ]


def _sequential_markdown(results: list[dict], args) -> list[str]:
    """The sequential certification table, each row against the fixed-n CERTIFY rows of the same
    images (n = its n_max)."""
    rows = [(r, n_max, c) for r in results for n_max, c in sorted(r.get("sequential", {}).items(),
                                                                  reverse=True)]
    if not rows:
        return []
    radii = ", ".join(f"{v:g}" for v in RADII)
    lines = [
        "",
        f"## Sequential certification (n0 = {args.n0}, alpha = {args.alpha:g})",
        "",
        f"`certify(..., radii=[{radii}])` ([docs/sequential.md](sequential.md)): per image, "
        "whether each of these radii is certified, stopping as soon as that is decided, at most "
        "n_max estimation passes, with the same guarantee as CERTIFY (the probability of "
        "certifying a radius the smoothed classifier does not have is at most alpha). Same "
        "images, seed and noise streams as above; \"fixed n\" is the CERTIFY row with n = n_max. "
        "Passes count the n0 selection passes too. Times are summed over the images as run, "
        "possibly on other machines and loads than the fixed-n rows (see \"What was run\"): "
        "the passes are the measure of the work.",
        "",
        "| model | sigma | n_max | images | " + " | ".join(f"r = {v:g}" for v in RADII)
        + " | abstain | passes | fixed n: passes | fewer passes | time | fixed n: time |",
        "|---|---:|---:|---:|" + "---:|" * len(RADII) + "---:|---:|---:|---:|---:|---:|",
    ]
    diffs = []
    total = dict(seq=0, fixed=0, seq_time=0.0, fixed_time=0.0)
    from .model import sequential_schedule
    dagger = False
    for r, n_max, c in rows:
        fixed = r["certify"].get(n_max)
        # The largest radius any run can certify: every vote agreeing at the last look.
        last_level = sequential_schedule(n_max, args.alpha)[-1][1]
        rmax = r["info"].sigma_eff * _phi_inv(last_level ** (1 / n_max))
        cells = []
        for rad, a in zip(RADII, c["acc"]):
            mark = "†" if rad > rmax else ""
            dagger |= bool(mark)
            cells.append(f"{_fmt_pct(a)}%{mark}")
        seq_passes = c["passes"] + c["count"] * args.n0
        fixed_cells = ["-"] * 4
        if fixed and fixed["count"] >= c["count"]:
            frows = fixed["rows"][:c["count"]]
            facc = _certified(frows)[0]
            diffs.append(max(abs(a - b) for a, b in zip(c["acc"], facc)))
            fpasses = c["count"] * (n_max + args.n0)
            ftime = sum(float(x["time"]) for x in frows)
            total["seq"] += seq_passes
            total["fixed"] += fpasses
            total["seq_time"] += c["time"]
            total["fixed_time"] += ftime
            fixed_cells = [f"{fpasses:,}", f"{fpasses / seq_passes:.1f}x", _hours(c["time"]),
                           _hours(ftime)]
        else:
            fixed_cells[2] = _hours(c["time"])
        lines.append(f"| {r['path'].stem} | {r['info'].sigma:.2f} | {n_max:,} | {c['count']} | "
                     + " | ".join(cells)
                     + f" | {_fmt_pct(c['abstain'])}% | {seq_passes:,} | {fixed_cells[0]} | "
                     f"{fixed_cells[1]} | {fixed_cells[2]} | {fixed_cells[3]} |")
    if dagger:
        lines += ["", "† r is above the largest radius sequential certification can certify with "
                  "this n_max (every vote for the class at the last look, tested at alpha / J): 0% "
                  "by construction, dropped at the first look."]
    if total["seq"]:
        lines += [
            "",
            f"In total: {total['seq']:,} passes instead of {total['fixed']:,} "
            f"({total['fixed'] / total['seq']:.1f}x fewer), {_hours(total['seq_time'])} instead of "
            f"{_hours(total['fixed_time'])} of certification time; certified accuracy differs from "
            f"the fixed-n rows by at most {100 * max(diffs):.1f} points at any radius.",
        ]
    return lines


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def cpu_name() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rsc.results", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", nargs="+", default=[str(m) for m in DEFAULT_MODELS])
    p.add_argument("--images", default=str(DEFAULT_IMAGES))
    p.add_argument("--labels", default=str(DEFAULT_LABELS))
    p.add_argument("--count", type=int, default=500, help="images for clean accuracy and PREDICT")
    p.add_argument("--certify-count", type=int, default=None,
                   help="images for CERTIFY (default: --count)")
    p.add_argument("--n", type=int, default=100_000, help="CERTIFY estimation passes")
    p.add_argument("--n0", type=int, default=100)
    p.add_argument("--predict-n", type=int, default=1000)
    p.add_argument("--alpha", type=float, default=0.001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="0: all")
    p.add_argument("--out-dir", default=str(REPO / "docs" / "results"))
    p.add_argument("--md", default=str(REPO / "docs" / "results.md"))
    p.add_argument("--baseline-dir", default=str(REPO / "docs" / "results" / "float"),
                   help="TSVs of the models the shipped ones were fine-tuned from (a comparison table)")
    p.add_argument("--skip-predict", action="store_true")
    p.add_argument("--skip-certify", action="store_true")
    p.add_argument("--sequential", action="store_true",
                   help="also run sequential certification at the table's radii (n_max = --n; "
                        "docs/sequential.md)")
    p.add_argument("--fresh", action="store_true", help="discard the TSVs of this n and start over")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    require(p, [(args.count >= 1, f"--count must be >= 1, got {args.count}"),
                (args.certify_count is None or args.certify_count >= 0,
                 f"--certify-count must be >= 0, got {args.certify_count}"),
                *smoothing(args, "n", "n0", "predict_n"),
                *files(args.images, args.labels, *args.models)])
    args.out_dir = Path(args.out_dir)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    x = np.load(args.images).astype(np.float32)
    y = np.load(args.labels).astype(np.int64)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, flush=True)

    results = [_run_model(Path(m), x, y, args, args.out_dir, log) for m in args.models]
    # The page always covers every shipped model: others are summarised from their TSVs.
    others = argparse.Namespace(**{**vars(args), "skip_predict": True, "skip_certify": True,
                                   "sequential": False, "fresh": False})
    # (by stem: the TSVs are named by it, so a model of the same name elsewhere stands for it)
    ran = {Path(m).stem for m in args.models}
    for m in DEFAULT_MODELS:
        if m.exists() and m.stem not in ran:
            results.append(_run_model(m, x, y, others, args.out_dir, lambda msg: None))
    md = _markdown(results, args, cpu_name(), started)
    Path(args.md).write_text(md)
    log(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
