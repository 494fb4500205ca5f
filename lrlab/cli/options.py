"""Option groups that several ``lrlab`` subcommands share, each defined once, and the
functions that turn parsed options into objects (:func:`load_data`, :func:`build_model`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = [
    "add_data_options",
    "add_model_options",
    "add_optimizer_options",
    "auto_bool",
    "build_model",
    "check_plot",
    "device_option",
    "load_data",
    "non_negative_float",
    "non_negative_int",
    "parse_bool",
    "positive_int",
    "run_options",
]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def auto_bool(text: str):
    """argparse type: ``"auto"`` or a boolean (see :func:`parse_bool`)."""
    return "auto" if text == "auto" else parse_bool(text)


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case) as a bool.

    Examples
    --------
    >>> parse_bool("Yes"), parse_bool("off")
    (True, False)
    """
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def device_option(text: str) -> str:
    """argparse type: a torch device this machine has (checked before anything is loaded).

    ``cpu``, ``cuda``, ``cuda:N`` (N below the number of GPUs PyTorch sees), ``mps``.

    Examples
    --------
    >>> device_option("cpu")
    'cpu'
    >>> device_option("gpu0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'gpu0' is not a torch device (cpu, cuda, cuda:0, mps ...)...
    """
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a torch device (cpu, cuda, cuda:0, mps ...)"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(
                f"{text}: PyTorch sees no CUDA GPU on this machine (torch {torch.__version__})"
            )
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text}: this machine has {count} CUDA GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: PyTorch sees no Apple MPS device here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text}: lrlab trains on cpu, cuda or mps")
    return text


def check_plot(path: str, option: str = "--plot") -> None:
    """Check, before any work, that a figure can be saved at ``path``: its format (the
    suffix; none means PNG) is one matplotlib writes, and its folder is writable.

    Examples
    --------
    >>> check_plot("/tmp/lr.svg")
    >>> check_plot("/tmp/lr.pnj")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --plot's format must be one of (..., 'png', ...), got 'pnj'
    """
    from matplotlib.backend_bases import FigureCanvasBase

    from lrlab import _check
    from lrlab._io import writable_file

    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix:
        known = sorted(FigureCanvasBase.get_supported_filetypes())
        _check.choice(f"{option}'s format", suffix, known)
    writable_file(path, option)


# --- shared option groups -------------------------------------------------------------------


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--data-root``, ``--no-download``, ``--device``."""
    from lrlab.data import NAMES

    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        default="digits",
        choices=NAMES,
        help="data set: digits (8x8 handwritten digits bundled with scikit-learn) or "
        "cifar10/cifar100 (downloaded and checksummed) (default: %(default)s)",
    )
    group.add_argument(
        "--data-root",
        default="data/cache",
        help="folder for CIFAR downloads and caches (default: %(default)s)",
    )
    group.add_argument(
        "--no-download",
        action="store_true",
        help="do not download a missing CIFAR archive; fail with where to put it",
    )
    group.add_argument(
        "--device",
        type=device_option,
        default=None,
        help="torch device, e.g. cpu or cuda:0 (default: cuda when available, else cpu)",
    )


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` and ``--seed``."""
    from lrlab import models

    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default="mlp",
        choices=models.names(),
        help="network to build with lrlab.models.build (default: %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights, data order and augmentation (default: %(default)s)",
    )


def add_optimizer_options(
    parser: argparse.ArgumentParser,
    base=None,
    nesterov: bool = True,
    compile: bool = True,
    warmup: bool = True,
) -> None:
    """Batch size, optimizer, momentum, weight decay, precision, memory layout; and, unless
    turned off for a command that does not use them, ``--nesterov``, ``--compile`` and
    ``--optimizer-warmup-steps`` (a schedule-free optimizer's own warm-up, RunOptions'
    ``warmup_steps``; the schedule's ``--warmup-steps`` is another option).

    The defaults, choices and checks are those of :class:`lrlab.options.RunOptions`;
    ``base`` (a ``RunOptions``) gives the command's own defaults (``lrlab lr-find`` has no
    weight decay). :func:`run_options` turns the parsed options back into a ``RunOptions``.
    """
    from lrlab.options import OPTIMIZERS, PRECISIONS, RunOptions

    base = base if base is not None else RunOptions()
    group = parser.add_argument_group("optimization")
    group.add_argument(
        "--batch-size",
        type=positive_int,
        default=base.batch_size,
        help="examples per optimizer step (default: %(default)s)",
    )
    group.add_argument(
        "--optimizer",
        default=base.optimizer,
        choices=OPTIMIZERS,
        help="sgd (heavy-ball or Nesterov momentum), adam, adamw, or schedule-free SGD or "
        "AdamW (Defazio et al. 2024; give them a constant --lr) (default: %(default)s)",
    )
    group.add_argument(
        "--momentum",
        type=float,
        default=base.momentum,
        help="SGD momentum, or Adam's beta1, in [0, 1); a schedule-free optimizer's "
        "interpolation beta, in (0, 1) (default: %(default)s)",
    )
    if nesterov:
        group.add_argument(
            "--nesterov", action="store_true", help="use Nesterov momentum (SGD with momentum > 0)"
        )
    group.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=base.weight_decay,
        help="L2 weight decay on all parameters (decoupled for adamw) (default: %(default)s)",
    )
    if warmup:
        group.add_argument(
            "--optimizer-warmup-steps",
            dest="warmup_steps",
            type=non_negative_int,
            default=base.warmup_steps,
            help="a schedule-free optimizer's own linear warm-up, in steps (the schedulefree "
            "package's warmup_steps; default: %(default)s); --warmup-steps warms up through the "
            "schedule instead, for any optimizer",
        )
    group.add_argument(
        "--precision",
        default=base.precision,
        choices=PRECISIONS,
        help="auto = bf16 autocast on GPUs with bf16, fp16 with a gradient scaler on older "
        "GPUs, fp32 on the CPU (default: %(default)s)",
    )
    group.add_argument(
        "--channels-last",
        type=auto_bool,
        default=base.channels_last,
        metavar="{auto,true,false}",
        help="channels-last memory layout; auto = on for conv nets on CUDA (default: auto)",
    )
    if compile:
        group.add_argument(
            "--compile", action="store_true", help="run the model through torch.compile"
        )


def run_options(args: argparse.Namespace, base=None):
    """The :class:`lrlab.options.RunOptions` of parsed options (:func:`add_optimizer_options`,
    and ``--seed`` of :func:`add_model_options`); options a command does not offer keep
    ``base``'s values."""
    from lrlab.options import RunOptions

    values = {
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "nesterov": getattr(args, "nesterov", None),
        "compile": getattr(args, "compile", None),
        "warmup_steps": getattr(args, "warmup_steps", None),
        "seed": getattr(args, "seed", None),
    }
    given = {key: value for key, value in values.items() if value is not None}
    return RunOptions.from_dict(given, base=base)


def load_data(args: argparse.Namespace):
    """The data set named by the data options."""
    import lrlab

    device = args.device if args.device is not None else lrlab.device()
    return lrlab.data.load(
        args.dataset, root=args.data_root, device=device, download=not args.no_download
    )


def build_model(args: argparse.Namespace, data):
    """Seed PyTorch with ``args.seed`` and build ``args.model`` for ``data``."""
    import torch

    from lrlab import models

    torch.manual_seed(args.seed)
    return models.build(args.model, data.num_classes, data.input_shape)
