#!/usr/bin/env python3
"""umsim_forward: the TCP forwarder of an appliance in net mode `forward`.

It stands for what real networks put between users and appliances: an edge
gateway's DNAT, a jump host's port forward, a hypervisor's user-mode NAT. Like
those, it ACCEPTS every connection on the gateway address, then connects to the
appliance. When the appliance side refuses, times out or is down, the accepted
connection is reset (SO_LINGER 0) before any byte reaches the client: no SSH
banner, just a reset.

With --idle-drop N, a flow idle for N seconds is forgotten, as a NAT forgets its
mapping: nothing is sent to either side (no FIN, no RST) and later bytes of the
flow go nowhere. Both sockets are frozen (no more reading or writing) and only
released, silently (TCP_REPAIR), after FROZEN_KEEP_S.

With --delay-ms R, the link has R milliseconds of ROUND-TRIP time added (a WAN
without netem, which this kernel lacks): every chunk read from either side is
stamped on arrival and written to the other side R/2 later, in order (EOF and
resets too), without limiting bandwidth (reading goes on while chunks wait;
at most QUEUE_CHUNKS wait per direction). The connection to the appliance is
opened 1.5 R after the client's, when a real handshake would complete there
(SYN R/2, SYN-ACK back, ACK R/2): the client's first bytes reach the appliance
at 1.5 R and the appliance's first bytes reach the client at 2 R, as on a real
link. Only the client's own connect() returns at once (the gateway accepts).

Besides --ports it forwards --also-ports (default 443, where a 9.x appliance
serves its API): the forwarder outlives reboots, and an appliance upgraded to
9.x serves its API there from the next boot on, as a NAT that forwards both
API ports would. A port nothing listens on behind it is reset, as above.

The listening sockets live in the gateway's network namespace (setns before
creating them); the connections to the appliance go out from the namespace the
process was started in (the host's), which reaches the appliance's veth.

Started, tracked by PID and stopped by the appliance's supervisor (umsim.py).
Timeline lines (`forward-*` events) go to the appliance's supervisor.log.
Python 3.11 stdlib only.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
import os
import signal
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TCP_REPAIR = 19
CONNECT_TIMEOUT_S = 3.0      # a real forwarder gives up on a dead backend within seconds
FROZEN_KEEP_S = 600.0        # a frozen (dropped) flow's sockets are released after this
CHUNK = 256 * 1024
QUEUE_CHUNKS = 1024          # delay mode: chunks in flight per direction before reading pauses

_LIBC = ctypes.CDLL(None, use_errno=True)


def log(path: str, event: str, **fields) -> None:
    """One timeline line, in the format of umsim's supervisor.log."""
    extra = "".join(f" {k}={v}" for k, v in fields.items())
    with open(path, "a") as f:
        f.write(f"{event} {time.time():.6f}{extra}\n")


def _setns(fd: int) -> None:
    if _LIBC.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def listen_in_netns(netns: str, address: str, ports: list[int]) -> list[socket.socket]:
    """Listening sockets created inside `netns`; the process itself goes back to
    its own namespace (a socket stays in the namespace it was created in)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    socks = []
    try:
        _setns(target)
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            s.listen(128)
            s.setblocking(False)
            socks.append(s)
    finally:
        _setns(own)
        os.close(own)
        os.close(target)
    return socks


def reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with SO_LINGER 0: the peer gets an RST, not a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def vanish(writer: asyncio.StreamWriter) -> None:
    """Close without anything on the wire (TCP_REPAIR): a NAT that forgot the flow."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    writer.transport.abort()


async def _value(x):
    return x


class Flow:
    """One relayed connection: client <-> appliance (upstream None: delay mode, connected by run)."""

    def __init__(self, fwd: "Forwarder", port: int, client, upstream=None):
        self.fwd, self.port = fwd, port
        self.client_r, self.client_w = client
        self.up_r, self.up_w = upstream or (None, None)
        self.last = time.monotonic()
        self.frozen = False

    async def pump(self, reader, writer) -> None:
        """Copy one direction; EOF is passed on as a half-close, a reset as a reset."""
        while True:
            data = await reader.read(CHUNK)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            self.last = time.monotonic()
            writer.write(data)
            await writer.drain()

    async def delayed_pump(self, reader, writer) -> None:
        """Delay mode, one direction: reader and writer are awaitables (the appliance side is
        connected later). A receiver stamps each chunk (or EOF, or the read error) with its
        arrival time; this sender writes it at arrival + one-way delay, in order."""
        one_way = self.fwd.delay_s / 2
        q: asyncio.Queue = asyncio.Queue(QUEUE_CHUNKS)

        async def receive():
            try:
                r = await reader
                while True:
                    data = await r.read(CHUNK)
                    if data:
                        self.last = time.monotonic()
                    await q.put((time.monotonic() + one_way, data))
                    if not data:
                        return
            except OSError as e:        # a reset (or no appliance side) arrives late too
                await q.put((time.monotonic() + one_way, e))

        receiver = asyncio.create_task(receive())
        try:
            w = await writer
            while True:
                due, data = await q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if isinstance(data, Exception):
                    raise data
                if not data:
                    if w.can_write_eof():
                        with contextlib.suppress(OSError):
                            w.write_eof()
                    return
                w.write(data)
                await w.drain()
        finally:
            receiver.cancel()

    async def connect_late(self):
        """Delay mode: the appliance sees the connection 1.5 RTT after the client's connect."""
        await asyncio.sleep(1.5 * self.fwd.delay_s)
        try:
            self.up_r, self.up_w = await asyncio.wait_for(
                asyncio.open_connection(self.fwd.target, self.port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as e:
            log(self.fwd.log_path, "forward-reset", port=self.port, reason=type(e).__name__)
            raise ConnectionResetError(f"appliance side: {type(e).__name__}") from e
        self.connected()
        return self.up_r, self.up_w

    async def idle_watch(self) -> None:
        """Freeze the flow once it was idle for idle_drop seconds."""
        limit = self.fwd.idle_drop
        while time.monotonic() - self.last < limit:
            await asyncio.sleep(min(0.25, limit))

    def connected(self) -> None:
        """Timeline: the appliance side is connected; `via` is the port sshd logs
        ("Connection from <gateway host address> port <via>"), which ties its log to the client."""
        peer = self.client_w.get_extra_info("peername") or ("?", 0)
        via = (self.up_w.get_extra_info("sockname") or ("?", 0))[1]
        log(self.fwd.log_path, "forward-connect", port=self.port, client=f"{peer[0]}:{peer[1]}", via=via)

    async def run(self) -> None:
        if self.fwd.delay_s:
            up = asyncio.create_task(self.connect_late())

            async def side(i):
                return (await up)[i]
            pumps = [asyncio.create_task(self.delayed_pump(_value(self.client_r), side(1))),
                     asyncio.create_task(self.delayed_pump(side(0), _value(self.client_w)))]
        else:
            self.connected()
            pumps = [asyncio.create_task(self.pump(self.client_r, self.up_w)),
                     asyncio.create_task(self.pump(self.up_r, self.client_w))]
        tasks = list(pumps)
        if self.fwd.idle_drop:
            tasks.append(asyncio.create_task(self.idle_watch()))
        try:
            await self.wait(pumps, tasks)
        finally:
            for t in tasks:
                t.cancel()
                if t.done() and not t.cancelled():
                    t.exception()      # retrieved: a second reset is no news
        if not self.frozen:
            for w in (self.client_w, self.up_w):
                if w is not None:
                    w.close()

    async def wait(self, pumps, tasks) -> None:
        """Until both directions ended, one failed (reset the other side), or the
        idle watch fired (freeze)."""
        pending = set(tasks)
        while any(not p.done() for p in pumps):
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t not in pumps:
                    return self.freeze()
                if t.exception() is not None:      # ECONNRESET, EPIPE: pass a reset on
                    reset(self.client_w)
                    reset(self.up_w)
                    return None
        return None

    def freeze(self) -> None:
        self.frozen = True
        for w in (self.client_w, self.up_w):
            if w is not None:
                w.transport.pause_reading()
        peer = self.client_w.get_extra_info("peername") or ("?", 0)
        log(self.fwd.log_path, "forward-idle-drop", port=self.port, client=f"{peer[0]}:{peer[1]}",
            idle_s=self.fwd.idle_drop)
        self.fwd.frozen.append((time.monotonic(), self))


class Forwarder:
    def __init__(self, target: str, idle_drop: float, log_path: str, delay_s: float = 0.0):
        self.target, self.idle_drop, self.log_path = target, idle_drop, log_path
        self.delay_s = delay_s       # added round-trip time; half of it each way
        self.frozen: list[tuple[float, Flow]] = []

    async def handle(self, port: int, reader, writer) -> None:
        """One accepted connection: connect to the appliance, or reset the client."""
        if self.delay_s:            # connected inside the flow, late, as over a real link
            await Flow(self, port, (reader, writer)).run()
            return
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(self.target, port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as e:
            log(self.log_path, "forward-reset", port=port, reason=type(e).__name__)
            reset(writer)
            return
        await Flow(self, port, (reader, writer), upstream).run()

    async def release_frozen(self) -> None:
        """Frozen flows hold two sockets each: let them go, silently, after a while."""
        while True:
            await asyncio.sleep(30)
            now = time.monotonic()
            keep = []
            for since, flow in self.frozen:
                if now - since < FROZEN_KEEP_S:
                    keep.append((since, flow))
                else:
                    vanish(flow.client_w)
                    vanish(flow.up_w)
            self.frozen = keep

    async def serve(self, socks: list[socket.socket], stop: asyncio.Event) -> None:
        servers = []
        for s in socks:
            handler = functools.partial(self.handle, s.getsockname()[1])
            servers.append(await asyncio.start_server(handler, sock=s))
        releaser = asyncio.create_task(self.release_frozen())
        await stop.wait()
        releaser.cancel()
        for srv in servers:
            srv.close()


async def amain(a) -> int:
    ports = list(dict.fromkeys(int(p) for p in f"{a.ports},{a.also_ports}".split(",") if p.strip()))
    socks = listen_in_netns(a.netns, a.listen, ports)
    fwd = Forwarder(a.target, a.idle_drop, a.log, a.delay_ms / 1000.0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log(a.log, "forward-listening", pid=os.getpid(), address=a.listen, ports=",".join(map(str, ports)),
        target=a.target, idle_drop=a.idle_drop or 0, delay_ms=a.delay_ms or 0)
    await fwd.serve(socks, stop)
    log(a.log, "forward-exit", pid=os.getpid())
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netns", required=True, help="namespace of the listening sockets (the gateway's)")
    ap.add_argument("--listen", required=True, help="gateway address")
    ap.add_argument("--target", required=True, help="appliance address")
    ap.add_argument("--ports", required=True, help="comma list, e.g. 22,8443")
    ap.add_argument("--also-ports", default="443",
                    help="comma list forwarded as well (default 443: the 9.x API; empty: none)")
    ap.add_argument("--idle-drop", type=float, default=0.0, help="forget flows idle this long (0: never)")
    ap.add_argument("--delay-ms", type=float, default=0.0,
                    help="added ROUND-TRIP time in ms, half each way, bandwidth unlimited (0: none)")
    ap.add_argument("--log", required=True, help="timeline file (the appliance's supervisor.log)")
    return asyncio.run(amain(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
