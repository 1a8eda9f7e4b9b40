"""Arguments of %cluster and %%remote: what parses, and the one-line errors for what does not."""
import pytest

from strato.kernel.args import MagicArgumentError, parse_bytes, parse_cluster, parse_remote


def test_remote_defaults():
    a = parse_remote("")
    assert a.task_options() == {}
    assert (a.session, a.parallel, a.no_block, a.output, a.node) == (None, None, False, None, None)


def test_remote_all_options():
    a = parse_remote('--num-cpus 4 --num-gpus 0.5 --resources \'{"widget": 2}\' --node 1a2b -o job --no-block')
    assert a.task_options() == {"num_cpus": 4, "num_gpus": 0.5, "resources": {"widget": 2}}
    assert (a.node, a.output, a.no_block) == ("1a2b", "job", True)
    assert parse_remote("--session train").session == "train"
    assert parse_remote("--parallel=3").parallel == 3


@pytest.mark.parametrize("line, words", [
    ("--bogus", ["unknown option --bogus", "--num-cpus"]),
    ("--num-cpu 2", ["unknown option --num-cpu"]),
    ("--num-cpus -1", ["--num-cpus", ">= 0"]),
    ("--num-cpus lots", ["--num-cpus", "lots"]),
    ("--parallel 0", ["--parallel", ">= 1"]),
    ("--resources '{\"CPU\": 1}'", ["--num-cpus"]),
    ("--resources notjson", ["JSON"]),
    ("-o 2x", ["variable name"]),
    ("--session 'a b'", ["--session"]),
    ("stray", ["unexpected argument 'stray'"]),
    ("--session s --parallel 2", ["cannot be combined"]),
    ("--num-cpus", ["expected one argument"]),
    ("'unterminated", ["cannot parse"]),
])
def test_remote_bad_input_is_one_line(line, words):
    with pytest.raises(MagicArgumentError) as info:
        parse_remote(line)
    message = str(info.value)
    assert "\n" not in message and message.startswith("%%remote")
    for word in words:
        assert word in message


def test_cluster_commands():
    assert parse_cluster("").command == "status"
    a = parse_cluster("connect")
    assert (a.command, a.address) == ("connect", None)
    a = parse_cluster("connect head:6380 --token abc")
    assert (a.address, a.token) == ("head:6380", "abc")
    a = parse_cluster("connect head:6380 --token-file '/home/me/my token'")
    assert (a.address, a.token, a.token_file) == ("head:6380", None, "/home/me/my token")
    a = parse_cluster("connect --num-cpus 2 --object-store-memory 512MiB")
    assert (a.num_cpus, a.object_store_memory) == (2, 512 * 2**20)
    assert parse_cluster("start --num-cpus 1").num_cpus == 1
    a = parse_cluster("logs --task ab12 --tail 5")
    assert (a.task, a.tail) == ("ab12", 5)
    for cmd in ("stop", "status", "nodes", "dashboard"):
        assert parse_cluster(cmd).command == cmd


@pytest.mark.parametrize("line, words", [
    ("launch", ["unknown command 'launch'", "connect"]),
    ("connect --cpus 2", ["unknown option --cpus", "--num-cpus"]),
    ("connect nohost", ["HOST:PORT"]),
    ("connect head:6380 --num-cpus 2", ["strato start"]),
    ("connect --token abc", ["address"]),
    ("connect --token-file t", ["--token-file", "address"]),
    ("connect h:1 --token a --token-file t", ["not allowed with"]),
    ("logs --task a --actor b", ["not allowed"]),
    ("status extra", ["unexpected argument 'extra'"]),
    ("connect --object-store-memory lots", ["size in bytes"]),
])
def test_cluster_bad_input_is_one_line(line, words):
    with pytest.raises(MagicArgumentError) as info:
        parse_cluster(line)
    message = str(info.value)
    assert "\n" not in message and message.startswith("%cluster")
    for word in words:
        assert word in message


def test_sizes():
    assert parse_bytes("2000000000") == 2_000_000_000
    assert parse_bytes("2e9") == 2_000_000_000
    assert parse_bytes("2GB") == 2_000_000_000
    assert parse_bytes("1.5GiB") == int(1.5 * 2**30)
    assert parse_bytes("100 mb") == 100_000_000
