"""The stability metrics as pure functions of tensors: relative changes, the KL divergence of
the predictions, the Wasserstein distance of the losses, gradient cosines, update sizes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

__all__ = [
    "gradient_cosine",
    "layer_progress",
    "loss_wasserstein",
    "prediction_kl",
    "relative_change",
    "relative_update",
]


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    r"""The relative change :math:`\lVert b - a\rVert / \lVert a\rVert` (Frobenius norms).

    Examples
    --------
    >>> relative_change(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 5.0]))
    0.2
    """
    if before.shape != after.shape:
        raise ValueError(
            f"before and after must have one shape, got {before.shape} and {after.shape}"
        )
    before, after = before.double(), after.double()
    return float((after - before).norm() / before.norm())


def prediction_kl(logits_before: torch.Tensor, logits_after: torch.Tensor) -> float:
    r"""Mean KL divergence of the softmax outputs before and after a step.

    .. math:: \frac1n \sum_i \mathrm{KL}(p_i \,\|\, q_i)

    :math:`p_i` is example :math:`i`'s predicted distribution before the step and
    :math:`q_i` after it; computed in float64 from the logits.

    Examples
    --------
    >>> prediction_kl(torch.zeros(2, 3), torch.zeros(2, 3))
    0.0
    """
    if logits_before.shape != logits_after.shape or logits_before.ndim != 2:
        raise ValueError(
            "logits must be two (n, classes) tensors of one shape, got "
            f"{tuple(logits_before.shape)} and {tuple(logits_after.shape)}"
        )
    log_p = F.log_softmax(logits_before.double(), dim=1)
    log_q = F.log_softmax(logits_after.double(), dim=1)
    return float((log_p.exp() * (log_p - log_q)).sum(dim=1).mean())


def loss_wasserstein(losses_before: torch.Tensor, losses_after: torch.Tensor) -> float:
    r"""1-Wasserstein distance between two equal-size samples of per-example losses.

    For two empirical distributions of :math:`n` points each, the optimal transport
    matches them in sorted order: :math:`W_1 = \frac1n\sum_i |a_{(i)} - b_{(i)}|`.

    Examples
    --------
    >>> loss_wasserstein(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 0.0]))
    1.0
    """
    a, b = losses_before.reshape(-1).double(), losses_after.reshape(-1).double()
    if a.numel() != b.numel() or a.numel() == 0:
        raise ValueError(
            f"losses must be two non-empty samples of one size, got {a.numel()} and {b.numel()}"
        )
    return float((a.sort().values - b.sort().values).abs().mean())


def flatten(tensors) -> torch.Tensor:
    if isinstance(tensors, torch.Tensor):
        return tensors.reshape(-1).double()
    return torch.cat([t.reshape(-1).double() for t in tensors])


def gradient_cosine(grads_a, grads_b) -> float:
    r"""Cosine between two gradients, each a tensor or a sequence of tensors (flattened).

    :math:`\cos(g, g') = \langle g, g'\rangle / (\lVert g\rVert\,\lVert g'\rVert)`.

    Examples
    --------
    >>> gradient_cosine([torch.tensor([1.0, 0.0])], [torch.tensor([-1.0, 0.0])])
    -1.0
    """
    a, b = flatten(grads_a), flatten(grads_b)
    if a.shape != b.shape:
        raise ValueError(f"gradients must have one size, got {a.numel()} and {b.numel()}")
    return float(a @ b / (a.norm() * b.norm()))


def relative_update(
    params_before: Mapping[str, torch.Tensor], params_after: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    r"""Per layer, :math:`\lVert \theta_l' - \theta_l\rVert / \lVert \theta_l\rVert`.

    Examples
    --------
    >>> relative_update({"0": torch.tensor([1.0, 0.0])}, {"0": torch.tensor([1.0, 0.5])})
    {'0': 0.5}
    """
    return {n: relative_change(params_before[n], params_after[n]) for n in params_before}


def layer_progress(
    param_grads: Mapping[str, torch.Tensor],
    params_before: Mapping[str, torch.Tensor],
    params_after: Mapping[str, torch.Tensor],
) -> dict[str, float]:
    r"""Per layer, the first-order decrease of the probe loss its own update brings.

    .. math:: \pi_l = -\langle \nabla_{\theta_l} L(\theta),\ \theta_l' - \theta_l \rangle

    The sum over layers is the first-order change of the loss, :math:`L(\theta) -
    L(\theta') \approx \sum_l \pi_l`; a layer with :math:`\pi_l < 0` moved uphill.

    Examples
    --------
    >>> layer_progress({"0": torch.tensor([2.0])}, {"0": torch.tensor([1.0])},
    ...                {"0": torch.tensor([0.5])})
    {'0': 1.0}
    """
    return {
        n: float(-(g.double() @ (params_after[n].double() - params_before[n].double())))
        for n, g in param_grads.items()
    }
