"""A 2-D loss surface two ways: lrlab.landscape.surface against one forward pass per grid
point, the way the loss-landscape tool of Li et al. (2018, github.com/tomgoldstein/
loss-landscape) does it: write the weights of the point into the model, run the training
set through it, read the loss back, next point.

Both evaluate the digits MLP (85,002 parameters) on the full training set at the same
41 × 41 grid of a plane spanned by two filter-normalised directions, in eval mode, on one
thread unless ``--threads`` says otherwise. ``surface`` swaps each point's weights in with
``functional_call``, batches points with ``vmap`` (its default chunk, or ``--chunk``), and
computes the first layer, which sees only the data, once per direction instead of once per
point. The script prints each method's best time over ``--repeats`` interleaved runs (wall
clock and the process's CPU time, which other users of a shared machine disturb less), the
speed-ups, and how far the surfaces are apart.

A third row bounds what any method that runs the upper layers at every point can reach:
the second layer's matrix product alone (examples × 256 by 256 × 256), once per grid point.

``--case cifar-mlp`` runs the same MLP on 1,000 random images of CIFAR's shape (3 × 32 × 32,
855,050 parameters; random pixels, as this benchmark needs no download): there the first
layer, which ``surface`` computes once per direction, is 92% of the network's work.

Usage::

    python benchmarks/landscape.py                  # 41 x 41, surface's default chunk
    python benchmarks/landscape.py --grid 21 --chunk 8
    python benchmarks/landscape.py --case cifar-mlp --grid 15
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


def second_layer_alone(model, d1, d2, x, coords) -> None:
    """The second layer's product at every grid point, on the first layer's activations at
    the trained weights: the part of the loop that no per-point method avoids."""
    layer = model[3]
    sizes = [p.numel() for p in model.parameters()]
    index = [i for i, p in enumerate(model.parameters()) if p is layer.weight][0]
    w, u, v = (
        torch.split(t, sizes)[index].view_as(layer.weight)
        for t in (landscape.parameters_vector(model), d1, d2)
    )
    with torch.no_grad():
        h = model[:3](x)
        for b in coords:
            for a in coords:
                F.linear(h, w + float(a) * u + float(b) * v, layer.bias)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("digits", "cifar-mlp"), default="digits")
    parser.add_argument("--grid", type=int, default=41, help="points per axis")
    parser.add_argument("--chunk", type=int, default=None, help="grid points per vmapped pass")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    if args.case == "digits":
        x, y = data.load("digits", device=device).tensors("train")
        title = "digits MLP"
    else:
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(1000, 3, 32, 32, generator=g), torch.randint(0, 10, (1000,), generator=g)
        x, y = x.to(device), y.to(device)
        title = "MLP on random 3 x 32 x 32 images"
    torch.manual_seed(0)
    model = models.build("mlp", 10, tuple(x.shape[1:])).to(device)
    loss_fn = landscape.batch_loss(x, y)
    d1, d2 = (landscape.random_direction(model, "filter", seed=s) for s in (1, 2))
    coords = np.linspace(-1.0, 1.0, args.grid)

    loop = "per point (loss-landscape loop)"
    ours = "landscape.surface" + (f", chunk={args.chunk}" if args.chunk else "")
    bound = "bound: 2nd layer's product alone"
    runs = {
        loop: lambda: per_point(model, d1, d2, x, y, coords),
        ours: lambda: landscape.surface(model, d1, d2, loss_fn, coords, coords, chunk=args.chunk),
        bound: lambda: second_layer_alone(model, d1, d2, x, coords),
    }
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    surfaces = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            surfaces[name] = run()
            sync(device)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    gap = np.abs(surfaces[ours] - surfaces[loop])

    points = args.grid**2
    print(
        f"{args.grid} x {args.grid} loss surface, {title} "
        f"({sum(p.numel() for p in model.parameters()):,} parameters), "
        f"{len(y):,} examples, {args.threads} thread(s), "
        f"{results.device_name(device)} ({platform.machine()}), "
        f"best of {args.repeats}"
    )
    print(
        f"{'method':<34} {'wall s':>7} {'ms/point':>9} {'speed-up':>9} {'cpu s':>7} {'speed-up':>9}"
    )
    for name in runs:
        w, c = min(wall[name]), min(cpu[name])
        print(
            f"{name:<34} {w:>7.2f} {1000 * w / points:>9.3f} {min(wall[loop]) / w:>8.2f}x "
            f"{c:>7.2f} {min(cpu[loop]) / c:>8.2f}x"
        )
    print(
        f"surface against the loop: largest absolute difference {gap.max():.1e}, "
        f"relative {np.max(gap / np.abs(surfaces[loop])):.1e} "
        f"(losses {surfaces[loop].min():.2f} to {surfaces[loop].max():.2f})"
    )


if __name__ == "__main__":
    main()
