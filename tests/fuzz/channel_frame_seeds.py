#!/usr/bin/env python3
"""Writes well-formed channel frames (docs/channel.md) into a corpus directory, so the fuzzer
starts from inputs that get past the header checks. The first byte of each seed is the fuzzer's
read-size selector."""
import struct
import sys
from pathlib import Path


def header(frame_type, body, tag=1):
    return struct.pack("<BBHIQ", 1, frame_type, 0, len(body), tag) + body


def param(ptype, a=0, b=0, data=b"", shm=b"", offset=0, size=0):
    return struct.pack("<IIQQQQII", ptype, 0, a, b, offset, size, len(data), len(shm)) + data + shm


def invoke(command, params, cancel_id=None):
    flags = 1 if cancel_id is not None else 0
    body = struct.pack("<IIII", command, flags, cancel_id or 0, len(params)) + b"".join(params)
    return header(0x01, body)


def reply(origin, code, params):
    return header(0x81, struct.pack("<III", origin, code, len(params)) + b"".join(params))


def error(name, message):
    return header(0xFF, struct.pack("<II", len(name), len(message)) + name + message)


seeds = {
    "hello": invoke(0, [param(0x3, a=42)]),
    "echo": invoke(0, [param(0x5, data=b"abcd", size=4), param(0x6, size=4)], cancel_id=7),
    "shm": invoke(1, [param(0xD, shm=b"/org/teed/Teed1/shm/0123", offset=4, size=8)]),
    "reply": reply(4, 0, [param(0x6, data=b"dcba", size=4)]),
    "error": error(b"org.teed.Teed1.Error.NotFound", b"no such session"),
    "two": invoke(0, []) + invoke(1, [param(0x1, a=1)]),
}
out = Path(sys.argv[1])
for name, frame in seeds.items():
    for selector in (0, 3, 63):
        (out / f"{name}-{selector}").write_bytes(bytes([selector]) + frame)
