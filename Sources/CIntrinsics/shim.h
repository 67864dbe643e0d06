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
