r"""S runs of one config stacked into one network, stepped by the same contract as one run.

Every honest GAN result is a mean over seeds, and on small data a run is small:
its matrix products use a fraction of the machine and the per-step overhead
(Python, autograd bookkeeping, optimiser calls) dominates. :class:`StackedRuns`
stacks S runs' MLPs into one network whose weights have a leading axis of S,
so each layer is one batched product for all runs:

.. math::
    h^{(s)}_{l} = \phi\big(h^{(s)}_{l-1} W^{(s)\top}_l + b^{(s)}_l\big),
    \qquad s = 1, \dots, S \quad \text{(one } \mathtt{baddbmm} \text{)}.

The runs stay independent in law, and equal to the single runs up to rounding:

* each run is built, seeded and fed exactly as a :class:`~gankit.training.run.Run`
  with that seed: its own initialisation, data draw, minibatches, noise and
  penalty draws, from the same per-seed generators in the same order;
* the losses are summed over runs (each loss is a mean over its own batch), so
  the gradient of run s's weights is run s's gradient alone;
* Adam, RMSProp, SGD and weight clipping act element by element; batch norm
  keeps statistics per run; spectral norm runs one power iteration per run.

:class:`StackedRuns` is composed of the S runs, not derived from one: the
runs' networks hold *views* of the stacked weights, so each run still answers
``sample`` and ``state_dict`` as itself, and the stack steps through the same
:class:`~gankit.training.run.Steps` as a single run (only its inputs differ:
the runs' minibatches and noise, stacked).

Why not ``torch.func`` (``functional_call`` under ``vmap`` over stacked
parameters): it would stack any model, but the penalties differentiate D with
respect to its input twice (``create_graph``), batch norm keeps running
statistics (buffers ``vmap`` may not write in place), spectral norm runs a
power iteration that updates its own buffers, and the fused optimisers step
parameters, not functional state. Hand-stacked layers keep all of that as it
is in the single run, at the cost of one stacked class per layer type (linear,
batch norm, layer norm; MLP models only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..config import TrainConfig
from ..distributed import Ranks
from ..ema import EMA
from ..models import MLPDiscriminator, MLPGenerator, Packed, pack_size
from .run import Run, Steps
from .steps import Update, Window, make_optimizer, stacked_grad_norm

# --------------------------------------------------------------------------- stacked layers


class _Share:
    """Stacks the runs' tensors, then turns each run's tensor into a view of its row of the stacked one.

    ``params`` pairs each stacked parameter with the runs' own parameters: the
    originals until :meth:`make_views`, the views after it.
    """

    def __init__(self) -> None:
        self.params: list[tuple[nn.Parameter, list[Tensor]]] = []
        self._owners: list[tuple[Tensor, list[nn.Module], str, bool]] = []

    def stack(self, owners: list[nn.Module], name: str, parameter: bool = True) -> Tensor:
        singles = [getattr(m, name) for m in owners]
        data = torch.stack([t.detach() for t in singles]).clone()  # (S, ...)
        stacked: Tensor = nn.Parameter(data) if parameter else data
        if parameter:
            self.params.append((stacked, singles))
        self._owners.append((stacked, owners, name, parameter))
        return stacked

    def make_views(self) -> None:
        views: dict[int, list[Tensor]] = {}
        for stacked, owners, name, parameter in self._owners:
            rows = []
            for s, module in enumerate(owners):
                if parameter:
                    old = module._parameters[name]
                    module._parameters[name] = nn.Parameter(stacked.data[s], requires_grad=old.requires_grad)
                    rows.append(module._parameters[name])
                else:
                    module._buffers[name] = stacked[s]
            if parameter:
                views[id(stacked)] = rows
        self.params = [(P, views[id(P)]) for P, _ in self.params]


class StackedLinear(nn.Module):
    """S linear layers as one: ``x (S, B, in) -> x W^T + b``, weights ``(S, out, in)``.

    A layer under spectral norm (``torch.nn.utils.parametrizations.spectral_norm``)
    keeps it: in training mode every call runs one power iteration per run, as
    the single layer does, and divides each run's weight by its estimate
    :math:`\\sigma^{(s)} = u^{(s)\\top} W^{(s)} v^{(s)}`.
    """

    def __init__(self, layers: list[nn.Linear], share: _Share):
        super().__init__()
        self.spectral = parametrize.is_parametrized(layers[0], "weight")
        if self.spectral:
            norms = [layer.parametrizations.weight[0] for layer in layers]
            originals = [layer.parametrizations.weight for layer in layers]
            self.weight = share.stack(originals, "original")
            self.register_buffer("u", share.stack(norms, "_u", parameter=False))
            self.register_buffer("v", share.stack(norms, "_v", parameter=False))
            self.eps, self.n_power_iterations = norms[0].eps, norms[0].n_power_iterations
        else:
            self.weight = share.stack(layers, "weight")
        self.bias = share.stack(layers, "bias") if layers[0].bias is not None else None

    def effective_weight(self) -> Tensor:
        W = self.weight  # (S, out, in)
        if not self.spectral:
            return W
        if self.training:
            with torch.no_grad():
                for _ in range(self.n_power_iterations):  # in place: the runs' buffers are views
                    self.u.copy_(F.normalize(torch.bmm(W, self.v.unsqueeze(-1)).squeeze(-1), dim=-1, eps=self.eps))
                    self.v.copy_(F.normalize(torch.bmm(W.transpose(1, 2), self.u.unsqueeze(-1)).squeeze(-1),
                                             dim=-1, eps=self.eps))
        u, v = self.u.clone(), self.v.clone()
        sigma = torch.einsum("so,soi,si->s", u, W, v)  # (S,)
        return W / sigma[:, None, None]

    def forward(self, x: Tensor) -> Tensor:
        W = self.effective_weight().transpose(1, 2)  # (S, in, out)
        if self.bias is None:
            return torch.bmm(x, W)
        return torch.baddbmm(self.bias.unsqueeze(1), x, W)  # (S, B, out)


class StackedBatchNorm(nn.Module):
    """S ``BatchNorm1d`` layers with statistics per run: ``(S, B, C)`` normalised as ``(B, S * C)``."""

    def __init__(self, layers: list[nn.BatchNorm1d], share: _Share):
        super().__init__()
        first = layers[0]
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = share.stack(layers, "weight") if first.affine else None
        self.bias = share.stack(layers, "bias") if first.affine else None
        self.register_buffer("running_mean", share.stack(layers, "running_mean", parameter=False))
        self.register_buffer("running_var", share.stack(layers, "running_var", parameter=False))
        self.register_buffer("num_batches_tracked", share.stack(layers, "num_batches_tracked", parameter=False))

    def forward(self, x: Tensor) -> Tensor:
        S, B, C = x.shape
        if self.training:
            self.num_batches_tracked.add_(1)
        momentum = self.momentum
        if momentum is None:  # cumulative average, as BatchNorm1d(momentum=None)
            momentum = 1.0 / float(self.num_batches_tracked[0])
        flat = x.transpose(0, 1).reshape(B, S * C)  # channels of all runs side by side
        out = F.batch_norm(flat, self.running_mean.view(-1), self.running_var.view(-1),
                           None if self.weight is None else self.weight.reshape(-1),
                           None if self.bias is None else self.bias.reshape(-1),
                           self.training, momentum, self.eps)
        return out.reshape(B, S, C).transpose(0, 1)  # (S, B, C)


class StackedLayerNorm(nn.Module):
    """S ``LayerNorm`` layers over the last axis, each with its own affine parameters."""

    def __init__(self, layers: list[nn.LayerNorm], share: _Share):
        super().__init__()
        self.shape, self.eps = layers[0].normalized_shape, layers[0].eps
        self.weight = share.stack(layers, "weight") if layers[0].weight is not None else None
        self.bias = share.stack(layers, "bias") if layers[0].bias is not None else None

    def forward(self, x: Tensor) -> Tensor:
        out = F.layer_norm(x, self.shape, None, None, self.eps)
        if self.weight is not None:
            out = out * self.weight.unsqueeze(1)
        if self.bias is not None:
            out = out + self.bias.unsqueeze(1)
        return out


_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.ELU, nn.Identity, nn.Sigmoid)


def _stack_layer(layers: list[nn.Module], share: _Share) -> nn.Module:
    first = layers[0]
    if isinstance(first, nn.Linear):
        return StackedLinear(layers, share)
    if isinstance(first, nn.BatchNorm1d):
        return StackedBatchNorm(layers, share)
    if isinstance(first, nn.LayerNorm):
        return StackedLayerNorm(layers, share)
    if isinstance(first, _ELEMENTWISE):
        return first
    raise TypeError(f"cannot stack a {type(first).__name__} layer")


class StackedMLP(nn.Module):
    """S runs' MLP generators or discriminators as one network.

    A generator maps ``(S, B, noise_dim) -> (S, B, *sample_shape)``, a
    discriminator ``(S, B, *sample_shape) -> (S, B / m)``.

    Attributes:
        seeds: S, the number of stacked runs.
        pack: samples per discriminator input (PacGAN), 1 for generators.
        sample_shape: the shape of one sample.
    """

    def __init__(self, modules: list[nn.Module], share: _Share):
        super().__init__()
        self.seeds = len(modules)
        self.pack = pack_size(modules[0])
        inner = [m.inner if isinstance(m, Packed) else m for m in modules]
        if not all(isinstance(m, (MLPGenerator, MLPDiscriminator)) for m in inner):
            raise TypeError(f"only MLP models can be stacked; got {type(inner[0]).__name__}")
        self.generator = isinstance(inner[0], MLPGenerator)
        self.sample_shape = tuple(modules[0].sample_shape)
        self.n_classes = inner[0].n_classes
        if self.generator:
            self.noise_dim = inner[0].noise_dim
            self.out = inner[0].out
        elif self.n_classes:  # the projection head's class embeddings, one per run
            self.embed = StackedLinear([m.projection.embed for m in inner], share)
        n_layers = len(inner[0].net)
        self.net = nn.Sequential(*[_stack_layer([m.net[i] for m in inner], share) for i in range(n_layers)])

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        S, B = x.shape[:2]
        onehot = None if not self.n_classes else F.one_hot(y.long(), self.n_classes).to(x.dtype)  # (S, B, C)
        if self.generator:
            if onehot is not None:
                x = torch.cat([x, onehot], dim=-1)  # (S, B, noise_dim + C), as each run's G
            return self.out(self.net(x)).reshape(S, B, *self.sample_shape)
        x = x.reshape(S, B // self.pack, -1)  # m consecutive samples form a pack
        if onehot is None:
            return self.net(x).squeeze(-1)
        phi = self.net[:-1](x)  # (S, B, last hidden width)
        return self.net[-1](phi).squeeze(-1) + (self.embed(onehot) * phi).sum(-1)  # the projection head


def stackable(config: TrainConfig) -> bool:
    """Whether runs of this (resolved) config can be stacked: MLP models."""
    return config.model == "mlp"


# --------------------------------------------------------------------------- optimiser state


def _stack_state(optimizers: list[torch.optim.Optimizer], pairs, stacked: torch.optim.Optimizer) -> None:
    """Load the runs' optimiser states (keyed by their own tensors) into the stacked optimiser."""
    for P, singles in pairs:
        states = [opt.state.get(p) for opt, p in zip(optimizers, singles, strict=True)]
        if any(not st for st in states):
            continue
        stacked.state[P] = {k: torch.stack([st[k] for st in states]) if _per_element(states[0][k], singles[0])
                            else states[0][k].clone() if torch.is_tensor(states[0][k]) else states[0][k]
                            for k in states[0]}


def _unstack_state(stacked: torch.optim.Optimizer, pairs, optimizers: list[torch.optim.Optimizer]) -> None:
    """Write the stacked optimiser's state into each run's optimiser (over the runs' view tensors)."""
    for P, singles in pairs:
        st = stacked.state.get(P)
        if not st:
            continue
        for s, (opt, p) in enumerate(zip(optimizers, singles, strict=True)):
            opt.state[p] = {k: v[s].clone() if _per_element(v, P, stacked=True) else
                            (v.clone() if torch.is_tensor(v) else v) for k, v in st.items()}
    for opt in optimizers:
        for group, sgroup in zip(opt.param_groups, stacked.param_groups, strict=True):
            group["lr"] = sgroup["lr"]


def _per_element(value: Any, param: Tensor, stacked: bool = False) -> bool:
    return torch.is_tensor(value) and value.shape == param.shape and (not stacked or value.ndim >= 1)


# --------------------------------------------------------------------------- the stacked runs


class StackedRuns(Steps):
    """S runs of one config (built as single runs, at one iteration) stepped as one stacked network.

    It follows the stepping contract of :class:`~gankit.training.run.Run` (``critic_step``,
    ``generator_step``, ``iteration``, ``read_window``, ``state_dict``), so
    :func:`gankit.training.loop.fit` trains it as it trains one run. Every statistic has a leading
    axis of S; the metrics line of a logging step is the mean over the runs, and each run's own
    line is in :attr:`last_records`.

    Raises ``ValueError`` for what cannot be stacked: models other than MLPs, DiffAugment (each
    run's augmentations would need a stream per stacked run), fp16 (one loss scale would couple
    the runs) and runs at different iterations.
    """

    batch_axis = 1

    def __init__(self, runs: list[Run]):
        if not runs:
            raise ValueError("stacked runs: give at least one run")
        first = runs[0]
        if not stackable(first.config):
            raise ValueError(f"only MLP models can be trained as stacked seeds; {first.config.data} uses "
                             f"{first.config.model} (gankit runs image models one seed after another)")
        if first.augment is not None:
            raise ValueError("--augment cannot train stacked seeds yet (each seed's augmentations would need a "
                             "stream of their own per stacked run); train the seeds one by one")
        if first.config.amp == "fp16":
            raise ValueError("--amp fp16 cannot train stacked seeds: one loss scale would skip every seed's step "
                             "when one overflows, coupling the seeds; use --amp bf16 or off")
        steps = [r.step for r in runs]
        if len(set(steps)) > 1:
            raise ValueError(f"stacked runs must stand at one iteration; they stand at {steps}")
        self.runs = runs
        self.config = first.config
        self.ranks = Ranks()
        self.device, self.dataset, self.objective = first.device, first.dataset, first.objective
        self.constraint, self.joint, self.batch = first.constraint, first.joint, first.batch
        self.n_classes, self.augment = first.n_classes, None
        share_g, share_d = _Share(), _Share()
        self.G = StackedMLP([r.G for r in runs], share_g).to(self.device)
        self.D = StackedMLP([r.D for r in runs], share_d).to(self.device)
        cfg = self.config
        self.opt_g = make_optimizer(self.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
        self.opt_d = make_optimizer(self.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        _stack_state([r.opt_g for r in runs], share_g.params, self.opt_g)
        _stack_state([r.opt_d for r in runs], share_d.params, self.opt_d)
        self.ema = None
        if cfg.ema_decay:  # the runs' averages stacked too: one fused update for all seeds
            share_e = _Share()
            self.ema = EMA(StackedMLP([r.ema.model for r in runs], share_e).to(self.device), cfg.ema_decay,
                           copy=False, rampup=cfg.ema_rampup)
            share_e.make_views()
        self.update_d, self.update_g = Update(cfg.amp, self.device), Update(cfg.amp, self.device)
        share_g.make_views()
        share_d.make_views()
        self.pairs = {"g": share_g.params, "d": share_d.params}
        for r in runs:  # the runs' optimisers now hold the view tensors; their state is written at save time
            r.opt_g = make_optimizer(r.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
            r.opt_d = make_optimizer(r.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        self.window = Window.stacked([r.window for r in runs], self.device)
        self.step = steps[0]
        self.last_records: list[dict[str, Any]] = []

    # -- the inputs: the runs' own streams, stacked

    @property
    def noise_streams(self) -> list[torch.Generator]:
        return [r.noise_generator for r in self.runs]

    def noise(self, n: int) -> Tensor:
        return torch.stack([r.noise(n) for r in self.runs])  # (S, n, noise_dim)

    def real_batch(self) -> tuple[Tensor, Tensor | None]:
        pairs = [r.real_batch() for r in self.runs]
        x = torch.stack([p[0] for p in pairs])  # (S, M * m, ...)
        return x, None if pairs[0][1] is None else torch.stack([p[1] for p in pairs])  # (S, M)

    def generator_labels(self, n: int) -> Tensor | None:
        labels = [r.generator_labels(n) for r in self.runs]
        return None if labels[0] is None else torch.stack(labels)  # (S, n)

    def grad_norm_d(self) -> Tensor:
        return stacked_grad_norm(self.D, len(self.runs))  # (S,)

    def grad_norm_g(self) -> Tensor:
        return stacked_grad_norm(self.G, len(self.runs))  # (S,)

    # -- the outputs: per run, and their mean

    def sync_steps(self) -> None:
        """Set every run's step counter to the stack's."""
        for r in self.runs:
            r.step = self.step

    def read_window(self, window: Window, d_norm: Tensor, g_norm: Tensor, rate: float,
                    kept: Callable[[], str]) -> dict[str, Any]:
        """Each run's metrics line (in :attr:`last_records`) and their mean, returned; one host sync."""
        self.check_finite(window, kept)
        d = (window.d / max(window.d_count, 1)).tolist()  # (S, 4)
        g = (window.g / max(window.g_count, 1)).tolist()
        dn, gn = d_norm.tolist(), g_norm.tolist()
        window.reset()
        self.sync_steps()
        self.last_records = [r.make_record(d[s], g[s], dn[s], gn[s], rate) for s, r in enumerate(self.runs)]
        first = self.last_records[0]
        return {k: float(np.mean([rec[k] for rec in self.last_records])) for k in first
                if isinstance(first[k], (int, float))}

    def sample(self, n: int, *, data_units: bool = True, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples of every run, ``(S, n, ...)`` (each run's as :meth:`Run.sample` gives them)."""
        return torch.stack([r.sample(n, data_units=data_units, generator=generator) for r in self.runs])

    def state_dict(self) -> dict[str, Any]:
        """Every run's checkpoint at this iteration (``runs``, in order): the stacked optimiser state and
        window sums are written back into the runs first."""
        self.sync_steps()
        _unstack_state(self.opt_g, self.pairs["g"], [r.opt_g for r in self.runs])
        _unstack_state(self.opt_d, self.pairs["d"], [r.opt_d for r in self.runs])
        for s, r in enumerate(self.runs):
            r.window.load_state_dict(self.window.row(s))
        return {"step": self.step, "runs": [r.state_dict() for r in self.runs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load every run's checkpoint (as :meth:`state_dict` gives them) into the stack."""
        if len(state["runs"]) != len(self.runs):
            raise ValueError(f"the state holds {len(state['runs'])} runs; this stack has {len(self.runs)}")
        for r, st in zip(self.runs, state["runs"], strict=True):
            r.load_state_dict(st)  # the weights are copied into the views of the stacked tensors
        _stack_state([r.opt_g for r in self.runs], self.pairs["g"], self.opt_g)
        _stack_state([r.opt_d for r in self.runs], self.pairs["d"], self.opt_d)
        self.window = Window.stacked([r.window for r in self.runs], self.device)
        self.step = int(state["step"])
