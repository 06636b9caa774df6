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
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["ATanSpike", "spike", "LIF", "IF", "SpikingNeuron", "RSCCoding", "RSCNet",
           "multistep", "SumPool2d", "Int8PerChannel", "fold_batch_norm",
           "quantize_weights"]


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


class SpikingNeuron(nn.Module):
    """Common part of LIF and IF: parameters, reset, multi-step loop over dim 0 (T).

    Input: currents `(T, B, ...)`; output: spikes `(T, B, ...)` (0/1 floats). State is local to
    one call (membranes start at `v_reset` at every call): one call is one pass of T steps."""

    neuron = ""

    def __init__(self, v_threshold: float = 1.0, v_reset: float = 0.0, reset: str = "hard",
                 surrogate_alpha: float = 2.0, detach_reset: bool = False):
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.reset = reset
        self.surrogate_alpha = float(surrogate_alpha)
        self.detach_reset = bool(detach_reset)

    def charge(self, v: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
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
            return (u < x.unsqueeze(0)).to(x.dtype)
        return x.unsqueeze(0).expand(shape)

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, coding={self.coding!r}, sigma={self.sigma}"


class RSCNet(nn.Module):
    """The shipped RSC-SNN (see the module docstring). `body` is an nn.Sequential of stateless
    layers and neurons applied in multi-step mode; `coding` makes the T noisy inputs.

    forward(x) takes images (B, C, H, W) in [0, 1] and returns logits (B, K), the mean over T of
    the last layer's output; forward_steps(u) takes the per-step inputs (T, B, C, H, W).

    `neuron="relu"` (with `coding="direct"`, `time_steps=1`) gives the ANN of the same
    architecture, the baseline of `rsc.eval` (`rsc.train --ann`): ReLU is stateless, so it runs
    like the other stateless layers; such a net has no `.rscm` form (rsc runs SNNs)."""

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (16, 32),
                 hidden: int = 128, num_classes: int = 10, time_steps: int = 4,
                 coding: str = "gaussian", sigma: float = 0.25, tau: float = 2.0,
                 v_threshold: float = 1.0, v_reset: float = 0.0, reset: str = "hard",
                 neuron: str = "lif", batch_norm: bool = True, pool: str = "avg",
                 class_names: Sequence[str] | None = None, name: str = ""):
        super().__init__()
        self.config = dict(input_shape=tuple(input_shape), channels=tuple(channels), hidden=hidden,
                           num_classes=num_classes, time_steps=time_steps, coding=coding,
                           sigma=sigma, tau=tau, v_threshold=v_threshold, v_reset=v_reset,
                           reset=reset, neuron=neuron, batch_norm=batch_norm, pool=pool,
                           class_names=list(class_names) if class_names is not None else None,
                           name=name)
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

    def forward_steps(self, u: torch.Tensor) -> torch.Tensor:
        """Logits (B, K) from per-step inputs u (T, B, C, H, W)."""
        a = u
        for m in self.body:
            a = m(a) if isinstance(m, SpikingNeuron) else multistep(m, a)
        return a.mean(dim=0)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.forward_steps(self.coding(x, generator))

    def firing_rates(self, x: torch.Tensor) -> list[float]:
        """Fraction of (neuron, step, image) slots with a spike, per neuron layer."""
        rates = []
        a = self.coding(x)
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


def fold_batch_norm(net: "RSCNet") -> "RSCNet":
    """An equivalent RSCNet without batch norm (eval statistics folded into the convs)."""
    import copy
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
