#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
void *volatile blocks[2000];
__attribute__((noinline)) void hold(void) { for (int i = 0; i < 2000; i++) blocks[i] = malloc(4096); }
int main(void) { hold(); kill(getpid(), SIGKILL); return 0; }
