// A program that takes the heap hook's capture window for itself, then allocates on: the hook must write none of
// its records into what is now the program's memory, nor fault where it was.
//
//   remap fixed|unmap|move CAPTURE
//
// It finds the window in /proc/self/maps by the capture's path, then: maps anonymous memory over it with MAP_FIXED
// and fills it with 0x5A (fixed), unmaps it (unmap), or moves a mapping of its own there with mremap (move). It
// then makes 20,000 allocations of 32 bytes and frees them, checks that its memory still holds only 0x5A, and
// prints "ok" (exit 0), or where it found the hook's bytes (exit 1).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) return 2;
    char line[4096];
    unsigned long from = 0, to = 0;
    while (fgets(line, sizeof line, maps) != NULL) {
        if (strstr(line, argv[2]) != NULL && sscanf(line, "%lx-%lx", &from, &to) == 2) break;
        from = to = 0;
    }
    fclose(maps);
    if (from == 0) {
        puts("no capture window in /proc/self/maps");
        return 3;
    }
    size_t length = to - from;
    unsigned char *mine = NULL;
    if (strcmp(argv[1], "fixed") == 0) {
        mine = mmap((void *)from, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (mine == MAP_FAILED) return 4;
        memset(mine, 0x5A, length);
    } else if (strcmp(argv[1], "unmap") == 0) {
        if (munmap((void *)from, length) != 0) return 4;
    } else if (strcmp(argv[1], "move") == 0) {
        unsigned char *made = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (made == MAP_FAILED) return 4;
        memset(made, 0x5A, length);
        mine = mremap(made, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)from);
        if (mine == MAP_FAILED) return 4;
    } else {
        return 2;
    }
    static void *volatile blocks[20000];
    for (int index = 0; index < 20000; index += 1) blocks[index] = malloc(32);
    for (int index = 0; index < 20000; index += 1) free(blocks[index]);
    for (size_t at = 0; mine != NULL && at < length; at += 1) {
        if (mine[at] != 0x5A) {
            printf("the hook wrote into the program's memory, at byte %zu of %zu\n", at, length);
            return 1;
        }
    }
    puts("ok");
    return 0;
}
