#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile sig_atomic_t in_child = 0, forks = 0;
static void handler(int signal) {
    (void)signal;
    if (in_child || forks >= 200) return;
    pid_t pid = fork();
    if (pid == 0) { in_child = 1; return; }  /* back to what was interrupted, perhaps the hook */
    if (pid > 0) forks++;
}
void *volatile sink;
int main(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &action, NULL);
    struct itimerval timer = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &timer, NULL);
    long count = 0;
    for (long i = 0; i < 2000000 && forks < 200; i++) {
        if (in_child && i % 64 == 0) _exit(0);
        void *block = malloc(32 + i % 64);
        sink = block;
        free(block);
        if (!in_child) count++;
    }
    setitimer(ITIMER_REAL, &off, NULL);
    while (wait(NULL) > 0) {}
    printf("%ld %d\n", count, (int)forks);
    return 0;
}
