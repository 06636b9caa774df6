"""Train an RSC spiking network on Fashion-MNIST and write it as `.rscm`.

    python3 -m rsc.train --sigma 0.25 --epochs 8 --seed 0 --out models/fmnist_sigma025.rscm

Randomized smoothing coding: every time step the network sees `x + sigma * eps_t` (fresh
gaussian noise, pixel space [0, 1], no normalisation outside the model), LIF neurons with
surrogate gradients (atan), backpropagation through time over T steps, cross-entropy on the
T-averaged logits of the last layer. The network is `rsc.nn.RSCNet`. After training, the module
is converted with `rsc.convert.torch` (batch norm folded, int8 per output channel), written, and
validated with rsc's own runtime (`rsc.load(...)`): base accuracy of noisy passes through
`rsc_forward` and, with `--validate-predict N`, smoothed PREDICT accuracy on N test images.

Needs torch (`pip install torch==2.13.0`, the CPU wheel) and the Fashion-MNIST idx files
(Debian: `apt-get install dataset-fashion-mnist`, or `--data DIR`). Uses tqdm if installed.
Deterministic for a given seed, torch build and thread count.

`--arch sew-resnet` (or `spiking-resnet`) trains a residual spiking network instead
(`rsc.nn.RSCResNet`: stem conv, `--widths` residual blocks, global average pool, linear), written
as a format version 2 graph; the same coding, neurons, optimiser and int8-aware fine-tuning:

    python3 -m rsc.train --arch sew-resnet --sigma 0.25 --epochs 8 --seed 0 \
        --out models/fmnist_sew_sigma025.rscm --checkpoint models/fmnist_sew_sigma025.pt

Training is resumable: with `--checkpoint` (or `--state`), the full training state (weights,
optimiser, schedule, random streams, history) is saved after every epoch to `--state` (default:
the checkpoint's path + `.state`), and `--resume` continues from it (same command line plus
`--resume`); the state file is removed when the run finishes.

`--input-grid E` trains (or, with `--init`, fine-tunes) on the input grid of an `integer` model
(docs/format.md, "Arithmetic": the noisy input rounded to multiples of 2^-E, clamped at +-32767
of them; `rsc.nn.InputGrid`) and writes an integer model, whose classifier is the integer
pipeline; the checkpoint's config records the grid, so rebuilding from it writes the same file:

    python3 -m rsc.train --sigma 0.25 --init models/fmnist_sigma025.pt --input-grid 12 \
        --epochs 0 --qat-steps 300 --out fmnist_sigma025_int.rscm --checkpoint int.pt

`--ann` trains the ANN baseline of the same architecture instead (ReLU in place of LIF, no
coding noise, one step; `rsc.eval` attacks it next to the SNNs): same data, optimiser, schedule
and seed; no int8 step and no `.rscm` (rsc runs SNNs), only the `--checkpoint`:

    python3 -m rsc.train --ann --epochs 8 --seed 0 --threads 1 --checkpoint models/fmnist_ann.pt

`--ann --sigma S` trains that ANN on `x + S * eps` (Cohen et al.'s randomized-smoothing base
classifier: one fresh Gaussian draw per image per training step, pixel space, no clipping; the
checkpoint's `train["sigma"]` records S); `rsc.smoothed_ann` certifies it.

`--coding poisson` / `--coding direct` (no `--sigma`) train SNNs of those codings: the .rscm has
that coding and sigma 0; it PREDICTs, but only the gaussian codings certify.

`--teacher ANN.pt` distils the logits of an `--ann` checkpoint (run in eval mode on the clean
image) into the SNN, in the main epochs and the int8-aware fine-tuning steps alike: loss
`(1 - a) CE(s, y) + a tau^2 KL(softmax(t / tau) || softmax(s / tau))` with a = `--distill-weight`
(0.5), tau = `--distill-temperature` (4), s the SNN's logits (mean over its time steps), t the
teacher's (`distillation_loss`); the checkpoint's `train` entry records the teacher, tau and a.
Only this logit term is implemented (E-RSCT's pre-synaptic loss is not reproduced).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ._args import require

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
INPUT_LIMIT = 32767  # --input-grid's clamp Q: the whole int16 range
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An MNIST idx file (optionally .gz) as a numpy array (uint8 data)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(data_dir: str | os.PathLike = DEFAULT_DATA, split: str = "train"):
    """(images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,)) of 'train' or 't10k'."""
    d = Path(data_dir)

    def find(stem: str) -> Path:
        for name in (stem + ".gz", stem):
            if (d / name).exists():
                return d / name
        raise FileNotFoundError(
            f"{d / (stem + '.gz')} not found: install the Debian package dataset-fashion-mnist "
            "(apt-get install dataset-fashion-mnist) or pass --data DIR with the four idx files")

    x = read_idx(find(f"{split}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(f"{split}-labels-idx1-ubyte")).astype(np.int64)
    return x.reshape(-1, 1, 28, 28), y


def _bar(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
        if sys.stderr.isatty():
            return tqdm(total=total, desc=desc, leave=False)
    except ImportError:
        pass
    return None


def evaluate(net, x, y, batch: int = 500, coding: str | None = None, seed: int = 1234,
             noise_sigma: float = 0.0) -> float:
    """Accuracy of one pass per image (the model's coding unless `coding` overrides it), of
    x + noise_sigma * eps (one draw per image) when noise_sigma > 0 (the ANN of --ann --sigma)."""
    import torch
    net.eval()
    g = torch.Generator().manual_seed(seed)
    saved = net.coding.coding
    if coding is not None:
        net.coding.coding = coding
    correct = 0
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch):
                xb = torch.from_numpy(x[i:i + batch])
                if noise_sigma:
                    xb = xb + noise_sigma * torch.randn(xb.shape, generator=g)
                pred = net(xb, generator=g).argmax(1).numpy()
                correct += int((pred == y[i:i + batch]).sum())
    finally:
        net.coding.coding = saved
    return correct / len(x)


def _state_path(args) -> str:
    if args.state:
        return args.state
    base = args.checkpoint or args.out
    return base + ".state" if base else ""


def _with_grid(config: dict, args) -> dict:
    """config with the input grid of --input-grid, if given (else as it is: a checkpoint's
    grid is kept)."""
    if args.input_grid is None:
        return config
    return dict(config, input_grid=args.input_grid, input_limit=INPUT_LIMIT)


def _net_config(args) -> dict:
    """The config of the network --arch names (RSCNet's, or RSCResNet's with an `arch` key)."""
    return _with_grid(_arch_config(args), args)


def _coding_tag(args) -> str:
    """The coding part of a default model name: sigma{S} for the gaussian codings (as the
    shipped names), the coding's name otherwise."""
    return f"sigma{args.sigma:g}" if args.coding.startswith("gaussian") else args.coding


def distillation_loss(student_logits, teacher_logits, labels, temperature: float, weight: float):
    """Hinton et al.'s (2015) logit distillation: `(1 - a) CE(s, y) + a tau^2
    KL(softmax(t / tau) || softmax(s / tau))`, batch means (a = weight, tau = temperature)."""
    import torch.nn.functional as F
    ce = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                  F.log_softmax(teacher_logits / temperature, dim=1),
                  log_target=True, reduction="batchmean")
    return (1 - weight) * ce + weight * temperature ** 2 * kl


def make_loss(args):
    """loss(logits, x, y) of a training step: cross-entropy, or with `--teacher` the
    distillation loss against the teacher's logits on the clean images x (teacher in eval mode,
    no coding noise, no gradient)."""
    import torch
    ce = torch.nn.CrossEntropyLoss()
    if not getattr(args, "teacher", ""):
        return lambda logits, xb, yb: ce(logits, yb)
    teacher = load_checkpoint(args.teacher)
    teacher.coding.coding = "direct"  # no noise: the clean image at every step
    for q in teacher.parameters():
        q.requires_grad_(False)
    print(f"rsc.train: distilling from {args.teacher} ({teacher.name}), temperature "
          f"{args.distill_temperature:g}, weight {args.distill_weight:g}", flush=True)

    def loss(logits, xb, yb):
        with torch.no_grad():
            t = teacher(xb)
        return distillation_loss(logits, t, yb, args.distill_temperature, args.distill_weight)
    return loss


def _arch_config(args) -> dict:
    if args.arch == "conv":
        if args.ann:
            # The same architecture with ReLU and no coding noise: one step of the clean image.
            return dict(input_shape=(1, 28, 28), channels=tuple(args.channels),
                        hidden=args.hidden, num_classes=10, time_steps=1, coding="direct",
                        sigma=0.0, tau=args.tau, v_threshold=1.0, v_reset=0.0, reset="hard",
                        neuron="relu", batch_norm=not args.no_batch_norm, pool=args.pool,
                        class_names=CLASS_NAMES,
                        name=args.name or ("fmnist-ann-relu" + (f"-sigma{args.sigma:g}"
                                                                if args.sigma else "")))
        return dict(input_shape=(1, 28, 28), channels=tuple(args.channels), hidden=args.hidden,
                    num_classes=10, time_steps=args.time_steps, coding=args.coding,
                    sigma=args.sigma, tau=args.tau, v_threshold=1.0, v_reset=0.0, reset="hard",
                    neuron="lif", batch_norm=not args.no_batch_norm, pool=args.pool,
                    class_names=CLASS_NAMES,
                    name=args.name or f"fmnist-rsc-{_coding_tag(args)}-T{args.time_steps}")
    style = "sew" if args.arch == "sew-resnet" else "spiking"
    tag = "sew" if style == "sew" else "spiking-resnet"
    return dict(arch=args.arch, input_shape=(1, 28, 28), stem=args.stem,
                widths=tuple(args.widths), num_classes=10, time_steps=args.time_steps,
                coding=args.coding, sigma=args.sigma, tau=args.tau, v_threshold=1.0, v_reset=0.0,
                reset="hard", neuron="lif", style=style, connect=args.connect,
                stem_pool=args.stem_pool, head=args.head, hidden=args.resnet_hidden,
                batch_norm=not args.no_batch_norm,
                class_names=CLASS_NAMES,
                name=args.name or f"fmnist-rsc-{tag}-{_coding_tag(args)}-T{args.time_steps}")


def train(args) -> dict:
    import torch
    from . import nn as rnn

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    x_train, y_train = load_fashion_mnist(args.data, "train")
    x_test, y_test = load_fashion_mnist(args.data, "t10k")
    if args.train_limit:
        x_train, y_train = x_train[:args.train_limit], y_train[:args.train_limit]
    n = len(x_train)
    config = _net_config(args)
    init_meta = {}
    if args.init:
        ck = torch.load(args.init, map_location="cpu", weights_only=True)
        config = _with_grid(dict(ck["config"]), args)
        init_meta = dict(ck.get("train", {}))
        net = rnn.build_net(config)
        net.load_state_dict(ck["state_dict"])
        print(f"rsc.train: initialised from {args.init} ({init_meta})", flush=True)
    else:
        net = rnn.build_net(config)
    if isinstance(net, rnn.RSCResNet) and args.compile:
        rnn.compile_neurons()  # about a minute of compilation, then ~15x faster neurons
    print(f"rsc.train: {net.name}: {sum(p.numel() for p in net.parameters())} parameters, "
          f"{n} training images, {args.epochs} epochs, batch {args.batch}, lr {args.lr}, "
          f"seed {args.seed}, {args.threads} threads", flush=True)
    print(net, flush=True)

    steps_per_epoch = math.ceil(n / args.batch)
    total_steps = steps_per_epoch * args.epochs
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if total_steps:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=total_steps,
                                                    pct_start=0.15, anneal_strategy="cos")
    loss_fn = make_loss(args)
    ann_sigma = float(args.sigma or 0.0) if args.ann else 0.0
    if ann_sigma:
        print(f"rsc.train: ANN trained on x + {ann_sigma:g} * eps (Gaussian noise augmentation, "
              "one draw per image per step, no clipping)", flush=True)
    gen = torch.Generator().manual_seed(args.seed)
    t_start = time.perf_counter()
    history = []
    state_path = _state_path(args)
    first_epoch = 0
    resumed_seconds = 0.0
    if args.resume and state_path and Path(state_path).is_file():
        # Our own file (pickled optimiser and random states): not a weights-only load.
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if st["config"] != net.config:
            raise SystemExit(f"rsc.train: --resume: {state_path} is for another network "
                             f"({st['config']}), not {net.config}")
        net.load_state_dict(st["state_dict"])
        opt.load_state_dict(st["optimizer"])
        if total_steps:
            sched.load_state_dict(st["scheduler"])
        rng.bit_generator.state = st["numpy_rng"]
        gen.set_state(st["torch_generator"])
        torch.set_rng_state(st["torch_rng"])
        history = list(st["history"])
        first_epoch = int(st["epoch"])
        resumed_seconds = float(st["seconds"])
        print(f"rsc.train: resumed from {state_path} after epoch {first_epoch} "
              f"({resumed_seconds:.0f} s of training before)", flush=True)
    elif args.resume:
        print(f"rsc.train: --resume: no state file {state_path or '(no --checkpoint/--state)'}; "
              "starting from the beginning", flush=True)
    t_start -= resumed_seconds
    for epoch in range(first_epoch, args.epochs):
        net.train()
        perm = rng.permutation(n)
        t0 = time.perf_counter()
        run_loss = run_correct = run_n = 0.0
        bar = _bar(steps_per_epoch, f"epoch {epoch + 1}")
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch:(step + 1) * args.batch]
            xb = torch.from_numpy(x_train[idx])
            yb = torch.from_numpy(y_train[idx])
            if args.flip:
                flip = torch.rand(len(idx), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            if ann_sigma:
                logits = net(xb + ann_sigma * torch.randn(xb.shape, generator=gen), generator=gen)
            else:
                logits = net(xb, generator=gen)
            loss = loss_fn(logits, xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run_loss += float(loss.detach()) * len(idx)
            run_correct += float((logits.argmax(1) == yb).sum())
            run_n += len(idx)
            if bar is not None:
                bar.update(1)
            elif (step + 1) % args.log_every == 0:
                el = time.perf_counter() - t0
                print(f"  epoch {epoch + 1} step {step + 1}/{steps_per_epoch} "
                      f"loss {run_loss / run_n:.4f} acc {run_correct / run_n:.4f} "
                      f"({el:.0f} s, lr {sched.get_last_lr()[0]:.2e})", flush=True)
        if bar is not None:
            bar.close()
        t_epoch = time.perf_counter() - t0
        test_acc = evaluate(net, x_test[:args.eval_count], y_test[:args.eval_count])
        history.append(dict(epoch=epoch + 1, loss=run_loss / run_n, train_acc=run_correct / run_n,
                            test_acc_noisy=test_acc, seconds=t_epoch))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {run_loss / run_n:.4f} train acc "
              f"{run_correct / run_n:.4f} test acc (noisy pass, first {args.eval_count}) "
              f"{test_acc:.4f} [{t_epoch:.0f} s, total {time.perf_counter() - t_start:.0f} s]",
              flush=True)
        if state_path:
            tmp = state_path + ".tmp"
            Path(state_path).parent.mkdir(parents=True, exist_ok=True)
            torch.save(dict(config=net.config, epoch=epoch + 1, state_dict=net.state_dict(),
                            optimizer=opt.state_dict(),
                            scheduler=sched.state_dict() if total_steps else None,
                            numpy_rng=rng.bit_generator.state, torch_generator=gen.get_state(),
                            torch_rng=torch.get_rng_state(), history=history,
                            seconds=time.perf_counter() - t_start), tmp)
            os.replace(tmp, state_path)
        if args.stop_after and epoch + 1 >= args.stop_after and epoch + 1 < args.epochs:
            print(f"rsc.train: stopping after epoch {epoch + 1} (--stop-after); continue with "
                  f"--resume", flush=True)
            raise SystemExit(3)
    train_seconds = time.perf_counter() - t_start
    if args.qat_steps and not args.ann:
        net = quantization_aware_finetune(net, x_train, y_train, args, rng, gen, loss_fn)
    qat_seconds = time.perf_counter() - t_start - train_seconds
    if init_meta.get("train_seconds"):
        train_seconds += float(init_meta["train_seconds"])

    acc_noisy = evaluate(net, x_test, y_test, noise_sigma=ann_sigma)
    acc_clean = evaluate(net, x_test, y_test, coding="direct")
    rates = net.firing_rates(torch.from_numpy(x_test[:500]))
    print(f"trained in {train_seconds:.0f} s; test accuracy (10000 images, torch float): "
          f"one noisy pass {acc_noisy:.4f}, without noise {acc_clean:.4f}; firing rates "
          f"{', '.join(f'{r:.3f}' for r in rates)}", flush=True)
    config = dict(net.config)
    summary = dict(config=config, args=vars(args), train_seconds=train_seconds,
                   qat_seconds=qat_seconds, init=init_meta, history=history,
                   torch_test_acc_noisy=acc_noisy, torch_test_acc_clean=acc_clean,
                   firing_rates=rates, torch_version=str(torch.__version__))
    if args.checkpoint:
        Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
        # Plain containers and tensors only: loads with torch.load(weights_only=True).
        meta = dict(arch=config.get("arch", "conv"), seed=args.seed,
                    epochs=args.epochs + int(init_meta.get("epochs", 0)),
                    batch=args.batch, lr=args.lr, qat_steps=0 if args.ann else args.qat_steps,
                    ann=bool(args.ann), threads=args.threads,
                    qat_lr=args.qat_lr, train_seconds=train_seconds, qat_seconds=qat_seconds,
                    torch_version=str(torch.__version__),
                    torch_test_acc_noisy=acc_noisy, torch_test_acc_clean=acc_clean)
        if args.ann:
            meta["sigma"] = ann_sigma  # the noise augmentation (0: none)
        if args.teacher:
            meta.update(teacher=str(args.teacher), distill_temperature=args.distill_temperature,
                        distill_weight=args.distill_weight)
        torch.save(dict(config=config, state_dict=net.state_dict(), train=meta), args.checkpoint)
        print(f"checkpoint: {args.checkpoint}", flush=True)
    if state_path and Path(state_path).is_file():
        os.remove(state_path)  # the run is complete: the checkpoint holds the result
    return dict(net=net, summary=summary, x_test=x_test, y_test=y_test)


def quantization_aware_finetune(net, x_train, y_train, args, rng, gen, loss_fn=None):
    """Fold batch norm into the convs, then fine-tune `args.qat_steps` steps with every weight
    rounded to int8 per output channel in the forward pass (straight-through gradient). The
    returned net holds the rounded weights: its float forward is what the .rscm computes.
    `loss_fn(logits, x, y)` (`make_loss`: cross-entropy, or the distillation loss) is the loss."""
    import torch
    from . import nn as rnn
    net = rnn.fold_batch_norm(net)
    rnn.quantize_weights(net)
    opt = torch.optim.Adam(net.parameters(), lr=args.qat_lr)
    if loss_fn is None:
        ce = torch.nn.CrossEntropyLoss()
        loss_fn = lambda logits, xb, yb: ce(logits, yb)  # noqa: E731
    net.train()
    n = len(x_train)
    t0 = time.perf_counter()
    run_loss = run_correct = run_n = 0.0
    perm = rng.permutation(n)
    for step in range(args.qat_steps):
        j = (step * args.batch) % n
        if j + args.batch > n:
            perm = rng.permutation(n)
        idx = perm[j:j + args.batch]
        xb, yb = torch.from_numpy(x_train[idx]), torch.from_numpy(y_train[idx])
        logits = net(xb, generator=gen)
        loss = loss_fn(logits, xb, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss += float(loss.detach()) * len(idx)
        run_correct += float((logits.argmax(1) == yb).sum())
        run_n += len(idx)
        if (step + 1) % args.log_every == 0 or step + 1 == args.qat_steps:
            print(f"  int8-aware fine-tuning step {step + 1}/{args.qat_steps} loss "
                  f"{run_loss / run_n:.4f} acc {run_correct / run_n:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    rnn.quantize_weights(net, enable=False)
    net.eval()
    return net


def convert_net(net):
    """(rsc.format.Model, quantization report) of a trained RSCNet (v1 layers) or RSCResNet
    (a v2 graph), through rsc.convert.torch."""
    from .convert import torch as ctorch
    return ctorch.convert_module(net)


def load_checkpoint(path):
    """The network (RSCNet or RSCResNet, eval mode) of an `rsc.train --checkpoint` file."""
    from .convert.torch import load_checkpoint as load
    return load(path)


def export_and_validate(net, summary: dict, x_test, y_test, args) -> dict:
    """Convert, write, and check the written file with rsc's runtime."""
    from .convert import torch as ctorch
    model, report = convert_net(net)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ctorch.write(model, out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    print(ctorch.format_report(report))
    summary["quantization"] = report
    summary["file_bytes"] = out.stat().st_size
    if not model.coding.startswith("gaussian"):
        # train.py's checks are rsc_forward and PREDICT, which work for any coding; CERTIFY
        # (radii) exists for the gaussian codings only, so nothing here needs skipping.
        print(f"rsc.train: {model.coding} coding (sigma 0): validating rsc_forward and PREDICT "
              "only; the model has no certified radius (CERTIFY needs a gaussian coding)",
              flush=True)
    if args.validate_count:
        import rsc
        from . import reference as ref
        m = rsc.load(out)
        k = args.validate_count
        g = np.random.default_rng(args.seed + 1)
        ok_native = ok_clean = 0
        for i in range(k):
            u = ref.encode(model, x_test[i], g)
            ok_native += int(np.argmax(m.forward(u)) == y_test[i])
            ok_clean += int(np.argmax(m.forward(np.broadcast_to(
                x_test[i], (model.time_steps,) + x_test[i].shape))) == y_test[i])
        summary["rsc_forward_acc_noisy"] = ok_native / k
        summary["rsc_forward_acc_clean"] = ok_clean / k
        print(f"rsc runtime (rsc_forward), first {k} test images: one noisy pass "
              f"{ok_native / k:.4f}, without noise {ok_clean / k:.4f}", flush=True)
    if args.validate_predict:
        import rsc
        m = rsc.load(out)
        k = args.validate_predict
        t0 = time.perf_counter()
        preds = [m.predict(x_test[i], n=args.predict_n, alpha=0.001, seed=0, stream=i)
                 for i in range(k)]
        labels = np.array([p.label for p in preds])
        acc = float(np.mean(labels == y_test[:k]))
        abst = float(np.mean(labels < 0))
        summary["rsc_predict"] = dict(count=k, n=args.predict_n, accuracy=acc, abstain=abst,
                                      seconds=time.perf_counter() - t0)
        print(f"rsc runtime PREDICT (n = {args.predict_n}, alpha 0.001), first {k} test images: "
              f"accuracy {acc:.4f}, abstain {abst:.4f} [{time.perf_counter() - t0:.0f} s]",
              flush=True)
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rsc.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sigma", type=float, default=None,
                   help="noise scale in [0,1] pixel space (required for the gaussian codings, "
                        "absent or 0 for poisson and direct); with --ann: train the ANN on "
                        "x + sigma * eps (Cohen et al.'s noise augmentation; default: no noise)")
    p.add_argument("--out", default="", help="the .rscm file to write (required unless --ann)")
    p.add_argument("--ann", action="store_true",
                   help="train the ANN baseline of the same architecture (ReLU instead of LIF, "
                        "no coding noise (--sigma adds Gaussian augmentation), T = 1, no int8 "
                        "step); writes only --checkpoint, no .rscm")
    p.add_argument("--arch", default="conv", choices=["conv", "sew-resnet", "spiking-resnet"],
                   help="conv: rsc.nn.RSCNet (the shipped conv net); sew-resnet / spiking-resnet: "
                        "rsc.nn.RSCResNet (a format v2 graph)")
    p.add_argument("--stem", type=int, default=16, help="resnet: stem conv channels")
    p.add_argument("--widths", type=int, nargs="+", default=[16, 16, 32, 32],
                   help="resnet: one residual block per width (a width change downsamples)")
    p.add_argument("--connect", default="ADD", choices=["ADD", "AND", "IAND"],
                   help="sew-resnet: the connect function")
    p.add_argument("--stem-pool", default="max", choices=["max", "none"],
                   help="resnet: 2x2 max pool after the stem, or none")
    p.add_argument("--head", default="gap", choices=["gap", "flatten"],
                   help="resnet: global average pool or flatten before the classifier")
    p.add_argument("--resnet-hidden", type=int, default=0,
                   help="resnet: a hidden linear + LIF layer of this size before the "
                        "classifier (0: none)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                   help="resnet: torch.compile the neurons (rsc.nn.compile_neurons)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the --state file of an interrupted run")
    p.add_argument("--state", default="",
                   help="training state saved after every epoch (default: --checkpoint + "
                        "'.state', else --out + '.state')")
    p.add_argument("--stop-after", type=int, default=0,
                   help="stop (exit status 3) after this many epochs, the state saved for "
                        "--resume (0: run all --epochs)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-steps", type=int, default=4)
    p.add_argument("--coding", default="gaussian",
                   choices=["gaussian", "gaussian-shared", "poisson", "direct"],
                   help="input coding (rsc.nn.RSCCoding); poisson and direct take no --sigma and "
                        "their models PREDICT but do not certify")
    p.add_argument("--teacher", default="",
                   help="distil from this checkpoint (rsc.train --ann): its logits on the clean "
                        "image, in eval mode without noise (Hinton et al.'s logit distillation)")
    p.add_argument("--distill-temperature", type=float, default=4.0,
                   help="--teacher: the softmax temperature T")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="--teacher: the weight a of the distillation term: "
                        "(1 - a) CE + a T^2 KL(teacher || student)")
    p.add_argument("--tau", type=float, default=2.0)
    p.add_argument("--channels", type=int, nargs=2, default=[16, 32])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--pool", default="avg", choices=["avg", "sum"])
    p.add_argument("--no-batch-norm", action="store_true",
                   help="train without batch norm (with it, BN is folded into the convs)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (one-cycle)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--flip", action="store_true", help="random horizontal flips")
    p.add_argument("--qat-steps", type=int, default=300,
                   help="after training: fold batch norm, then this many int8-aware fine-tuning "
                        "steps (0: none; the .rscm then rounds the float weights)")
    p.add_argument("--qat-lr", type=float, default=1e-4)
    p.add_argument("--input-grid", type=int, default=None, metavar="E",
                   help="train on the input grid 2^-E (clamp +-32767 steps) and write an integer "
                        "model (docs/format.md, Arithmetic); with --init, fine-tunes a checkpoint "
                        "onto the grid; default: off (a float model, or the --init checkpoint's)")
    p.add_argument("--init", default="",
                   help="start from this checkpoint (rsc.train --checkpoint); with --epochs 0 "
                        "only the int8-aware fine-tuning runs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=DEFAULT_DATA, help="directory of the Fashion-MNIST idx files")
    p.add_argument("--train-limit", type=int, default=0, help="use only the first N train images")
    p.add_argument("--eval-count", type=int, default=2000,
                   help="test images evaluated after each epoch")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--name", default="")
    p.add_argument("--checkpoint", default="", help="also save the torch state (.pt) here")
    p.add_argument("--summary", default="", help="write a JSON summary of the run here")
    p.add_argument("--validate-count", type=int, default=1000,
                   help="test images run through rsc_forward after writing (0: skip)")
    p.add_argument("--validate-predict", type=int, default=200,
                   help="test images run through rsc PREDICT after writing (0: skip)")
    p.add_argument("--predict-n", type=int, default=1000)
    args = p.parse_args(argv)
    if args.ann:
        if not args.checkpoint:
            p.error("--ann needs --checkpoint (an ANN has no .rscm form)")
        if args.out:
            p.error("--ann writes no .rscm: drop --out")
        if args.arch != "conv":
            p.error("--ann trains the conv architecture only")
        if args.input_grid is not None:
            p.error("--ann writes no .rscm: drop --input-grid")
        if args.teacher:
            p.error("--teacher distils into an SNN: drop it with --ann")
        if args.coding != "gaussian":
            p.error("--ann has no coding (the clean image, plus --sigma noise if given): "
                    f"drop --coding {args.coding}")
    elif not args.out:
        p.error("--out is required (unless --ann)")
    elif args.coding in ("poisson", "direct"):
        if args.sigma:
            p.error(f"--coding {args.coding} takes no --sigma (got --sigma {args.sigma:g}): "
                    "sigma is for the gaussian codings only")
        args.sigma = 0.0
    elif args.sigma is None:
        p.error(f"--sigma is required with --coding {args.coding} (unless --ann)")
    from .format import MAX_INPUT_SHIFT, MAX_SIGMA, MAX_TIME_STEPS
    gaussian = not args.ann and args.coding.startswith("gaussian")
    require(p, [(not gaussian or 0 < args.sigma <= MAX_SIGMA,
                 f"--sigma must lie in (0, {MAX_SIGMA:g}], got {args.sigma}"),
                (not args.ann or args.sigma is None or 0 <= args.sigma <= MAX_SIGMA,
                 f"--ann --sigma must lie in [0, {MAX_SIGMA:g}], got {args.sigma}"),
                (not args.teacher or Path(args.teacher).is_file(),
                 f"--teacher {args.teacher}: no such file"),
                (args.distill_temperature > 0,
                 f"--distill-temperature must be > 0, got {args.distill_temperature}"),
                (0 <= args.distill_weight <= 1,
                 f"--distill-weight must lie in [0, 1], got {args.distill_weight}"),
                (1 <= args.time_steps <= MAX_TIME_STEPS,
                 f"--time-steps must be 1..{MAX_TIME_STEPS}, got {args.time_steps}"),
                (args.tau >= 1, f"--tau must be >= 1 (time steps), got {args.tau}"),
                (args.input_grid is None or 0 <= args.input_grid <= MAX_INPUT_SHIFT,
                 f"--input-grid must be 0..{MAX_INPUT_SHIFT}, got {args.input_grid}"),
                (args.epochs >= 0, f"--epochs must be >= 0, got {args.epochs}"),
                (args.batch >= 1, f"--batch must be >= 1, got {args.batch}"),
                (args.qat_steps >= 0, f"--qat-steps must be >= 0, got {args.qat_steps}"),
                (args.threads >= 1, f"--threads must be >= 1, got {args.threads}"),
                (min(args.channels + [args.hidden]) >= 1, "--channels and --hidden must be >= 1"),
                (min(args.widths + [args.stem]) >= 1, "--stem and --widths must be >= 1"),
                (args.resnet_hidden >= 0, "--resnet-hidden must be >= 0"),
                (Path(args.data).is_dir(), f"--data {args.data}: no such directory"),
                (not args.init or Path(args.init).is_file(), f"--init {args.init}: no such file")])
    r = train(args)
    if args.ann:
        if args.summary:
            Path(args.summary).write_text(json.dumps(r["summary"], indent=1, default=str))
        return 0
    summary = export_and_validate(r["net"], r["summary"], r["x_test"], r["y_test"], args)
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
