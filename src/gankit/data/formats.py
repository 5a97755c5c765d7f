"""Where the system's data live and which files gankit reads: constants, no imports."""

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FILE_FORMATS = (".npy, .npz (with means and std: a mixture file), .csv, IDX (.gz or raw), "
                "or a folder of PNG/JPEG images")
