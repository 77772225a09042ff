// Item 6: a peak of known size first (a 160 MiB block, touched, then freed), then a large heap of many small
// blocks held to the end (2.5 million of 24 bytes, about 80 MiB), whose exit scan needs memory of its own. The peak
// mprof reports under --heap must be the program's: within 5 % of the same program's under plain mprof run, and of
// /usr/bin/time's maximum resident set.
#include <stdlib.h>
#include <string.h>

void **held;
char *volatile touched;  // keeps the compiler from dropping the temporary's malloc, memset and free

int main(void) {
    size_t big = (size_t)160 << 20;
    char *temporary = malloc(big);
    if (temporary == NULL) return 2;
    memset(temporary, 1, big);
    touched = temporary;
    free(touched);
    size_t count = 2500000;
    held = malloc(count * sizeof *held);
    if (held == NULL) return 3;
    for (size_t i = 0; i < count; i++) held[i] = malloc(24);
    return 0;
}
