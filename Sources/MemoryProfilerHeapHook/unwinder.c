// The hook's own unwinder: the unwind tables (.eh_frame) read once per return address and cached (shared, and per thread).
//
// libunwind reads and interprets the tables' rules for every frame of every stack, about 8 ns a frame here, and it
// was the largest part of the hook's cost. A frame's rule depends only on its return address, so this unwinder keeps
// it: the CFA (the caller's stack pointer) as rsp or rbp plus an offset, where the return address is saved, and
// where rbp is saved, if it is. With the rule cached, a frame is two loads and a few additions.
//
// Rules come from the address's FDE, found through the module's .eh_frame_hdr (below), interpreted up to the address: the common DW_CFA instructions, remember/restore state. What
// it does not follow — a CFA that is an expression (the PLT, signal trampolines), a CFA in another register (code
// that realigns its stack), an FDE it cannot read — makes the whole stack fall back to libunwind (or libgcc), so
// stacks are never cut short or guessed. Every read of the stack is checked against the thread's stack bounds.
#define _GNU_SOURCE
#include "hook.h"

#include <link.h>
#include <pthread.h>
#include <string.h>

// MARK: Finding the FDE, without libgcc
//
// libgcc's _Unwind_Find_FDE holds a mutex of its own while it sorts frames a JIT registered, and sorting calls
// malloc: a hook that called it from malloc would wait for itself. The FDE is found here instead, the way libunwind
// does it: the module that holds the address (dl_iterate_phdr), its PT_GNU_EH_FRAME segment (.eh_frame_hdr), and a
// binary search of that segment's sorted table.

static int encoded_size(unsigned char encoding);

struct fde_search {
    uintptr_t address;
    const unsigned char *header;  // the module's .eh_frame_hdr, or NULL
};

static int find_header(struct dl_phdr_info *info, size_t size, void *context) {
    (void)size;
    struct fde_search *search = context;
    const unsigned char *header = NULL;
    int contains = 0;
    for (int index = 0; index < info->dlpi_phnum; index += 1) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[index];
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_LOAD && search->address >= start && search->address < start + segment->p_memsz)
            contains = 1;
        else if (segment->p_type == PT_GNU_EH_FRAME)
            header = (const unsigned char *)start;
    }
    if (!contains) return 0;
    search->header = header;
    return 1;
}

/// The FDE covering `address`, and the start of its function; NULL when none does (code without unwind tables,
/// a JIT's page) or the table is in a form this reader does not take.
static const unsigned char *find_fde(uintptr_t address, uintptr_t *function) {
    struct fde_search search = {address, NULL};
    dl_iterate_phdr(find_header, &search);
    const unsigned char *header = search.header;
    // version 1, the table as (sdata4 function, sdata4 FDE) pairs relative to the header (DW_EH_PE_datarel|sdata4),
    // its count as udata4: what GNU ld, gold and lld write.
    if (header == NULL || header[0] != 1 || header[2] != 0x03 || header[3] != 0x3B) return NULL;
    int pointer_size = encoded_size(header[1]);
    if (pointer_size <= 0) return NULL;
    uint32_t count;
    memcpy(&count, header + 4 + pointer_size, 4);
    const unsigned char *table = header + 8 + pointer_size;
    uint32_t low = 0, high = count;
    while (low < high) {  // the last entry whose function starts at or before the address
        uint32_t middle = low + (high - low) / 2;
        int32_t start;
        memcpy(&start, table + (size_t)middle * 8, 4);
        if ((uintptr_t)(header + start) <= address) low = middle + 1;
        else high = middle;
    }
    if (low == 0) return NULL;
    int32_t start, offset;
    memcpy(&start, table + (size_t)(low - 1) * 8, 4);
    memcpy(&offset, table + (size_t)(low - 1) * 8 + 4, 4);
    *function = (uintptr_t)(header + start);
    return header + offset;
}

enum { RULE_EMPTY = 0, RULE_KNOWN = 1, RULE_UNSUPPORTED = 2, RULE_OUTERMOST = 3 };
enum { REGISTER_RBP = 6, REGISTER_RSP = 7, REGISTER_RA = 16 };

struct frame_rule {
    uintptr_t address;     // the return address the rule is for
    uint32_t generation;   // hook_code_generation when it was read: a dlclose makes it stale
    int32_t cfa_offset;    // CFA = (rsp or rbp) + cfa_offset
    int16_t ra_offset;     // the return address is at CFA + ra_offset
    int16_t rbp_offset;    // rbp is saved at CFA + rbp_offset; 0: rbp is not saved (unchanged)
    uint8_t cfa_register;  // REGISTER_RSP or REGISTER_RBP
    uint8_t state;
};

// Rules depend on the address only, so all threads share one direct-mapped cache (1.5 MiB from mmap). A slot is
// written as: address 0 (invalid), the rule, then the address (release); a reader takes the rule only if it reads
// the same address before and after it (acquire), so a rule being replaced is never half-read.
#define RULE_CACHE_BITS 16
#define RULE_CACHE_SIZE (1 << RULE_CACHE_BITS)
static struct frame_rule *rule_cache;
static __thread uint32_t seen_generation __attribute__((tls_model("initial-exec")));

// The shared cache is large and its slots are spread by a hash, so in a program with a working set of its own (a
// server) almost every lookup missed the processor's caches: half of a walk's time was that load. Each thread keeps
// the rules of the frames it walks lately in a small direct-mapped cache of its own (16 KiB: 1,024 slots of 16 bytes,
// four to a cache line), which stays near; the shared cache is asked on a miss. Only its thread reads and writes it
// (a signal handler that interrupts a walk never walks: the hook queues its calls), so it needs no ordering.
#define NEAR_RULE_BITS 10
#define NEAR_RULES (1 << NEAR_RULE_BITS)
struct near_rule {
    uintptr_t address;  // 0: empty
    int32_t cfa_offset;
    int16_t rbp_offset;
    int8_t ra_offset;
    uint8_t kind;  // the rule's state, | NEAR_RBP when the CFA is rbp-based
};
#define NEAR_RBP 4
static __thread struct near_rule *near_rules __attribute__((tls_model("initial-exec")));
static pthread_key_t thread_memory_key;

// The thread's last walk: each frame's state (return address, stack pointer, rbp) and the two words the step from
// it read (where the caller's return address was, and the saved rbp, if any). A walk is a function of the state it
// starts from and of the words it reads, nothing else: so when a new walk reaches a state the last one had, and
// every word the last one read from there on still holds the same value, the rest of the walk is the same, and is
// copied instead of walked. The words are at known places, so checking them is a few independent loads, where
// walking chains a load, a hash and a rule lookup a frame. In a loop that allocates, every stack after the first is
// checked, not walked.
#define MAX_WALK 80
#define RECENT_WALKS 4  // a loop that allocates at a few sites in turn finds each of its stacks here
struct walk_memory {
    int count;      // frames; 0: none to reuse
    int truncated;  // the walk stopped at its capacity, not at the stack's end
    uint64_t leaf;  // the recorder's memo for this walk's stack (0: none yet): kept here, never read
    uintptr_t address[MAX_WALK], sp[MAX_WALK], rbp[MAX_WALK];
    uintptr_t ra_at[MAX_WALK], ra_value[MAX_WALK];
    uintptr_t rbp_at[MAX_WALK], rbp_value[MAX_WALK];  // rbp_at 0: the step read no rbp
};
// The thread's recent walks, the most recent at `last_walk`; a new walk replaces the oldest. They and the thread's
// near rules are one mapping (THREAD_MEMORY bytes), made at its first walk and unmapped when it ends.
#define THREAD_MEMORY (RECENT_WALKS * sizeof(struct walk_memory) + NEAR_RULES * sizeof(struct near_rule))
static __thread struct walk_memory *walks __attribute__((tls_model("initial-exec")));
static __thread int last_walk __attribute__((tls_model("initial-exec")));
static __thread uintptr_t stack_low __attribute__((tls_model("initial-exec")));
static __thread uintptr_t stack_high __attribute__((tls_model("initial-exec")));

// MARK: Reading the tables

static uint64_t read_uleb(const unsigned char **at, const unsigned char *end) {
    uint64_t value = 0;
    for (unsigned shift = 0; *at < end && shift < 64; shift += 7) {
        unsigned char byte = *(*at)++;
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) break;
    }
    return value;
}

static int64_t read_sleb(const unsigned char **at, const unsigned char *end) {
    int64_t value = 0;
    unsigned shift = 0;
    unsigned char byte = 0;
    while (*at < end && shift < 64) {
        byte = *(*at)++;
        value |= (int64_t)(byte & 0x7F) << shift;
        shift += 7;
        if (!(byte & 0x80)) break;
    }
    if (shift < 64 && (byte & 0x40)) value |= -((int64_t)1 << shift);
    return value;
}

/// The size of a value in pointer encoding `encoding` (DW_EH_PE_*), or -1 for one this reader does not skip.
static int encoded_size(unsigned char encoding) {
    if (encoding == 0xFF) return 0;  // DW_EH_PE_omit
    switch (encoding & 0x0F) {
    case 0x00: return 8;  // absptr
    case 0x02: case 0x0A: return 2;
    case 0x03: case 0x0B: return 4;
    case 0x04: case 0x0C: return 8;
    default: return -1;  // LEB128 forms: rare in .eh_frame, not followed
    }
}

struct cfa_state {
    uint8_t cfa_register;
    int64_t cfa_offset;
    int64_t ra_offset;   // 0: undefined (the outermost frame)
    int64_t rbp_offset;  // 0: not saved
    int supported;
};

/// Runs call frame instructions from `at` to `end`, for code up to `target`, starting at `location`.
static void run_instructions(
    const unsigned char *at, const unsigned char *end, uintptr_t location, uintptr_t target, uint64_t code_alignment,
    int64_t data_alignment, struct cfa_state *state, const struct cfa_state *initial) {
    struct cfa_state remembered[8];
    int depth = 0;
    while (at < end && state->supported) {
        unsigned char opcode = *at++;
        unsigned char high = opcode & 0xC0, low = opcode & 0x3F;
        uint64_t reg;
        int64_t offset;
        if (high == 0x40) {  // advance_loc
            location += low * code_alignment;
            if (location > target) return;
            continue;
        }
        if (high == 0x80) {  // offset
            offset = (int64_t)read_uleb(&at, end) * data_alignment;
            if (low == REGISTER_RBP) state->rbp_offset = offset;
            else if (low == REGISTER_RA) state->ra_offset = offset;
            continue;
        }
        if (high == 0xC0) {  // restore
            if (low == REGISTER_RBP) state->rbp_offset = initial->rbp_offset;
            else if (low == REGISTER_RA) state->ra_offset = initial->ra_offset;
            continue;
        }
        switch (opcode) {
        case 0x00: break;  // nop
        case 0x02: location += (at < end ? *at : 0) * code_alignment; at += 1; if (location > target) return; break;
        case 0x03: {
            uint16_t delta = 0;
            if (end - at >= 2) memcpy(&delta, at, 2);
            at += 2;
            location += delta * code_alignment;
            if (location > target) return;
            break;
        }
        case 0x04: {
            uint32_t delta = 0;
            if (end - at >= 4) memcpy(&delta, at, 4);
            at += 4;
            location += delta * code_alignment;
            if (location > target) return;
            break;
        }
        case 0x05:  // offset_extended
            reg = read_uleb(&at, end);
            offset = (int64_t)read_uleb(&at, end) * data_alignment;
            if (reg == REGISTER_RBP) state->rbp_offset = offset;
            else if (reg == REGISTER_RA) state->ra_offset = offset;
            break;
        case 0x06:  // restore_extended
            reg = read_uleb(&at, end);
            if (reg == REGISTER_RBP) state->rbp_offset = initial->rbp_offset;
            else if (reg == REGISTER_RA) state->ra_offset = initial->ra_offset;
            break;
        case 0x07:  // undefined
            reg = read_uleb(&at, end);
            if (reg == REGISTER_RA) state->ra_offset = 0;
            else if (reg == REGISTER_RBP) state->rbp_offset = 0;
            break;
        case 0x08:  // same_value
            reg = read_uleb(&at, end);
            if (reg == REGISTER_RBP) state->rbp_offset = 0;
            break;
        case 0x09:  // register: a value moved to another register
            reg = read_uleb(&at, end);
            (void)read_uleb(&at, end);
            if (reg == REGISTER_RBP || reg == REGISTER_RA) state->supported = 0;
            break;
        case 0x0A:  // remember_state
            if (depth == 8) state->supported = 0;
            else remembered[depth++] = *state;
            break;
        case 0x0B:  // restore_state
            if (depth == 0) state->supported = 0;
            else *state = remembered[--depth];
            break;
        case 0x0C:  // def_cfa
            state->cfa_register = (uint8_t)read_uleb(&at, end);
            state->cfa_offset = (int64_t)read_uleb(&at, end);
            break;
        case 0x0D: state->cfa_register = (uint8_t)read_uleb(&at, end); break;  // def_cfa_register
        case 0x0E: state->cfa_offset = (int64_t)read_uleb(&at, end); break;    // def_cfa_offset
        case 0x11:  // offset_extended_sf
            reg = read_uleb(&at, end);
            offset = read_sleb(&at, end) * data_alignment;
            if (reg == REGISTER_RBP) state->rbp_offset = offset;
            else if (reg == REGISTER_RA) state->ra_offset = offset;
            break;
        case 0x12:  // def_cfa_sf
            state->cfa_register = (uint8_t)read_uleb(&at, end);
            state->cfa_offset = read_sleb(&at, end) * data_alignment;
            break;
        case 0x13: state->cfa_offset = read_sleb(&at, end) * data_alignment; break;  // def_cfa_offset_sf
        case 0x2E: (void)read_uleb(&at, end); break;                                  // GNU_args_size
        case 0x10: {  // expression: fine for other registers, not for the ones we follow
            reg = read_uleb(&at, end);
            uint64_t length = read_uleb(&at, end);
            if (length > (uint64_t)(end - at)) { state->supported = 0; break; }
            at += length;
            if (reg == REGISTER_RBP || reg == REGISTER_RA) state->supported = 0;
            break;
        }
        default: state->supported = 0; break;  // def_cfa_expression, val_* and the rest
        }
    }
}

/// Reads the rule for return address `address` (the call is at address - 1) from its FDE.
static struct frame_rule compute_rule(uintptr_t address) {
    struct frame_rule rule = {address, 0, 0, 0, 0, RULE_UNSUPPORTED};
    uintptr_t function;
    const unsigned char *fde = find_fde(address - 1, &function);
    if (fde == NULL) return rule;
    uint32_t fde_length;
    memcpy(&fde_length, fde, 4);
    if (fde_length == 0 || fde_length == 0xFFFFFFFF) return rule;
    const unsigned char *fde_end = fde + 4 + fde_length;
    int32_t cie_pointer;
    memcpy(&cie_pointer, fde + 4, 4);
    const unsigned char *cie = fde + 4 - cie_pointer;
    uint32_t cie_length;
    memcpy(&cie_length, cie, 4);
    if (cie_length == 0 || cie_length == 0xFFFFFFFF) return rule;
    const unsigned char *cie_end = cie + 4 + cie_length, *at = cie + 8;
    unsigned char version = *at++;
    const char *augmentation = (const char *)at;
    size_t augmentation_length = strnlen(augmentation, (size_t)(cie_end - at));
    at += augmentation_length + 1;
    if (augmentation[0] != 0 && augmentation[0] != 'z') return rule;
    uint64_t code_alignment = read_uleb(&at, cie_end);
    int64_t data_alignment = read_sleb(&at, cie_end);
    if (version == 1) at += 1;
    else (void)read_uleb(&at, cie_end);
    unsigned char pointer_encoding = 0;
    if (augmentation[0] == 'z') {
        uint64_t length = read_uleb(&at, cie_end);
        const unsigned char *data = at, *data_end = at + length;
        if (data_end > cie_end) return rule;
        for (const char *letter = augmentation + 1; *letter; letter += 1) {
            if (*letter == 'R') {
                pointer_encoding = *data++;
            } else if (*letter == 'P') {
                unsigned char encoding = *data++;
                int size = encoded_size(encoding);
                if (size < 0) return rule;
                data += size;
            } else if (*letter == 'L') {
                data += 1;
            } else if (*letter == 'S') {
                return rule;  // a signal frame: libunwind knows them
            } else if (*letter != 'B') {
                return rule;
            }
        }
        at = data_end;
    }
    struct cfa_state initial = {REGISTER_RSP, 8, -8, 0, 1};
    run_instructions(at, cie_end, 0, UINTPTR_MAX, code_alignment, data_alignment, &initial, &initial);
    // The FDE: the function's start and length (in the CIE's encoding), augmentation data, instructions.
    int size = encoded_size(pointer_encoding);
    if (size <= 0) return rule;
    // The address must be inside the FDE's range: the table finds the function before it, even across a gap.
    uint64_t range = 0;
    memcpy(&range, fde + 8 + size, (size_t)size);
    if (size < 8) range &= ((uint64_t)1 << (8 * size)) - 1;
    if (address - 1 >= function + range) return rule;
    const unsigned char *instructions = fde + 8 + 2 * size;
    if (augmentation[0] == 'z') {
        uint64_t length = read_uleb(&instructions, fde_end);
        instructions += length;
    }
    if (instructions > fde_end) return rule;
    struct cfa_state state = initial;
    run_instructions(instructions, fde_end, function, address - 1, code_alignment, data_alignment, &state, &initial);
    if (!state.supported || (state.cfa_register != REGISTER_RSP && state.cfa_register != REGISTER_RBP)) return rule;
    if (state.cfa_offset < INT32_MIN || state.cfa_offset > INT32_MAX || state.rbp_offset < INT16_MIN ||
        state.rbp_offset > INT16_MAX || state.ra_offset < INT16_MIN || state.ra_offset > INT16_MAX)
        return rule;
    rule.cfa_register = state.cfa_register;
    rule.cfa_offset = (int32_t)state.cfa_offset;
    rule.ra_offset = (int16_t)state.ra_offset;
    rule.rbp_offset = (int16_t)state.rbp_offset;
    rule.state = state.ra_offset == 0 ? RULE_OUTERMOST : RULE_KNOWN;
    return rule;
}

// MARK: Walking

/// Frees a thread's walk memory when it ends (threads come and go in servers: nothing may pile up).
static void release_thread_memory(void *memory) {
    int was_in_hook = hook_in_hook;
    hook_in_hook = 1;
    // Runs on the ending thread: an allocation after this (another key's destructor) sets the thread up again.
    if (walks == memory) {
        walks = NULL;
        near_rules = NULL;
    }
    hook_unmap(memory, THREAD_MEMORY);
    hook_in_hook = was_in_hook;
}

HOOK_HIDDEN void unwinder_start(void) {
    rule_cache = hook_map(RULE_CACHE_SIZE * sizeof *rule_cache);
    if (pthread_key_create(&thread_memory_key, release_thread_memory) != 0) rule_cache = NULL;
}

static int prepare_thread(void) {
    if (walks != NULL) return 1;
    if (rule_cache == NULL) return 0;
    pthread_attr_t attributes;
    void *base;
    size_t size;
    int found = 0;
    // pthread_getattr_np allocates (it reads /proc/self/maps with stdio for the main thread).
    HOOK_INTERNAL(if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
        found = pthread_attr_getstack(&attributes, &base, &size) == 0;
        pthread_attr_destroy(&attributes);
    });
    if (!found) return 0;
    struct walk_memory *memory = hook_map(THREAD_MEMORY);
    if (memory == NULL) return 0;
    int set;
    HOOK_INTERNAL(set = pthread_setspecific(thread_memory_key, memory));  // may allocate (keys past the first 32)
    if (set != 0) {
        hook_unmap(memory, THREAD_MEMORY);
        return 0;
    }
    stack_low = (uintptr_t)base;
    stack_high = (uintptr_t)base + size;
    near_rules = (struct near_rule *)(memory + RECENT_WALKS);
    walks = memory;
    return 1;
}

static struct frame_rule shared_rule_for(uintptr_t address);

/// The rule for `address`: from the thread's near cache, else the shared one (computed and cached when missing).
static inline struct frame_rule rule_for(uintptr_t address) {
    struct near_rule *near = &near_rules[(address * 0x9E3779B97F4A7C15ULL) >> (64 - NEAR_RULE_BITS)];
    if (near->address == address)
        return (struct frame_rule){
            .address = address,
            .cfa_offset = near->cfa_offset,
            .ra_offset = near->ra_offset,
            .rbp_offset = near->rbp_offset,
            .cfa_register = (near->kind & NEAR_RBP) ? REGISTER_RBP : REGISTER_RSP,
            .state = near->kind & 3,
        };
    struct frame_rule rule = shared_rule_for(address);
    if (rule.ra_offset >= INT8_MIN && rule.ra_offset <= INT8_MAX) {
        near->address = address;
        near->cfa_offset = rule.cfa_offset;
        near->rbp_offset = rule.rbp_offset;
        near->ra_offset = (int8_t)rule.ra_offset;
        near->kind = (uint8_t)(rule.state | (rule.cfa_register == REGISTER_RBP ? NEAR_RBP : 0));
    }
    return rule;
}

/// The rule for `address` from the shared cache, computed and cached there when missing.
static struct frame_rule shared_rule_for(uintptr_t address) {
    struct frame_rule *slot = &rule_cache[(address * 0x9E3779B97F4A7C15ULL) >> (64 - RULE_CACHE_BITS)];
    uint32_t generation = __atomic_load_n(&hook_code_generation, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&slot->address, __ATOMIC_ACQUIRE) == address) {
        struct frame_rule rule = *slot;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&slot->address, __ATOMIC_RELAXED) == address && rule.state != RULE_EMPTY &&
            rule.generation == generation) {
            rule.address = address;
            return rule;
        }
    }
    struct frame_rule rule = compute_rule(address);
    __atomic_store_n(&slot->address, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    slot->cfa_offset = rule.cfa_offset;
    slot->ra_offset = rule.ra_offset;
    slot->rbp_offset = rule.rbp_offset;
    slot->cfa_register = rule.cfa_register;
    slot->state = rule.state;
    slot->generation = generation;
    __atomic_store_n(&slot->address, address, __ATOMIC_RELEASE);
    return rule;
}

/// A walk that failed: another unwinder walks this stack, and the slot it was to fill holds nothing reusable.
static int forget(struct walk_memory *memory) {
    memory->count = 0;
    memory->leaf = 0;
    return -1;
}

/// The first frame of the last walk from which every word it read still holds the same value: its frames from there
/// on can be reused. Read from the outermost frame in, stopping at the first change (one pass a walk).
static int unchanged_from(const struct walk_memory *memory) {
    int index = memory->count;
    while (index > 0) {
        int frame = index - 1;
        if (memory->ra_at[frame] != 0 && *(const uintptr_t *)memory->ra_at[frame] != memory->ra_value[frame]) break;
        if (memory->rbp_at[frame] != 0 && *(const uintptr_t *)memory->rbp_at[frame] != memory->rbp_value[frame]) break;
        index = frame;
    }
    return index;
}

/// Walks the caller's stack into `frames` (return addresses, innermost first, the hook's own included); -1 when
/// a frame's rule is one this unwinder does not follow, so that the caller falls back, with the frames walked
/// until then in `frames` and their number in `*partial`. `*leaf` points to where the
/// stack's interned node is kept for this walk: non-zero when the stack is one of the thread's recent ones.
__attribute__((noinline)) HOOK_HIDDEN int unwinder_walk(
    uintptr_t *frames, int capacity, uint64_t **leaf, int *partial, const uintptr_t **recent_frames) {
    *leaf = NULL;
    *partial = 0;
    *recent_frames = NULL;
    if (!prepare_thread()) return -1;
    if (capacity > MAX_WALK) capacity = MAX_WALK;
    // This function's frame: its return address, and the caller's registers as this frame's prologue saved them.
    uintptr_t *frame = __builtin_frame_address(0);
    uintptr_t address = (uintptr_t)__builtin_return_address(0);
    uintptr_t sp = (uintptr_t)(frame + 2), rbp = frame[0];
    if (sp < stack_low || sp >= stack_high) return -1;  // an alternate signal stack, say
    // Code was unloaded since this thread's last walk (dlclose): other code may be at the same addresses now.
    uint32_t generation = __atomic_load_n(&hook_code_generation, __ATOMIC_ACQUIRE);
    if (generation != seen_generation) {
        for (int index = 0; index < RECENT_WALKS; index += 1) walks[index].count = 0;
        memset(near_rules, 0, NEAR_RULES * sizeof *near_rules);
        seen_generation = generation;
    }

    // One of the recent stacks, whole (an allocating loop): nothing to walk, nothing to intern.
    for (int age = 0; age < RECENT_WALKS; age += 1) {
        struct walk_memory *recent = &walks[(last_walk + RECENT_WALKS - age) % RECENT_WALKS];
        if (recent->count == 0 || recent->count > capacity || recent->sp[0] != sp || recent->address[0] != address ||
            recent->rbp[0] != rbp || unchanged_from(recent) != 0)
            continue;
        // The frames are not copied: the caller copies them from *recent if its memo does not already say the stack.
        *leaf = &recent->leaf;
        *recent_frames = recent->address;
        return recent->count;
    }

    const struct walk_memory *old = &walks[last_walk];
    int slot_index = (last_walk + 1) % RECENT_WALKS;
    struct walk_memory *new = &walks[slot_index];
    new->count = 0;
    new->leaf = 0;
    new->truncated = 0;
    int count = 0, reuse = 0, reusable = -1;
    while (count < capacity) {
        frames[count] = address;
        // A state the last walk had, with nothing it read changed since: the rest is the last walk's.
        while (reuse < old->count && old->sp[reuse] < sp) reuse += 1;
        // A walk cut at its capacity knows its stack only that far: reused from a frame nearer the top than where
        // it was met, it would end too soon.
        if (count > 0 && reuse < old->count && old->sp[reuse] == sp && old->address[reuse] == address &&
            old->rbp[reuse] == rbp && (!old->truncated || count >= reuse) &&
            reuse >= (reusable >= 0 ? reusable : (reusable = unchanged_from(old)))) {
            int rest = old->count - reuse;
            if (count + rest > capacity) rest = capacity - count;
            size_t words = (size_t)rest * sizeof(uintptr_t);
            memcpy(&new->address[count], &old->address[reuse], words);
            memcpy(&new->sp[count], &old->sp[reuse], words);
            memcpy(&new->rbp[count], &old->rbp[reuse], words);
            memcpy(&new->ra_at[count], &old->ra_at[reuse], words);
            memcpy(&new->ra_value[count], &old->ra_value[reuse], words);
            memcpy(&new->rbp_at[count], &old->rbp_at[reuse], words);
            memcpy(&new->rbp_value[count], &old->rbp_value[reuse], words);
            memcpy(&frames[count], &old->address[reuse], words);
            new->truncated = old->truncated || count + rest == capacity;
            count += rest;
            new->count = count;
            last_walk = slot_index;
            *leaf = &new->leaf;
            return count;
        }
        struct frame_rule rule = rule_for(address);
        const struct frame_rule *slot = &rule;
        new->address[count] = address;
        new->sp[count] = sp;
        new->rbp[count] = rbp;
        new->ra_at[count] = new->rbp_at[count] = 0;
        count += 1;
        if (slot->state == RULE_OUTERMOST) break;
        if (slot->state != RULE_KNOWN) return (*partial = count, forget(new));
        uintptr_t cfa = (slot->cfa_register == REGISTER_RSP ? sp : rbp) + (intptr_t)slot->cfa_offset;
        uintptr_t ra_at = cfa + (intptr_t)slot->ra_offset, rbp_at = cfa + (intptr_t)slot->rbp_offset;
        // Everything read must be on this thread's stack, above where we are: else the walk is wrong, so stop
        // trusting it.
        if (cfa <= sp || ra_at < sp || ra_at + 8 > stack_high) return (*partial = count, forget(new));
        if (slot->rbp_offset != 0) {
            if (rbp_at < sp || rbp_at + 8 > stack_high) return (*partial = count, forget(new));
            rbp = *(const uintptr_t *)rbp_at;
            new->rbp_at[count - 1] = rbp_at;
            new->rbp_value[count - 1] = rbp;
        }
        address = *(const uintptr_t *)ra_at;
        new->ra_at[count - 1] = ra_at;
        new->ra_value[count - 1] = address;
        sp = cfa;
        if (address == 0) break;  // the end of the stack (a thread's start)
    }
    new->count = count;
    new->truncated = count == capacity;
    last_walk = slot_index;
    *leaf = &new->leaf;
    return count;
}
