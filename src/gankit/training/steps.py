"""One step of the seed's loop: a critic update, a generator update, and what they share.

:func:`discriminator_step` and :func:`generator_step` are the two updates of
the seed's algorithms ("Vanilla GAN training", "W-GAN training"), for every
objective and constraint; :class:`Update` is their backward pass and optimiser
step (mixed precision, several ranks); :class:`Window` sums their statistics
on the device between two logging steps. A batch of S stacked runs
(:mod:`gankit.training.stacked`) passes ``batch_axis=1``: every quantity then
has a leading axis of S.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..distributed import Ranks
from ..models import pack_size
from ..models.conditional import class_loss
from ..objectives import Constraint, Objective
from .rmsprop import fused_rmsprop_or_default


def grad_norm(module: nn.Module) -> Tensor:
    """The global L2 norm of the module's gradients (a device tensor; no host sync)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def stacked_grad_norm(module: nn.Module, runs: int) -> Tensor:
    """One gradient norm per run of a stacked module (every parameter has a leading axis of ``runs``): ``(S,)``."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(runs)
    return torch.linalg.vector_norm(torch.stack([g.flatten(1).norm(dim=1) for g in grads]), dim=0)


class WithLabels:
    """``D(x, y)`` as a function of ``x`` alone, for fixed labels ``y``: what the penalties differentiate.

    Any other attribute is ``D``'s (``pack``, ``sample_shape``).
    """

    def __init__(self, D: nn.Module, labels: Tensor):
        self.D, self.labels = D, labels

    def __call__(self, x: Tensor) -> Tensor:
        return self.D(x, self.labels)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.D, name)


def _score_both(D: nn.Module, real: Tensor, fake: Tensor, joint: bool, labels: Tensor | None = None,
                axis: int = 0, logits: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    """D on real and fake (both of class ``labels`` when conditional); one batched call unless D normalises
    over the batch. Returns the real scores, the fake scores and, with ``logits``, D's class logits of the
    real half (else None).

    The batch axis is ``axis``: the first, or the second for S stacked runs (``(S, B, ...)``).
    """
    def score(x: Tensor, y: Tensor | None, with_logits: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        return D(x) if y is None else D(x, y, logits=True) if with_logits else D(x, y)

    if joint:
        both = None if labels is None else torch.cat([labels, labels], dim=axis)
        out = score(torch.cat([real, fake], dim=axis), both, logits)  # scores of both halves (one per pack)
        out, class_logits = out if logits else (out, None)
        m = pack_size(D)
        n_real, n_fake = real.shape[axis] // m, fake.shape[axis] // m
        real_out, fake_out = out.split((n_real, n_fake), dim=-1)  # views; backward is one cat
        if class_logits is not None:
            class_logits = class_logits.narrow(axis, 0, n_real)
        return real_out, fake_out, class_logits
    real_out, class_logits = score(real, labels, True) if logits else (score(real, labels), None)
    return real_out, score(fake, labels), class_logits


_HALF = (torch.float16, torch.bfloat16)
_NULL = contextlib.nullcontext()  # reusable: full precision costs nothing per step


def _fp32(t: Tensor) -> Tensor:
    """Scores under autocast come out in half precision; losses and logs are computed in float32."""
    return t.float() if t.dtype in _HALF else t


class Update:
    """loss -> gradients -> their mean over the ranks -> the optimiser's step, in mixed precision if asked.

    ``amp="bf16"`` or ``"fp16"`` runs the forward passes under :func:`torch.autocast`;
    fp16 also scales the loss (:class:`torch.amp.GradScaler`) so that small
    gradients do not underflow, and skips a step whose gradients overflowed.
    Penalties differentiate D in float32 outside autocast
    (:func:`gankit.objectives._input_gradient`), so they are exact under scaling.
    Under torchrun the gradients are averaged over the ranks before the step
    (:mod:`gankit.distributed`). With the defaults it is ``loss.backward(); step()``.

    Args:
        amp: off, bf16 or fp16.
        device: where the networks are.
        ranks: the processes of a torchrun'd run (default: one).
    """

    DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, amp: str = "off", device: torch.device | str = "cpu", ranks: Ranks | None = None):
        if amp not in self.DTYPES:
            raise ValueError(f"amp must be one of {list(self.DTYPES)}; got {amp!r}")
        self.dtype = self.DTYPES[amp]
        self.device_type = torch.device(device).type
        self.scaler = torch.amp.GradScaler(self.device_type) if amp == "fp16" else None
        self.ranks = ranks or Ranks()

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return _NULL
        return torch.autocast(self.device_type, dtype=self.dtype)

    def __call__(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()
        if self.ranks.enabled:
            self.ranks.average_gradients(p for group in optimizer.param_groups for p in group["params"])
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)  # unscales, and skips the step when a gradient is inf/NaN
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


_PLAIN = Update()


def discriminator_step(
    G: nn.Module,
    D: nn.Module,
    opt_d: torch.optim.Optimizer,
    objective: Objective,
    constraint: Constraint,
    real: Tensor,
    z: Tensor,
    *,
    joint: bool = True,
    generator: torch.Generator | None = None,
    regularise: bool = True,
    update: Update = _PLAIN,
    labels: Tensor | None = None,
    augment: Callable[[Tensor], Tensor] | None = None,
    batch_axis: int = 0,
    class_weight: float = 0.0,
    fake: Tensor | None = None,
) -> Tensor:
    r"""One discriminator/critic update; returns ``[loss, penalty, real stat, fake stat]``.

    The stats are mean D(x) and mean D(G(z)) for probabilistic objectives (the
    seed's D is the sigmoid of the logit), else the critic's mean scores.
    ``regularise=False`` leaves out the constraint's penalty on this step (lazy R1);
    ``update`` does the backward pass and the step (mixed precision, several ranks).
    A class-conditional run passes the real minibatch's ``labels``: the fakes
    are generated for the same classes, ``G(z, y)``, and both halves scored as
    ``D(x, y)`` (so a penalty between them compares like with like).
    ``augment`` (DiffAugment) transforms both halves before D sees them; the
    penalty is taken on what D sees. ``class_weight`` :math:`\lambda > 0` adds
    :math:`\lambda L_{cls}` of D's class logits on the real half to the loss
    (:func:`gankit.models.conditional.class_loss`). For S stacked runs (:mod:`gankit.training.stacked`,
    ``batch_axis=1``) every quantity has a leading axis of S, the result is ``(S, 4)``, and the
    losses are summed over runs, so each run's gradient is its own. ``fake``: the generated half when the
    caller drew it (``G(z[, labels])`` kept for the generator step; read here without its graph).
    """
    with update.autocast():
        if fake is None:
            with torch.no_grad():
                fake = G(z) if labels is None else G(z, labels)
        else:
            fake = fake.detach()
        if augment is not None:
            real, fake = augment(real), augment(fake)
        classify = bool(class_weight) and labels is not None
        real_out, fake_out, class_logits = _score_both(D, real, fake, joint, labels, batch_axis, classify)
        real_out, fake_out = _fp32(real_out), _fp32(fake_out)
        loss = objective.discriminator_loss(real_out, fake_out)  # scalar, or (S,)
        if classify:
            loss = loss + class_weight * class_loss(class_logits, labels)
    critic = D if labels is None else WithLabels(D, labels)
    penalty = constraint.penalty(critic, real, _fp32(fake), generator) if regularise else None
    opt_d.zero_grad(set_to_none=True)
    update((loss if penalty is None else loss + penalty).sum(), opt_d)
    constraint.after_step(D)
    with torch.no_grad():
        if objective.probabilistic:
            real_out, fake_out = torch.sigmoid(real_out), torch.sigmoid(fake_out)
        parts = [loss, torch.zeros_like(loss) if penalty is None else penalty, real_out.mean(-1), fake_out.mean(-1)]
        return torch.stack(parts, dim=-1).detach()  # (4,), or (S, 4)


def generator_step(
    G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, objective: Objective, z: Tensor | None,
    update: Update = _PLAIN, labels: Tensor | None = None, augment: Callable[[Tensor], Tensor] | None = None,
    real: Tensor | None = None, class_weight: float = 0.0, fake: Tensor | None = None,
) -> Tensor:
    r"""One generator update; D's own weight gradients are not computed. Returns the loss (or S losses).

    A class-conditional run asks for classes ``labels``, ``D(G(z, y), y)``;
    ``augment`` transforms the fakes before D sees them (DiffAugment: G learns through it).
    An objective whose generator loss sees the real scores (``generator_sees_real``, a
    relativistic game) is given those of ``real``, a real minibatch (of classes ``labels``),
    scored without a graph: they do not depend on G. Other objectives take no real minibatch.
    ``class_weight`` :math:`\lambda > 0` adds :math:`\lambda L_{cls}` of D's class logits on the
    generated samples, of the classes they were asked for. ``fake``: ``G(z[, labels])`` already computed
    with its graph (the critic step's samples, reused); ``z`` is then not read.
    """
    if objective.generator_sees_real and real is None:
        raise ValueError("generator_step: this objective's generator loss sees the real scores; pass real=, a real "
                         "minibatch")

    classify = bool(class_weight) and labels is not None

    def score(x: Tensor) -> Tensor:
        return _fp32(D(x) if labels is None else D(x, labels))

    D.requires_grad_(False)
    try:
        with update.autocast():
            if fake is None:
                fake = G(z) if labels is None else G(z, labels)
            if augment is not None:
                fake = augment(fake)
            if classify:  # the fakes' scores and D's class logits of them, from one forward
                fake_out, class_logits = D(fake, labels, logits=True)
                fake_out = _fp32(fake_out)
            else:
                fake_out = score(fake)
            if objective.generator_sees_real:
                with torch.no_grad():
                    real_out = score(real if augment is None else augment(real))
                loss = objective.generator_loss(real_out, fake_out)
            else:
                loss = objective.generator_loss(fake_out)
            if classify:
                loss = loss + class_weight * class_loss(class_logits, labels)
        opt_g.zero_grad(set_to_none=True)
        update(loss.sum(), opt_g)
    finally:
        D.requires_grad_(True)
    return loss.detach()


def make_optimizer(params, name: str, lr: float, betas: tuple[float, float], momentum: float):
    """Adam, RMSProp or SGD by name (RMSProp with PyTorch defaults, as the WGAN code).

    Adam and SGD use PyTorch's fused kernels (one pass over each tensor) where the
    installed version supports them on the parameters' device (Adam on CPU: about
    5x faster per step than the default). RMSProp has no fused kernel of its own:
    :class:`~gankit.training.rmsprop.FusedRMSprop` runs its update through the fused
    Adam kernel (the same update; the `wgan` preset 1.13x to 1.14x faster per iteration on a CPU core).
    """
    params = list(params)
    if name == "adam":
        return _fused_or_default(torch.optim.Adam, params, lr=lr, betas=betas)
    if name == "rmsprop":
        return fused_rmsprop_or_default(params, lr)
    if name == "sgd":
        return _fused_or_default(torch.optim.SGD, params, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose from adam, rmsprop, sgd")


def _fused_or_default(cls, params: list, **kwargs: Any) -> torch.optim.Optimizer:
    """``cls(params, fused=True)`` where this PyTorch has the fused kernel for these parameters, else the default."""
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device/dtype or this version
        return cls(params, **kwargs)


def lr_factor(schedule: str, t: int, iterations: int) -> float:
    r"""The learning-rate multiplier of generator iteration ``t`` (from 0) of ``T = iterations``.

    .. math::
        \text{constant: } 1, \qquad \text{linear: } 1 - t / T

    The linear schedule decays to 0 at T (as Mimicry and StudioGAN do); the K
    discriminator steps of iteration t use the same rate as its generator step.
    """
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return max(0.0, 1.0 - t / iterations)
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose from constant, linear")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr




class Window:
    """Device-side sums of the step statistics between two logging steps (no host sync per step).

    The sums are part of the checkpoint, so that the metrics line of the interval a run
    was stopped in is the mean over the whole interval once it is resumed.
    """

    def __init__(self, device: torch.device):
        self.device = device
        # the first update with a non-finite loss: 2 t for a critic update of iteration t, 2 t + 1 for its
        # generator update (-1: none); kept on the device, read at the checks
        self.bad_at = torch.full((), -1, dtype=torch.long, device=device)
        self.reset()

    def reset(self) -> None:
        self.d: Tensor | float = 0.0  # (4,), or (S, 4) for stacked runs
        self.g: Tensor | float = 0.0  # (), or (S,)
        self.d_count = self.g_count = 0

    def add(self, d_stats: Tensor | None, g_loss: Tensor | None, step: int) -> None:
        """Accumulate one step's statistics; remember the first update with a non-finite loss."""
        if d_stats is not None:
            self.d = self.d + d_stats
            self.d_count += 1
            bad, side = ~torch.isfinite(d_stats[..., :2]).all(), 0
        else:
            self.g = self.g + g_loss
            self.g_count += 1
            bad, side = ~torch.isfinite(g_loss).all(), 1
        self.bad_at = torch.where(bad & (self.bad_at < 0), 2 * step + side, self.bad_at)

    @property
    def bad_step(self) -> Tensor:
        """The first iteration (from 0) with a non-finite loss, -1 for none (a device tensor)."""
        return torch.div(self.bad_at, 2, rounding_mode="floor")

    def non_finite(self, bad_at: int) -> str:
        """Which quantity the update ``bad_at`` (as :attr:`bad_at` counts them) made non-finite: ``"g_loss"``
        for a generator update; for a critic update ``"d_loss"``, or ``"penalty"`` when the loss of the
        interval's critic updates stayed finite and only their penalty did not."""
        if bad_at % 2 or not self.d_count:
            return "g_loss"
        d = torch.as_tensor(self.d).reshape(-1, 4)  # (S, 4): [loss, penalty, real, fake] summed
        return "penalty" if bool(torch.isfinite(d[:, 0]).all()) else "d_loss"

    def state_dict(self) -> dict[str, Any]:
        """The partial sums, on the CPU."""
        return {"d": _to(self.d, "cpu"), "g": _to(self.g, "cpu"), "d_count": self.d_count, "g_count": self.g_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.d, self.g = _to(state["d"], self.device), _to(state["g"], self.device)
        self.d_count, self.g_count = int(state["d_count"]), int(state["g_count"])

    def row(self, s: int) -> dict[str, Any]:
        """Run ``s``'s sums of a window of stacked runs (``d`` of shape ``(S, 4)``), as :meth:`state_dict`."""
        state = self.state_dict()
        return {**state, "d": _row(state["d"], s), "g": _row(state["g"], s)}

    @classmethod
    def stacked(cls, windows: list[Window], device: torch.device) -> Window:
        """One window of stacked runs from the runs' own windows (at the same iteration)."""
        out = cls(device)
        if windows[0].d_count or windows[0].g_count:
            out.load_state_dict({**windows[0].state_dict(),
                                 "d": _stack([w.d for w in windows]), "g": _stack([w.g for w in windows])})
        return out


def _to(value: Tensor | float, device: torch.device | str) -> Tensor | float:
    return value.detach().to(device) if torch.is_tensor(value) else value


def _row(value: Tensor | float, s: int) -> Tensor | float:
    return value[s].clone() if torch.is_tensor(value) else value


def _stack(values: list[Tensor | float]) -> Tensor:
    return torch.stack([torch.as_tensor(v) for v in values])

