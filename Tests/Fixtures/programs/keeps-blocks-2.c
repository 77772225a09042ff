#include <stdio.h>
#include <stdlib.h>
void **kept;
int main(void) {
    kept = malloc(3000000 * sizeof *kept);
    for (long i = 0; kept && i < 3000000; i++) kept[i] = malloc(16);
    printf("kept\n");
    return 0;
}
