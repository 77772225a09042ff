#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
void *volatile kept[100], *volatile lost;
static void *work(void *unused) {
    for (int i = 0; i < 1000; i++) { void *volatile p = malloc(32); free(p); }
    return unused;
}
int main(void) {
    uint64_t region = 0;
    char path[4096];
    int own = 0;
    // The hook's exported region calls, as HeapRegion makes them.
    int (*begin)(const char *, uint64_t *) = (int (*)(const char *, uint64_t *))dlsym(RTLD_DEFAULT, "mprof_heap_region_begin");
    int (*end)(uint64_t, char *, size_t, int *) = (int (*)(uint64_t, char *, size_t, int *))dlsym(RTLD_DEFAULT, "mprof_heap_region_end");
    if (begin == 0 || end == 0 || begin("", &region) != 0) return 2;
    for (int i = 0; i < 100; i++) kept[i] = malloc(64);
    if (end(region, path, sizeof path, &own) != 0) return 3;
    pthread_t thread;
    pthread_create(&thread, 0, work, 0);
    pthread_join(thread, 0);
    execl("/nonexistent/program", "program", (char *)0);  // fails: the capture goes on
    void *volatile grown = malloc(64);
    if (realloc(grown, SIZE_MAX / 2)) return 1;
    for (int i = 0; i < 40; i++) lost = malloc(48);
    lost = 0;
    free(grown);
    return 0;
}
