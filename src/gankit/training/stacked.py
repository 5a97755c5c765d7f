r"""S runs of one config stacked into one network, stepped by the same contract as one run.

Every honest GAN result is a mean over seeds, and on small data a run is small:
its matrix products use a fraction of the machine and the per-step overhead
(Python, autograd bookkeeping, optimiser calls) dominates. :class:`StackedRuns`
stacks S runs' networks into one whose weights have a leading axis of S, so
each layer is one batched call for all runs: a linear layer one batched
product (:mod:`gankit.training.stacked_layers`),

.. math::
    h^{(s)}_{l} = \phi\big(h^{(s)}_{l-1} W^{(s)\top}_l + b^{(s)}_l\big),
    \qquad s = 1, \dots, S \quad \text{(one } \mathtt{baddbmm} \text{)},

and a convolution of the image models (DCGAN, ResNet) one grouped convolution
over the runs' channels side by side (:mod:`gankit.training.stacked_conv`).

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
batch norm, layer norm; convolution, transposed convolution, group norm,
conditional batch norm and the residual blocks of the image models).

What does not stack is refused (:func:`unstackable`): networks of the user's own
(no stacked class knows them), DiffAugment (each run's augmentations would need a
stream per stacked run) and fp16 (one loss scale would couple the runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..config import TrainConfig
from ..distributed import Ranks
from ..ema import EMA
from ..models import MLPDiscriminator, MLPGenerator, Packed
from ..presets import ARCHITECTURES
from .run import Run, Steps
from .stacked_conv import stack_image_network
from .stacked_layers import Share, StackedMLP
from .steps import Update, Window, make_optimizer, stacked_grad_norm

# The models whose runs stack: every network family of gankit's own (a new one needs its stacked layers,
# :func:`stack_network`); networks of the user's own do not.
STACKABLE_MODELS = ARCHITECTURES

# --------------------------------------------------------------------------- what stacks


def stack_network(modules: list[nn.Module], share: Share) -> nn.Module:
    """S runs' generators or discriminators as one network: an MLP's layers stacked
    (:class:`~gankit.training.stacked_layers.StackedMLP`), an image network's grouped
    (:func:`~gankit.training.stacked_conv.stack_image_network`)."""
    first = modules[0].inner if isinstance(modules[0], Packed) else modules[0]
    if isinstance(first, (MLPGenerator, MLPDiscriminator)):
        return StackedMLP(modules, share)
    return stack_image_network(modules, share)


def unstackable(config: TrainConfig) -> str | None:
    """Why runs of this (resolved) config cannot be trained as stacked seeds, or None where they can."""
    if config.model not in STACKABLE_MODELS:
        return (f"{config.model!r} models cannot be trained as stacked seeds: gankit stacks its own networks "
                f"({', '.join(STACKABLE_MODELS)}); train your own networks one seed per run")
    if config.augment != "none":
        return (f"--augment {config.augment} cannot train stacked seeds yet (each seed's augmentations would need "
                "a stream of their own per stacked run); train the seeds one by one")
    if config.compile:
        return ("--compile cannot train stacked seeds yet (each seed would compile its own graphs); train the seeds "
                "one by one")
    if config.amp == "fp16":
        return ("--amp fp16 cannot train stacked seeds: one loss scale would skip every seed's step when one "
                "overflows, coupling the seeds; use --amp bf16 or off")
    return None


def stackable(config: TrainConfig) -> bool:
    """Whether runs of this (resolved) config can be stacked: gankit's own models (MLP, DCGAN, ResNet), without
    DiffAugment or fp16 (:func:`unstackable` says why not)."""
    return unstackable(config) is None


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

    Raises ``ValueError`` for what cannot be stacked (:func:`unstackable`: networks of the user's own,
    DiffAugment, fp16) and for runs at different iterations.
    """

    batch_axis = 1

    def __init__(self, runs: list[Run]):
        if not runs:
            raise ValueError("stacked runs: give at least one run")
        first = runs[0]
        why = unstackable(first.config)
        if why is not None:
            raise ValueError(why)
        steps = [r.step for r in runs]
        if len(set(steps)) > 1:
            raise ValueError(f"stacked runs must stand at one iteration; they stand at {steps}")
        self.runs = runs
        self.config = first.config
        self.ranks = Ranks()
        self.device, self.dataset, self.objective = first.device, first.dataset, first.objective
        self.constraint, self.joint, self.batch = first.constraint, first.joint, first.batch
        self.n_classes, self.augment = first.n_classes, None
        share_g, share_d = Share(), Share()
        self.G = stack_network([r.G for r in runs], share_g).to(self.device)
        self.D = stack_network([r.D for r in runs], share_d).to(self.device)
        cfg = self.config
        self.opt_g = make_optimizer(self.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
        self.opt_d = make_optimizer(self.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        _stack_state([r.opt_g for r in runs], share_g.params, self.opt_g)
        _stack_state([r.opt_d for r in runs], share_d.params, self.opt_d)
        self.ema = None
        if cfg.ema_decay:  # the runs' averages stacked too: one fused update for all seeds
            share_e = Share()
            self.ema = EMA(stack_network([r.ema.model for r in runs], share_e).to(self.device), cfg.ema_decay,
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

    def close_data(self) -> None:
        for r in self.runs:
            r.close_data()

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
