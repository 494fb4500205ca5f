"""Shared test set-up (tests and doctests): a non-interactive matplotlib backend, one thread.

The networks in these tests are tiny. On a 2-core machine a second OpenMP thread mostly
waits for the first (a small MLP's Hessian-vector product took 84 ms with two threads
and 1.4 ms with one on the loaded CI-sized machine), and one thread also makes float
results independent of how the work is split.
"""

import matplotlib
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
