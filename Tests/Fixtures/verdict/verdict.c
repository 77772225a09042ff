// Programs whose memory over time has a known story, for mprof peak --verdict:
//   verdict leak      1 MiB allocated and touched every 50 ms for 2 s, never freed
//   verdict retain    200 MiB in 1,016-byte blocks within 0.2 s, then all but every 64th freed; holds 2 s
//   verdict steady    50 MiB allocated and touched at once; holds 2 s
#include <stdlib.h>
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
    } else {
        return 2;
    }
    return 0;
}
