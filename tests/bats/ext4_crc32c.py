# SPDX-License-Identifier: GPL-2.0
"""ext4's crc32c (Castagnoli, reflected, no final inversion: the caller
passes the seed), for bats tests that edit on-disk fields with raw
writes and must make their checksums valid again."""

_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc(c, d):
    for b in d:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c
