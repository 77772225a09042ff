// A program whose memory is known, for mprof run's budgets: holds a buffer of argv[1] MiB (every page written) at
// its peak, then frees it; leaks argv[2] blocks of 1000 bytes (their pointers lost); exits with status argv[3], or
// is killed by SIGKILL when argv[3] is "kill".
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) static char *hold_buffer(size_t mebibytes) {
    char *buffer = malloc(mebibytes << 20);
    if (buffer != NULL) memset(buffer, 1, mebibytes << 20);
    return buffer;
}

__attribute__((noinline)) static void leak_blocks(int count) {
    for (int index = 0; index < count; index += 1) {
        volatile char *block = malloc(1000);
        if (block != NULL) block[0] = 1;
        block = NULL;  // the only pointer, gone
    }
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    char *buffer = hold_buffer((size_t)atoi(argv[1]));
    usleep(300000);
    free(buffer);
    leak_blocks(atoi(argv[2]));
    if (strcmp(argv[3], "kill") == 0) kill(getpid(), SIGKILL);
    return atoi(argv[3]);
}
