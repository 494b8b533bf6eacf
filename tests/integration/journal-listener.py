#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Stand in for journald's native socket: bind an AF_UNIX datagram socket and record every entry
that arrives, one JSON line each, as a mapping of field names to values. Binary field values
(those sent with a length) and invalid UTF-8 are written with backslash escapes.

Usage: journal-listener.py SOCKET_PATH OUTPUT_FILE (runs until SIGTERM).
"""
import json
import signal
import socket
import struct
import sys


def parse_entry(data):
    """Split one datagram of journald's native protocol into its fields."""
    fields = {}
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        line = data[pos:end]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            pos = end + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, end + 1)
            value = data[end + 9:end + 9 + size]
            pos = end + 9 + size + 1
        fields[key.decode()] = value.decode("utf-8", "backslashreplace")
    return fields


path, output = sys.argv[1:3]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open(output, "a", buffering=1) as out:
    out.write(json.dumps({"ready": True}) + "\n")
    while True:
        out.write(json.dumps(parse_entry(sock.recv(1 << 20))) + "\n")
