"""Parsing the arguments of `%cluster` and `%%remote` (pure: no kernel, no cluster).

Every problem raises `MagicArgumentError` with one line that names it; the
magics turn that into IPython's one-line `UsageError`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex

CLUSTER_COMMANDS = ("connect", "start", "stop", "status", "nodes", "dashboard", "logs")


class MagicArgumentError(ValueError):
    """Bad arguments to a magic; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting."""

    def __init__(self, prog: str, **kwargs):
        super().__init__(prog=prog, add_help=False, allow_abbrev=False, **kwargs)

    def error(self, message):
        raise MagicArgumentError(f"{self.prog}: {message}")


def _split(line: str, prog: str) -> list[str]:
    try:
        return shlex.split(line or "")
    except ValueError as exc:
        raise MagicArgumentError(f"{prog}: cannot parse {line!r}: {exc}") from None


def _check_unknown(tokens: list[str], prog: str, valid: list[str]) -> None:
    """Reject unknown flags with the list of valid ones (argparse's message omits them)."""
    for tok in tokens:
        if tok.startswith("-") and not _is_number(tok):
            name = tok.split("=", 1)[0]
            if name not in valid:
                raise MagicArgumentError(f"{prog}: unknown option {name} (valid options: {', '.join(valid)})")


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30,
          "gib": 2**30, "ti": 2**40, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """'2000000000', '2e9', '2GB', '512MiB' -> a number of bytes."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size in bytes such as 2000000000, 2GB or 512MiB, "
                                         f"got {text!r}")
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return int(value) if value.is_integer() else value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _resources(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected JSON such as '{{\"widget\": 1}}', got {text!r}") from None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for k, v in value.items()):
        raise argparse.ArgumentTypeError(f"expected a JSON object of name -> number >= 0, got {text!r}")
    if "CPU" in value or "GPU" in value:
        raise argparse.ArgumentTypeError("use --num-cpus / --num-gpus instead of CPU or GPU in --resources")
    return value


def _identifier(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"expected a Python variable name, got {text!r}")
    return text


def _session_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", text):
        raise argparse.ArgumentTypeError(f"expected a name of letters, digits, '_', '.', '-', got {text!r}")
    return text


# --------------------------------------------------------------------- %%remote
@dataclasses.dataclass
class RemoteArgs:
    num_cpus: float | None = None
    num_gpus: float | None = None
    resources: dict | None = None
    node: str | None = None
    session: str | None = None
    parallel: int | None = None
    no_block: bool = False
    output: str | None = None

    def task_options(self) -> dict:
        """The `.options()` these flags stand for (the node is resolved by the magic)."""
        opts = {}
        if self.num_cpus is not None:
            opts["num_cpus"] = self.num_cpus
        if self.num_gpus is not None:
            opts["num_gpus"] = self.num_gpus
        if self.resources:
            opts["resources"] = dict(self.resources)
        return opts


REMOTE_FLAGS = ["--num-cpus", "--num-gpus", "--resources", "--node", "--session", "--parallel", "--no-block",
                "-o", "--output"]


def _remote_parser() -> _Parser:
    p = _Parser("%%remote")
    p.add_argument("--num-cpus", type=_non_negative, dest="num_cpus")
    p.add_argument("--num-gpus", type=_non_negative, dest="num_gpus")
    p.add_argument("--resources", type=_resources)
    p.add_argument("--node")
    p.add_argument("--session", type=_session_name)
    p.add_argument("--parallel", type=_positive_int)
    p.add_argument("--no-block", action="store_true", dest="no_block")
    p.add_argument("-o", "--output", type=_identifier)
    return p


def parse_remote(line: str) -> RemoteArgs:
    """Parse the `%%remote` line: `--num-cpus 4 --session train -o job ...`."""
    tokens = _split(line, "%%remote")
    _check_unknown(tokens, "%%remote", REMOTE_FLAGS)
    ns, extra = _remote_parser().parse_known_args(tokens)
    if extra:
        raise MagicArgumentError(f"%%remote: unexpected argument {extra[0]!r} (options go on the %%remote line, "
                                 f"the code in the cell below it)")
    args = RemoteArgs(**vars(ns))
    if args.parallel and args.session:
        raise MagicArgumentError("%%remote: --parallel and --session cannot be combined yet; use one of them")
    return args


# --------------------------------------------------------------------- %cluster
@dataclasses.dataclass
class ClusterArgs:
    command: str
    address: str | None = None
    num_cpus: float | None = None
    num_gpus: float | None = None
    object_store_memory: int | None = None
    token: str | None = None
    token_file: str | None = None
    task: str | None = None
    actor: str | None = None
    tail: int = 50


CLUSTER_FLAGS = {
    "connect": ["--num-cpus", "--num-gpus", "--object-store-memory", "--token-file", "--token"],
    "start": ["--num-cpus", "--num-gpus", "--object-store-memory"],
    "logs": ["--task", "--actor", "--tail"],
}


def _cluster_parser(command: str) -> _Parser:
    p = _Parser(f"%cluster {command}")
    if command in ("connect", "start"):
        if command == "connect":
            p.add_argument("address", nargs="?")
            tokens = p.add_mutually_exclusive_group()
            tokens.add_argument("--token-file", dest="token_file")
            tokens.add_argument("--token")
        p.add_argument("--num-cpus", type=_non_negative, dest="num_cpus")
        p.add_argument("--num-gpus", type=_non_negative, dest="num_gpus")
        p.add_argument("--object-store-memory", type=parse_bytes, dest="object_store_memory")
    elif command == "logs":
        group = p.add_mutually_exclusive_group()
        group.add_argument("--task")
        group.add_argument("--actor")
        p.add_argument("--tail", type=_positive_int, default=50)
    return p


def parse_cluster(line: str) -> ClusterArgs:
    """Parse `%cluster COMMAND ...`; no command means `status`."""
    tokens = _split(line, "%cluster")
    if not tokens:
        return ClusterArgs("status")
    command, rest = tokens[0], tokens[1:]
    if command not in CLUSTER_COMMANDS:
        raise MagicArgumentError(f"%cluster: unknown command {command!r} (commands: {', '.join(CLUSTER_COMMANDS)})")
    prog = f"%cluster {command}"
    _check_unknown(rest, prog, CLUSTER_FLAGS.get(command, []))
    ns, extra = _cluster_parser(command).parse_known_args(rest)
    if extra:
        raise MagicArgumentError(f"{prog}: unexpected argument {extra[0]!r}")
    args = ClusterArgs(command, **vars(ns))
    if args.address is not None and ":" not in args.address and args.address != "auto":
        raise MagicArgumentError(f"{prog}: address must be HOST:PORT or 'auto', got {args.address!r}")
    if args.address is not None and any(v is not None for v in (args.num_cpus, args.num_gpus,
                                                                 args.object_store_memory)):
        raise MagicArgumentError(f"{prog}: --num-cpus/--num-gpus/--object-store-memory size a new embedded "
                                 f"cluster; a running one at an address was sized by `strato start`")
    for flag, value in (("--token", args.token), ("--token-file", args.token_file)):
        if value is not None and args.address is None:
            raise MagicArgumentError(f"{prog}: {flag} is for joining a running cluster; give its address too")
    return args
