"""The test harness's ports: its own block per test worker, never one in use."""

from __future__ import annotations

import os
import socket

from tests.auxil import harness


def test_ports_come_from_this_workers_block_below_the_ephemeral_range() -> None:
    block = harness.port_block()
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    start = harness.PORT_BASE + harness.PORT_BLOCK * worker  # a block of its own per worker
    assert block == range(start, start + harness.PORT_BLOCK)
    ports = [harness.free_port() for _ in range(20)]
    assert len(set(ports)) == 20  # handed out in turn, not the same one again
    assert all(port in block for port in ports)
    assert max(ports) < 32768  # no socket bound to port 0 can land there


def test_a_port_in_use_is_skipped() -> None:
    port = harness.free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))  # the next one in turn (unless the block wraps)
        taken.listen()
        assert harness.free_port() not in (port, port + 1)
