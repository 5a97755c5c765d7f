"""``TrainConfig``: one frozen dataclass describes a run completely.

Fields left as ``None`` take their preset's value (the objective's paper) or a
value chosen from the data (noise size, architecture); :meth:`TrainConfig.resolved`
fills them in, and the resolved config is what a run folder stores, so
``gankit train --config RUN/config.json`` reproduces the run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .models import ACTIVATIONS, ARCHITECTURES, D_NORMS
from .objectives import CONSTRAINTS, PRESET_SETTINGS, resolve
from .writing import write_text

OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "linear")
AMP_MODES = ("off", "bf16", "fp16")
# Fields a new --objective on top of a config file re-derives from its preset: the game's own settings.
# The run's size (iterations, batch size, widths) stays as the file says.
PRESET_FIELDS = ("constraint", "optimizer", "g_lr", "d_lr",
                 *(f for f in PRESET_SETTINGS if f not in ("iterations", "batch_size", "g_hidden", "d_hidden")))
# Fields a resumed run may change: they do not alter what the weights become.
# (A linear learning-rate schedule decays to the new T from where the run is.)
RESUMABLE = frozenset({"iterations", "log_every", "snapshot_every", "checkpoint_every",
                       "eval_every", "progress", "tensorboard", "device"})


def _what(value: Any) -> str:
    kinds = {bool: "true/false", str: "text", int: "an integer", float: "a decimal number", list: "a list",
             tuple: "a list", dict: "a table", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _typed(name: str, value: Any, hint: Any) -> Any:
    """``value`` as field ``name`` of type ``hint`` wants it, or a ``ValueError`` naming the field.

    Integers must be integers (``10.7`` and ``"10"`` are refused, not rounded or
    parsed), booleans must be booleans (``"false"`` is refused, not truthy),
    numbers must be numbers, and tuples come from lists or tuples only (never
    from a string split into characters). NumPy scalars of the right kind pass.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _typed(name, value, inner)

    def refuse(expected: str) -> ValueError:
        return ValueError(f"{name} must be {expected}; got {value!r} ({_what(value)})")

    if hint is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise refuse("true or false")
    if hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
            return int(value)
        raise refuse("an integer")
    if hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return float(value)
        raise refuse("a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise refuse("text")
    if origin is tuple:
        many = len(args) == 2 and args[1] is Ellipsis
        kind = "integers" if args[0] is int else "numbers"
        expected = f"a list of {kind}" if many else f"a list of {len(args)} {kind}"
        if not isinstance(value, (list, tuple)) or (not many and len(value) != len(args)):
            raise refuse(expected)
        try:
            return tuple(_typed(f"{name}[{i}]", v, args[0] if many else args[i]) for i, v in enumerate(value))
        except ValueError:
            raise refuse(expected) from None
    if origin is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return dict(value)
        raise refuse("a table of option: value")
    return value


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run.

    The seed's algorithms are ``objective="gan"`` / ``"minimax"`` (vanilla GAN)
    and ``objective="wgan"`` (RMSProp, c 0.01, K 5, M 64). Fields left as None
    take the preset's setting for the kind of data (:meth:`resolved`): the
    papers' settings for images, measured recipes for points (see
    :data:`gankit.objectives.PRESETS` and ``docs/benchmarks.md``).
    """

    # -- data
    data: str = "ring"  # a name from `gankit datasets` or a path (.npy/.npz/.csv/IDX/folder)
    data_dir: str | None = None  # where a named file-based data set lives
    data_options: dict[str, Any] = field(default_factory=dict)  # the data set's own options
    # -- the game and the Lipschitz constraint
    objective: str = "gan"  # preset (gan, minimax, wgan, wgan-gp, sngan, lsgan, pacgan, gan-r1) or a bare objective
    constraint: str | None = None  # none | clip | gradient-penalty | r1 | spectral-norm (None: the preset's)
    clip: float = 0.01  # c: weight clipping bound (WGAN)
    gp_weight: float | None = None  # lambda: gradient penalty weight, in the model's units (None: the preset's)
    r1_gamma: float | None = None  # gamma: R1 penalty weight (None: the preset's)
    r1_every: int | None = None  # apply R1 every N critic steps, scaled by N (lazy R1; None: the preset's)
    pack: int | None = None  # m: the discriminator scores m samples at once (PacGAN; None: the preset's)
    # -- models
    model: str | None = None  # mlp | dcgan (None: dcgan for images, mlp otherwise)
    noise_dim: int | None = None  # size of z (None: 100 for images, else max(2, d) up to 64)
    g_hidden: tuple[int, ...] | None = None  # MLP generator widths (None: the preset's)
    d_hidden: tuple[int, ...] | None = None  # MLP discriminator/critic widths (None: the preset's)
    activation: str = "relu"  # MLP hidden activation
    g_batchnorm: bool = False  # MLP generator: BatchNorm on hidden layers after the first
    d_norm: str | None = None  # none | batch | layer (None: batch for DCGAN without a penalty)
    width: int = 64  # DCGAN base channels
    # -- the training loop
    iterations: int | None = None  # T: generator updates (None: the preset's)
    d_steps: int | None = None  # K: discriminator/critic updates per generator update (None: the preset's)
    batch_size: int | None = None  # M: minibatch (of packs when pack > 1; None: the preset's)
    optimizer: str | None = None  # adam | rmsprop | sgd (None: the preset's)
    lr: float | None = None  # learning rate of both networks (None: the preset's)
    g_lr: float | None = None  # generator learning rate (None: lr)
    d_lr: float | None = None  # discriminator learning rate (None: lr)
    betas: tuple[float, float] | None = None  # Adam betas (None: the preset's)
    lr_schedule: str | None = None  # constant | linear (decay to 0 at T; None: the preset's)
    momentum: float = 0.0  # SGD momentum
    ema_decay: float = 0.0  # beta of the generator's weight EMA, sampled and evaluated when on (0: off)
    amp: str = "off"  # mixed precision of the forward passes: off | bf16 | fp16 (fp16 scales the loss)
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics over all ranks' batches (CUDA)
    seed: int = 0  # seeds model init, minibatches, noise and generated data
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # -- output
    log_every: int = 100  # iterations between metrics lines (the only host syncs)
    snapshot_every: int | None = None  # iterations between sample pictures (None: T/20)
    checkpoint_every: int = 1000  # iterations between checkpoints (one is always written at the end)
    eval_every: int = 0  # iterations between evaluation metrics (0: none)
    tensorboard: bool = True  # also log to TensorBoard (RUN/tensorboard)
    progress: bool = True  # show a progress bar with ETA and the latest losses

    def __post_init__(self) -> None:
        hints = _hints()
        for f in dataclasses.fields(self):  # strict types: no "64" -> (6, 4), no truthy "false", no 10.7 -> 11
            object.__setattr__(self, f.name, _typed(f.name, getattr(self, f.name), hints[f.name]))
        preset = resolve(self.objective)  # raises on an unknown name
        for name in ("constraint", "optimizer"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(preset, name))
        self._validate()

    def _validate(self) -> None:
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"{name} {rule}; got {getattr(self, name)!r}")

        def unset_or(name: str, ok) -> bool:
            return getattr(self, name) is None or ok(getattr(self, name))

        for name, rule in (("iterations", "(T)"), ("d_steps", "(K)"), ("batch_size", "(M)"),
                           ("pack", "(m)"), ("r1_every", "")):
            need(unset_or(name, lambda v: v >= 1), name, f"{rule} must be >= 1".lstrip())
        need(math.isfinite(self.clip) and self.clip > 0, "clip", "must be > 0")
        for name in ("gp_weight", "r1_gamma", "lr", "g_lr", "d_lr"):
            need(unset_or(name, lambda v: math.isfinite(v) and v > 0), name, "must be > 0")
        need(self.constraint in CONSTRAINTS, "constraint", f"must be one of {sorted(CONSTRAINTS)}")
        need(self.optimizer in OPTIMIZERS, "optimizer", f"must be one of {list(OPTIMIZERS)}")
        need(self.lr_schedule in (None, *LR_SCHEDULES), "lr_schedule", f"must be one of {list(LR_SCHEDULES)}")
        need(self.model in (None, *ARCHITECTURES), "model", f"must be one of {list(ARCHITECTURES)}")
        need(self.d_norm in (None, *D_NORMS), "d_norm", f"must be one of {list(D_NORMS)}")
        need(self.activation in ACTIVATIONS, "activation", f"must be one of {sorted(ACTIVATIONS)}")
        need(self.noise_dim is None or self.noise_dim >= 1, "noise_dim", "must be >= 1")
        need(unset_or("betas", lambda b: len(b) == 2 and all(0 <= v < 1 for v in b)), "betas",
             "must be two numbers in [0, 1)")
        need(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(self.momentum == 0 or self.optimizer == "sgd", "momentum",
             f"applies to optimizer sgd only; {self.optimizer} does not use it"
             + (" (Adam's momentum is betas[0])" if self.optimizer == "adam" else ""))
        need(0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1) (0: no EMA)")
        need(self.amp in AMP_MODES, "amp", f"must be one of {list(AMP_MODES)}")
        need(self.width >= 1, "width", "must be >= 1")
        need(unset_or("g_hidden", lambda h: all(w >= 1 for w in h)), "g_hidden", "must be positive widths")
        need(unset_or("d_hidden", lambda h: all(w >= 1 for w in h)), "d_hidden", "must be positive widths")
        need(self.log_every >= 1, "log_every", "must be >= 1")
        need(self.snapshot_every is None or self.snapshot_every >= 0, "snapshot_every", "must be >= 0")
        need(self.checkpoint_every >= 1, "checkpoint_every", "must be >= 1")
        need(self.eval_every >= 0, "eval_every", "must be >= 0")
        need(self.eval_every % self.log_every == 0, "eval_every",
             f"must be a multiple of log_every ({self.log_every}): evaluation runs at logging steps")
        dev = self.device
        need(dev in ("auto", "cpu", "mps") or dev == "cuda" or dev.startswith("cuda:"), "device",
             "must be auto, cpu, cuda or cuda:N")

    # -- derived values

    def resolved(self, kind: str, sample_shape: tuple[int, ...]) -> TrainConfig:
        """Fill the fields left as None for data of this kind (``"points"`` or ``"image"``) and shape.

        The preset's settings for that kind come first (:meth:`Preset.settings`),
        then the rules that depend on the shape (model, noise size, norms,
        snapshots). A resolved config resolves to itself.
        """
        preset = resolve(self.objective)
        settings = preset.settings(kind)
        fill = {name: value for name, value in settings.items() if getattr(self, name) is None}
        if "betas" in fill and self.optimizer != preset.optimizer:
            fill["betas"] = (0.9, 0.999)  # Adam's own defaults under another optimiser
        cfg = dataclasses.replace(self, **fill)
        image = kind == "image"
        model = cfg.model or ("dcgan" if image and sample_shape[-1] >= 8 else "mlp")
        d = math.prod(sample_shape)
        noise_dim = cfg.noise_dim or (100 if image else min(max(2, d), 64))
        penalised = cfg.constraint in ("gradient-penalty", "r1")
        d_norm = cfg.d_norm or ("batch" if model == "dcgan" and not penalised else
                                "layer" if model == "dcgan" else "none")
        snapshot_every = cfg.snapshot_every
        if snapshot_every is None:
            snapshot_every = max(1, cfg.iterations // 20)
        return dataclasses.replace(cfg, model=model, noise_dim=noise_dim, d_norm=d_norm,
                                   snapshot_every=snapshot_every, g_lr=cfg.g_lr or cfg.lr, d_lr=cfg.d_lr or cfg.lr)

    # -- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {unknown}; valid fields: {sorted(names)}")
        try:
            return cls(**values)
        except ValueError as e:
            raise ValueError(f"{source}: {e}" if source != "config" else str(e)) from None

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a JSON or TOML config file (a run folder's ``config.json`` works)."""
        path = Path(path)
        try:
            text = path.read_text()
            if path.suffix == ".toml":
                import tomllib  # Python >= 3.11

                values = tomllib.loads(text)
            else:
                values = json.loads(text)
        except (OSError, ValueError, ImportError) as e:
            raise ValueError(f"{path}: cannot read config ({e})") from e
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a config must be a table/object of fields")
        return cls.from_dict(values, source=str(path))

    def save(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self's, other's)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
