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

/// `prctl(PR_SET_CHILD_SUBREAPER, on)`: while on, orphaned descendants are re-parented to this process rather than
/// to init (Swift cannot call the variadic `prctl`). Returns 0, or -1 with `errno` set.
int cmp_set_child_subreaper(int on);

/// `prctl(PR_GET_CHILD_SUBREAPER)`: 1 when this process is a child subreaper, 0 when not, -1 with `errno` set.
int cmp_is_child_subreaper(void);

/// Flushes `stdout` (where Swift's `print` writes) and reports whether every write to it succeeded: 0, or the
/// error number of the failure (`ENOSPC` for `/dev/full`, say).
int cmp_flush_standard_output(void);

/// Opens `/dev/null` on descriptors 0 and 2 and `/dev/full` on 1 when they are closed, so that no file opened
/// later takes their place (a `.dat` file opened as descriptor 2 would receive error messages), and output
/// written to a closed standard output fails instead of vanishing. Returns 0, or -1 with `errno`.
int cmp_open_standard_descriptors(void);

#ifdef __cplusplus
}
#endif

#endif
