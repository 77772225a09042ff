// Item 3: 2,001 blocks held by a global, then the address space limited to what the process has mapped plus
// argv[1] KiB (setrlimit RLIMIT_AS): the exit scan cannot map what it needs. None of the blocks may ever be
// reported as leaked; the capture must say that no scan was made, and why.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void *blocks[2001];

static long mapped_kilobytes(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kilobytes = -1;
    while (status != NULL && fgets(line, sizeof line, status) != NULL)
        if (strncmp(line, "VmSize:", 7) == 0) kilobytes = atol(line + 7);
    if (status != NULL) fclose(status);
    return kilobytes;
}

int main(int argc, char **argv) {
    for (int i = 0; i < 2001; i++) blocks[i] = malloc(100);
    long room = argc > 1 ? atol(argv[1]) : 0;
    long kilobytes = mapped_kilobytes();
    if (kilobytes <= 0) return 2;
    struct rlimit limit = {(rlim_t)(kilobytes + room) * 1024, (rlim_t)(kilobytes + room) * 1024};
    if (setrlimit(RLIMIT_AS, &limit) != 0) return 3;
    return 0;
}
