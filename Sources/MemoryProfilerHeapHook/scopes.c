// Scopes: what one piece of the program allocates, exactly, while the rest of it goes on allocating — a test among
// tests running in parallel, say. A scope is joined per thread (mprof_heap_scope_enter): each allocation a thread
// in a scope makes is the scope's, and goes into one table of blocks (address → size, the scope's slot as tag), so
// that its free — on whatever thread, in a scope or not — is the scope's too. The counts need no capture: they work
// whether the process is recording or not.
//
// When a capture is recorded, each thread's entering and leaving a scope, and its end, are marked in it ('K'), so
// that a reader can tell which allocations were whose and name their sites; mprof_heap_scopes_record (recorder.c)
// records a capture of the scopes' events alone.
//
// Leaks: with MPROF_HEAP_TRACK_BLOCKS=1 (or a pattern the executable's file name matches, as `*.xctest`, which mprof
// test sets), the table holds every block the process allocates from its start, a scope's or not, so that a
// scope's blocks can be scanned for reachability while the program runs (mprof_heap_scope_leaks): the scan needs
// every live block, to follow the references the rest of the heap holds.
//
// The exported functions take the lock with hook_in_hook set, as every path into the hook does: a signal handler
// that allocates meanwhile is queued (family.c), never waits for the lock its own thread holds.
//
// Tasks: a Swift task that belongs to a scope (mprof_heap_scope_add_task) may run some of its work on a thread of
// no scope's — a test on the main actor hops to the main actor's thread. While any task is registered, an
// allocation by a thread in no scope asks the Swift runtime for the current task (swift_task_getCurrent), and counts
// for that task's scope, if it has one.
//
// Cost: a thread in no scope pays one thread-local load per allocation; every free pays one relaxed atomic load
// while no scope is open, and a lock and a table lookup while one is. Tracking every block costs a lock and a table
// update per allocation and free.
#define _GNU_SOURCE
#include "hook.h"

#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <string.h>
#include <unistd.h>

/// Scopes open at once, at most: tests running at the same time, say.
#define SCOPE_SLOTS 1024
/// An identifier: the slot + 1 in its low 16 bits, a generation above (so that an identifier is never reused).
#define SLOT_BITS 16

struct scope {
    uint64_t identifier;  // 0: the slot is free; else slot + 1 in the low bits, a generation above
    struct mprof_heap_scope_totals totals;
};

static pthread_mutex_t scope_lock = PTHREAD_MUTEX_INITIALIZER;
static struct scope scopes[SCOPE_SLOTS];
static struct live_table scope_blocks = {.with_sites = 1};  // tag.site: the scope's slot + 1
static uint64_t scope_generation;
static uint32_t scopes_open;  // read without the lock on every free
static int tracking_all;      // MPROF_HEAP_TRACK_BLOCKS=1: every block is in the table (tag 0 when no scope's)
static size_t (*allocator_usable_size)(void *block);

static __thread uint64_t thread_scope __attribute__((tls_model("initial-exec")));

static void forget_tasks(uint64_t scope, const void *task);

// Tasks registered with a scope (a few: the tests running), under the lock; `tasks_registered` read without it.
#define TASK_SLOTS 4096
static struct {
    const void *task;
    uint64_t scope;
} scope_tasks[TASK_SLOTS];
static uint32_t tasks_registered;
typedef const void *(*current_task_function)(void) __attribute__((swiftcall));
static current_task_function current_task;
// The block this thread's last free took out of the table, should a failed realloc put it back (scopes_restore): its
// size and its scope (0: none, tracked). A realloc is a free of the old block and an allocation of the new one, as in
// a capture (so a scope's peak and mprof heap's agree): the peak does not hold both at once (glibc moves a large
// block with mremap, and never holds both; a small one is copied, and for that moment does).
static __thread struct {
    uintptr_t block;
    uint64_t size;
    uint64_t scope;
} thread_last_freed __attribute__((tls_model("initial-exec")));

static struct scope *scope_named(uint64_t identifier) {
    uint64_t slot = (identifier & ((1 << SLOT_BITS) - 1)) - 1;
    if (identifier == 0 || slot >= SCOPE_SLOTS || scopes[slot].identifier != identifier) return NULL;
    return &scopes[slot];
}

/// Takes the scopes' lock from the program's own call (see the top).
static int lock_from_program(void) {
    int was_in_hook = hook_in_hook;
    hook_in_hook = 1;
    pthread_mutex_lock(&scope_lock);
    return was_in_hook;
}

static void unlock_to_program(int was_in_hook) {
    pthread_mutex_unlock(&scope_lock);
    hook_in_hook = was_in_hook;
}

HOOK_EXPORT int mprof_heap_scope_begin(uint64_t *scope) {
    int was_in_hook = lock_from_program();
    int status = 1;
    for (uint64_t slot = 0; slot < SCOPE_SLOTS; slot += 1) {
        if (scopes[slot].identifier != 0) continue;
        scope_generation += 1;
        scopes[slot] = (struct scope){.identifier = (scope_generation << SLOT_BITS) | (slot + 1)};
        *scope = scopes[slot].identifier;
        __atomic_add_fetch(&scopes_open, 1, __ATOMIC_RELAXED);
        status = 0;
        break;
    }
    unlock_to_program(was_in_hook);
    return status;
}

HOOK_EXPORT uint64_t mprof_heap_scope_enter(uint64_t scope) {
    if (scope != 0) {
        int was_in_hook = lock_from_program();
        int open = scope_named(scope) != NULL;
        unlock_to_program(was_in_hook);
        if (!open) return UINT64_MAX;
    }
    uint64_t previous = thread_scope;
    if (previous == scope) return previous;
    // Marked in the capture, if one is recorded, so that a reader knows whose the thread's allocations are.
    int was_in_hook = hook_in_hook;
    hook_in_hook = 1;
    if (previous != 0) recorder_scope_mark(previous, 2);
    thread_scope = scope;
    if (scope != 0) recorder_scope_mark(scope, 1);
    hook_in_hook = was_in_hook;
    return previous;
}

HOOK_EXPORT int mprof_heap_scope_read(uint64_t scope, struct mprof_heap_scope_totals *totals) {
    int was_in_hook = lock_from_program();
    struct scope *open = scope_named(scope);
    if (open != NULL) *totals = open->totals;
    unlock_to_program(was_in_hook);
    return open != NULL ? 0 : 1;
}

HOOK_EXPORT int mprof_heap_scope_end(uint64_t scope, struct mprof_heap_scope_totals *totals) {
    int was_in_hook = lock_from_program();
    struct scope *open = scope_named(scope);
    if (open != NULL) {
        *totals = open->totals;
        uint32_t tag = (uint32_t)(open - scopes) + 1;
        // Its blocks leave the table. A removal shifts later entries of the run back, into this slot or ones not
        // yet visited (or, past the end, ones visited already, none of them this scope's by then): look again at
        // the same slot until it holds another scope's block or none.
        if (scope_blocks.keys != NULL && tracking_all) {
            // Still the process's blocks: they stay, as no scope's.
            for (size_t slot = 0; slot <= scope_blocks.mask; slot += 1)
                if (scope_blocks.keys[slot] != 0 && scope_blocks.tags[slot].site == tag) scope_blocks.tags[slot].site = 0;
        } else if (scope_blocks.keys != NULL) {
            for (size_t slot = 0; slot <= scope_blocks.mask; slot += 1) {
                while (scope_blocks.keys[slot] != 0 && scope_blocks.tags[slot].site == tag)
                    live_remove(&scope_blocks, scope_blocks.keys[slot], NULL);
            }
        }
        forget_tasks(scope, NULL);
        open->identifier = 0;
        if (__atomic_sub_fetch(&scopes_open, 1, __ATOMIC_RELAXED) == 0 && !tracking_all) live_release(&scope_blocks);
    }
    pthread_mutex_unlock(&scope_lock);
    if (open != NULL) recorder_scope_mark(scope, 3);
    hook_in_hook = was_in_hook;
    return open != NULL ? 0 : 1;
}

HOOK_EXPORT int mprof_heap_scope_add_task(uint64_t scope, const void *task) {
    if (task == NULL) return 1;
    if (__atomic_load_n(&current_task, __ATOMIC_ACQUIRE) == NULL) {
        void *found;
        HOOK_INTERNAL(found = dlsym(RTLD_DEFAULT, "swift_task_getCurrent"));  // dlsym may allocate
        if (found == NULL) return 2;
        __atomic_store_n(&current_task, (current_task_function)found, __ATOMIC_RELEASE);
    }
    int was_in_hook = lock_from_program();
    int status = 1;
    if (scope_named(scope) != NULL) {
        for (size_t slot = 0; slot < TASK_SLOTS; slot += 1) {
            if (scope_tasks[slot].task != NULL) continue;
            scope_tasks[slot].task = task;
            scope_tasks[slot].scope = scope;
            __atomic_add_fetch(&tasks_registered, 1, __ATOMIC_RELAXED);
            status = 0;
            break;
        }
    }
    unlock_to_program(was_in_hook);
    return status;
}

/// Forgets the registrations of `task` (NULL: any) with `scope`, under the lock.
static void forget_tasks(uint64_t scope, const void *task) {
    for (size_t slot = 0; slot < TASK_SLOTS && __atomic_load_n(&tasks_registered, __ATOMIC_RELAXED) > 0; slot += 1) {
        if (scope_tasks[slot].task == NULL || scope_tasks[slot].scope != scope) continue;
        if (task != NULL && scope_tasks[slot].task != task) continue;
        scope_tasks[slot].task = NULL;
        __atomic_sub_fetch(&tasks_registered, 1, __ATOMIC_RELAXED);
    }
}

HOOK_EXPORT void mprof_heap_scope_remove_task(uint64_t scope, const void *task) {
    int was_in_hook = lock_from_program();
    forget_tasks(scope, task);
    unlock_to_program(was_in_hook);
}

/// The scope of the task running on this thread, when tasks are registered: 0 for none. Under the lock.
static uint64_t scope_of_current_task(void) {
    current_task_function current = __atomic_load_n(&current_task, __ATOMIC_ACQUIRE);
    const void *task = current != NULL ? current() : NULL;
    if (task == NULL) return 0;
    uint32_t remaining = __atomic_load_n(&tasks_registered, __ATOMIC_RELAXED);
    for (size_t slot = 0; slot < TASK_SLOTS && remaining > 0; slot += 1) {
        if (scope_tasks[slot].task == NULL) continue;
        remaining -= 1;
        if (scope_tasks[slot].task == task) return scope_tasks[slot].scope;
    }
    return 0;
}

/// Tracks a block of no scope's (tracking every block), under the lock.
static void track_unscoped(const void *block, size_t size) {
    uint64_t replaced_size;
    struct live_tag replaced_tag;
    if (live_insert(&scope_blocks, (uintptr_t)block, size, (struct live_tag){0, 0}, &replaced_size, &replaced_tag) &&
        replaced_size != UINT64_MAX && replaced_tag.site >= 1 && replaced_tag.site <= SCOPE_SLOTS) {
        struct mprof_heap_scope_totals *owner = &scopes[replaced_tag.site - 1].totals;
        owner->bytes_in_use -= replaced_size;
        owner->blocks_in_use -= 1;
    }
}

HOOK_HIDDEN int scopes_allocation(const void *block, size_t size, uint64_t *task_scope) {
    *task_scope = 0;
    if (__builtin_expect(thread_scope == 0, 1)) {
        if (__builtin_expect(!tracking_all && __atomic_load_n(&tasks_registered, __ATOMIC_RELAXED) == 0, 1)) return 0;
    }
    int in_scope = 0;
    pthread_mutex_lock(&scope_lock);
    uint64_t owner = thread_scope;
    if (owner == 0 && __atomic_load_n(&tasks_registered, __ATOMIC_RELAXED) > 0) {
        owner = scope_of_current_task();
        *task_scope = owner;
    }
    struct scope *scope = owner != 0 ? scope_named(owner) : NULL;
    if (scope == NULL) {
        if (owner != 0 && owner == thread_scope) thread_scope = 0;  // ended while this thread was in it
        *task_scope = 0;
        if (tracking_all) track_unscoped(block, size);
    } else {
        struct mprof_heap_scope_totals *totals = &scope->totals;
        totals->allocated_bytes += size;
        totals->allocations += 1;
        uint64_t replaced_size;
        struct live_tag replaced_tag;
        struct live_tag tag = {.site = (uint32_t)(scope - scopes) + 1, .thread = 0};
        if (!live_insert(&scope_blocks, (uintptr_t)block, size, tag, &replaced_size, &replaced_tag)) {
            totals->untracked += 1;
        } else {
            // A block at this address still in the table was freed where the hook could not see it (by a signal
            // handler inside the hook): it is gone.
            if (replaced_size != UINT64_MAX && replaced_tag.site >= 1 && replaced_tag.site <= SCOPE_SLOTS) {
                struct mprof_heap_scope_totals *owner = &scopes[replaced_tag.site - 1].totals;
                owner->bytes_in_use -= replaced_size;
                owner->blocks_in_use -= 1;
            }
            totals->bytes_in_use += size;
            totals->blocks_in_use += 1;
            if (totals->bytes_in_use > totals->peak_bytes) totals->peak_bytes = totals->bytes_in_use;
            in_scope = 1;
        }
    }
    pthread_mutex_unlock(&scope_lock);
    return in_scope;
}

HOOK_HIDDEN int scopes_free(const void *block) {
    thread_last_freed.block = 0;
    if (__builtin_expect(__atomic_load_n(&scopes_open, __ATOMIC_RELAXED) == 0 && !tracking_all, 1)) return 0;
    int in_scope = 0;
    pthread_mutex_lock(&scope_lock);
    struct live_tag tag;
    uint64_t size = live_remove(&scope_blocks, (uintptr_t)block, &tag);
    if (size != UINT64_MAX) {
        thread_last_freed.block = (uintptr_t)block;
        thread_last_freed.size = size;
        thread_last_freed.scope = 0;
        if (tag.site >= 1 && tag.site <= SCOPE_SLOTS) {
            struct scope *scope = &scopes[tag.site - 1];
            scope->totals.freed_bytes += size;
            scope->totals.frees += 1;
            scope->totals.bytes_in_use -= size;
            scope->totals.blocks_in_use -= 1;
            thread_last_freed.scope = scope->identifier;
            in_scope = 1;
        }
    }
    pthread_mutex_unlock(&scope_lock);
    return in_scope;
}

HOOK_HIDDEN int scopes_restore(const void *block) {
    if (thread_last_freed.block != (uintptr_t)block) return 0;
    thread_last_freed.block = 0;
    int restored = 0;
    pthread_mutex_lock(&scope_lock);
    // Back in the table as it was: its scope's, if that scope is still the one open in its slot; else no scope's.
    struct scope *scope = scope_named(thread_last_freed.scope);
    struct live_tag tag = {.site = scope != NULL ? (uint32_t)(scope - scopes) + 1 : 0, .thread = 0};
    if (scope != NULL || tracking_all) {
        int inserted = live_insert(&scope_blocks, (uintptr_t)block, thread_last_freed.size, tag, NULL, NULL);
        if (scope != NULL && inserted) {
            scope->totals.freed_bytes -= thread_last_freed.size;
            scope->totals.frees -= 1;
            scope->totals.bytes_in_use += thread_last_freed.size;
            scope->totals.blocks_in_use += 1;
            restored = 1;
        } else if (scope != NULL) {
            scope->totals.untracked += 1;
        }
    }
    pthread_mutex_unlock(&scope_lock);
    return restored;
}

HOOK_HIDDEN int scopes_active(void) {
    return __atomic_load_n(&scopes_open, __ATOMIC_RELAXED) != 0 || tracking_all;
}

// fork: the child must not find the lock held by a thread that is not there. The parent holds it across the fork
// (unless this thread is inside the hook already: a fork from a signal handler; then the child starts afresh).
static __thread int fork_took_scope_lock __attribute__((tls_model("initial-exec")));
static void scopes_before_fork(void) {
    fork_took_scope_lock = !hook_in_hook;
    if (fork_took_scope_lock) pthread_mutex_lock(&scope_lock);
}
static void scopes_after_fork_in_parent(void) {
    if (fork_took_scope_lock) pthread_mutex_unlock(&scope_lock);
}
static void scopes_after_fork_in_child(void) {
    // The child is not the scopes' program: it forgets them (their table's memory with them, when it is whole).
    if (fork_took_scope_lock) live_release(&scope_blocks);
    scope_blocks = (struct live_table){.with_sites = 1};
    for (int slot = 0; slot < SCOPE_SLOTS; slot += 1) scopes[slot].identifier = 0;
    for (int slot = 0; slot < TASK_SLOTS; slot += 1) scope_tasks[slot].task = NULL;
    __atomic_store_n(&tasks_registered, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&scopes_open, 0, __ATOMIC_RELAXED);
    pthread_mutex_init(&scope_lock, NULL);
    thread_scope = 0;
}

HOOK_HIDDEN void scopes_start(size_t (*usable_size)(void *block)) {
    allocator_usable_size = usable_size;
    hook_pages_start();  // the page size, for the leak scan
    pthread_atfork(scopes_before_fork, scopes_after_fork_in_parent, scopes_after_fork_in_child);
    // "1": track in this process; a pattern: only when the executable's file name matches it (`*.xctest`: the
    // tests `swift test` runs, not the compilers it builds them with).
    const char *track = hook_getenv("MPROF_HEAP_TRACK_BLOCKS");
    if (track != NULL && strcmp(track, "1") == 0) {
        tracking_all = 1;
    } else if (track != NULL && track[0] != 0) {
        char executable[4096];
        ssize_t length = readlink("/proc/self/exe", executable, sizeof executable - 1);
        if (length > 0) {
            executable[length] = 0;
            const char *name = strrchr(executable, '/');
            tracking_all = fnmatch(track, name != NULL ? name + 1 : executable, 0) == 0;
        }
    }
}

// MARK: Leaks

/// What a leak scan of one scope found: the unreachable blocks among its own, under the scope lock.
static struct {
    uint32_t tag;
    uintptr_t *addresses;
    size_t capacity, count;
    uint64_t bytes;
} leak_search;

static void collect_scope_leaks(const uintptr_t *blocks, size_t count) {
    for (size_t index = 0; index < count; index += 1) {
        struct live_tag tag;
        uint64_t size = live_find(&scope_blocks, blocks[index], &tag);
        if (size == UINT64_MAX || tag.site != leak_search.tag) continue;
        if (leak_search.count < leak_search.capacity) leak_search.addresses[leak_search.count] = blocks[index];
        leak_search.count += 1;
        leak_search.bytes += size;
    }
}

/// Copies `text` into `buffer` of `capacity` bytes, cut to fit, terminated.
static void copy_text(char *buffer, size_t capacity, const char *text) {
    if (capacity == 0) return;
    size_t length = strnlen(text, capacity - 1);
    memcpy(buffer, text, length);
    buffer[length] = 0;
}

HOOK_EXPORT int mprof_heap_scope_leaks(uint64_t scope, uintptr_t *addresses, size_t capacity, uint64_t *count,
    uint64_t *bytes, char *failure, size_t failure_capacity) {
    if (failure_capacity > 0) failure[0] = 0;
    if (!tracking_all) {
        if (failure_capacity > 0)
            copy_text(failure, failure_capacity,
                "the hook does not track every block (MPROF_HEAP_TRACK_BLOCKS=1 in the environment it was loaded "
                "with, as mprof test sets it), and a scan needs them all");
        return 2;
    }
    // Every other thread that allocates or frees waits while the table is copied (the scan runs in a copy of the
    // process, which sees this moment) and read.
    int was_in_hook = lock_from_program();
    struct scope *open = scope_named(scope);
    int status = 1;
    if (open != NULL) {
        leak_search.tag = (uint32_t)(open - scopes) + 1;
        leak_search.addresses = addresses;
        leak_search.capacity = capacity;
        leak_search.count = 0;
        leak_search.bytes = 0;
        int error = 0;
        uintptr_t stack_from = (uintptr_t)__builtin_frame_address(0);
        const char *why = reachability_scan(
            -1, 0, hook_page_size, stack_from, 0, &scope_blocks, allocator_usable_size, collect_scope_leaks, &error);
        *count = leak_search.count;
        *bytes = leak_search.bytes;
        status = why == NULL ? 0 : 2;
        if (why != NULL) copy_text(failure, failure_capacity, why);  // copied under the lock: the scan's text is reused
        if (why != NULL) errno = error;
    }
    int saved = errno;
    unlock_to_program(was_in_hook);
    errno = saved;
    return status;
}
