// Call stacks for the heap hook.
//
// Swift code built with -O on Linux keeps no frame pointers, so the stack is walked with the unwind tables
// (.eh_frame). The hook's own unwinder (unwinder.c) caches each return address's rule and walks a frame in a few
// nanoseconds; a stack with a frame it does not follow is walked again by libunwind (Debian's libunwind8, which
// heaptrack also uses: about 8 ns a frame with its per-thread cache), loaded with dlopen when it is installed; without
// it, such a stack ends at that frame. MPROF_HEAP_UNWINDER=libunwind or =libgcc uses only that one (for comparison
// and tests); libgcc's _Unwind_Backtrace (about 150 ns a frame) can deadlock in a program that registers a JIT's
// frames, since it allocates under a lock of its own, so it is never a fallback.
#define _GNU_SOURCE
#include "hook.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

static int own_unwinder = 1;
static int (*unw_backtrace_function)(void **, int);
static _Unwind_Reason_Code (*unwind_backtrace_function)(_Unwind_Trace_Fn, void *);
static uintptr_t own_start, own_end;

HOOK_HIDDEN const char *stacks_unwinder_name(void) {
    if (own_unwinder) return unw_backtrace_function != NULL ? "mprof, then libunwind" : "mprof";
    if (unw_backtrace_function != NULL) return "libunwind";
    if (unwind_backtrace_function != NULL) return "libgcc";
    return "none";
}

struct walk {
    uintptr_t *frames;
    int count, capacity;
};

static _Unwind_Reason_Code walk_one(struct _Unwind_Context *context, void *argument) {
    struct walk *walk = argument;
    if (walk->count >= walk->capacity) return _URC_END_OF_STACK;
    uintptr_t address = (uintptr_t)_Unwind_GetIP(context);
    if (address == 0) return _URC_END_OF_STACK;
    walk->frames[walk->count++] = address;
    return _URC_NO_REASON;
}

HOOK_HIDDEN void stacks_start(uintptr_t hook_text_start, uintptr_t hook_text_end) {
    own_start = hook_text_start;
    own_end = hook_text_end;
    const char *choice = hook_getenv("MPROF_HEAP_UNWINDER");
    own_unwinder = choice == NULL || (strcmp(choice, "libgcc") != 0 && strcmp(choice, "libunwind") != 0);
    if (own_unwinder) unwinder_start();
    if (choice == NULL || strcmp(choice, "libgcc") != 0) {
        void *library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (library != NULL) {
            // UNW_CACHE_PER_THREAD: each thread keeps its own cache of unwind information, no lock.
            int (*set_caching_policy)(void *, int) = (int (*)(void *, int))dlsym(library, "_ULx86_64_set_caching_policy");
            void **address_space = (void **)dlsym(library, "_ULx86_64_local_addr_space");
            unw_backtrace_function = (int (*)(void **, int))dlsym(library, "unw_backtrace");
            if (set_caching_policy != NULL && address_space != NULL) set_caching_policy(*address_space, 2);
        }
    }
    if (unw_backtrace_function == NULL) {
        unwind_backtrace_function =
            (_Unwind_Reason_Code(*)(_Unwind_Trace_Fn, void *))dlsym(RTLD_DEFAULT, "_Unwind_Backtrace");
        if (unwind_backtrace_function == NULL) {
            void *library = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
            if (library != NULL)
                unwind_backtrace_function =
                    (_Unwind_Reason_Code(*)(_Unwind_Trace_Fn, void *))dlsym(library, "_Unwind_Backtrace");
        }
    }
    // The first walk loads and caches what the unwinder needs (and may allocate): do it now, inside the hook.
    uintptr_t warm[HOOK_MAX_FRAMES];
    uint64_t *leaf;
    int filled;
    (void)stacks_capture(warm, HOOK_MAX_FRAMES, &leaf, &filled);
}

HOOK_HIDDEN int stacks_capture(uintptr_t *frames, int capacity, uint64_t **leaf, int *filled) {
    *leaf = NULL;
    *filled = 0;
    // Walk into a buffer with room for the hook's own frames, then keep the frames outside the hook.
    uintptr_t raw[HOOK_MAX_FRAMES + 8];
    int count = -1, partial = 0;
    int room = capacity + 8 <= HOOK_MAX_FRAMES + 8 ? capacity + 8 : HOOK_MAX_FRAMES + 8;
    const uintptr_t *recent = NULL;
    if (own_unwinder) count = unwinder_walk(raw, room, leaf, &partial, &recent);
    // A recent stack, interned in this capture (the recorder's memo: capture number << 32 | node): the frames are
    // not needed.
    if (count >= 0 && *leaf != NULL && **leaf != 0 && (uint32_t)(**leaf >> 32) == hook_capture_number) return count;
    if (count >= 0 && recent != NULL) memcpy(raw, recent, (size_t)count * sizeof *raw);
    if (count >= 0) {
        // walked
    } else if (unw_backtrace_function != NULL) {
        HOOK_INTERNAL(count = unw_backtrace_function((void **)raw, room));
    } else if (own_unwinder) {
        // Not libgcc's unwinder behind ours: this malloc may be called from inside it (sorting a JIT's registered
        // frames, under its own lock), and it would wait for itself. The stack ends where ours stopped.
        count = partial;
    } else if (unwind_backtrace_function != NULL) {
        struct walk walk = {raw, 0, room};
        HOOK_INTERNAL(unwind_backtrace_function(walk_one, &walk));
        count = walk.count;
    } else {
        count = 0;
    }
    // The hook's frames are dropped wherever they are: at the top (malloc, the recorder) and in the middle
    // (the swift_allocObject wrapper, between the caller and the runtime).
    int kept = 0;
    for (int index = 0; index < count && kept < capacity; index += 1)
        if (raw[index] < own_start || raw[index] >= own_end) frames[kept++] = raw[index];
    *filled = 1;
    return kept;
}
