#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Stand in for systemd's notification socket: bind an AF_UNIX datagram socket and record every
message kiln sends, one JSON line each, with whether a marker file existed when it arrived.

Usage: notify-listener.py SOCKET_PATH OUTPUT_FILE MARKER_FILE (runs until SIGTERM).
"""
import json
import os
import signal
import socket
import sys
import time

path, output, marker = sys.argv[1:4]
if path.startswith("@"):
    address = "\0" + path[1:]
else:
    address = path
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(address)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with open(output, "a", buffering=1) as out:
    out.write(json.dumps({"ready": True}) + "\n")
    while True:
        data = sock.recv(65536)
        out.write(json.dumps({"time": time.time(), "message": data.decode("utf-8", "replace"),
                              "marker_exists": os.path.exists(marker)}) + "\n")
