#!/usr/bin/env python3
"""A reference NTLMv1 SMTP AUTH client, to check the test Exim's `spa` (NTLM) authenticator
independently of smtpsend: Exim's spa verifies only the 24-byte NTLMv1 response (DES of the
challenge keyed by MD4(UTF-16LE(password))). MD4 and DES come from the `openssl` command's legacy
provider (Python's hashlib has no MD4 on OpenSSL 3).

Usage: ntlmv1_login.py USER PASSWORD PORT   (STARTTLS on 127.0.0.1:PORT, certificate not checked:
loopback test server only). Prints the final AUTH reply line and exits 0 on 235, 1 otherwise.
"""
import base64
import socket
import ssl
import struct
import subprocess
import sys

LEGACY = ["-provider", "legacy", "-provider", "default"]


def md4(data: bytes) -> bytes:
    out = subprocess.run(["openssl", "dgst", "-md4", "-r", *LEGACY], input=data, capture_output=True, check=True)
    return bytes.fromhex(out.stdout.split()[0].decode())


def des(key7: bytes, block: bytes) -> bytes:
    n = int.from_bytes(key7, "big")
    key = bytes(((n >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))
    out = subprocess.run(["openssl", "enc", "-des-ecb", "-nopad", "-K", key.hex(), *LEGACY],
                         input=block, capture_output=True, check=True)
    return out.stdout


def main() -> int:
    user, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = sock.makefile("rb")

    def reply() -> bytes:
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line

    reply()
    sock.sendall(b"EHLO ntlm-check\r\n"); reply()
    sock.sendall(b"STARTTLS\r\n"); reply()
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(sock); f = sock.makefile("rb")
    sock.sendall(b"EHLO ntlm-check\r\n"); reply()
    flags = 0x00000201 | 0x00000004  # UNICODE | NTLM | REQUEST_TARGET
    negotiate = b"NTLMSSP\0" + struct.pack("<II", 1, flags) + b"\0" * 16
    sock.sendall(b"AUTH NTLM " + base64.b64encode(negotiate) + b"\r\n")
    line = reply()
    if not line.startswith(b"334 "):
        print(line.decode().strip()); return 1
    challenge = base64.b64decode(line[4:].strip())[24:32]
    key = md4(password.encode("utf-16-le")) + b"\0" * 5
    nt = b"".join(des(key[i:i + 7], challenge) for i in (0, 7, 14))
    fields = [b"\0" * 24, nt, b"", user.encode("utf-16-le"), b""]  # LM, NT, domain, user, workstation
    header, body = b"NTLMSSP\0" + struct.pack("<I", 3), b""
    for value in fields:
        header += struct.pack("<HHI", len(value), len(value), 64 + len(body)); body += value
    header += struct.pack("<HHII", 0, 0, 64 + len(body), flags)  # session key (none), flags
    sock.sendall(base64.b64encode(header + body) + b"\r\n")
    line = reply()
    print(line.decode().strip())
    sock.sendall(b"QUIT\r\n"); reply()
    return 0 if line.startswith(b"235") else 1


if __name__ == "__main__":
    sys.exit(main())
