"""Separate hosts on one machine: network namespaces joined to the root namespace by veth pairs.

    root namespace: bridge <br> at 10.213.N.1/24  (the head and the driver run here)
      |- veth <pfx>0 ==== <pfx>0p in namespace <pfx>-0 at 10.213.N.10
      |- veth <pfx>1 ==== <pfx>1p in namespace <pfx>-1 at 10.213.N.11
      ...
Addresses in 127.0.0.0/8 are not routable between namespaces, so the hosts use a private range
that exists only on these links. `partition(i)` takes host i's link down (its TCP connections go
silent, as with a cut cable); `heal(i)` brings it back. Creating namespaces needs CAP_NET_ADMIN:
where it is refused, `NetNamespaces.create` raises with what the machine said (tests fail, not skip).
"""
from __future__ import annotations

import os
import subprocess


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {done.stderr.strip()} -- this test builds network "
                           f"namespaces and needs root (CAP_NET_ADMIN) on a Linux machine")


class NetNamespaces:
    def __init__(self, count: int):
        tag = os.getpid() % 100_000
        self.prefix = f"sn{tag}"                       # interface names stay within 15 characters
        self.subnet = f"10.213.{tag % 250}"
        self.bridge = f"{self.prefix}br"
        self.count = count
        self.made: list[str] = []

    @property
    def root_ip(self) -> str:
        return f"{self.subnet}.1"

    def ip(self, i: int) -> str:
        return f"{self.subnet}.{10 + i}"

    def name(self, i: int) -> str:
        return f"{self.prefix}-{i}"

    def veth(self, i: int) -> str:
        return f"{self.prefix}v{i}"

    def create(self) -> "NetNamespaces":
        try:
            _ip("link", "add", self.bridge, "type", "bridge", "forward_delay", "0")
            self.made.append("bridge")
            _ip("addr", "add", f"{self.root_ip}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(self.count):
                ns, veth = self.name(i), self.veth(i)
                _ip("netns", "add", ns)
                self.made.append(ns)
                _ip("link", "add", veth, "type", "veth", "peer", "name", veth + "p")
                _ip("link", "set", veth + "p", "netns", ns)
                _ip("link", "set", veth, "master", self.bridge)
                _ip("link", "set", veth, "up")
                _ip("addr", "add", f"{self.ip(i)}/24", "dev", veth + "p", ns=ns)
                _ip("link", "set", veth + "p", "up", ns=ns)
                _ip("link", "set", "lo", "up", ns=ns)
        except BaseException:
            self.destroy()
            raise
        return self

    def command(self, i: int, argv: list[str]) -> list[str]:
        """argv run inside host i's namespace."""
        return ["ip", "netns", "exec", self.name(i), *argv]

    def partition(self, i: int) -> None:
        _ip("link", "set", self.veth(i), "down")

    def heal(self, i: int) -> None:
        _ip("link", "set", self.veth(i), "up")

    def destroy(self) -> None:
        for i in range(self.count):
            subprocess.run(["ip", "link", "del", self.veth(i)], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.name(i)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.made.clear()
