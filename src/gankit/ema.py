r"""An exponential moving average of the generator's weights.

.. math::
    \bar\theta_t = \beta\, \bar\theta_{t-1} + (1 - \beta)\, \theta_t, \qquad \bar\theta_0 = \theta_0,

so that :math:`\bar\theta_t = \beta^t \bar\theta_0 + (1 - \beta) \sum_{s=1}^{t} \beta^{t-s} \theta_s`:
a weighted average over the last :math:`\approx 1 / (1 - \beta)` generator steps
(Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN Training";
Karras et al. 2018, ProGAN, with beta = 0.999). The average is a second copy of
the generator, updated after every generator step and never trained; buffers
(BatchNorm statistics, spectral-norm vectors) are copied, not averaged.

On the 2-D mixtures it hurts (docs/benchmarks.md: the generator's modes move
between steps and the average lies between them), so the seed's presets leave
it off; on images it is in every modern baseline (StudioGAN).
"""

from __future__ import annotations

import copy as _copy

import torch
from torch import nn


class EMA:
    """The averaged copy of ``model`` with decay ``beta`` (``decay``), starting at ``model``'s weights.

    Args:
        model: the generator.
        decay: beta in [0, 1).
        copy: start from a copy of ``model`` (False: ``model`` already is the average, e.g. stacked runs'
            averages).
    """

    def __init__(self, model: nn.Module, decay: float, *, copy: bool = True):
        if not 0 <= decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1); got {decay!r}")
        self.decay = float(decay)
        self.model = _copy.deepcopy(model) if copy else model
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        r"""One step: :math:`\bar\theta \leftarrow \beta \bar\theta + (1 - \beta) \theta` (one fused call)."""
        averaged = list(self.model.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in model.parameters()], 1.0 - self.decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


__all__ = ["EMA"]
