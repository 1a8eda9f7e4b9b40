"""Where a client's token comes from (--token, --token-file, STRATO_TOKEN) and what warns."""
import os

import pytest

from strato.runtime import tokens

WHERE = "on the command line"


def test_nothing_given_means_no_token():
    assert tokens.explicit_token(None, None, {}, where=WHERE) == tokens.TokenChoice(None)


def test_the_environment_variable_is_used_without_warning():
    choice = tokens.explicit_token(None, None, {"STRATO_TOKEN": " abc\n"}, where=WHERE)
    assert (choice.token, choice.source, choice.warnings) == ("abc", "STRATO_TOKEN", ())


def test_an_empty_environment_variable_counts_as_unset():
    assert tokens.explicit_token(None, None, {"STRATO_TOKEN": "  "}, where=WHERE).token is None


def test_a_token_on_the_command_line_works_but_warns_about_ps():
    choice = tokens.explicit_token("abc", None, {"STRATO_TOKEN": "env"}, where=WHERE)
    assert choice.token == "abc" and choice.source == "--token"
    [warning] = choice.warnings
    assert "--token" in warning and WHERE in warning
    assert "--token-file" in warning and "STRATO_TOKEN" in warning


def test_a_private_token_file_wins_over_the_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text("from-file\nignored second line\n")
    path.chmod(0o600)
    choice = tokens.explicit_token(None, str(path), {"STRATO_TOKEN": "env"}, where=WHERE)
    assert (choice.token, choice.warnings) == ("from-file", ())
    assert str(path) in choice.source


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_token_file_others_can_read_warns(tmp_path, mode):
    path = tmp_path / "token"
    path.write_text("t\n")
    path.chmod(mode)
    choice = tokens.explicit_token(None, str(path), {}, where=WHERE)
    [warning] = choice.warnings
    assert f"{mode:04o}" in warning and f"chmod 600 {path}" in warning


def test_token_and_token_file_together_are_refused(tmp_path):
    with pytest.raises(ValueError, match="either --token or --token-file"):
        tokens.explicit_token("a", str(tmp_path / "t"), {}, where=WHERE)


def test_a_missing_or_empty_token_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read it"):
        tokens.explicit_token(None, str(tmp_path / "nope"), {}, where=WHERE)
    (tmp_path / "empty").write_text("\n\n")
    with pytest.raises(ValueError, match="found nothing"):
        tokens.explicit_token(None, str(tmp_path / "empty"), {}, where=WHERE)
    with pytest.raises(ValueError, match="cannot read it"):
        tokens.explicit_token(None, str(tmp_path), {}, where=WHERE)       # a folder


def test_a_token_file_may_be_a_pipe():
    read, write = os.pipe()
    os.write(write, b"piped\n")
    os.close(write)
    try:
        choice = tokens.explicit_token(None, f"/proc/self/fd/{read}", {}, where=WHERE)
    finally:
        os.close(read)
    assert (choice.token, choice.warnings) == ("piped", ())


def test_an_empty_token_flag_is_refused():
    with pytest.raises(ValueError, match="empty"):
        tokens.explicit_token("  ", None, {}, where=WHERE)


def test_token_file_warning_is_silent_for_owner_only_modes():
    for mode in (0o600, 0o400, 0o700):
        assert tokens.token_file_warning("/t", mode) is None
    assert tokens.token_file_warning("/t", 0o100644) is not None
