// Internal interface between the parts of libmprof-heap-hook.so:
//
//   family.c        the malloc family (and swift_allocObject, dlopen): forwards every call to the next allocator and
//                   tells the recorder what happened
//   pages.c         the hook's own mappings, registered so that the leak scan never takes them for the program's
//   recorder.c      the capture file: one writer under one lock, records appended to a shared file mapping
//   capture_format.h  the records' tags and shapes, and their numbers (LEB128): written by the recorder, read back
//                   by the leak scan
//   stacks.c        call stacks: the walk (unwinder.c first, libunwind or libgcc's unwinder where it cannot) and
//                   interning
//   unwinder.c      the hook's own unwinder: the unwind tables' rules, cached
//   live.c          the table of live blocks (the aggregate mode's, the leak scan's replay, the scopes')
//   scopes.c        scopes: what the threads in one allocate, block by block (mprof_heap_scope_*)
//   reachability.c  the leak scan at exit
//
// Nothing here allocates through the functions the hook defines. The capture format is described in
// capture_format.h and, for users, in the MemoryProfiler DocC catalogue ("Heap capture format").
#ifndef MPROF_HEAP_HOOK_INTERNAL_H
#define MPROF_HEAP_HOOK_INTERNAL_H

#include "MemoryProfilerHeapHook.h"  // the exported ABI: the definitions are checked against it

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#define HOOK_HIDDEN __attribute__((visibility("hidden")))
#define HOOK_EXPORT __attribute__((visibility("default")))

/// The deepest stack recorded; deeper stacks keep their innermost frames.
#define HOOK_MAX_FRAMES 64

/// Set while this thread is inside the hook: 1 while it records a call of the program's, 2 while it runs code that
/// may allocate on the hook's behalf (the loader, dlsym, libunwind, libgcc's unwinder), with signals blocked.
/// A call made while it is 2 is the hook's own: forwarded, not recorded. A call made while it is 1 can only come
/// from a signal handler that interrupted the hook: forwarded, and queued to be recorded when the interrupted call
/// is done (hook_queue_event), so that the handler never waits for the lock its thread may hold.
extern __thread int hook_in_hook __attribute__((tls_model("initial-exec")));

/// Runs `call` as code that may allocate on the hook's behalf (hook_in_hook 2, signals blocked while recording).
#define HOOK_INTERNAL(call) \
    do { \
        int internal_was = hook_in_hook; \
        sigset_t internal_all, internal_old; \
        int internal_masked = __atomic_load_n(&hook_recording, __ATOMIC_RELAXED) != 0; \
        if (internal_masked) { \
            sigfillset(&internal_all); \
            pthread_sigmask(SIG_SETMASK, &internal_all, &internal_old); \
        } \
        hook_in_hook = 2; \
        call; \
        hook_in_hook = internal_was; \
        if (internal_masked) pthread_sigmask(SIG_SETMASK, &internal_old, NULL); \
    } while (0)

/// Reads an MPROF_* variable: never in a set-ID or capability-raising program (secure_getenv), whose environment
/// is its caller's to choose.
#define hook_getenv(name) secure_getenv(name)

/// Non-zero when the process runs in secure mode (set-user-ID, set-group-ID, file capabilities): the hook records
/// nothing and creates no file.
HOOK_HIDDEN int hook_secure_mode(void);

/// Allocations and frees made by signal handlers that interrupted the hook and could not be queued (the queue was
/// full): the capture says how many, so that its counts are not taken for exact.
extern uint64_t hook_signal_events_missed;

/// The type a thread's swift_allocObject is about to allocate, and its size: the next allocation of exactly this
/// size on the thread is that object.
extern __thread const void *hook_pending_metadata __attribute__((tls_model("initial-exec")));
extern __thread size_t hook_pending_size __attribute__((tls_model("initial-exec")));

/// Counts dlclose calls: code may have left, and other code come to the same addresses, so rules and stacks
/// remembered before are stale.
extern uint32_t hook_code_generation;

/// The number of the capture being written (a process may write more than one: regions): a stack node the recorder
/// memoized with a recent walk belongs to one capture.
extern uint32_t hook_capture_number;

/// Non-zero while the recorder records (after start, before finish, and not in a forked child).
extern int hook_recording;

// pages.c: the hook's own mappings (a leaf: it calls nothing else of the hook's)
/// The page size (sysconf), once hook_pages_start has run.
extern size_t hook_page_size;
HOOK_HIDDEN void hook_pages_start(void);
/// mmap and munmap for the hook's own use, as system calls: the hook defines mmap and munmap for the program (see
/// recorder_address_space_changing), and its own calls must not go through them.
HOOK_HIDDEN void *hook_mmap(void *address, size_t length, int protection, int flags, int descriptor, off_t offset);
HOOK_HIDDEN int hook_munmap(void *address, size_t length);
/// Memory for the hook's own tables, straight from the kernel (zeroed), and registered as the hook's; NULL when
/// none is left (or the register is full).
HOOK_HIDDEN void *hook_map(size_t bytes);
/// A shared view of `bytes` of the file `descriptor` at `offset`, registered as the hook's; NULL when it cannot.
HOOK_HIDDEN void *hook_map_file(size_t bytes, int descriptor, off_t offset);
/// Unregisters and unmaps what hook_map or hook_map_file gave.
HOOK_HIDDEN void hook_unmap(void *memory, size_t bytes);
/// The hook's own module (all its loadable segments): its data is not the program's.
HOOK_HIDDEN void hook_pages_own_module(uintptr_t start, uintptr_t end);
/// Whether any of the hook's registered mappings overlaps [start, end).
HOOK_HIDDEN int hook_maps_any_of(uintptr_t start, uintptr_t end);
/// The bytes of the hook's own tables (its anonymous mappings) that are resident now (mincore): memory the kernel
/// counts in the program's resident set, which the capture reports so that mprof can say how much was the hook's.
/// (Mapped is not resident: the unwinder's rule cache, say, is mostly untouched.)
HOOK_HIDDEN uint64_t hook_tables_resident(void);
/// In a forked child: every registered view of the file `descriptor` becomes a private copy (see recorder.c).
HOOK_HIDDEN void hook_make_file_maps_private(int descriptor);
/// Splits [start, end) around memory the hook mapped for itself (its tables, its module: never roots): the
/// program's first piece is [start, *piece_end), and the rest starts at *next_start (end when nothing is left).
HOOK_HIDDEN void hook_owned_piece(uintptr_t start, uintptr_t end, uintptr_t *piece_end, uintptr_t *next_start);

// recorder.c
/// Starts recording; `usable_size` is the allocator's usable size of a block (0 when unknown), for the leak scan.
HOOK_HIDDEN void recorder_start(size_t (*usable_size)(void *block));
/// An allocation, and a free, of the program's; `in_scope` when it is a scope's (see scopes.c): a capture made for
/// scopes alone records nothing else.
HOOK_HIDDEN void recorder_allocation(const void *block, size_t size, int in_scope);
HOOK_HIDDEN void recorder_free(const void *block, int in_scope);
/// An allocation a signal handler made while its thread was inside the hook, recorded later: its stack is the
/// caller's address alone (the unwinder may be in the middle of a walk on this thread).
HOOK_HIDDEN void recorder_late_allocation(const void *block, size_t size, uintptr_t caller, int in_scope);
/// From a signal handler that interrupted the hook: records an allocation (or, with `size` SIZE_MAX, a free) at once
/// when the recorder's lock is free, as recorder_late_allocation would; 0 when it is held (by the interrupted call,
/// perhaps), and nothing was done.
HOOK_HIDDEN int recorder_try_record(const void *block, size_t size, uintptr_t caller);
/// Undoes the thread's last recorded free of `block`: a realloc that failed left it allocated.
HOOK_HIDDEN void recorder_restore(const void *block, int in_scope);
/// Marks in the capture that this thread enters (kind 1) or leaves (2) scope `scope`, or that it ends (3).
HOOK_HIDDEN void recorder_scope_mark(uint64_t scope, uint64_t kind);
/// Notes that the process is about to exec `path`.
HOOK_HIDDEN void recorder_exec(const char *path);
HOOK_HIDDEN void recorder_modules_changed(void);
/// Leaves the hook (hook_in_hook back to 0) after recording what a signal handler queued meanwhile.
HOOK_HIDDEN void hook_leave(void);
/// Ends the capture (the library's destructor, and _exit): the final record, the file cut to its length.
HOOK_HIDDEN void recorder_finish(void);

// stacks.c
HOOK_HIDDEN void stacks_start(uintptr_t hook_text_start, uintptr_t hook_text_end);
/// Fills `frames` with the caller's return addresses, innermost first, without the hook's own frames.
/// `*leaf`: as unwinder_walk's, when the hook's own unwinder walked the stack; NULL otherwise. When it points to a
/// node of the capture being written already (a recent stack), `frames` is left unfilled, and `*filled` is 0: the
/// node is the stack (unless a new capture began meanwhile: then the stack is not known).
HOOK_HIDDEN int stacks_capture(uintptr_t *frames, int capacity, uint64_t **leaf, int *filled);
/// Sets up the unwinder's shared rule cache (at start, before any thread walks).
HOOK_HIDDEN void unwinder_start(void);
/// Walks the caller's stack with the cached unwind rules (unwinder.c): return addresses, innermost first, the
/// hook's own frames included; -1 when a frame needs an unwinder that follows more of DWARF.
/// `*leaf` points to a memo the caller keeps with this walk (0 until it writes one; the unwinder never reads it):
/// non-zero when the stack is one of the thread's recent ones, frame for frame. NULL when the walk failed. When the
/// stack is a recent one whole, `frames` is left unfilled and `*recent_frames` points to them (valid until the
/// thread's next walk).
HOOK_HIDDEN int unwinder_walk(
    uintptr_t *frames, int capacity, uint64_t **leaf, int *partial, const uintptr_t **recent_frames);
/// The name of the unwinder in use ("mprof", "libunwind" or "libgcc"), for the capture's header.
HOOK_HIDDEN const char *stacks_unwinder_name(void);

/// The program is about to map over, unmap or move [start, start + length): if that is memory the hook writes (the
/// capture's window, its tables), the hook lets it go first. Its window is mapped again elsewhere when the next
/// record is written; its tables cannot be, so recording stops, and the capture says why.
HOOK_HIDDEN void recorder_address_space_changing(uintptr_t start, size_t length);

// live.c
/// What the aggregate mode keeps of a live block besides its size: its site, and the thread that allocated it.
struct live_tag {
    uint32_t site, thread;
};
/// The blocks still allocated: address → size (and, `with_sites`, the aggregate mode's tag). Zeroed is empty; the
/// arrays are the hook's own mappings.
struct live_table {
    uintptr_t *keys;
    uint64_t *sizes;
    struct live_tag *tags;
    size_t mask, count;
    int with_sites;
};
/// Adds a block (or replaces one at the same address: then `*replaced_size`, if asked, is its size and
/// `*replaced_tag` its tag; otherwise `*replaced_size` is UINT64_MAX). 0 when no memory could be mapped.
HOOK_HIDDEN int live_insert(struct live_table *table, uintptr_t address, uint64_t size, struct live_tag tag,
    uint64_t *replaced_size, struct live_tag *replaced_tag);
/// Removes a block: its size (and `*tag`), or UINT64_MAX when it is not there.
HOOK_HIDDEN uint64_t live_remove(struct live_table *table, uintptr_t address, struct live_tag *tag);
/// A block's size (and `*tag`), or UINT64_MAX when it is not there.
HOOK_HIDDEN uint64_t live_find(const struct live_table *table, uintptr_t address, struct live_tag *tag);
/// Gives the table's memory back; the table is empty again.
HOOK_HIDDEN void live_release(struct live_table *table);

// scopes.c: what a piece of the program allocates on the threads in it (above the recorder, which it marks)
/// Registers the scopes' fork handlers and reads MPROF_HEAP_TRACK_BLOCKS (the constructor, once); `usable_size` is
/// the allocator's, for leak scans.
HOOK_HIDDEN void scopes_start(size_t (*usable_size)(void *block));
/// An allocation by this thread: its scope's, if the thread is in one, or the task running on it belongs to one
/// (then 1; and for a task's, that scope in `*task_scope`, for the capture's marks).
HOOK_HIDDEN int scopes_allocation(const void *block, size_t size, uint64_t *task_scope);
/// A free, on any thread: of a scope's block, if it is one (then 1).
HOOK_HIDDEN int scopes_free(const void *block);
/// Undoes this thread's last scopes_free of `block` (a realloc that failed kept it): 1 when it did.
HOOK_HIDDEN int scopes_restore(const void *block);
/// Whether a scope is open or every block is tracked: then every event must reach scopes.c.
HOOK_HIDDEN int scopes_active(void);

// reachability.c
/// Finds the blocks still allocated — in `live` when given (the aggregate mode's table), else by replaying the
/// capture's first `length` bytes —, scans the process for references to them and calls `report` with the
/// unreachable ones, in address order, in batches (the last one possibly empty). NULL when the scan was made;
/// otherwise why not (`*error`: an errno, or 0), and `report` may have been called with a part of the answer, which
/// is then not to be trusted. The scan runs in a copy of the process unless `in_process`.
/// `usable_size` is the allocator's usable size of a block (0 when unknown).
HOOK_HIDDEN const char *reachability_scan(int capture, uint64_t length, size_t page, uintptr_t stack_from,
    int in_process, const struct live_table *live, size_t (*usable_size)(void *block),
    void (*report)(const uintptr_t *, size_t), int *error);

#endif
