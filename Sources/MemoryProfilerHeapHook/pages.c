// The hook's pages: every mapping the hook makes for itself (its tables, views of the capture file), straight from
// the kernel, and the register of them that keeps them apart from the program's memory. A leaf: it calls nothing
// else of the hook's.
#define _GNU_SOURCE
#include "hook.h"

#include <link.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

HOOK_HIDDEN size_t hook_page_size = 4096;

HOOK_HIDDEN void hook_pages_start(void) {
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0) hook_page_size = (size_t)page;
}

// The hook's own mappings, so that the reachability scan does not take them for the program's memory. Tables are
// few (they grow by doubling), so a small array does.
#define MAX_OWN_MAPPINGS 8192
static struct {
    uintptr_t start, end;
    int anonymous;  // the hook's tables, not the capture file's pages
    off_t offset;   // where in the capture file, for the file's pages
} own_mappings[MAX_OWN_MAPPINGS];

HOOK_HIDDEN void *hook_map_file(size_t bytes, int descriptor, off_t offset) {
    void *memory = descriptor < 0
        ? hook_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        : hook_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, offset);
    if (memory == MAP_FAILED) return NULL;
    // Registered, or not used at all: memory the leak scan took for the program's would hide leaks.
    for (int index = 0; index < MAX_OWN_MAPPINGS; index += 1) {
        uintptr_t expected = 0;
        if (__atomic_compare_exchange_n(&own_mappings[index].start, &expected, (uintptr_t)memory, 0, __ATOMIC_ACQ_REL,
                __ATOMIC_RELAXED)) {
            own_mappings[index].end = ((uintptr_t)memory + bytes + hook_page_size - 1) & ~(uintptr_t)(hook_page_size - 1);
            own_mappings[index].anonymous = descriptor < 0;
            own_mappings[index].offset = offset;
            return memory;
        }
    }
    hook_munmap(memory, bytes);
    return NULL;
}

HOOK_HIDDEN void *hook_map(size_t bytes) { return hook_map_file(bytes, -1, 0); }

HOOK_HIDDEN uint64_t hook_tables_resident(void) {
    uint64_t resident = 0;
    unsigned char pages[256];
    for (int index = 0; index < MAX_OWN_MAPPINGS; index += 1) {
        uintptr_t start = __atomic_load_n(&own_mappings[index].start, __ATOMIC_ACQUIRE), end = own_mappings[index].end;
        if (start == 0 || end <= start || !own_mappings[index].anonymous) continue;
        for (uintptr_t at = start; at < end; at += sizeof pages * hook_page_size) {
            size_t count = (end - at) / hook_page_size < sizeof pages ? (end - at) / hook_page_size : sizeof pages;
            if (count == 0 || mincore((void *)at, count * hook_page_size, pages) != 0) break;
            for (size_t page = 0; page < count; page += 1) resident += (pages[page] & 1) ? hook_page_size : 0;
        }
    }
    return resident;
}

HOOK_HIDDEN void hook_unmap(void *memory, size_t bytes) {
    if (memory == NULL) return;
    // Unregistered before it is unmapped: once unmapped, another thread may be given the same address.
    for (int index = 0; index < MAX_OWN_MAPPINGS; index += 1) {
        if (__atomic_load_n(&own_mappings[index].start, __ATOMIC_ACQUIRE) == (uintptr_t)memory) {
            own_mappings[index].end = 0;
            __atomic_store_n(&own_mappings[index].start, 0, __ATOMIC_RELEASE);
            break;
        }
    }
    hook_munmap(memory, bytes);
}

HOOK_HIDDEN void *hook_mmap(void *address, size_t length, int protection, int flags, int descriptor, off_t offset) {
    return (void *)syscall(SYS_mmap, address, length, protection, flags, descriptor, offset);
}

HOOK_HIDDEN int hook_munmap(void *address, size_t length) { return (int)syscall(SYS_munmap, address, length); }

// The hook's own module: its data (the last address written, the unwinder's state) is not the program's.
static uintptr_t own_module_start, own_module_end;

HOOK_HIDDEN void hook_owned_piece(uintptr_t start, uintptr_t end, uintptr_t *piece_end, uintptr_t *next_start) {
    // The first range of the hook's (its module, its mappings) that overlaps [start, end): the program's memory is
    // [start, its start), and the next piece begins at its end. No overlap: all of it is the program's.
    uintptr_t first_start = end, first_end = end;
    if (own_module_start < end && start < own_module_end && own_module_start < first_start) {
        first_start = own_module_start;
        first_end = own_module_end;
    }
    for (int index = 0; index < MAX_OWN_MAPPINGS; index += 1) {
        uintptr_t from = own_mappings[index].start, to = own_mappings[index].end;
        if (from < end && start < to && from < first_start) {
            first_start = from;
            first_end = to;
        }
    }
    *piece_end = first_start > start ? first_start : start;
    *next_start = first_end > *piece_end ? first_end : end;
    if (*next_start <= start) *next_start = end;  // never go back
}

HOOK_HIDDEN void hook_pages_own_module(uintptr_t start, uintptr_t end) {
    own_module_start = start;
    own_module_end = end;
}

HOOK_HIDDEN int hook_maps_any_of(uintptr_t start, uintptr_t end) {
    for (int index = 0; index < MAX_OWN_MAPPINGS; index += 1) {
        uintptr_t from = __atomic_load_n(&own_mappings[index].start, __ATOMIC_ACQUIRE), to = own_mappings[index].end;
        if (from != 0 && from < end && start < to) return 1;
    }
    return 0;
}

HOOK_HIDDEN void hook_make_file_maps_private(int descriptor) {
    for (int index = 0; index < MAX_OWN_MAPPINGS; index += 1) {
        uintptr_t start = own_mappings[index].start, end = own_mappings[index].end;
        if (start == 0 || end <= start || own_mappings[index].anonymous) continue;
        if (hook_mmap((void *)start, end - start, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, descriptor,
                own_mappings[index].offset) == MAP_FAILED)
            hook_mmap((void *)start, end - start, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    }
}
