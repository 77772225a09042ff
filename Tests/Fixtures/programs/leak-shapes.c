#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
struct node { struct node *next; char payload[40]; };
struct node *list;
char *middle;
void *chains[200];
static volatile int ready;
static void *volatile escape;
__attribute__((noinline)) void lose(void) { for (int i = 0; i < 100; i++) { void *volatile lost = malloc(48); (void)lost; } }
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
__attribute__((noinline)) void *linked(size_t size, void *next) {
    void **block = malloc(size);
    for (size_t i = 0; i < size / sizeof(void *); i++) block[i] = 0;
    block[size / sizeof(void *) - 1] = next;
    return block;
}
__attribute__((noinline)) void *end(void) { char *block = malloc(100); block[0] = 1; return block; }
__attribute__((noinline)) void build(void) {
    for (int i = 0; i < 200; i++) {
        void *next = end();
        for (size_t size = 88; size >= 24; size -= 16) next = linked(size, next);
        chains[i] = next;
    }
    for (int i = 180; i < 200; i++) chains[i] = 0;
}
__attribute__((noinline)) void inside(void) { middle = (char *)malloc(1000) + 100; }
static void *holder(void *unused) {
    void *volatile held = malloc(777);
    ready = 1;
    for (;;) pause();
    return held;
}
int main(void) {
    lose(); cycle(); chain(); build(); inside();
    pthread_t thread;
    pthread_create(&thread, 0, holder, 0);
    while (!ready) usleep(1000);
    return 0;
}
