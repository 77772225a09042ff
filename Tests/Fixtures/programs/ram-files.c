#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
static volatile long sum;
static void map(const char *path, int flags) {
    int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (file < 0 || ftruncate(file, 40 << 20) != 0) _exit(3);
    char *pages = mmap(NULL, 40 << 20, PROT_READ | PROT_WRITE, flags, file, 0);
    if (pages == MAP_FAILED) _exit(3);
    if (flags & MAP_SHARED) memset(pages, 1, 40 << 20);
    else for (long at = 0; at < (40 << 20); at += 4096) sum += pages[at];
}
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    map(argv[1], MAP_SHARED);   // a tmpfs file, shared
    map(argv[2], MAP_PRIVATE);  // a tmpfs file, private, read
    map(argv[3], MAP_SHARED);   // a file on disk
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
