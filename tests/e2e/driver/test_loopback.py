"""A local Ray instance started by `genbench run` listens on loopback only: every listening TCP
socket (and bound UDP socket) of the driver and of the processes it started (GCS, raylet, agents,
workers), read from /proc while its runs train, is on 127.0.0.1 or ::1, none on 0.0.0.0 or ::."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
from pathlib import Path

from genbench.worker import checkpoint
from tests.helpers import RING, suite_dict, write_suite

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64, "d_steps": 10}
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def descendants(root: int) -> dict[int, str]:
    """Pid -> command name of `root` and every process below it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier += children
    names = {}
    for pid in found:
        try:
            names[pid] = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile
    return names


def socket_owners(pids) -> dict[str, int]:
    """Socket inode -> pid, of the sockets the processes `pids` hold open."""
    owners = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[target[8:-1]] = pid
    return owners


def address_of(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IP address of a /proc/net/tcp{,6} local address (host byte order, per 32-bit word)."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return ipaddress.ip_address(socket.inet_ntop(family, words))


def listening(pids) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int, int]]:
    """(protocol, address, port, pid) of every listening TCP and bound UDP socket of `pids`."""
    owners = socket_owners(pids)
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if inode in owners and (state == LISTEN or proto.startswith("udp")):
                host, port = local.rsplit(":", 1)
                found.append((proto, address_of(host), int(port, 16), owners[inode]))
    return found


def is_loopback(address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_a_local_ray_instance_listens_on_loopback_only(tmp_path, start_driver):
    suite = {**suite_dict([GAN], steps=100_000, seeds=(0, 1), ckpt=25), "name": "lo", "datasets": [RING]}
    suite["metrics"] = ["mode_coverage"]
    write_suite(tmp_path, suite)
    runs = tmp_path / "results" / "lo" / "runs"
    driver = start_driver("suite.yaml", "--results", "results")
    driver.wait_for(lambda: len(list(runs.glob(f"*/{checkpoint.FILENAME}"))) == 2, "both runs trained")

    processes = descendants(driver.pid)
    sockets = listening(processes)
    driver.proc.send_signal(signal.SIGTERM)
    code, out, err = driver.finish()

    owners = {pid: processes.get(pid, "?") for _, _, _, pid in sockets}
    assert {"gcs_server", "raylet"} <= set(owners.values()), (processes, sockets)
    assert driver.pid in owners  # the driver's own gRPC server
    assert sum(name.startswith("ray::RunWorker") for name in owners.values()) == 2, owners
    wide = [(proto, str(ip), port, owners[pid]) for proto, ip, port, pid in sockets if not is_loopback(ip)]
    assert not wide, f"listening beyond loopback: {wide}"
    assert code == 143, out[-2000:] + err[-2000:]
