"""The seed's training loop, once, for every objective.

Each of T iterations runs K discriminator/critic steps, each on a fresh
minibatch of M real samples and M noise vectors z ~ N(0, I), then one
generator step (seed: "Vanilla GAN training" and "W-GAN training"). The
objective and the Lipschitz constraint come from :mod:`gankit.objectives`; the
loop knows them only through their interface. Host synchronisation happens
only at logging steps: losses are accumulated on the device and read back
every ``log_every`` iterations.

The modules, from the bottom up:

* :mod:`~gankit.training.steps`: one critic update, one generator update, the
  optimisers, the backward pass (:class:`Update`) and the device-side sums of
  their statistics (:class:`Window`);
* :mod:`~gankit.training.run`: a :class:`Run`, one config's networks,
  optimisers, random streams and step counter; checkpointed and stepped, the
  iteration body once (:class:`~gankit.training.run.Steps`);
* :mod:`~gankit.training.stacked_layers` and :mod:`~gankit.training.stacked_conv`:
  the layers of S runs' networks stacked into one (batched products; grouped
  convolutions for the image networks);
* :mod:`~gankit.training.stacked`: S runs of one config stacked into one
  network (:class:`~gankit.training.stacked.StackedRuns`), stepped by the same
  contract;
* :mod:`~gankit.training.hooks`: the typed hook protocol the loop calls;
* :mod:`~gankit.training.loop`: ``fit(run, hooks, until)``;
* :mod:`~gankit.training.resume`: what a resume may change and the data checks;
* :mod:`~gankit.training.trainer`: :class:`Trainer`, a run with its default
  hooks (run folder, pictures, progress, callbacks), and :func:`load_generator`.
"""

from ..runfolder import CHECKPOINT
from ..sampling import discriminator_scores, generate, pick_device
from .hooks import Hook, HookBase, Recorder, RunView
from .loop import fit
from .networks import Network, build_networks, check_networks, compile_networks, own_network, with_parts
from .resume import ResumeChangeError
from .run import (
    CONV_MODELS,
    RESUME_KEYS,
    SAMPLE_KEYS,
    NonFiniteLossError,
    Run,
    Steps,
    class_count,
    default_run_dir,
    is_path,
    resolve_objective,
    with_resolved_paths,
)
from .steps import (
    Update,
    Window,
    WithLabels,
    discriminator_step,
    generator_step,
    grad_norm,
    lr_factor,
    make_optimizer,
    set_lr,
)
from .trainer import Trainer, load_generator

__all__ = [
    "CHECKPOINT", "CONV_MODELS", "RESUME_KEYS", "SAMPLE_KEYS", "Hook", "HookBase", "Network", "NonFiniteLossError",
    "Recorder", "ResumeChangeError", "Run", "RunView", "Steps", "Trainer", "Update", "Window", "WithLabels",
    "build_networks", "check_networks", "class_count", "compile_networks", "default_run_dir", "discriminator_scores",
    "discriminator_step", "fit", "generate", "generator_step", "grad_norm", "is_path", "load_generator", "lr_factor",
    "make_optimizer", "own_network", "pick_device", "resolve_objective", "set_lr", "with_parts",
    "with_resolved_paths",
]
