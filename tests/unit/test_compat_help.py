"""`--help` of every CLI command and every magic is complete: each option is documented.

The command line's parser is walked (every sub-command, every option) and the
magics' help texts are checked against the flags their parsers accept, so a
new flag without documentation fails here.
"""
import argparse

import pytest
from IPython.core.interactiveshell import InteractiveShell

from strato import cli
from strato.kernel import args as margs
from strato.kernel.magics import StratoMagics


def _subparsers(parser: argparse.ArgumentParser, path=("strato",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, path + (name,))


COMMANDS = list(_subparsers(cli.build_parser()))


def test_the_cli_has_the_commands_the_readme_names():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"strato start", "strato status", "strato stop", "strato kernel install"} <= names


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_cli_option_and_command_has_a_help_text(path, parser):
    undocumented = []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):      # each sub-command has its one-line help
            undocumented += [[c.dest] for c in a._choices_actions if not (c.help or "").strip()]
        elif not isinstance(a, argparse._HelpAction) and not (a.help or "").strip():
            undocumented.append(a.option_strings or [a.dest])
    assert undocumented == [], f"{' '.join(path)}: options without help: {undocumented}"
    if len(path) > 1:
        assert (parser.description or "").strip(), f"{' '.join(path)} --help has no description"
    text = parser.format_help()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text


def test_the_cli_help_runs(capsys):
    for path, _ in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*path[1:], "--help"])
        assert exit_info.value.code == 0
        assert "usage: " + " ".join(path) in capsys.readouterr().out


@pytest.fixture
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "strato")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "strato")
        InteractiveShell.clear_instance()


def test_cluster_help_documents_every_command_and_flag(ip, capsys):
    ip.run_line_magic("cluster", "--help")
    text = capsys.readouterr().out
    for command in margs.CLUSTER_COMMANDS:
        assert f"%cluster {command}" in text, command
    for flags in margs.CLUSTER_FLAGS.values():
        for flag in flags:
            assert flag in text, flag
    ip.run_line_magic("cluster", "connect --help")      # -h/--help anywhere: the help, nothing started
    assert "%cluster connect" in capsys.readouterr().out
    assert StratoMagics.cluster.__doc__.strip().startswith("Connect this kernel")


def test_remote_help_documents_every_flag(ip, capsys):
    ip.run_cell_magic("remote", "--help", "x = 1")
    text = capsys.readouterr().out
    for flag in margs.REMOTE_FLAGS:
        assert flag in text, flag
    assert "x" not in ip.user_ns                          # the cell did not run
