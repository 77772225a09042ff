#include <stdlib.h>
#include <pthread.h>
#include <unistd.h>
struct node { struct node *next; char payload[40]; };
struct node *list;           // 300 nodes, reachable through each other from this global
char *middle;                // points 100 bytes into a 1000-byte block
static volatile int ready;
__attribute__((noinline)) void lose(void) { for (int i = 0; i < 100; i++) { void *volatile lost = malloc(48); (void)lost; } }
static void *volatile escape;  // so the compiler cannot drop the cycle's mallocs
__attribute__((noinline)) void cycle(void) {
    for (int i = 0; i < 50; i++) {
        struct node *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        a->next = b; b->next = a;
        escape = a;
    }
    escape = 0;
}
__attribute__((noinline)) void chain(void) {
    for (int i = 0; i < 300; i++) { struct node *n = malloc(sizeof *n); n->next = list; list = n; }
}
static void *holder(void *unused) {
    void *volatile held = malloc(777);   // only on this thread's stack
    ready = 1;
    for (;;) pause();
    return held;
}
int main(void) {
    lose();
    cycle();
    chain();
    middle = (char *)malloc(1000) + 100;
    pthread_t thread;
    pthread_create(&thread, 0, holder, 0);
    while (!ready) usleep(1000);
    return 0;
}
