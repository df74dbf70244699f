#!/usr/bin/env python3
"""How many TLS records a kmsim answer over HTTPS comes in.

A cloud gateway sends a small answer, headers and body, in one TLS record;
a client that reads records from its socket (OpenSSL, as curl uses it)
pays two system calls per record, so an emulator that splits the answer
costs the client more than the cloud would.  This drives TLS through
memory BIOs, so every byte from the socket passes here and the record
headers (5 bytes in the clear: type, version, length) can be counted.

TLS 1.2, where the session ticket is part of the handshake: under TLS 1.3
the server's tickets follow the handshake in records of their own, which
could be counted with the answer.  The record framing is the same.
Prints "records=N bytes=M status=S" for the answer.

usage: tls_records.py PORT CA_FILE PATH
"""
import socket
import ssl
import sys

HOST = "kms.cn-hangzhou.aliyuncs.com"


def pump(sock, inc):
    data = sock.recv(65536)
    if not data:
        raise SystemExit("tls_records: the server closed the connection")
    inc.write(data)
    return data


def handshake(sock, tls, inc, out):
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(out.read())
            pump(sock, inc)
    sock.sendall(out.read())


def answer(sock, tls, inc, out, path):
    """Sends one GET, reads its answer; returns (raw bytes, plain text)."""
    tls.write(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, HOST)).encode())
    sock.sendall(out.read())
    raw, plain = b"", b""
    while True:
        try:
            plain += tls.read(65536)
        except ssl.SSLWantReadError:
            pass
        head, sep, body = plain.partition(b"\r\n\r\n")
        if sep:
            n = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                 if l.lower().startswith(b"content-length:")]
            if n and len(body) >= n[0]:
                return raw, plain
        raw += pump(sock, inc)


def records(raw):
    n, i = 0, 0
    while i + 5 <= len(raw):
        n += 1
        i += 5 + int.from_bytes(raw[i + 3:i + 5], "big")
    return n


def main():
    port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.create_default_context(cafile=ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname=HOST)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        handshake(sock, tls, inc, out)
        raw, plain = answer(sock, tls, inc, out, path)
    status = plain.split(b"\r\n", 1)[0].decode(errors="replace")
    print("records=%d bytes=%d status=%s" % (records(raw), len(plain), status))


if __name__ == "__main__":
    main()
