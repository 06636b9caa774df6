"""PyTorch building blocks for RSC spiking networks, with exactly rsc's forward semantics.

Needs torch (`pip install torch==2.13.0`); the rest of the `rsc` package does not.

Everything here follows `docs/format.md` ("Meaning: one forward pass"), so that a trained module
converts to `.rscm` (`rsc.convert.torch`) without changing what it computes, up to int8 weight
rounding:

* `LIF` (SpikingJelly's `decay_input`): `h = v + (I - (v - v_reset)) / tau`; `IF`: `h = v + I`;
  spike `s = (h >= v_threshold)`; hard reset `v = s ? v_reset : h`, soft reset
  `v = h - s * v_threshold`; membranes start at `v_reset`. The backward pass of the step
  function is a surrogate gradient (`atan`, SpikingJelly's default: `alpha / 2 / (1 +
  (pi / 2 * alpha * x)^2)`), the forward pass is the exact step.
* Modules run in *multi-step* mode: a tensor `(T, B, ...)` holds all T steps. Stateless layers
  (conv, linear, pools, flatten, batch norm) process the T steps as one batch of T*B; neurons loop
  over T. For a feed-forward network this is the same computation as rsc's step-by-step loop.
* `RSCCoding` makes the per-step inputs `u_t` from images `x` in [0, 1] (pixel space, before any
  normalisation): `gaussian` `x + sigma * eps_t` (fresh each step), `gaussian-shared` (one draw
  per pass), `poisson` `1[U_t < x]`, `direct` `x`.
* Logits are the mean over T of the last weighted layer's output (`RSCNet.forward`).

`RSCNet` is the network of the shipped models:

    conv2d(1->16, 3x3, pad 1) [BN] LIF -> avgpool2d(2) -> conv2d(16->32, 3x3, pad 1) [BN] LIF
    -> avgpool2d(2) -> flatten -> linear(1568->128) LIF -> linear(128->10)

Batch norm (optional, on by default) is a training aid only: in eval mode it is a per-channel
affine map of the conv output, which the converter folds into the conv's weights and bias
exactly (`w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g / sqrt(var + eps) + beta`);
`fold_batch_norm` does the same in torch.

`quantize_weights(net)` makes every conv/linear weight int8 per output channel in the forward
pass (`Int8PerChannel`, the rounding of `rsc.format.quantize_per_channel`, with a straight-through
gradient): fine-tuning a folded net that way (quantization-aware training) gives a float module
whose forward is exactly what the `.rscm` file computes.

`input_grid=e` (both nets; `rsc.train --input-grid E`) puts the coded input on the grid of an
`integer` model (docs/format.md, "Arithmetic"): `InputGrid` rounds u to `clamp(rint(u 2^e), -Q,
Q) 2^-e` in the forward pass with a straight-through gradient, and the export writes
`arithmetic="integer"` with that e and Q, so the net trains on the inputs the integer classifier
sees (its membranes stay float: the twin, not the bit-exact pipeline, which `rsc.reference`
computes).

`RSCResNet` is a residual spiking network (SpikingJelly's `sew_resnet` or `spiking_resnet` block
semantics; see its docstring) that exports to a format version 2 graph (`RSCResNet.to_model`,
`rsc.graph.Graph`). `build_net(config)` makes either class from a checkpoint's config (an `arch`
key selects the residual one; configs without it are RSCNet's).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["ATanSpike", "spike", "LIF", "IF", "SpikingNeuron", "RSCCoding", "InputGrid", "RSCNet",
           "RSCResNet", "ConvBN", "ResidualBlock", "multistep", "SumPool2d", "Int8PerChannel",
           "fold_batch_norm", "quantize_weights", "build_net", "compile_neurons",
           "arithmetic_fields"]


class ATanSpike(torch.autograd.Function):
    """Heaviside step `x >= 0` forward; SpikingJelly's atan surrogate backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return grad * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None


def spike(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """`(x >= 0)` as 0/1 floats, with the atan surrogate gradient."""
    return ATanSpike.apply(x, alpha)


def _neuron_forward(currents: torch.Tensor, lif: bool, tau: float, v_threshold: float,
                    v_reset: float, soft: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(spikes, pre-reset potentials h) of all T steps; the float operations of
    LIF.charge / IF.charge and SpikingNeuron's reset, in the same order."""
    v = torch.full_like(currents[0], v_reset)
    hs, out = [], []
    for t in range(currents.shape[0]):
        h = v + (currents[t] - (v - v_reset)) / tau if lif else v + currents[t]
        s = h >= v_threshold
        v = h - s.to(h.dtype) * v_threshold if soft else torch.where(s, v_reset, h)
        hs.append(h)
        out.append(s.to(h.dtype))
    return torch.stack(out), torch.stack(hs)


def _neuron_backward(grad: torch.Tensor, hs: torch.Tensor, out: torch.Tensor, lif: bool,
                     tau: float, v_threshold: float, v_reset: float, soft: bool,
                     detach_reset: bool, alpha: float) -> torch.Tensor:
    """dL/dcurrents of _neuron_forward by backpropagation through time, with the atan
    surrogate for ds/dh and (unless detach_reset) the gradient through the reset:
    hard `v = h (1 - s) + v_reset s`, soft `v = h - s v_threshold`."""
    leak = 1.0 - 1.0 / tau if lif else 1.0
    d_in = []
    dv = None  # dL/dv_t from the later steps
    for t in range(hs.shape[0] - 1, -1, -1):
        h, s = hs[t], out[t]
        sg = (alpha / 2) / (1 + (math.pi / 2 * alpha * (h - v_threshold)) ** 2)
        if dv is None:
            dh = grad[t] * sg
        elif soft:
            ds = grad[t] if detach_reset else grad[t] - dv * v_threshold
            dh = dv + ds * sg
        else:
            ds = grad[t] if detach_reset else grad[t] + dv * (v_reset - h)
            dh = dv * (1 - s) + ds * sg
        d_in.append(dh / tau if lif else dh)
        dv = dh * leak
    return torch.stack(d_in[::-1])


_KERNELS = {"forward": _neuron_forward, "backward": _neuron_backward}


def compile_neurons(enable: bool = True) -> None:
    """Run the fused neurons (`fused=True`) through `torch.compile` (inductor: one C++ loop per
    neuron instead of ~10 elementwise passes per step; about 15x faster on CPU, after about a
    minute of compilation per process; needs a C++ compiler). Training only: the forward values
    are those of the eager loop up to the compiler's float rounding."""
    if enable:
        _KERNELS["forward"] = torch.compile(_neuron_forward, dynamic=True)
        _KERNELS["backward"] = torch.compile(_neuron_backward, dynamic=True)
    else:
        _KERNELS["forward"], _KERNELS["backward"] = _neuron_forward, _neuron_backward


class _FusedNeuron(torch.autograd.Function):
    """The whole multi-step loop of a neuron as one autograd node: the forward values of
    SpikingNeuron's step-by-step autograd graph (the same float operations in the same order)
    and its gradient written out by hand (`_neuron_backward`), which saves most of the
    elementwise work and memory of the autograd graph (the neurons dominate the training time
    of a residual net); `compile_neurons` compiles both."""

    @staticmethod
    def forward(ctx, currents, neuron):  # type: ignore[override]
        m = neuron
        lif = isinstance(m, LIF)
        p = (lif, m.tau if lif else 1.0, m.v_threshold, m.v_reset, m.reset == "soft")
        out, hs = _KERNELS["forward"](currents, *p)
        ctx.save_for_backward(hs, out)
        ctx.params = p + (m.detach_reset, m.surrogate_alpha)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        hs, out = ctx.saved_tensors
        return _KERNELS["backward"](grad.contiguous(), hs, out, *ctx.params), None


class SpikingNeuron(nn.Module):
    """Common part of LIF and IF: parameters, reset, multi-step loop over dim 0 (T).

    Input: currents `(T, B, ...)`; output: spikes `(T, B, ...)` (0/1 floats). State is local to
    one call (membranes start at `v_reset` at every call): one call is one pass of T steps.

    `fused=True` runs the loop as one autograd node (`_FusedNeuron`: same forward, the same
    gradient written out by hand, much less work); the default is the plain autograd loop."""

    neuron = ""

    def __init__(self, v_threshold: float = 1.0, v_reset: float = 0.0, reset: str = "hard",
                 surrogate_alpha: float = 2.0, detach_reset: bool = False, fused: bool = False):
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.reset = reset
        self.surrogate_alpha = float(surrogate_alpha)
        self.detach_reset = bool(detach_reset)
        self.fused = bool(fused)

    def charge(self, v: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return _FusedNeuron.apply(currents, self)
        v = torch.full_like(currents[0], self.v_reset)
        out = []
        for t in range(currents.shape[0]):
            h = self.charge(v, currents[t])
            s = spike(h - self.v_threshold, self.surrogate_alpha)
            sr = s.detach() if self.detach_reset else s
            if self.reset == "hard":
                v = h * (1 - sr) + self.v_reset * sr
            else:
                v = h - sr * self.v_threshold
            out.append(s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return (f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, reset={self.reset!r}, "
                f"surrogate=atan(alpha={self.surrogate_alpha})")


class LIF(SpikingNeuron):
    """SpikingJelly decay_input LIF: `h = v + (I - (v - v_reset)) / tau` (tau >= 1)."""

    neuron = "lif"

    def __init__(self, tau: float = 2.0, **kw):
        super().__init__(**kw)
        if not tau >= 1:
            raise ValueError(f"tau must be >= 1, got {tau}")
        self.tau = float(tau)

    def charge(self, v: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return v + (i - (v - self.v_reset)) / self.tau

    def extra_repr(self) -> str:
        return f"tau={self.tau}, " + super().extra_repr()


class IF(SpikingNeuron):
    """Integrate-and-fire: `h = v + I`."""

    neuron = "if"

    def charge(self, v: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return v + i


def multistep(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a stateless module to every step of x (T, B, ...) as one batch of T*B."""
    t, b = x.shape[:2]
    y = module(x.reshape((t * b,) + tuple(x.shape[2:])))
    return y.reshape((t, b) + tuple(y.shape[1:]))


class _PoissonDraw(torch.autograd.Function):
    """`1[u < x]` forward; backward the gradient of its expectation, d E[1[U < x]] / dx = 1 on
    [0, 1] (straight through). The draw itself has zero gradient almost everywhere, so without
    this an attack on a Poisson-coded SNN would see no gradient and look robust: gradient
    masking, not robustness."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return (u < x).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None


class RSCCoding(nn.Module):
    """Images x (B, C, H, W) in [0, 1] -> per-step inputs u (T, B, C, H, W) per the coding.

    Noise is drawn with torch's generator (training); rsc's runtime draws its own (Philox)."""

    CODINGS = ("gaussian", "gaussian-shared", "poisson", "direct")

    def __init__(self, time_steps: int = 4, coding: str = "gaussian", sigma: float = 0.25):
        super().__init__()
        if coding not in self.CODINGS:
            raise ValueError(f"coding must be one of {self.CODINGS}, got {coding!r}")
        if coding in ("gaussian", "gaussian-shared") and not sigma > 0:
            raise ValueError(f"{coding} coding needs sigma > 0, got {sigma}")
        self.time_steps = int(time_steps)
        self.coding = coding
        self.sigma = float(sigma) if coding.startswith("gaussian") else 0.0

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        t = self.time_steps
        shape = (t,) + tuple(x.shape)
        if self.coding == "gaussian":
            eps = torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
            return x.unsqueeze(0) + self.sigma * eps
        if self.coding == "gaussian-shared":
            eps = torch.randn(tuple(x.shape), generator=generator, dtype=x.dtype, device=x.device)
            return (x + self.sigma * eps).unsqueeze(0).expand(shape)
        if self.coding == "poisson":
            u = torch.rand(shape, generator=generator, dtype=x.dtype, device=x.device)
            return _PoissonDraw.apply(x.unsqueeze(0).expand(shape), u)
        return x.unsqueeze(0).expand(shape)

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, coding={self.coding!r}, sigma={self.sigma}"


class _GridRound(torch.autograd.Function):
    """`clamp(rint(u 2^e), -Q, Q) 2^-e` forward (rint half to even; the scalings by powers of
    two are exact); backward straight through where the clamp did not act, zero where it did."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, shift: int, limit: int) -> torch.Tensor:  # type: ignore[override]
        q = torch.round(u * float(2 ** shift))
        ctx.save_for_backward((q >= -limit) & (q <= limit))
        return torch.clamp(q, -limit, limit) * float(2.0 ** -shift)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (inside,) = ctx.saved_tensors
        return grad * inside.to(grad.dtype), None, None


class InputGrid(nn.Module):
    """The input grid of an `integer` model (docs/format.md, "Arithmetic", step 1) on the coded
    input u (after the noise): `clamp(rint(u 2^shift), -limit, limit) 2^-shift`, the values
    `rsc.fixedpoint.quantize_input` gives times 2^-shift; straight-through gradient. No
    parameters or buffers: a checkpoint without the grid loads into a net with it."""

    def __init__(self, shift: int, limit: int = 32767):
        super().__init__()
        from .format import MAX_INPUT_LIMIT, MAX_INPUT_SHIFT
        if not (isinstance(shift, int) and 0 <= shift <= MAX_INPUT_SHIFT):
            raise ValueError(f"input grid shift must be an int 0..{MAX_INPUT_SHIFT}, got {shift!r}")
        if not (isinstance(limit, int) and 1 <= limit <= MAX_INPUT_LIMIT):
            raise ValueError(f"input grid limit must be an int 1..{MAX_INPUT_LIMIT}, got {limit!r}")
        self.shift, self.limit = shift, limit

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return _GridRound.apply(u, self.shift, self.limit)

    def extra_repr(self) -> str:
        return f"shift={self.shift}, limit={self.limit}"


def _grid_config(input_grid: int | None, input_limit: int) -> dict:
    """The config entries of the input grid: none without it, so that configs (and the
    checkpoints and resume states holding them) of nets without a grid stay as they were."""
    return {} if input_grid is None else dict(input_grid=int(input_grid),
                                              input_limit=int(input_limit))


def arithmetic_fields(net: nn.Module) -> dict:
    """The `rsc.format.Model` fields arithmetic, input_shift and input_limit of a net's export:
    integer on its input grid, else float."""
    grid = getattr(net, "input_grid", None)
    if grid is None:
        return dict(arithmetic="float", input_shift=0, input_limit=0)
    return dict(arithmetic="integer", input_shift=grid.shift, input_limit=grid.limit)


class RSCNet(nn.Module):
    """The shipped RSC-SNN (see the module docstring). `body` is an nn.Sequential of stateless
    layers and neurons applied in multi-step mode; `coding` makes the T noisy inputs.

    forward(x) takes images (B, C, H, W) in [0, 1] and returns logits (B, K), the mean over T of
    the last layer's output; forward_steps(u) takes the per-step inputs (T, B, C, H, W).

    `neuron="relu"` (with `coding="direct"`, `time_steps=1`) gives the ANN of the same
    architecture, the baseline of `rsc.eval` (`rsc.train --ann`): ReLU is stateless, so it runs
    like the other stateless layers; such a net has no `.rscm` form (rsc runs SNNs).

    `input_grid=e` rounds the per-step inputs to the grid of an integer model (`InputGrid`,
    clamp `input_limit`) before the first layer; the export is then an `integer` model."""

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (16, 32),
                 hidden: int = 128, num_classes: int = 10, time_steps: int = 4,
                 coding: str = "gaussian", sigma: float = 0.25, tau: float = 2.0,
                 v_threshold: float = 1.0, v_reset: float = 0.0, reset: str = "hard",
                 neuron: str = "lif", batch_norm: bool = True, pool: str = "avg",
                 class_names: Sequence[str] | None = None, name: str = "",
                 input_grid: int | None = None, input_limit: int = 32767):
        super().__init__()
        self.config = dict(input_shape=tuple(input_shape), channels=tuple(channels), hidden=hidden,
                           num_classes=num_classes, time_steps=time_steps, coding=coding,
                           sigma=sigma, tau=tau, v_threshold=v_threshold, v_reset=v_reset,
                           reset=reset, neuron=neuron, batch_norm=batch_norm, pool=pool,
                           class_names=list(class_names) if class_names is not None else None,
                           name=name, **_grid_config(input_grid, input_limit))
        self.input_grid = InputGrid(input_grid, input_limit) if input_grid is not None else None
        c0, h, w = (int(v) for v in input_shape)
        c1, c2 = (int(v) for v in channels)
        self.input_shape = (c0, h, w)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names is not None else None
        self.name = name
        self.coding = RSCCoding(time_steps, coding, sigma)

        def neuron_():
            if neuron == "relu":
                return nn.ReLU()
            if neuron not in ("lif", "if"):
                raise ValueError(f"neuron must be 'lif', 'if' or 'relu', got {neuron!r}")
            kw = dict(v_threshold=v_threshold, v_reset=v_reset, reset=reset)
            return LIF(tau=tau, **kw) if neuron == "lif" else IF(**kw)

        def pool_():
            if pool == "avg":
                return nn.AvgPool2d(2)
            if pool == "sum":
                return SumPool2d(2)
            raise ValueError(f"pool must be 'avg' or 'sum', got {pool!r}")

        layers: list[nn.Module] = [nn.Conv2d(c0, c1, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c1))
        layers += [neuron_(), pool_(), nn.Conv2d(c1, c2, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c2))
        layers += [neuron_(), pool_(), nn.Flatten()]
        flat = c2 * (h // 4) * (w // 4)
        layers += [nn.Linear(flat, hidden), neuron_(), nn.Linear(hidden, num_classes)]
        self.body = nn.Sequential(*layers)

    @property
    def time_steps(self) -> int:
        return self.coding.time_steps

    def _on_grid(self, u: torch.Tensor) -> torch.Tensor:
        return self.input_grid(u) if self.input_grid is not None else u

    def forward_steps(self, u: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) from per-step inputs u (T, B, C, H, W) (rounded to the input grid, if
        any)."""
        a = self._on_grid(u)
        for m in self.body:
            a = m(a) if isinstance(m, SpikingNeuron) else multistep(m, a)
        return a.mean(dim=0)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.forward_steps(self.coding(x, generator))

    def firing_rates(self, x: torch.Tensor) -> list[float]:
        """Fraction of (neuron, step, image) slots with a spike, per neuron layer."""
        rates = []
        a = self._on_grid(self.coding(x))
        with torch.no_grad():
            for m in self.body:
                a = m(a) if isinstance(m, SpikingNeuron) else multistep(m, a)
                if isinstance(m, SpikingNeuron):
                    rates.append(float(a.mean()))
        return rates


class SumPool2d(nn.Module):
    """Sum over k x k windows (stride k by default): avg_pool2d times k*k, as rsc's sumpool2d."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size if isinstance(self.kernel_size, tuple) else (self.kernel_size,) * 2
        y = nn.functional.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                                     count_include_pad=True)
        return y * (k[0] * k[1])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"



class Int8PerChannel(nn.Module):
    """Weight parametrization: symmetric int8 rounding with one scale per output channel
    (`scale = max|w_o| / 127` rounded to float32, `q = round(w / scale)`, as
    `rsc.format.quantize_per_channel`), straight-through gradient."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            amax = w.detach().abs().flatten(1).amax(1).double()
            scale = (amax / 127.0).float().double()
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            shape = (-1,) + (1,) * (w.dim() - 1)
            q = torch.clamp(torch.round(w.double() / scale.view(shape)), -127, 127)
            wq = (q * scale.view(shape)).to(w.dtype)
        return w + (wq - w).detach()


def quantize_weights(net: nn.Module, enable: bool = True) -> nn.Module:
    """Register (enable) or remove, keeping the rounded values (disable), Int8PerChannel on every
    Conv2d/Linear weight of `net`, in place."""
    from torch.nn.utils import parametrize
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if enable and not parametrize.is_parametrized(m, "weight"):
                parametrize.register_parametrization(m, "weight", Int8PerChannel())
            elif not enable and parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return net


def fold_batch_norm(net: "RSCNet | RSCResNet") -> "RSCNet | RSCResNet":
    """An equivalent RSCNet (or RSCResNet) without batch norm (eval statistics folded into the
    convs)."""
    import copy
    if isinstance(net, RSCResNet):
        return net.fold_batch_norm()
    if not any(isinstance(m, nn.BatchNorm2d) for m in net.body):
        return copy.deepcopy(net)
    cfg = dict(net.config)
    cfg["batch_norm"] = False
    out = RSCNet(**cfg).to(next(net.parameters()).dtype)
    src = [m for m in net.body]
    dst = [m for m in out.body]
    j = 0
    with torch.no_grad():
        for i, m in enumerate(src):
            if isinstance(m, nn.BatchNorm2d):
                continue
            d = dst[j]
            j += 1
            if isinstance(m, nn.Conv2d) and i + 1 < len(src) and isinstance(src[i + 1], nn.BatchNorm2d):
                bn = src[i + 1]
                k = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
                b = m.bias.double() if m.bias is not None else torch.zeros_like(k)
                d.weight.copy_((m.weight.double() * k.view(-1, 1, 1, 1)).to(d.weight.dtype))
                d.bias.copy_(((b - bn.running_mean.double()) * k + bn.bias.double()).to(d.bias.dtype))
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                d.load_state_dict(m.state_dict())
    return out


# ---------------------------------------------------------------------------------------------
# Residual spiking networks (format version 2 graphs)
# ---------------------------------------------------------------------------------------------

def _bn_fold(conv: nn.Conv2d, bn: "nn.BatchNorm2d | None") -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) float64 of conv followed by bn in eval mode (bn None: conv's own)."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(
        w.shape[0], dtype=torch.float64, device=w.device)
    if bn is None:
        return w, b
    k = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return w * k.view(-1, 1, 1, 1), (b - bn.running_mean.double()) * k + bn.bias.detach().double()


class ConvBN(nn.Module):
    """conv2d (zero padding) followed by an optional batch norm, in multi-step mode
    (T, B, C, H, W). Without batch norm the conv has a bias (the folded form)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0,
                 batch_norm: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding,
                              bias=not batch_norm)
        self.bn = nn.BatchNorm2d(cout) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = multistep(self.conv, x)
        return multistep(self.bn, y) if self.bn is not None else y

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) float64 with the batch norm's eval statistics folded in."""
        return _bn_fold(self.conv, self.bn)


class ResidualBlock(nn.Module):
    """SpikingJelly's BasicBlock, both styles (multi-step tensors (T, B, C, H, W)):

    * `sew` (sew_resnet): `out = sn2(cb2(sn1(cb1(x))))`; `identity = x`, or
      `down_sn(down(x))` (conv 1x1 with the block's stride, BN, neuron) when the block changes
      width or resolution; the output is `connect(identity, out)`: ADD `identity + out`,
      AND `identity * out`, IAND `identity * (1 - out)`.
    * `spiking` (spiking_resnet): `sn2(cb2(sn1(cb1(x))) + identity)`, identity `x` or
      `down(x)` (conv 1x1 + BN, no neuron): the residual sum of currents before the neuron.

    cb1 is conv 3x3 with the block's stride (padding 1), cb2 conv 3x3 stride 1."""

    def __init__(self, cin: int, cout: int, stride: int, style: str, connect: str,
                 neuron_factory, batch_norm: bool = True):
        super().__init__()
        if style not in ("sew", "spiking"):
            raise ValueError(f"style must be 'sew' or 'spiking', got {style!r}")
        if connect not in ("ADD", "AND", "IAND"):
            raise ValueError(f"connect must be 'ADD', 'AND' or 'IAND', got {connect!r}")
        self.style, self.connect = style, connect
        self.stride = int(stride)
        self.cb1 = ConvBN(cin, cout, 3, stride, 1, batch_norm)
        self.sn1 = neuron_factory()
        self.cb2 = ConvBN(cout, cout, 3, 1, 1, batch_norm)
        self.sn2 = neuron_factory()
        self.down = ConvBN(cin, cout, 1, stride, 0, batch_norm) \
            if stride != 1 or cin != cout else None
        self.down_sn = neuron_factory() if self.down is not None and style == "sew" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.cb2(self.sn1(self.cb1(x)))
        if self.style == "spiking":
            return self.sn2(out + (self.down(x) if self.down is not None else x))
        out = self.sn2(out)
        identity = self.down_sn(self.down(x)) if self.down is not None else x
        if self.connect == "ADD":
            return identity + out
        if self.connect == "AND":
            return identity * out
        return identity * (1 - out)

    def extra_repr(self) -> str:
        return f"style={self.style!r}, connect={self.connect!r}, stride={self.stride}"


class RSCResNet(nn.Module):
    """A residual RSC spiking network, exported as a format version 2 graph (`to_model`):

        stem: conv2d(C -> stem, 3x3, pad 1) [BN] neuron [-> maxpool2d(2)]
        blocks: one ResidualBlock per entry of `widths`; a block whose width differs from its
            input's is a downsampling block (stride 2, conv 1x1 branch), the others keep the
            resolution (identity branch)
        head `gap`: global average pool -> linear(widths[-1] -> num_classes), or `flatten`:
            flatten -> linear(widths[-1] * H * W -> num_classes); with `hidden` > 0 a
            linear(hidden) + neuron layer comes before the last linear. Logits = mean over T

    `style` "sew" (sew_resnet, spike maps combined after the neurons by `connect`) or "spiking"
    (spiking_resnet, currents summed before the neuron). With SEW ADD the block outputs are
    small counts (0..2 after the first ADD, growing by one per ADD block), which the next conv
    and the global average pool read exactly in rsc's runtime. The stem pool is a max pool
    ("max") or none ("none"): an average pool would give counts worth 1/4 each, which must not
    be added to spike maps.

    Same coding, neurons, input grid, forward(x)/forward_steps(u)/firing_rates(x) and `config`
    conventions as RSCNet (`config["arch"]` names the architecture)."""

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), stem: int = 16,
                 widths: Sequence[int] = (16, 16, 32, 32), num_classes: int = 10,
                 time_steps: int = 4, coding: str = "gaussian", sigma: float = 0.25,
                 tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
                 reset: str = "hard", neuron: str = "lif", style: str = "sew",
                 connect: str = "ADD", stem_pool: str = "max", head: str = "gap",
                 hidden: int = 0, batch_norm: bool = True,
                 class_names: Sequence[str] | None = None, name: str = "",
                 arch: str | None = None, input_grid: int | None = None,
                 input_limit: int = 32767):
        super().__init__()
        arch = arch or ("sew-resnet" if style == "sew" else "spiking-resnet")
        self.config = dict(arch=arch, input_shape=tuple(input_shape), stem=int(stem),
                           widths=tuple(int(w) for w in widths), num_classes=num_classes,
                           time_steps=time_steps, coding=coding, sigma=sigma, tau=tau,
                           v_threshold=v_threshold, v_reset=v_reset, reset=reset, neuron=neuron,
                           style=style, connect=connect, stem_pool=stem_pool, head=head,
                           hidden=int(hidden), batch_norm=batch_norm,
                           class_names=list(class_names) if class_names is not None else None,
                           name=name, **_grid_config(input_grid, input_limit))
        self.input_grid = InputGrid(input_grid, input_limit) if input_grid is not None else None
        if neuron not in ("lif", "if"):
            raise ValueError(f"neuron must be 'lif' or 'if', got {neuron!r}")
        if stem_pool not in ("max", "none"):
            raise ValueError(f"stem_pool must be 'max' or 'none', got {stem_pool!r}")
        if not widths:
            raise ValueError("widths must name at least one block")
        if head not in ("gap", "flatten"):
            raise ValueError(f"head must be 'gap' or 'flatten', got {head!r}")
        c0, h, w = (int(v) for v in input_shape)
        self.input_shape = (c0, h, w)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names is not None else None
        self.name = name
        self.style, self.connect, self.stem_pool, self.head = style, connect, stem_pool, head
        self.coding = RSCCoding(time_steps, coding, sigma)
        self.neuron_params = dict(kind=neuron, tau=float(tau), v_threshold=float(v_threshold),
                                  v_reset=float(v_reset), reset=reset)

        def neuron_():
            kw = dict(v_threshold=v_threshold, v_reset=v_reset, reset=reset, fused=True)
            return LIF(tau=tau, **kw) if neuron == "lif" else IF(**kw)

        self.stem = ConvBN(c0, int(stem), 3, 1, 1, batch_norm)
        self.stem_sn = neuron_()
        self.pool = nn.MaxPool2d(2) if stem_pool == "max" else None
        blocks = []
        cin = int(stem)
        if stem_pool == "max":
            h, w = h // 2, w // 2
        for cout in self.config["widths"]:
            stride = 1 if cout == cin else 2
            blocks.append(ResidualBlock(cin, cout, stride, style, connect, neuron_, batch_norm))
            if stride == 2:
                h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        features = cin if head == "gap" else cin * h * w
        if hidden:
            self.hidden = nn.Linear(features, int(hidden))
            self.hidden_sn = neuron_()
            features = int(hidden)
        else:
            self.hidden = self.hidden_sn = None
        self.fc = nn.Linear(features, self.num_classes)

    @property
    def time_steps(self) -> int:
        return self.coding.time_steps

    def _features(self, u: torch.Tensor, rates: list | None = None) -> torch.Tensor:
        def note(a):
            if rates is not None:
                rates.append(float(a.detach().mean()))
            return a
        if self.input_grid is not None:
            u = self.input_grid(u)
        a = note(self.stem_sn(self.stem(u)))
        if self.pool is not None:
            a = multistep(self.pool, a)
        for b in self.blocks:
            if rates is None:
                a = b(a)
                continue
            # the same computation as ResidualBlock.forward, noting each neuron's rate
            out = b.cb2(note(b.sn1(b.cb1(a))))
            if b.style == "spiking":
                a = note(b.sn2(out + (b.down(a) if b.down is not None else a)))
                continue
            out = note(b.sn2(out))
            identity = note(b.down_sn(b.down(a))) if b.down is not None else a
            a = {"ADD": lambda i, o: i + o, "AND": lambda i, o: i * o,
                 "IAND": lambda i, o: i * (1 - o)}[b.connect](identity, out)
        return a

    def _head(self, a: torch.Tensor, rates: list | None = None) -> torch.Tensor:
        if self.head == "gap":
            a = a.mean(dim=(3, 4))  # global average pool: (T, B, C)
        else:
            a = a.flatten(2)  # channels-first, as rsc's flatten: (T, B, C*H*W)
        if self.hidden is not None:
            a = self.hidden_sn(multistep(self.hidden, a))
            if rates is not None:
                rates.append(float(a.detach().mean()))
        return multistep(self.fc, a).mean(dim=0)

    def forward_steps(self, u: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) from per-step inputs u (T, B, C, H, W)."""
        return self._head(self._features(u))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.forward_steps(self.coding(x, generator))

    def firing_rates(self, x: torch.Tensor) -> list[float]:
        """Fraction of (neuron, step, image) slots with a spike, per neuron, in graph order."""
        rates: list[float] = []
        with torch.no_grad():
            self._head(self._features(self.coding(x), rates), rates)
        return rates

    def conv_bns(self) -> list[tuple[str, ConvBN]]:
        out = [("stem", self.stem)]
        for i, b in enumerate(self.blocks):
            out += [(f"blocks.{i}.cb1", b.cb1), (f"blocks.{i}.cb2", b.cb2)]
            if b.down is not None:
                out.append((f"blocks.{i}.down", b.down))
        return out

    def fold_batch_norm(self) -> "RSCResNet":
        """An equivalent RSCResNet without batch norm (eval statistics folded into the convs)."""
        import copy
        if self.stem.bn is None:
            return copy.deepcopy(self)
        cfg = dict(self.config)
        cfg["batch_norm"] = False
        out = RSCResNet(**cfg).to(next(self.parameters()).dtype)
        dst = dict(out.conv_bns())
        with torch.no_grad():
            for name, cb in self.conv_bns():
                w, b = cb.folded()
                dst[name].conv.weight.copy_(w.to(dst[name].conv.weight.dtype))
                dst[name].conv.bias.copy_(b.to(dst[name].conv.bias.dtype))
            out.fc.load_state_dict(self.fc.state_dict())
            if self.hidden is not None:
                out.hidden.load_state_dict(self.hidden.state_dict())
        return out

    def to_model(self, with_floats: bool = False):
        """The network as an `rsc.format.Model` (version 2 graph, `rsc.graph.Graph`): batch
        norm folded (eval statistics), weights int8 per output channel. After int8-aware
        fine-tuning (`quantize_weights`) the weights are already on the grid and the model
        computes what this module computes. With `with_floats`, also returns
        [(name, float64 weight)] per weighted node in graph order (for
        `rsc.convert.quantization_report`)."""
        from .graph import Graph
        g = Graph(self.input_shape)
        np_ = self.neuron_params
        floats: list = []

        def conv(src: int, name: str, cb: ConvBN) -> int:
            w, b = (t.cpu().numpy() for t in cb.folded())
            floats.append((name, w))
            c = cb.conv
            return g.conv2d(src, w, b, stride=c.stride, padding=c.padding)

        def sn(src: int) -> int:
            if np_["kind"] == "lif":
                return g.lif(src, tau=np_["tau"], v_threshold=np_["v_threshold"],
                             v_reset=np_["v_reset"], reset=np_["reset"], decay_input=True)
            return g.if_(src, v_threshold=np_["v_threshold"], v_reset=np_["v_reset"],
                         reset=np_["reset"])

        x = sn(conv(g.input, "stem", self.stem))
        if self.pool is not None:
            x = g.maxpool2d(x, 2)
        for i, b in enumerate(self.blocks):
            out = conv(sn(conv(x, f"blocks.{i}.cb1", b.cb1)), f"blocks.{i}.cb2", b.cb2)
            if b.style == "spiking":
                ident = conv(x, f"blocks.{i}.down", b.down) if b.down is not None else x
                x = sn(g.add(out, ident))
                continue
            out = sn(out)
            ident = sn(conv(x, f"blocks.{i}.down", b.down)) if b.down is not None else x
            x = {"ADD": g.add, "AND": g.and_, "IAND": g.iand}[b.connect](ident, out)
        x = g.global_avgpool(x) if self.head == "gap" else g.flatten(x)
        if self.hidden is not None:
            w = self.hidden.weight.detach().double().cpu().numpy()
            floats.append(("hidden", w))
            x = sn(g.linear(x, w, self.hidden.bias.detach().double().cpu().numpy()))
        w = self.fc.weight.detach().double().cpu().numpy()
        floats.append(("fc", w))
        g.linear(x, w, self.fc.bias.detach().double().cpu().numpy())
        model = g.build(time_steps=self.time_steps, coding=self.coding.coding,
                        sigma=self.coding.sigma, num_classes=self.num_classes,
                        name=self.name, class_names=self.class_names, **arithmetic_fields(self))
        return (model, floats) if with_floats else model


def build_net(config: dict) -> nn.Module:
    """RSCNet or RSCResNet from a checkpoint's config (`config["arch"]`: absent or "conv" for
    RSCNet, "sew-resnet" / "spiking-resnet" for RSCResNet)."""
    cfg = dict(config)
    arch = cfg.get("arch", "conv")
    if arch == "conv":
        cfg.pop("arch", None)
        return RSCNet(**cfg)
    if arch in ("sew-resnet", "spiking-resnet"):
        return RSCResNet(**cfg)
    raise ValueError(f"unknown arch {arch!r} (conv, sew-resnet, spiking-resnet)")
