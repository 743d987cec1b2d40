"""Writes bf16_golden.txt: float32 -> bfloat16 -> float32 conversions by PyTorch.

Run from this directory with Debian's torch:

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack \
        /usr/bin/python3 bf16_golden.py

Each line is "F32BITS BF16BITS BACKBITS" in hex: a float32 bit pattern,
torch's bfloat16 rounding of it, and torch's float32 of that bfloat16.
The inputs are edge cases (zeros, subnormals, ties, overflow, Inf, NaN)
followed by bit patterns from a fixed seed.
"""
import random

import torch

edge = [
    0x00000000, 0x80000000,                          # +-0
    0x00000001, 0x80000001,                          # smallest subnormals: round to 0
    0x00008000, 0x00018000, 0x00008001, 0x00017fff,  # subnormal ties and near-ties
    0x007f8000, 0x007fffff, 0x807fffff,              # largest subnormal: rounds to the smallest normal
    0x00800000, 0x80800000,                          # smallest normals
    0x3f800000, 0xbf800000,                          # +-1
    0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000,  # ties to even: down, up
    0x3f807fff, 0x3f808001, 0x3f80ffff,              # just below / above a tie
    0x3fffffff, 0x3fff8000, 0x3fff7fff,              # carries into the exponent
    0x7f7f0000, 0x7f7f7fff, 0x7f7f8000, 0x7f7fffff,  # near the largest bf16: the last three overflow to Inf or not
    0xff7f7fff, 0xff7f8000, 0xff7fffff,
    0x7f800000, 0xff800000,                          # +-Inf
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001,  # NaNs: quiet, signalling
    0x7fa00000, 0x7fffffff, 0x7f810000, 0x7f80ffff,
    0x3eaaaaab, 0x40490fdb, 0x42f6e979, 0x1e3ce508,  # 1/3, pi, 123.456, 1e-20
]
rng = random.Random(19)
rand = [rng.getrandbits(32) for _ in range(4000)]
# Low halves at and next to the tie, on random upper halves.
rand += [(rng.getrandbits(16) << 16) | lo for lo in (0x8000, 0x7fff, 0x8001) for _ in range(300)]
bits = edge + rand

signed = [b - (1 << 32) if b >= 1 << 31 else b for b in bits]
f = torch.tensor(signed, dtype=torch.int32).view(torch.float32)
h = f.to(torch.bfloat16)
back = h.to(torch.float32).view(torch.int32)
h = h.view(torch.int16)
with open("bf16_golden.txt", "w") as out:
    out.write("# torch %s: float32 bits, bfloat16 bits, float32 of the bfloat16 (bf16_golden.py)\n" % torch.__version__)
    for b, x, y in zip(bits, h.tolist(), back.tolist()):
        out.write("%08x %04x %08x\n" % (b, x & 0xFFFF, y & 0xFFFFFFFF))
