#!/usr/bin/env python3
"""Loopback test server for tests/transport_test.ts (stdlib only).

It is deliberately not written in JavaScript, so it is not the runtime under
test. Usage: tls_server.py CERT_DIR. It binds every listener to 127.0.0.1 on
an OS-chosen port, prints one JSON line {"mode": port, ...} and serves until
its standard input closes (the test closes it, or dies).

Modes:
  echo            plain TCP echo
  tls             implicit TLS echo, certificate for localhost + 127.0.0.1
  tls-other       implicit TLS echo, certificate for other.example
  tls-sni         implicit TLS: sends "sni:<name or ->\n" and closes
  tls-mtls        implicit TLS requiring a client certificate: sends "cn:<CN>\n", echoes
  tls-old         implicit TLS that speaks at most TLS 1.1
  starttls        "220 hi", on "STARTTLS" "220 go" then TLS (localhost), echo
  starttls-other  the same with the other.example certificate
  starttls-mtls   the same, requiring a client certificate, sends "cn:<CN>\n"
  inject-split    "220 hi", on "STARTTLS" "220 go", then 200 ms later "250 injected"
  inject-one      "220 hi", on "STARTTLS" "220 go\r\n250 injected\r\n" in one send
  silent          accepts and never sends anything
  reset           accepts, waits 100 ms, then resets the connection (RST)
"""
import json
import warnings
import os
import socket
import struct
import ssl
import sys
import threading
import time

CERT_DIR = sys.argv[1]
warnings.simplefilter("ignore", DeprecationWarning)


def path(name):
    return os.path.join(CERT_DIR, name)


def context(cert, require_client=False, old=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(path(cert + ".crt"), path(cert + ".key"))
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(path("ca.crt"))
    if old:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.sni_callback = lambda sock, name, _ctx: setattr(sock, "sni_seen", name)
    return ctx


CTX = {
    "localhost": context("localhost"),
    "other": context("other"),
    "mtls": context("localhost", require_client=True),
}
try:
    CTX["old"] = context("localhost", old=True)
except ssl.SSLError:
    CTX["old"] = None


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)


def client_cn(conn):
    cert = conn.getpeercert() or {}
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return "-"


def read_line(conn):
    line = b""
    while not line.endswith(b"\n"):
        b = conn.recv(1)
        if not b:
            return None
        line += b
    return line


def wrap(conn, ctx):
    return ctx.wrap_socket(conn, server_side=True)


def serve(mode, conn):
    if mode == "echo":
        echo(conn)
    elif mode in ("tls", "tls-other", "tls-sni", "tls-mtls", "tls-old"):
        ctx = {"tls": "localhost", "tls-other": "other", "tls-sni": "localhost",
               "tls-mtls": "mtls", "tls-old": "old"}[mode]
        if CTX[ctx] is None:
            return
        s = wrap(conn, CTX[ctx])
        if mode == "tls-sni":
            s.sendall(("sni:%s\n" % (getattr(s, "sni_seen", None) or "-")).encode())
            s.close()
            return
        if mode == "tls-mtls":
            s.sendall(("cn:%s\n" % client_cn(s)).encode())
        echo(s)
    elif mode == "reset":
        time.sleep(0.1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif mode == "silent":
        while conn.recv(65536):
            pass
    else:
        conn.sendall(b"220 hi\r\n")
        line = read_line(conn)
        if line != b"STARTTLS\r\n":
            return
        if mode == "inject-one":
            conn.sendall(b"220 go\r\n250 injected\r\n")
        elif mode == "inject-split":
            conn.sendall(b"220 go\r\n")
            time.sleep(0.2)
            conn.sendall(b"250 injected\r\n")
        else:
            conn.sendall(b"220 go\r\n")
        ctx = {"starttls": "localhost", "starttls-other": "other", "starttls-mtls": "mtls"}.get(mode, "localhost")
        s = wrap(conn, CTX[ctx])
        if mode == "starttls-mtls":
            s.sendall(("cn:%s\n" % client_cn(s)).encode())
        echo(s)


def handle(mode, conn):
    try:
        serve(mode, conn)
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def listen(mode):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=handle, args=(mode, conn), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1]


MODES = ["echo", "tls", "tls-other", "tls-sni", "tls-mtls", "tls-old", "starttls",
         "starttls-other", "starttls-mtls", "inject-split", "inject-one", "silent", "reset"]
ports = {mode: listen(mode) for mode in MODES}
if CTX["old"] is None:
    del ports["tls-old"]
sys.stdout.write(json.dumps(ports) + "\n")
sys.stdout.flush()
sys.stdin.read()
os._exit(0)
