#include <string.h>
#include <sys/mman.h>
#include <time.h>
int main(void) {
    struct timespec pause = {0, 300000000};
    nanosleep(&pause, NULL);
    char *block = mmap(NULL, 200 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(block, 1, 200 << 20);
    munmap(block, 200 << 20);
    nanosleep(&pause, NULL);
    return 0;
}
