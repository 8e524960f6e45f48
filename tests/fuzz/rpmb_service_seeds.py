#!/usr/bin/env python3
"""Writes OPTEE_RPC_CMD_RPMB requests as OP-TEE sends them (docs/supplicant.md, section RPMB) into
a corpus directory for rpmb_service_fuzzer: flags byte, answer size (u16 little-endian), then
struct rpmb_req and the frames. Flags 3 make the fuzzer sign the frames and give them the
device's write counter, so the write seeds reach the emulation's data path."""
import struct
import sys
from pathlib import Path


def frame(msg_type, address=0, block_count=0, counter=0, data=b"", nonce=b""):
    body = bytearray(512)
    body[228:228 + len(data)] = data
    body[484:484 + len(nonce)] = nonce
    body[500:512] = struct.pack(">IHHHH", counter, address, block_count, 0, msg_type)
    return bytes(body)


def request(flags, answer_bytes, cmd, frames=(), block_count=0):
    header = struct.pack("<HHH", cmd, 0, block_count)
    return struct.pack("<BH", flags, answer_bytes) + header + b"".join(frames)


nonce = bytes(range(16))
seeds = {
    "dev-info": request(0, 19, 1),
    "counter": request(0, 512, 0, [frame(2, nonce=nonce)]),
    "key": request(0, 512, 0, [frame(1)]),
    "write": request(3, 512, 0, [frame(3, address=7, block_count=1, data=b"\x11" * 256)]),
    "write-two": request(3, 512, 0, [frame(3, address=9, block_count=2)] * 2),
    "write-end": request(3, 512, 0, [frame(3, address=511, block_count=1)]),
    "read": request(0, 512, 0, [frame(4, address=7, nonce=nonce)], block_count=1),
    "read-three": request(0, 1536, 0, [frame(4, address=6, nonce=nonce)], block_count=3),
}
out = Path(sys.argv[1])
for name, seed in seeds.items():
    (out / name).write_bytes(seed)
