#define _GNU_SOURCE
#include <execinfo.h>
#include <link.h>
#include <string.h>
#include <stdint.h>
extern void __register_frame(void *);
extern void __deregister_frame(void *);
static void *eh_frame;
static int find(struct dl_phdr_info *info, size_t size, void *data) {
    for (int i = 0; i < info->dlpi_phnum && !eh_frame; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME) {
            unsigned char *header = (unsigned char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
            int32_t offset; memcpy(&offset, header + 4, 4);
            eh_frame = header + 4 + offset;
        }
    return 1;
}
int main(void) {
    void *frames[32];
    backtrace(frames, 32);
    dl_iterate_phdr(find, 0);
    __register_frame(eh_frame);
    int count = backtrace(frames, 32);
    __deregister_frame(eh_frame);
    return count > 0 ? 0 : 1;
}
