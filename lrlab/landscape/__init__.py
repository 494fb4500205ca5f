"""The loss surface around trained weights: linear paths, random and fooling directions, inputs.

The tools that Seong et al. (2018) use to argue that a large learning rate ends in a flat
region, and Li et al. (2018) to draw loss surfaces:

- :func:`linear_path`: the loss on the segment between two weight vectors (Goodfellow et
  al. 2015), or along a unit direction from the final weights (Seong's Fig. 3a);
- :func:`random_direction`: a Gaussian direction, filter-normalised (Li et al. 2018);
- :func:`loss_along` and :func:`surface`: the loss on a line or a plane through the weights;
- :func:`fooling_direction`: the direction that raises the loss fastest (Seong's third
  perturbation, after Szegedy et al. 2013);
- :func:`input_noise_loss`, :func:`input_path_loss`: perturbations of the inputs instead
  of the weights (Seong §6.2), and :func:`input_to_weight_perturbation`, the exact
  correspondence between the two (Seong's Lemma 1 and Proposition 1).

Parameters travel as flat vectors in the order of ``model.parameters()`` (the layout of
``torch.nn.utils.parameters_to_vector``). A loss is a callable ``loss_fn(model) -> scalar
tensor``; :func:`batch_loss` and :func:`split_loss` build the usual one. Every function
leaves the model as it found it, also after an exception: its parameters, buffers and each
submodule's train/eval mode (:func:`lrlab.models.preserved`).

**Mode and BatchNorm.** Losses are evaluated with the model in ``eval()`` mode: BatchNorm
uses its stored running statistics and dropout is off, so the loss is one fixed function of
the weights that does not depend on how the examples are batched, and evaluating it changes
no buffer (in ``train()`` mode every evaluation would also update the running averages).
The running statistics are *not* recomputed for perturbed weights: far from the trained
weights they no longer match the activations, which makes BatchNorm networks look sharper
there than they would with recomputed statistics. Filter-normalised directions leave
BatchNorm's own parameters alone (zeroed), as Li et al. do.

**Many points at once.** :func:`loss_along`, :func:`surface` and :func:`linear_path` evaluate
``loss_fn`` at each weight vector ``base + Σ_k c_k d_k`` without writing into the model: the
vector is swapped in by ``torch.func.functional_call``, and ``torch.func.vmap`` runs
``chunk`` points per pass (``chunk=None``, the default, takes as many as fit 8 MiB of
activations on a CPU, where small passes are fastest, and a quarter of the free memory on a
GPU, where batching fills the device). A ``Linear`` or ``Conv1d/2d/3d`` layer whose input
does not depend on the weights (the first layer, which sees the data) is linear in its own
weights, so its output at a point is ``f(x; base) + Σ_k c_k f(x; d_k)``: where its fan-in
is large enough to pay (32 inputs per output and direction, measured), it runs once per
direction for the whole grid and each point adds the stored products (Li et al.'s surfaces
repeat the whole network at every point); this keeps ``1 + k`` copies of the layer's output.
It pays most for wide inputs, even on a CPU: an MLP over CIFAR-sized images (3,072 inputs)
gets its surface several times faster (``benchmarks/landscape.py --case cifar-mlp``). One
probe call of ``loss_fn``, with gradients on, finds those layers: an input that needs no
gradient came from the data alone. The numbers equal a loop that writes each point's
weights into the model, to float rounding (see the tests; the benchmark times the two).

``loss_fn`` must be one fixed function of the weights: the same data at every call (a layer
is reused only on the very tensor it saw in the probe), no random draws, and, for more than
one point per pass, no ``.item()`` or data-dependent control flow (vmap refuses those; pass
``chunk=1`` for such a loss).
"""

from __future__ import annotations

# LossFn and NORMALIZATIONS are not in __all__ but stay importable from here.
from lrlab.landscape._evaluate import LossFn as LossFn
from lrlab.landscape.inputs import (
    input_noise_loss,
    input_path_loss,
    input_to_weight_perturbation,
    nearest_indices,
    perturbation_bound,
)
from lrlab.landscape.weights import NORMALIZATIONS as NORMALIZATIONS
from lrlab.landscape.weights import (
    batch_loss,
    fooling_direction,
    linear_path,
    loss_along,
    parameters_vector,
    random_direction,
    split_loss,
    surface,
)

__all__ = [
    "batch_loss",
    "split_loss",
    "parameters_vector",
    "linear_path",
    "random_direction",
    "loss_along",
    "surface",
    "fooling_direction",
    "input_noise_loss",
    "nearest_indices",
    "input_path_loss",
    "input_to_weight_perturbation",
    "perturbation_bound",
]
