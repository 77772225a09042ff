#include <stdlib.h>
void *volatile kept[300];
__attribute__((noinline)) int down(int depth, int slot) {
    if (depth == 0) { kept[slot] = malloc(16 + slot); return slot; }
    return down(depth - 1, slot) + 1;
}
int main(void) {
    for (int i = 0; i < 150; i++) down(i % 90, i);
    for (int i = 150; i < 300; i++) down(100 - i % 45, i);
    return 0;
}
