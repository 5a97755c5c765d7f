r"""RMSProp in one pass over each tensor: the update of ``torch.optim.RMSprop`` run by PyTorch's fused Adam kernel.

RMSProp (Tieleman and Hinton 2012; the optimiser of the WGAN paper's Algorithm 1) with PyTorch's defaults
(no momentum, not centred, no weight decay) is

.. math::
    v_t = \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2, \qquad
    \theta_t = \theta_{t-1} - \eta\, \frac{g_t}{\sqrt{v_t} + \epsilon}.

Adam's update is the same with :math:`\beta_1 = 0` (its first moment is then :math:`g_t` itself),
:math:`\beta_2 = \alpha`, and both bias corrections :math:`1 - \beta^t` equal to 1, which they are,
exactly, at a step count so large that :math:`\beta^t` underflows to 0. PyTorch's fused Adam kernel
computes it in one pass over each tensor, where ``torch.optim.RMSprop`` makes five (and allocates one
tensor the size of the parameters): on one CPU core the step of the MLP WGAN critic of ``gankit bench``
(535 k parameters) took 0.23 ms against 0.61 to 0.99 ms, and the ``wgan`` preset trains 1.13x (MLPs on
Fashion-MNIST) and 1.14x (ring) the iterations per second (``benchmarks/README.md``, ``ablate.py``).

The square averages and parameters agree with ``torch.optim.RMSprop``'s to a few units in the last place
(the kernel rounds in another order), and stay as close to RMSProp computed in float64 as torch's own
(``tests/test_rmsprop.py``). The state (``step``, ``square_avg``) and ``state_dict`` are RMSprop's own, so
checkpoints load into either.
"""

from __future__ import annotations

from typing import Any

import torch


class FusedRMSprop(torch.optim.RMSprop):
    """``torch.optim.RMSprop(params, lr=lr)``, its step one fused kernel call per parameter group.

    Only PyTorch's default RMSProp (alpha 0.99, eps 1e-8, no momentum, not centred, no weight decay)
    is fused; :func:`fused_rmsprop_or_default` falls back to ``torch.optim.RMSprop`` where the kernel is
    missing (an older PyTorch, or an unsupported device or dtype).
    """

    def __init__(self, params, lr: float) -> None:
        super().__init__(params, lr=lr)
        self._far: dict[torch.device, torch.Tensor] = {}

    def _far_step(self, device: torch.device) -> torch.Tensor:
        """The step count the kernel reads: 1e30, so that its bias corrections 1 - beta^t are exactly 1."""
        if device not in self._far:
            self._far[device] = torch.tensor(1e30, dtype=torch.float32, device=device)
        return self._far[device]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["momentum"] or group["centered"] or group["weight_decay"] or group["maximize"]:
                raise ValueError("FusedRMSprop fuses only PyTorch's default RMSProp (no momentum, not centred, "
                                 "no weight decay, minimising)")
            params, grads, square_avgs, steps = [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RMSprop does not support sparse gradients")
                state = self.state[p]
                if not state:  # as torch.optim.RMSprop initialises it
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                params.append(p)
                grads.append(p.grad)
                square_avgs.append(state["square_avg"])
                steps.append(state["step"])
            if not params:
                continue
            torch._foreach_add_(steps, 1)
            far = [self._far_step(p.device) for p in params]
            # the gradients are also the first moments: with beta1 = 0 the kernel writes m = g in place
            torch._fused_adam_(params, grads, grads, square_avgs, [], far, lr=group["lr"], beta1=0.0,
                               beta2=group["alpha"], weight_decay=0.0, eps=group["eps"], amsgrad=False,
                               maximize=False)
        return loss


def _fused_kernel_runs(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether this PyTorch has the fused Adam kernel for ``device`` and ``dtype`` (one tiny call)."""
    if not hasattr(torch, "_fused_adam_"):
        return False
    try:
        p, g, v = (torch.ones(1, device=device, dtype=dtype) for _ in range(3))
        step = torch.tensor(1e30, dtype=torch.float32, device=device)
        torch._fused_adam_([p], [g], [g], [v], [], [step], lr=1.0, beta1=0.0, beta2=0.5, weight_decay=0.0,
                           eps=1e-8, amsgrad=False, maximize=False)
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    # v = 0.5 + 0.5 = 1, p = 1 - 1 / (1 + 1e-8): the kernel computed RMSProp's update
    return bool(torch.isclose(p, torch.zeros_like(p), atol=1e-6).all())


def fused_rmsprop_or_default(params: list, lr: float) -> torch.optim.Optimizer:
    """:class:`FusedRMSprop` where the fused kernel runs for every parameter's device and dtype, else
    ``torch.optim.RMSprop`` (the same update)."""
    kinds = {(p.device, p.dtype) for p in params}
    if kinds and all(_fused_kernel_runs(device, dtype) for device, dtype in kinds):
        return FusedRMSprop(params, lr=lr)
    return torch.optim.RMSprop(params, lr=lr)
