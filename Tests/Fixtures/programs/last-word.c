#include <stdlib.h>
void *chains[200];
__attribute__((noinline)) void *link(size_t size, void *next) {
    void **block = malloc(size);
    for (size_t i = 0; i < size / sizeof(void *); i++) block[i] = 0;
    block[size / sizeof(void *) - 1] = next;
    return block;
}
__attribute__((noinline)) void *end(void) { return malloc(100); }
__attribute__((noinline)) void build(void) {
    for (int i = 0; i < 200; i++) {
        void *next = end();
        for (size_t size = 88; size >= 24; size -= 16) next = link(size, next);
        chains[i] = next;
    }
    for (int i = 180; i < 200; i++) chains[i] = 0;
}
int main(void) { build(); return 0; }
