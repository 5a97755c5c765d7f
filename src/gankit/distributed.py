r"""One run on N processes with torch.distributed: ``torchrun --nproc_per_node N -m gankit train ...``.

Data parallelism over the minibatch. With W ranks, each of the K critic steps
and the generator step of an iteration draws M / W real samples and M / W noise
vectors on every rank, from the rank's own streams (seeds derived from the run
seed and the rank; rank 0 draws exactly what a single process would). Each rank
computes its loss on its slice; the gradients are averaged over the ranks before
every optimiser step,

.. math::
    g = \frac{1}{W} \sum_{r=1}^{W} \nabla_\phi \frac{W}{M} \sum_{i \in B_r} \ell_i
      = \nabla_\phi \frac{1}{M} \sum_{i \in B} \ell_i,

which is the gradient of the global minibatch: every rank applies the same
update to the same weights, so the weights stay identical without being sent.

Why the gradients are averaged here rather than by ``DistributedDataParallel``:
the gradient penalty and R1 differentiate the critic with respect to its inputs
(``torch.autograd.grad(..., create_graph=True)``), which DDP's reducer does not
support; weight clipping and spectral norm act on the weights after the step.
One all-reduce of the flattened gradients per step is what DDP would send, with
none of its pitfalls: penalties are exact, clipping and spectral-norm vectors
stay identical on every rank (they are functions of identical weights), and the
loop is the same on one process and on many. BatchNorm statistics are per rank
unless ``--sync-batchnorm``.

The backend is gloo on CPU and NCCL on CUDA, picked from the device. Rank 0
alone writes the run folder; a checkpoint holds every rank's random streams, so
``--resume`` under torchrun with the same number of processes continues exactly.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

log = logging.getLogger(__name__)

_FLAGS: Any = None  # the process group of Ranks.any, made on first use (by every rank at the same point)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: its rank, the world size and its device's index on the node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the run folder."""
        return self.rank == 0

    # -- set-up

    @classmethod
    def from_environment(cls, device: str = "auto") -> Ranks:
        """The ranks torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); one process without them.

        Initialises the default process group once: NCCL when the run is on CUDA,
        gloo otherwise. The group is left at exit (:func:`shutdown`, registered
        with ``atexit``) even when the caller never calls it: a gloo group still
        alive while the interpreter is torn down can abort the process
        ("terminate called without an active exception") after a finished run.
        """
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            cuda = device != "cpu" and device != "mps" and torch.cuda.is_available()
            if cuda:
                torch.cuda.set_device(local)
            dist.init_process_group("nccl" if cuda else "gloo")
            atexit.register(shutdown)
        return cls(rank, world, local)

    def device(self, device: torch.device) -> torch.device:
        """One GPU per rank on a node (``cuda:LOCAL_RANK``); the CPU is shared."""
        if self.enabled and device.type == "cuda" and device.index is None:
            return torch.device("cuda", self.local_rank)
        return device

    def local_batch(self, batch: int, what: str = "--batch-size") -> int:
        """M / W, refusing a global minibatch the ranks cannot share evenly."""
        if batch % self.world:
            raise ValueError(f"{what} {batch} cannot be split over {self.world} processes: the global minibatch "
                             f"is shared evenly, so it must be a multiple of {self.world}")
        return batch // self.world

    def stream_seed(self, seed: int, stream: int) -> int:
        """The seed of random stream ``stream`` (1: data, 2: noise) on this rank.

        Rank 0 uses ``seed + stream``, as a single process does; other ranks get
        independent streams derived from (seed, stream, rank).
        """
        if self.rank == 0:
            return seed + stream
        return int(np.random.SeedSequence([seed, stream, self.rank]).generate_state(1, np.uint64)[0] >> 1)

    # -- collectives (no-ops on one process)

    def broadcast_parameters(self, module: nn.Module) -> None:
        """Rank 0's weights and buffers on every rank (they agree by seeding; this makes sure)."""
        if self.enabled:
            with torch.no_grad():
                for t in [*module.parameters(), *module.buffers()]:
                    dist.broadcast(t.data, src=0)

    def average_gradients(self, params: Iterable[Tensor]) -> None:
        """Replace each gradient by its mean over the ranks: one all-reduce of the flattened gradients."""
        if not self.enabled:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def mean(self, value: Tensor) -> Tensor:
        """The mean over the ranks of a tensor of the same shape on every rank."""
        if not self.enabled:
            return value
        value = value.clone()
        dist.all_reduce(value)
        return value / self.world

    def max(self, value: Tensor) -> Tensor:
        """The elementwise maximum over the ranks."""
        if not self.enabled:
            return value
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return value

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (a small all-reduce on the CPU, so no device sync).

        The training loop asks this once per iteration, so that a Ctrl-C or SIGTERM
        seen by one rank stops every rank after the same iteration.
        """
        if not self.enabled:
            return flag
        global _FLAGS
        if _FLAGS is None:  # a gloo group beside NCCL's: the flag stays on the host
            _FLAGS = dist.new_group(backend="gloo")
        value = torch.tensor([int(flag)], dtype=torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=_FLAGS)
        return bool(value.item())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def sync_batchnorm(module: nn.Module, ranks: Ranks) -> nn.Module:
    """BatchNorm layers that normalise with statistics over all ranks' batches (CUDA only, as in PyTorch)."""
    if not ranks.enabled:
        return module
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        return module
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def shutdown() -> None:
    """Leave the process group (at the end of a torchrun'd command)."""
    global _FLAGS
    _FLAGS = None
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["Ranks", "shutdown", "sync_batchnorm"]
