"""A 2-D loss surface two ways: lrlab.landscape.surface (grid points batched with vmap)
against one forward pass per grid point, the way the loss-landscape tool of Li et al.
(2018, github.com/tomgoldstein/loss-landscape) does it: write the weights of the point into
the model, run the training set through it, read the loss back, next point.

Both evaluate the digits MLP (85,002 parameters) on the full training set at the same
41 × 41 grid of a plane spanned by two filter-normalised directions, in eval mode, on one
thread unless ``--threads`` says otherwise. The script checks that the two surfaces agree
and prints both times and the ratio. Usage::

    python benchmarks/landscape.py                  # 41 x 41, chunk 64
    python benchmarks/landscape.py --grid 21 --chunk 128
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from lrlab import data, landscape, models


def per_point(model, d1, d2, x, y, coords) -> np.ndarray:
    """One forward pass per grid point (the loss-landscape tool's loop)."""
    theta = [p.detach().clone() for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    dirs = [torch.split(d, sizes) for d in (d1, d2)]
    out = np.empty((len(coords), len(coords)))
    model.eval()
    with torch.no_grad():
        for i, b in enumerate(coords):
            for j, a in enumerate(coords):
                for p, w, u, v in zip(model.parameters(), theta, *dirs, strict=True):
                    p.copy_(w + float(a) * u.view_as(w) + float(b) * v.view_as(w))
                out[i, j] = F.cross_entropy(model(x), y).item()
        for p, w in zip(model.parameters(), theta, strict=True):
            p.copy_(w)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=41, help="points per axis")
    parser.add_argument("--chunk", type=int, default=64, help="grid points per vmapped pass")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each; the fastest counts")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    digits = data.load("digits", device="cpu")
    torch.manual_seed(0)
    model = models.build("mlp", digits.num_classes, digits.input_shape)
    x, y = digits.tensors("train")
    loss_fn = landscape.batch_loss(x, y)
    d1, d2 = (landscape.random_direction(model, "filter", seed=s) for s in (1, 2))
    coords = np.linspace(-1.0, 1.0, args.grid)

    times = {"per point (loss-landscape loop)": [], "lrlab.landscape.surface (vmap)": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        reference = per_point(model, d1, d2, x, y, coords)
        times["per point (loss-landscape loop)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = landscape.surface(model, d1, d2, loss_fn, coords, coords, chunk=args.chunk)
        times["lrlab.landscape.surface (vmap)"].append(time.perf_counter() - start)

    gap = float(np.max(np.abs(ours - reference) / np.abs(reference)))
    points = args.grid**2
    print(
        f"{args.grid} x {args.grid} loss surface, digits MLP "
        f"({sum(p.numel() for p in model.parameters()):,} parameters), "
        f"{len(y):,} training examples, {args.threads} thread(s), {platform.processor() or 'cpu'}"
    )
    print(f"{'method':<34} {'time s':>8} {'ms/point':>9}")
    best = {name: min(t) for name, t in times.items()}
    for name, t in best.items():
        print(f"{name:<34} {t:>8.2f} {1000 * t / points:>9.3f}")
    ratio = best["per point (loss-landscape loop)"] / best["lrlab.landscape.surface (vmap)"]
    print(f"speed-up: {ratio:.2f}x   largest relative difference of the surfaces: {gap:.1e}")


if __name__ == "__main__":
    main()
