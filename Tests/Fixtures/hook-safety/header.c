// A 1 MiB block (glibc maps it by itself: its header is at the start of its first page) whose first page the program
// makes PROT_NONE, header included, kept to the end through a global; 10 blocks of 40 bytes lost. The allocator's
// size of the block cannot be read: the exit scan must skip that one size, not give up the whole scan.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

char *volatile kept;
__attribute__((noinline)) void lose(void) { for (int i = 0; i < 10; i++) { void *volatile lost = malloc(40); (void)lost; } }

int main(void) {
    char *block = malloc(1 << 20);
    if (block == NULL) return 2;
    memset(block, 1, 1 << 20);
    uintptr_t header = ((uintptr_t)block - 16) & ~(uintptr_t)4095;
    if (mprotect((void *)header, 4096, PROT_NONE) != 0) return 3;
    kept = block;
    lose();
    return 0;
}
