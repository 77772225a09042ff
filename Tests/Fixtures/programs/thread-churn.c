#include <pthread.h>
#include <stdlib.h>
static void *work(void *unused) { for (int i = 0; i < 50; i++) { void *volatile p = malloc(32 + i); free(p); } return unused; }
int main(void) {
    for (int round = 0; round < 400; round++) { pthread_t t; pthread_create(&t, 0, work, 0); pthread_join(t, 0); }
    return 0;
}
