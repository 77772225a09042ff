// Leaks that are leaks: at a normal exit, which of the blocks still allocated can the program still reach?
//
// A conservative scan, as LeakSanitizer does it. The blocks still allocated are found by replaying the capture
// itself (so the hook keeps no table while the program runs and costs nothing more per allocation). The roots are
// every writable private mapping of the process that holds none of those blocks: the modules' data and bss, the
// threads' stacks (this thread's registers are spilled onto its stack first) and anonymous memory the program
// mapped itself; only resident pages are read (mincore), so untouched stack reserve costs nothing. A word that
// points into a block, anywhere inside it, with the top 16 bits ignored (Swift keeps flags there in strings and
// enums), marks the block, whose words are scanned in turn. What is left unmarked is unreachable: nothing in the
// process points to it any more (a retain cycle, a lost pointer).
//
// What it cannot see: pointers held only in another thread's registers, pointers stored in blocks allocated before
// the hook started, and pointers kept in a disguised form (XOR-ed, compressed, on disk). Each can make a block
// look unreachable; a stale copy of a pointer in memory can make a leak look reachable.
#define _GNU_SOURCE
#include "hook.h"

#include <fcntl.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

struct block {
    uintptr_t start;
    uint64_t size_and_mark;  // size << 1 | marked
};

// MARK: Replaying the capture

static int read_number(const unsigned char *bytes, size_t length, size_t *at, uint64_t *value) {
    uint64_t result = 0;
    for (unsigned shift = 0; *at < length && shift < 64; shift += 7) {
        unsigned char byte = bytes[(*at)++];
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return 1;
        }
    }
    return 0;
}

static int skip_numbers(const unsigned char *bytes, size_t length, size_t *at, int count) {
    uint64_t ignored;
    for (int index = 0; index < count; index += 1)
        if (!read_number(bytes, length, at, &ignored)) return 0;
    return 1;
}

static int skip_string(const unsigned char *bytes, size_t length, size_t *at) {
    uint64_t size;
    if (!read_number(bytes, length, at, &size) || size > length - *at) return 0;
    *at += size;
    return 1;
}

// Live blocks while replaying: address → size, open addressing with backward-shift deletion.
struct live_table {
    uintptr_t *keys;
    uint64_t *sizes;
    size_t mask, count;
};

static inline size_t live_slot(const struct live_table *table, uintptr_t address) {
    return (size_t)((address * 0x9E3779B97F4A7C15ULL) >> 20) & table->mask;
}

static int live_grow(struct live_table *table) {
    size_t old_capacity = table->keys == NULL ? 0 : table->mask + 1;
    size_t capacity = old_capacity == 0 ? 1 << 16 : old_capacity * 2;
    uintptr_t *keys = hook_map(capacity * sizeof *keys);
    uint64_t *sizes = hook_map(capacity * sizeof *sizes);
    if (keys == NULL || sizes == NULL) {
        hook_unmap(keys, capacity * sizeof *keys);
        hook_unmap(sizes, capacity * sizeof *sizes);
        return 0;
    }
    uintptr_t *old_keys = table->keys;
    uint64_t *old_sizes = table->sizes;
    table->keys = keys;
    table->sizes = sizes;
    table->mask = capacity - 1;
    for (size_t index = 0; index < old_capacity; index += 1) {
        if (old_keys[index] == 0) continue;
        size_t slot = live_slot(table, old_keys[index]);
        while (keys[slot] != 0) slot = (slot + 1) & table->mask;
        keys[slot] = old_keys[index];
        sizes[slot] = old_sizes[index];
    }
    hook_unmap(old_keys, old_capacity * sizeof *old_keys);
    hook_unmap(old_sizes, old_capacity * sizeof *old_sizes);
    return 1;
}

static int live_insert(struct live_table *table, uintptr_t address, uint64_t size) {
    if ((table->count + 1) * 2 > (table->keys == NULL ? 0 : table->mask + 1) && !live_grow(table)) return 0;
    size_t slot = live_slot(table, address);
    while (table->keys[slot] != 0 && table->keys[slot] != address) slot = (slot + 1) & table->mask;
    if (table->keys[slot] == 0) table->count += 1;
    table->keys[slot] = address;
    table->sizes[slot] = size;
    return 1;
}

/// Removes `address`; returns its size, or UINT64_MAX when it was not live.
static uint64_t live_remove(struct live_table *table, uintptr_t address) {
    if (table->keys == NULL) return UINT64_MAX;
    size_t slot = live_slot(table, address);
    while (table->keys[slot] != address) {
        if (table->keys[slot] == 0) return UINT64_MAX;
        slot = (slot + 1) & table->mask;
    }
    uint64_t size = table->sizes[slot];
    size_t hole = slot, next = (slot + 1) & table->mask;
    while (table->keys[next] != 0) {
        size_t home = live_slot(table, table->keys[next]);
        if (((hole - home) & table->mask) < ((next - home) & table->mask)) {
            table->keys[hole] = table->keys[next];
            table->sizes[hole] = table->sizes[next];
            hole = next;
        }
        next = (next + 1) & table->mask;
    }
    table->keys[hole] = 0;
    table->count -= 1;
    return size;
}

#define MAX_REPLAY_THREADS 65536

/// Replays the capture's allocations and frees; 0 when it cannot (out of memory, a record it does not know).
/// `freed` holds, per thread, the block its last free removed (address, size), for a restore record.
/// Replays the capture mapped at `bytes` (a shared file mapping: see replay's caller). The pages read are given
/// back a megabyte at a time: mapped whole, a capture of 100 MB would add 100 MB to the program's resident set and its
/// lifetime peak at exit, in the very numbers mprof reports.
static int replay_records(const unsigned char *bytes, size_t length, struct live_table *table, uint64_t (*freed)[2]) {
    const size_t release_every = (size_t)1 << 20;
    size_t at = 8, released = 0;
    uintptr_t previous = 0;
    uint64_t thread = 1;
    while (at < length) {
        if (at - released >= 2 * release_every) {
            size_t upto = (at / release_every - 1) * release_every;  // a megabyte behind: records never look back
            madvise((void *)(bytes + released), upto - released, MADV_DONTNEED);
            released = upto;
        }
        unsigned char tag = bytes[at++];
        uint64_t size, delta;
        switch (tag) {
        case 0: return 1;
        case 'A':
        case 'O':
            if (!read_number(bytes, length, &at, &size) || !skip_numbers(bytes, length, &at, 1) ||
                !read_number(bytes, length, &at, &delta))
                return 0;
            previous += (uintptr_t)((delta >> 1) ^ (0 - (delta & 1)));
            if (tag == 'O' && !skip_numbers(bytes, length, &at, 1)) return 0;
            if (!live_insert(table, previous, size)) return 0;
            break;
        case 'F':
        case 'R':
            if (!read_number(bytes, length, &at, &delta)) return 0;
            previous += (uintptr_t)((delta >> 1) ^ (0 - (delta & 1)));
            if (tag == 'F') {
                uint64_t removed = live_remove(table, previous);
                if (thread < MAX_REPLAY_THREADS) {
                    freed[thread][0] = removed == UINT64_MAX ? 0 : previous;
                    freed[thread][1] = removed;
                }
            } else if (thread < MAX_REPLAY_THREADS && freed[thread][0] == previous) {
                if (!live_insert(table, previous, freed[thread][1])) return 0;  // a failed realloc kept it
                freed[thread][0] = 0;
            }
            break;
        case 'E':
            if (!skip_string(bytes, length, &at)) return 0;
            break;
        case 'B':
            if (!skip_numbers(bytes, length, &at, 4) || !skip_string(bytes, length, &at) || !skip_string(bytes, length, &at))
                return 0;
            break;
        case 'M':
            if (!skip_numbers(bytes, length, &at, 3) || !skip_string(bytes, length, &at)) return 0;
            break;
        case 'S':
            if (!skip_numbers(bytes, length, &at, 2)) return 0;
            break;
        case 'Y':
            if (!skip_numbers(bytes, length, &at, 4)) return 0;
            break;
        case 'H':
            if (!read_number(bytes, length, &at, &thread)) return 0;
            break;
        case 'T':
            if (!skip_numbers(bytes, length, &at, 1)) return 0;
            break;
        default: return 0;
        }
    }
    return 1;
}

static int replay(const unsigned char *bytes, size_t length, struct live_table *table);

// MARK: Sorting and finding blocks

/// Sorts blocks by address: least significant digit radix sort, 16 bits at a time over 48-bit addresses.
static int sort_blocks(struct block *blocks, size_t count) {
    struct block *spare = hook_map(count * sizeof *spare + 1);
    size_t *counts = hook_map(65536 * sizeof *counts);
    if (spare == NULL || counts == NULL) {
        hook_unmap(spare, count * sizeof *spare + 1);
        hook_unmap(counts, 65536 * sizeof *counts);
        return 0;
    }
    struct block *from = blocks, *to = spare;
    for (unsigned shift = 0; shift < 64; shift += 16) {
        memset(counts, 0, 65536 * sizeof *counts);
        for (size_t index = 0; index < count; index += 1) counts[(from[index].start >> shift) & 0xFFFF] += 1;
        size_t total = 0;
        for (size_t digit = 0; digit < 65536; digit += 1) {
            size_t here = counts[digit];
            counts[digit] = total;
            total += here;
        }
        for (size_t index = 0; index < count; index += 1) to[counts[(from[index].start >> shift) & 0xFFFF]++] = from[index];
        struct block *swap = from;
        from = to;
        to = swap;
    }
    // Four passes: the result is back in `blocks`.
    hook_unmap(spare, count * sizeof *spare + 1);
    hook_unmap(counts, 65536 * sizeof *counts);
    return 1;
}

/// The block containing `address`, or -1.
static inline long find_block(const struct block *blocks, size_t count, uintptr_t address) {
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (blocks[middle].start <= address) low = middle + 1;
        else high = middle;
    }
    if (low == 0) return -1;
    const struct block *candidate = &blocks[low - 1];
    uint64_t size = candidate->size_and_mark >> 1;
    if (address < candidate->start + (size == 0 ? 1 : size)) return (long)(low - 1);
    return -1;
}

// MARK: Marking

struct marker {
    struct block *blocks;
    size_t count;
    uintptr_t lowest, highest;  // the span of all blocks: most words are outside it
    size_t *work;               // blocks marked and not scanned yet
    size_t pending;
};

static void scan_words(struct marker *marker, uintptr_t start, uintptr_t end) {
    start = (start + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (uintptr_t at = start; at + sizeof(uintptr_t) <= end; at += sizeof(uintptr_t)) {
        uintptr_t word = *(const uintptr_t *)at & 0x0000FFFFFFFFFFFFULL;
        if (word < marker->lowest || word >= marker->highest) continue;
        long index = find_block(marker->blocks, marker->count, word);
        if (index < 0 || (marker->blocks[index].size_and_mark & 1)) continue;
        marker->blocks[index].size_and_mark |= 1;
        marker->work[marker->pending++] = (size_t)index;
    }
}

static void drain(struct marker *marker) {
    while (marker->pending > 0) {
        const struct block *block = &marker->blocks[marker->work[--marker->pending]];
        scan_words(marker, block->start, block->start + (block->size_and_mark >> 1));
    }
}

/// Scans the resident pages of [start, end). Root memory is copied out with process_vm_readv first: another
/// thread may unmap a mapping (its own stack, when it ends) while this one reads it, and a copy fails with EFAULT
/// where a read would crash. (Blocks are read in place: no block can be freed while the recorder's lock is held.)
static void scan_resident(struct marker *marker, uintptr_t start, uintptr_t end, size_t page, unsigned char *copy, size_t copy_size) {
    unsigned char residency[256];
    size_t chunk_bytes = 256 * page < copy_size ? 256 * page : copy_size;
    for (uintptr_t chunk = start; chunk < end; chunk += chunk_bytes) {
        uintptr_t chunk_end = end - chunk > chunk_bytes ? chunk + chunk_bytes : end;
        size_t pages = (chunk_end - chunk + page - 1) / page;
        int known = mincore((void *)chunk, chunk_end - chunk, residency) == 0;
        for (size_t index = 0; index < pages; index += 1) {
            if (known && !(residency[index] & 1)) continue;
            // A run of resident pages, copied at once.
            size_t last = index;
            while (last + 1 < pages && (!known || (residency[last + 1] & 1))) last += 1;
            uintptr_t from = chunk + index * page, to = chunk + (last + 1) * page < chunk_end ? chunk + (last + 1) * page : chunk_end;
            struct iovec local = {copy, to - from}, remote = {(void *)from, to - from};
            ssize_t copied = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
            if (copied > 0) {
                scan_words(marker, (uintptr_t)copy, (uintptr_t)copy + (size_t)copied);
                drain(marker);
            }
            index = last;
        }
    }
}

static uintptr_t parse_hex(const char **text) {
    uintptr_t value = 0;
    for (;;) {
        char c = **text;
        unsigned digit;
        if (c >= '0' && c <= '9') digit = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') digit = (unsigned)(c - 'a' + 10);
        else return value;
        value = value << 4 | digit;
        *text += 1;
    }
}

/// The roots: each line of /proc/self/maps that is readable, writable and private, holds no block, and is not
/// the hook's own memory or the kernel's ([vvar], [vsyscall]).
static void scan_roots(struct marker *marker, size_t page, uintptr_t stack_pointer) {
    size_t capacity = 8 << 20, copy_size = 1 << 20;
    char *maps = hook_map(capacity);
    unsigned char *copy = hook_map(copy_size);
    if (maps == NULL || copy == NULL) {
        hook_unmap(maps, capacity);
        hook_unmap(copy, copy_size);
        return;
    }
    int descriptor = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    size_t length = 0;
    if (descriptor >= 0) {
        ssize_t count;
        while (length < capacity - 1 && (count = read(descriptor, maps + length, capacity - 1 - length)) > 0)
            length += (size_t)count;
        close(descriptor);
    }
    maps[length] = 0;
    for (const char *line = maps; *line;) {
        const char *text = line;
        uintptr_t start = parse_hex(&text);
        if (*text == '-') text += 1;
        uintptr_t end = parse_hex(&text);
        int usable = text[0] == ' ' && text[1] == 'r' && text[2] == 'w' && text[4] == 'p';
        const char *line_end = strchr(line, '\n');
        if (line_end == NULL) line_end = line + strlen(line);
        int kernel = memmem(line, (size_t)(line_end - line), "[vvar", 5) != NULL ||
                     memmem(line, (size_t)(line_end - line), "[vsyscall]", 10) != NULL;
        if (usable && !kernel && start < end) {
            // Holds a block: part of the heap itself, whose blocks are scanned only when reached.
            long first = find_block(marker->blocks, marker->count, start);
            size_t low = 0, high = marker->count;
            while (low < high) {
                size_t middle = low + (high - low) / 2;
                if (marker->blocks[middle].start < start) low = middle + 1;
                else high = middle;
            }
            int holds_block = first >= 0 || (low < marker->count && marker->blocks[low].start < end);
            // This thread's stack only from where it is now: below lie dead frames, whose stale pointers would
            // keep leaks "reachable". (Other threads' stacks are scanned whole: their stack pointers are unknown.)
            if (stack_pointer >= start && stack_pointer < end) start = stack_pointer & ~(uintptr_t)(sizeof(uintptr_t) - 1);
            // The kernel merges neighbouring anonymous mappings into one line: the hook's tables may share a
            // line with the program's memory. Only the hook's own parts are left out.
            while (!holds_block && start < end) {
                uintptr_t piece_end = end, next_start = end;
                hook_owned_piece(start, end, &piece_end, &next_start);
                if (start < piece_end) scan_resident(marker, start, piece_end, page, copy, copy_size);
                start = next_start;
            }
        }
        line = *line_end ? line_end + 1 : line_end;
    }
    hook_unmap(maps, capacity);
    hook_unmap(copy, copy_size);
}

// The registers the program's frames may have left values in, saved where the scan reads them and the roots do not
// include (the hook's own data).
static jmp_buf registers;

HOOK_HIDDEN int reachability_scan(
    int capture, uint64_t length, size_t page, uintptr_t stack_from, void (*report)(const uintptr_t *, size_t)) {
    if (length < 8 || length > SIZE_MAX) return 0;
    const unsigned char *bytes = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, capture, 0);
    if (bytes == MAP_FAILED) return 0;
    struct live_table table = {0};
    int replayed = replay(bytes, (size_t)length, &table);
    munmap((void *)bytes, (size_t)length);
    if (!replayed) {
        if (table.keys != NULL) {
            hook_unmap(table.keys, (table.mask + 1) * sizeof *table.keys);
            hook_unmap(table.sizes, (table.mask + 1) * sizeof *table.sizes);
        }
        return 0;
    }
    size_t count = table.count;
    struct block *blocks = hook_map(count * sizeof *blocks + 1);
    size_t *work = hook_map(count * sizeof *work + 1);
    int done = blocks != NULL && work != NULL;
    if (done) {
        size_t filled = 0;
        for (size_t slot = 0; table.keys != NULL && slot <= table.mask; slot += 1) {
            if (table.keys[slot] == 0) continue;
            // glibc keeps the next chunk's header in the last 8 bytes a block may use, and its own pointers to
            // that chunk (the top chunk, free lists) would land inside a block whose size asked reaches there:
            // such a word is the allocator's, not a reference to the block.
            uint64_t size = table.sizes[slot];
            size_t usable = hook_usable_size((void *)table.keys[slot]);
            if (usable >= 16 && usable - 8 < size) size = usable - 8;
            blocks[filled++] = (struct block){table.keys[slot], size << 1};
        }
        done = sort_blocks(blocks, count);
    }
    if (table.keys != NULL) {
        hook_unmap(table.keys, (table.mask + 1) * sizeof *table.keys);
        hook_unmap(table.sizes, (table.mask + 1) * sizeof *table.sizes);
    }
    // The scan's own state lives in the hook's memory, never on the stack it scans: a block address kept in a local
    // would count as a reference.
    struct marker *marker = hook_map(sizeof *marker);
    uintptr_t *batch = hook_map(1000 * sizeof *batch);
    done = done && marker != NULL && batch != NULL;
    if (done) {
        *marker = (struct marker){blocks, count, 0, 0, work, 0};
        if (count > 0) {
            marker->lowest = blocks[0].start;
            uintptr_t last = blocks[count - 1].start + (blocks[count - 1].size_and_mark >> 1);
            marker->highest = last + 1;
        }
        if (setjmp(registers) == 0) {
            scan_words(marker, (uintptr_t)&registers, (uintptr_t)&registers + sizeof registers);
            drain(marker);
            scan_roots(marker, page, stack_from);
        }
        // The unreachable blocks, in address order, a thousand at a time.
        size_t filled = 0;
        for (size_t index = 0; index < count; index += 1) {
            if (blocks[index].size_and_mark & 1) continue;
            batch[filled++] = blocks[index].start;
            if (filled == 1000) {
                report(batch, filled);
                filled = 0;
            }
        }
        report(batch, filled);
    }
    hook_unmap(blocks, count * sizeof *blocks + 1);
    hook_unmap(work, count * sizeof *work + 1);
    hook_unmap(marker, sizeof *marker);
    hook_unmap(batch, 1000 * sizeof *batch);
    return done;
}

static int replay(const unsigned char *bytes, size_t length, struct live_table *table) {
    uint64_t (*freed)[2] = hook_map(MAX_REPLAY_THREADS * sizeof *freed);
    if (freed == NULL) return 0;
    int replayed = replay_records(bytes, length, table, freed);
    hook_unmap(freed, MAX_REPLAY_THREADS * sizeof *freed);
    return replayed;
}
