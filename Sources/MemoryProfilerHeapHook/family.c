// libmprof-heap-hook.so: the heap profiler's hook, loaded with LD_PRELOAD by `mprof run --heap`. It
// interposes the whole malloc family, forwards every call to the next definition (dlsym(RTLD_NEXT): glibc's malloc
// or a dynamically linked jemalloc alike), and tells the recorder (recorder.c) about each allocation and free. It
// also wraps swift_allocObject, which Swift code outside the runtime calls through the PLT, to learn the type of
// the object the next allocation is.
//
// What counts:
//   allocations  successful malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
//                valloc and pvalloc calls (a realloc is a free of the old block, when there is one, and an
//                allocation of the new one; realloc(p, 0) that returns NULL only a free)
//   frees        free(p) with p not NULL, plus the frees realloc makes
//   size         the size asked for (not the allocator's usable size)
// Calls the allocator, the loader or the unwinder make while one of ours is running (the thread-local guard) are
// forwarded and not recorded.
//
// Rules a malloc hook must keep:
//   - Forward the WHOLE family to the same allocator: a block from jemalloc must not reach glibc's free, nor
//     the reverse (a hook that forwarded malloc to __libc_malloc while posix_memalign went to jemalloc would hand
//     each allocator the other's blocks). pvalloc, which jemalloc does not define, is made from the next
//     posix_memalign.
//   - dlsym itself may call calloc (for its error buffer) before any real allocator is known: those calls are
//     served from a small static buffer, and frees of its pointers are ignored.
//   - Never call malloc from the hook, and keep errno as the allocator left it.
#define _GNU_SOURCE
#include "hook.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static size_t usable_size_of(void *block);

#define EXPORT HOOK_EXPORT

// MARK: The next allocator

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static int (*next_posix_memalign)(void **, size_t, size_t);
static void *(*next_aligned_alloc)(size_t, size_t);
static void *(*next_memalign)(size_t, size_t);
static void *(*next_valloc)(size_t);
static size_t (*next_malloc_usable_size)(void *);

// MARK: Bootstrap buffer, for allocations made while the next allocator is being looked up

#define BOOTSTRAP_BYTES (64 * 1024)
#define BOOTSTRAP_HEADER 16  // the block's size, kept 16 bytes before it so blocks stay 16-byte aligned
static _Alignas(4096) unsigned char bootstrap[BOOTSTRAP_BYTES];
static size_t bootstrap_used;  // only touched while resolving, which one thread does in the constructor

static int is_bootstrap(const void *pointer) {
    return (const unsigned char *)pointer >= bootstrap && (const unsigned char *)pointer < bootstrap + BOOTSTRAP_BYTES;
}

static void *bootstrap_alloc(size_t size, size_t alignment) {
    if (alignment < 16) alignment = 16;
    size_t start = (bootstrap_used + BOOTSTRAP_HEADER + alignment - 1) & ~(alignment - 1);
    if (start > BOOTSTRAP_BYTES || size > BOOTSTRAP_BYTES - start) return NULL;
    bootstrap_used = start + size;
    memcpy(bootstrap + start - sizeof(size_t), &size, sizeof(size_t));
    return bootstrap + start;  // static storage: already zero, as calloc needs
}

static size_t bootstrap_size(const void *pointer) {
    size_t size;
    memcpy(&size, (const unsigned char *)pointer - sizeof(size_t), sizeof(size_t));
    return size;
}

// MARK: Guard and recording

__thread int hook_in_hook __attribute__((tls_model("initial-exec")));
__thread const void *hook_pending_metadata __attribute__((tls_model("initial-exec")));
__thread size_t hook_pending_size __attribute__((tls_model("initial-exec")));
static int resolving;  // set while dlsym runs, in the constructor (or the first call, if earlier)

// What this thread allocated while the hook is loaded, recording or not: the line profiler reads it before and
// after each line, so a line's allocations are its own thread's, exactly (mprof_heap_thread_allocated).
static __thread uint64_t thread_allocated_bytes __attribute__((tls_model("initial-exec")));
static __thread uint64_t thread_allocations __attribute__((tls_model("initial-exec")));

HOOK_EXPORT void mprof_heap_thread_allocated(uint64_t *bytes, uint64_t *allocations) {
    *bytes = thread_allocated_bytes;
    *allocations = thread_allocations;
}

static void resolve(void);

// The malloc the hook forwards to: the allocator that really serves the program (glibc's, or jemalloc's preloaded
// after the hook), for mprof's allocator readings, which would otherwise find only the hook.
HOOK_EXPORT void *mprof_heap_next_malloc(void) {
    resolve();
    return (void *)next_malloc;
}

static inline void count_allocation(const void *block, size_t size) {
    thread_allocated_bytes += size;
    thread_allocations += 1;
    int saved = errno;
    uint64_t task_scope;
    int in_scope = scopes_allocation(block, size, &task_scope);
    // A task's allocation on a thread of no scope's: marked as the scope's in the capture, for this record alone.
    if (__builtin_expect(task_scope != 0, 0)) recorder_scope_mark(task_scope, 1);
    recorder_allocation(block, size, in_scope);
    if (__builtin_expect(task_scope != 0, 0)) recorder_scope_mark(task_scope, 2);
    errno = saved;
}

static inline void count_free(const void *block) {
    int saved = errno;
    int in_scope = scopes_free(block);
    recorder_free(block, in_scope);
    errno = saved;
}

// MARK: Signal handlers that interrupt the hook

// A signal handler that allocates while its thread is inside the hook (hook_in_hook 1) must not wait for the
// recorder's lock, which its thread may hold: its calls are forwarded at once and queued here, per thread, and the
// interrupted call records them before it returns (drain_queue). The queue is a fixed array written only by its own
// thread: a slot is taken with one atomic add (a handler that interrupts another's push takes the next one) and
// filled before the handler returns, so every slot below the count is whole by the time the interrupted call reads
// it. Events beyond the queue's size are counted, and the capture says how many were not recorded.
#define QUEUE_SIZE 64
#define QUEUED_FREE SIZE_MAX
static __thread unsigned queued_count __attribute__((tls_model("initial-exec")));
static __thread struct {
    uintptr_t block, size, caller;
} queued[QUEUE_SIZE] __attribute__((tls_model("initial-exec")));
uint64_t hook_signal_events_missed;

static void queue_event(const void *block, size_t size, uintptr_t caller) {
    if (!__atomic_load_n(&hook_recording, __ATOMIC_RELAXED)) return;
    // Recorded at once when this thread has nothing queued (so nothing of its own is left to come before it) and
    // the lock is free: a handler that keeps interrupting a call holding the lock (a storm of signals) is the one
    // case left for the queue.
    // (Never while scopes count: their lock may be the one this thread holds; the queue takes the event to them.)
    if (__atomic_load_n(&queued_count, __ATOMIC_RELAXED) == 0 && !scopes_active()) {
        int saved = errno;
        int recorded = recorder_try_record(block, size, caller);
        errno = saved;
        if (recorded) return;
    }
    unsigned slot = __atomic_fetch_add(&queued_count, 1, __ATOMIC_RELAXED);
    if (slot >= QUEUE_SIZE) return;  // counted when the queue is drained
    queued[slot].block = (uintptr_t)block;
    queued[slot].size = size;
    queued[slot].caller = caller;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/// Records the queued events, in the order they were made (hook_in_hook is 1: handlers that run meanwhile queue
/// theirs behind).
static void drain_queue(void) {
    int saved = errno;
    unsigned done = 0;
    for (;;) {
        unsigned count = __atomic_load_n(&queued_count, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        for (; done < count; done += 1) {
            if (done >= QUEUE_SIZE) {
                __atomic_add_fetch(&hook_signal_events_missed, 1, __ATOMIC_RELAXED);
            } else if (queued[done].size == QUEUED_FREE) {
                int in_scope = scopes_free((const void *)queued[done].block);
                recorder_free((const void *)queued[done].block, in_scope);
            } else {
                uint64_t task_scope;
                int in_scope = scopes_allocation((const void *)queued[done].block, queued[done].size, &task_scope);
                recorder_late_allocation((const void *)queued[done].block, queued[done].size, queued[done].caller, in_scope);
            }
        }
        if (__atomic_compare_exchange_n(&queued_count, &count, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) break;
    }
    errno = saved;
}

/// Enters the hook from the program's own call. What a handler queued on this thread and is not yet recorded
/// (one that ran in leave_hook's last instants) is recorded first, so that the thread's records keep the order of
/// its calls: recorded after this call's own, a block's allocation could come after its free.
static inline void enter_hook(void) {
    hook_in_hook = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (__builtin_expect(__atomic_load_n(&queued_count, __ATOMIC_RELAXED) != 0, 0)) drain_queue();
}

/// Leaves the hook: whatever a handler queued meanwhile recorded, then the guard cleared. A handler that queued
/// between the drain and the clearing is drained again; one that runs after the clearing records its own calls,
/// after anything still queued (enter_hook).
static inline void leave_hook(void) {
    for (;;) {
        if (__builtin_expect(__atomic_load_n(&queued_count, __ATOMIC_RELAXED) != 0, 0)) drain_queue();
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        hook_in_hook = 0;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (__builtin_expect(__atomic_load_n(&queued_count, __ATOMIC_RELAXED) == 0, 1)) return;
        hook_in_hook = 1;
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
}

HOOK_HIDDEN void hook_leave(void) { leave_hook(); }

#define CALLER ((uintptr_t)__builtin_return_address(0))

static void resolve(void) {
    if (next_malloc != NULL || resolving) return;
    resolving = 1;
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
    next_aligned_alloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "aligned_alloc");
    next_memalign = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "memalign");
    next_valloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "valloc");
    next_malloc_usable_size = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    // Last: a non-NULL next_malloc is what the other functions take to mean "resolved".
    void *(*found)(size_t) = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    resolving = 0;
    if (found == NULL || next_free == NULL || next_calloc == NULL || next_realloc == NULL ||
        next_posix_memalign == NULL) {
        static const char message[] = "mprof-heap: no next malloc family (dlsym RTLD_NEXT failed)\n";
        (void)!write(2, message, sizeof message - 1);
        _exit(127);
    }
    next_malloc = found;
}

static void resolve_exec(void);

typedef void *(*swift_alloc_object_function)(const void *, size_t, size_t) __attribute__((swiftcall));
static swift_alloc_object_function next_swift_allocObject;

__attribute__((constructor)) static void heap_hook_start(void) {
    hook_in_hook = 2;
    resolve();
    next_swift_allocObject =
        (swift_alloc_object_function)dlsym(RTLD_NEXT, "swift_allocObject");
    resolve_exec();
    scopes_start(usable_size_of);
    recorder_start(usable_size_of);
    // quick_exit runs at_quick_exit handlers, last registered first, and no destructors: registered here, before the
    // program registers any, the hook's runs after them and finishes the capture as a normal exit does.
    at_quick_exit(recorder_finish);
    hook_in_hook = 0;
}

// MARK: The family

// Each entry point: before the next allocator is known, resolve it (or, inside dlsym, use the bootstrap
// buffer); when the thread is already inside the hook, forward uncounted.
#define NEED_NEXT() \
    do { \
        if (__builtin_expect(next_malloc == NULL, 0)) resolve(); \
    } while (0)

EXPORT void *malloc(size_t size) {
    NEED_NEXT();
    if (next_malloc == NULL) return bootstrap_alloc(size, 16);
    if (hook_in_hook) {
        void *block = next_malloc(size);
        if (hook_in_hook == 1 && block != NULL) queue_event(block, size, CALLER);
        return block;
    }
    enter_hook();
    void *block = next_malloc(size);
    if (block != NULL) count_allocation(block, size);
    leave_hook();
    return block;
}

EXPORT void *calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    NEED_NEXT();
    if (next_malloc == NULL) return bootstrap_alloc(total, 16);  // dlsym's own calloc
    if (hook_in_hook) {
        void *block = next_calloc(count, size);
        if (hook_in_hook == 1 && block != NULL) queue_event(block, total, CALLER);
        return block;
    }
    enter_hook();
    void *block = next_calloc(count, size);
    if (block != NULL) count_allocation(block, total);
    leave_hook();
    return block;
}

EXPORT void free(void *pointer) {
    if (pointer == NULL || is_bootstrap(pointer)) return;
    NEED_NEXT();
    if (hook_in_hook) {
        if (hook_in_hook == 1) queue_event(pointer, QUEUED_FREE, 0);
        next_free(pointer);
        return;
    }
    enter_hook();
    count_free(pointer);  // before the block is free: another thread may be given it at once
    next_free(pointer);
    leave_hook();
}

EXPORT void *realloc(void *pointer, size_t size) {
    NEED_NEXT();
    if (next_malloc == NULL) {
        void *block = bootstrap_alloc(size, 16);
        size_t old_size = pointer != NULL ? bootstrap_size(pointer) : 0;
        if (block != NULL && pointer != NULL) memcpy(block, pointer, old_size < size ? old_size : size);
        return block;
    }
    if (pointer != NULL && is_bootstrap(pointer)) {
        // A bootstrap block moves to the real allocator; the old one stays where it is.
        void *block = malloc(size);
        if (block != NULL) memcpy(block, pointer, bootstrap_size(pointer) < size ? bootstrap_size(pointer) : size);
        return block;
    }
    if (hook_in_hook) {
        void *block = next_realloc(pointer, size);
        if (hook_in_hook == 1) {
            if (pointer != NULL && (block != NULL || size == 0)) queue_event(pointer, QUEUED_FREE, 0);
            if (block != NULL) queue_event(block, size, CALLER);
        }
        return block;
    }
    enter_hook();
    // The old block is recorded as freed before the call, like free: once realloc moves it, another thread may be
    // given its address. If realloc fails, the old block is still there: a restore record undoes the free.
    if (pointer != NULL) count_free(pointer);
    void *block = next_realloc(pointer, size);
    if (block != NULL) {
        count_allocation(block, size);
    } else if (pointer != NULL && size != 0) {
        int saved = errno;
        int in_scope = scopes_restore(pointer);
        recorder_restore(pointer, in_scope);
        errno = saved;
    }
    leave_hook();
    return block;
}

EXPORT void *reallocarray(void *pointer, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(pointer, total);
}

EXPORT int posix_memalign(void **result, size_t alignment, size_t size) {
    NEED_NEXT();
    if (next_malloc == NULL) {
        *result = bootstrap_alloc(size, alignment);
        return *result != NULL ? 0 : ENOMEM;
    }
    if (hook_in_hook) {
        int status = next_posix_memalign(result, alignment, size);
        if (hook_in_hook == 1 && status == 0) queue_event(*result, size, CALLER);
        return status;
    }
    enter_hook();
    int status = next_posix_memalign(result, alignment, size);
    if (status == 0) count_allocation(*result, size);
    leave_hook();
    return status;
}

// aligned_alloc, memalign, valloc and pvalloc: forwarded to their own next definition when there is one,
// otherwise made from the next posix_memalign (same allocator either way).
static void *aligned_from_posix_memalign(size_t alignment, size_t size) {
    void *block = NULL;
    if (alignment < sizeof(void *)) alignment = sizeof(void *);
    int status = next_posix_memalign(&block, alignment, size);
    if (status != 0) {
        errno = status;
        return NULL;
    }
    return block;
}

static void *aligned_entry(void *(*next)(size_t, size_t), size_t alignment, size_t size, uintptr_t caller) {
    NEED_NEXT();
    if (next_malloc == NULL) return bootstrap_alloc(size, alignment);
    if (hook_in_hook) {
        void *block = next != NULL ? next(alignment, size) : aligned_from_posix_memalign(alignment, size);
        if (hook_in_hook == 1 && block != NULL) queue_event(block, size, caller);
        return block;
    }
    enter_hook();
    void *block = next != NULL ? next(alignment, size) : aligned_from_posix_memalign(alignment, size);
    if (block != NULL) count_allocation(block, size);
    leave_hook();
    return block;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    NEED_NEXT();
    return aligned_entry(next_aligned_alloc, alignment, size, CALLER);
}

EXPORT void *memalign(size_t alignment, size_t size) {
    NEED_NEXT();
    return aligned_entry(next_memalign, alignment, size, CALLER);
}

EXPORT void *valloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    NEED_NEXT();
    if (next_valloc == NULL || next_malloc == NULL) return aligned_entry(NULL, page, size, CALLER);
    if (hook_in_hook) {
        void *block = next_valloc(size);
        if (hook_in_hook == 1 && block != NULL) queue_event(block, size, CALLER);
        return block;
    }
    enter_hook();
    void *block = next_valloc(size);
    if (block != NULL) count_allocation(block, size);
    leave_hook();
    return block;
}

EXPORT void *pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    rounded &= ~(page - 1);
    if (rounded == 0) rounded = page;
    return aligned_entry(NULL, page, rounded, CALLER);
}

EXPORT size_t malloc_usable_size(void *pointer) {
    if (pointer == NULL) return 0;
    if (is_bootstrap(pointer)) return bootstrap_size(pointer);
    NEED_NEXT();
    return next_malloc_usable_size != NULL ? next_malloc_usable_size(pointer) : 0;
}

/// The allocator's usable size of a block (the next malloc_usable_size), 0 when unknown: the leak scan's.
static size_t usable_size_of(void *block) {
    return next_malloc_usable_size != NULL && block != NULL ? next_malloc_usable_size(block) : 0;
}

// MARK: Exec

// A program that replaces itself with another (exec) ends its capture there; the record says with what, so that a
// capture without an end is not taken for a killed program's. glibc's exec functions call execve internally, not
// through the PLT, so each is wrapped.
extern char **environ;
#define MAX_EXEC_ARGUMENTS 4096

typedef int (*exec_path_function)(const char *, char *const[]);
typedef int (*exec_environment_function)(const char *, char *const[], char *const[]);
typedef int (*exec_descriptor_function)(int, char *const[], char *const[]);

// Looked up at start: a vfork child calling exec must not call dlsym (which may allocate) in its parent's memory.
static exec_environment_function next_execve, next_execvpe;
static exec_path_function next_execv, next_execvp;
static exec_descriptor_function next_fexecve;

typedef int (*dlclose_function)(void *);
static dlclose_function next_dlclose;
uint32_t hook_code_generation;

// MARK: dlclose

EXPORT int dlclose(void *handle) {
    int result = next_dlclose != NULL ? next_dlclose(handle) : -1;
    __atomic_add_fetch(&hook_code_generation, 1, __ATOMIC_RELEASE);
    int saved = errno;
    recorder_modules_changed();  // the modules loaded now, named again
    errno = saved;
    return result;
}

static void resolve_exec(void) {
    next_dlclose = (dlclose_function)dlsym(RTLD_NEXT, "dlclose");
    next_execve = (exec_environment_function)dlsym(RTLD_NEXT, "execve");
    next_execvpe = (exec_environment_function)dlsym(RTLD_NEXT, "execvpe");
    next_execv = (exec_path_function)dlsym(RTLD_NEXT, "execv");
    next_execvp = (exec_path_function)dlsym(RTLD_NEXT, "execvp");
    next_fexecve = (exec_descriptor_function)dlsym(RTLD_NEXT, "fexecve");
}


/// Notes the exec inside the hook: a signal handler that allocates meanwhile must not wait for the recorder's lock.
static void note_exec(const char *path) {
    if (hook_in_hook) return;
    enter_hook();
    recorder_exec(path);
    leave_hook();
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
    note_exec(path);
    return next_execve != NULL ? next_execve(path, argv, envp) : (errno = ENOSYS, -1);
}

EXPORT int execv(const char *path, char *const argv[]) {
    note_exec(path);
    return next_execv != NULL ? next_execv(path, argv) : (errno = ENOSYS, -1);
}

EXPORT int execvp(const char *file, char *const argv[]) {
    note_exec(file);
    return next_execvp != NULL ? next_execvp(file, argv) : (errno = ENOSYS, -1);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
    note_exec(file);
    return next_execvpe != NULL ? next_execvpe(file, argv, envp) : (errno = ENOSYS, -1);
}

EXPORT int fexecve(int descriptor, char *const argv[], char *const envp[]) {
    note_exec("(a file descriptor)");
    return next_fexecve != NULL ? next_fexecve(descriptor, argv, envp) : (errno = ENOSYS, -1);
}

// The list forms: their arguments gathered into an array on the stack (no malloc), then the vector form.
#define GATHER_ARGUMENTS(first, list, arguments, count) \
    do { \
        (arguments)[0] = (char *)(first); \
        (count) = 1; \
        char *next_argument; \
        do { \
            next_argument = va_arg(list, char *); \
            if ((count) < MAX_EXEC_ARGUMENTS) (arguments)[(count)++] = next_argument; \
        } while (next_argument != NULL); \
        (arguments)[(count) < MAX_EXEC_ARGUMENTS ? (count) : MAX_EXEC_ARGUMENTS - 1] = NULL; \
    } while (0)

EXPORT int execl(const char *path, const char *argument, ...) {
    char *arguments[MAX_EXEC_ARGUMENTS];
    int count;
    va_list list;
    va_start(list, argument);
    GATHER_ARGUMENTS(argument, list, arguments, count);
    va_end(list);
    if (count >= MAX_EXEC_ARGUMENTS) return (errno = E2BIG, -1);
    return execv(path, arguments);
}

EXPORT int execlp(const char *file, const char *argument, ...) {
    char *arguments[MAX_EXEC_ARGUMENTS];
    int count;
    va_list list;
    va_start(list, argument);
    GATHER_ARGUMENTS(argument, list, arguments, count);
    va_end(list);
    if (count >= MAX_EXEC_ARGUMENTS) return (errno = E2BIG, -1);
    return execvp(file, arguments);
}

EXPORT int execle(const char *path, const char *argument, ...) {
    char *arguments[MAX_EXEC_ARGUMENTS];
    int count;
    va_list list;
    va_start(list, argument);
    GATHER_ARGUMENTS(argument, list, arguments, count);
    char *const *environment = va_arg(list, char *const *);
    va_end(list);
    if (count >= MAX_EXEC_ARGUMENTS) return (errno = E2BIG, -1);
    return execve(path, arguments, environment);
}

// MARK: Exit

// A program that ends with _exit (or _Exit) runs no destructors: the capture is finished here, so that it reads as
// complete rather than as a killed program's. (quick_exit reaches glibc's own _exit directly: see at_quick_exit in
// the constructor. A raw exit_group system call is not seen: mprof run says so after the run.) (A vfork child that calls _exit shares the parent's memory: the
// recorder finishes only in the process that records.)
EXPORT __attribute__((noreturn)) void _exit(int status) {
    recorder_finish();  // does nothing when a signal handler interrupted this thread inside the hook
    typedef void (*exit_function)(int) __attribute__((noreturn));
    static exit_function next__exit;
    if (next__exit == NULL) next__exit = (exit_function)dlsym(RTLD_NEXT, "_exit");
    if (next__exit != NULL) next__exit(status);
    for (;;) syscall(SYS_exit_group, status);
}

EXPORT __attribute__((noreturn)) void _Exit(int status) { _exit(status); }

// MARK: Swift

// Swift code calls swift_allocObject(metadata, size, alignment mask) for every class instance, closure context and
// box; the runtime allocates the object with swift_slowAlloc, that is malloc (or posix_memalign for large
// alignments) of exactly `size` bytes. The wrapper notes the type for that allocation. Calls made inside
// libswiftCore bind directly (its symbols are protected) and are not seen, nor are any in a program linked with
// -static-stdlib: those objects are recorded as plain allocations.
EXPORT __attribute__((swiftcall)) void *swift_allocObject(const void *metadata, size_t size, size_t alignment_mask) {
    if (__builtin_expect(next_swift_allocObject == NULL, 0)) {
        // The runtime was loaded after start (a dlopen'ed Swift library): look it up now, unrecorded.
        HOOK_INTERNAL(next_swift_allocObject = (swift_alloc_object_function)dlsym(RTLD_NEXT, "swift_allocObject"));
        if (next_swift_allocObject == NULL) abort();  // called, yet no runtime defines it: nothing to forward to
    }
    const void *outer = hook_pending_metadata;
    size_t outer_size = hook_pending_size;
    hook_pending_metadata = metadata;
    hook_pending_size = size;
    void *object = next_swift_allocObject(metadata, size, alignment_mask);
    hook_pending_metadata = outer;
    hook_pending_size = outer_size;
    return object;
}

// Read by swift-autolink-extract when SwiftPM links the product: the flag lands before the libraries the Swift
// driver adds (libstdc++, libm with -static-stdlib), so that none it does not use becomes a dependency.
__attribute__((section(".swift1_autolink_entries"), used)) static const char autolink_entries[] = "-Wl,--as-needed";

// MARK: The program's address space
//
// The program may map over, unmap or move any memory it likes, the hook's included (MAP_FIXED at an address it
// did not reserve, a munmap of a range it found in /proc/self/maps): the hook's records must then never land in
// what is the program's memory from that moment. mmap, munmap and mremap tell the recorder first, then make the
// system call; calls the hook makes for itself (hook_mmap) and calls made inside the hook (the unwinder's) go
// straight to the kernel.

static inline int replaces_memory(int flags) {
    return (flags & MAP_FIXED) != 0 && (flags & MAP_FIXED_NOREPLACE) != MAP_FIXED_NOREPLACE;
}

EXPORT void *mmap(void *address, size_t length, int protection, int flags, int descriptor, off_t offset) {
    if (hook_in_hook == 0 && replaces_memory(flags)) recorder_address_space_changing((uintptr_t)address, length);
    return (void *)syscall(SYS_mmap, address, length, protection, flags, descriptor, offset);
}

EXPORT void *mmap64(void *address, size_t length, int protection, int flags, int descriptor, off64_t offset) {
    return mmap(address, length, protection, flags, descriptor, (off_t)offset);
}

EXPORT int munmap(void *address, size_t length) {
    if (hook_in_hook == 0) recorder_address_space_changing((uintptr_t)address, length);
    return (int)syscall(SYS_munmap, address, length);
}

EXPORT void *mremap(void *address, size_t length, size_t new_length, int flags, ...) {
    void *new_address = NULL;
    if (flags & MREMAP_FIXED) {
        va_list arguments;
        va_start(arguments, flags);
        new_address = va_arg(arguments, void *);
        va_end(arguments);
    }
    if (hook_in_hook == 0) {
        recorder_address_space_changing((uintptr_t)address, length);
        if (flags & MREMAP_FIXED) recorder_address_space_changing((uintptr_t)new_address, new_length);
    }
    return (void *)syscall(SYS_mremap, address, length, new_length, flags, new_address);
}
