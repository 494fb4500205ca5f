"""Training throughput: lrlab's device-resident loader vs a torchvision DataLoader, and MFU.

The same as ``lrlab bench train`` (options are passed through), e.g.::

    python benchmarks/train.py --model resnet18 --batch-size 512
    python benchmarks/train.py --model small_cnn --batch-size 128 --steps 5 --images 4096

On CUDA it also measures a bf16 matmul peak in the same run and prints the model FLOPs
utilisation of each pipeline; on the CPU the MFU column reads n/a.
"""

from __future__ import annotations

import sys

from lrlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "train", *sys.argv[1:]]))
