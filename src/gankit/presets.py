"""What a run's configuration chooses from, by name, and the named presets: data only, no torch.

The registries that build the things named here (:data:`gankit.objectives.OBJECTIVES`,
:data:`gankit.objectives.CONSTRAINTS`, :data:`gankit.models.ACTIVATIONS`) sit
with their implementations; this module holds their names, so that a config can
be checked and ``gankit --help`` can list the choices without importing torch
(``tests/test_objectives.py`` checks that the names and the registries agree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- names

# the games (the relativistic average GAN: Jolicoeur-Martineau 2018)
OBJECTIVE_NAMES = ("minimax", "nonsaturating", "wasserstein", "hinge", "least-squares", "relativistic-average")
CONSTRAINT_NAMES = ("none", "clip", "gradient-penalty", "r1", "spectral-norm")  # Lipschitz constraints
#: Constraints whose penalty differentiates D's input gradient (a double backward, which compiled graphs lack).
INPUT_GRADIENT_PENALTIES = ("gradient-penalty", "r1")
ARCHITECTURES = ("mlp", "dcgan", "resnet")
D_NORMS = ("none", "batch", "layer")  # the discriminator's normalisation
ACTIVATION_NAMES = ("relu", "leaky_relu", "tanh", "elu")  # MLP hidden activations
OPTIMIZERS = ("adam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "linear")
AMP_MODES = ("off", "bf16", "fp16")
AUGMENTATION_NAMES = ("color", "translation", "cutout")  # DiffAugment's transforms (gankit.augment), in order
# What a config records for a part passed in Python rather than named: an objective (``objective="custom"``) or the
# two networks (``model="custom"``). The config cannot rebuild it; a resume or a load is given it again.
CUSTOM = "custom"
# Games registered by name (gankit.objectives.register_objective): name -> the preset whose settings a config
# naming the game takes. Filled at run time, by the user's code.
REGISTERED_OBJECTIVES: dict[str, str] = {}


def objective_names() -> tuple[str, ...]:
    """The games a config may name: the built-in ones (:data:`OBJECTIVE_NAMES`), then the registered ones."""
    return (*OBJECTIVE_NAMES, *REGISTERED_OBJECTIVES)


# --------------------------------------------------------------------------- presets

# The settings a preset chooses for each kind of data; every other TrainConfig field is the user's.
PRESET_SETTINGS = ("d_steps", "lr", "betas", "batch_size", "iterations", "g_hidden", "d_hidden", "gp_weight",
                   "gp_every", "r1_gamma", "r1_every", "pack", "lr_schedule", "ema_decay", "augment", "width",
                   "clusters", "class_loss")
# Settings a recipe may also choose, for images only: the network family and separate learning rates for G
# and D (TTUR, Heusel et al. 2017; taken only when the user gives no --lr).
RECIPE_ONLY = ("model", "g_lr", "d_lr")

# Images: the papers' settings (DCGAN models). M = 64, T = 2000 keeps a CPU run to minutes. The generator's
# weight average (EMA, beta = 0.999) is what every modern image baseline samples (Karras et al. 2018; StudioGAN):
# it changes what is sampled, not how the networks are trained.
_IMAGE_DEFAULTS: dict[str, Any] = {
    "batch_size": 64, "iterations": 2000, "g_hidden": (512, 512, 512), "d_hidden": (512, 512, 512),
    "gp_weight": 10.0, "gp_every": 1, "r1_gamma": 10.0, "r1_every": 1, "pack": 1, "lr_schedule": "constant",
    "ema_decay": 0.999, "augment": "none", "width": 64, "clusters": 0, "class_loss": 0.0,
}
# Points (2-D mixtures, tabular rows), standardised to mean 0 and std 1 per column: measured on the ring and
# grid (docs/benchmarks.md). Three layers of 128 units are enough for 25 modes, and M = 256 steadies the
# estimate of each mode's share (about 10 samples per mode and minibatch on the grid). No EMA: on the mixtures
# the average lies between the modes the generator moves between (docs/benchmarks.md).
_POINTS_DEFAULTS: dict[str, Any] = {
    **_IMAGE_DEFAULTS, "batch_size": 256, "g_hidden": (128, 128, 128), "d_hidden": (128, 128, 128),
    "ema_decay": 0.0,
}


@dataclass(frozen=True)
class Preset:
    """A named (objective, constraint) pair with its training settings for images and for points.

    Attributes:
        objective, constraint, optimizer: by name.
        lr, betas, d_steps: the paper's optimiser settings (images).
        reference: where the settings come from.
        points: settings for point data that differ from the images' (measured; see ``docs/benchmarks.md``).
        images: settings for images that differ from the paper's (measured recipes; see
            ``docs/images.md``); may also name the ``model`` and TTUR's ``g_lr`` / ``d_lr``.
    """

    objective: str
    constraint: str
    optimizer: str
    lr: float
    betas: tuple[float, float]
    d_steps: int
    reference: str
    points: Mapping[str, Any] = field(default_factory=dict)
    images: Mapping[str, Any] = field(default_factory=dict)

    def settings(self, kind: str) -> dict[str, Any]:
        """The value of every field of :data:`PRESET_SETTINGS` for data of ``kind`` (``"points"``/``"image"``),
        and of :data:`RECIPE_ONLY` where an image recipe chooses them."""
        paper = {"d_steps": self.d_steps, "lr": self.lr, "betas": self.betas}
        if kind == "points":
            return {**_POINTS_DEFAULTS, **paper, **self.points}
        return {**_IMAGE_DEFAULTS, **paper, **self.images}


# Points recipes, measured under the PacGAN protocol (docs/benchmarks.md). Every recipe but the seed's WGAN
# decays its learning rates linearly to 0 at T (as Mimicry and StudioGAN do): the last stretch at small steps is
# what sharpens each mode to its true width. Adam at 1e-3 (ten times the image setting) is what 3 x 128 MLPs on
# standardised points take; beta2 = 0.99 follows the 2-D experiments of Mescheder et al. 2018.
_GAN_POINTS = {"lr": 1e-3, "betas": (0.5, 0.99), "iterations": 5000, "lr_schedule": "linear"}
# The fast image recipes' DCGAN: half as wide (32 channels at the first convolution), which makes three times the
# steps of width 64 in the same minutes on a CPU and ends lower (Fashion-MNIST FID 26 against 37 at equal time),
# and M = 32, which makes 1.6-1.75x the steps of M = 64 and ends lower on every seed measured (ten minutes on two
# cores: FID 13.8 against 15.8, 3 seeds). T = 20000 shows the recipe as many images as 10,000 steps of M = 64:
# about ten minutes on two cores (docs/images.md). Adam at 8e-4 for D, four times DCGAN's 2e-4, and twice that for
# G: with the generator's EMA sampled, the larger steps reach in T what 2e-4 does not (Fashion-MNIST, 20,000
# iterations, seed 0: FID 13.9 at 2e-4, 11.0 at 4e-4, 7.6 at 8e-4; 3 seeds: 7.9 ± 0.4 at 8e-4 for both, 7.4 ± 0.5
# at 1.6e-3 for both, 6.4 ± 0.3 with G at 1.6e-3 and D at 8e-4, where D at twice G's rate gave 9.0 on seed 0;
# docs/images.md, "Why these rates").
IMAGE_FAST = {"width": 32, "batch_size": 32, "iterations": 20000, "lr": 8e-4, "g_lr": 1.6e-3}
PRESETS: dict[str, Preset] = {
    "gan": Preset("nonsaturating", "none", "adam", 2e-4, (0.5, 0.999), 1,
                  "Goodfellow et al. 2014 (non-saturating G); Adam settings of Radford et al. 2016",
                  points=_GAN_POINTS),
    "minimax": Preset("minimax", "none", "adam", 2e-4, (0.5, 0.999), 1,
                      "Goodfellow et al. 2014, Eq. 1 (saturating G)", points=_GAN_POINTS),
    # The seed's WGAN keeps all of Algorithm 1 (RMSProp at alpha = 5e-5, c = 0.01, K = 5, M = 64) on points:
    # a faster or decaying rate measured no better (docs/benchmarks.md).
    "wgan": Preset("wasserstein", "clip", "rmsprop", 5e-5, (0.9, 0.999), 5,
                   "Arjovsky et al. 2017, Algorithm 1: RMSProp, lr 5e-5, c 0.01, n_critic 5, m 64",
                   points={"batch_size": 64, "iterations": 4000}),
    # lambda = 0.1 in standardised units, as in the WGAN-GP authors' code for toy data ("smaller lambda seems to
    # help for toy tasks"): the paper's 10 swamps W1 at this scale. M = 64 as in the paper's Algorithm 1.
    "wgan-gp": Preset("wasserstein", "gradient-penalty", "adam", 1e-4, (0.0, 0.9), 5,
                      "Gulrajani et al. 2017, Algorithm 1: Adam(1e-4, 0, 0.9), lambda 10, n_critic 5",
                      points={"lr": 1e-3, "betas": (0.5, 0.9), "gp_weight": 0.1, "batch_size": 64,
                              "iterations": 4000, "lr_schedule": "linear"},
                      # on images MLP networks (3 x 512) and T = 5000, about ten minutes on one core: five
                      # critic steps and a double backward per generator step through a DCGAN critic made 1,500
                      # generator steps in ten minutes and FID 99, the MLPs 3,700 steps and FID 21.5
                      # (Fashion-MNIST, docs/images.md). The penalty's held slopes then made each step 1.2x
                      # faster, and T went from 4000 to 5000 to keep the ten minutes; the last 1000 steps lowered
                      # the FID on every seed measured (docs/images.md, "Penalties without the zeros").
                      images={"model": "mlp", "iterations": 5000}),
    "sngan": Preset("hinge", "spectral-norm", "adam", 2e-4, (0.0, 0.9), 5,
                    "Miyato et al. 2018: hinge loss, spectral norm, Adam(2e-4, 0, 0.9), n_dis 5",
                    points={"lr": 1e-3, "betas": (0.5, 0.9), "batch_size": 64, "iterations": 2000,
                            "lr_schedule": "linear"}),
    # LSGAN: the least-squares game with the GAN's settings (on points measured apart from the default recipes:
    # docs/benchmarks.md).
    "lsgan": Preset("least-squares", "none", "adam", 2e-4, (0.5, 0.999), 1,
                    "Mao et al. 2017 (LSGAN, 0-1-1 coding): Adam(2e-4, 0.5), as DCGAN", points=_GAN_POINTS),
    # PacGAN's m = 4 with the GAN recipe; M = 64 packs, so each step sees as many samples (256) as `gan`.
    "pacgan": Preset("nonsaturating", "none", "adam", 2e-4, (0.5, 0.999), 1,
                     "Lin et al. 2018 (PacGAN): the discriminator scores m = 4 samples at once",
                     points={**_GAN_POINTS, "pack": 4, "batch_size": 64, "iterations": 4000},
                     images={"pack": 4}),
    # The best recipe on points: R1 keeps the modes balanced (reverse KL <= 0.01), lazy R1 costs a quarter of
    # it, and T = 20000 steps of M = 128 sharpen the modes as well as 16000 of 256 at 60% of the arithmetic.
    "gan-r1": Preset("nonsaturating", "r1", "adam", 2e-4, (0.5, 0.999), 1,
                     "non-saturating GAN with the R1 penalty (Mescheder et al. 2018), applied every 4th "
                     "step and scaled by 4 (lazy R1, Karras et al. 2020)",
                     points={**_GAN_POINTS, "r1_gamma": 0.1, "r1_every": 4, "batch_size": 128,
                             "iterations": 20000}),
    # The best measured unconditional image recipe (docs/images.md): the non-saturating GAN on IMAGE_FAST's
    # DCGAN. Hinge + SN (with TTUR), R1, linear decay and DiffAugment all measured worse here (docs/images.md).
    "gan-fast": Preset("nonsaturating", "none", "adam", 2e-4, (0.5, 0.999), 1,
                       "non-saturating GAN (Goodfellow et al. 2014) with Adam (beta1 = 0.5, Radford et al. 2016); "
                       "on images at lr 1.6e-3 for G and 8e-4 for D on a DCGAN of width 32 with M = 32 for "
                       "T = 20000, sampled through the generator's EMA",
                       points=_GAN_POINTS, images=IMAGE_FAST),
    # gan-fast, class-conditional on 20 k-means clusters of the data (gankit.data.clusters; Sage et al. 2018,
    # Liu et al. 2020): no labels needed. On Fashion-MNIST in ten minutes it takes gan-fast's FID from 33 to 18 and
    # its precision from 0.46 to 0.66 (3 seeds), better than the conditional run on the true labels
    # (docs/images.md); 20 clusters measured better than 10, and 40 traded recall for a little FID.
    # With --conditional (the data's labels) it also trains D's projection head as a classifier (class_loss 0.2,
    # Han et al. 2021): on Fashion-MNIST the samples' class accuracy went from 83% to 90% (96% at M = 32 on two
    # cores; the classifier's own on real images: 91%) and the FID from 21.6 to 19.5 (seed 0; docs/images.md);
    # 1.0 reached 99% but halved the recall.
    "gan-clusters": Preset("nonsaturating", "none", "adam", 2e-4, (0.5, 0.999), 1,
                           "gan-fast, class-conditional on 20 k-means clusters of the data (Sage et al. 2018; "
                           "Liu et al. 2020), which need no labels",
                           points=_GAN_POINTS,
                           images={**IMAGE_FAST, "clusters": 20, "class_loss": 0.2}),
}


# What `gankit train` uses without --objective: the best measured recipe for the kind of data.
DEFAULT_RECIPES = {"points": "gan-r1", "image": "gan-clusters"}


def default_recipe(kind: str) -> str:
    """The preset used when none is named, for ``"points"`` or ``"image"`` data."""
    return DEFAULT_RECIPES["image" if kind == "image" else "points"]


# Mixtures with more modes than the grid's 25 (at the grid's width-to-spacing ratio; gan-r1, 3 seeds each,
# docs/benchmarks.md, "More modes"): on a 7 x 7 grid (49 modes) the high-quality share went from 78% to 89% with
# twice the iterations (to 88% with twice the width, at three times the arithmetic); on a 10 x 10 grid (100 modes)
# twice the width and four times the batch kept 92 modes instead of 81 and took the share from 14% to 37%.
MANY_MODES = 25


# gan-clusters on little data: on the 8 x 8 digits (1,797 images) clusters of a few hundred images made the FID
# worse the more there were (2,000 iterations, seed 0: none 94, 2 clusters 100, 5: 156, 20: 362; docs/images.md),
# while on Fashion-MNIST 20 clusters of about 3,000 images each more than halved it.
SAMPLES_PER_CLUSTER = 3000


def clusters_for(n_samples: int, most: int) -> int:
    """A recipe's clusters for data of ``n_samples``: one per :data:`SAMPLES_PER_CLUSTER` samples, at most
    ``most``; 0 (no clusters) where that makes fewer than 2."""
    k = min(most, n_samples // SAMPLES_PER_CLUSTER)
    return k if k >= 2 else 0


def scale_to_modes(settings: dict[str, Any], modes: int) -> dict[str, Any]:
    """A points preset's settings for a mixture of ``modes`` modes, as measured.

    Up to :data:`MANY_MODES` (25) modes: unchanged; up to 50: twice the iterations; above: hidden layers
    twice as wide and a batch four times as large (each mode keeps about as many samples per batch).
    """
    if modes <= MANY_MODES:
        return settings
    if modes <= 2 * MANY_MODES:
        return {**settings, "iterations": 2 * settings["iterations"]}
    return {**settings, "g_hidden": tuple(2 * w for w in settings["g_hidden"]),
            "d_hidden": tuple(2 * w for w in settings["d_hidden"]), "batch_size": 4 * settings["batch_size"]}


def resolve(name: str) -> Preset:
    """A preset by name; a bare objective name means that game with no constraint.

    A bare game takes the settings of the GAN's preset (of WGAN-GP's for the critics' games, wasserstein and
    hinge); a registered game those of the preset it was registered with, and an objective passed in Python
    (:data:`CUSTOM`) the GAN's.
    """
    if name in PRESETS:
        return PRESETS[name]
    if name in OBJECTIVE_NAMES or name in REGISTERED_OBJECTIVES or name == CUSTOM:
        base = "wgan-gp" if name in ("wasserstein", "hinge") else REGISTERED_OBJECTIVES.get(name, "gan")
        return dataclasses.replace(PRESETS[base], objective=name, constraint="none")
    raise ValueError(
        f"unknown objective {name!r}; choose a preset from {sorted(PRESETS)} "
        f"or an objective from {sorted(objective_names())} (or register your own with "
        "gankit.register_objective(name, objective))"
    )


__all__ = [
    "ACTIVATION_NAMES",
    "AMP_MODES",
    "ARCHITECTURES",
    "AUGMENTATION_NAMES",
    "CONSTRAINT_NAMES",
    "CUSTOM",
    "DEFAULT_RECIPES",
    "D_NORMS",
    "INPUT_GRADIENT_PENALTIES",
    "LR_SCHEDULES",
    "OBJECTIVE_NAMES",
    "OPTIMIZERS",
    "PRESETS",
    "PRESET_SETTINGS",
    "Preset",
    "REGISTERED_OBJECTIVES",
    "SAMPLES_PER_CLUSTER",
    "clusters_for",
    "RECIPE_ONLY",
    "default_recipe",
    "objective_names",
    "resolve",
    "scale_to_modes",
]
