// libmprof-heap-hook.so: the first piece of the heap profiler (issue 12). Loaded with LD_PRELOAD, it interposes
// the whole malloc family, forwards every call to the next definition (dlsym(RTLD_NEXT), so glibc's malloc or a
// dynamically linked jemalloc alike), and counts calls and bytes. At exit it writes one line,
//
//     mprof-heap: allocations=N frees=M bytes=B
//
// to the file named by MPROF_HEAP_OUTPUT (nothing if it is unset). No stack capture yet.
//
// Counting:
//   allocations  successful malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
//                valloc and pvalloc calls (a realloc that moves or resizes a block counts as an allocation of
//                the new size and, when the old pointer is not NULL, a free; realloc(p, 0) only as a free)
//   frees        free(p) with p not NULL, plus the frees realloc makes
//   bytes        the sizes asked for, summed over the allocations (not the usable sizes)
// Calls the allocator makes to itself while one of ours is running (the thread-local guard) are forwarded and
// not counted.
//
// Rules a malloc hook must keep:
//   - Forward the WHOLE family to the same allocator: a block from jemalloc must not reach glibc's free, nor
//     the reverse (forwarding to __libc_malloc crashed a jemalloc program: posix_memalign still went to
//     jemalloc). pvalloc, which jemalloc does not define, is made from the next posix_memalign.
//   - dlsym itself may call calloc (for its error buffer) before any real allocator is known: those calls are
//     served from a small static buffer, and frees of its pointers are ignored.
//   - Never call malloc from the hook: the output is written with open/write/close, numbers formatted by hand.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

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

// MARK: Counters, output, guard

static _Atomic uint64_t allocations, frees, bytes;
static int resolving;          // set while dlsym runs, in the constructor (or the first call, if earlier)
static pid_t recording_pid;    // a forked child without exec keeps the parent's counts: it writes nothing
static char output_path[4096]; // copied at start, in case the program changes its environment
static __thread int in_hook __attribute__((tls_model("initial-exec")));

static inline void count_allocation(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&bytes, size, memory_order_relaxed);
}

static inline void count_free(void) {
    atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
}

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

__attribute__((constructor)) static void heap_hook_start(void) {
    resolve();
    recording_pid = getpid();
    const char *path = getenv("MPROF_HEAP_OUTPUT");
    if (path != NULL && strlen(path) < sizeof output_path) memcpy(output_path, path, strlen(path) + 1);
}

static char *append_text(char *at, const char *text) {
    while (*text) *at++ = *text++;
    return at;
}

static char *append_number(char *at, uint64_t value) {
    char digits[20];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count > 0) *at++ = digits[--count];
    return at;
}

__attribute__((destructor)) static void heap_hook_finish(void) {
    if (output_path[0] == 0 || getpid() != recording_pid) return;
    char line[128];
    char *at = append_text(line, "mprof-heap: allocations=");
    at = append_number(at, atomic_load_explicit(&allocations, memory_order_relaxed));
    at = append_text(at, " frees=");
    at = append_number(at, atomic_load_explicit(&frees, memory_order_relaxed));
    at = append_text(at, " bytes=");
    at = append_number(at, atomic_load_explicit(&bytes, memory_order_relaxed));
    *at++ = '\n';
    int saved = errno;
    int descriptor = open(output_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (descriptor >= 0) {
        (void)!write(descriptor, line, (size_t)(at - line));
        close(descriptor);
    }
    errno = saved;
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
    if (in_hook) return next_malloc(size);
    in_hook = 1;
    void *block = next_malloc(size);
    if (block != NULL) count_allocation(size);
    in_hook = 0;
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
    if (in_hook) return next_calloc(count, size);
    in_hook = 1;
    void *block = next_calloc(count, size);
    if (block != NULL) count_allocation(total);
    in_hook = 0;
    return block;
}

EXPORT void free(void *pointer) {
    if (pointer == NULL || is_bootstrap(pointer)) return;
    NEED_NEXT();
    if (in_hook) {
        next_free(pointer);
        return;
    }
    in_hook = 1;
    count_free();
    next_free(pointer);
    in_hook = 0;
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
    if (in_hook) return next_realloc(pointer, size);
    in_hook = 1;
    void *block = next_realloc(pointer, size);
    if (pointer != NULL && size == 0) {
        count_free();  // glibc frees and returns NULL (or a minimum block, counted below)
        if (block != NULL) count_allocation(0);
    } else if (block != NULL) {
        count_allocation(size);
        if (pointer != NULL) count_free();
    }
    in_hook = 0;
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
    if (in_hook) return next_posix_memalign(result, alignment, size);
    in_hook = 1;
    int status = next_posix_memalign(result, alignment, size);
    if (status == 0) count_allocation(size);
    in_hook = 0;
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

static void *aligned_entry(void *(*next)(size_t, size_t), size_t alignment, size_t size) {
    NEED_NEXT();
    if (next_malloc == NULL) return bootstrap_alloc(size, alignment);
    if (in_hook) return next != NULL ? next(alignment, size) : aligned_from_posix_memalign(alignment, size);
    in_hook = 1;
    void *block = next != NULL ? next(alignment, size) : aligned_from_posix_memalign(alignment, size);
    if (block != NULL) count_allocation(size);
    in_hook = 0;
    return block;
}

EXPORT void *aligned_alloc(size_t alignment, size_t size) {
    NEED_NEXT();
    return aligned_entry(next_aligned_alloc, alignment, size);
}

EXPORT void *memalign(size_t alignment, size_t size) {
    NEED_NEXT();
    return aligned_entry(next_memalign, alignment, size);
}

EXPORT void *valloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    NEED_NEXT();
    if (next_valloc == NULL || next_malloc == NULL) return aligned_entry(NULL, page, size);
    if (in_hook) return next_valloc(size);
    in_hook = 1;
    void *block = next_valloc(size);
    if (block != NULL) count_allocation(size);
    in_hook = 0;
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
    return aligned_entry(NULL, page, rounded);
}

EXPORT size_t malloc_usable_size(void *pointer) {
    if (pointer == NULL) return 0;
    if (is_bootstrap(pointer)) return bootstrap_size(pointer);
    NEED_NEXT();
    return next_malloc_usable_size != NULL ? next_malloc_usable_size(pointer) : 0;
}

// Read by swift-autolink-extract when SwiftPM links the product: the flag lands before the libraries the Swift
// driver adds (libstdc++, libm with -static-stdlib), so that none it does not use becomes a dependency.
__attribute__((section(".swift1_autolink_entries"), used)) static const char autolink_entries[] = "-Wl,--as-needed";
