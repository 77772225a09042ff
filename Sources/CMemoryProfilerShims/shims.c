#define _GNU_SOURCE
#include "CMemoryProfilerShims.h"

#include <fcntl.h>
#include <unistd.h>

int cmp_pipe_cloexec(int descriptors[2]) {
#if defined(__linux__)
    return pipe2(descriptors, O_CLOEXEC);
#else
    if (pipe(descriptors) != 0) return -1;
    fcntl(descriptors[0], F_SETFD, FD_CLOEXEC);
    fcntl(descriptors[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

#if defined(__linux__)
#include <sys/prctl.h>

int cmp_set_child_subreaper(int on) {
    return prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)(on ? 1 : 0), 0UL, 0UL, 0UL);
}

int cmp_is_child_subreaper(void) {
    int value = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&value, 0UL, 0UL, 0UL) != 0) return -1;
    return value != 0;
}
#else
#include <errno.h>

int cmp_set_child_subreaper(int on) {
    (void)on;
    errno = ENOSYS;
    return -1;
}

int cmp_is_child_subreaper(void) {
    errno = ENOSYS;
    return -1;
}
#endif

#include <errno.h>
#include <stdio.h>

int cmp_flush_standard_output(void) {
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) return errno != 0 ? errno : EIO;
    return 0;
}

int cmp_open_standard_descriptors(void) {
    for (int descriptor = 0; descriptor <= 2; descriptor++) {
        if (fcntl(descriptor, F_GETFD) >= 0 || errno != EBADF) continue;
        // Standard output on /dev/full: output with nowhere to go fails visibly rather than vanishing.
        const char *path = descriptor == 0 ? "/dev/null" : descriptor == 1 ? "/dev/full" : "/dev/null";
        int opened = open(path, descriptor == 0 ? O_RDONLY : O_WRONLY);
        if (opened < 0 && descriptor == 1) opened = open("/dev/null", O_WRONLY);
        if (opened < 0) return -1;
        if (opened != descriptor) {
            // The lower descriptors are open, so open() returns this one; anything else is a surprise.
            close(opened);
            errno = EBADF;
            return -1;
        }
    }
    return 0;
}

#if defined(__linux__)
#include <errno.h>
#include <sys/xattr.h>

int cmp_has_extended_attribute(const char *path, const char *name) {
    if (getxattr(path, name, NULL, 0) >= 0) return 1;
    return errno == ENODATA || errno == ENOTSUP ? 0 : -1;
}
#else
int cmp_has_extended_attribute(const char *path, const char *name) {
    (void)path;
    (void)name;
    return 0;
}
#endif

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>

#include <linux/capability.h>

/// Whether this process may set a thread's nice value back to `previous` once raised: CAP_SYS_NICE, or an
/// RLIMIT_NICE whose ceiling (20 - limit) is at most `previous`.
static int may_go_back_to(int previous) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NICE, &limit) == 0
        && (limit.rlim_cur == RLIM_INFINITY || (long)limit.rlim_cur >= 20L - (long)previous))
        return 1;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return 0;
    return (data[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))) != 0;
}

int cmp_lower_task_priority(int task, int *previous) {
    // Linux keeps a nice value per thread: PRIO_PROCESS with a thread id reads and sets that thread's alone.
    if (task <= 0) return 0;
    errno = 0;
    int now = getpriority(PRIO_PROCESS, (id_t)task);
    if ((now == -1 && errno != 0) || now >= 19 || !may_go_back_to(now)) return 0;
    if (setpriority(PRIO_PROCESS, (id_t)task, 19) != 0) return 0;
    *previous = now;
    return task;
}

int cmp_lower_thread_priority(int *previous) {
    return cmp_lower_task_priority((int)syscall(SYS_gettid), previous);
}

int cmp_restore_thread_priority(int thread, int previous) {
    return thread > 0 ? setpriority(PRIO_PROCESS, (id_t)thread, previous) : 0;
}
#endif

#include <alloca.h>
#include <pthread.h>
#include <string.h>

__attribute__((noinline)) static void scrub_below(size_t bytes) {
    unsigned char *area = alloca(bytes);
    explicit_bzero(area, bytes);
    __asm__ volatile("" : : "r"(area) : "memory");
}

void cmp_scrub_stack(size_t bytes) {
    pthread_attr_t attributes;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attributes) != 0) return;
    int found = pthread_attr_getstack(&attributes, &low, &size);
    pthread_attr_destroy(&attributes);
    if (found != 0 || low == NULL) return;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), bottom = (uintptr_t)low + 32768;
    if (here <= bottom) return;
    scrub_below(bytes < here - bottom ? bytes : here - bottom);
}

void cmp_call_below_pad(size_t pad, void (*function)(void *), void *context) {
    // Never closer than 64 KiB to the stack's end: a thread with a small stack gets a smaller pad (or none), not a
    // fault in its guard page.
    pthread_attr_t attributes;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
        if (pthread_attr_getstack(&attributes, &low, &size) != 0) low = NULL;
        pthread_attr_destroy(&attributes);
    }
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), floor = (uintptr_t)low + (64 << 10);
    if (low == NULL || here <= floor) pad = 0;
    else if (pad > here - floor) pad = here - floor;
    unsigned char *area = alloca(pad > 0 ? pad : 1);
    __asm__ volatile("" : : "r"(area) : "memory");
    function(context);
    __asm__ volatile("" : : "r"(area) : "memory");
}
