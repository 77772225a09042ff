#include <dlfcn.h>
#include <stdlib.h>
__attribute__((noinline)) void *callf(const char *path) {
    void *library = dlopen(path, RTLD_NOW);
    if (!library) exit(1);
    void *(*f)(void) = (void *(*)(void))dlsym(library, "f");
    void *block = f();
    dlclose(library);
    return block;
}
int main(int argc, char **argv) { for (int i = 1; i < argc; i++) free(callf(argv[i])); return 0; }
