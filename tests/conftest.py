import importlib.util
import os
from pathlib import Path

# Two test workers share two cores: one thread each, or the BLAS/OpenMP
# thread pools oversubscribe the machine and small ops slow down a hundredfold.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def tiny() -> dict:
    """Fields of a small, fast TrainConfig for tests."""
    return {
        "g_hidden": (32, 32),
        "d_hidden": (32, 32),
        "log_every": 10,
        "snapshot_every": 0,
        "progress": False,
        "tensorboard": False,
    }


def load_benchmark(name: str):
    """A script of ``benchmarks/`` (not a package) imported as a module."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
