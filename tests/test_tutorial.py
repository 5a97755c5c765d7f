"""docs/tutorial.md runs as written, at a small scale: its commands exit 0 and its Python runs."""

import re
import shlex
from pathlib import Path

import pytest

from gankit.cli import build_parser, main

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
TEXT = TUTORIAL.read_text()
SHELL = re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S)
PYTHON = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
INLINE = [span for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", TEXT, flags=re.S))
          if span.startswith("gankit ")]
SMALL = 20  # iterations of every training run here


def small(argv: list[str]) -> list[str]:
    """The command at a small scale: SMALL iterations, and a quick evaluation."""
    argv = list(argv)
    if argv[0] == "train":
        if "--iterations" in argv:
            argv[argv.index("--iterations") + 1] = str(SMALL)
        else:
            argv += ["--iterations", str(SMALL)]
        argv += ["--quiet"]
    if argv[0] == "eval":
        argv += ["--n", "300", "--no-c2st", "--no-figures", "--quiet"]
    return argv


def commands(block: str) -> list[list[str]]:
    lines = [line for line in block.splitlines() if line.strip()]
    assert all(line.startswith("gankit ") for line in lines), "the tutorial's shell blocks hold gankit commands only"
    return [shlex.split(line, comments=True)[1:] for line in lines]


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A fresh folder to work in (runs go under it), with its own classifier cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_the_tutorial_has_its_steps():
    assert len(SHELL) == 3 and len(PYTHON) == 1
    objectives = [argv[argv.index("--objective") + 1] for block in SHELL for argv in commands(block)
                  if argv[0] == "train"]
    assert objectives == ["gan", "wgan-gp", "wgan-gp"]
    assert any("--conditional" in argv for argv in commands(SHELL[2]))
    assert any("--class" in argv for argv in commands(SHELL[2]))


@pytest.mark.parametrize("span", INLINE)
def test_commands_in_the_text_are_real(span, capsys):
    argv = shlex.split(span)[1:]
    if len(argv) == 1:  # a command's name: it has a --help
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([*argv, "--help"])
        assert done.value.code == 0, span
    else:
        build_parser().parse_args(argv)  # exits 2 on an unknown command or flag


@pytest.mark.slow
@pytest.mark.parametrize("block", SHELL, ids=[f"step{i + 1}" for i in range(len(SHELL))])
def test_each_step_runs(block, here):
    for argv in commands(block):
        assert main(small(argv)) == 0, argv
        if "--out" in argv and argv[0] != "train":
            assert (here / argv[argv.index("--out") + 1]).is_file(), argv
    assert (here / "runs").is_dir()


@pytest.mark.slow
def test_the_python_runs(here):
    code = re.sub(r"\biterations=\d+", f"iterations={SMALL}", PYTHON[0])
    code = code.replace("TrainConfig(", "TrainConfig(progress=False, tensorboard=False, ")
    namespace: dict = {}
    exec(compile(code, str(TUTORIAL), "exec"), namespace)
    assert tuple(namespace["threes"].shape) == (64, 1, 8, 8)
    assert tuple(namespace["x"].shape) == (1000, 2)
