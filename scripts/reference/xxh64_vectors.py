#!/usr/bin/env python3
"""XXH64 test vectors from the reference C library (libxxhash, Debian package libxxhash0),
independent of regime's Swift implementation. Prints the rows committed in
Tests/RegimeCoreTests/XXH64Tests.swift: (length, hash with seed 0, hash with seed 2026) of the
bytes (31 i + 7) mod 256, i = 0..length-1."""
import ctypes

lib = ctypes.CDLL("libxxhash.so.0")
lib.XXH64.restype = ctypes.c_uint64
lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]

for n in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 65, 100, 1000, 4096, 100003]:
    data = bytes((i * 31 + 7) & 255 for i in range(n))
    print(f"({n}, 0x{lib.XXH64(data, n, 0):016x}, 0x{lib.XXH64(data, n, 2026):016x}),")
