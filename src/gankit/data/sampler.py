"""Minibatches drawn on the training device, without a per-sample Python loop."""

from __future__ import annotations

import torch
from torch import Tensor


class Sampler:
    """Draws minibatches of ``batch_size`` rows of a tensor held on ``device``.

    The data are copied to the device once; each call draws indices with
    ``torch.randint`` on that device (sampling with replacement, i.e. i.i.d.
    minibatches, as the training algorithms assume) and gathers the rows in
    one indexing operation. The generator's state is part of a checkpoint, so
    a resumed run draws the same batches as an uninterrupted one.

    Args:
        data: samples, shape ``(N, ...)``.
        batch_size: rows per minibatch (M).
        device: where the data and the batches live.
        seed: seeds the sampler's own ``torch.Generator``.
        labels: the samples' class labels, ``(N,)``, drawn with them by :meth:`pair`.
        flip: mirror each image left-right with probability 1/2 (drawn after the indices, from the same
            generator; images only).
    """

    def __init__(self, data: Tensor, batch_size: int, device: torch.device | str = "cpu", seed: int = 0,
                 labels: Tensor | None = None, flip: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        if len(data) < 1:
            raise ValueError("data must hold at least one sample")
        self.device = torch.device(device)
        self.data = data.to(self.device, torch.float32).contiguous()
        self.batch_size = batch_size
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        if labels is not None and len(labels) != len(data):
            raise ValueError(f"{len(labels)} labels for {len(data)} samples; give one label per sample")
        self.labels = None if labels is None else labels.to(self.device, torch.long).contiguous()
        if flip and self.data.ndim != 4:
            raise ValueError(f"flip mirrors images (N, C, H, W); these samples have shape {tuple(self.data.shape)}")
        self.flip = flip

    def _indices(self) -> Tensor:
        return torch.randint(len(self.data), (self.batch_size,), device=self.device, generator=self.generator)

    def _rows(self, idx: Tensor) -> Tensor:
        x = self.data.index_select(0, idx)  # (M, ...); faster than fancy indexing on CPU
        if self.flip:
            x = flip_images(x, torch.rand(len(idx), device=self.device, generator=self.generator) < 0.5)
        return x

    def __call__(self) -> Tensor:
        return self._rows(self._indices())

    def pair(self) -> tuple[Tensor, Tensor | None]:
        """A minibatch and its labels (None without labels), from one draw of indices."""
        idx = self._indices()
        x = self._rows(idx)  # (M, ...)
        return x, None if self.labels is None else self.labels.index_select(0, idx)  # (M,)

    def close(self) -> None:
        """Nothing to stop: the data are in memory (a streamed set's sampler stops its workers)."""

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])


def flip_images(x: Tensor, flip: Tensor) -> Tensor:
    """Images ``(n, C, H, W)`` with those where ``flip`` ``(n,)`` is true mirrored left-right."""
    return torch.where(flip.to(x.device).reshape(-1, 1, 1, 1), x.flip(-1), x)

