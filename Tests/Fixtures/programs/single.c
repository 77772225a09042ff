#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
void **region;
__attribute__((noinline)) void lose(size_t size) { void *volatile p = malloc(size); memset(p, 1, size); }
__attribute__((noinline)) void keep(void) {
    region = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    region[10] = malloc(64);
}
int main(int argc, char **argv) { lose(argc > 1 ? 100 : 96); keep(); return 0; }
