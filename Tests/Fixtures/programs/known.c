#include <stdlib.h>
void *volatile blocks[1000], *volatile zeroed[10];
__attribute__((noinline)) void *make(size_t size) { return malloc(size); }
__attribute__((noinline)) void build(void) { for (int i = 0; i < 1000; i++) blocks[i] = make(100); }
int main(void) {
    build();
    for (int i = 0; i < 500; i++) free(blocks[i]);
    for (int i = 0; i < 10; i++) zeroed[i] = calloc(10, 8);
    for (int i = 0; i < 5; i++) zeroed[i] = realloc(zeroed[i], 256);
    return zeroed[9] == NULL;
}
