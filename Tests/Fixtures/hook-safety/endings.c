// Ways out of a program that skip exit handlers or destructors:
//   endings quick_exit | _exit | exit_group | return
// Each first allocates 100 blocks of 64 bytes kept by a global and loses 10 blocks of 48 bytes (their pointers
// overwritten), then ends as named, with status 0.
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void *volatile kept[100];
void *volatile lost;

__attribute__((noinline)) static void lose(void) {
    for (int i = 0; i < 10; i++) lost = malloc(48);
    lost = NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    for (int i = 0; i < 100; i++) kept[i] = malloc(64);
    lose();
    if (strcmp(argv[1], "quick_exit") == 0) quick_exit(0);
    if (strcmp(argv[1], "_exit") == 0) _exit(0);
    if (strcmp(argv[1], "exit_group") == 0) syscall(SYS_exit_group, 0);
    return 0;
}
