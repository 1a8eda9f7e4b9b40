"""TLS between hosts: certificates, the contexts made from them, and the one setting per process.

A cluster started with certificates (`strato start --head --tls-cert C
--tls-key K --tls-ca CA`, or `--tls-generate` for a self-signed CA made in
the session folder) encrypts every TCP link: gRPC (GCS, raylets) and the
framed hot path (drivers, workers, actors). Both sides show a certificate
signed by the cluster's CA (mutual TLS); the token hello still runs inside.
The object store's unix socket stays local and plain.

A process belongs to one cluster at a time, so its TLS setting is installed
once: daemons and workers take it from the environment their starter gave
them (STRATO_TLS_CA / _CERT / _KEY / _SERVER_NAME: file paths, never key
material), a driver from `strato.init` (the environment, or the cluster's
record on this machine). `current()` is what rpc.py and transport.py use.

Server names: a generated certificate names every node "strato-cluster"
(plus localhost and the node's address), and clients check that name;
with certificates of your own, clients check the address they dial, unless
STRATO_TLS_SERVER_NAME (or --tls-server-name) names the one name all your
node certificates carry.
"""
from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import ssl

CLUSTER_NAME = "strato-cluster"
_ENV = {"ca": "STRATO_TLS_CA", "cert": "STRATO_TLS_CERT", "key": "STRATO_TLS_KEY",
        "server_name": "STRATO_TLS_SERVER_NAME"}


class TlsError(ValueError):
    """Certificate files missing, unreadable or inconsistent."""


@dataclasses.dataclass(frozen=True)
class TlsConfig:
    ca: str
    cert: str
    key: str
    server_name: str = ""           # the name clients check; "" = the address they dial

    def check(self) -> "TlsConfig":
        for what, path in (("--tls-ca", self.ca), ("--tls-cert", self.cert), ("--tls-key", self.key)):
            if not path or not os.path.isfile(path):
                raise TlsError(f"TLS: {what} {path!r} is not a readable file; give the PEM files of the cluster's "
                               f"CA certificate, this node's certificate and its key (or --tls-generate on the head)")
        try:
            self.server_context()
        except (ssl.SSLError, OSError) as exc:
            raise TlsError(f"TLS: could not load {self.cert} / {self.key} / {self.ca}: {exc}. Check that the key "
                           f"matches the certificate and both are PEM.") from None
        return self

    def env(self) -> dict[str, str]:
        """The environment a child process needs to join over TLS (paths only)."""
        return {_ENV[f]: getattr(self, f) for f in _ENV}

    def as_record(self) -> dict:
        return dataclasses.asdict(self)

    # -- contexts ---------------------------------------------------------
    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        ctx.load_verify_locations(self.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED          # every peer shows a certificate of the cluster's CA
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        ctx.load_verify_locations(self.ca)
        return ctx

    def _read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def grpc_server_credentials(self):
        import grpc
        return grpc.ssl_server_credentials([(self._read(self.key), self._read(self.cert))],
                                           root_certificates=self._read(self.ca), require_client_auth=True)

    def grpc_channel_credentials(self):
        import grpc
        return grpc.ssl_channel_credentials(root_certificates=self._read(self.ca),
                                            private_key=self._read(self.key),
                                            certificate_chain=self._read(self.cert))

    def grpc_channel_options(self) -> list:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def from_paths(ca: str | None, cert: str | None, key: str | None, server_name: str | None = None) -> TlsConfig | None:
    """A config from three paths (all or none); the server name defaults from the certificate."""
    given = [p for p in (ca, cert, key) if p]
    if not given:
        return None
    if len(given) != 3:
        raise TlsError("TLS needs all three files: --tls-ca (the cluster's CA certificate), --tls-cert (this "
                       "node's certificate) and --tls-key (its private key)")
    ca, cert, key = (os.path.abspath(p) for p in (ca, cert, key))
    if server_name is None:
        server_name = CLUSTER_NAME if _names_cluster(cert) else ""
    return TlsConfig(ca, cert, key, server_name).check()


def from_env(environ=None) -> TlsConfig | None:
    environ = os.environ if environ is None else environ
    return from_paths(environ.get(_ENV["ca"]), environ.get(_ENV["cert"]), environ.get(_ENV["key"]),
                      environ.get(_ENV["server_name"]))


def from_record(record: dict | None) -> TlsConfig | None:
    if not record:
        return None
    return TlsConfig(record["ca"], record["cert"], record["key"], record.get("server_name", ""))


def _names_cluster(cert_path: str) -> bool:
    try:
        from cryptography import x509
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return CLUSTER_NAME in san.get_values_for_type(x509.DNSName)
    except Exception:       # no SAN, not PEM, no cryptography: fall back to checking addresses
        return False


# -- the process's setting ---------------------------------------------------
_current: TlsConfig | None = None


def install(config: TlsConfig | None) -> None:
    """Set this process's TLS (None: plain TCP). Called once by a daemon's main, or by init/shutdown."""
    global _current
    _current = config


def current() -> TlsConfig | None:
    return _current


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- a self-signed CA for one cluster ------------------------------------------
def generate(directory: str, hosts: list[str], days: int = 365) -> TlsConfig:
    """Write ca.crt/ca.key and node.crt/node.key (mode 0600) for a cluster; every node may use node.*."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, mode=0o700, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strato cluster CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    names: list = [x509.DNSName(CLUSTER_NAME), x509.DNSName("localhost")]
    for h in dict.fromkeys(["127.0.0.1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    node_key = ec.generate_private_key(ec.SECP256R1())
    node_cert = (x509.CertificateBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CLUSTER_NAME)]))
                 .issuer_name(ca_name).public_key(node_key.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
                 .add_extension(x509.SubjectAlternativeName(names), critical=False)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                                critical=False)
                 .sign(ca_key, hashes.SHA256()))

    def write(name: str, data: bytes) -> str:
        path = os.path.join(directory, name)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        return path

    pem = serialization.Encoding.PEM
    key_fmt = dict(encoding=pem, format=serialization.PrivateFormat.PKCS8,
                   encryption_algorithm=serialization.NoEncryption())
    write("ca.key", ca_key.private_bytes(**key_fmt))
    ca = write("ca.crt", ca_cert.public_bytes(pem))
    key = write("node.key", node_key.private_bytes(**key_fmt))
    cert = write("node.crt", node_cert.public_bytes(pem))
    return TlsConfig(ca, cert, key, CLUSTER_NAME).check()


# -- where a cluster may listen ----------------------------------------------------
class InsecureNetworkWarning(UserWarning):
    """A cluster listens beyond this machine without TLS."""


@dataclasses.dataclass(frozen=True)
class BindVerdict:
    allowed: bool
    warning: str = ""
    error: str = ""


def bind_policy(host: str, has_tls: bool, allow_insecure_network: bool = False) -> BindVerdict:
    """May daemons listen on `host`? Loopback always; other addresses warn without TLS; every interface
    (0.0.0.0, ::) without TLS only with an explicit allow_insecure_network."""
    if has_tls or is_loopback(host):
        return BindVerdict(True)
    risk = (f"listening on {host} without TLS: anyone who can reach this address and watch the traffic can "
            f"read the cluster's data, and the control plane's messages travel in clear. Start the cluster "
            f"with --tls-generate (or --tls-cert/--tls-key/--tls-ca) to encrypt links between hosts")
    if host in ("0.0.0.0", "::", "[::]"):
        if not allow_insecure_network:
            return BindVerdict(False, error=f"refusing to listen on every interface ({host}) without TLS. "
                                            f"{risk[0].upper()}{risk[1:]}, or pass --allow-insecure-network "
                                            f"if this network is trusted.")
        return BindVerdict(True, warning=f"--allow-insecure-network: {risk}.")
    return BindVerdict(True, warning=f"{risk}.")
