// Item 7: the main thread ends with pthread_exit while a worker carries on: the thread group's leader is a zombie
// and /proc/self/maps reads empty. The worker keeps a block in a global, loses another, and ends the process with
// exit(0), which runs the hook's exit scan on the worker: the kept block must not be called leaked.
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

void *volatile kept;

__attribute__((noinline)) static void lose(void) { void *volatile lost = malloc(333); (void)lost; }

static void *worker(void *unused) {
    (void)unused;
    usleep(100000);  // the main thread has ended by now
    kept = malloc(777);
    lose();
    exit(0);
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, NULL, worker, NULL);
    pthread_exit(NULL);
}
