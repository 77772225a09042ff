#ifndef C_MEMORY_PROFILER_SHIMS_H
#define C_MEMORY_PROFILER_SHIMS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Bytes of the malloc heap in use by the current process: `uordblks + hblkhd` of glibc's `mallinfo2()`,
/// that is, bytes in allocated chunks of every arena plus bytes in blocks allocated with `mmap`.
///
/// Returns -1 where the C library has no `mallinfo2` (not glibc, or glibc older than 2.33).
long long cmp_malloc_heap_in_use_bytes(void);

/// `pipe2(descriptors, O_CLOEXEC)`: both ends close on exec, atomically (Glibc exports `pipe2` only with
/// `_GNU_SOURCE`). Returns 0, or -1 with `errno` set.
int cmp_pipe_cloexec(int descriptors[2]);

#ifdef __cplusplus
}
#endif

#endif
