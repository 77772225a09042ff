// A program of known memory composition, for mprof explain's truth test. It builds, in this order:
//   a data file of FILE_MIB mebibytes (argv[1]), mapped and read page by page   -> mapped files
//   KEPT_MIB of 1,016-byte malloc blocks, kept                                   -> malloc heap (in use)
//   HELD_MIB of 1,016-byte malloc blocks, all but every 64th freed again         -> malloc heap (held free)
//   THREADS threads, each touching STACK_MIB of its own stack, then waiting      -> thread stacks
//   ANON_MIB of anonymous memory from mmap, touched                              -> other anonymous
//   WRITTEN_MIB of the data file mapped again privately and written             -> other anonymous (copies)
// then prints "ready" and waits for the end of its standard input. Every malloc is made by the main thread, so
// the heap is glibc's main arena (the brk heap); blocks of 1,016 bytes are glibc chunks of 1,024.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { FILE_MIB = 100, HELD_MIB = 200, KEPT_MIB = 50, THREADS = 8, STACK_MIB = 8, ANON_MIB = 64, WRITTEN_MIB = 16, BLOCK = 1016 };

static pthread_barrier_t ready;
static int release_pipe[2];

__attribute__((noinline)) static void touch_stack(void) {
    volatile char area[STACK_MIB << 20];
    for (size_t at = 0; at < sizeof area; at += 4096) area[at] = 1;
    pthread_barrier_wait(&ready);
    char byte;
    (void)!read(release_pipe[0], &byte, 1);  // blocks until exit: the stack stays as it is
    area[0] = byte;
}

static void *thread_main(void *unused) {
    (void)unused;
    touch_stack();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    // The data file: written, then mapped privately and read.
    int file = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (file < 0) return 3;
    static char chunk[1 << 20];
    memset(chunk, 'd', sizeof chunk);
    for (int i = 0; i < FILE_MIB; i++)
        if (write(file, chunk, sizeof chunk) != (ssize_t)sizeof chunk) return 3;
    volatile const char *mapped = mmap(NULL, (size_t)FILE_MIB << 20, PROT_READ, MAP_PRIVATE, file, 0);
    if (mapped == MAP_FAILED) return 3;
    long sum = 0;
    for (size_t at = 0; at < (size_t)FILE_MIB << 20; at += 4096) sum += mapped[at];

    size_t held_count = ((size_t)HELD_MIB << 20) / BLOCK, kept_count = ((size_t)KEPT_MIB << 20) / BLOCK;
    char **held = malloc(held_count * sizeof *held), **kept = malloc(kept_count * sizeof *kept);
    // Kept first: blocks allocated after the frees would reuse the freed ones.
    for (size_t i = 0; i < kept_count; i++) memset(kept[i] = malloc(BLOCK), 2, BLOCK);
    for (size_t i = 0; i < held_count; i++) memset(held[i] = malloc(BLOCK), 1, BLOCK);
    for (size_t i = 0; i < held_count; i++)
        if (i % 64 != 0) free(held[i]);

    if (pipe(release_pipe) != 0) return 4;
    pthread_barrier_init(&ready, NULL, THREADS + 1);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, (size_t)(STACK_MIB + 2) << 20);
    for (int i = 0; i < THREADS; i++) {
        pthread_t thread;
        if (pthread_create(&thread, &attributes, thread_main, NULL) != 0) return 4;
    }
    pthread_barrier_wait(&ready);

    char *anonymous = mmap(NULL, (size_t)ANON_MIB << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (anonymous == MAP_FAILED) return 5;
    memset(anonymous, 3, (size_t)ANON_MIB << 20);
    // Written through a private mapping, the file's pages become the process's own copies: anonymous memory.
    char *written = mmap(NULL, (size_t)WRITTEN_MIB << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    if (written == MAP_FAILED) return 5;
    memset(written, 4, (size_t)WRITTEN_MIB << 20);

    printf("ready %ld\n", sum > 0 ? 1L : 0L);
    fflush(stdout);
    char byte;
    while (read(0, &byte, 1) > 0) {}
    return 0;
}
