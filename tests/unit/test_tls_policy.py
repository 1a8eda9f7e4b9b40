"""TLS settings and the bind policy (pure parts of strato/runtime/tls.py)."""
import pytest

from strato.runtime import tls


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_is_always_allowed_silently(host):
    assert tls.bind_policy(host, has_tls=False) == tls.BindVerdict(True)


def test_another_address_without_tls_warns_and_names_the_risk_and_the_fix():
    verdict = tls.bind_policy("10.0.0.5", has_tls=False)
    assert verdict.allowed and not verdict.error
    assert "without TLS" in verdict.warning and "--tls-generate" in verdict.warning


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_every_interface_without_tls_is_refused_unless_allowed(host):
    refused = tls.bind_policy(host, has_tls=False)
    assert not refused.allowed and "--allow-insecure-network" in refused.error
    allowed = tls.bind_policy(host, has_tls=False, allow_insecure_network=True)
    assert allowed.allowed and "without TLS" in allowed.warning


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5"])
def test_with_tls_any_address_is_fine(host):
    assert tls.bind_policy(host, has_tls=True) == tls.BindVerdict(True)


def test_tls_needs_all_three_files():
    assert tls.from_paths(None, None, None) is None
    with pytest.raises(tls.TlsError, match="all three files"):
        tls.from_paths("ca.crt", None, "node.key")


def test_missing_certificate_files_are_named(tmp_path):
    with pytest.raises(tls.TlsError, match="--tls-ca .* is not a readable file"):
        tls.from_paths(str(tmp_path / "ca.crt"), str(tmp_path / "n.crt"), str(tmp_path / "n.key"))


def test_a_generated_cluster_ca_names_every_node_and_loads(tmp_path):
    config = tls.generate(str(tmp_path / "tls"), ["10.1.2.3"])
    assert config.server_name == tls.CLUSTER_NAME
    for path in (config.ca, config.cert, config.key):
        assert (tmp_path / "tls" / path.rsplit("/", 1)[1]).stat().st_mode & 0o777 == 0o600
    again = tls.from_paths(config.ca, config.cert, config.key)      # the server name is read from the cert
    assert again == config
    assert tls.from_env(again.env()) == config


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path):
    a = tls.generate(str(tmp_path / "a"), [])
    b = tls.generate(str(tmp_path / "b"), [])
    with pytest.raises(tls.TlsError, match="key matches the certificate"):
        tls.from_paths(a.ca, a.cert, b.key)
