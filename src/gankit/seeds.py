r"""Many runs as one: S seeds of one config trained together as stacked networks.

Every honest GAN result is a mean over seeds, and on small data a run is small:
its matrix products use a fraction of the machine and the per-step overhead
(Python, autograd bookkeeping, optimiser calls) dominates. :class:`SeedsTrainer`
stacks the S runs' MLPs into one network whose weights have a leading axis of
S, so each layer is one batched product for all runs:

.. math::
    h^{(s)}_{l} = \phi\big(h^{(s)}_{l-1} W^{(s)\top}_l + b^{(s)}_l\big),
    \qquad s = 1, \dots, S \quad \text{(one } \mathtt{baddbmm} \text{)}.

The runs stay independent in law, and equal to the single runs up to rounding:

* each run is built, seeded and fed exactly as ``Trainer`` builds a run with
  that seed: its own initialisation, data draw, minibatches, noise and penalty
  draws, from the same per-seed generators in the same order;
* the losses are summed over runs (each loss is a mean over its own batch), so
  the gradient of run s's weights is run s's gradient alone;
* Adam, RMSProp, SGD and weight clipping act element by element; batch norm
  keeps statistics per run; spectral norm runs one power iteration per run.

The single runs' networks hold *views* of the stacked weights, so each run is
still a ``Trainer`` of its own: it writes a normal run folder
(``RUN/seed-<k>/``) that ``gankit sample``, ``gankit eval`` and ``--resume`` accept.
Image models (DCGAN) are not stacked: :func:`train_seeds` runs them one after
another.

The seeds' checkpoints form one set: ``RUN/seeds.json``, the manifest, names the
iteration they all hold, and is replaced in one atomic write only once every
seed's checkpoint of the new iteration is on the disk (:meth:`SeedsTrainer.save`),
so a kill at any moment leaves a set that resumes exactly (:func:`settle`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from . import viz
from ._json import jsonable
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .data import load_dataset
from .distributed import Ranks
from .ema import EMA
from .models import MLPDiscriminator, MLPGenerator, Packed, pack_size
from .presets import default_recipe
from .runfolder import SEEDS_FILE, read_metrics
from .runlock import RunLock, check_unlocked
from .training import CHECKPOINT, Trainer, Update, Window, default_run_dir, make_optimizer
from .writing import remove_partial_writes, write_text

log = logging.getLogger(__name__)

_MAX_SEEDS = 4096


# --------------------------------------------------------------------------- seeds on the command line


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"0-15"``, ``"3,7,11"`` or a mix (``"0-3,8"``); refuses empty, malformed and repeated seeds."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("--seeds: give seeds as A-B (a range, both ends included) or A,B,C; got nothing")
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"--seeds {text!r}: {part!r} is neither a seed (0, 1, ...) nor a range A-B")
        lo, hi = int(m.group(1)), int(m.group(2) if m.group(2) is not None else m.group(1))
        if hi < lo:
            raise ValueError(f"--seeds {text!r}: the range {part!r} runs backwards; write {hi}-{lo}")
        if hi - lo + len(seeds) >= _MAX_SEEDS:
            raise ValueError(f"--seeds {text!r}: more than {_MAX_SEEDS} seeds")
        seeds.extend(range(lo, hi + 1))
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"--seeds {text!r}: seed(s) {repeated} appear more than once")
    return seeds


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


# --------------------------------------------------------------------------- the trainer


class SeedsTrainer(Trainer):
    """Trains S seeds of one config as one stacked network with the same loop as :class:`Trainer`.

    Args:
        config: the runs' configuration (its ``seed`` is replaced by each seed).
        seeds: the seeds, distinct.
        run_dir: the folder; run k goes to ``run_dir/seed-<k>`` (default: :func:`default_run_dir`).
        callbacks: called at every logging step of every run as ``callback(run, record)``.
        runs: already built (e.g. resumed) runs to stack instead of building them.
        pictures: draw each run's final samples, curves and GIF, and ``seeds.png`` (the
            benchmark scores samples itself and leaves them out).

    Snapshots during training are off unless ``config.snapshot_every`` asks for
    them (S pictures each time); every run gets its final ``samples.png``.
    """

    def __init__(self, config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None, *,
                 callbacks=None, runs: list[Trainer] | None = None, pictures: bool = True):
        if config.snapshot_every is None:
            config = dataclasses.replace(config, snapshot_every=0)
        self.draw = pictures  # the runs' final pictures and seeds.png
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds: give at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds}: each seed at most once")
        self.seeds = seeds
        if run_dir is None:
            named = config
            if config.objective is None:  # named after the recipe the data's kind chooses
                ds = load_dataset(config.data, data_dir=config.data_dir, options=config.data_options, seed=config.seed)
                named = dataclasses.replace(config, objective=default_recipe(ds.kind))
            first_dir = default_run_dir(named)
            run_dir = first_dir.with_name(first_dir.name.rsplit("-s", 1)[0] + f"-seeds{seeds[0]}-{seeds[-1]}")
        self.run_dir = Path(run_dir)
        if runs is None:
            runs = []
            for s in seeds:
                run = Trainer(dataclasses.replace(config, seed=s), self.run_dir / f"seed-{s}",
                              callbacks=list(callbacks or []), ranks=Ranks())
                if not runs:
                    check_memory(run, len(seeds))
                runs.append(run)
        self.runs = runs
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
        self.config = dataclasses.replace(first.config, seed=seeds[0])
        self.ranks = Ranks()
        self.device, self.dataset, self.objective = first.device, first.dataset, first.objective
        self.constraint, self.joint, self.batch = first.constraint, first.joint, first.batch
        self.n_classes, self.augment = first.n_classes, None
        self.callbacks = []
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
        self._pairs = {"g": share_g.params, "d": share_d.params}
        for r in runs:  # the runs' optimisers now hold the view tensors; their state is written at save time
            r.opt_g = make_optimizer(r.G.parameters(), cfg.optimizer, cfg.g_lr, cfg.betas, cfg.momentum)
            r.opt_d = make_optimizer(r.D.parameters(), cfg.optimizer, cfg.d_lr, cfg.betas, cfg.momentum)
        self.noise_generator = [r.noise_generator for r in runs]
        self.window = Window.stacked([r.window for r in runs], self.device)
        self.step = runs[0].step
        if any(r.step != self.step for r in runs):
            raise ValueError(_uneven(self.run_dir, {s: r.step for s, r in zip(seeds, runs, strict=True)}))
        self.records: list[dict[str, Any]] = []
        self.parts = [_EachRun()]

    # -- what differs from one run: several streams, several folders

    def sampler(self) -> Tensor:  # type: ignore[override]
        return torch.stack([r.sampler() for r in self.runs])  # (S, M * m, ...)

    def noise(self, n: int) -> Tensor:
        return torch.stack([r.noise(n) for r in self.runs])  # (S, n, noise_dim)

    def real_batch(self) -> tuple[Tensor, Tensor | None]:
        pairs = [r.real_batch() for r in self.runs]
        x = torch.stack([p[0] for p in pairs])  # (S, M * m, ...)
        return x, None if pairs[0][1] is None else torch.stack([p[1] for p in pairs])  # (S, M)

    def generator_labels(self, n: int) -> Tensor | None:
        labels = [r.generator_labels(n) for r in self.runs]
        return None if labels[0] is None else torch.stack(labels)  # (S, n)

    def _sync(self) -> None:
        for r in self.runs:
            r.step = self.step

    def _start(self) -> None:
        if self.step == 0:
            held = [r.run_dir for r in self.runs if (r.run_dir / CHECKPOINT).exists()]
            if held or manifest_step(self.run_dir) is not None:
                raise FileExistsError(f"{held[0] if held else self.run_dir} already holds a run; continue the seeds "
                                      f"with --resume {self.run_dir}, or choose another --out (or --overwrite)")
        self._lock = RunLock.acquire_for(self.run_dir)  # the root's files; each run locks its own folder
        settle(self.run_dir, self.seeds, self.step or None)  # drops what a killed save staged and never named
        self._write_manifest(self.step or None)
        self._sync()
        for r in self.runs:  # each run's own parts: its folder's config and metrics, its first snapshot
            r._start()

    def _log(self, window: Window, d_norm: Tensor, g_norm: Tensor, rate: float) -> dict[str, Any]:
        self._check_finite(window)
        d = (window.d / max(window.d_count, 1)).tolist()  # (S, 4): the host sync of this interval
        g = (window.g / max(window.g_count, 1)).tolist()
        dn, gn = d_norm.tolist(), g_norm.tolist()
        window.reset()
        self._sync()
        records = [r.emit(r.make_record(d[s], g[s], dn[s], gn[s], rate)) for s, r in enumerate(self.runs)]
        mean = {k: float(np.mean([rec[k] for rec in records])) for k in records[0]
                if isinstance(records[0][k], (int, float))}
        self.records.append(mean)
        return mean

    def _kept(self) -> str:
        return f"each seed's last good checkpoint under {self.run_dir} is kept (seeds {self.seeds})"

    def _write_manifest(self, step: int | None) -> None:
        """``seeds.json``: the seeds, their config and the iteration every seed's checkpoint holds (one atomic,
        durable write)."""
        write_text(self.run_dir / SEEDS_FILE, json.dumps({"seeds": self.seeds, "config": self.config.to_dict(),
                                                          "step": step}, indent=2) + "\n", durable=True)

    def save(self) -> Path:
        """Every seed's checkpoint of this iteration, as one set.

        Each seed's state is first written whole (and flushed) beside its checkpoint, as
        ``checkpoints/staged-<t>.pt``; then the manifest names iteration t; then each staged file is
        renamed over ``checkpoints/latest.pt``. Killed before the manifest, every seed still holds the
        iteration the manifest names; killed after it, each seed holds iteration t under one of the two
        names. :func:`settle` puts either case right before a resume.
        """
        self._sync()
        _unstack_state(self.opt_g, self._pairs["g"], [r.opt_g for r in self.runs])
        _unstack_state(self.opt_d, self._pairs["d"], [r.opt_d for r in self.runs])
        staged = []
        for s, r in enumerate(self.runs):
            r.window.load_state_dict(self.window.row(s))
            if r.folder is None:  # a run that writes no folder
                r.save()
                continue
            staged.append((save_checkpoint(r.state_dict(), _staged(r.run_dir, self.step)), r.folder.checkpoint))
        if staged:
            self._write_manifest(self.step)
            for path, checkpoint in staged:
                os.replace(path, checkpoint)
        return self.run_dir

    def snapshot(self) -> Path:
        self._sync()
        for r in self.runs:
            r.snapshot()
        return self.run_dir

    def finish(self) -> None:
        """Each run's pictures (a final snapshot where none was drawn), then the summary over seeds."""
        self._sync()
        if self.draw:
            for r in self.runs:
                if not r.frames:
                    r.snapshot()
                r.finish()
        summarise(self.run_dir, [r.run_dir for r in self.runs], figure=self.draw)

    @classmethod
    def resume(cls, run_dir: str | Path, callbacks=None, dataset=None, **overrides: Any) -> SeedsTrainer:
        """Continue every run of a seeds folder; only the fields :meth:`Trainer.resume` allows may change."""
        run_dir = Path(run_dir)
        check_unlocked(run_dir)
        seeds = read_seeds(run_dir)
        with RunLock(run_dir):
            step = settle(run_dir, seeds, manifest_step(run_dir))
        runs = [Trainer.resume(run_dir / f"seed-{s}", callbacks=callbacks, **overrides) for s in seeds]
        steps = {s: r.step for s, r in zip(seeds, runs, strict=True)}
        if step is not None and set(steps.values()) != {step}:
            raise ValueError(_uneven(run_dir, steps, step))
        trainer = cls(runs[0].config, seeds, run_dir, runs=runs)
        trainer.records = []
        return trainer


class _EachRun:
    """The stacked trainer's part: every run's own parts take each iteration's turn and the closing."""

    def step(self, trainer: SeedsTrainer) -> None:
        every = trainer.config.snapshot_every
        if every and trainer.step % every == 0:
            trainer._sync()
            for r in trainer.runs:
                r._call("step")

    def close(self, trainer: SeedsTrainer) -> None:
        for r in trainer.runs:
            r._call("close")
        lock = getattr(trainer, "_lock", None)
        if lock is not None:
            lock.release()
            trainer._lock = None


def _staged(run_dir: Path, step: int) -> Path:
    """Where :meth:`SeedsTrainer.save` writes a seed's checkpoint of iteration ``step`` before the manifest names it."""
    return run_dir / "checkpoints" / f"staged-{step}.pt"


def manifest_step(run_dir: str | Path) -> int | None:
    """The iteration every seed's checkpoint holds, as ``seeds.json`` names it (None: no checkpoint yet)."""
    path = Path(run_dir) / SEEDS_FILE
    try:
        step = json.loads(path.read_text()).get("step")
    except (OSError, ValueError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def settle(run_dir: str | Path, seeds: Sequence[int], step: int | None) -> int | None:
    """Bring a seeds folder back to the set of checkpoints of iteration ``step`` (the manifest's); returns ``step``.

    A staged checkpoint of ``step`` (a save killed after the manifest named it) is moved into place;
    staged checkpoints of other iterations (a save killed before the manifest named them) and the
    partial writes of a killed save are removed. Nothing else is touched.
    """
    for s in seeds:
        folder = Path(run_dir) / f"seed-{s}" / "checkpoints"
        if not folder.is_dir():
            continue
        remove_partial_writes(folder)
        for path in sorted(folder.glob("staged-*.pt")):
            if step is not None and path.name == _staged(folder.parent, step).name:
                os.replace(path, folder / "latest.pt")
            else:
                path.unlink()
    return step


def _uneven(run_dir: Path, steps: dict[int, int], step: int | None = None) -> str:
    named = f"; {SEEDS_FILE} names iteration {step}" if step is not None else ""
    return (f"{run_dir}: the seeds' checkpoints stand at different iterations "
            f"({', '.join(f'seed {s}: {t}' for s, t in steps.items())}){named}, so they cannot resume as one "
            "stacked run (one of them was resumed or replaced on its own, or the folder predates the manifest); "
            f"each seed folder still resumes on its own (gankit train --resume {run_dir}/seed-<k>), as a single "
            "run, which equals the stacked run up to rounding but not bit for bit")


def read_seeds(run_dir: str | Path) -> list[int]:
    """The seeds of a seeds folder (``RUN/seeds.json``)."""
    path = Path(run_dir) / SEEDS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: not a folder of seeds (no {SEEDS_FILE})")
    try:
        return [int(s) for s in json.loads(path.read_text())["seeds"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: malformed ({e})") from e


# --------------------------------------------------------------------------- memory


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")) if hasattr(os, "sysconf") else 2**40


def seed_bytes(run: Trainer) -> int:
    """A generous estimate of one stacked run's memory: weights, gradients and two optimiser moments,
    activations of the widest minibatch (with the double backward of a penalty), and its data."""
    cfg = run.config
    params = sum(p.numel() for p in run.G.parameters()) + sum(p.numel() for p in run.D.parameters())
    widths = sum(cfg.g_hidden) + sum(cfg.d_hidden) + 2 * math.prod(run.dataset.sample_shape)
    activations = 2 * run.batch * widths * 8  # real + fake, forward + backward, penalty
    return 4 * (4 * params + activations) + run.dataset.x.numel() * 4


def check_memory(run: Trainer, n_seeds: int, fraction: float = 0.8) -> None:
    """Refuse more seeds than fit in ``fraction`` of the device's free memory, saying how many fit."""
    per_seed = seed_bytes(run)
    budget = fraction * _available_bytes(run.device)
    if n_seeds * per_seed > budget:
        fit = max(0, int(budget // per_seed))
        raise ValueError(f"{n_seeds} seeds need about {n_seeds * per_seed / 2**30:.1f} GiB on {run.device}, "
                         f"{budget / 2**30:.1f} GiB are free: at most {fit} seeds fit; pass fewer --seeds")


# --------------------------------------------------------------------------- the API and the summary


def train_seeds(config: TrainConfig, seeds: Sequence[int], run_dir: str | Path | None = None,
                **kwargs: Any) -> tuple[list[nn.Module], list[Path]]:
    """Train ``config`` for every seed; returns each seed's generator and run folder (``run_dir/seed-<k>``).

    MLP runs are stacked (:class:`SeedsTrainer`); image models run one seed after another.

    Example:
        >>> from gankit import TrainConfig
        >>> from gankit.seeds import train_seeds
        >>> Gs, runs = train_seeds(TrainConfig(data="ring", iterations=10, progress=False), [0, 1, 2])  # doctest: +SKIP
    """
    first = Trainer(dataclasses.replace(config, seed=int(seeds[0])), Path(run_dir or "unused") / "probe")
    if stackable(first.config):
        trainer = SeedsTrainer(config, seeds, run_dir, **kwargs)
        trainer.fit()
        return [r.G for r in trainer.runs], [r.run_dir for r in trainer.runs]
    log.info("%s uses %s models: training the %d seeds one after another", config.data, first.config.model,
             len(seeds))
    root = Path(run_dir) if run_dir is not None else default_run_dir(config)
    generators, dirs = [], []
    for s in seeds:
        run = Trainer(dataclasses.replace(config, seed=int(s)), root / f"seed-{s}", **kwargs)
        generators.append(run.fit())
        dirs.append(run.run_dir)
    summarise(root, dirs)
    return generators, dirs


def summarise(root: str | Path, run_dirs: Sequence[Path], figure: bool = True) -> dict[str, Any]:
    """``summary.json`` (mean, std, min, max over seeds of each run's last metrics line) and ``seeds.png``."""
    root = Path(root)
    last: dict[str, dict[str, Any]] = {}
    for d in run_dirs:
        records = read_metrics(Path(d) / "metrics.jsonl")
        if records:
            last[Path(d).name] = records[-1]
    keys = sorted({k for rec in last.values() for k, v in rec.items() if isinstance(v, (int, float)) and k != "step"})
    stats = {}
    for k in keys:
        values = np.array([rec[k] for rec in last.values() if isinstance(rec.get(k), (int, float))], float)
        stats[k] = {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min()),
                    "max": float(values.max()), "n": len(values)}
    summary = {"runs": [str(Path(d).name) for d in run_dirs], "last": last, "over_seeds": stats}
    root.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    if figure:
        _seeds_figure(root / "seeds.png", run_dirs)
    return summary


def _seeds_figure(path: Path, run_dirs: Sequence[Path]) -> Path | None:
    pictures = [Path(d) / "samples.png" for d in run_dirs if (Path(d) / "samples.png").exists()]
    if not pictures:
        return None
    import matplotlib.image as mpimg

    cols = min(5, len(pictures))
    rows = math.ceil(len(pictures) / cols)
    fig = viz.new_figure(3.2 * cols, 2.7 * rows)
    for i, pic in enumerate(pictures):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(mpimg.imread(pic))
        ax.set_title(pic.parent.name, fontsize=8)
        ax.axis("off")
    return viz.save(fig, path)
