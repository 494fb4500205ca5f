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
restores the model's parameters and its train/eval mode when it returns, also after an
exception.

**Mode and BatchNorm.** Losses are evaluated with the model in ``eval()`` mode: BatchNorm
uses its stored running statistics and dropout is off, so the loss is one fixed function of
the weights that does not depend on how the examples are batched, and evaluating it changes
no buffer (in ``train()`` mode every evaluation would also update the running averages).
The running statistics are *not* recomputed for perturbed weights: far from the trained
weights they no longer match the activations, which makes BatchNorm networks look sharper
there than they would with recomputed statistics. Filter-normalised directions leave
BatchNorm's own parameters alone (zeroed), as Li et al. do.

**Many points at once.** :func:`loss_along`, :func:`surface` and :func:`linear_path` can
evaluate grid points in chunks with ``torch.func.functional_call`` under ``torch.func.vmap``
(one batched forward pass for ``chunk`` weight vectors), and fall back to one point at a
time when the loss cannot be vmapped (for example when it calls ``.item()``). Both give the
same numbers (see the tests). Which is faster depends on the device: on a CPU the forward
pass of one point over a whole data set is already a large matrix product, and
``benchmarks/landscape.py`` measured the batched path slower there, so by default (``batched=None``)
points are batched on a GPU and evaluated one at a time on a CPU.
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
