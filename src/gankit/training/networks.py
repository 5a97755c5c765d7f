"""The networks of a run: gankit's, built from a config, or the user's own (checked, recorded in the config),
and compiled on request."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..models import build_models, eval_mode
from ..models.resample import fuse_resampling
from ..objectives import Objective, make_constraint
from ..presets import ARCHITECTURES, CUSTOM, INPUT_GRADIENT_PENALTIES

log = logging.getLogger(__name__)


# A network of the user's own: a module (trained as it is, from its own weights) or a function of no arguments
# that builds one (called under the run's seed, so that the seed fixes its initialisation).
Network = nn.Module | Callable[[], nn.Module]

# What a run of model CUSTOM needs, and where to give it.
_OWN_NETWORKS = (f"model {CUSTOM!r} means your own generator and discriminator, which gankit cannot rebuild from a "
                 "config: pass generator= and discriminator= (the networks the run was trained with, or functions "
                 "that build them) to gankit.train, gankit.api.session or Trainer")


def own_network(network: Network, name: str) -> nn.Module:
    """The user's network passed as ``name=``: a module as it is, or the module a factory of no arguments builds."""
    built = network() if callable(network) and not isinstance(network, nn.Module) else network
    if not isinstance(built, nn.Module):
        got = f"a function returning {type(built).__name__}" if built is not network else type(network).__name__
        raise TypeError(f"{name}= must be a torch.nn.Module or a function of no arguments returning one; got {got}")
    return built


def with_parts(config: TrainConfig, generator: Network | None = None, discriminator: Network | None = None,
               objective: Objective | None = None) -> TrainConfig:
    """``config`` recording the parts passed in Python (:data:`gankit.presets.CUSTOM` as its model and/or
    objective), or a ``ValueError`` naming the argument that is missing or does not fit the config."""
    if (generator is None) != (discriminator is None):
        given, missing = ("generator", "discriminator") if discriminator is None else ("discriminator", "generator")
        raise ValueError(f"{given}= needs {missing}= too: a run's two networks are both yours (model {CUSTOM!r}) "
                         f"or both gankit's (model one of {list(ARCHITECTURES)})")
    changes: dict[str, Any] = {}
    if generator is not None:
        if config.model not in (None, CUSTOM):
            raise ValueError(f"generator= and discriminator= are the run's networks: leave the config's model unset "
                             f"(the run records {CUSTOM!r}), not {config.model!r}")
        changes["model"] = CUSTOM
    elif config.model == CUSTOM:
        raise ValueError(_OWN_NETWORKS)
    if objective is not None:
        if not isinstance(objective, Objective):
            raise TypeError(f"objective= must be a gankit.objectives.Objective; got {type(objective).__name__} (a "
                            "game's name goes in the config: TrainConfig(objective=NAME))")
        if config.objective not in (None, CUSTOM):
            raise ValueError(f"objective= is the run's game: leave the config's objective unset (the run records "
                             f"{CUSTOM!r}), not {config.objective!r}; or register the game "
                             "(gankit.register_objective(name, objective)) and name it in the config")
        changes["objective"] = CUSTOM
    elif config.objective == CUSTOM:
        raise ValueError(f"objective {CUSTOM!r} means an Objective passed in Python, which gankit cannot rebuild from "
                         "a config: pass objective= (the same one) to gankit.train, gankit.api.session or Trainer")
    return dataclasses.replace(config, **changes) if changes else config


def build_networks(config: TrainConfig, sample_shape: tuple[int, ...], kind: str, n_classes: int = 0, *,
                   generator: Network | None = None, discriminator: Network | None = None):
    """Generator, discriminator (constraint applied) and the constraint, from a resolved config
    (class-conditional on ``n_classes`` classes when the config says so).

    A config of model :data:`~gankit.presets.CUSTOM` takes the user's ``generator`` and ``discriminator``
    (a module, or a function of no arguments building one; the discriminator may be left out, None, where
    only the generator is needed); a generator without a ``noise_dim`` attribute is given the config's.
    Their nearest upsamplings by 2 followed by a 3x3 convolution become one transposed convolution, in place
    (:func:`~gankit.models.resample.fuse_resampling`: the same function, parameters and state dict).
    """
    if config.model == CUSTOM:
        if generator is None:
            raise ValueError(_OWN_NETWORKS)
        G = own_network(generator, "generator")
        D = None if discriminator is None else own_network(discriminator, "discriminator")
        if not hasattr(G, "noise_dim"):  # what sampling reads the size of z from
            G.noise_dim = config.noise_dim
        fused = sum(fuse_resampling(m) for m in (G, D) if m is not None)
        if fused:
            log.info("%d nearest upsampling(s) by 2 and the 3x3 convolution after each run as one transposed "
                     "convolution (gankit.models.resample)", fused)
    else:
        G, D = build_models(
            config.model, sample_shape, config.noise_dim, g_hidden=config.g_hidden,
            d_hidden=config.d_hidden, activation=config.activation, g_batchnorm=config.g_batchnorm,
            d_norm=config.d_norm, width=config.width, image=kind == "image", pack=config.pack,
            n_classes=n_classes if config.conditional or config.clusters else 0,
        )
    constraint = make_constraint(config.constraint, clip=config.clip, gp_weight=config.gp_weight,
                                 gp_every=config.gp_every, r1_gamma=config.r1_gamma, r1_every=config.r1_every)
    return G, None if D is None else constraint.prepare(D), constraint


def compile_networks(G: nn.Module, D: nn.Module, constraint: str | None) -> None:
    """Compile the forward passes of G and D in place (``nn.Module.compile``: parameters, state dicts and
    checkpoints are unchanged); D only where no penalty needs its double backward."""
    G.compile()
    if constraint in INPUT_GRADIENT_PENALTIES:
        log.info("--compile: D stays eager (%s takes a double backward, which compiled graphs do not support)",
                 constraint)
    else:
        D.compile()


@torch.no_grad()
def check_networks(G: nn.Module, D: nn.Module, noise_dim: int, sample_shape: tuple[int, ...],
                   device: torch.device) -> None:
    """Refuse the user's networks, naming the argument, unless G maps noise ``(B, noise_dim)`` to samples
    ``(B, *sample_shape)`` and D samples to one score each, ``(B,)``: one forward of two inputs in eval mode
    (no statistics updated, no random stream drawn)."""
    dims = ", ".join(map(str, sample_shape))
    with eval_mode(G, D):
        try:
            x = G(torch.zeros(2, noise_dim, device=device))
        except RuntimeError as e:
            raise ValueError(f"generator= must map noise of shape (B, {noise_dim}) (the config's noise_dim) to "
                             f"samples of shape (B, {dims}); on (2, {noise_dim}) it failed: {e}") from e
        if tuple(x.shape) != (2, *sample_shape):
            raise ValueError(f"generator= must give samples of the data's shape, (B, {dims}); for B = 2 it gave "
                             f"{tuple(x.shape)}")
        try:
            scores = D(x)
        except RuntimeError as e:
            raise ValueError(f"discriminator= must score samples of shape (B, {dims}); it failed: {e}") from e
    if tuple(scores.shape) != (2,):
        raise ValueError(f"discriminator= must give one raw score per sample, shape (B,); for B = 2 it gave "
                         f"{tuple(scores.shape)} (nn.Flatten(0) at its end turns (B, 1) into (B,))")
