// mprof-spawn: starts a program for `mprof run` so that the kernel's lifetime peak of the program is the
// program's own.
//
// `wait4` reports a child's largest resident set over its life (ru_maxrss). The count is kept per process and
// starts with the memory the process had before it called exec: a child started with vfork or posix_spawn
// shares its parent's address space until exec, so its count starts at mprof's own high-water mark (≈20 MiB)
// and any program smaller than that would be reported as mprof's size. This launcher is tiny: mprof starts it,
// it forks (a copy of this small process, not of mprof) and the copy execs the program; the launcher reports
// the program's PID and exits at once, and mprof, a child subreaper for that moment, adopts the program and
// waits for it as its own child. The count then starts at this launcher's few hundred KiB, as with
// /usr/bin/time, which forks the same way.
//
// Usage: mprof-spawn REPORT-FD EXECUTABLE ARGV0 [ARGUMENTS...]
//
// Records written to REPORT-FD, each one write of two 32-bit integers (kind, value):
//   'P' pid     the program's PID, after the fork
//   'E' errno   exec failed in the program's process (which then exits with 127)
//   'F' errno   fork failed
// The descriptor is close-on-exec in the program, so the reader sees end-of-file once exec succeeded and the
// launcher has exited.
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static void report(int descriptor, int32_t kind, int32_t value) {
    int32_t record[2] = {kind, value};
    while (write(descriptor, record, sizeof record) < 0 && errno == EINTR) {
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        static const char usage[] = "mprof-spawn: started by mprof run; not meant to be run by hand\n";
        (void)!write(2, usage, sizeof usage - 1);
        return 2;
    }
    char *end = NULL;
    long descriptor = strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || descriptor < 3 || descriptor > 1048576 || fcntl((int)descriptor, F_GETFD) < 0) {
        static const char bad[] = "mprof-spawn: the report descriptor is not open\n";
        (void)!write(2, bad, sizeof bad - 1);
        return 2;
    }
    int reportDescriptor = (int)descriptor;
    pid_t pid = fork();
    if (pid == 0) {
        (void)fcntl(reportDescriptor, F_SETFD, FD_CLOEXEC);
        execv(argv[2], argv + 3);
        report(reportDescriptor, 'E', errno);
        _exit(127);
    }
    if (pid < 0) {
        report(reportDescriptor, 'F', errno);
        return 1;
    }
    report(reportDescriptor, 'P', (int32_t)pid);
    return 0;
}
