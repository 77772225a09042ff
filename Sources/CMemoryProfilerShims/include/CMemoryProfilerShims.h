#ifndef C_MEMORY_PROFILER_SHIMS_H
#define C_MEMORY_PROFILER_SHIMS_H

#include <stddef.h>

// The heap hook's exported functions and their pointer types: the library finds them at run time (dlsym).
#include "../../MemoryProfilerHeapHook/include/MemoryProfilerHeapHook.h"

#ifdef __cplusplus
extern "C" {
#endif

/// The allocators `cmp_malloc_allocator` tells apart.
#define CMP_ALLOCATOR_UNKNOWN 0
#define CMP_ALLOCATOR_GLIBC 1
#define CMP_ALLOCATOR_JEMALLOC 2
#define CMP_ALLOCATOR_TCMALLOC 3
#define CMP_ALLOCATOR_MIMALLOC 4

/// The allocator that serves this process's `malloc` (one of `CMP_ALLOCATOR_…`), and in `library` the path of the
/// object that defines it (cut to `capacity`; may be NULL). Under mprof's heap hook, the allocator the hook forwards
/// to. Found once.
int cmp_malloc_allocator(char *library, size_t capacity);

/// What the allocator says about its memory, in bytes; -1 where it does not say.
struct cmp_malloc_reading {
    /// Handed out to the program and not freed.
    long long in_use;
    /// Held by the allocator (resident or mapped) but not in use: what it could give back to the system.
    long long held_free;
    /// glibc: the top chunk's part of `held_free`, which `malloc_trim(0)` gives back in any case.
    long long releasable;
    /// Address space the allocator keeps reserved but has given back (jemalloc's retained, tcmalloc's unmapped).
    long long retained;
};

/// Reads the allocator `cmp_malloc_allocator` found. Returns 0, or -1 with `errno` (`ENOTSUP`: an allocator without
/// a reading here).
int cmp_malloc_read(struct cmp_malloc_reading *reading);

/// glibc: the bytes `malloc_trim(0)` would give back to the system now, measured in a forked copy of the process
/// (its anonymous resident memory before and after the call there), so this process's heap is left as it is.
/// Returns -1 with `errno` (`ENOTSUP` under another allocator).
long long cmp_malloc_trimmable_bytes(void);

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

/// Whether the file at `path` has the extended attribute `name` (getxattr(2), which Swift's Glibc module leaves
/// out): 1, 0, or -1 with `errno` when it cannot be told.
int cmp_has_extended_attribute(const char *path, const char *name);

/// Gives the calling thread alone the lowest priority (nice 19), where it can be given back: returns the thread's
/// id and stores its nice value before in `previous`, or returns 0 when the priority was left as it is (already 19;
/// or an unprivileged process whose RLIMIT_NICE would not let it go back: a thread left at nice 19 on a busy machine
/// may wait minutes to finish).
int cmp_lower_thread_priority(int *previous);

/// Writes zeros over up to `bytes` of the calling thread's stack below the caller's frame (never closer than 32 KiB
/// to its end): what returned functions left there is gone, so a leak scan from here finds no stale copy of a
/// pointer in it.
void cmp_scrub_stack(size_t bytes);

/// Calls `function(context)` with `pad` bytes of the stack left untouched above its frames: a leak scan made from
/// the caller afterwards, whose frames fit in the pad, lies over none of what `function` left on the stack.
/// The pad is smaller (or none) where the stack has less than 64 KiB more to give.
void cmp_call_below_pad(size_t pad, void (*function)(void *), void *context);

/// As `cmp_lower_thread_priority`, for the task `task` (a thread id, or a single-threaded child's process id).
int cmp_lower_task_priority(int task, int *previous);

/// Gives `thread` (an id from `cmp_lower_thread_priority`) the nice value `previous` back. Returns 0, or -1 with
/// `errno`.
int cmp_restore_thread_priority(int thread, int previous);

/// At most how many bytes `cmp_deflate` writes for `length` bytes.
size_t cmp_deflate_bound(size_t length);

/// Compresses `length` bytes of `input` with zlib at `level` (1–9) into `output`, which has room for
/// `*output_length` bytes (`cmp_deflate_bound`): as a zlib stream, or with `gzip` a gzip file. Returns 0 and sets
/// `*output_length` to the bytes written, or -1 (no room, no memory).
int cmp_deflate(const unsigned char *input, size_t length, unsigned char *output, size_t *output_length, int level,
    int gzip);

/// A zlib stream compressed as its input comes, into memory of its own.
typedef struct cmp_deflater cmp_deflater;

/// A new stream at `level` (1–9); NULL without memory.
cmp_deflater *cmp_deflater_create(int level);

/// Compresses `length` more bytes of input; with `finish`, the last of it, and the stream is complete. Returns 0, or
/// -1 (no memory; the stream is then unusable).
int cmp_deflater_write(cmp_deflater *deflater, const unsigned char *input, size_t length, int finish);

/// The compressed bytes so far (all of them once finished), valid until the next write or destroy.
const unsigned char *cmp_deflater_output(const cmp_deflater *deflater, size_t *length);

void cmp_deflater_destroy(cmp_deflater *deflater);

/// What `cmp_inflate` found wrong.
#define CMP_INFLATE_DAMAGED -1
#define CMP_INFLATE_SHORT -2
#define CMP_INFLATE_LONG -3
#define CMP_INFLATE_TRAILING -4

/// Decompresses the zlib stream (with `gzip`, the gzip file) in `input`, which must make exactly `expected` bytes,
/// into `output` (room for `expected`). Returns 0, or one of `CMP_INFLATE_…`: damaged data, fewer or more bytes
/// than expected, or bytes after the end of the stream. Never writes past `expected` bytes.
int cmp_inflate(const unsigned char *input, size_t length, unsigned char *output, size_t expected, int gzip);

#ifdef __cplusplus
}
#endif

#endif
