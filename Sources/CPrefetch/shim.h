// A software prefetch, which Swift cannot express (a load whose value is unused is removed).
// The training batch reads examples at random positions of the training split; prefetching the
// examples two ahead overlaps their cache misses with the conversion of the current one.
static inline void regime_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
// A prefetch for writing (prefetchw): a kernel about to write fresh rows of a large buffer fetches
// their lines ahead instead of stalling on each line's read-for-ownership at the store.
static inline void regime_prefetch_write(const void *address) { __builtin_prefetch(address, 1, 3); }
