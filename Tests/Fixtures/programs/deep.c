#include <stdlib.h>
void *volatile kept;
__attribute__((noinline)) void *deep(int depth) {
    if (depth == 0) return malloc(100000);
    void *block = deep(depth - 1);
    __asm__ volatile("" ::: "memory");
    return block;
}
int main(void) { kept = deep(90); return kept == NULL; }
