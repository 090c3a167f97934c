"""glibc's float32 ``powf`` for the two exponents of Manning's law, reproduced bit for bit and inlined.

NWM's Muskingum-Cunge takes R^(2/3) and R^(5/3) with libm ``powf`` and t-route's results are its bits. The two
calls cost ~16 ns per R, force the lane loops to spill their registers around them, and compute log2(R) twice.
This is glibc's algorithm (since 2.28; Szabolcs Nagy's for Arm optimized-routines, MIT licence): log2(x) in
double from a 16-entry table and a degree-5 polynomial, y log2(x), then 2^(y log2 x) in double from a
32-entry table and a cubic, rounded once to float. The result is a double rounded to float, so reproducing it
means reproducing every double operation: the tables and coefficients below are the ones in this host's
``libm.so.6`` (read from the binary, glibc 2.36), and on a CPU with FMA glibc runs its ``__powf_fma`` variant,
whose multiply-adds are fused (as checked in its machine code), so ``_madd`` fuses exactly those.
All 2^32 float32 bit patterns were checked against libm's own powf for both exponents (``count_libm_differences``,
``count_lane_differences``: 0 and 0); ``tests/physics/test_libm_powf.py`` checks the hydraulic radii's range whole,
runs spread over the rest, and the special values.

Only positive normal x with |y log2 x| < 126 take this path; zero, subnormals, inf, NaN and results near the
float range call libm itself (``x ** y``), so every input gives libm's answer.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import binding as llvm_binding
from llvmlite import ir as llvm_ir
from numba import types
from numba.extending import intrinsic

#: glibc picks __powf_fma on a CPU with FMA (fused multiply-adds), __powf_sse2 otherwise
HOST_FMA = "+fma" in llvm_binding.get_host_cpu_features().flatten()

F2_3 = np.float32(np.float32(2.0) / np.float32(3.0))
F5_3 = np.float32(np.float32(5.0) / np.float32(3.0))
F0 = np.float32(0.0)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma)."""
    def codegen(context, builder, signature, args):
        d = llvm_ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], llvm_ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


def _bitcast(source, target, llvm_target):
    """An intrinsic that reads a ``source`` value's bits as a ``target`` (a register move; vectorises)."""
    @intrinsic
    def cast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_target)
        return target(source), codegen
    return cast


float32_bits = _bitcast(types.float32, types.int32, llvm_ir.IntType(32))
bits_float32 = _bitcast(types.int32, types.float32, llvm_ir.FloatType())
float64_bits = _bitcast(types.float64, types.uint64, llvm_ir.IntType(64))
bits_float64 = _bitcast(types.uint64, types.float64, llvm_ir.DoubleType())


_h = float.fromhex
# log2 table: x = 2^k z, z in [0x3f330000, 2 * 0x3f330000) as float bits, 16 subintervals: 1/c and log2(c)
LOG2_INVC = np.array([_h(s) for s in (
    "0x1.661ec79f8f3bep+0 0x1.571ed4aaf883dp+0 0x1.49539f0f010b0p+0 0x1.3c995b0b80385p+0 0x1.30d190c8864a5p+0 "
    "0x1.25e227b0b8ea0p+0 0x1.1bb4a4a1a343fp+0 0x1.12358f08ae5bap+0 0x1.0953f419900a7p+0 0x1.0000000000000p+0 "
    "0x1.e608cfd9a47acp-1 0x1.ca4b31f026aa0p-1 0x1.b2036576afce6p-1 0x1.9c2d163a1aa2dp-1 0x1.886e6037841edp-1 "
    "0x1.767dcf5534862p-1").split()])
LOG2_LOGC = np.array([_h(s) for s in (
    "-0x1.efec65b963019p-2 -0x1.b0b6832d4fca4p-2 -0x1.7418b0a1fb77bp-2 -0x1.39de91a6dcf7bp-2 -0x1.01d9bf3f2b631p-2 "
    "-0x1.97c1d1b3b7af0p-3 -0x1.2f9e393af3c9fp-3 -0x1.960cbbf788d5cp-4 -0x1.a6f9db6475fcep-5 0x0.0p+0 "
    "0x1.338ca9f24f53dp-4 0x1.476a9543891bap-3 0x1.e840b4ac4e4d2p-3 0x1.40645f0c6651cp-2 0x1.88e9c2c1b9ff8p-2 "
    "0x1.ce0a44eb17bccp-2").split()])
LOG2_A0, LOG2_A1, LOG2_A2, LOG2_A3, LOG2_A4 = (_h(s) for s in (
    "0x1.27616c9496e0bp-2", "-0x1.71969a075c67ap-2", "0x1.ec70a6ca7baddp-2", "-0x1.7154748bef6c8p-1", "0x1.71547652ab82bp+0"))
# exp2: x = k/32 + r; 2^(k/32) from the table's bits with k's whole part added to the exponent, 2^r by a cubic
EXP2_SHIFT = _h("0x1.8p+47")  # adding it rounds to a multiple of 1/32 and leaves k in the low bits
EXP2_C0, EXP2_C1, EXP2_C2 = (_h(s) for s in ("0x1.c6af84b912394p-5", "0x1.ebfce50fac4f3p-3", "0x1.62e42ff0c52d6p-1"))
EXP2_TABLE = np.array([int(s, 16) for s in (
    "3ff0000000000000 3fefd9b0d3158574 3fefb5586cf9890f 3fef9301d0125b51 3fef72b83c7d517b 3fef54873168b9aa "
    "3fef387a6e756238 3fef1e9df51fdee1 3fef06fe0a31b715 3feef1a7373aa9cb 3feedea64c123422 3feece086061892d "
    "3feebfdad5362a27 3feeb42b569d4f82 3feeab07dd485429 3feea47eb03a5585 3feea09e667f3bcd 3fee9f75e8ec5f74 "
    "3feea11473eb0187 3feea589994cce13 3feeace5422aa0db 3feeb737b0cdc5e5 3feec49182a3f090 3feed503b23e255d "
    "3feee89f995ad3ad 3feeff76f2fb5e47 3fef199bdd85529c 3fef3720dcef9069 3fef5818dcfba487 3fef7c97337b9b5f "
    "3fefa4afa2a490da 3fefd0765b6e4540").split()], np.uint64)


@numba.njit(cache=True, nogil=True, inline="always")
def _madd(a, b, c):
    """a * b + c as glibc's powf on this CPU computes it: fused with FMA, else two roundings."""
    if HOST_FMA:
        return _fma(a, b, c)
    return a * b + c


@numba.njit(cache=True, nogil=True, inline="always")
def _log2_series(z, invc, logc, k):
    """log2(2^k z) from z's table entry (1/c, log2 c): k + log2 c + log1p(z/c - 1)/ln 2, the last by a degree-5
    polynomial evaluated in glibc's order."""
    r = _madd(z, invc, -1.0)
    y0 = logc + k
    r2 = r * r
    y = _madd(LOG2_A0, r, LOG2_A1)
    p = _madd(LOG2_A2, r, LOG2_A3)
    r4 = r2 * r2
    q = _madd(LOG2_A4, r, y0)
    q = _madd(p, r2, q)
    return _madd(y, r4, q)


@numba.njit(cache=True, nogil=True, inline="always")
def _exp2_table(ki):
    """2^(k/32) for the bits ``ki`` of x + EXP2_SHIFT: the table's entry with k's whole part added to its exponent."""
    return bits_float64(EXP2_TABLE[ki & np.uint64(31)] + (ki << np.uint64(47)))


@numba.njit(cache=True, nogil=True, inline="always")
def _exp2_cubic(r):
    """2^r for |r| <= 1/64 by glibc's cubic, in its order."""
    return _madd(_madd(EXP2_C0, r, EXP2_C1), r * r, _madd(EXP2_C2, r, 1.0))


@numba.njit(cache=True, nogil=True, inline="always")
def _log2_normal(x):
    """log2 of a positive normal float32, in double (glibc's log2_inline in powf)."""
    tmp = np.int64(float32_bits(x)) - 0x3F330000
    i = (tmp >> 19) & 15
    k = tmp >> 23
    z = np.float64(bits_float32(np.int32(np.int64(float32_bits(x)) - (k << 23))))
    return _log2_series(z, LOG2_INVC[i], LOG2_LOGC[i], np.float64(k))


@numba.njit(cache=True, nogil=True, inline="always")
def _exp2_to_f32(xd):
    """2^xd rounded to float32, for |xd| < 126 (glibc's exp2_inline in powf)."""
    kd = xd + EXP2_SHIFT
    ki = float64_bits(kd)
    kd -= EXP2_SHIFT
    r = xd - kd
    return np.float32(_exp2_cubic(r) * _exp2_table(ki))


@numba.njit(cache=True, nogil=True, inline="always")
def _normal(x):
    """x is a positive normal float32 (glibc's main path)."""
    return np.uint32(np.int64(float32_bits(x)) - 0x00800000) < np.uint32(0x7F000000)


@numba.njit(cache=True, nogil=True, inline="always")
def powf_23_53(x):
    """(x^(2/3), x^(5/3)) for float32 x, each bit for bit libm powf(x, 2/3) and powf(x, 5/3) (one log2)."""
    if _normal(x):
        lx = _log2_normal(x)
        y53 = np.float64(F5_3) * lx
        if abs(y53) < 126.0:  # then |2/3 log2 x| is too
            return _exp2_to_f32(np.float64(F2_3) * lx), _exp2_to_f32(y53)
    return x**F2_3, x**F5_3


@numba.njit(cache=True, nogil=True, inline="always")
def powf_23(x):
    """x^(2/3) for float32 x, bit for bit libm powf(x, 2/3)."""
    if _normal(x):
        y = np.float64(F2_3) * _log2_normal(x)
        if abs(y) < 126.0:
            return _exp2_to_f32(y)
    return x**F2_3


#: x in [POW_LANES_LOW, POW_LANES_HIGH] takes the table path in ``powf_23_53_lanes``: normal, and |5/3 log2 x| < 126
POW_LANES_LOW = np.float32(2.0**-75)
POW_LANES_HIGH = np.float32(2.0**75)
#: float64 and uint64 scratch values per lane that ``powf_23_53_lanes`` needs
POW_LANES_SCRATCH_F64 = 6
POW_LANES_SCRATCH_U64 = 3


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def powf_23_53_lanes(w, x_at, o23_at, o53_at, lanes, d, u):
    """``powf_23_53`` of ``lanes`` float32 values w[x_at:], into w[o23_at:] and w[o53_at:], in loops that
    vectorise: a SIMD gather is too dear on some CPUs for LLVM to use one, so the table lookups are loops of
    their own between the vector loops (values pass through scratch ``d`` (float64) and ``u`` (uint64) of
    ``POW_LANES_SCRATCH_*`` per lane). x outside [2^-75, 2^75] (zero, subnormal, inf, NaN, or a power near the
    float range) calls libm. ~7 ns per x for both powers against ~16 for two libm calls (one thread, 32 lanes)."""
    n = lanes
    for j in range(n):  # x = 2^k z, z in the table's range; i: z's subinterval
        bits = float32_bits(w[x_at + j])
        tmp = np.int32(bits - np.int32(0x3F330000))
        k = tmp >> 23
        u[j] = np.uint64((tmp >> 19) & 15)
        d[j] = np.float64(k)
        d[n + j] = np.float64(bits_float32(np.int32(bits - (k << 23))))
    for j in range(n):
        d[2 * n + j] = LOG2_INVC[u[j]]
        d[3 * n + j] = LOG2_LOGC[u[j]]
    e23 = np.float64(F2_3)
    e53 = np.float64(F5_3)
    for j in range(n):  # log2 x, then each power's exponent split into k/32 + r
        lx = _log2_series(d[n + j], d[2 * n + j], d[3 * n + j], d[j])
        xd = e23 * lx
        kd = xd + EXP2_SHIFT
        u[n + j] = float64_bits(kd)
        d[4 * n + j] = xd - (kd - EXP2_SHIFT)
        xd = e53 * lx
        kd = xd + EXP2_SHIFT
        u[2 * n + j] = float64_bits(kd)
        d[5 * n + j] = xd - (kd - EXP2_SHIFT)
    for j in range(n):  # 2^(k/32)
        d[2 * n + j] = _exp2_table(u[n + j])
        d[3 * n + j] = _exp2_table(u[2 * n + j])
    for j in range(n):  # 2^r by the cubic, times 2^(k/32), rounded once
        w[o23_at + j] = np.float32(_exp2_cubic(d[4 * n + j]) * d[2 * n + j])
        w[o53_at + j] = np.float32(_exp2_cubic(d[5 * n + j]) * d[3 * n + j])
    for j in range(n):
        x = w[x_at + j]
        if x == F0:  # powf(+-0, y > 0) is +0
            w[o23_at + j] = F0
            w[o53_at + j] = F0
        elif not (x >= POW_LANES_LOW and x <= POW_LANES_HIGH):
            w[o23_at + j] = x**F2_3
            w[o53_at + j] = x**F5_3


@numba.njit(cache=True, nogil=True, inline="always")
def _is_libm(x, p23, p53):
    """p23 and p53 are libm's powf(x, 2/3) and powf(x, 5/3), bit for bit (any NaN for a NaN x)."""
    return ((float32_bits(p23) == float32_bits(x**F2_3) or (p23 != p23 and x != x))
            and (float32_bits(p53) == float32_bits(x**F5_3) or (p53 != p53 and x != x)))


@numba.njit(cache=True, nogil=True, parallel=True)
def count_libm_differences(lo, hi):
    """How many float32 bit patterns in [lo, hi) give powf_23_53 other than libm powf (for the tests)."""
    chunk = 1 << 20
    n = (hi - lo + chunk - 1) // chunk
    bad = np.zeros(n, np.int64)
    for c in numba.prange(n):
        b = 0
        for ix in range(lo + c * chunk, min(hi, lo + (c + 1) * chunk)):
            x = bits_float32(np.int32(ix))
            p23, p53 = powf_23_53(x)
            ok = _is_libm(x, p23, p53) and float32_bits(powf_23(x)) == float32_bits(p23)
            b += 0 if ok else 1
        bad[c] = b
    return bad.sum()


@numba.njit(cache=True, nogil=True, parallel=True)
def count_lane_differences(lo, hi, lanes=32):
    """As ``count_libm_differences`` for ``powf_23_53_lanes`` (``lanes`` values at a time)."""
    chunk = 1 << 20
    n = (hi - lo + chunk - 1) // chunk
    bad = np.zeros(n, np.int64)
    for c in numba.prange(n):
        w = np.empty(3 * lanes, np.float32)
        d = np.empty(POW_LANES_SCRATCH_F64 * lanes, np.float64)
        u = np.empty(POW_LANES_SCRATCH_U64 * lanes, np.uint64)
        b = 0
        end = min(hi, lo + (c + 1) * chunk)
        for start in range(lo + c * chunk, end, lanes):
            m = min(lanes, end - start)
            for j in range(lanes):
                w[j] = bits_float32(np.int32(start + min(j, m - 1)))
            powf_23_53_lanes(w, 0, lanes, 2 * lanes, lanes, d, u)
            for j in range(m):
                b += 0 if _is_libm(w[j], w[lanes + j], w[2 * lanes + j]) else 1
        bad[c] = b
    return bad.sum()
