// libforking.so, for mapping-handlers.c: fork handlers that unmap, registered by the library's constructor, so
// before the heap hook's own (a library the program needs is initialised before a preloaded one).
#include <pthread.h>
#include <sys/mman.h>

static void unmap_one(void) {
    void *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped != MAP_FAILED) munmap(mapped, 4096);
}

__attribute__((constructor)) static void registered(void) { pthread_atfork(unmap_one, unmap_one, unmap_one); }

void forking_library_ready(void) {}
