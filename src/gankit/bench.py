r"""``gankit bench``: how fast the training loop runs, against the hardware and a common loop.

The benchmark trains the widely copied MLP WGAN on 28x28 images (critic
784-512-256-1 with LeakyReLU 0.2; generator 100-128-256-512-1024-784 with
BatchNorm on its three middle layers, LeakyReLU 0.2 and tanh; RMSProp 5e-5,
c = 0.01, M = 64, K = 5) for a fixed number of generator iterations and reports:

* generator iterations per second of :class:`gankit.training.Trainer`;
* the floating-point work of one iteration (K critic steps and one generator
  step, forward and backward), counted once with
  :class:`torch.utils.flop_counter.FlopCounterMode`, and the rate achieved;
* the ceiling: the same matrix products (every ``mm``/``addmm`` the iteration
  runs, with its shapes and memory layouts) timed alone, the rate they reach
  and the iterations per second they would allow; the loop's fraction of it;
* the same figures for a straightforward loop, PyTorch-GAN's
  ``implementations/wgan/wgan.py`` written out statement by statement
  (:func:`baseline_updates`), and the ratio of the two.

The loops run in one process in alternating rounds (ours, baseline, matrix
products, ours, ...) and each figure is the median over rounds, so a load that
drifts during the run affects both sides alike. The load average is reported,
and every rate is also given per second of the process's CPU time, which other
processes on a shared machine distort much less (with one thread; with more,
CPU time includes OpenMP's spin-waiting). On a busy machine several OpenMP
threads can be many times slower than one, as each waits for a descheduled
peer: compare ``--threads 1``, or set ``OMP_WAIT_POLICY=PASSIVE`` before
Python starts.

For one layer :math:`a \to b` on a batch of :math:`M` rows the forward product
costs :math:`2 M a b` FLOPs; the backward pass costs another :math:`2 M a b`
for the weight gradient and another for the input gradient, each only where
that gradient is needed.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from .config import TrainConfig
from .data import Dataset, load_dataset
from .models import seeded
from .presets import INPUT_GRADIENT_PENALTIES
from .progress import Progress

log = logging.getLogger(__name__)

# The ops whose replay is the ceiling: matrix products, and the convolutions of the image networks.
_GEMMS = ("mm", "addmm", "bmm", "baddbmm", "convolution", "convolution_backward")
IMAGE_MODELS = ("dcgan", "resnet")


def bench_config(data: str = "fashion-mnist", **overrides: Any) -> TrainConfig:
    """The benchmark's run: the widely copied MLP WGAN on 28x28 images (fields may be overridden)."""
    fields: dict[str, Any] = dict(
        data=data, objective="wgan", model="mlp", noise_dim=100, g_hidden=(128, 256, 512, 1024), g_batchnorm=True,
        d_hidden=(512, 256), activation="leaky_relu", batch_size=64, iterations=2000, snapshot_every=0,
        checkpoint_every=10**9,
        tensorboard=False, progress=False, log_every=10,
    )
    fields.update(overrides)
    return TrainConfig(**fields)


def image_bench_config(data: str = "fashion-mnist", model: str = "dcgan", **overrides: Any) -> TrainConfig:
    """The image benchmark's run: gan-fast (the image default's networks, without clusters) on ``model``."""
    fields: dict[str, Any] = dict(data=data, objective="gan-fast", model=model, clusters=0, snapshot_every=0,
                                  checkpoint_every=10**9, tensorboard=False, progress=False, log_every=10)
    fields.update(overrides)
    return TrainConfig(**fields)


def random_images(n: int = 60000, shape: tuple[int, ...] = (1, 28, 28), seed: int = 0) -> Dataset:
    """``n`` uniform random images in [-1, 1]: the stand-in where the real data are not installed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, *shape), generator=g).mul_(2).sub_(1)  # (n, C, H, W)
    return Dataset(f"random-{'x'.join(map(str, shape))}", x, "image")


def bench_dataset(
    data: str = "fashion-mnist", seed: int = 0, data_dir: str | None = None
) -> tuple[Dataset, str | None]:
    """The data set for ``--data`` and a note when a stand-in was used.

    ``random`` gives random 28x28 images; Fashion-MNIST falls back to them when
    it is not installed (the speed does not depend on the pixels).
    """
    if data == "random":
        return random_images(seed=seed), None
    try:
        return load_dataset(data, data_dir=data_dir, seed=seed), None
    except FileNotFoundError:
        if data != "fashion-mnist":
            raise
        note = "Fashion-MNIST is not installed here; timing random 28x28 images of the same shape instead"
        return random_images(seed=seed), note


# --------------------------------------------------------------------------- the baseline


class PyTorchGANGenerator(nn.Module):
    """The generator of PyTorch-GAN's ``wgan.py``, as written there, with the widths of a config.

    ``block(in, out)`` is Linear, then BatchNorm1d(out, 0.8) (the 0.8 lands on
    ``eps``), then an in-place LeakyReLU(0.2); no BatchNorm on the first block;
    a Linear to the image size and tanh close it.
    """

    def __init__(self, latent_dim: int, hidden: tuple[int, ...], img_shape: tuple[int, ...], batchnorm: bool = True):
        super().__init__()
        self.img_shape = tuple(img_shape)

        def block(in_feat: int, out_feat: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        layers = block(latent_dim, hidden[0], normalize=False)
        for a, b in zip(hidden[:-1], hidden[1:], strict=True):
            layers += block(a, b, normalize=batchnorm)
        self.model = nn.Sequential(*layers, nn.Linear(hidden[-1], math.prod(self.img_shape)), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        img = self.model(z)
        return img.view(img.shape[0], *self.img_shape)  # (B, C, H, W)


class PyTorchGANCritic(nn.Module):
    """The discriminator of PyTorch-GAN's ``wgan.py``: Linear + in-place LeakyReLU(0.2) blocks, a linear score."""

    def __init__(self, img_shape: tuple[int, ...], hidden: tuple[int, ...]):
        super().__init__()
        sizes = [math.prod(img_shape), *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2, inplace=True)]
        self.model = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, img: Tensor) -> Tensor:
        img_flat = img.view(img.shape[0], -1)  # (B, C*H*W)
        return self.model(img_flat)  # (B, 1)


def baseline_updates(
    config: TrainConfig, dataset: Dataset, device: torch.device
) -> tuple[Iterator[None], nn.Module, nn.Module]:
    """PyTorch-GAN's ``wgan.py`` training loop, statement by statement; yields after each generator update.

    A ``DataLoader`` (shuffle, batch M, no worker processes, as there) over the
    data tensor; noise from NumPy, converted per batch; the generator's forward
    pass in the critic step builds a graph that is then detached; the critic is
    clipped parameter by parameter; every K-th batch the generator is updated
    on the last critic batch's noise, with the critic's weight gradients also
    computed, and both losses are read back with ``.item()`` for the log line.
    Image saving is left out (our loop saves none while timed either).

    Returns:
        The update iterator, the generator and the critic.
    """
    shape = tuple(dataset.sample_shape)
    config = config.resolved(dataset.kind, shape)
    with seeded(config.seed):
        generator = PyTorchGANGenerator(config.noise_dim, config.g_hidden, shape, config.g_batchnorm).to(device)
        discriminator = PyTorchGANCritic(shape, config.d_hidden).to(device)
    labels = dataset.labels if dataset.labels is not None else torch.zeros(len(dataset.x), dtype=torch.long)
    dataloader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(dataset.x, labels), batch_size=config.batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
    )
    optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=config.g_lr)
    optimizer_D = torch.optim.RMSprop(discriminator.parameters(), lr=config.d_lr)
    rng = np.random.RandomState(config.seed)  # np.random.normal there, without touching NumPy's global state
    n_critic, clip_value, latent_dim = config.d_steps, config.clip, config.noise_dim

    def updates() -> Iterator[None]:
        batches_done = epoch = 0
        while True:
            for i, (imgs, _) in enumerate(dataloader):
                real_imgs = imgs.to(device, torch.float32)  # Variable(imgs.type(Tensor))
                optimizer_D.zero_grad()
                z = torch.as_tensor(rng.normal(0, 1, (imgs.shape[0], latent_dim)), dtype=torch.float32, device=device)
                fake_imgs = generator(z).detach()
                loss_D = -torch.mean(discriminator(real_imgs)) + torch.mean(discriminator(fake_imgs))
                loss_D.backward()
                optimizer_D.step()
                for p in discriminator.parameters():
                    p.data.clamp_(-clip_value, clip_value)
                if i % n_critic == 0:
                    optimizer_G.zero_grad()
                    gen_imgs = generator(z)
                    loss_G = -torch.mean(discriminator(gen_imgs))
                    loss_G.backward()
                    optimizer_G.step()
                    log.debug("[Epoch %d] [Batch %d/%d] [D loss: %f] [G loss: %f]", epoch,
                              batches_done % len(dataloader), len(dataloader), loss_D.item(), loss_G.item())
                    yield
                batches_done += 1
            epoch += 1

    return updates(), generator, discriminator


# --------------------------------------------------------------------------- counting and the ceiling


@dataclasses.dataclass(frozen=True)
class _Gemm:
    """One recorded matrix product: the op and its arguments, tensors kept as (shape, stride, dtype)."""

    op: Any
    args: tuple
    kwargs: dict
    flops: int


class _GemmRecorder(TorchDispatchMode):
    """Records every matrix product and convolution (forward and backward) with the shapes and layouts of its
    operands, and its FLOPs as :mod:`torch.utils.flop_counter` counts them; ``flops``: every op's that it
    counts (what :class:`~torch.utils.flop_counter.FlopCounterMode` totals, without its module hooks, which
    a penalty's ``torch.autograd.grad`` does not support)."""

    def __init__(self) -> None:
        from torch.utils.flop_counter import flop_registry

        super().__init__()
        self.registry = flop_registry
        self.gemms: list[_Gemm] = []
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        counted = self.registry.get(func.overloadpacket)
        if counted is not None:
            flops = int(counted(*args, **kwargs, out_val=out))
            self.flops += flops
            if func.overloadpacket.__name__ in _GEMMS:
                spec = tuple((tuple(a.shape), a.stride(), a.dtype) if isinstance(a, Tensor) else a for a in args)
                self.gemms.append(_Gemm(func, spec, dict(kwargs), flops))
        return out


def count_iteration(step: Callable[[], None]) -> tuple[int, list[_Gemm]]:
    """FLOPs of ``step()`` as :mod:`torch.utils.flop_counter` counts them, and its matrix products."""
    recorder = _GemmRecorder()
    with recorder:
        step()
    return recorder.flops, recorder.gemms


class GemmReplay:
    """The recorded matrix products on fresh operands of the same shapes, layouts and device, timed alone."""

    def __init__(self, gemms: list[_Gemm], device: torch.device, seed: int = 0):
        g = torch.Generator(device=device).manual_seed(seed)
        self.device = device
        self.flops = sum(x.flops for x in gemms)
        self.calls = []
        for x in gemms:
            args = tuple(self._operand(a, g) if isinstance(a, tuple) and len(a) == 3 and isinstance(a[2], torch.dtype)
                         else a for a in x.args)
            self.calls.append((x.op, args, x.kwargs))

    def _operand(self, spec: tuple, g: torch.Generator) -> Tensor:
        shape, stride, dtype = spec
        size = 1 + sum((n - 1) * st for n, st in zip(shape, stride, strict=True)) if all(shape) else 0
        base = torch.empty(size, dtype=dtype, device=self.device).normal_(generator=g)  # no zeros or subnormals
        return base.as_strided(shape, stride)  # the recorded layout, broadcast (stride 0) operands included

    def run(self) -> None:
        for op, args, kwargs in self.calls:
            op(*args, **kwargs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- the benchmark


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _clocks() -> tuple[float, float]:
    """Wall time and this process's CPU time (all its threads)."""
    return time.perf_counter(), time.process_time()


def _rates(n: int, start: tuple[float, float], stop: tuple[float, float]) -> tuple[float, float]:
    """``n`` iterations per wall second and per CPU second between two :func:`_clocks` readings."""
    return n / (stop[0] - start[0]), n / max(stop[1] - start[1], 1e-9)


def _shapes(module: nn.Module) -> list[list[int]]:
    return [list(p.shape) for p in module.parameters()]


def run_bench(
    iterations: int = 100,
    rounds: int = 3,
    *,
    device: str = "auto",
    threads: int | None = None,
    data: str = "fashion-mnist",
    config: TrainConfig | None = None,
    dataset: Dataset | None = None,
    warmup: int = 3,
    baseline: bool = True,
    progress: bool = True,
    model: str = "mlp",
    compile: bool = False,
    objective: str | None = None,
) -> dict[str, Any]:
    """Time the Trainer loop, the matrix-product ceiling and the baseline loop in alternating rounds.

    Args:
        iterations: generator iterations per round and loop.
        rounds: rounds; each figure is the median over them.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        threads: CPU threads for the run (``torch.set_num_threads``; restored
            afterwards); None keeps the current setting.
        data: ``fashion-mnist`` (random images where not installed), ``random``
            or any data set name or path :func:`gankit.data.load_dataset` takes.
        config: the run (default :func:`bench_config`); its iteration and
            logging fields are managed here.
        dataset: an already loaded data set (replaces ``data``).
        warmup: untimed iterations of each loop before the first round.
        baseline: also time PyTorch-GAN's loop (the MLP WGAN only).
        progress: show a progress bar.
        model: ``mlp`` (the MLP WGAN, :func:`bench_config`) or an image network, ``dcgan`` or ``resnet``
            (:func:`image_bench_config`); for these the ceiling is their convolutions and matrix
            products replayed alone, and there is no baseline.
        compile: gankit's networks compiled (``TrainConfig.compile``); the warm-up iterations compile.
        objective: another preset on the same model, with that preset's settings (e.g. ``wgan-gp``: its
            penalty's double backward is counted and replayed too); the baseline, PyTorch-GAN's ``wgan.py``
            loop, is timed only for ``wgan``.

    Returns:
        A dict of plain values: ``flops_per_iteration``; ``ours``, ``baseline``
        and ``gemm`` (the matrix products alone), each with ``it_per_s``,
        ``gflops``, ``it_per_cpu_s`` and the per-round figures;
        ``ceiling_it_per_s``, ``fraction_of_ceiling`` (and ``_cpu``), ``ratio``
        (and ``ratio_cpu``), ``models`` (parameter shapes of both loops), the
        machine and its load average.
    """
    from .training import Trainer, pick_device

    if iterations < 1:
        raise ValueError(f"iterations must be >= 1; got {iterations}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1; got {rounds}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    if model not in ("mlp", *IMAGE_MODELS):
        raise ValueError(f"--model {model}: choose from mlp, {', '.join(IMAGE_MODELS)}")
    note = None
    if dataset is None:
        dataset, note = bench_dataset(data)
    game = {} if objective is None else {"objective": objective}
    config = config or (bench_config(data, **game) if model == "mlp" else image_bench_config(data, model, **game))
    if model != "mlp" or config.objective != "wgan":
        baseline = False  # the baseline loop is the MLP WGAN's
    if compile:
        config = dataclasses.replace(config, compile=True)
    dev = pick_device(device)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    bar = Progress(rounds * iterations * (3 if baseline else 2), enabled=progress, desc="gankit bench")
    try:
        with tempfile.TemporaryDirectory(prefix="gankit-bench-") as tmp:
            config = dataclasses.replace(config, data=dataset.name, device=str(dev), progress=False, tensorboard=False,
                                         snapshot_every=0, checkpoint_every=10**9,
                                         log_every=max(1, min(config.log_every, iterations)))
            timed, seen = False, [0]

            def mark(trainer: Trainer, record: dict[str, Any]) -> None:
                if timed:
                    bar.update(trainer.step - seen[0])
                seen[0] = trainer.step

            # no parts: files, pictures and checkpoints are not part of the loop being timed
            trainer = Trainer(dataclasses.replace(config, iterations=10**9), Path(tmp) / "run", dataset=dataset,
                              callbacks=[mark], parts=[])
            rcfg = trainer.config

            def ours(n: int) -> tuple[float, float]:
                seen[0] = trainer.step
                start = _clocks()
                trainer.fit(steps=n)
                sync(dev)
                stop = _clocks()
                if timed:
                    bar.update(trainer.step - seen[0])
                return _rates(n, start, stop)

            def repeat(step: Callable[[], Any], n: int, show: bool = True) -> tuple[float, float]:
                sync(dev)
                start = _clocks()
                for _ in range(n):
                    step()
                    bar.update(show)
                sync(dev)
                return _rates(n, start, _clocks())

            ours(warmup)
            flops, gemms = count_iteration(lambda: ours(1))
            replay = GemmReplay(gemms, dev)
            repeat(replay.run, 1, show=False)
            if baseline:
                updates, G0, D0 = baseline_updates(rcfg, dataset, dev)
                for _ in range(warmup):
                    next(updates)
                base_flops, base_gemms = count_iteration(lambda: next(updates))
                base_replay = GemmReplay(base_gemms, dev)
            rates: dict[str, list[tuple[float, float]]] = {"ours": [], "gemm": [], "baseline": [], "base_gemm": []}
            timed = True
            for r in range(rounds):
                bar.describe(f"round {r + 1}/{rounds}: gankit Trainer")
                rates["ours"].append(ours(iterations))
                if baseline:
                    bar.describe(f"round {r + 1}/{rounds}: baseline loop")
                    # .item() inside every update: a host sync per update, as there
                    rates["baseline"].append(repeat(lambda: next(updates), iterations))
                    rates["base_gemm"].append(repeat(base_replay.run, max(1, iterations // 5), show=False))
                bar.describe(f"round {r + 1}/{rounds}: the ceiling's ops alone")
                rates["gemm"].append(repeat(replay.run, iterations))
                bar.describe(f"round {r + 1}/{rounds}")
                bar.report(f"ours {rates['ours'][-1][0]:.3g} it/s"
                           + (f", baseline {rates['baseline'][-1][0]:.3g} it/s" if baseline else ""))
    finally:
        bar.close()
        torch.set_num_threads(old_threads)
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    def figures(key: str, work: int) -> dict[str, Any]:
        wall, cpu = median([w for w, _ in rates[key]]), median([c for _, c in rates[key]])
        return {"it_per_s": wall, "gflops": wall * work / 1e9, "it_per_cpu_s": cpu,
                "rounds": [w for w, _ in rates[key]], "rounds_per_cpu_s": [c for _, c in rates[key]]}

    ours_fig, gemm_fig = figures("ours", flops), figures("gemm", replay.flops)
    result: dict[str, Any] = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in rcfg.to_dict().items()},
        "data": dataset.name,
        "data_note": note,
        "samples": len(dataset.x),
        "sample_shape": list(dataset.sample_shape),
        "device": str(dev),
        "threads": used_threads,
        "cpus": os.cpu_count(),
        "load_average": {"before": list(load_before) if load_before else None,
                         "after": list(load_after) if load_after else None},
        "torch": torch.__version__,
        "iterations": iterations,
        "rounds": rounds,
        "flops_per_iteration": flops,
        "gemm_flops_per_iteration": replay.flops,
        "gemm_calls_per_iteration": len(replay.calls),
        "convolutions": any(op.overloadpacket.__name__.startswith("convolution") for op, _, _ in replay.calls),
        "ours": ours_fig,
        "gemm": gemm_fig,
        "ceiling_it_per_s": gemm_fig["it_per_s"],
        "fraction_of_ceiling": ours_fig["it_per_s"] / gemm_fig["it_per_s"],
        "fraction_of_ceiling_cpu": ours_fig["it_per_cpu_s"] / gemm_fig["it_per_cpu_s"],
        "models": {"ours": {"generator": _shapes(trainer.G), "critic": _shapes(trainer.D)}},
    }
    if baseline:
        base_fig, base_gemm = figures("baseline", base_flops), figures("base_gemm", base_replay.flops)
        base_fig.update(flops_per_iteration=base_flops, ceiling_it_per_s=base_gemm["it_per_s"],
                        fraction_of_ceiling=base_fig["it_per_s"] / base_gemm["it_per_s"],
                        fraction_of_ceiling_cpu=base_fig["it_per_cpu_s"] / base_gemm["it_per_cpu_s"])
        result["baseline"] = base_fig
        result["ratio"] = ours_fig["it_per_s"] / base_fig["it_per_s"]
        result["ratio_cpu"] = ours_fig["it_per_cpu_s"] / base_fig["it_per_cpu_s"]
        result["models"]["baseline"] = {"generator": _shapes(G0), "critic": _shapes(D0)}
    return result


def format_report(result: dict[str, Any]) -> str:
    """The benchmark's figures as a short text table."""
    cfg = result["config"]
    shape = "x".join(map(str, result["sample_shape"]))
    d = math.prod(result["sample_shape"])
    g_sizes = "-".join(map(str, [cfg["noise_dim"], *cfg["g_hidden"], d]))
    d_sizes = "-".join(map(str, [d, *cfg["d_hidden"], 1]))
    load = result["load_average"]
    constraint = {"clip": f", c {cfg['clip']:g}", "gradient-penalty": f", gradient penalty {cfg['gp_weight']:g}",
                  "r1": f", R1 {cfg['r1_gamma']:g}"}.get(cfg["constraint"], "")
    if cfg["model"] == "mlp":
        game = "WGAN" if cfg["objective"] == "wgan" else cfg["objective"]
        what = (f"MLP {game}: critic {d_sizes}, generator {g_sizes}{' with BatchNorm' if cfg['g_batchnorm'] else ''}; "
                f"{cfg['optimizer']} lr {cfg['lr']:g}{constraint}, M {cfg['batch_size']}, K {cfg['d_steps']}")
    else:
        what = (f"{cfg['model'].upper()} {cfg['objective']}: width {cfg['width']}, channels-last; "
                f"{cfg['optimizer']} lr {cfg['lr']:g}{constraint}, M {cfg['batch_size']}, K {cfg['d_steps']}")
    if cfg.get("compile"):
        eager_d = cfg["constraint"] in INPUT_GRADIENT_PENALTIES
        what += "; networks compiled (torch.compile" + (", D eager)" if eager_d else ")")
    ops = "matrix products and convolutions" if result.get("convolutions") else "matrix products"
    lines = [
        what,
        f"data: {result['data']} ({result['samples']} x {shape}); device {result['device']}, "
        f"{result['threads']} thread(s) of {result['cpus']} CPUs; torch {result['torch']}",
    ]
    if result["data_note"]:
        lines.append(f"note: {result['data_note']}")
    if load["before"]:
        lines.append(f"load average (1 min): {load['before'][0]:.2f} before, {load['after'][0]:.2f} after "
                     "(other processes share the machine when it is above 0)")
        busy = load["before"][0] + result["threads"] > (result["cpus"] or 1) + 0.5
        if result["device"] == "cpu" and result["threads"] > 1 and busy:
            lines.append("note: the CPUs are busy; OpenMP threads that spin-wait for a descheduled peer slow every "
                         "loop down, often many times over: compare --threads 1, or set OMP_WAIT_POLICY=PASSIVE")
    lines += [
        f"work per generator iteration: {result['flops_per_iteration'] / 1e9:.4g} GFLOP "
        f"({cfg['d_steps']} critic steps + 1 generator step, forward and backward; "
        f"{result['gemm_calls_per_iteration']} {ops})",
        f"medians of {result['rounds']} alternating rounds of {result['iterations']} iterations "
        "(it/CPU-s: per second of this process's CPU time, steadier than wall time on a shared machine):",
        f"  {'':36}{'it/s':>8}{'GFLOP/s':>9}{'ceiling it/s':>14}{'of ceiling':>12}{'it/CPU-s':>10}"
        f"{'of ceiling':>12}",
    ]

    def row(name: str, fig: dict[str, Any], ceiling: float | None, frac: float | None, frac_cpu: float | None) -> str:
        text = f"  {name:36}{fig['it_per_s']:8.2f}{fig['gflops']:9.1f}"
        text += f"{ceiling:14.2f}{frac:12.0%}" if ceiling else " " * 26
        text += f"{fig['it_per_cpu_s']:10.2f}" + (f"{frac_cpu:12.0%}" if frac_cpu else "")
        return text

    lines.append(row("gankit Trainer", result["ours"], result["ceiling_it_per_s"], result["fraction_of_ceiling"],
                     result["fraction_of_ceiling_cpu"]))
    if "baseline" in result:
        b = result["baseline"]
        lines.append(row("baseline (PyTorch-GAN wgan.py loop)", b, b["ceiling_it_per_s"], b["fraction_of_ceiling"],
                         b["fraction_of_ceiling_cpu"]))
    lines.append(row(("convs and matmuls" if result.get("convolutions") else "matrix products") + " alone (ceiling)",
                     result["gemm"], None, None, None))
    if "ratio" in result:
        lines.append(f"gankit / baseline: {result['ratio']:.2f}x (per CPU second: {result['ratio_cpu']:.2f}x)")
    return "\n".join(lines)
