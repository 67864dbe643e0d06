// What Swift's SIMD cannot express, as inline functions: Swift compiles them into the calling
// code, for the same target CPU.
#include <stdint.h>

// A software prefetch, which Swift cannot express (a load whose value is unused is removed).
// The training batch reads examples at random positions of the training split; prefetching the
// examples two ahead overlaps their cache misses with the conversion of the current one.
static inline void regime_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
// A prefetch for writing (prefetchw): a kernel about to write fresh rows of a large buffer fetches
// their lines ahead instead of stalling on each line's read-for-ownership at the store.
static inline void regime_prefetch_write(const void *address) { __builtin_prefetch(address, 1, 3); }

// Sixteen 32-bit lanes (Swift imports this type as SIMD16<Int32>).
typedef int32_t regime_int32x16 __attribute__((ext_vector_type(16)));
typedef _Bool regime_bool16 __attribute__((ext_vector_type(16)));

// Bit i of the result is set exactly when lane i is non-zero. Given a comparison's lanes (all
// ones or zero), the conversion folds back into the comparison and the result is its mask register
// (AVX-512: kmovw; AVX2: vmovmskps).
static inline uint16_t regime_lane_bits16(regime_int32x16 lanes) {
    regime_bool16 mask = __builtin_convertvector(lanes != 0, regime_bool16);
    uint16_t bits;
    __builtin_memcpy(&bits, &mask, sizeof bits);
    return bits;
}

// Thirty-two 16-bit lanes (Swift imports this type as SIMD32<UInt16>).
typedef uint16_t regime_uint16x32 __attribute__((ext_vector_type(32)));

// Swift's generic SIMD code has no 16-bit lane operations that compile to single instructions
// (its `&` and `&>>` on SIMD32<UInt16> became per-lane loops through the stack), so the margin
// stream's 16-bit steps are these three.

// The high 16 bits of each 32-bit lane of a (lanes 0-15 of the result) then of b (lanes 16-31),
// sign bit cleared: one two-source word permute (AVX-512BW: vpermt2w) and one and, where a shift
// and a narrowing per source take four instructions.
static inline regime_uint16x32 regime_magnitude_halves32(regime_int32x16 a, regime_int32x16 b) {
    regime_uint16x32 wa = (regime_uint16x32)a, wb = (regime_uint16x32)b;
    return 0x7FFF & __builtin_shufflevector(wa, wb, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63);
}

// counts + (d >> 15) lane by lane: adds 1 where the top bit of d is set.
static inline regime_uint16x32 regime_add_top_bits16(regime_uint16x32 counts, regime_uint16x32 d) {
    return counts + (d >> 15);
}

typedef _Bool regime_bool32 __attribute__((ext_vector_type(32)));

// Bit i set exactly when d0 < w0 or d1 < w1 or d2 < w2 in lane i (unsigned): three compares into
// mask registers, their or, one kmovd.
static inline uint32_t regime_lanes_below_any32(regime_uint16x32 d0, regime_uint16x32 w0, regime_uint16x32 d1,
                                                regime_uint16x32 w1, regime_uint16x32 d2, regime_uint16x32 w2) {
    regime_bool32 mask = __builtin_convertvector((d0 < w0) | (d1 < w1) | (d2 < w2), regime_bool32);
    uint32_t bits;
    __builtin_memcpy(&bits, &mask, sizeof bits);
    return bits;
}

// Sixteen Float lanes (Swift imports this type as SIMD16<Float>).
typedef float regime_float32x16 __attribute__((ext_vector_type(16)));

// The IEEE square root of each lane (correctly rounded, as Float.squareRoot()): one vsqrtps.
// Swift's SIMD16<Float>.squareRoot() compiled to sixteen scalar square roots, each behind libm's
// errno branch.
static inline regime_float32x16 regime_sqrt16(regime_float32x16 x) { return __builtin_elementwise_sqrt(x); }

// v[0..<16], sixteen rows of 16 Floats, transposed in place (v[r][c] becomes v[c][r]). Four rounds
// of "the even lanes of each pair of rows, then the odd lanes": a round moves element (r, c), as
// the 8-bit index r3 r2 r1 r0 c3 c2 c1 c0, to c0 r3 r2 r1 r0 c3 c2 c1, a rotation right by one
// bit, so four rounds swap the row and column halves. Each new row is one two-source permute
// (AVX-512: vpermt2ps), 64 in all, with the 16 rows in registers between the 16 loads and the 16
// stores. Written in Swift (SIMD16(lowHalf: a.evenHalf, highHalf: b.evenHalf) through a scratch
// block), the same rounds compiled to 80 permutes and 32 lane-block shuffles, and every round went
// through memory.
static inline void regime_transpose16x16(float *v) {
    regime_float32x16 a[16], b[16];
    for (int r = 0; r < 16; r++) __builtin_memcpy(&a[r], v + 16 * r, sizeof a[r]);
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 8; k++) {
            b[k] = __builtin_shufflevector(a[2 * k], a[2 * k + 1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            b[8 + k] = __builtin_shufflevector(a[2 * k], a[2 * k + 1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        }
        for (int k = 0; k < 8; k++) {
            a[k] = __builtin_shufflevector(b[2 * k], b[2 * k + 1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            a[8 + k] = __builtin_shufflevector(b[2 * k], b[2 * k + 1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        }
    }
    for (int r = 0; r < 16; r++) __builtin_memcpy(v + 16 * r, &a[r], sizeof a[r]);
}
