// glibc's heap statistics (mallinfo2), for the tests that check ResourceEstimate against the
// bytes the engine really allocates.
#if __has_include(<malloc.h>)
#include <malloc.h>
#endif
