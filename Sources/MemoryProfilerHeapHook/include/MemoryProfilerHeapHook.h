#ifndef MEMORY_PROFILER_HEAP_HOOK_H
#define MEMORY_PROFILER_HEAP_HOOK_H

// What libmprof-heap-hook.so exports to the program it is loaded into, besides the malloc family: its ABI. The hook
// is loaded with LD_PRELOAD (or linked in), never linked against by the library, so the library finds these
// functions at run time (dlsym) and calls them through the pointer types below; the hook defines them with the same
// declarations. Changing one is changing the ABI between a hook and the libraries built against it.

#include <stddef.h>
#include <stdint.h>

// Nullability for Swift's importer (clang); other compilers ignore it.
#if defined(__clang__)
#define MPROF_NULLABLE _Nullable
#define MPROF_NONNULL _Nonnull
#else
#define MPROF_NULLABLE
#define MPROF_NONNULL
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Starts a region (HeapRegion): its events are marked in the capture being recorded, or, when none is, recorded
/// into a file of its own at `path_if_not_recording`. 0 when it started, with its number in `*region`; 1 when a
/// region is open already; 2 when no capture could be started (errno says why: EPERM in secure mode).
int mprof_heap_region_begin(const char *MPROF_NULLABLE path_if_not_recording, uint64_t *MPROF_NONNULL region);
typedef int (*mprof_heap_region_begin_function)(const char *MPROF_NULLABLE, uint64_t *MPROF_NONNULL);

/// Ends region `region`: 0, with the capture to read it from in `path` (of `capacity` bytes) and in `*own` whether
/// that capture is the region's own (finished now, to be removed once read); 1 when that region is not open.
int mprof_heap_region_end(uint64_t region, char *MPROF_NONNULL path, size_t capacity, int *MPROF_NONNULL own);
typedef int (*mprof_heap_region_end_function)(uint64_t, char *MPROF_NONNULL, size_t, int *MPROF_NONNULL);

/// What the calling thread has allocated since the hook was loaded, recording or not: bytes and allocations.
void mprof_heap_thread_allocated(uint64_t *MPROF_NONNULL bytes, uint64_t *MPROF_NONNULL allocations);
typedef void (*mprof_heap_thread_allocated_function)(uint64_t *MPROF_NONNULL, uint64_t *MPROF_NONNULL);

/// What a scope's threads allocated while they were in it, and what became of those blocks (freed on any thread).
/// Sizes are the sizes asked for, as the capture records them.
struct mprof_heap_scope_totals {
    uint64_t allocated_bytes, allocations;
    /// Of the scope's blocks, those freed since (by any thread).
    uint64_t freed_bytes, frees;
    /// Its blocks still allocated when the totals were read.
    uint64_t bytes_in_use, blocks_in_use;
    /// The most bytes of its blocks that were allocated at one time.
    uint64_t peak_bytes;
    /// Allocations it could not keep track of (the hook's table could not grow): the other numbers are then low.
    uint64_t untracked;
};

/// Opens a scope: what threads allocate while they are in it (mprof_heap_scope_enter) is counted as its, block by
/// block, until it ends, while other threads allocate what they like. Works recording or not. 0 when it opened,
/// with its identifier in `*scope`; 1 when as many scopes are open as the hook keeps (1024).
int mprof_heap_scope_begin(uint64_t *MPROF_NONNULL scope);
typedef int (*mprof_heap_scope_begin_function)(uint64_t *MPROF_NONNULL);

/// Puts the calling thread in scope `scope` (0: in none) and returns the scope it was in (0: none); UINT64_MAX,
/// changing nothing, when `scope` is not open.
uint64_t mprof_heap_scope_enter(uint64_t scope);
typedef uint64_t (*mprof_heap_scope_enter_function)(uint64_t);

/// The totals of open scope `scope` so far: 0, or 1 when it is not open.
int mprof_heap_scope_read(uint64_t scope, struct mprof_heap_scope_totals *MPROF_NONNULL totals);
typedef int (*mprof_heap_scope_read_function)(uint64_t, struct mprof_heap_scope_totals *MPROF_NONNULL);

/// Makes Swift task `task` (an AsyncTask: what swift_task_getCurrent returns) one of scope `scope`'s: what it
/// allocates on a thread in no scope (a hop to the main actor, whose thread is its own) is the scope's too. 0; 1 when
/// the scope is not open or 4096 tasks are registered; 2 when this process has no Swift concurrency runtime.
int mprof_heap_scope_add_task(uint64_t scope, const void *MPROF_NULLABLE task);
typedef int (*mprof_heap_scope_add_task_function)(uint64_t, const void *MPROF_NULLABLE);

/// Forgets what mprof_heap_scope_add_task registered (the scope's end forgets its tasks too).
void mprof_heap_scope_remove_task(uint64_t scope, const void *MPROF_NULLABLE task);
typedef void (*mprof_heap_scope_remove_task_function)(uint64_t, const void *MPROF_NULLABLE);

/// Scans the process for references to the blocks of open scope `scope` still allocated (as the leak scan at exit
/// does, in a copy of the process made now): 0, with how many are unreachable in `*count` and their bytes in
/// `*bytes`, and the first `capacity` of their addresses in `addresses`; 1 when the scope is not open; 2 when no
/// scan was made, with why in `failure` (of `failure_capacity` bytes) and errno: the hook must track every block
/// (MPROF_HEAP_TRACK_BLOCKS).
int mprof_heap_scope_leaks(uint64_t scope, uintptr_t *MPROF_NULLABLE addresses, size_t capacity,
    uint64_t *MPROF_NONNULL count, uint64_t *MPROF_NONNULL bytes, char *MPROF_NONNULL failure, size_t failure_capacity);
typedef int (*mprof_heap_scope_leaks_function)(uint64_t, uintptr_t *MPROF_NULLABLE, size_t, uint64_t *MPROF_NONNULL,
    uint64_t *MPROF_NONNULL, char *MPROF_NONNULL, size_t);

/// Ends scope `scope`, with its final totals in `*totals`: 0, or 1 when it is not open. Threads still in it are
/// in none from then on; its blocks are forgotten.
int mprof_heap_scope_end(uint64_t scope, struct mprof_heap_scope_totals *MPROF_NONNULL totals);
typedef int (*mprof_heap_scope_end_function)(uint64_t, struct mprof_heap_scope_totals *MPROF_NONNULL);

/// Makes sure scopes are recorded in a capture, which says where their blocks came from: the one being recorded
/// (under `mprof run --heap`), or one of their own, started at `path_if_not_recording` and written until the process
/// ends, of what threads in a scope allocate and the frees of those blocks. 0, with the capture's path in `path` (of
/// `capacity` bytes) and in `*own` whether it is the scopes' own; 2 when none could be started (errno: EPERM in
/// secure mode, EBUSY when the run's capture is an aggregate one).
int mprof_heap_scopes_record(const char *MPROF_NULLABLE path_if_not_recording, char *MPROF_NONNULL path, size_t capacity,
    int *MPROF_NONNULL own);
typedef int (*mprof_heap_scopes_record_function)(const char *MPROF_NULLABLE, char *MPROF_NONNULL, size_t, int *MPROF_NONNULL);

/// The malloc the hook forwards to (the allocator that really serves the program), for allocator readings that
/// would otherwise find the hook's.
void *MPROF_NULLABLE mprof_heap_next_malloc(void);
typedef void *MPROF_NULLABLE (*mprof_heap_next_malloc_function)(void);

#ifdef __cplusplus
}
#endif

#endif
