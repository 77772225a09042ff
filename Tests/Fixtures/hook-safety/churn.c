// Item 4: 3 million malloc/free pairs, a capture of tens of megabytes, under a file size limit (ulimit -f) far
// smaller: the hook must stop at the limit and say so, never make the program receive SIGXFSZ.
#include <stdlib.h>

int main(void) {
    for (int i = 0; i < 3000000; i++) { void *volatile block = malloc(64); free(block); }
    return 0;
}
