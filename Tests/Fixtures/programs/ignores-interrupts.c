#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void *volatile kept[1000];
__attribute__((noinline)) static void *one(int i) { return malloc(16 + i % 7); }
__attribute__((noinline)) static void *two(int i) { return one(i) ? malloc(32) : NULL; }
int main(int argc, char **argv) {
    signal(SIGINT, SIG_IGN);
    if (argc < 2 || fclose(fopen(argv[1], "w")) != 0) return 2;
    for (int i = 0; i < 1000; i++) kept[i] = i % 2 ? one(i) : two(i);
    struct timespec pause = {0, 300000000};
    nanosleep(&pause, NULL);
    return 0;
}
