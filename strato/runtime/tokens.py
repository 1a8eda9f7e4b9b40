"""Where a client's cluster token comes from, and the warnings about where it should not.

A client joining a running cluster (`strato start --address`, `strato status`,
`%cluster connect ADDRESS`, `strato.init(address=...)`) takes the token from,
in order:

    --token T / _token=T        works, but a command line is readable by every user of the machine (`ps`,
                                /proc/<pid>/cmdline) and stays in shell or notebook history: it warns
    --token-file PATH           the file's first line; a file readable by group or others warns
    $STRATO_TOKEN               the environment variable
    the local registry          the token file of a cluster whose head was started on this machine
                                (temp_root.lookup_token)

`explicit_token` covers the first three and returns its warnings as text:
the caller prints them (stderr for the CLI and the magics).
"""
from __future__ import annotations

import dataclasses
import os
import stat

TOKEN_ENV = "STRATO_TOKEN"
MAX_TOKEN_FILE_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class TokenChoice:
    token: str | None
    source: str = ""                      # "--token", "--token-file PATH", "STRATO_TOKEN", or "" (none given)
    warnings: tuple[str, ...] = ()


def command_line_warning(flag: str, where: str) -> str:
    """The warning for a token given as `flag` in a command line that is visible `where`."""
    return (f"warning: {flag} puts the cluster token {where}; pass --token-file PATH (a file of mode 0600) "
            f"or set the {TOKEN_ENV} environment variable instead.")


def token_file_warning(path: str, mode: int) -> str | None:
    """The warning for a token file of permission bits `mode`, or None when only its owner can read it."""
    if mode & 0o077:
        return (f"warning: the token file {path} has mode {stat.S_IMODE(mode):04o}: other users of this "
                f"machine may read the cluster token. Run `chmod 600 {path}`.")
    return None


def read_token_file(path: str, flag: str = "--token-file") -> tuple[str, list[str]]:
    """The token in the file at `path` and the warnings about it; ValueError when there is none."""
    try:
        with open(path, "rb") as f:        # a pipe works too: --token-file <(pass show strato)
            mode = os.fstat(f.fileno()).st_mode
            data = f.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot read it ({exc.strerror or exc}). Give the path of the "
                         f"'token' file in the head node's session folder, or a copy of it.") from None
    lines = data[:MAX_TOKEN_FILE_BYTES].decode("utf-8", "replace").strip().splitlines()
    if len(data) > MAX_TOKEN_FILE_BYTES or not lines or not lines[0].strip():
        raise ValueError(f"{flag} {path}: expected the cluster token on the first line, found "
                         f"{'too much' if len(data) > MAX_TOKEN_FILE_BYTES else 'nothing'}. Copy the 'token' "
                         f"file from the head node's session folder.")
    warning = token_file_warning(path, mode) if stat.S_ISREG(mode) else None
    return lines[0].strip(), [warning] if warning else []


def explicit_token(token: str | None, token_file: str | None, environ, *, where: str,
                   flag: str = "--token", file_flag: str = "--token-file") -> TokenChoice:
    """The token given by `flag`, `file_flag` or $STRATO_TOKEN in `environ` (in that order), with warnings.

    `where` says where a `flag` token shows, for its warning ("on the command line, ...").
    Giving both `flag` and `file_flag` is a ValueError.
    """
    if token is not None and token_file is not None:
        raise ValueError(f"give either {flag} or {file_flag}, not both.")
    if token is not None:
        if not token.strip():
            raise ValueError(f"{flag} is empty; give the cluster token, or use {file_flag} PATH.")
        return TokenChoice(token.strip(), flag, (command_line_warning(flag, where),))
    if token_file is not None:
        value, warnings = read_token_file(token_file, file_flag)
        return TokenChoice(value, f"{file_flag} {token_file}", tuple(warnings))
    from_env = (environ.get(TOKEN_ENV) or "").strip()
    if from_env:
        return TokenChoice(from_env, TOKEN_ENV)
    return TokenChoice(None)
