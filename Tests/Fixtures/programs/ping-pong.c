#include <pthread.h>
#include <stdlib.h>
static void *volatile shared;
static volatile int stage;
static void *worker(void *unused) {
    for (int i = 0; i < 100; i++) {
        while (stage != 1) {}
        free(shared);
        shared = malloc(48);
        stage = 2;
    }
    return unused;
}
int main(void) {
    pthread_t thread;
    pthread_create(&thread, 0, worker, 0);
    for (int i = 0; i < 100; i++) {
        shared = malloc(48);
        stage = 1;
        while (stage != 2) {}
        stage = 0;
        free(shared);
    }
    pthread_join(thread, 0);
    return 0;
}
