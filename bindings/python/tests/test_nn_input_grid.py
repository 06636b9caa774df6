"""The input grid of integer models in the PyTorch twin (rsc.nn.InputGrid, `input_grid=e` of
RSCNet and RSCResNet), their export as `integer` models, and `rsc.train --input-grid`.

Skips when torch is not installed (pip install torch==2.13.0)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: pip install torch==2.13.0")

pytestmark = pytest.mark.usefixtures("torch_one_thread")

from rsc import fixedpoint as fp, format as rf, nn as rnn, reference as ref  # noqa: E402
from rsc.convert import torch as ct  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def test_grid_forward_is_the_integer_models_input():
    e, q = 4, 50
    u = torch.tensor([2.5, 3.5, -2.5, 0.49, 100.0, -100.0, 1 / 3, 49.5, 50.5, -50.5]) / 16
    got = rnn.InputGrid(e, q)(u)
    assert got.dtype == torch.float32
    want = fp.quantize_input(u.numpy(), e, q) / 16.0
    assert got.numpy().tolist() == want.tolist()
    assert (got * 16).tolist() == [2, 4, -2, 0, 50, -50, 0, 50, 50, -50]  # rint: half to even
    r = np.random.default_rng(0).normal(0, 3, size=(4, 3, 5, 5)).astype(np.float32)
    got = rnn.InputGrid(12)(torch.from_numpy(r)).numpy()
    assert np.array_equal(got, fp.quantize_input(r, 12, 32767) / 4096.0)


def test_grid_backward_is_straight_through_inside_the_clamp():
    u = torch.tensor([0.1, -0.2, 3.0, -3.0, 2.96875, 3.03125, -3.03125],
                     dtype=torch.float64, requires_grad=True)
    w = torch.arange(1.0, 8.0, dtype=torch.float64)
    (rnn.InputGrid(4, 48)(u) * w).sum().backward()  # clamp at +-48/16 = +-3
    # 3.03125 * 16 = 48.5 rounds to 48 (even): inside; -48.5 likewise.
    assert u.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    v = torch.tensor([3.1, -3.1, 3.09375, 1.0], dtype=torch.float64, requires_grad=True)
    rnn.InputGrid(4, 48)(v).sum().backward()  # 49.6, -49.6, 49.5 -> 50, 50, 50: clamped
    assert v.grad.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_grid_arguments_are_checked():
    for bad in (dict(shift=25), dict(shift=-1), dict(shift=12, limit=0),
                dict(shift=12, limit=32768), dict(shift=2.0)):
        with pytest.raises(ValueError, match="input grid"):
            rnn.InputGrid(**bad)


def _conv_net(**kw) -> "rnn.RSCNet":
    torch.manual_seed(0)
    net = rnn.RSCNet(input_shape=(1, 12, 12), channels=(4, 6), hidden=16, num_classes=3,
                     batch_norm=False, v_threshold=0.1, sigma=0.5, **kw)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3)  # an initialised net is nearly silent
    rnn.quantize_weights(net)
    rnn.quantize_weights(net, enable=False)  # weights on the int8 grid: the export is exact
    return net.eval()


def test_config_state_and_forward_of_a_net_on_the_grid():
    plain, grid = _conv_net(), _conv_net(input_grid=6)
    assert "input_grid" not in plain.config and "input_limit" not in plain.config
    assert grid.config["input_grid"] == 6 and grid.config["input_limit"] == 32767
    # No state of its own: a checkpoint without the grid loads into a net with it.
    assert plain.state_dict().keys() == grid.state_dict().keys()
    grid.load_state_dict(plain.state_dict())
    u = plain.coding(torch.rand(8, 1, 12, 12), torch.Generator().manual_seed(1))
    on_grid = torch.from_numpy(fp.quantize_input(u.numpy(), 6, 32767) / 64.0).float()
    with torch.no_grad():
        assert torch.equal(grid.forward_steps(u), plain.forward_steps(on_grid))
        assert not torch.equal(grid.forward_steps(u), plain.forward_steps(u))
    assert grid.firing_rates(torch.rand(4, 1, 12, 12)) != [0.0, 0.0, 0.0]
    folded = rnn.fold_batch_norm(grid)
    assert folded.config == grid.config and folded.input_grid.shift == 6
    rebuilt = rnn.build_net(grid.config)
    assert rebuilt.input_grid.shift == 6 and rebuilt.input_grid.limit == 32767


def test_export_of_a_conv_net_on_the_grid_is_an_integer_model():
    net = _conv_net(input_grid=6)
    model, report = ct.convert_module(net)
    assert (model.arithmetic, model.input_shift, model.input_limit) == ("integer", 6, 32767)
    assert rf.from_bytes(rf.to_bytes(model)) == model
    assert ct.convert_module(_conv_net())[0].arithmetic == "float"
    # The twin (float membranes) computes what the integer classifier computes, up to the
    # fixed point's rounding.
    u = net.coding(torch.rand(100, 1, 12, 12), torch.Generator().manual_seed(2))
    with torch.no_grad():
        twin = net.forward_steps(u).double().numpy()
    got = ref.forward_batch(model, u.permute(1, 0, 2, 3, 4).numpy())
    assert (twin.argmax(1) == got.argmax(1)).mean() >= 0.97
    assert (np.abs(twin - got).max(axis=1) < 1e-4).mean() >= 0.95
    rates = ref.firing_rates(model, u.permute(1, 0, 2, 3, 4).numpy()[:10])
    assert all(0.02 < r < 0.98 for r in rates if r is not None)


def test_export_of_a_resnet_on_the_grid_is_an_integer_model():
    torch.manual_seed(0)
    net = rnn.RSCResNet(input_shape=(1, 12, 12), stem=4, widths=(4, 8), num_classes=5,
                        batch_norm=False, v_threshold=0.2, input_grid=10, input_limit=2000)
    assert net.config["input_grid"] == 10 and net.config["input_limit"] == 2000
    model = net.to_model()
    assert (model.arithmetic, model.input_shift, model.input_limit) == ("integer", 10, 2000)
    u = net.coding(torch.rand(3, 1, 12, 12) * 4)  # values beyond 2000 / 1024 get clamped
    on_grid = torch.from_numpy(fp.quantize_input(u.numpy(), 10, 2000) / 1024.0).float()
    plain = rnn.RSCResNet(**{k: v for k, v in net.config.items()
                             if k not in ("input_grid", "input_limit")})
    plain.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(net.forward_steps(u), plain.eval().forward_steps(on_grid))


def _train(fmnist_dir, *extra) -> int:
    from rsc import train
    return train.main(["--sigma", "0.25", "--batch", "32", "--data", str(fmnist_dir),
                       "--threads", "1", "--eval-count", "16", "--validate-count", "0",
                       "--validate-predict", "0", *extra])


def test_train_with_input_grid_writes_an_integer_model(fmnist_dir, tmp_path):
    out, ck = tmp_path / "m.rscm", tmp_path / "m.pt"
    assert _train(fmnist_dir, "--epochs", "1", "--qat-steps", "1", "--channels", "4", "8",
                  "--hidden", "16", "--input-grid", "12", "--out", str(out),
                  "--checkpoint", str(ck)) == 0
    model = rf.read_model(out)
    assert (model.arithmetic, model.input_shift, model.input_limit) == ("integer", 12, 32767)
    config = torch.load(ck, weights_only=True)["config"]
    assert config["input_grid"] == 12 and config["input_limit"] == 32767
    # The checkpoint rebuilds the same file (its config carries the grid).
    again = tmp_path / "again.rscm"
    assert _train(fmnist_dir, "--init", str(ck), "--epochs", "0", "--qat-steps", "0",
                  "--out", str(again)) == 0
    assert again.read_bytes() == out.read_bytes()
    assert ref.forward(model, np.zeros((4, 784), np.float32)).shape == (10,)


def test_train_fine_tunes_a_float_checkpoint_onto_the_grid(fmnist_dir, tmp_path):
    # The shipped checkpoint as a float one (its config without a grid, whatever it ships with).
    state = torch.load(REPO / "models" / "fmnist_sigma025.pt", weights_only=True)
    for key in ("input_grid", "input_limit"):
        state["config"].pop(key, None)
    shipped = tmp_path / "float.pt"
    torch.save(state, shipped)
    out, ck = tmp_path / "int.rscm", tmp_path / "int.pt"
    assert _train(fmnist_dir, "--init", str(shipped), "--input-grid", "12", "--epochs", "0",
                  "--qat-steps", "1", "--out", str(out), "--checkpoint", str(ck)) == 0
    model = rf.read_model(out)
    assert (model.arithmetic, model.input_shift) == ("integer", 12)
    assert torch.load(ck, weights_only=True)["config"]["input_grid"] == 12
    fp.plan(model)  # the runtime's constants exist for the shipped architecture


def test_train_rejects_a_bad_grid(fmnist_dir, capsys):
    with pytest.raises(SystemExit):
        _train(fmnist_dir, "--input-grid", "25", "--out", "x.rscm")
    assert "--input-grid must be 0..24" in capsys.readouterr().err
