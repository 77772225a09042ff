#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
void *volatile kept[300], *volatile lost;
static void *work(void *unused) {
    for (int i = 0; i < 20000; i++) { void *volatile p = malloc(16 + i % 40); free(p); }
    return unused;
}
int main(void) {
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) pthread_create(&threads[i], 0, work, 0);
    void *volatile grown = malloc(64);
    void *volatile failed = realloc(grown, SIZE_MAX / 2);
    if (failed) return 1;
    void *volatile unseen = malloc(200);
    __libc_free(unseen);
    void *volatile again = malloc(200);
    free(again);
    void *volatile foreign = __libc_malloc(48);
    free(foreign);
    for (int i = 0; i < 300; i++) kept[i] = malloc(24 + i);
    for (int i = 0; i < 300; i += 2) free(kept[i]);
    for (int i = 0; i < 50; i++) { lost = malloc(40); }
    lost = 0;
    free(grown);
    for (int i = 0; i < 3; i++) pthread_join(threads[i], 0);
    return 0;
}
