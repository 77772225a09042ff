#include <stdint.h>
#include <stdlib.h>
int main(void) {
    void *volatile p = malloc(10);
    void *volatile q = realloc(p, SIZE_MAX / 2);
    free(p);
    return q != NULL;
}
