r"""An exponential moving average of the generator's weights.

.. math::
    \bar\theta_t = \beta\, \bar\theta_{t-1} + (1 - \beta)\, \theta_t, \qquad \bar\theta_0 = \theta_0,

so that :math:`\bar\theta_t = \beta^t \bar\theta_0 + (1 - \beta) \sum_{s=1}^{t} \beta^{t-s} \theta_s`:
a weighted average over the last :math:`\approx 1 / (1 - \beta)` generator steps
(Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training";
Karras et al. 2018, ProGAN, with beta = 0.999). The average is a second copy of
the generator, updated after every generator step and never trained; buffers
(BatchNorm statistics, spectral-norm vectors) are copied, not averaged.

Early in a run the weights move fast, and an average over the last
:math:`1 / (1 - \beta)` steps mixes in generators far worse than the current
one (on Fashion-MNIST after 2,000 DCGAN steps at beta = 0.999 the average
scored worse than the raw generator). With a ramp-up :math:`r` (StyleGAN2-ADA,
Karras et al. 2020) the average's half-life is at most :math:`r t` steps:

.. math::
    \beta_t = \min\big(\beta,\ 2^{-1 / (r t)}\big),

so it forgets the start of any run, however short.

A batch-normalised generator's averaged weights do not match the raw
generator's running statistics: sampled with them in eval mode, the average
is worse than the raw generator (on Fashion-MNIST after 2,000 DCGAN steps, FID
110 against 70). So before the average samples, :meth:`EMA.calibrated`
recomputes its batch-norm statistics from its own forward passes on fixed
noise ("standing statistics", Brock et al. 2019, Sec. 3.1 and App. C).

On the 2-D mixtures it hurts (docs/benchmarks.md: the generator's modes move
between steps and the average lies between them), so the seed's presets leave
it off; on images it is in every modern baseline (StudioGAN).
"""

from __future__ import annotations

import copy as _copy

import torch
from torch import nn

#: Noise draws (batches x size) of the standing statistics, from a fixed seed (no training stream is touched).
CALIBRATION_BATCHES, CALIBRATION_BATCH, CALIBRATION_SEED = 8, 128, 0


@torch.no_grad()
def standing_statistics(G: nn.Module, batches: int = CALIBRATION_BATCHES, batch_size: int = CALIBRATION_BATCH,
                        seed: int = CALIBRATION_SEED) -> None:
    """Recompute every batch norm's running mean and variance of generator ``G`` as the plain average over
    ``batches`` forward passes of ``batch_size`` noise draws (classes from ``G.class_prior`` when it is
    conditional), from a generator of its own seeded with ``seed``; ``G`` keeps its mode."""
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    device = next(G.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    momenta = [m.momentum for m in norms]
    training = G.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the passes
    G.train()
    try:
        for _ in range(batches):
            z = torch.randn(batch_size, G.noise_dim, device=device, generator=g)
            if getattr(G, "n_classes", 0):
                G(z, torch.multinomial(G.class_prior.float(), batch_size, replacement=True, generator=g))
            else:
                G(z)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        G.train(training)


class EMA:
    """The averaged copy of ``model`` with decay ``beta`` (``decay``), starting at ``model``'s weights.

    Args:
        model: the generator.
        decay: beta in [0, 1).
        copy: start from a copy of ``model`` (False: ``model`` already is the average, e.g. stacked runs'
            averages).
    """

    def __init__(self, model: nn.Module, decay: float, *, copy: bool = True, rampup: float = 0.0):
        if not 0 <= decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1); got {decay!r}")
        if not 0 <= rampup:
            raise ValueError(f"ema_rampup must be >= 0; got {rampup!r}")
        self.decay, self.rampup = float(decay), float(rampup)
        self.model = _copy.deepcopy(model) if copy else model
        self.model.requires_grad_(False)

    def beta(self, step: int | None = None) -> float:
        """The decay of the update after generator step ``step`` (from 1): ramped up when ``rampup`` > 0."""
        if not self.rampup or step is None:
            return self.decay
        return min(self.decay, 0.5 ** (1.0 / (self.rampup * max(step, 1))))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        r"""One step: :math:`\bar\theta \leftarrow \beta_t \bar\theta + (1 - \beta_t) \theta` (one fused call);
        ``step`` is the number of generator steps taken (the ramp-up's t)."""
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1.0 - self.beta(step))
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)

    def calibrated(self) -> nn.Module:
        """The averaged generator with batch-norm statistics of its own (see the module; the next
        :meth:`update` copies the raw generator's back); a generator without batch norm as it is."""
        standing_statistics(self.model)
        return self.model

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


__all__ = ["EMA", "standing_statistics"]
