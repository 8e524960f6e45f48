#!/usr/bin/env python3
"""Writes well-formed SUPPL_RECV buffers (docs/supplicant.md) into a corpus directory: the header,
the meta param and requests of each command's shape, with memrefs naming the fuzzer's supplicant
buffers 1 (4096 bytes) and 2 (8192 bytes)."""
import struct
import sys
from pathlib import Path

META = 0x100
VALUE_IN, VALUE_OUT, VALUE_INOUT = 1, 2, 3
MEMREF_IN, MEMREF_OUT, MEMREF_INOUT = 5, 6, 7
NO_SHM = (1 << 64) - 1


def param(attr, a=0, b=0, c=0):
    return struct.pack("<QQQQ", attr, a, b, c)


def request(func, params, request_id=1):
    body = param(VALUE_INOUT | META, request_id) + b"".join(params)
    body += param(0) * (5 - 1 - len(params))
    return struct.pack("<II", func, 1 + len(params)) + body


SEEDS = {
    "load-ta-query": request(0, [param(VALUE_IN, 0x1122334455667788, 0x99AABBCCDDEEFF00),
                                 param(MEMREF_OUT, 0, 0, NO_SHM)]),
    "load-ta-fetch": request(0, [param(VALUE_IN, 1, 2), param(MEMREF_OUT, 0, 4096, 1)]),
    "fs-open": request(2, [param(VALUE_IN, 0), param(MEMREF_IN, 0, 16, 1), param(VALUE_OUT)]),
    "fs-read": request(2, [param(VALUE_IN, 3, 7, 0), param(MEMREF_OUT, 100, 8000, 2)]),
    "fs-rename": request(2, [param(VALUE_IN, 7, 1), param(MEMREF_IN, 0, 8, 1),
                             param(MEMREF_IN, 8, 8, 1)]),
    "rpmb": request(1, [param(MEMREF_IN, 0, 518, 2), param(MEMREF_OUT, 1024, 512, 2)]),
    "shm-alloc": request(6, [param(VALUE_INOUT, 0, 4096)]),
    "shm-free": request(7, [param(VALUE_INOUT, 0, 1)]),
    "plugin": request(12, [param(VALUE_IN, 0, 1, 2), param(VALUE_IN, 3, 4, 5),
                           param(VALUE_INOUT, 6), param(MEMREF_INOUT, 0, 64, 1)]),
    "edge-of-buffer": request(2, [param(VALUE_IN, 4), param(MEMREF_IN, 4095, 1, 1)]),
}

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for name, data in SEEDS.items():
    (out / name).write_bytes(data)
