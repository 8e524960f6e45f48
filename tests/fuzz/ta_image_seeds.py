#!/usr/bin/env python3
"""Writes well-formed TA files (backends/optee/ta_image.h, docs/simulator.md) into a corpus
directory, so the fuzzer starts from inputs that get past the header checks: a simulator file
that verifies, and OP-TEE images of each type, one behind a subkey."""
import hashlib
import hmac
import struct
import sys
import uuid
from pathlib import Path

DEV_KEY = b"teed simulator TA development key (public)"
UUID = uuid.UUID("91dcca81-d6f5-48f7-b3c0-bab814aab298").bytes


def shdr(img_type, img_size, algo=0x70414930, hash_size=32, sig_size=256):
    return struct.pack("<IIIIHH", 0x4F545348, img_type, img_size, algo, hash_size, sig_size)


def signed(img_type, img_size, hash_size=32, sig_size=256):
    return shdr(img_type, img_size, hash_size=hash_size, sig_size=sig_size) + \
        b"\xaa" * hash_size + b"\x55" * sig_size


def sim_ta(manifest):
    header = shdr(1, len(manifest), 0x30000004, 32, 32)
    bootstrap = UUID + struct.pack("<I", 1)
    digest = hashlib.sha256(header + bootstrap + manifest).digest()
    mac = hmac.new(DEV_KEY, digest, "sha256").digest()
    return header + digest + mac + bootstrap + manifest


def subkey(name=b"name"):
    body = UUID + struct.pack("<IIIII", len(name), 1, 0, 0x70414930, 1)
    body += struct.pack("<III", 0xD0000130, 48, 8) + b"\x01" * 8
    return signed(3, len(body)) + body + name


elf = b"\x7fELF" + b"\x00" * 60
seeds = {
    "sim": sim_ta(b"teed-sim-ta 1\nprogram=loadable\nname=seed\n"),
    "ta": signed(0, len(elf)) + elf,
    "bootstrap": signed(1, len(elf)) + UUID + struct.pack("<I", 2) + elf,
    "encrypted": signed(2, len(elf)) + UUID + struct.pack("<I", 2) +
    struct.pack("<IIHH", 0x40000810, 0, 12, 16) + b"\x11" * 28 + elf,
    "subkey": subkey() + signed(0, len(elf)) + elf,
}
out = Path(sys.argv[1])
for name, data in seeds.items():
    (out / name).write_bytes(data)
