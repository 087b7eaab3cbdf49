#!/usr/bin/env python3
"""Test-only TLS tap in front of the simulated appliance's API, so a test knows
the real session ids a play used (the API keeps them in memory only).

    ip netns exec <netns> python3 api_tap.py LISTEN_ADDR LISTEN_PORT UPSTREAM_PORT CERT KEY OUT

Terminates TLS with the appliance's own certificate and key (so the clients'
CA pinning still holds), relays every byte to the real API on UPSTREAM_PORT,
and appends each session id it sees (login answers, `sessionid` request
headers) to OUT, one per line. Runs inside the appliance's network namespace,
started and killed by the test (by PID).
"""
import re
import select
import socket
import ssl
import sys
import threading

ADDR, PORT, UP, CERT, KEY, OUT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
PATTERNS = [re.compile(rb'"sessionid"\s*:\s*"([^"]+)"'), re.compile(rb"(?im)^sessionid:\s*(\S+)\r?$")]
seen: set[bytes] = set()
lock = threading.Lock()


def note(buf: bytes) -> None:
    for pat in PATTERNS:
        for m in pat.finditer(buf):
            sid = m.group(1)
            with lock:
                if sid not in seen:
                    seen.add(sid)
                    with open(OUT, "ab") as f:
                        f.write(sid + b"\n")


def send_all(sock, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view):]
        except ssl.SSLWantWriteError:
            select.select([], [sock], [], 60)
        except ssl.SSLWantReadError:
            select.select([sock], [], [], 60)


def relay(client, upstream) -> None:
    """Both directions in ONE thread: an SSL socket must never be read and
    written by two threads at once (OpenSSL's SSL object is not thread-safe;
    doing so breaks connections at random)."""
    bufs = {client: b"", upstream: b""}
    for s in bufs:
        s.setblocking(False)
    try:
        while True:
            ready, _, _ = select.select(list(bufs), [], [], 60)
            if not ready:
                return
            for src in ready:
                dst = upstream if src is client else client
                while True:        # drain what OpenSSL holds decrypted, not only what the socket holds
                    try:
                        data = src.recv(65536)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    if not data:
                        return
                    bufs[src] = (bufs[src] + data)[-65536:]
                    note(bufs[src])
                    send_all(dst, data)
                    if not src.pending():
                        break
    except OSError:
        pass
    finally:
        for s in bufs:
            try:
                s.close()
            except OSError:
                pass


def serve(client) -> None:
    try:
        client.do_handshake()
        up_ctx = ssl.create_default_context()
        up_ctx.check_hostname = False
        up_ctx.verify_mode = ssl.CERT_NONE
        upstream = up_ctx.wrap_socket(socket.create_connection((ADDR, UP), timeout=30))
    except OSError:
        client.close()
        return
    relay(client, upstream)


def main() -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    srv = socket.create_server((ADDR, PORT), reuse_port=False)
    print("listening", flush=True)
    while True:
        sock, _ = srv.accept()
        sock.settimeout(60)
        client = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
