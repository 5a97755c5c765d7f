"""Progress: a bar on a terminal, one plain line per reported step in a file or a pipe, nothing when quiet."""

import io
import re

from gankit.cli import main
from gankit.progress import Progress, format_seconds


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_file_gets_one_plain_line_per_report():
    out = io.StringIO()
    with Progress(10, desc="gan on ring", stream=out) as progress:
        for i in range(10):
            progress.update()
            if i % 5 == 4:
                progress.report(f"d_loss={0.5 + i:.3g}")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 2
    assert re.fullmatch(r"gan on ring: 5/10 it  d_loss=4.5  [0-9.e+]+ it/s  ETA 0:00:00", lines[0]), lines[0]
    assert lines[1].startswith("gan on ring: 10/10 it  d_loss=9.5  ") and "done in 0:00:00" in lines[1]


def test_a_terminal_gets_a_bar_and_quiet_gets_nothing():
    tty = Terminal()
    with Progress(4, desc="x", stream=tty) as progress:
        assert progress.bar is not None
        progress.update(4)
        progress.report("d_loss=1")
    assert "\r" in tty.getvalue() and "4/4" in tty.getvalue()
    quiet = io.StringIO()
    with Progress(4, stream=quiet, enabled=False) as progress:
        progress.update(4)
        progress.report("d_loss=1")
    assert quiet.getvalue() == ""


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.6, 61, 3725)] == ["0:00:00", "0:01:00", "0:01:01", "1:02:05"]


def test_training_into_a_pipe_writes_a_line_per_logging_step(tmp_path, capsys):
    common = ["--iterations", "20", "--log-every", "5", "--g-hidden", "8", "--d-hidden", "8", "--no-tensorboard",
              "--snapshot-every", "0"]
    assert main(["train", *common, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    lines = [line for line in err.splitlines() if line.startswith("gan-r1 on ring:")]
    assert "\r" not in err and [line.split()[3] for line in lines] == ["5/20", "10/20", "15/20", "20/20"]
    assert all("d_loss=" in line and "g_loss=" in line and " it/s" in line for line in lines)
    assert "ETA" in lines[0] and "done in" in lines[-1]
    assert main(["train", *common, "--quiet", "--out", str(tmp_path / "b")]) == 0
    assert "gan-r1 on ring:" not in capsys.readouterr().err
    assert main(["train", *common, "--no-progress", "--out", str(tmp_path / "c")]) == 0  # the old spelling
    assert "gan-r1 on ring:" not in capsys.readouterr().err
