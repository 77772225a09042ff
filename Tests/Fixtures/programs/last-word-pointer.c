#include <stdlib.h>
char *interior;
__attribute__((noinline)) void keep(void) { char *a = malloc(32); a[0] = 1; interior = a + 24; }
__attribute__((noinline)) void lose(void) { for (int i = 0; i < 10; i++) { char *volatile p = malloc(32); p[0] = 1; } }
int main(void) { keep(); lose(); return 0; }
