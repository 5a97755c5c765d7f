"""Runs that are killed, interrupted or raced: nothing is lost and a resumed run ends bit-identical.

* kill -9 at 10 random moments of a run that checkpoints every iteration (many
  kills land inside a checkpoint write): each is resumed and ends with the same
  weights, optimiser states and metrics as the run that was never killed;
* kill -9 at 10 random moments of four stacked seeds that checkpoint every
  iteration (most kills land between two seeds' writes): one manifest names the
  iteration every seed holds, so each set resumes and ends bit-identical;
* SIGINT and SIGTERM: the iteration in progress finishes, the checkpoint is
  written, the exact ``--resume`` command is printed, the exit code is 130 / 143,
  and the resumed run ends bit-identical; a second Ctrl-C aborts at once;
* two trainers into one folder: the second is refused, the first ends intact.

The runs are forked from the test process (torch is already imported), so each
trial takes about a second.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import gankit
from gankit import TrainConfig, writing
from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.interrupt import StopRequest, stop_requests
from gankit.runlock import LOCK_FILE, RunLock, RunLockedError
from gankit.seeds import SeedsTrainer, manifest_step
from gankit.training import Trainer

FIELDS = {"data": "ring", "data_options": {"n": 500}, "iterations": 200, "g_hidden": (16,), "d_hidden": (16,),
          "log_every": 10, "checkpoint_every": 1, "snapshot_every": 0, "progress": False, "tensorboard": False}
FLAGS = ["--data-option", "n=500", "--iterations", "200", "--g-hidden", "16", "--d-hidden", "16", "--log-every", "10",
         "--snapshot-every", "0", "--no-progress", "--no-tensorboard"]


def _state(run: Path) -> dict:
    return load_checkpoint(run / "checkpoints" / "latest.pt")


def _same_tensors(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b, strict=True))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


def _metrics(run: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "it_per_s"} for r in lines]


def assert_identical(run: Path, reference: Path) -> None:
    """Same step, weights, optimiser states, random streams and metrics lines.

    The line of the logging interval the run was stopped in is a mean over the whole
    interval too: the checkpoint holds the interval's partial sums.
    """
    a, b = _state(run), _state(reference)
    assert a["step"] == b["step"]
    for key in ("generator", "discriminator", "opt_g", "opt_d", "rng", "window"):
        assert _same_tensors(a[key], b[key]), f"{key} differs from the uninterrupted run"
    ours, theirs = _metrics(run), _metrics(reference)
    assert [r["step"] for r in ours] == [r["step"] for r in theirs]  # none lost, none twice
    assert ours == theirs
    assert not list((run / "checkpoints").glob(".*.tmp*")), "a partial checkpoint write was left behind"
    assert not (run / LOCK_FILE).exists(), "the lock file was left behind"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The run never interrupted."""
    run = tmp_path_factory.mktemp("reference") / "run"
    Trainer(TrainConfig(**FIELDS), run).fit()
    return run


def _fork(work, *, stderr: Path | None = None) -> int:
    """Run ``work()`` in a forked child (its exit status is ``work``'s return value)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            if stderr is not None:  # the file descriptors and Python's streams (pytest may have replaced them)
                fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 2)
                os.dup2(fd, 1)
                sys.stdout = sys.stderr = open(fd, "w", buffering=1, closefd=False)  # noqa: SIM115
            code = work()
        finally:
            sys.stderr.flush()
            os._exit(code)
    return pid


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def _train(run: Path, **fields) -> int:
    Trainer(TrainConfig(**{**FIELDS, **fields}), run).fit()
    return 0


def _first_metrics_line(run: Path, timeout: float = 60.0) -> None:
    path = run / "metrics.jsonl"
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never got a line"
        time.sleep(0.002)


def _logged_step(run: Path) -> int:
    """The step of the last whole line of the run's metrics (0 before the first)."""
    path = run / "metrics.jsonl"
    lines = path.read_text().split("\n")[:-1] if path.exists() else []  # the last piece may be half written
    return json.loads(lines[-1])["step"] if lines else 0


def _resume_or_restart(run: Path) -> None:
    if (run / "checkpoints" / "latest.pt").exists():
        Trainer.resume(run).fit()
    else:  # killed before its first checkpoint: train again into the same folder
        Trainer(TrainConfig(**FIELDS), run).fit()


def test_kill_9_at_ten_random_moments_then_resume_ends_bit_identical(tmp_path, reference):
    rng = random.Random(12)
    tic = time.perf_counter()
    Trainer(TrainConfig(**FIELDS), tmp_path / "timing").fit(steps=50)
    per_step = (time.perf_counter() - tic) / 50
    outcomes = []
    for trial in range(10):
        run = tmp_path / f"kill{trial}"
        after = rng.randrange(0, FIELDS["iterations"] - 40)  # the run's own progress, not the clock, picks the
        pid = _fork(lambda run=run: _train(run))  # moment: a load that slows the trials cannot let one finish
        _wait_for(run / LOCK_FILE)
        while after and _logged_step(run) < after:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, FIELDS["log_every"] * per_step))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the run ended before the kill: widen the run"
        torn = bool(list((run / "checkpoints").glob(".*.tmp*"))) if (run / "checkpoints").exists() else False
        step = _state(run)["step"] if (run / "checkpoints" / "latest.pt").exists() else 0
        _resume_or_restart(run)
        assert_identical(run, reference)
        outcomes.append((step, torn))
    print(f"kill -9 at steps {[s for s, _ in outcomes]}; {sum(t for _, t in outcomes)} inside a checkpoint write; "
          "10/10 bit-identical after resume")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_saves_names_the_resume_command_and_the_resumed_run_is_identical(tmp_path, reference, signum):
    run = tmp_path / "run"
    err = tmp_path / "stderr.txt"
    rng = random.Random(int(signum))
    argv = ["train", "--out", str(run), *FLAGS, "--checkpoint-every", "100000"]  # only the signal saves mid-run
    pid = _fork(lambda: main(argv), stderr=err)
    _first_metrics_line(run)  # in the loop: iteration 10 is done
    time.sleep(rng.uniform(0, 0.1))
    os.kill(pid, signum)
    _, status = os.waitpid(pid, 0)
    text = err.read_text()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signum, text
    step = _state(run)["step"]
    assert 0 < step < 200, text
    assert f"at iteration {step} of 200" in text and f"continue with: gankit train --resume {run}" in text, text
    assert "Traceback" not in text
    assert not (run / LOCK_FILE).exists()
    assert main(["train", "--resume", str(run)]) == 0
    # the reference checkpoints every iteration, this run did not: the saves change nothing
    assert_identical(run, reference)


def test_a_second_ctrl_c_aborts_at_once_and_leaves_a_whole_checkpoint(tmp_path):
    request = StopRequest()
    request._handle(signal.SIGINT, None)
    request._handle(signal.SIGTERM, None)  # torchrun's SIGTERM after the terminal's SIGINT: still stopping
    assert request.signum == signal.SIGINT
    with pytest.raises(KeyboardInterrupt):
        request._handle(signal.SIGINT, None)
    run, err = tmp_path / "run", tmp_path / "stderr.txt"
    pid = _fork(lambda: main(["train", "--out", str(run), *FLAGS, "--iterations", "100000"]), stderr=err)
    _wait_for(run / "checkpoints" / "latest.pt")
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 130, err.read_text()
    assert _state(run)["step"] >= 1  # whatever was last written is whole
    assert not (run / LOCK_FILE).exists()


def test_handlers_come_back_after_the_loop():
    before = signal.getsignal(signal.SIGINT)
    with stop_requests():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


def test_sigint_stops_stacked_seeds_after_saving_every_seed(tmp_path):
    run, err = tmp_path / "seeds", tmp_path / "stderr.txt"
    argv = ["train", "--out", str(run), "--seeds", "0-2", *FLAGS, "--iterations", "100000", "--checkpoint-every",
            "100000"]
    pid = _fork(lambda: main(argv), stderr=err)
    _wait_for(run / "seed-2" / "config.json")
    time.sleep(0.2)
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 130, err.read_text()
    steps = {_state(run / f"seed-{s}")["step"] for s in range(3)}
    assert len(steps) == 1 and steps.pop() > 0
    assert f"continue with: gankit train --resume {run}" in err.read_text()
    assert not list(run.rglob(LOCK_FILE))


SEEDS = [0, 1, 2, 3]
STACKED = {**FIELDS, "iterations": 20, "log_every": 5}


def _train_seeds(run: Path) -> int:
    SeedsTrainer(TrainConfig(**STACKED), SEEDS, run, pictures=False).fit()
    return 0


def _resume_seeds(run: Path) -> int:
    if manifest_step(run) is None:  # killed before the first set was named: train again into the folder
        return _train_seeds(run)
    SeedsTrainer.resume(run, pictures=False).fit()
    return 0


def _in_child(work) -> None:
    """Run ``work()`` in a forked child and wait for it to succeed.

    Stacked runs train in children only: a batched product run in this process before a fork can
    leave the children's thread pools waiting for threads that were not forked.
    """
    pid = _fork(work)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


@pytest.mark.slow
def test_kill_9_of_stacked_seeds_at_ten_random_moments_then_resume_ends_bit_identical(tmp_path, monkeypatch):
    """Every iteration writes four checkpoints and the manifest, so many kills land between two seeds' writes;
    each resumed set ends as the stacked run never killed, seed by seed."""
    monkeypatch.setattr(writing, "_fsync", lambda *a: None)  # kill -9 spares the page cache: flushing is not tested
    reference = tmp_path / "reference"
    pid = _fork(lambda: _train_seeds(reference))
    _wait_for(reference / LOCK_FILE)
    tic = time.perf_counter()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    per_step = (time.perf_counter() - tic) / STACKED["iterations"]  # an iteration, its saves and its share of the end
    rng = random.Random(22)
    outcomes = []
    for trial in range(10):
        run = tmp_path / f"kill{trial}"
        after = rng.randrange(0, STACKED["iterations"] - 4)  # a moment inside the iteration after ``after``: the
        pid = _fork(lambda run=run: _train_seeds(run))  # run's own progress, not the clock, picks it
        _wait_for(run / LOCK_FILE)
        while after and (manifest_step(run) or 0) < after:
            time.sleep(0.001)
        time.sleep(rng.uniform(0, per_step))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the run ended before the kill: widen the run"
        latest = {s: _state(run / f"seed-{s}")["step"] for s in SEEDS
                  if (run / f"seed-{s}" / "checkpoints" / "latest.pt").exists()}
        staged = list(run.glob("seed-*/checkpoints/staged-*.pt"))
        between = len(set(latest.values())) > 1 or 0 < len(latest) < len(SEEDS) or bool(staged)
        _in_child(lambda run=run: _resume_seeds(run))
        for s in SEEDS:
            assert_identical(run / f"seed-{s}", reference / f"seed-{s}")
        assert not list(run.glob("seed-*/checkpoints/staged-*.pt"))
        outcomes.append((min(latest.values(), default=0), between))
    print(f"kill -9 of --seeds 0-3 at steps {[s for s, _ in outcomes]}; {sum(b for _, b in outcomes)} of 10 between "
          "two seeds' checkpoint writes; 10/10 bit-identical after resume")


def test_two_trainers_into_one_folder_the_second_is_refused_the_first_ends_intact(tmp_path, reference, capsys):
    run = tmp_path / "run"
    pid = _fork(lambda: _train(run))
    _wait_for(run / "checkpoints" / "latest.pt")
    for argv in (["train", "--resume", str(run), "--iterations", "300"],
                 ["train", "--out", str(run), "--overwrite", *FLAGS],
                 ["train", "--out", str(run), *FLAGS]):
        assert main(argv) == 2
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert "in use: another training (pid" in line or "already holds a run" in line, line
    with pytest.raises(RunLockedError, match=f"pid {pid} "):
        RunLock(run).acquire()
    assert os.waitpid(pid, os.WNOHANG) == (0, 0), "the first trainer ended before the second was tried"
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert_identical(run, reference)


def test_a_stale_lock_of_a_dead_process_is_reported_and_replaced(tmp_path, caplog):
    run = tmp_path / "run"
    pid = _fork(lambda: (RunLock(run).acquire(), os.kill(os.getpid(), signal.SIGKILL)) and 0)
    os.waitpid(pid, 0)
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == pid
    with RunLock(run):
        assert json.loads((run / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"replacing a stale lock of pid {pid}" in caplog.text and "gone" in caplog.text
    assert not (run / LOCK_FILE).exists()


@pytest.mark.slow
def test_the_command_stops_on_sigterm_in_a_fresh_interpreter(tmp_path):
    """The same through ``python -m gankit`` (handlers installed by a real process's main thread)."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(gankit.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "--threads", "1", "train", "--out", str(run), *FLAGS,
                             "--iterations", "100000"], stderr=subprocess.PIPE, text=True, env=env)
    _wait_for(run / "metrics.jsonl", timeout=120)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    step = _state(run)["step"]
    assert f"stopped on SIGTERM at iteration {step} of 100000" in err and "--resume" in err, err
