// Item 5: signal handlers that allocate while the main thread is inside the hook. Each handler frees the block the
// last one kept and keeps a new one of 200 bytes; the main thread allocates and frees 48-byte blocks meanwhile.
// Mode "timer": SIGALRM from setitimer every 20 µs; mode "thread": a second thread sends SIGUSR1 with pthread_kill
// as fast as it can. Prints how many handler allocations there were: the capture must have exactly that many
// 200-byte allocations, one of them live at exit (or say its counts are not exact).
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void *volatile held;
static volatile long handled;
static volatile int done;

static void on_signal(int signal) {
    (void)signal;
    free(held);
    held = malloc(200);
    handled += 1;
}

static void *sender(void *main_thread) {
    while (!done) { pthread_kill(*(pthread_t *)main_thread, SIGUSR1); usleep(5); }
    return NULL;
}

int main(int argc, char **argv) {
    int thread_mode = argc > 1 && strcmp(argv[1], "thread") == 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    action.sa_flags = SA_RESTART;
    sigaction(thread_mode ? SIGUSR1 : SIGALRM, &action, NULL);
    pthread_t self = pthread_self(), thread;
    if (thread_mode) {
        pthread_create(&thread, NULL, sender, &self);
    } else {
        struct itimerval timer = {{0, 20}, {0, 20}};
        setitimer(ITIMER_REAL, &timer, NULL);
    }
    for (int i = 0; i < 1000000; i++) { void *volatile block = malloc(48); free(block); }
    if (thread_mode) {
        done = 1;
        pthread_join(thread, NULL);
    } else {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    }
    // No handler runs from here on: the count is final.
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    char line[64];
    int length = snprintf(line, sizeof line, "%ld\n", handled);
    (void)!write(1, line, (size_t)length);
    return 0;
}
