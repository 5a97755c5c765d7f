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
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .presets import (
    ACTIVATION_NAMES,
    AMP_MODES,
    ARCHITECTURES,
    AUGMENTATION_NAMES,
    CONSTRAINT_NAMES,
    CUSTOM,
    D_NORMS,
    INPUT_GRADIENT_PENALTIES,
    LR_SCHEDULES,
    OBJECTIVE_NAMES,
    OPTIMIZERS,
    PRESET_SETTINGS,
    PRESETS,
    RECIPE_ONLY,
    clusters_for,
    default_recipe,
    objective_names,
    resolve,
    scale_to_modes,
)
from .writing import write_text

# The fields a preset fills when they are left as None: its game's pair, then its settings for the kind of data.
PRESET_FILLED = ("constraint", "optimizer", *PRESET_SETTINGS)
# Fields a new --objective on top of a config file re-derives from its preset: the game's own settings.
# The run's size (iterations, batch size, widths) stays as the file says.
PRESET_FIELDS = (*RECIPE_ONLY,
                 *(f for f in PRESET_FILLED if f not in ("iterations", "batch_size", "g_hidden", "d_hidden")))
# Snapshots by default: T / SNAPSHOTS iterations apart; for points never closer than POINTS_SNAPSHOT_EVERY. A
# points snapshot draws D's heat map with matplotlib (about 0.1 s, the time of 12 to 25 iterations of the points
# recipes on one CPU thread), so snapshots 500 iterations apart cost under 5% of the run; an image grid costs
# less than one iteration ("What the pictures cost" in docs/benchmarks.md).
SEED_MAX = 2**32 - 1  # seeds are 0 .. SEED_MAX (every random stream is the seed plus a small offset)
SNAPSHOTS = 20
POINTS_SNAPSHOT_EVERY = 500


class ConfigError(ValueError):
    """A field's value is refused: ``field`` names it and ``rule`` says why (``str(e)`` is ``f"{field} {rule}"``).

    The command line re-words it with the flag the user typed (``--d-steps``).
    """

    def __init__(self, name: str, rule: str):
        super().__init__(f"{name} {rule}")
        self.field, self.rule = name, rule


def _option(default: Any, help: str, *, choices: Sequence[str] | None = None, unset: str | None = None,
            metavar: str | None = None) -> Any:
    """A :class:`TrainConfig` field with its help text (``gankit train --help`` shows it), its valid names
    (``choices``) and what None means for it (``unset``; the fields of :data:`PRESET_FILLED` take the
    preset's value) and, where it helps, the flag's ``metavar``. A callable ``default`` is a default factory."""
    metadata = {"help": help, "choices": tuple(dict.fromkeys(choices)) if choices else None, "unset": unset,
                "metavar": metavar}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _policy(text: str) -> str:
    """An augmentation policy in canonical form: its transforms in :data:`AUGMENTATION_NAMES` order, or none."""
    if not isinstance(text, str):
        raise ConfigError("augment", f"must be text; got {text!r} ({_what(text)})")
    names = [p.strip() for p in text.split(",") if p.strip() and p.strip() != "none"]
    unknown = [n for n in names if n not in AUGMENTATION_NAMES]
    if unknown:
        raise ConfigError("augment", f"takes {', '.join(AUGMENTATION_NAMES)} (comma-separated) or none; got "
                                     f"{', '.join(unknown)}")
    return ",".join(a for a in AUGMENTATION_NAMES if a in names) or "none"


# Fields a resumed run may change: they do not alter what the weights become.
# (A linear learning-rate schedule decays to the new T from where the run is.)
RESUMABLE = frozenset({"iterations", "log_every", "snapshot_every", "checkpoint_every",
                       "eval_every", "progress", "tensorboard", "device"})


def _what(value: Any) -> str:
    kinds = {bool: "true/false", str: "text", int: "an integer", float: "a decimal number", list: "a list",
             tuple: "a list", dict: "a table", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _is_bool(value: Any) -> bool:
    """A Python or a NumPy boolean (a value can only be NumPy's if NumPy is loaded: it is not imported here)."""
    np = sys.modules.get("numpy")
    return isinstance(value, bool) or (np is not None and isinstance(value, np.bool_))


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
        return ConfigError(name, f"must be {expected}; got {value!r} ({_what(value)})")

    if hint is bool:
        if _is_bool(value):
            return bool(value)
        raise refuse("true or false")
    if hint is int:
        if isinstance(value, numbers.Integral) and not _is_bool(value):
            return int(value)
        raise refuse("an integer")
    if hint is float:
        if isinstance(value, numbers.Real) and not _is_bool(value):
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
            return tuple(_typed(name, v, args[0] if many else args[i]) for i, v in enumerate(value))
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
    :data:`gankit.presets.PRESETS` and ``docs/benchmarks.md``).
    """

    # -- data
    data: str = _option("ring", "a name from `gankit datasets` or a path (.npy/.npz/.csv/IDX/folder)",
                        metavar="NAME|PATH")
    data_dir: str | None = _option(None, "where a named file-based data set lives", unset="its standard place",
                                   metavar="DIR")
    data_options: dict[str, Any] = _option(dict, "the data set's own options (`gankit datasets` lists them)")
    # -- the game and the Lipschitz constraint
    objective: str | None = _option(None, "a preset (its recipe for the data's kind) or a bare objective "
                                          "(no constraint)", choices=(*PRESETS, *OBJECTIVE_NAMES),
                                    unset=f"the best measured recipe for the data: {default_recipe('image')} for "
                                          f"images, {default_recipe('points')} for points")
    constraint: str | None = _option(None, "how the critic is kept Lipschitz", choices=CONSTRAINT_NAMES)
    clip: float = _option(0.01, "c: weight clipping bound (WGAN)")
    gp_weight: float | None = _option(None, "lambda: gradient penalty weight, in the model's units")
    gp_every: int | None = _option(None, "apply the gradient penalty every N critic steps, scaled by N (lazy)")
    r1_gamma: float | None = _option(None, "gamma: R1 penalty weight")
    r1_every: int | None = _option(None, "apply R1 every N critic steps, scaled by N (lazy R1)")
    pack: int | None = _option(None, "m: the discriminator scores m samples at once (PacGAN)")
    conditional: bool = _option(False, "class-conditional G (conditional batch norm, or the one-hot class beside z) "
                                       "and D (projection head) on the data's labels")
    class_loss: float | None = _option(None, "lambda >= 0: D's projection head also classifies (cross-entropy of "
                                             "its class logits, real images in D's loss, generated ones in G's; "
                                             "Han et al. 2021); for class-conditional runs",
                                       unset="the recipe's for --conditional runs, else 0", metavar="LAMBDA")
    clusters: int | None = _option(None, "K > 0: class-conditional G and D on K k-means clusters of the data, "
                                         "which need no labels; sampling draws the clusters as often as the data "
                                         "fill them (0: off)", metavar="K")
    augment: str | None = _option(None, "DiffAugment of D's inputs, real and generated: comma-separated "
                                        f"{', '.join(AUGMENTATION_NAMES)}, or none", metavar="POLICY")
    flip: bool = _option(False, "mirror real images left-right with probability 1/2, for data whose mirror "
                                "images are as likely (garments, faces, scenes; not digits or text)")
    # -- models
    model: str | None = _option(None, "the network family", choices=ARCHITECTURES,
                                unset="the recipe's: dcgan for images of 8 pixels or more, else mlp")
    noise_dim: int | None = _option(None, "size of z", unset="100 for images, else max(2, d) up to 64")
    g_hidden: tuple[int, ...] | None = _option(None, "MLP generator widths")
    d_hidden: tuple[int, ...] | None = _option(None, "MLP discriminator/critic widths")
    activation: str = _option("relu", "MLP hidden activation", choices=ACTIVATION_NAMES)
    g_batchnorm: bool = _option(False, "MLP generator: BatchNorm on hidden layers after the first")
    d_norm: str | None = _option(None, "the discriminator's normalisation", choices=D_NORMS,
                                 unset="batch for DCGAN without a penalty, layer with one, none for MLPs")
    width: int | None = _option(None, "base channels of the image networks (DCGAN: of the first/last stage; "
                                      "ResNet: of every block)")
    # -- the training loop
    iterations: int | None = _option(None, "T: generator updates")
    d_steps: int | None = _option(None, "K: discriminator/critic updates per generator update")
    reuse_fakes: bool = _option(False, "the generator step scores the last critic step's samples (G runs K "
                                       "times per iteration, not K + 1, the last with its graph kept), as "
                                       "PyTorch's DCGAN example and PyTorch-GAN's wgan_gp.py; off: fresh noise "
                                       "for each, the seed's algorithm")
    batch_size: int | None = _option(None, "M: minibatch (of packs when pack > 1)")
    optimizer: str | None = _option(None, "the optimiser of both networks", choices=OPTIMIZERS)
    lr: float | None = _option(None, "learning rate of both networks")
    g_lr: float | None = _option(None, "generator learning rate", unset="lr")
    d_lr: float | None = _option(None, "discriminator learning rate", unset="lr")
    betas: tuple[float, float] | None = _option(None, "Adam betas")
    lr_schedule: str | None = _option(None, "constant, or linear decay to 0 at T", choices=LR_SCHEDULES)
    momentum: float = _option(0.0, "SGD momentum")
    ema_decay: float | None = _option(None, "beta of the generator's weight EMA, sampled and evaluated when on "
                                            "(0: off)")
    ema_rampup: float = _option(0.05, "the EMA's half-life is at most this fraction of the generator steps so far "
                                      "(StyleGAN2-ADA's ramp-up; 0: a constant decay)")
    compile: bool = _option(False, "compile the networks' forward passes with torch.compile (inductor; the first "
                                   "iterations wait for it); D stays eager under a gradient penalty or R1, whose "
                                   "double backward compiled graphs do not support")
    amp: str = _option("off", "mixed precision of the forward passes (fp16 scales the loss)", choices=AMP_MODES)
    sync_batchnorm: bool = _option(False, "under torchrun: BatchNorm statistics over all ranks' batches (CUDA)")
    seed: int = _option(0, "seeds model init, minibatches, noise and generated data")
    device: str = _option("auto", "auto, cpu, cuda or cuda:N", metavar="DEVICE")
    # -- output
    log_every: int = _option(100, "iterations between metrics lines (the only host syncs)")
    snapshot_every: int | None = _option(None, "iterations between sample pictures (0: none)",
                                         unset=f"T/{SNAPSHOTS}; for points at least {POINTS_SNAPSHOT_EVERY}")
    checkpoint_every: int = _option(1000, "iterations between checkpoints (one is always written at the end)")
    eval_every: int = _option(0, "iterations between evaluation metrics, at the first logging step at or after "
                                 "each multiple (0: none)")
    tensorboard: bool = _option(True, "also log to TensorBoard (RUN/tensorboard)")
    progress: bool = _option(True, "show progress: a bar on a terminal, a line per logging step elsewhere")

    def __post_init__(self) -> None:
        hints = _hints()
        for f in dataclasses.fields(self):  # strict types: no "64" -> (6, 4), no truthy "false", no 10.7 -> 11
            object.__setattr__(self, f.name, _typed(f.name, getattr(self, f.name), hints[f.name]))
        if self.objective is not None and self.objective not in (*PRESETS, *objective_names(), CUSTOM):
            raise ConfigError("objective", f"{self.objective!r} is unknown; choose a preset from {list(PRESETS)} "
                                           f"or an objective from {list(objective_names())}, or register it "
                                           "first: gankit.register_objective(name, objective)")
        if self.objective is not None:  # without one, the recipe is chosen with the data (resolved)
            preset = resolve(self.objective)
            for name in ("constraint", "optimizer"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, getattr(preset, name))
        if self.augment is not None:
            object.__setattr__(self, "augment", _policy(self.augment))
        self._validate()

    def _validate(self) -> None:
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ConfigError(name, f"{rule}; got {getattr(self, name)!r}")

        def unset_or(name: str, ok) -> bool:
            return getattr(self, name) is None or ok(getattr(self, name))

        for name, rule in (("iterations", "(T)"), ("d_steps", "(K)"), ("batch_size", "(M)"),
                           ("pack", "(m)"), ("r1_every", ""), ("gp_every", "")):
            need(unset_or(name, lambda v: v >= 1), name, f"{rule} must be >= 1".lstrip())
        need(math.isfinite(self.clip) and self.clip > 0, "clip", "must be > 0")
        for name in ("gp_weight", "r1_gamma", "lr", "g_lr", "d_lr"):
            need(unset_or(name, lambda v: math.isfinite(v) and v > 0), name, "must be > 0")
        need(self.constraint in (None, *CONSTRAINT_NAMES), "constraint", f"must be one of {list(CONSTRAINT_NAMES)}")
        need(self.optimizer in (None, *OPTIMIZERS), "optimizer", f"must be one of {list(OPTIMIZERS)}")
        need(self.lr_schedule in (None, *LR_SCHEDULES), "lr_schedule", f"must be one of {list(LR_SCHEDULES)}")
        need(self.model in (None, *ARCHITECTURES, CUSTOM), "model",
             f"must be one of {list(ARCHITECTURES)} (or {CUSTOM!r}: the networks passed as generator= and "
             "discriminator=)")
        custom = self.model == CUSTOM  # the user's own networks: one sample in, one score out, no classes
        need(not (custom and self.conditional), "conditional", f"must be false with model {CUSTOM!r}")
        need(not (custom and self.clusters), "clusters", f"must be 0 with model {CUSTOM!r}")
        need(not (custom and self.pack not in (None, 1)), "pack", f"must be 1 with model {CUSTOM!r}")
        need(self.d_norm in (None, *D_NORMS), "d_norm", f"must be one of {list(D_NORMS)}")
        need(self.activation in ACTIVATION_NAMES, "activation", f"must be one of {list(ACTIVATION_NAMES)}")
        need(self.noise_dim is None or self.noise_dim >= 1, "noise_dim", "must be >= 1")
        need(unset_or("betas", lambda b: len(b) == 2 and all(0 <= v < 1 for v in b)), "betas",
             "must be two numbers in [0, 1)")
        need(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(self.momentum == 0 or self.optimizer in (None, "sgd"), "momentum",
             f"applies to optimizer sgd only; {self.optimizer} does not use it"
             + (" (Adam's momentum is betas[0])" if self.optimizer == "adam" else ""))
        need(unset_or("ema_decay", lambda v: 0 <= v < 1), "ema_decay", "must be in [0, 1) (0: no EMA)")
        need(math.isfinite(self.ema_rampup) and self.ema_rampup >= 0, "ema_rampup", "must be >= 0 (0: no ramp-up)")
        need(self.amp in AMP_MODES, "amp", f"must be one of {list(AMP_MODES)}")
        need(unset_or("width", lambda v: v >= 1), "width", "must be >= 1")
        need(not (self.conditional and self.pack not in (None, 1)), "pack",
             "must be 1 with --conditional (a pack of m samples would have m classes)")
        need(unset_or("clusters", lambda k: k == 0 or k >= 2), "clusters", "must be 0 (off) or >= 2")
        need(not (self.conditional and self.clusters), "clusters",
             "must be 0 with --conditional: the classes are the data's labels or the clusters, not both")
        need(unset_or("class_loss", lambda v: math.isfinite(v) and v >= 0), "class_loss", "must be >= 0 (0: off)")
        need(not (self.class_loss and not (self.conditional or self.clusters is None or self.clusters)), "class_loss",
             "applies to class-conditional runs only: add --conditional (the data's labels) or --clusters K")
        need(not (self.clusters and self.pack not in (None, 1)), "pack",
             "must be 1 with --clusters (a pack of m samples would have m clusters)")
        need(unset_or("g_hidden", lambda h: len(h) >= 1 and all(w >= 1 for w in h)), "g_hidden",
             "must be one or more positive widths")
        need(unset_or("d_hidden", lambda h: len(h) >= 1 and all(w >= 1 for w in h)), "d_hidden",
             "must be one or more positive widths")
        need(0 <= self.seed <= SEED_MAX, "seed", f"must be in 0 .. {SEED_MAX}")
        need(self.log_every >= 1, "log_every", "must be >= 1")
        need(self.snapshot_every is None or self.snapshot_every >= 0, "snapshot_every", "must be >= 0")
        need(self.checkpoint_every >= 1, "checkpoint_every", "must be >= 1")
        need(self.eval_every >= 0, "eval_every", "must be >= 0")
        dev = self.device
        need(dev in ("auto", "cpu", "mps") or dev == "cuda" or dev.startswith("cuda:"), "device",
             "must be auto, cpu, cuda or cuda:N")

    # -- derived values

    def resolved(self, kind: str, sample_shape: tuple[int, ...], modes: int | None = None,
                 n_samples: int | None = None) -> TrainConfig:
        """Fill the fields left as None for data of this kind (``"points"`` or ``"image"``) and shape.

        The preset's settings for that kind come first (:meth:`Preset.settings`),
        scaled to the number of ``modes`` of a mixture with many
        (:func:`gankit.presets.scale_to_modes`) and a recipe's clusters to the
        ``n_samples`` of the data (:func:`gankit.presets.clusters_for`), then the
        rules that depend on the shape (model, noise size, norms, snapshots). A
        resolved config resolves to itself.
        """
        objective = self.objective or default_recipe(kind)
        preset = resolve(objective)
        settings = preset.settings(kind)
        if kind == "points" and modes:
            settings = scale_to_modes(settings, modes)
        if self.lr is not None:  # the user's learning rate is both networks' unless they split it themselves
            settings = {k: v for k, v in settings.items() if k not in ("g_lr", "d_lr")}
        # the data's labels, packs or the user's own networks: the recipe's clusters off
        if self.conditional or self.pack not in (None, 1) or self.model == CUSTOM:
            settings = {**settings, "clusters": 0}
        elif settings.get("clusters") and n_samples is not None:
            settings = {**settings, "clusters": clusters_for(n_samples, settings["clusters"])}
        if not self.conditional:  # a recipe's class loss is for the data's labels; on clusters only when asked
            settings = {**settings, "class_loss": 0.0}
        fill = {name: value for name, value in settings.items() if getattr(self, name) is None}
        fill.update({name: getattr(preset, name) for name in ("constraint", "optimizer")
                     if getattr(self, name) is None})
        if "betas" in fill and fill.get("optimizer", self.optimizer) != preset.optimizer:
            fill["betas"] = (0.9, 0.999)  # Adam's own defaults under another optimiser
        cfg = dataclasses.replace(self, objective=objective, **fill)
        if cfg.class_loss and not (cfg.conditional or cfg.clusters):
            raise ConfigError("class_loss", f"applies to class-conditional runs only ({objective} has no clusters "
                                            f"here): add --conditional or --clusters K; got {cfg.class_loss}")
        image = kind == "image"
        if cfg.flip and not image:
            raise ConfigError("flip", "mirrors images left-right; these data are points")
        model = cfg.model or ("dcgan" if image and sample_shape[-1] >= 8 else "mlp")
        d = math.prod(sample_shape)
        noise_dim = cfg.noise_dim or (100 if image else min(max(2, d), 64))
        penalised = cfg.constraint in INPUT_GRADIENT_PENALTIES
        d_norm = cfg.d_norm or ("batch" if model == "dcgan" and not penalised else
                                "layer" if model == "dcgan" else "none")
        snapshot_every = cfg.snapshot_every
        if snapshot_every is None:
            snapshot_every = max(1 if image else POINTS_SNAPSHOT_EVERY, cfg.iterations // SNAPSHOTS)
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
        if source == "config":
            return cls(**values)  # a refused value raises ConfigError, naming its field
        try:
            return cls(**values)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a JSON, TOML or YAML config file, by its suffix (a run folder's ``config.json`` works)."""
        path = Path(path)
        suffix = path.suffix.lower()
        try:
            text = path.read_text()
            if suffix == ".toml":
                import tomllib  # Python >= 3.11

                values = tomllib.loads(text)
            elif suffix in (".yaml", ".yml"):
                import yaml

                try:
                    values = yaml.safe_load(text)
                except yaml.YAMLError as e:
                    raise ValueError(str(e).replace("\n", " ")) from e
            else:
                values = json.loads(text)
        except (OSError, ValueError, ImportError) as e:
            kind = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML"}.get(suffix, "JSON")
            raise ValueError(f"{path}: cannot read config as {kind} ({e}); configs are .json, .toml, .yaml or .yml"
                             ) from e
        if not isinstance(values, dict):
            raise ValueError(f"{path}: a config must be a table/object of fields")
        return cls.from_dict(values, source=str(path))

    def save(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: ``{name: (self's, other's)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
