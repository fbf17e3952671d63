"""Send a job's stdout and stderr (including TensorFlow's C++ logging) to its log file."""
import os
import sys


def redirect_output(path):
    """Point file descriptors 1 and 2 at `path`, line-buffered, so `tail -f` follows progress."""
    fh = open(path, "a", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fh.fileno(), 1)
    os.dup2(fh.fileno(), 2)
    sys.stdout = sys.stderr = fh
    return fh


def log(*args):
    print(*args, flush=True)
