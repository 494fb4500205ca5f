"""The ``lrlab`` command: ``train``, ``lr-find``, ``bench train`` and ``student``.

Each subcommand is one function ``add_<name>_command(subparsers)`` that registers its
parser and sets ``func`` (called with the parsed arguments, returns an exit code).
:data:`COMMANDS` lists them; to add a subcommand, write such a function and append it.
Option groups that several subcommands share (data, model, optimizer, schedule) are the
``add_*_options`` functions, with :func:`load_data`, :func:`build_model` and
:func:`schedule_from_args` to turn the parsed options into objects.

Every factory in ``lrlab.schedules.FACTORIES`` is available as ``--schedule NAME``; its
parameters become options (``--lr``, ``--min-lr``, ``--milestones 100,200``), found by
reading the factory's signature and docstring, so a new factory needs no change here.
"""

from __future__ import annotations

import argparse
import inspect
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "COMMANDS",
    "add_bench_command",
    "add_data_options",
    "add_lr_find_command",
    "add_model_options",
    "add_optimizer_options",
    "add_schedule_options",
    "add_student_command",
    "add_train_command",
    "build_model",
    "build_parser",
    "config_from_args",
    "load_data",
    "main",
    "run_lr_find",
    "schedule_factories",
    "schedule_from_args",
]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _auto_bool(text: str):
    return "auto" if text == "auto" else _parse_bool(text)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


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


def add_optimizer_options(parser: argparse.ArgumentParser, batch_size: int = 128) -> None:
    """Batch size, optimizer, momentum, weight decay, precision, memory layout, compile."""
    from lrlab.train import OPTIMIZERS, PRECISIONS

    group = parser.add_argument_group("optimization")
    group.add_argument(
        "--batch-size",
        type=_positive_int,
        default=batch_size,
        help="examples per optimizer step (default: %(default)s)",
    )
    group.add_argument(
        "--optimizer",
        default="sgd",
        choices=OPTIMIZERS,
        help="sgd (heavy-ball or Nesterov momentum), adam or adamw (default: %(default)s)",
    )
    group.add_argument(
        "--momentum",
        type=float,
        default=0.9,
        help="SGD momentum, or Adam's beta1, in [0, 1) (default: %(default)s)",
    )
    group.add_argument(
        "--nesterov", action="store_true", help="use Nesterov momentum (SGD with momentum > 0)"
    )
    group.add_argument(
        "--weight-decay",
        type=_non_negative_float,
        default=5e-4,
        help="L2 weight decay on all parameters (decoupled for adamw) (default: %(default)s)",
    )
    group.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto = bf16 autocast on GPUs with bf16, fp16 with a gradient scaler on older "
        "GPUs, fp32 on the CPU (default: %(default)s)",
    )
    group.add_argument(
        "--channels-last",
        type=_auto_bool,
        default="auto",
        metavar="{auto,true,false}",
        help="channels-last memory layout; auto = on for conv nets on CUDA (default: auto)",
    )
    group.add_argument("--compile", action="store_true", help="run the model through torch.compile")


def schedule_factories(module=None) -> dict[str, Callable]:
    """The schedule factories the CLI offers: ``module.FACTORIES`` whose parameters are
    all plain values (numbers, strings, booleans, lists of numbers).

    Parameters
    ----------
    module : module, optional
        Where to look; ``lrlab.schedules`` by default.

    Examples
    --------
    >>> "cosine" in schedule_factories()
    True
    """
    if module is None:
        from lrlab import schedules as module
    usable = {}
    for name, factory in module.FACTORIES.items():
        kinds = [_annotation(p) for p in inspect.signature(factory).parameters.values()]
        if not any(re.search(r"Schedule|Callable", kind) for kind in kinds):
            usable[name] = factory
    return usable


def _annotation(param: inspect.Parameter) -> str:
    if param.annotation is not inspect.Parameter.empty:
        annotation = param.annotation
        return (
            annotation
            if isinstance(annotation, str)
            else getattr(annotation, "__name__", str(annotation))
        )
    if param.default is not inspect.Parameter.empty and param.default is not None:
        return type(param.default).__name__
    return ""


def _converter(annotation: str) -> Callable[[str], object]:
    """A string -> value parser for a parameter annotated ``annotation``."""
    kind = annotation.replace(" ", "")
    optional = "None" in kind.split("|")
    base = kind.split("|")[0]
    if re.match(r"(Sequence|list|tuple)\[", base):
        element = int if re.search(r"\[int", base) else float
        convert = lambda text: [element(v) for v in text.split(",") if v.strip()]  # noqa: E731
    else:
        convert = {"int": int, "float": float, "str": str, "bool": _parse_bool}.get(base, _guess)
    if not optional:
        return convert
    return lambda text: None if text.lower() == "none" else convert(text)


def _guess(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _param_docs(factory: Callable) -> dict[str, str]:
    """First sentence of each parameter's description in a NumPy-style docstring (or,
    without a description, its type line), with reST markup removed."""
    doc = inspect.getdoc(factory) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n\S[^\n]*\n-+\n|\Z)", doc, re.S | re.M)
    docs: dict[str, str] = {}
    choices: dict[str, str] = {}
    names: list[str] = []
    for line in (match.group(1) if match else "").splitlines():
        if line and not line[0].isspace():
            head, _, kind = line.partition(":")
            names = [n.strip() for n in head.split(",")]
            docs.update(dict.fromkeys(names, ""))
            if "{" in kind:
                choices.update(dict.fromkeys(names, kind.strip().replace('"', "")))
        elif line.strip():
            for name in names:
                docs[name] = (docs[name] + " " + line.strip()).strip()
    out = {k: _plain_text(re.split(r"(?<=\.)\s", v)[0].rstrip(".")) for k, v in docs.items()}
    for name, kind in choices.items():
        out[name] = f"{out[name]}; one of {kind}" if out[name] else f"one of {kind}"
    return out


def _plain_text(text: str) -> str:
    return re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")


def _signature_text(name: str, factory: Callable) -> str:
    """``cosine(lr, total_steps, min_lr=0.0)``."""
    params = inspect.signature(factory).parameters.values()
    args = [p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in params]
    return f"{name}({', '.join(args)})"


def _metavar(annotation: str) -> str:
    base = annotation.replace(" ", "").split("|")[0]
    if re.match(r"(Sequence|list|tuple)\[", base):
        return "INTS" if "[int" in base else "FLOATS"
    return base.upper() if base in ("int", "float", "str", "bool") else "VALUE"


def _option(args: argparse.Namespace, name: str) -> str:
    return getattr(args, "schedule_flags", {}).get(name, f"--{name.replace('_', '-')}")


def add_schedule_options(parser: argparse.ArgumentParser, module=None) -> None:
    """``--schedule NAME`` plus one option per parameter of any schedule factory.

    Add them after the command's own options: a parameter whose ``--name`` the command
    already uses becomes ``--schedule-name``.
    """
    factories = schedule_factories(module)
    group = parser.add_argument_group(
        "learning-rate schedule",
        "--schedule picks a factory of lrlab.schedules; its parameters are the options "
        "below, each listing the schedules that take it (lists as comma-separated values, "
        "e.g. --milestones 100,200). total_steps defaults to epochs x steps per epoch. For "
        "schedules without an lr parameter, --lr sets max_lr. The schedules: "
        + "; ".join(_signature_text(n, f) for n, f in factories.items()),
    )
    group.add_argument(
        "--schedule",
        default="constant",
        choices=list(factories),
        help="schedule factory (default: %(default)s)",
    )
    # One option per parameter name; help from the first factory that documents it.
    params: dict[str, dict] = {}
    for name, factory in factories.items():
        docs = _param_docs(factory)
        for param in inspect.signature(factory).parameters.values():
            entry = params.setdefault(
                param.name, {"doc": "", "users": [], "kind": _annotation(param)}
            )
            entry["users"].append(name)
            entry["doc"] = entry["doc"] or docs.get(param.name, "")
    flags = {}
    for pname, entry in sorted(params.items()):
        flag = f"--{pname.replace('_', '-')}"
        if flag in parser._option_string_actions:  # taken by the command: --schedule-<name>
            flag = f"--schedule-{pname.replace('_', '-')}"
        flags[pname] = flag
        doc = entry["doc"] or f"{pname.replace('_', ' ')} ({entry['kind'] or 'value'})"
        group.add_argument(
            flag,
            dest=f"schedule_{pname}",
            default=None,
            metavar=_metavar(entry["kind"]),
            help=f"{doc} [{', '.join(entry['users'])}]",
        )
    parser.set_defaults(schedule_flags=flags)


def schedule_from_args(args: argparse.Namespace, total_steps: int | None = None, module=None):
    """Build the schedule named by ``args.schedule`` from the schedule options.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser with :func:`add_schedule_options`.
    total_steps : int, optional
        Used for a ``total_steps`` parameter that was not given.
    module : module, optional
        Where the factories live; ``lrlab.schedules`` by default.

    Raises
    ------
    ValueError
        For options the schedule does not take, missing required ones, or bad values.
    """
    factories = schedule_factories(module)
    factory = factories[args.schedule]
    signature = inspect.signature(factory)
    given = {
        key[len("schedule_") :]: value
        for key, value in vars(args).items()
        if key.startswith("schedule_") and key != "schedule_flags" and value is not None
    }
    if "lr" in given and "lr" not in signature.parameters and "max_lr" in signature.parameters:
        given.setdefault("max_lr", given.pop("lr"))
    unknown = sorted(set(given) - set(signature.parameters))
    if unknown:
        flags = ", ".join(_option(args, n) for n in unknown)
        raise ValueError(f"{flags}: not a parameter of {_signature_text(args.schedule, factory)}")
    kwargs = {}
    for param in signature.parameters.values():
        if param.name in given:
            try:
                kwargs[param.name] = _converter(_annotation(param))(given[param.name])
            except ValueError as err:
                raise ValueError(f"{_option(args, param.name)}: {err}") from None
        elif param.name == "total_steps" and total_steps is not None:
            kwargs["total_steps"] = total_steps
        elif param.default is inspect.Parameter.empty:
            raise ValueError(f"schedule {args.schedule} needs {_option(args, param.name)}")
    return factory(**kwargs)


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


# --- lrlab train ----------------------------------------------------------------------------


def add_train_command(subparsers) -> None:
    """Register ``lrlab train``."""
    parser = subparsers.add_parser(
        "train",
        help="train a model with a learning-rate schedule",
        description="Train a model on a data set with a per-step learning-rate schedule, "
        "print a table of the epochs and optionally store the History with provenance.",
        epilog="example: lrlab train --dataset digits --model mlp --schedule cosine "
        "--lr 0.1 --epochs 5 --out run.json",
    )
    add_data_options(parser)
    add_model_options(parser)
    add_optimizer_options(parser)
    group = parser.add_argument_group("run")
    group.add_argument(
        "--epochs", type=_positive_int, default=5, help="passes over the data (default: 5)"
    )
    group.add_argument(
        "--out",
        default=None,
        help="write the results file (JSON: History, config, provenance) to this path",
    )
    group.add_argument(
        "--checkpoint", default=None, help="write a checkpoint here after every epoch"
    )
    group.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint if it exists"
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_schedule_options(parser)
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Run ``lrlab train``."""
    from lrlab import results, train

    if args.out is not None and not args.out.endswith(".json"):
        raise ValueError(f"--out must name a .json file, got {args.out!r}")
    data = load_data(args)
    steps_per_epoch = data.num_batches("train", args.batch_size)
    schedule = schedule_from_args(args, total_steps=args.epochs * steps_per_epoch)
    model = build_model(args, data)
    history = train.fit(
        model,
        data,
        schedule,
        args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        momentum=args.momentum,
        nesterov=args.nesterov,
        weight_decay=args.weight_decay,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
        seed=args.seed,
        checkpoint=args.checkpoint,
        resume=args.resume,
        progress=not args.no_progress,
    )
    print(
        f"{args.model} on {data.name}, {schedule!r}, batch {args.batch_size}, "
        f"{history.config['precision']} on {history.device}"
    )
    print(history.table())
    if args.out is not None:
        config = {
            "dataset": args.dataset,
            "model": args.model,
            "schedule": args.schedule,
            "schedule_params": getattr(schedule, "params", repr(schedule)),
            **{k: v for k, v in history.config.items() if k not in ("model", "data", "schedule")},
        }
        out = Path(args.out)
        path = results.save(out.stem, history, config, command=args.command_line, root=out.parent)
        print(f"wrote {path}")
    return 0


# --- lrlab bench train ----------------------------------------------------------------------


def add_bench_command(subparsers) -> None:
    """Register ``lrlab bench`` and its ``train`` benchmark."""
    bench = subparsers.add_parser(
        "bench",
        help="speed benchmarks",
        description="Speed benchmarks that print a table.",
    )
    kinds = bench.add_subparsers(dest="benchmark", required=True, metavar="benchmark")
    parser = kinds.add_parser(
        "train",
        help="training images/s: device-resident loader vs torchvision DataLoader, and MFU",
        description="Time training steps fed by lrlab's device-resident loader and by a "
        "torchvision DataLoader pipeline (PIL, RandomCrop, flip, ToTensor, Normalize on CPU "
        "workers) in the same run, and on CUDA the model FLOPs utilisation against a bf16 "
        "matmul peak measured in the same run.",
        epilog="example: lrlab bench train --model resnet18 --batch-size 512",
    )
    add_model_options(parser)
    parser.set_defaults(model="resnet18")
    add_optimizer_options(parser, batch_size=512)
    group = parser.add_argument_group("benchmark")
    group.add_argument(
        "--dataset",
        default="synthetic",
        choices=("synthetic", "cifar10", "cifar100"),
        help="synthetic = random 32x32 RGB images in memory, see --images (speed does not "
        "depend on pixel values; nothing to download) (default: %(default)s)",
    )
    group.add_argument(
        "--data-root",
        default="data/cache",
        help="folder of the CIFAR caches (default: %(default)s)",
    )
    group.add_argument(
        "--images",
        type=_positive_int,
        default=50_000,
        help="number of synthetic training images (default: %(default)s, as CIFAR)",
    )
    group.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    group.add_argument(
        "--steps", type=_positive_int, default=50, help="timed steps per pipeline (default: 50)"
    )
    group.add_argument(
        "--warmup", type=int, default=5, help="untimed steps first per pipeline (default: 5)"
    )
    group.add_argument(
        "--workers", type=int, default=4, help="DataLoader worker processes (default: 4)"
    )
    parser.set_defaults(func=run_bench_train)


def _synthetic(device, images: int):
    import torch

    from lrlab.data import Dataset

    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (images, 3, 32, 32), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (images,), generator=gen)
    return Dataset("synthetic", (x, y), (x[:100], y[:100]), range(10), device=device)


def _forever(make_iterator: Callable[[int], object]):
    """Chain passes over the data (pass ``i`` from ``make_iterator(i)``) endlessly."""
    epoch = 0
    while True:
        yield from make_iterator(epoch)
        epoch += 1


def run_bench_train(args: argparse.Namespace) -> int:
    """Run ``lrlab bench train`` and print its table."""
    import torch

    import lrlab
    from lrlab import data as data_mod
    from lrlab import results, train

    device = torch.device(args.device) if args.device is not None else lrlab.device()
    if args.dataset == "synthetic":
        data = _synthetic(device, args.images)
    else:
        data = data_mod.load(args.dataset, root=args.data_root, device=device)
    model = build_model(args, data).to(device)
    precision = train.choose_precision(args.precision, device.type, train._bf16_supported(device))
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    channels_last = train.choose_channels_last(args.channels_last, device.type, has_conv)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = train.make_optimizer(
        model, args.optimizer, 0.01, args.momentum, args.nesterov, args.weight_decay
    )
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    net = torch.compile(model) if args.compile else model
    step = train.make_train_step(net, opt, precision, channels_last, scaler)
    flops = train.training_flops(model, data.input_shape)
    peak = train.matmul_peak(device) if device.type == "cuda" else None

    def resident(epoch):
        return data.batches("train", args.batch_size, seed=epoch)

    loader = data_mod.torchvision_loader(data, "train", args.batch_size, num_workers=args.workers)

    def classic(epoch):
        for x, y in loader:
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    rows = []
    for label, batches in (
        ("device-resident (lrlab.data)", _forever(resident)),
        (f"DataLoader (torchvision, {args.workers} workers)", _forever(classic)),
    ):
        speed = train.throughput(step, batches, args.steps, args.warmup)
        mfu = f"{speed * flops / peak:.1%}" if peak else "n/a"
        rows.append((label, speed, 1000 * args.batch_size / speed, mfu))
    peak_text = f"{peak / 1e12:.1f} TFLOP/s" if peak else "n/a (CPU)"
    print(
        f"lrlab bench train: {args.model}, batch {args.batch_size}, {precision}, "
        f"channels_last={channels_last}, compile={args.compile}, {args.steps} timed steps, "
        f"on {results.device_name(device)}"
    )
    print(
        f"training FLOPs per image (forward + backward): {flops / 1e9:.3f} GFLOP; "
        f"measured bf16 matmul peak: {peak_text}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'pipeline':<{width}}  {'images/s':>10}  {'ms/step':>8}  {'MFU':>6}")
    for label, speed, ms, mfu in rows:
        print(f"{label:<{width}}  {speed:>10,.0f}  {ms:>8.1f}  {mfu:>6}")
    print(f"device-resident / DataLoader: {rows[0][1] / rows[1][1]:.2f}x")
    return 0


# --- entry point ----------------------------------------------------------------------------

# --- lrlab lr-find ---------------------------------------------------------------------------

_RULE_NAMES = {
    "valley": "fastai: middle of the longest valley",
    "slide": "fastai: interval slide rule",
    "minimum": "fastai: lowest loss / 10",
    "steep": "fastai: steepest forward slope",
    "steepest": "torch-lr-finder: steepest gradient",
}


def _method_list(text: str) -> tuple[str, ...]:
    from lrlab import lrfind

    try:
        return lrfind._check_methods([m.strip() for m in text.split(",") if m.strip()])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_lr_find_command(subparsers):
    """Register ``lrlab lr-find`` on an argparse ``subparsers`` object; returns its parser.

    The data and model options are those of ``lrlab train``; the command runs
    :func:`run_lr_find`, which calls :func:`lrlab.lrfind.range_test`.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="lrlab")
    >>> _ = add_lr_find_command(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["lr-find", "--num-iter", "30", "--mode", "linear"])
    >>> args.num_iter, args.mode, config_from_args(args)["end_lr"]
    (30, 'linear', 10.0)
    """
    from lrlab import train
    from lrlab.lrfind import METHODS, MODES

    parser = subparsers.add_parser(
        "lr-find",
        help="learning-rate range test: sweep the rate, suggest one",
        description="Smith's learning-rate range test: train one step per rate while the "
        "rate grows from --start-lr to --end-lr, stop when the smoothed loss blows up, "
        "print the rates the rules of fastai and torch-lr-finder suggest, and restore the "
        "model. With --seeds N the test runs N times (fresh weights and batch order each) "
        "and the table shows how far each suggestion moves.",
        epilog="example: lrlab lr-find --dataset digits --model mlp --seeds 5 --plot lr.png",
    )
    add_data_options(parser)
    add_model_options(parser)
    sweep = parser.add_argument_group("range test")
    sweep.add_argument(
        "--mode",
        default="exp",
        choices=MODES,
        help="exp: rates spaced evenly on a log scale; linear: evenly (default: %(default)s)",
    )
    sweep.add_argument(
        "--start-lr", type=float, default=1e-7, help="first rate, > 0 (default: %(default)s)"
    )
    sweep.add_argument(
        "--end-lr",
        type=float,
        default=10.0,
        help="last rate, reached exactly at the last step (default: %(default)s)",
    )
    sweep.add_argument(
        "--num-iter",
        type=_positive_int,
        default=100,
        help="optimizer steps, one per rate, >= 2 (default: %(default)s)",
    )
    sweep.add_argument(
        "--smooth",
        type=float,
        default=0.98,
        help="beta of the bias-corrected moving average of the loss, in [0, 1) "
        "(default: %(default)s)",
    )
    sweep.add_argument(
        "--diverge",
        type=float,
        default=4.0,
        help="stop once the smoothed loss exceeds this times its best, > 1 (default: %(default)s)",
    )
    sweep.add_argument(
        "--seeds",
        type=_positive_int,
        default=1,
        help="run the test for seeds --seed .. --seed+N-1 and show each suggestion's "
        "spread (default: %(default)s)",
    )
    sweep.add_argument(
        "--methods",
        type=_method_list,
        default=METHODS,
        help=f"comma-separated suggestion rules from {','.join(METHODS)} (default: all)",
    )
    sweep.add_argument("--plot", default=None, help="save the figure to this file (PNG, PDF, SVG)")
    sweep.add_argument(
        "--out",
        default=None,
        help="store the test (one seed) as a results file with its config and provenance "
        "(a .json path; lrlab.results.load_or_run finds it by its config)",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    opt = parser.add_argument_group("optimization")
    opt.add_argument(
        "--batch-size", type=_positive_int, default=128, help="examples per step (default: 128)"
    )
    opt.add_argument(
        "--optimizer",
        default="sgd",
        choices=train.OPTIMIZERS,
        help="sgd (heavy-ball momentum), adam or adamw (default: %(default)s)",
    )
    opt.add_argument(
        "--momentum",
        type=float,
        default=0.9,
        help="SGD momentum, or Adam's beta1, in [0, 1) (default: %(default)s)",
    )
    opt.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="L2 weight decay (decoupled for adamw), >= 0 (default: %(default)s)",
    )
    opt.add_argument(
        "--precision",
        default="auto",
        choices=train.PRECISIONS,
        help="auto = bf16 autocast on GPUs with bf16, fp16 on older GPUs, fp32 on the CPU "
        "(default: %(default)s)",
    )
    opt.add_argument(
        "--channels-last",
        default="auto",
        choices=("auto", "true", "false"),
        help="channels-last memory layout; auto = on for conv nets on CUDA (default: auto)",
    )
    parser.set_defaults(func=run_lr_find)
    return parser


def config_from_args(args) -> dict:
    """The :func:`lrlab.lrfind.run_config` config of parsed ``lrlab lr-find`` arguments
    (what ``--out`` stores), with every key of :data:`lrlab.lrfind.CONFIG_KEYS`."""
    return {
        "dataset": args.dataset,
        "model": args.model,
        "model_options": {},
        "start_lr": args.start_lr,
        "end_lr": args.end_lr,
        "num_iter": args.num_iter,
        "mode": args.mode,
        "smooth": args.smooth,
        "diverge": args.diverge,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "seed": args.seed,
    }


def _suggestion_table(result, methods: Sequence[str]) -> str:
    lines = [f"{'method':<9} {'lr':>9}  rule"]
    for method, lr in result.suggestions(methods).items():
        lines.append(f"{method:<9} {lr:>9.3g}  {_RULE_NAMES[method]}")
    return "\n".join(lines)


def run_lr_find(args) -> int:
    """Run ``lrlab lr-find`` from parsed arguments: print the table, save plot and results.

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="lrlab")
    >>> _ = add_lr_find_command(parser.add_subparsers(dest="command"))
    >>> run_lr_find(parser.parse_args(["lr-find", "--num-iter", "40", "--no-progress"]))
    lr-find: mlp on digits, sgd (momentum 0.9), batch 128, exp sweep 1e-07 -> 10 in 40 steps, ...
    ...
    0
    """
    import matplotlib.pyplot as plt
    import torch

    from lrlab import models, results
    from lrlab.lrfind import range_test, range_test_seeds

    if args.out is not None and (args.seeds > 1 or not args.out.endswith(".json")):
        raise ValueError(f"--out needs a .json path and --seeds 1, got {args.out!r}")
    data = load_data(args)
    config = config_from_args(args)
    options = {k: v for k, v in config.items() if k not in ("dataset", "model", "model_options")}
    del options["seed"]
    run_options = {
        "precision": args.precision,
        "channels_last": {"true": True, "false": False}.get(args.channels_last, "auto"),
        "progress": not args.no_progress,
    }
    print(
        f"lr-find: {args.model} on {data.name}, {args.optimizer} (momentum {args.momentum}), "
        f"batch {args.batch_size}, {args.mode} sweep {args.start_lr:g} -> {args.end_lr:g} "
        f"in {args.num_iter} steps, on {results.device_name(data.device)}"
    )
    if args.seeds == 1:
        model = build_model(args, data)
        result = range_test(model, data, seed=args.seed, **options, **run_options)
        taken = f"{len(result.lrs)} of {args.num_iter} steps"
        print(
            f"stopped early after {taken} ({result.stop_reason})" if result.stopped_early else taken
        )
        print(_suggestion_table(result, args.methods))
        ax = result.plot(args.methods)
    else:

        def build(seed: int):
            torch.manual_seed(seed)
            return models.build(args.model, data.num_classes, data.input_shape)

        seeds = list(range(args.seed, args.seed + args.seeds))
        sweep = range_test_seeds(build, data, seeds=seeds, **options, **run_options)
        print(f"suggestions over seeds {seeds[0]}..{seeds[-1]}:")
        print(sweep.table(args.methods))
        ax = sweep.plot(args.methods)
    if args.plot is not None:
        ax.figure.savefig(args.plot)
        print(f"wrote {args.plot}")
    plt.close(ax.figure)
    if args.out is not None:
        out = Path(args.out)
        path = results.save(
            out.stem,
            result.to_dict(),
            config,
            command=getattr(args, "command_line", None),
            device=results.device_name(data.device),
            seed=args.seed,
            wall_time_s=result.wall_time_s,
            root=out.parent,
        )
        print(f"wrote {path}")
    return 0


def add_student_command(subparsers) -> None:
    """Register ``lrlab student``: student copies of chapters, solutions removed."""
    parser = subparsers.add_parser(
        "student",
        help="write student copies of chapter notebooks, with the solutions removed",
        description="Write a copy of each chapter notebook without its worked solutions "
        "(every cell from {solution-start} to {solution-end}) and without outputs, for "
        "handing out in a class. The exercises stay.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="chapter notebooks (.ipynb)")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the student copies (created)"
    )
    parser.set_defaults(func=run_student)


def run_student(args: argparse.Namespace) -> int:
    from lrlab import classroom

    for path in classroom.write_student_notebooks(args.notebooks, args.out):
        print(f"wrote {path}")
    return 0


#: Functions registering one subcommand each (``add_x_command(subparsers)``).
COMMANDS: list[Callable] = [
    add_train_command,
    add_lr_find_command,
    add_bench_command,
    add_student_command,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``lrlab`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="lrlab",
        description="Learning-Rate Lab: train with learning-rate schedules, benchmark.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lrlab`` command; return its exit code (0 on success, 2 on bad options).

    Examples
    --------
    >>> main(["train", "--epochs", "0"])  # usage and error on stderr
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage errors
        return int(exit_.code or 0)
    args.command_line = shlex.join(["lrlab", *argv])
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"lrlab {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
