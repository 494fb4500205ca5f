"""``--schedule NAME`` and one option per parameter of any schedule factory.

Every factory in ``lrlab.schedules.FACTORIES`` is available as ``--schedule NAME``; its
parameters become options (``--lr``, ``--min-lr``, ``--milestones 100,200``), found by
reading the factory's signature and docstring, so a new factory needs no change here.
The options are parsed here; the schedule is built by :func:`lrlab.schedules.from_spec`,
as the sweep and the widgets build theirs.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable

from lrlab import schedules
from lrlab.cli.options import parse_bool

__all__ = ["add_schedule_options", "schedule_factories", "schedule_from_args"]


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
        convert = {"int": int, "float": float, "str": str, "bool": parse_bool}.get(base, _guess)
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
        "schedules without an lr parameter, --lr sets max_lr. --warmup-steps N prepends a "
        "linear warm-up from 0 over N steps to a schedule without a warm-up of its own "
        "(total_steps includes it). The schedules: "
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
        for param in schedules.spec_parameters(name, factories).values():
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

    Converts each option given to its parameter's type, then calls
    :func:`lrlab.schedules.from_spec` (``--lr`` as its ``lr``).

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
    params = schedules.spec_parameters(args.schedule, factories)
    given = {
        key[len("schedule_") :]: value
        for key, value in vars(args).items()
        if key.startswith("schedule_") and key != "schedule_flags" and value is not None
    }
    # --lr fills lr, or max_lr where the schedule has no lr.
    targets = {key: "max_lr" if key == "lr" and "lr" not in params else key for key in given}
    unknown = sorted(key for key in given if targets[key] not in params)
    if unknown:
        flags = ", ".join(_option(args, n) for n in unknown)
        signature = _signature_text(args.schedule, factories[args.schedule])
        raise ValueError(f"{flags}: not a parameter of {signature}")
    options = {}
    for key, text in given.items():
        try:
            options[key] = _converter(_annotation(params[targets[key]]))(text)
        except ValueError as err:
            raise ValueError(f"{_option(args, key)}: {err}") from None
    try:
        return schedules.from_spec(
            args.schedule,
            lr=options.pop("lr", None),
            total_steps=total_steps,
            factories=factories,
            **options,
        )
    except schedules.SpecError as err:  # name the option, not the parameter
        raise ValueError(err.naming(_option(args, err.parameter))) from None
