// Maps and unmaps from where the hook's own bookkeeping of the program's mappings could wait for itself:
//
//   mapping-handlers signal   a SIGALRM handler (every 100 µs) that maps, unmaps and allocates, interrupting a
//                             loop that maps and unmaps
//   mapping-handlers fork     fork, with fork handlers that unmap registered before the hook's (by libforking.so's
//                             constructor: a library the program needs is initialised before a preloaded one)
//
// Prints "ok" and exits 0 when done; a deadlock is a hang (the test's timeout).
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

void forking_library_ready(void);

static void handler(int signal) {
    (void)signal;
    void *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped != MAP_FAILED) munmap(mapped, 4096);
    free(malloc(64));
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    if (strcmp(argv[1], "signal") == 0) {
        signal(SIGALRM, handler);
        struct itimerval every = {{0, 100}, {0, 100}};
        setitimer(ITIMER_REAL, &every, NULL);
        for (int index = 0; index < 20000; index += 1) {
            void *mapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (mapped != MAP_FAILED) munmap(mapped, 4096);
        }
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    } else if (strcmp(argv[1], "fork") == 0) {
        forking_library_ready();
        for (int index = 0; index < 20; index += 1) {
            pid_t child = fork();
            if (child == 0) _exit(0);
            if (child < 0 || waitpid(child, NULL, 0) != child) return 1;
        }
    } else {
        return 2;
    }
    puts("ok");
    return 0;
}
