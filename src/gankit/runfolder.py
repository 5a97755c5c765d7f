"""What a run leaves on disk: ``config.json``, ``metrics.jsonl``, TensorBoard and the checkpoint.

A part of the training loop (:class:`gankit.training.Trainer` calls its hooks):
the loop itself never touches a file. Under torchrun only rank 0 has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoint import save_checkpoint

CHECKPOINT = Path("checkpoints") / "latest.pt"


class RunFolder:
    """Writes one run's folder.

    Args:
        run_dir: the folder.
        tensorboard: also log the scalars to ``run_dir/tensorboard``.
    """

    def __init__(self, run_dir: str | Path, tensorboard: bool = False):
        self.run_dir = Path(run_dir)
        self.tensorboard = tensorboard
        self._writer = None

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    def start(self, trainer: Any) -> None:
        """Refuse to overwrite a finished run; write the config and the metrics kept so far."""
        if trainer.step == 0 and self.checkpoint.exists():
            raise FileExistsError(f"{self.run_dir} already holds a run; continue it with --resume "
                                  f"{self.run_dir}, or choose another --out (or --overwrite)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        trainer.config.save(self.run_dir / "config.json")
        # a resumed run drops the lines logged after its checkpoint
        (self.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in trainer.records))

    def record(self, trainer: Any, record: dict[str, Any]) -> None:
        """Append a metrics line (and its scalars to TensorBoard)."""
        with (self.run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, record["step"])

    def save(self, trainer: Any, state: dict[str, Any]) -> None:
        save_checkpoint(state, self.checkpoint)

    def kept(self) -> str:
        """What a failure leaves behind, for its message."""
        ckpt = self.checkpoint
        return f"the last good checkpoint {ckpt} is kept" if ckpt.exists() else "no checkpoint was written"

    def close(self, trainer: Any) -> None:
        if self._writer is not None:
            self._writer.flush()


__all__ = ["CHECKPOINT", "RunFolder"]
