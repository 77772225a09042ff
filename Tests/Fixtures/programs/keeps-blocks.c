#include <stdlib.h>
void **kept;
int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1500000;
    kept = malloc(count * sizeof *kept);
    for (long i = 0; kept && i < count; i++) kept[i] = malloc(16);
    return 0;
}
