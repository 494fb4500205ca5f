"""Speed of lrlab.dynamics and lrlab.curvature, side by side; prints two tables.

1. A bifurcation diagram of gradient descent on the double well f(x) = ¼(x² − 1)² over
   2,000 step sizes × 3,000 iterations: ``dynamics.bifurcation`` (all step sizes in one
   NumPy array) against a per-step-size Python loop (plain floats), and against calling
   ``dynamics.iterate`` once per step size.
2. The top Hessian eigenvalue of an MLP on the digits data (float64, at initialisation,
   where the top eigenvalues are clustered): Lanczos against power iteration. For each:
   Hessian-vector products and wall time until the built-in stopping rule
   (residual ≤ 1e-4·λ) fires, the error then, and the products after which the estimate
   stays within 1e-4 of the exact λ_max (from the full float64 Hessian).

Run: ``.venv/bin/python benchmarks/dynamics.py`` (about two minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import lrlab
from lrlab import curvature, data, dynamics, models


def double_well_grad(x):
    # x * x * x, not x**3: the same floating-point operations as the Python loop, so all
    # three methods give bit-identical points even in the chaotic range.
    return x * x * x - x


def bifurcation_loop(lrs: np.ndarray, x0: float, burn_in: int, keep: int):
    """The baseline: one Python loop over plain floats per step size."""
    lr_points, x_points = [], []
    for lr in lrs:
        x = x0
        for t in range(burn_in + keep):
            x = x - lr * (x * x * x - x)
            if not abs(x) <= 1e12:  # diverged: drop this step size's points
                break
            if t >= burn_in:
                lr_points.append(lr)
                x_points.append(x)
    return np.array(lr_points), np.array(x_points)


def bifurcation_iterate(lrs: np.ndarray, x0: float, burn_in: int, keep: int):
    """lrlab.dynamics.iterate, called once per step size."""
    lr_points, x_points = [], []
    for lr in lrs:
        tail = dynamics.iterate(double_well_grad, x0, float(lr), burn_in + keep)[burn_in + 1 :]
        tail = tail[np.isfinite(tail)]
        lr_points.append(np.full(tail.size, lr))
        x_points.append(tail)
    return np.concatenate(lr_points), np.concatenate(x_points)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def bench_bifurcation(n_lrs: int, iterations: int, keep: int = 200) -> None:
    lrs = np.linspace(0.5, 2.1, n_lrs)
    burn_in = iterations - keep
    (lr_v, x_v), t_vec = timed(dynamics.bifurcation, double_well_grad, lrs, 0.5, burn_in, keep)
    (lr_l, x_l), t_loop = timed(bifurcation_loop, lrs, 0.5, burn_in, keep)
    (lr_i, x_i), t_iter = timed(bifurcation_iterate, lrs, 0.5, burn_in, keep)
    for name, (lr_other, x_other) in {"loop": (lr_l, x_l), "iterate": (lr_i, x_i)}.items():
        if not (np.array_equal(lr_v, lr_other) and np.array_equal(x_v, x_other)):
            raise AssertionError(f"the {name} baseline gives different points")
    print(f"\nBifurcation diagram: {n_lrs:,} step sizes x {iterations:,} iterations of the")
    print(
        f"double-well map x <- x - lr (x^3 - x); {x_v.size:,} points kept, identical in all three"
    )
    print(f"{'method':<46}{'time (s)':>10}{'speed-up':>10}")
    rows = [
        ("dynamics.bifurcation (vectorised over lr)", t_vec),
        ("Python loop per step size (floats)", t_loop),
        ("dynamics.iterate per step size", t_iter),
    ]
    for name, seconds in rows:
        print(f"{name:<46}{seconds:>10.2f}{t_loop / seconds:>9.2f}x")


def _ill_conditioned_problem():
    torch.manual_seed(0)
    digits = data.load("digits", device="cpu")
    x, y = digits.tensors("train")
    x = x.double()
    model = models.build("mlp", digits.num_classes, digits.input_shape, hidden=(16, 16)).double()
    params = list(model.parameters())
    names = [name for name, _ in model.named_parameters()]

    def loss_fn():
        return torch.nn.functional.cross_entropy(model(x), y)

    def loss_of(flat):
        pieces = torch.split(flat, [p.numel() for p in params])
        state = {n: v.view_as(p) for n, v, p in zip(names, pieces, params, strict=True)}
        logits = torch.func.functional_call(model, state, (x,))
        return torch.nn.functional.cross_entropy(logits, y)

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    hessian = torch.autograd.functional.hessian(loss_of, flat, vectorize=True)
    return params, loss_fn, torch.linalg.eigvalsh(hessian)


def bench_eigenvalue(tol: float = 1e-4) -> None:
    params, loss_fn, eigenvalues = _ill_conditioned_problem()
    exact = eigenvalues[-1].item()
    print("\nTop Hessian eigenvalue: MLP 64-16-16-10 on digits (1,347 images, float64, full batch)")
    print(
        f"{eigenvalues.numel():,} parameters; exact lambda_max = {exact:.6g}, "
        f"lambda_2/lambda_max = {(eigenvalues[-2] / eigenvalues[-1]).item():.3f}, "
        f"lambda_min = {eigenvalues[0].item():.3g}"
    )
    header = f"{'method':<10}{'HVPs':>6}{'time (s)':>10}{'rel. error':>12}{'HVPs to 1e-4':>14}"
    print(f"stopping rule: residual <= {tol:g} * lambda\n{header}")
    for method in ("lanczos", "power"):
        (value, _, info), seconds = timed(
            curvature.top_eigenvalue,
            loss_fn,
            params,
            iters=5000,
            tol=tol,
            method=method,
            return_info=True,
        )
        errors = np.abs(np.array(info["estimates"]) - exact) / exact
        outside = np.nonzero(errors > 1e-4)[0]
        reached = outside[-1] + 2 if outside.size else 1
        print(
            f"{method:<10}{info['hvps']:>6}{seconds:>10.3f}"
            f"{abs(value - exact) / exact:>12.1e}{reached:>14}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", type=int, default=2000, help="step sizes in the diagram")
    parser.add_argument("--iterations", type=int, default=3000, help="iterations per step size")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"lrlab {lrlab.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
        f"device cpu, {args.threads} torch thread(s)"
    )
    bench_bifurcation(args.lrs, args.iterations)
    bench_eigenvalue()


if __name__ == "__main__":
    main()
