#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
    void *volatile block = malloc(1000);
    pid_t child = fork();
    if (child == 0) { execl("/bin/true", "true", (char *)0); _exit(127); }
    waitpid(child, 0, 0);
    pid_t plain = fork();
    if (plain == 0) { void *volatile small = malloc(10); free(small); _exit(0); }
    waitpid(plain, 0, 0);
    free(block);
    return 0;
}
