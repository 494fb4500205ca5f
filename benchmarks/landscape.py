"""A 2-D loss surface two ways: lrlab.landscape.surface (grid points batched with vmap)
against one forward pass per grid point, the way the loss-landscape tool of Li et al.
(2018, github.com/tomgoldstein/loss-landscape) does it: write the weights of the point into
the model, run the training set through it, read the loss back, next point.

Both evaluate the digits MLP (85,002 parameters) on the full training set at the same
41 × 41 grid of a plane spanned by two filter-normalised directions, in eval mode, on one
thread unless ``--threads`` says otherwise. The script checks that the surfaces agree and
prints the times and the ratios: the loop against ``surface(..., batched=True)`` (vmap over
``--chunk`` grid points at a time) and against ``surface``'s default (batched on a GPU, one
point at a time on a CPU). Usage::

    python benchmarks/landscape.py                  # 41 x 41, chunk 64
    python benchmarks/landscape.py --grid 21 --chunk 128
    python benchmarks/landscape.py --device cuda    # on a GPU
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

from lrlab import data, landscape, models, results


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    digits = data.load("digits", device=args.device)
    torch.manual_seed(0)
    model = models.build("mlp", digits.num_classes, digits.input_shape).to(digits.device)
    x, y = digits.tensors("train")
    loss_fn = landscape.batch_loss(x, y)
    d1, d2 = (landscape.random_direction(model, "filter", seed=s) for s in (1, 2))
    coords = np.linspace(-1.0, 1.0, args.grid)

    loop = "per point (loss-landscape loop)"
    variants = {
        "surface, batched=True (vmap)": True,
        "surface, default": None,
    }
    times: dict[str, list[float]] = {loop: [], **{name: [] for name in variants}}
    gap = 0.0
    for _ in range(args.repeats):
        sync(digits.device)
        start = time.perf_counter()
        reference = per_point(model, d1, d2, x, y, coords)
        times[loop].append(time.perf_counter() - start)
        for name, batched in variants.items():
            sync(digits.device)
            start = time.perf_counter()
            ours = landscape.surface(
                model, d1, d2, loss_fn, coords, coords, chunk=args.chunk, batched=batched
            )
            sync(digits.device)
            times[name].append(time.perf_counter() - start)
            gap = max(gap, float(np.max(np.abs(ours - reference) / np.abs(reference))))

    points = args.grid**2
    print(
        f"{args.grid} x {args.grid} loss surface, digits MLP "
        f"({sum(p.numel() for p in model.parameters()):,} parameters), "
        f"{len(y):,} training examples, {args.threads} thread(s), "
        f"{results.device_name(digits.device)} ({platform.machine()})"
    )
    print(f"{'method':<34} {'time s':>8} {'ms/point':>9} {'speed-up':>9}")
    best = {name: min(t) for name, t in times.items()}
    for name, t in best.items():
        print(f"{name:<34} {t:>8.2f} {1000 * t / points:>9.3f} {best[loop] / t:>8.2f}x")
    print(f"largest relative difference from the loop's surface: {gap:.1e}")


if __name__ == "__main__":
    main()
