#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 0; i < 100; i++) { void *volatile p = malloc(1000); free(p); }
    execl(argv[1], argv[1], (char *)NULL);
    return 1;
}
