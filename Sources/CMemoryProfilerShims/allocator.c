// Which allocator serves this process's malloc, and what it says about its memory. The allocator is the object that
// defines the `malloc` the program's calls reach (looked up through the dynamic linker: a preloaded or linked
// jemalloc replaces glibc's), and the reading is that allocator's own: glibc's mallinfo2, jemalloc's mallctl,
// gperftools' MallocExtension. Found once, on the first call.
#define _GNU_SOURCE
#include "CMemoryProfilerShims.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

typedef int (*mallctl_function)(const char *, void *, size_t *, void *, size_t);
typedef int (*numeric_property_function)(const char *, size_t *);

static pthread_once_t found_once = PTHREAD_ONCE_INIT;
static int found_kind = CMP_ALLOCATOR_UNKNOWN;
static char found_library[4096];
static mallctl_function found_mallctl;
static numeric_property_function found_numeric_property;

/// `name` as the object at `base` defines it itself (not one of its dependencies), or NULL.
static void *own_symbol(void *handle, const char *name, const void *base) {
    if (handle == NULL) return NULL;
    void *symbol = dlsym(handle, name);
    Dl_info info;
    if (symbol == NULL || dladdr(symbol, &info) == 0 || info.dli_fbase != base) return NULL;
    return symbol;
}

static void find_allocator(void) {
    void *malloc_address = dlsym(RTLD_DEFAULT, "malloc");
    if (malloc_address == NULL) {
        // No dynamic linker to ask: a static executable, whose malloc is its C library's.
#if defined(__GLIBC__)
        found_kind = CMP_ALLOCATOR_GLIBC;
        strcpy(found_library, "(linked statically)");
#endif
        return;
    }
    // Under mprof's heap hook, malloc is the hook's, which forwards to the allocator that really serves.
    // Only when malloc is the hook's: with another allocator before the hook in LD_PRELOAD, that one serves.
    mprof_heap_next_malloc_function next_malloc = (mprof_heap_next_malloc_function)dlsym(RTLD_DEFAULT, "mprof_heap_next_malloc");
    Dl_info hook, served;
    if (next_malloc != NULL && dladdr((void *)next_malloc, &hook) != 0 && dladdr(malloc_address, &served) != 0 &&
        hook.dli_fbase == served.dli_fbase) {
        void *next = next_malloc();
        if (next != NULL) malloc_address = next;
    }
    Dl_info info;
    if (dladdr(malloc_address, &info) == 0 || info.dli_fname == NULL) return;
    strncpy(found_library, info.dli_fname, sizeof found_library - 1);
    // The main program is "" to dlopen's lookup (its path would not name it). Its program headers are in it.
    Dl_info program;
    void *headers = (void *)getauxval(AT_PHDR);
    int is_program = headers != NULL && dladdr(headers, &program) != 0 && program.dli_fbase == info.dli_fbase;
    void *handle = dlopen(is_program ? NULL : info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == NULL) return;
    if ((found_mallctl = (mallctl_function)own_symbol(handle, "mallctl", info.dli_fbase)) != NULL) {
        found_kind = CMP_ALLOCATOR_JEMALLOC;
    } else if ((found_numeric_property = (numeric_property_function)own_symbol(
                    handle, "MallocExtension_GetNumericProperty", info.dli_fbase)) != NULL) {
        found_kind = CMP_ALLOCATOR_TCMALLOC;
    } else if (own_symbol(handle, "mi_version", info.dli_fbase) != NULL) {
        found_kind = CMP_ALLOCATOR_MIMALLOC;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    } else if (own_symbol(handle, "mallinfo2", info.dli_fbase) != NULL &&
               own_symbol(handle, "__libc_malloc", info.dli_fbase) != NULL) {
        found_kind = CMP_ALLOCATOR_GLIBC;
#endif
    }
    dlclose(handle);  // RTLD_NOLOAD took a reference: the object stays loaded, as before
}

int cmp_malloc_allocator(char *library, size_t capacity) {
    pthread_once(&found_once, find_allocator);
    if (library != NULL && capacity > 0) {
        strncpy(library, found_library, capacity - 1);
        library[capacity - 1] = 0;
    }
    return found_kind;
}

static int jemalloc_size(const char *name, long long *value) {
    size_t result = 0, length = sizeof result;
    if (found_mallctl(name, &result, &length, NULL, 0) != 0 || length != sizeof result) return -1;
    *value = (long long)result;
    return 0;
}

static int tcmalloc_size(const char *name, long long *value) {
    size_t result = 0;
    if (!found_numeric_property(name, &result)) return -1;
    *value = (long long)result;
    return 0;
}

int cmp_malloc_read(struct cmp_malloc_reading *reading) {
    memset(reading, 0, sizeof *reading);
    reading->releasable = reading->retained = -1;
    switch (cmp_malloc_allocator(NULL, 0)) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    case CMP_ALLOCATOR_GLIBC: {
        struct mallinfo2 info = mallinfo2();
        reading->in_use = (long long)(info.uordblks + info.hblkhd);
        // Free chunks inside the arenas (the top chunk among them), whose pages stay the process's until
        // malloc_trim or a large enough free at the top gives them back; blocks from mmap go back at free.
        reading->held_free = (long long)info.fordblks;
        reading->releasable = (long long)info.keepcost;
        return 0;
    }
#endif
    case CMP_ALLOCATOR_JEMALLOC: {
        // The statistics are a snapshot taken when "epoch" is written.
        uint64_t epoch = 1;
        size_t length = sizeof epoch;
        if (found_mallctl("epoch", &epoch, &length, &epoch, sizeof epoch) != 0) return -1;
        long long allocated, resident, retained;
        if (jemalloc_size("stats.allocated", &allocated) != 0 || jemalloc_size("stats.resident", &resident) != 0)
            return -1;
        reading->in_use = allocated;
        // Resident pages the program does not use: free space in active pages, dirty and muzzy pages not yet
        // purged, and jemalloc's own metadata.
        reading->held_free = resident > allocated ? resident - allocated : 0;
        if (jemalloc_size("stats.retained", &retained) == 0) reading->retained = retained;
        return 0;
    }
    case CMP_ALLOCATOR_TCMALLOC: {
        long long allocated, heap, unmapped;
        if (tcmalloc_size("generic.current_allocated_bytes", &allocated) != 0 ||
            tcmalloc_size("generic.heap_size", &heap) != 0 ||
            tcmalloc_size("tcmalloc.pageheap_unmapped_bytes", &unmapped) != 0)
            return -1;
        reading->in_use = allocated;
        // The heap it holds mapped, less what the program uses: its page heap's free pages and its caches.
        long long mapped = heap - unmapped;
        reading->held_free = mapped > allocated ? mapped - allocated : 0;
        reading->retained = unmapped;
        return 0;
    }
    default:
        errno = ENOTSUP;
        return -1;
    }
}

/// RssAnon of /proc/self/status in bytes, read with system calls only (it runs in a forked child); -1 on failure.
static long long anonymous_resident_bytes(void) {
    int file = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (file < 0) return -1;
    char text[8192];
    ssize_t length = read(file, text, sizeof text - 1);
    close(file);
    if (length <= 0) return -1;
    text[length] = 0;
    const char *field = strstr(text, "RssAnon:");
    if (field == NULL) return -1;
    long long kibibytes = 0;
    for (field += 8; *field == ' ' || *field == '\t'; field++) {}
    for (; *field >= '0' && *field <= '9' && kibibytes < (1LL << 50); field++) kibibytes = kibibytes * 10 + (*field - '0');
    return kibibytes * 1024;
}

long long cmp_malloc_trimmable_bytes(void) {
#if defined(__GLIBC__)
    if (cmp_malloc_allocator(NULL, 0) != CMP_ALLOCATOR_GLIBC) {
        errno = ENOTSUP;
        return -1;
    }
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) return -1;
    pid_t child = fork();
    if (child < 0) {
        close(ends[0]);
        close(ends[1]);
        return -1;
    }
    if (child == 0) {
        // A copy of this process: what malloc_trim gives back here, it would give back there. glibc makes malloc
        // usable in the child of a fork, whatever the other threads held.
        long long before = anonymous_resident_bytes();
        malloc_trim(0);
        long long after = anonymous_resident_bytes();
        long long released = before >= 0 && after >= 0 && before > after ? before - after : (before >= 0 && after >= 0 ? 0 : -1);
        (void)!write(ends[1], &released, sizeof released);
        _exit(0);
    }
    close(ends[1]);
    long long released = -1;
    ssize_t got = read(ends[0], &released, sizeof released);
    close(ends[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (got != (ssize_t)sizeof released || released < 0) {
        errno = EIO;
        return -1;
    }
    return released;
#else
    errno = ENOTSUP;
    return -1;
#endif
}
