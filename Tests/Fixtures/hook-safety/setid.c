// Item 1 of issue 19: a program with the heap hook linked in (patchelf --add-needed), made set-user-ID root by the
// test and run as nobody. It allocates a little and says which user it runs as (the proof that the set-ID bit took
// effect): in secure mode the hook must obey no MPROF_* variable and create no file.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    void *volatile blocks[100];
    for (int i = 0; i < 100; i++) blocks[i] = malloc(64);
    for (int i = 0; i < 100; i++) free(blocks[i]);
    printf("euid %d uid %d\n", (int)geteuid(), (int)getuid());
    return 0;
}
