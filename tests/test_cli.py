"""The gankit command: every sub-command has --help, train/sample round trip, clear errors."""

import subprocess
import sys

import numpy as np
import pytest

from gankit.cli import build_parser, main

COMMANDS = [["train"], ["sample"], ["datasets"], ["divergences"], ["divergences", "demo"], ["demo"], ["eval"],
            ["classifier"], ["classifier", "train"], ["classifier", "list"], ["bench"], ["benchmark"], ["experiment"],
            ["report"], ["explore"], ["export"], ["doctor"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: gankit" in capsys.readouterr().out


def test_every_config_field_is_a_flag():
    import dataclasses

    from gankit import TrainConfig
    from gankit.cli.flags import flag

    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for f in dataclasses.fields(TrainConfig):
        assert flag(f.name) in text, flag(f.name)
        assert f.metadata["help"], f.name  # every field's help lives with the field


@pytest.mark.parametrize("module", ["gankit", "gankit.cli"])
def test_python_m_gankit_runs(module):
    out = subprocess.run([sys.executable, "-m", module, "datasets"], capture_output=True, text=True, check=True)
    assert "fashion-mnist" in out.stdout and "ring" in out.stdout and "options: n=100000" in out.stdout


def test_help_and_datasets_import_nothing_heavy():
    """``gankit --help``, ``gankit COMMAND --help`` and ``gankit datasets`` load no torch, SciPy, POT,
    scikit-learn or matplotlib (and no busy-CPU probe runs)."""
    code = """if True:
        import sys
        from gankit import cli
        cli._busy_cpus = None  # a call would fail: no probe for these
        for argv in (["--help"], ["datasets"], ["--version"], *[[*c, "--help"] for c in COMMANDS]):
            try:
                assert cli.main(argv) == 0, argv
            except SystemExit as e:
                assert e.code == 0, argv
        heavy = sorted(m for m in ("torch", "scipy", "ot", "sklearn", "matplotlib") if m in sys.modules)
        print("HEAVY", heavy)
    """
    code = f"COMMANDS = {COMMANDS!r}\n{code}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout[-2000:]


def test_version(capsys):
    import gankit

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"gankit {gankit.__version__}"
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert gankit.__version__ == project["version"]


def test_train_then_sample_in_every_format(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", "gaussian-1d", "--data-option", "mean=5", "--data-option", "n=2000",
            "--objective", "wgan", "--iterations", "30", "--lr", "1e-3", "--g-hidden", "16,16", "--d-hidden", "16",
            "--log-every", "10", "--snapshot-every", "0", "--no-progress", "--no-tensorboard", "--out", str(run)]
    assert main(args) == 0
    assert "run folder:" in capsys.readouterr().out
    assert main(["sample", str(run), "--n", "500", "--out", str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (500, 1)
    assert main(["sample", str(run), "--n", "50", "--out", str(tmp_path / "s.csv")]) == 0
    assert np.loadtxt(tmp_path / "s.csv", delimiter=",").shape == (50,)
    assert main(["sample", str(run), "--n", "50", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    # resume to more iterations; a changed model or a refused value is named by its flag
    assert main(["train", "--resume", str(run), "--iterations", "40", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--d-hidden", "8", "--iterations", "50"]) == 2
    err = capsys.readouterr().err
    assert "--d-hidden: run has (16,), asked (8,)" in err and "d_hidden" not in err
    assert "Only --checkpoint-every, --device, --eval-every, --iterations, --log-every, --quiet" in err
    assert main(["train", "--resume", str(run), "--log-every", "0"]) == 2
    err = capsys.readouterr().err
    assert "--log-every must be >= 1" in err and "log_every" not in err


def test_sample_truncated_and_along_latent_paths(tmp_path, capsys):
    points, images = tmp_path / "points", tmp_path / "images"
    common = ["--iterations", "2", "--g-hidden", "8", "--d-hidden", "8", "--no-progress", "--no-tensorboard",
              "--snapshot-every", "0"]
    assert main(["train", "--data", "ring", *common, "--out", str(points)]) == 0
    assert main(["train", "--data", "digits", "--width", "8", *common, "--out", str(images)]) == 0
    assert main(["sample", str(points), "--n", "300", "--truncation", "0.5", "--out", str(tmp_path / "t.npy")]) == 0
    assert np.load(tmp_path / "t.npy").shape == (300, 2)
    assert main(["sample", str(points), "--interpolate", "3", "--steps", "6", "--out", str(tmp_path / "p.npy")]) == 0
    paths = np.load(tmp_path / "p.npy")
    assert paths.shape == (3, 6, 2)
    assert main(["sample", str(points), "--interpolate", "3", "--lerp", "--out", str(tmp_path / "p.png")]) == 0
    assert main(["sample", str(images), "--interpolate", "4", "--steps", "5", "--out", str(tmp_path / "i.png")]) == 0
    assert main(["sample", str(images), "--interpolate", "4", "--truncation", "1", "--out",
                 str(tmp_path / "i.gif")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "i.gif") as gif:
        assert gif.n_frames == 10 + 8  # 10 steps there, 8 back
    with Image.open(tmp_path / "i.png") as grid:  # 4 rows of 5 images of 8 x 8, 2 pixels apart, scaled 2x
        assert grid.size == (2 * (5 * 10 + 2), 2 * (4 * 10 + 2))
    capsys.readouterr()
    assert main(["sample", str(points), "--interpolate", "3", "--out", str(tmp_path / "p.gif")]) == 2
    assert "paths of points go to .npy or .png" in capsys.readouterr().err


def test_config_file_then_flags(tmp_path):
    from gankit.cli import config_from_args

    (tmp_path / "c.json").write_text('{"objective": "gan", "lr": 0.01, "g_lr": 0.01, "iterations": 9}')
    parser = build_parser()
    cfg = config_from_args(parser.parse_args(["train", "--config", str(tmp_path / "c.json"), "--objective", "wgan"]))
    paper = cfg.resolved("image", (1, 28, 28))  # the preset's settings for images are the paper's
    assert (paper.objective, paper.lr, paper.optimizer, paper.iterations) == ("wgan", 5e-5, "rmsprop", 9)
    cfg = config_from_args(parser.parse_args(["train", "--config", str(tmp_path / "c.json"), "--lr", "0.5"]))
    cfg = cfg.resolved("points", (1,))
    assert (cfg.lr, cfg.g_lr, cfg.d_lr) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [(["train", "--data", "nope"], "unknown data set 'nope'"),
     (["train", "--d-steps", "0"], "--d-steps (K) must be >= 1; got 0"),
     (["train", "--lr", "-1"], "--lr must be > 0"),
     (["train", "--momentum", "0.5"], "--momentum applies to optimizer sgd only"),
     (["train", "--g-hidden", "8,0"], "--g-hidden must be one or more positive widths"),
     (["sample", "no/such/run", "--out", "x.npy"], "no generator here")],
)
def test_errors_are_one_clear_line_naming_the_flag(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error:") and message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [(["train", "--objective", "wgn"], "argument --objective: invalid choice: 'wgn'"),
     (["train", "--optimizer", "adagrad"], "argument --optimizer: invalid choice: 'adagrad'"),
     (["train", "--model", "vgg"], "argument --model: invalid choice"),
     (["train", "--activation", "gelu"], "argument --activation: invalid choice"),
     (["experiment", "nope"], "argument NAME: invalid choice")],
)
def test_names_outside_the_choices_are_refused_by_the_parser(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_config_file_error_names_the_file_and_the_key(tmp_path, capsys):
    (tmp_path / "c.json").write_text('{"d_steps": 0}')
    assert main(["train", "--config", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'c.json'}: d_steps (K) must be >= 1" in err and "--d-steps" not in err
    (tmp_path / "d.json").write_text('{"optimizer": "sgd", "momentum": 0.5}')  # a flag then clashes with the file
    assert main(["train", "--config", str(tmp_path / "d.json"), "--optimizer", "adam"]) == 2
    assert f"{tmp_path / 'd.json'}: momentum applies to optimizer sgd only" in capsys.readouterr().err


def test_help_lists_the_choices_and_says_each_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for names in ("one of: mlp, dcgan", "one of: adam, rmsprop, sgd", "one of: relu, leaky_relu, tanh, elu",
                  "one of: gan, minimax, wgan, wgan-gp"):
        assert names in text, names
    assert "(default: None)" not in text and "None:" not in text
    assert "--iterations N T: generator updates (default: the preset's)" in text
    assert "--g-lr X generator learning rate (default: --lr)" in text
    assert "--no-progress" not in text and "--quiet" in text  # the old spelling works but is not advertised


def test_sample_refuses_an_unknown_suffix(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "--iterations", "2", "--g-hidden", "8", "--d-hidden", "8", "--no-progress", "--no-tensorboard",
          "--snapshot-every", "0", "--out", str(run)])
    assert main(["sample", str(run), "--out", str(tmp_path / "x.txt")]) == 2
    assert "suffix must be .npy, .npz, .csv or .png" in capsys.readouterr().err
    # checked before anything is loaded: a missing run is not even looked at
    assert main(["sample", "no/such/run", "--out", str(tmp_path / "x.txt")]) == 2
    assert "suffix must be .npy, .npz, .csv or .png" in capsys.readouterr().err
    assert main(["sample", "no/such/run", "--interpolate", "2", "--out", str(tmp_path / "x.csv")]) == 2
    assert "suffix must be .npy, .png or .gif" in capsys.readouterr().err


def test_divergences_demo_prints_the_table(tmp_path, capsys):
    assert main(["divergences", "demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "point_masses" in out and "+inf" in out
    assert (tmp_path / "divergences.png").exists()


def test_a_run_on_csv_rows_samples_in_the_columns_units(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.normal([50.0, -3.0, 1000.0], [5.0, 0.1, 100.0], size=(3000, 3))
    np.savetxt(tmp_path / "table.csv", rows, delimiter=",", header="a,b,c", comments="")
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "table.csv"), "--objective", "gan", "--iterations", "300",
                 "--g-hidden", "32,32", "--d-hidden", "32,32", "--no-progress", "--no-tensorboard",
                 "--snapshot-every", "0", "--out", str(run)]) == 0
    assert main(["sample", str(run), "--n", "2000", "--out", str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    # Standardisation is undone: each column's mean is within a few of its std of the data's.
    assert x.shape == (2000, 3)
    assert np.all(np.abs(x.mean(0) - rows.mean(0)) < 1.5 * rows.std(0))
    assert abs(x[:, 2].mean() - 1000) < 150
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "s.csv")]) == 0
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "a,b,c" and len(lines) == 6  # the training file's header, then the samples


def test_threads_leave_out_the_cpus_other_processes_keep_busy(monkeypatch):
    import os

    import torch

    from gankit import cli

    before = torch.get_num_threads()
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    try:
        torch.set_num_threads(4)
        monkeypatch.setattr(cli, "_busy_cpus", lambda: 2.2)
        cli.set_threads(0)
        assert torch.get_num_threads() == 2
        torch.set_num_threads(4)
        monkeypatch.setattr(cli, "_busy_cpus", lambda: 0.1)
        cli.set_threads(0)
        assert torch.get_num_threads() == 4
        cli.set_threads(3)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_busy_cpus_is_a_share_of_the_machine():
    import os

    from gankit import cli

    assert 0 <= cli._busy_cpus(0.01) <= (os.cpu_count() or 1) + 1e-9


def test_the_busy_cpu_probe_runs_only_for_training_and_speaks_only_with_verbose(monkeypatch, tmp_path, capsys,
                                                                                 caplog):
    import logging
    import os

    import torch

    from gankit import cli

    calls = []
    monkeypatch.setattr(cli, "_busy_cpus", lambda: calls.append(1) or 3.0)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)
        assert main(["datasets"]) == 0 and not calls  # no probe for a command that does not train
        train = ["train", "--iterations", "1", "--g-hidden", "4", "--d-hidden", "4", "--quiet", "--no-tensorboard",
                 "--snapshot-every", "0"]
        with caplog.at_level(logging.INFO, logger="gankit"):
            assert main([*train, "--out", str(tmp_path / "a")]) == 0
            assert calls and "CPUs busy" not in caplog.text
            torch.set_num_threads(4)
            assert main(["-v", *train, "--out", str(tmp_path / "b")]) == 0
            assert "other processes keep 3.0 CPUs busy: using 1 torch thread(s)" in caplog.text
        calls.clear()
        assert main([*train, "--threads", "2", "--out", str(tmp_path / "c")]) == 0  # after the command, too
        assert torch.get_num_threads() == 2 and not calls
    finally:
        torch.set_num_threads(before)


def test_the_defaults_the_parsers_show_are_the_librarys():
    """The measuring commands' parsers import none of their modules; the defaults they show must still agree."""
    from gankit import benchmark, classifier, evaluation
    from gankit.cli import tools

    assert tools.N_STACKED == evaluation.N_STACKED
    assert (tools.BENCHMARK_DATA, tools.BENCHMARK_RECIPES) == (benchmark.DEFAULT_DATA, benchmark.DEFAULT_RECIPES)
    from gankit import image_benchmark

    assert tools.IMAGE_DATA == image_benchmark.IMAGE_DATA
    assert image_benchmark.DEFAULT_ITERATIONS == {"fashion-mnist": 3000, "digits": 2000}  # as --iterations' help
    assert tools.CLASSIFIER_DATA == tuple(sorted(classifier.CLASSIFIER_FOR))
    assert all(part in tools.CACHE for part in ("GANKIT_CACHE", "XDG_CACHE_HOME", ".cache/gankit"))
