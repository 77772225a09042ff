// Programs whose memory over time has a known story, for mprof peak --verdict:
//   verdict leak      1 MiB allocated and touched every 50 ms for 2 s, never freed
//   verdict retain    200 MiB in 1,016-byte blocks within 0.2 s, then all but every 64th freed; holds 2 s
//   verdict steady    50 MiB allocated and touched at once; holds 2 s
//   verdict files P   a 200 MiB file written at P, mapped, and read 5 MiB every 50 ms for 2 s
//   verdict churn     50 MiB in 1 MiB blocks allocated and freed again, every 50 ms for 2 s
//   verdict warmup    60 MiB allocated 1.5 MiB at a time over the first 0.8 s, then held to 2 s
//   verdict cache     100 MiB filled at once 0.9 s in, held to 2 s: a level change, nothing unreachable
//   verdict keep      1 MiB allocated every 50 ms for 2 s, every block kept in a global array: growth, no leak
//   verdict large     1 GiB allocated and touched at once, then 1 MiB leaked every 50 ms for 3 s
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

// Where the blocks go, so that the compiler keeps every allocation.
void *volatile kept;

static void pause_ms(long milliseconds) {
    struct timespec time = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    nanosleep(&time, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (strcmp(argv[1], "leak") == 0) {
        for (int i = 0; i < 40; i++) {
            kept = memset(malloc(1 << 20), 1, 1 << 20);
            pause_ms(50);
        }
    } else if (strcmp(argv[1], "retain") == 0) {
        size_t count = (200u << 20) / 1016;
        char **blocks = malloc(count * sizeof *blocks);
        kept = blocks;
        for (size_t i = 0; i < count; i++) memset(blocks[i] = malloc(1016), 1, 1016);
        for (size_t i = 0; i < count; i++)
            if (i % 64 != 0) free(blocks[i]);
        pause_ms(2000);
    } else if (strcmp(argv[1], "steady") == 0) {
        kept = memset(malloc(50 << 20), 1, 50 << 20);
        pause_ms(2000);
    } else if (strcmp(argv[1], "churn") == 0) {
        static void *blocks[50];
        for (int round = 0; round < 40; round++) {
            for (int i = 0; i < 50; i++) blocks[i] = memset(malloc(1 << 20), 1, 1 << 20);
            for (int i = 0; i < 50; i++) free(blocks[i]);
            pause_ms(50);
        }
    } else if (strcmp(argv[1], "warmup") == 0) {
        for (int i = 0; i < 40; i++) {
            kept = memset(malloc(3 << 19), 1, 3 << 19);
            pause_ms(20);
        }
        pause_ms(1200);
    } else if (strcmp(argv[1], "cache") == 0) {
        pause_ms(900);
        kept = memset(malloc(100 << 20), 1, 100 << 20);
        pause_ms(1100);
    } else if (strcmp(argv[1], "keep") == 0) {
        static void *blocks[40];
        for (int i = 0; i < 40; i++) {
            blocks[i] = memset(malloc(1 << 20), 1, 1 << 20);
            pause_ms(50);
        }
        kept = blocks;
    } else if (strcmp(argv[1], "large") == 0) {
        void *volatile base = memset(malloc((size_t)1 << 30), 1, (size_t)1 << 30);
        for (int i = 0; i < 60; i++) {
            kept = memset(malloc(1 << 20), 1, 1 << 20);
            pause_ms(50);
        }
        kept = base;
    } else if (strcmp(argv[1], "files") == 0 && argc >= 3) {
        int file = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
        static char chunk[1 << 20];
        memset(chunk, 'f', sizeof chunk);
        for (int i = 0; i < 200; i++)
            if (file < 0 || write(file, chunk, sizeof chunk) != (ssize_t)sizeof chunk) return 3;
        volatile const char *mapped = mmap(NULL, 200u << 20, PROT_READ, MAP_PRIVATE, file, 0);
        if (mapped == MAP_FAILED) return 3;
        long sum = 0;
        for (int step = 0; step < 40; step++) {
            for (size_t at = (size_t)step * (5u << 20); at < (size_t)(step + 1) * (5u << 20); at += 4096) sum += mapped[at];
            pause_ms(50);
        }
        kept = (void *)sum;
    } else {
        return 2;
    }
    return 0;
}
