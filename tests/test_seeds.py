"""Batched multi-seed training: each stacked run equals the single run with its seed, resumes exactly, and says
clearly what it cannot do."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from gankit import TrainConfig, Trainer, load_generator
from gankit.cli import main
from gankit.seeds import SeedsTrainer, check_memory, parse_seeds, train_seeds

SMALL = {"g_hidden": (32, 32), "d_hidden": (32, 32), "log_every": 10, "snapshot_every": 0, "progress": False,
         "tensorboard": False}


CLOCK = {"it_per_s"}  # the only record that depends on the machine's speed


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items() if v.dtype.is_floating_point}


def assert_close_relative(a: dict, b: dict, rtol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        rel = float((a[k] - b[k]).norm() / a[k].norm().clamp_min(1e-12))
        assert rel <= rtol, (k, rel)


@pytest.mark.parametrize("objective", ["gan", "wgan", "wgan-gp", "gan-r1", "pacgan", "sngan"])
def test_each_stacked_seed_is_the_single_run_with_that_seed(tmp_path, objective):
    config = TrainConfig(data="ring", objective=objective, iterations=20, **SMALL)
    stacked = SeedsTrainer(config, [3, 7], tmp_path / "many")
    stacked.fit()
    for seed, run in zip([3, 7], stacked.runs, strict=True):
        single = Trainer(dataclasses.replace(config, seed=seed), tmp_path / f"one-{seed}")
        single.fit()
        if objective == "sngan":
            # Adam steps each coordinate by about +-lr whatever its gradient's size, so a coordinate whose
            # gradient is rounding noise (tiny under spectral norm) moves by the sign of its last bit: compare
            # what the networks compute rather than each weight
            z = torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                torch.testing.assert_close(run.G.eval()(z), single.G.eval()(z), rtol=0, atol=5e-3)
            continue
        assert_close_relative(weights(single.G), weights(run.G), 1e-4)
        assert_close_relative(weights(single.D), weights(run.D), 1e-4)
        ours = [json.loads(x) for x in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
        theirs = [json.loads(x) for x in (single.run_dir / "metrics.jsonl").read_text().splitlines()]
        for a, b in zip(ours, theirs, strict=True):  # every record, not only the losses
            assert a.keys() == b.keys() and a["step"] == b["step"]
            for key in a.keys() - CLOCK:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_stacked_runs_are_reproducible_bit_for_bit_and_seeds_differ(tmp_path):
    config = TrainConfig(data="ring", objective="wgan-gp", iterations=10, **SMALL)
    a, b = (SeedsTrainer(config, [0, 1], tmp_path / name) for name in ("a", "b"))
    a.fit()
    b.fit()
    for x, y in zip(a.G.parameters(), b.G.parameters(), strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.runs[0].G.net[0].weight, a.runs[1].G.net[0].weight)


def test_a_resumed_batch_ends_with_the_same_weights(tmp_path):
    config = TrainConfig(data="ring", objective="gan-r1", iterations=20, checkpoint_every=7, g_batchnorm=True,
                         **SMALL)
    whole = SeedsTrainer(config, [1, 2, 5], tmp_path / "whole")
    whole.fit()
    half = SeedsTrainer(config, [1, 2, 5], tmp_path / "half")
    half.fit(steps=13)  # stopped inside the second logging interval
    resumed = SeedsTrainer.resume(tmp_path / "half")
    assert resumed.step == 13 and resumed.seeds == [1, 2, 5]
    resumed.fit()
    for net in ("G", "D"):
        for x, y in zip(getattr(whole, net).state_dict().values(), getattr(resumed, net).state_dict().values(),
                        strict=True):
            assert torch.equal(x, y)
    for seed in (1, 2, 5):
        lines = {name: [{k: v for k, v in json.loads(x).items() if k != "it_per_s"}
                        for x in (tmp_path / name / f"seed-{seed}" / "metrics.jsonl").read_text().splitlines()]
                 for name in ("whole", "half")}
        assert [r["step"] for r in lines["half"]] == [10, 20]
        assert lines["half"] == lines["whole"]  # the interval of the resume too: its sums were in the checkpoint


def test_every_seed_folder_is_a_normal_run_folder(tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["train", "--data", "ring", "--objective", "gan", "--iterations", "10", "--seeds", "0-1,4", "--g-hidden",
            "16", "--d-hidden", "16", "--log-every", "5", "--no-progress", "--no-tensorboard", "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["seed-0", "seed-1", "seed-4", "seeds.json", "seeds.png",
                                                     "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    losses = [summary["last"][f"seed-{s}"]["d_loss"] for s in (0, 1, 4)]
    assert summary["over_seeds"]["d_loss"]["mean"] == pytest.approx(np.mean(losses))
    G, info = load_generator(out / "seed-4")
    assert info["config"].seed == 4 and info["step"] == 10
    assert main(["sample", str(out / "seed-1"), "--n", "20", "--out", str(tmp_path / "s.npy")]) == 0
    assert main(["train", "--resume", str(out), "--iterations", "15", "--no-progress"]) == 0
    assert load_generator(out / "seed-0")[1]["step"] == 15


@pytest.mark.parametrize(("text", "seeds"), [("0-3", [0, 1, 2, 3]), ("3,7,11", [3, 7, 11]), ("0-1, 5", [0, 1, 5]),
                                             ("4", [4])])
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "message"),
                         [("", "got nothing"), ("a-b", "'a-b' is neither a seed"), ("1,1", r"\[1\] appear more"),
                          ("5-2", "runs backwards; write 2-5"), ("1-", "neither a seed"), ("-3", "neither a seed")])
def test_bad_seed_lists_are_refused_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        parse_seeds(text)


def test_more_seeds_than_fit_say_how_many_fit(tmp_path, monkeypatch):
    import gankit.seeds as seeds

    run = Trainer(TrainConfig(data="ring", **SMALL), tmp_path / "r")
    per_seed = seeds.seed_bytes(run)
    monkeypatch.setattr(seeds, "_available_bytes", lambda device: int(10.5 * per_seed / 0.8))
    check_memory(run, 10)
    with pytest.raises(ValueError, match="at most 10 seeds fit; pass fewer --seeds"):
        check_memory(run, 11)


def test_what_cannot_stack_runs_one_seed_after_another(tmp_path):
    config = TrainConfig(data="digits", objective="gan", iterations=2, width=4, augment="translation", **SMALL)
    with pytest.raises(ValueError, match="--augment translation cannot train stacked seeds"):
        SeedsTrainer(config, [0, 1], tmp_path / "no")
    generators, dirs = train_seeds(config, [0, 1], tmp_path / "yes")
    assert [d.name for d in dirs] == ["seed-0", "seed-1"] and len(generators) == 2
    assert (tmp_path / "yes" / "summary.json").exists()


# --------------------------------------------------------------------------- seeds trained in turn

IN_TURN = {"data": "digits", "model": "dcgan", "width": 8, "batch_size": 32, "iterations": 20, "log_every": 10,
           "snapshot_every": 0, "checkpoint_every": 1000, "progress": False, "tensorboard": False,
           "objective": "gan", "augment": "translation"}  # DiffAugment: no stack


def test_seeds_that_cannot_stack_train_in_turn_each_as_its_single_run(tmp_path, caplog):
    from gankit.api import session
    from gankit.seeds import SeedsInTurn

    config = TrainConfig(**IN_TURN)
    with caplog.at_level("INFO", logger="gankit.seeds"), session(config, tmp_path / "many", seeds=[2, 5]) as trainer:
        assert isinstance(trainer, SeedsInTurn)
        trainer.fit()
    assert "one after another: --augment translation" in caplog.text
    manifest = json.loads((tmp_path / "many" / "seeds.json").read_text())
    assert manifest["seeds"] == [2, 5] and manifest["stacked"] is False
    summary = json.loads((tmp_path / "many" / "summary.json").read_text())
    assert summary["runs"] == ["seed-2", "seed-5"] and summary["over_seeds"]["d_loss"]["n"] == 2
    assert (tmp_path / "many" / "seeds.png").exists()  # each seed drew its samples.png at its end
    assert all((d / "samples.png").exists() for d in trainer.run_dirs)
    for seed, G in zip([2, 5], trainer.generators, strict=True):
        single = Trainer(dataclasses.replace(config, seed=seed), tmp_path / f"one-{seed}")
        single.fit()
        for a, b in zip(weights(single.G).values(), weights(G).values(), strict=True):
            assert torch.equal(a, b)
        ours, theirs = ([json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
                        for d in (tmp_path / "many" / f"seed-{seed}", single.run_dir))
        assert [{k: v for k, v in r.items() if k not in CLOCK} for r in ours] == \
            [{k: v for k, v in r.items() if k not in CLOCK} for r in theirs]
    assert not torch.equal(*(weights(G)["stages.0.weight"] for G in trainer.generators))
    with pytest.raises(FileExistsError, match="--resume"):  # a second run into the same folder
        with session(config, tmp_path / "many", seeds=[2, 5]) as again:
            again.fit()


def test_seeds_in_turn_stopped_by_a_signal_resume_where_they_stopped(tmp_path):
    import os
    import signal

    from gankit.interrupt import Interrupted
    from gankit.seeds import SeedsInTurn, resume_seeds

    config = TrainConfig(**IN_TURN)

    def stop_in_seed_5(run, record):  # Ctrl-C at the first logging step of the second seed
        if run.config.seed == 5 and record["step"] == 10:
            os.kill(os.getpid(), signal.SIGINT)

    first = SeedsInTurn(config, [2, 5], tmp_path / "run", callbacks=[stop_in_seed_5])
    with pytest.raises(Interrupted) as stop:
        first.fit()
    assert stop.value.run_dir == tmp_path / "run" and stop.value.step == 10
    resumed = resume_seeds(tmp_path / "run", iterations=30)  # and longer: every seed goes on
    assert isinstance(resumed, SeedsInTurn)
    resumed.fit()
    for seed, G in zip([2, 5], resumed.generators, strict=True):
        whole = Trainer(dataclasses.replace(config, seed=seed, iterations=30), tmp_path / f"whole-{seed}")
        whole.fit()
        for a, b in zip(weights(whole.G).values(), weights(G).values(), strict=True):
            assert torch.equal(a, b)
        steps = [json.loads(x)["step"] for x in (tmp_path / "run" / f"seed-{seed}" / "metrics.jsonl").read_text()
                 .splitlines()]
        assert steps == [10, 20, 30]


def test_resnet_seeds_on_a_cpu_train_in_turn_and_dcgan_seeds_stack(tmp_path):
    from gankit.seeds import SeedsInTurn, seeds_trainer, why_in_turn

    tiny = {k: v for k, v in IN_TURN.items() if k != "augment"}
    resnet = seeds_trainer(TrainConfig(**{**tiny, "model": "resnet"}, device="cpu"), [0, 1], tmp_path / "r")
    assert isinstance(resnet, SeedsInTurn) and "slower on a CPU" in why_in_turn(resnet.first)
    unset = {k: v for k, v in tiny.items() if k != "snapshot_every"}  # stacked: no snapshots unless asked for
    dcgan = seeds_trainer(TrainConfig(**unset, device="cpu"), [0, 1], tmp_path / "d")
    assert isinstance(dcgan, SeedsTrainer) and len(dcgan.runs) == 2
    assert [r.config.snapshot_every for r in dcgan.runs] == [0, 0]


# --------------------------------------------------------------------------- seeds side by side (worker processes)

SIDE = {k: v for k, v in IN_TURN.items() if k != "augment"}  # a DCGAN that stacks: side by side by choice


def test_image_seeds_on_a_cpu_with_free_cores_train_side_by_side(tmp_path, monkeypatch):
    from gankit.seed_workers import PROCESSES_PER_CORE, side_by_side
    from gankit.seeds import SeedsInTurn, seeds_trainer

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    dcgan, mlp = TrainConfig(**SIDE), TrainConfig(data="ring")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert side_by_side(dcgan, cpu, 3) == (3, 1)
    assert side_by_side(dcgan, cpu, 16) == (2 * PROCESSES_PER_CORE, 1)
    assert side_by_side(dcgan, cuda, 3) == (1, 1) and side_by_side(mlp, cpu, 3) == (1, 1)
    assert side_by_side(dcgan, cpu, 1) == (1, 1)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert side_by_side(dcgan, cpu, 3) == (3, 2)  # fewer seeds than cores: the threads shared out
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert side_by_side(dcgan, cpu, 3) == (1, 1)  # one free core: the stack
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    trainer = seeds_trainer(TrainConfig(**SIDE, device="cpu"), [0, 1, 2], tmp_path / "s")
    assert isinstance(trainer, SeedsInTurn) and (trainer.processes, trainer.threads) == (3, 1)
    stacked = seeds_trainer(TrainConfig(**SIDE, device="cpu"), [0, 1], tmp_path / "c", callbacks=[print])
    assert isinstance(stacked, SeedsTrainer)  # callbacks cannot reach other processes
    with pytest.raises(ValueError, match="callbacks cannot reach"):
        SeedsInTurn(dcgan, [0, 1], tmp_path / "x", callbacks=[print], processes=2)


def single_thread_run(config: TrainConfig, run_dir) -> Trainer:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = Trainer(config, run_dir)
        run.fit()
    finally:
        torch.set_num_threads(threads)
    return run


def test_seeds_side_by_side_are_their_single_runs_and_resume_where_a_signal_stopped_them(tmp_path):
    import os
    import signal
    import threading
    import time

    from gankit.interrupt import Interrupted
    from gankit.seeds import SeedsInTurn, resume_seeds

    config = TrainConfig(**{**SIDE, "iterations": 400, "checkpoint_every": 20})
    run_dir = tmp_path / "run"

    def stop_when_training():  # SIGINT to this process once both workers have logged: it passes the stop on
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all((run_dir / f"seed-{s}" / "metrics.jsonl").exists()
                                                      for s in (2, 5)):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    first = SeedsInTurn(config, [2, 5, 9], run_dir, processes=2, threads=1)
    threading.Thread(target=stop_when_training, daemon=True).start()
    with pytest.raises(Interrupted) as stop:
        first.fit()
    assert stop.value.run_dir == run_dir and 0 < stop.value.step < 400
    assert not (run_dir / "seed-9").exists()  # not started: the stop came first
    resumed = resume_seeds(run_dir)
    assert isinstance(resumed, SeedsInTurn)
    resumed.processes = 2  # as many workers as before, whatever this machine's free cores
    resumed.fit()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["runs"] == ["seed-2", "seed-5", "seed-9"] and summary["over_seeds"]["d_loss"]["n"] == 3
    assert (run_dir / "seeds.png").exists() and all((d / "samples.png").exists() for d in resumed.run_dirs)
    for seed, G in zip([2, 5, 9], resumed.generators, strict=True):
        whole = single_thread_run(dataclasses.replace(config, seed=seed), tmp_path / f"whole-{seed}")
        for a, b in zip(weights(whole.G).values(), weights(G).values(), strict=True):
            assert torch.equal(a, b)
        ours, theirs = ([json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
                        for d in (run_dir / f"seed-{seed}", whole.run_dir))
        assert [{k: v for k, v in r.items() if k not in CLOCK} for r in ours] == \
            [{k: v for k, v in r.items() if k not in CLOCK} for r in theirs]
    assert resumed.records and set(resumed.records[0]) >= {"d_loss", "g_loss"}
