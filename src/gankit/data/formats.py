"""Where the system's data live and which files gankit reads: constants, no imports."""

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FILE_FORMATS = (".npy, .npz (with means and std: a mixture file), .csv, IDX (.gz or raw), "
                "or a folder of PNG/JPEG images")
#: The options (``--data-option KEY=VALUE``) of each kind of file, with their defaults: ``stream``
#: (auto, yes, no) and ``workers`` (-1: chosen by the source) for what can stream (gankit.data.streaming).
FILE_OPTIONS = {
    "folder": {"size": 0, "channels": 0, "stream": "auto", "workers": -1},
    ".npy": {"standardise": True, "stream": "auto", "workers": -1},
    ".npz": {"key": "", "standardise": True, "label": ""},
    ".csv": {"standardise": True, "label": ""},
}
