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

/// The malloc the hook forwards to (the allocator that really serves the program), for allocator readings that
/// would otherwise find the hook's.
void *MPROF_NULLABLE mprof_heap_next_malloc(void);
typedef void *MPROF_NULLABLE (*mprof_heap_next_malloc_function)(void);

#ifdef __cplusplus
}
#endif

#endif
