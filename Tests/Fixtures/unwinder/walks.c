// The hook's unwinder alone (unwinder.c, with pages.c for its memory): walks known call chains and compares each
// walk with glibc's backtrace(), which unwinds with libgcc, frame for frame.
#define _GNU_SOURCE
#include "hook.h"
#include <execinfo.h>
#include <stdio.h>
#include <string.h>

__thread int hook_in_hook __attribute__((tls_model("initial-exec")));
int hook_recording;
uint32_t hook_code_generation;
uint32_t hook_capture_number;

static int failures, walks, reused;

__attribute__((noinline)) static void compare(int depth) {
    uintptr_t frames[64];
    uint64_t *leaf;
    int partial;
    const uintptr_t *recent;
    int count = unwinder_walk(frames, 64, &leaf, &partial, &recent);
    if (count > 0 && recent != NULL) memcpy(frames, recent, (size_t)count * sizeof *frames);  // a recent walk, whole
    if (recent != NULL) reused += 1;
    void *witness[64];
    int expected = backtrace(witness, 64);
    walks += 1;
    // Both start with a return address inside this function (from unwinder_walk, from backtrace: different calls);
    // from the next frame on, the two walks must be the same, to the stack's end.
    if (count < 0) { printf("depth %d: the walk fell back (partial %d)\n", depth, partial); failures += 1; return; }
    if (count != expected) {
        printf("depth %d: %d frames walked, backtrace has %d\n", depth, count, expected);
        failures += 1;
        return;
    }
    for (int index = 1; index < count; index += 1) {
        if (frames[index] != (uintptr_t)witness[index]) {
            printf("depth %d: frame %d is %#lx, backtrace says %p\n", depth, index, (unsigned long)frames[index], witness[index]);
            failures += 1;
            return;
        }
    }
}

__attribute__((noinline)) static void recurse(int depth, int left) {
    if (left == 0) {
        for (volatile int time = 0; time < 2; time += 1) compare(depth);  // twice from one place (a loop kept a loop)
        return;
    }
    recurse(depth, left - 1);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void with_alloca(int depth, size_t bytes) {
    volatile char *room = __builtin_alloca(bytes);  // a frame whose CFA is rbp-based
    room[0] = 1;
    recurse(depth, depth);
}

int main(void) {
    unwinder_start();
    for (int depth = 0; depth < 40; depth += 3) {
        recurse(depth, depth);
        with_alloca(depth, 64 + (size_t)depth * 16);
    }
    // Every second walk of a pair repeats the first from the same place: the unwinder gives it back whole.
    printf("%d walks, %d reused, %d failures\n", walks, reused, failures);
    return failures == 0 && walks > 0 && reused * 2 >= walks ? 0 : 1;
}
