// Item 2: a 1 MiB block with a PROT_NONE page inside it (as coroutine stacks carved from malloc have), kept to the
// end through a global; 10 blocks of 40 bytes lost. The exit scan must not touch the guard page (it killed the
// program with SIGSEGV at exit) and must still tell the lost blocks from the kept one.
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
    uintptr_t page = ((uintptr_t)block + 65536) & ~(uintptr_t)4095;
    if (mprotect((void *)page, 4096, PROT_NONE) != 0) return 3;
    kept = block;
    lose();
    return 0;
}
