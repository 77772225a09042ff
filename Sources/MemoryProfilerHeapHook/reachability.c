// Leaks that are leaks: at a normal exit, which of the blocks still allocated can the program still reach?
//
// A conservative scan, as LeakSanitizer does it. The blocks still allocated are found by replaying the capture
// itself (so the hook keeps no table while the program runs and costs nothing more per allocation), or, in the
// aggregate mode, which has no events to replay, in the table it keeps (live.c). The roots are
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
#include "capture_format.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

struct block {
    uintptr_t start;
    // size << 5 | trim << 1 | marked, where trim (0-8) is the bytes at the block's end that a pointer is not taken
    // to point into (the allocator's own pointers to the next chunk land there; see scan), though they are scanned.
    uint64_t size_and_mark;
};

/// The bytes asked for: what is scanned.
static inline uint64_t block_size(const struct block *block) { return block->size_and_mark >> 5; }

/// The bytes a pointer into which makes the block reachable.
static inline uint64_t block_reach(const struct block *block) {
    return block_size(block) - ((block->size_and_mark >> 1) & 15);
}

// MARK: Replaying the capture

/// How a replay ended: the capture's end reached, or why not.
enum replay_result { REPLAYED = 0, REPLAY_NO_MEMORY = 1, REPLAY_UNREADABLE = 2 };

// Live blocks while replaying: address → size, open addressing with backward-shift deletion.
#define MAX_REPLAY_THREADS 65536

/// Replays the capture's allocations and frees into `table`; every other record is skipped by its shape
/// (capture_format.h). `freed` holds, per thread, the block its last free removed (address, size), for a restore
/// record. The capture is mapped at `bytes` (a shared file mapping: see replay's caller); the pages read are given
/// back a megabyte at a time: mapped whole, a capture of 100 MB would add 100 MB to the program's resident set and its
/// lifetime peak at exit, in the very numbers mprof reports.
static enum replay_result replay_records(
    const unsigned char *bytes, size_t length, struct live_table *table, uint64_t (*freed)[2]) {
    const size_t release_every = (size_t)1 << 20;
    size_t at = CAPTURE_MAGIC_LENGTH, released = 0;
    uintptr_t previous = 0;
    uint64_t thread = 1;
    while (at < length) {
        if (at - released >= 2 * release_every) {
            size_t upto = (at / release_every - 1) * release_every;  // a megabyte behind: records never look back
            madvise((void *)(bytes + released), upto - released, MADV_DONTNEED);
            released = upto;
        }
        unsigned char tag = bytes[at++];
        uint64_t size, node, delta, type;
        switch (tag) {
        case 0: return REPLAYED;  // the zeros after the last record
        case TAG_ALLOCATION:
        case TAG_OBJECT:
            if (!capture_get_number(bytes, length, &at, &size) || !capture_get_number(bytes, length, &at, &node) ||
                !capture_get_number(bytes, length, &at, &delta) ||
                (tag == TAG_OBJECT && !capture_get_number(bytes, length, &at, &type)))
                return REPLAY_UNREADABLE;
            previous += (uintptr_t)((delta >> 1) ^ (0 - (delta & 1)));
            if (!live_insert(table, previous, size, (struct live_tag){0, 0}, NULL, NULL)) return REPLAY_NO_MEMORY;
            break;
        case TAG_FREE:
        case TAG_RESTORE:
            if (!capture_get_number(bytes, length, &at, &delta)) return REPLAY_UNREADABLE;
            previous += (uintptr_t)((delta >> 1) ^ (0 - (delta & 1)));
            if (tag == TAG_FREE) {
                uint64_t removed = live_remove(table, previous, NULL);
                if (thread < MAX_REPLAY_THREADS) {
                    freed[thread][0] = removed == UINT64_MAX ? 0 : previous;
                    freed[thread][1] = removed;
                }
            } else if (thread < MAX_REPLAY_THREADS && freed[thread][0] == previous) {
                // A failed realloc kept the block it was recorded as freeing.
                if (!live_insert(table, previous, freed[thread][1], (struct live_tag){0, 0}, NULL, NULL)) return REPLAY_NO_MEMORY;
                freed[thread][0] = 0;
            }
            break;
        case TAG_THREAD:
            if (!capture_get_number(bytes, length, &at, &thread)) return REPLAY_UNREADABLE;
            break;
        case TAG_UNREACHABLE: {  // a count, then that many numbers
            uint64_t count, value;
            if (!capture_get_number(bytes, length, &at, &count) || count > length - at) return REPLAY_UNREADABLE;
            for (uint64_t index = 0; index < count; index += 1)
                if (!capture_get_number(bytes, length, &at, &value)) return REPLAY_UNREADABLE;
            break;
        }
        default: {
            struct capture_shape shape = capture_shape_of(tag);
            if (!shape.known || !capture_skip_fields(bytes, length, &at, shape)) return REPLAY_UNREADABLE;
            break;
        }
        }
    }
    return REPLAYED;
}

static enum replay_result replay(const unsigned char *bytes, size_t length, struct live_table *table);

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
    uint64_t reach = block_reach(candidate);
    if (address < candidate->start + (reach == 0 ? 1 : reach)) return (long)(low - 1);
    return -1;
}

// MARK: Reading the program's memory

// The scan never reads the program's memory in place: every root and every block is copied with process_vm_readv
// on the process's own id first. A page that cannot be read — a PROT_NONE guard page inside a block (coroutine
// stacks carved from malloc), a mapping another thread unmapped meanwhile, a block freed behind the recorder's back —
// fails the copy with EFAULT, where a read would kill the program, and counts as absent.

struct marker {
    struct block *blocks;
    size_t count;
    uintptr_t lowest, highest;  // the span of all blocks: most words are outside it
    size_t *work;               // blocks marked and not scanned yet
    size_t pending;
    size_t page;
    pid_t self;                 // whose memory is read: this thread's (by its id: the process's may be a zombie
                                // leader's, which has no memory left to read)
    unsigned char *copy;        // where memory is copied to before it is scanned
    size_t copy_size;
    const char *failure;        // set when the scan cannot go on: why
    int failure_errno;
    // A batch of small blocks read with one call.
    struct iovec local[256], remote[256];
    size_t batch[256];
};

#define COPY_BYTES ((size_t)1 << 20)

/// Copies [from, from + length) into `into`: the bytes copied from the start, short at the first page that cannot be
/// read; -1 when the call itself is refused (seccomp, a kernel without it), which ends the scan.
static ssize_t copy_memory(struct marker *marker, void *into, uintptr_t from, size_t length) {
    struct iovec local = {into, length}, remote = {(void *)from, length};
    ssize_t copied = process_vm_readv(marker->self, &local, 1, &remote, 1, 0);
    if (copied >= 0) return copied;
    if (errno == EFAULT) return 0;
    marker->failure = "process_vm_readv, which the scan reads memory with, was refused";
    marker->failure_errno = errno;
    return -1;
}

static void scan_words(struct marker *marker, const unsigned char *words, size_t length) {
    for (size_t at = 0; at + sizeof(uintptr_t) <= length; at += sizeof(uintptr_t)) {
        uintptr_t word;
        memcpy(&word, words + at, sizeof word);
        word &= 0x0000FFFFFFFFFFFFULL;
        if (word < marker->lowest || word >= marker->highest) continue;
        long index = find_block(marker->blocks, marker->count, word);
        if (index < 0 || (marker->blocks[index].size_and_mark & 1)) continue;
        marker->blocks[index].size_and_mark |= 1;
        marker->work[marker->pending++] = (size_t)index;
    }
}

/// Scans the words of [start, end), a copy at a time; pages that cannot be read are skipped. 0 when the scan must
/// stop (see copy_memory).
static int scan_range(struct marker *marker, uintptr_t start, uintptr_t end) {
    start = (start + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    while (start + sizeof(uintptr_t) <= end) {
        size_t wanted = end - start < marker->copy_size ? end - start : marker->copy_size;
        ssize_t copied = copy_memory(marker, marker->copy, start, wanted);
        if (copied < 0) return 0;
        scan_words(marker, marker->copy, (size_t)copied);
        if ((size_t)copied == wanted) {
            start += wanted;
        } else {
            // The page at start + copied cannot be read: on from the next one.
            start = ((start + (size_t)copied) & ~(uintptr_t)(marker->page - 1)) + marker->page;
        }
    }
    return 1;
}

/// Scans the blocks marked and not scanned yet, and those they mark: small blocks a batch per call.
static int drain(struct marker *marker) {
    while (marker->pending > 0) {
        size_t count = 0, bytes = 0;
        while (marker->pending > 0 && count < 256) {
            const struct block *block = &marker->blocks[marker->work[marker->pending - 1]];
            size_t size = (size_t)block_size(block) & ~(sizeof(uintptr_t) - 1);
            if (bytes + size > marker->copy_size) break;
            marker->pending -= 1;
            if (size == 0) continue;
            marker->local[count] = (struct iovec){marker->copy + bytes, size};
            marker->remote[count] = (struct iovec){(void *)block->start, size};
            marker->batch[count] = (size_t)(block - marker->blocks);
            bytes += size;
            count += 1;
        }
        if (count == 0 && marker->pending > 0) {
            // A block larger than the copy buffer: scanned in pieces.
            const struct block *block = &marker->blocks[marker->work[--marker->pending]];
            if (!scan_range(marker, block->start, block->start + block_size(block))) return 0;
            continue;
        }
        ssize_t copied = count > 0 ? process_vm_readv(marker->self, marker->local, count, marker->remote, count, 0) : 0;
        if (copied < 0 && errno != EFAULT) {
            marker->failure = "process_vm_readv, which the scan reads memory with, was refused";
            marker->failure_errno = errno;
            return 0;
        }
        if (copied < 0) copied = 0;
        // The blocks copied whole are scanned from the copy; from the first one that was not, each on its own
        // (a page of it cannot be read, or the call stopped there).
        size_t done = 0;
        for (size_t index = 0; index < count; index += 1) {
            size_t length = marker->local[index].iov_len;
            if (done + length <= (size_t)copied) {
                scan_words(marker, marker->local[index].iov_base, length);
                done += length;
                continue;
            }
            // The rest, read again one by one (the copy buffer is free from here: the rest was not scanned).
            for (size_t rest = index; rest < count; rest += 1) {
                uintptr_t start = (uintptr_t)marker->remote[rest].iov_base;
                if (!scan_range(marker, start, start + marker->remote[rest].iov_len)) return 0;
            }
            break;
        }
    }
    return 1;
}

/// Scans the resident pages of [start, end) (mincore: untouched stack reserve and the like cost nothing).
static int scan_resident(struct marker *marker, uintptr_t start, uintptr_t end) {
    unsigned char residency[256];
    size_t page = marker->page;
    size_t chunk_bytes = 256 * page;
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
            if (!scan_range(marker, from, to) || !drain(marker)) return 0;
            index = last;
        }
    }
    return 1;
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

/// Scans one line of the maps file, if it is a root: readable, writable and private, holding no block, not the
/// hook's own memory nor the kernel's ([vvar], [vsyscall]). 1 when the line was understood.
/// Whether [start, end) is a heap of one of glibc's malloc arenas other than the main one (the arenas threads
/// allocate from): a mapping aligned to HEAP_MAX_SIZE (64 MiB) that starts with a heap_info — its arena (in the first
/// page of the arena's first heap), the previous heap, its size and its protected size. That is the allocator's own
/// memory, scanned only through the blocks in it: its free chunks, and the caches (tcache) of threads — living or
/// exited — hold stale addresses of blocks since handed out again, which would make a leak look reachable. Its live
/// blocks are read when something reaches them. (It usually holds blocks, and is left out for that; one whose
/// blocks were all freed does not.)
static int is_malloc_arena(struct marker *marker, uintptr_t start, uintptr_t end) {
    const uintptr_t heap_max = (uintptr_t)64 << 20;
    if ((start & (heap_max - 1)) != 0 || end - start > heap_max) return 0;
    uint64_t heap_info[4];
    if (copy_memory(marker, heap_info, start, sizeof heap_info) != (ssize_t)sizeof heap_info) return 0;
    uint64_t arena = heap_info[0], size = heap_info[2], protected_size = heap_info[3];
    return (arena & (heap_max - 1)) < 4096 && arena != 0 && size >= 4096 && size <= heap_max &&
        protected_size <= heap_max;
}

// Other threads' stack pointers, read just before the copy of the process is made, for the threads that were
// blocked (in a system call: /proc/self/task/TID/syscall gives its stack pointer; a running thread's is not known).
// Their stacks are scanned from there up: below lie dead frames, whose stale copies of pointers would hide leaks —
// those of a thread that ran a scope's work and waits for more, say.
#define MAX_KNOWN_STACK_POINTERS 1024
static uintptr_t known_stack_pointers[MAX_KNOWN_STACK_POINTERS];
static size_t known_stack_pointer_count;

/// Reads the stack pointers of this process's blocked threads into known_stack_pointers (the calling thread's
/// says "running" and is left out: the scan knows its own).
static void read_stack_pointers(void) {
    known_stack_pointer_count = 0;
    int directory = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0) return;
    char entries[4096];
    for (;;) {
        long count = syscall(SYS_getdents64, directory, entries, sizeof entries);
        if (count <= 0) break;
        for (long at = 0; at < count;) {
            struct {
                uint64_t inode;
                int64_t offset;
                unsigned short length;
                unsigned char type;
                char name[];
            } *entry = (void *)(entries + at);
            at += entry->length;
            if (entry->name[0] < '0' || entry->name[0] > '9') continue;
            char path[64] = "/proc/self/task/";
            size_t used = strlen(path), name_length = strnlen(entry->name, 20);
            memcpy(path + used, entry->name, name_length);
            memcpy(path + used + name_length, "/syscall", 9);
            int file = open(path, O_RDONLY | O_CLOEXEC);
            if (file < 0) continue;
            char text[256];
            ssize_t read_length = read(file, text, sizeof text - 1);
            close(file);
            if (read_length <= 0 || text[0] == 'r') continue;  // "running": not known
            text[read_length] = 0;
            // "NR ARG1 … ARG6 SP PC" (or "-1 SP PC" between system calls): the next-to-last field.
            char *fields[10];
            int field_count = 0;
            for (char *at_text = text; *at_text && field_count < 10;) {
                while (*at_text == ' ' || *at_text == '\n') at_text += 1;
                if (!*at_text) break;
                fields[field_count++] = at_text;
                while (*at_text && *at_text != ' ' && *at_text != '\n') at_text += 1;
            }
            if (field_count < 3 || known_stack_pointer_count == MAX_KNOWN_STACK_POINTERS) continue;
            const char *sp_text = fields[field_count - 2];
            if (sp_text[0] != '0' || sp_text[1] != 'x') continue;
            sp_text += 2;
            known_stack_pointers[known_stack_pointer_count++] = parse_hex(&sp_text);
        }
    }
    close(directory);
}

static int scan_mapping(struct marker *marker, const char *line, size_t length, uintptr_t stack_pointer) {
    const char *text = line;
    uintptr_t start = parse_hex(&text);
    if (*text != '-') return 0;
    text += 1;
    uintptr_t end = parse_hex(&text);
    if ((size_t)(text - line) + 5 > length || text[0] != ' ') return 0;
    int usable = text[1] == 'r' && text[2] == 'w' && text[4] == 'p';
    int kernel = memmem(line, length, "[vvar", 5) != NULL || memmem(line, length, "[vsyscall]", 10) != NULL;
    if (!usable || kernel || start >= end) return 1;
    // Holds a block: part of the heap itself, whose blocks are scanned only when reached.
    long first = find_block(marker->blocks, marker->count, start);
    size_t low = 0, high = marker->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (marker->blocks[middle].start < start) low = middle + 1;
        else high = middle;
    }
    int holds_block = first >= 0 || (low < marker->count && marker->blocks[low].start < end);
    if (holds_block || is_malloc_arena(marker, start, end)) return 1;
    // This thread's stack only from where it is now: below lie dead frames (and the scan's own), whose stale
    // pointers would keep leaks "reachable". (Other threads' stacks are scanned whole: their stack pointers are
    // unknown.)
    if (stack_pointer >= start && stack_pointer < end) {
        start = stack_pointer & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    } else {
        // Another thread's stack, when it was blocked: from its stack pointer up (the lowest one in the mapping).
        uintptr_t lowest = 0;
        for (size_t index = 0; index < known_stack_pointer_count; index += 1) {
            uintptr_t known = known_stack_pointers[index];
            if (known >= start && known < end && (lowest == 0 || known < lowest)) lowest = known;
        }
        if (lowest != 0) start = lowest & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    }
    // The kernel merges neighbouring anonymous mappings into one line: the hook's tables may share a line with the
    // program's memory. Only the hook's own parts are left out.
    while (start < end) {
        uintptr_t piece_end = end, next_start = end;
        hook_owned_piece(start, end, &piece_end, &next_start);
        if (start < piece_end && !scan_resident(marker, start, piece_end)) return 1;
        start = next_start;
    }
    return 1;
}

/// The roots, line by line from the maps file, read a piece at a time (the file of a large process runs to
/// megabytes). The maps of this thread (/proc/thread-self): a process whose main thread ended with pthread_exit
/// has a zombie leader, whose /proc/self/maps reads empty. 0 when no mapping could be read.
static int scan_roots(struct marker *marker, uintptr_t stack_pointer) {
    int descriptor = open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) descriptor = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        marker->failure = "the process's mappings (/proc/thread-self/maps) could not be opened";
        marker->failure_errno = errno;
        return 0;
    }
    // Lines are at most a path (4096 bytes) and their fields: the buffer holds a whole one.
    const size_t capacity = 64 << 10;
    char *buffer = hook_map(capacity);
    if (buffer == NULL) {
        close(descriptor);
        marker->failure = "no memory could be mapped for the scan (RLIMIT_AS, or the system is out of memory)";
        marker->failure_errno = errno;
        return 0;
    }
    size_t held = 0, lines = 0;
    for (;;) {
        ssize_t count = read(descriptor, buffer + held, capacity - held);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        held += (size_t)count;
        size_t at = 0;
        for (;;) {
            char *newline = memchr(buffer + at, '\n', held - at);
            if (newline == NULL) break;
            size_t length = (size_t)(newline - (buffer + at));
            lines += (size_t)scan_mapping(marker, buffer + at, length, stack_pointer);
            if (marker->failure != NULL) break;
            at += length + 1;
        }
        if (marker->failure != NULL) break;
        memmove(buffer, buffer + at, held - at);
        held -= at;
        if (held == capacity) held = 0;  // a line longer than the buffer: not a mapping line
    }
    close(descriptor);
    hook_unmap(buffer, capacity);
    if (marker->failure == NULL && lines == 0) {
        marker->failure = "the process's mappings (/proc/thread-self/maps) read empty";
        return 0;
    }
    return marker->failure == NULL;
}

// The registers the program's frames may have left values in, saved where the scan reads them and the roots do not
// include (the hook's own data).
static jmp_buf registers;

// In the scan's copy of the process only: the allocator's size of a block reads the block's header, which the program
// may have made unreadable (a guard page over a malloc'ed stack). A fault there skips that block's size instead of
// ending the copy, and with it the whole scan. The copy's signal actions are its own (no CLONE_SIGHAND).
static sigjmp_buf usable_size_fault;
static void on_usable_size_fault(int signal) {
    (void)signal;
    siglongjmp(usable_size_fault, 1);
}

static void catch_usable_size_faults(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_usable_size_fault;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, NULL);
    sigaction(SIGBUS, &action, NULL);
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
}

/// The allocator's usable size of the block at `start`, or 0 when its header cannot be read (in the copy).
static size_t usable_size_in_copy(uintptr_t start, size_t (*usable_size)(void *)) {
    if (sigsetjmp(usable_size_fault, 1) != 0) return 0;
    return usable_size((void *)start);
}

/// The scan itself, in this process or in its copy (see reachability_scan). NULL when it was made, and `report`
/// called with the unreachable blocks; otherwise why not (`*error`: errno, or 0).
static const char *scan(
    int capture, uint64_t length, size_t page, uintptr_t stack_from, int safe_usable_size,
    const struct live_table *live, size_t (*usable_size)(void *), void (*report)(const uintptr_t *, size_t, void *),
    void *context, int *error) {
    *error = 0;
    struct live_table table = {0};
    if (live != NULL) {
        table = *live;  // the aggregate mode's: the program's to keep, never released here
    } else {
        if (length < 8 || length > SIZE_MAX) return "the capture could not be replayed";
        const unsigned char *bytes = hook_mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, capture, 0);
        if (bytes == MAP_FAILED) {
            *error = errno;
            return "the capture could not be mapped to be replayed (RLIMIT_AS, or the system is out of memory)";
        }
        int saved_errno = 0;
        enum replay_result replayed = replay(bytes, (size_t)length, &table);
        if (replayed == REPLAY_NO_MEMORY) saved_errno = errno;
        hook_munmap((void *)bytes, (size_t)length);
        if (replayed != REPLAYED) {
            *error = saved_errno;
            live_release(&table);
            return replayed == REPLAY_NO_MEMORY
                ? "the capture could not be replayed: no memory could be mapped for its table (RLIMIT_AS, or the "
                  "system is out of memory)"
                : "the capture could not be replayed: it holds a record the scan does not read (a damaged capture, "
                  "or a newer hook's)";
        }
    }
    size_t count = table.count;
    struct block *blocks = hook_map(count * sizeof *blocks + 1);
    size_t *work = hook_map(count * sizeof *work + 1);
    struct marker *marker = hook_map(sizeof *marker);
    unsigned char *copy = hook_map(COPY_BYTES);
    uintptr_t *batch = hook_map(1000 * sizeof *batch);
    const char *failure = NULL;
    if (blocks == NULL || work == NULL || marker == NULL || copy == NULL || batch == NULL) {
        *error = errno;
        failure = "no memory could be mapped for the scan (RLIMIT_AS, or the system is out of memory)";
    }
    if (failure == NULL) {
        *marker = (struct marker){.blocks = blocks, .count = count, .work = work, .page = page,
            .self = (pid_t)syscall(SYS_gettid), .copy = copy, .copy_size = COPY_BYTES};
        size_t filled = 0;
        if (safe_usable_size) catch_usable_size_faults();
        for (size_t slot = 0; table.keys != NULL && slot <= table.mask; slot += 1) {
            if (table.keys[slot] == 0) continue;
            // glibc's next chunk starts 8 bytes before the end of what a block may use (its first field, the
            // previous chunk's size, is the block's own last word while the block is allocated), and glibc's own
            // pointers to that chunk (the top chunk, free lists) would land inside a block whose size asked reaches
            // there: such a word is the allocator's, not a reference to the block, so it does not make the block
            // reachable. The block's last word is still scanned: it is the program's (a Swift object of 24 bytes
            // keeps its last stored property there). The allocator reads the block's header: only where a crash
            // cannot hurt the program (the scan's own copy of the process), or once the header is known to be
            // readable.
            uint64_t size = table.sizes[slot];
            uintptr_t start = table.keys[slot];
            unsigned char probe[16];
            size_t usable = 0;
            if (safe_usable_size) {
                usable = usable_size_in_copy(start, usable_size);
            } else if (start >= 16 && copy_memory(marker, probe, start - 16, 16) == 16 &&
                       copy_memory(marker, probe, start + (size_t)size, 16) == 16) {
                usable = usable_size((void *)start);
            }
            // Only where the block is glibc's chunk (its header, just before it, says its size is usable + 8 and
            // it is not mapped on its own): other allocators (jemalloc) keep nothing of theirs at a block's end.
            uint64_t header = 0;
            int glibc_chunk = usable >= 16 && start >= 8 && copy_memory(marker, &header, start - 8, 8) == 8 &&
                (header & ~(uint64_t)7) == (uint64_t)usable + 8 && (header & 2) == 0;
            uint64_t trim = glibc_chunk && usable >= size && usable - 8 < size ? size - (usable - 8) : 0;
            blocks[filled++] = (struct block){start, size << 5 | trim << 1};
        }
        marker->failure = NULL;
        if (!sort_blocks(blocks, count)) {
            *error = errno;
            failure = "no memory could be mapped for the scan (RLIMIT_AS, or the system is out of memory)";
        }
    }
    if (live == NULL) live_release(&table);
    if (failure == NULL) {
        if (count > 0) {
            marker->lowest = blocks[0].start;
            uintptr_t last = blocks[count - 1].start + block_size(&blocks[count - 1]);
            marker->highest = last + 1;
        }
        if (setjmp(registers) == 0) {
            unsigned char saved[sizeof registers];
            memcpy(saved, &registers, sizeof registers);
            scan_words(marker, saved, sizeof saved);
            if (drain(marker)) scan_roots(marker, stack_from);
        }
        if (marker->failure != NULL) {
            failure = marker->failure;
            *error = marker->failure_errno;
        }
    }
    if (failure == NULL) {
        // The unreachable blocks, in address order, a thousand at a time.
        size_t filled = 0;
        for (size_t index = 0; index < count; index += 1) {
            if (blocks[index].size_and_mark & 1) continue;
            batch[filled++] = blocks[index].start;
            if (filled == 1000) {
                report(batch, filled, context);
                filled = 0;
            }
        }
        report(batch, filled, context);
    }
    hook_unmap(blocks, count * sizeof *blocks + 1);
    hook_unmap(work, count * sizeof *work + 1);
    hook_unmap(marker, sizeof *marker);
    hook_unmap(copy, COPY_BYTES);
    hook_unmap(batch, 1000 * sizeof *batch);
    return failure;
}

static enum replay_result replay(const unsigned char *bytes, size_t length, struct live_table *table) {
    uint64_t (*freed)[2] = hook_map(MAX_REPLAY_THREADS * sizeof *freed);
    if (freed == NULL) return REPLAY_NO_MEMORY;
    enum replay_result replayed = replay_records(bytes, length, table, freed);
    hook_unmap(freed, MAX_REPLAY_THREADS * sizeof *freed);
    return replayed;
}

// MARK: The scan in a copy of the process

// The scan runs in a copy of the process (a clone without the fork handlers, the program's among them, and without
// a signal to the program when it ends), which reads its own memory — the program's, as it was at that moment — and
// sends the unreachable blocks through a pipe. Its tables are in the copy's memory, not in the program's resident
// set: the program's high-water mark, which mprof reports, stays its own (the scan of a server holding a million
// blocks added tens of megabytes to it). A crash there would cost the scan, not the program. The copy is never
// reaped by the program (whose wait4 counts would then include it); it exits once it has written its answer, and is
// reaped by whoever adopts it when the program ends.
//
// The messages: a header of two words (kind, count), then `count` words of addresses ('U') or `count` bytes of text
// ('E', the reason, then a word of errno); 'K' ends a scan that was made.

struct pipe_report {
    int descriptor;
    int broken;
};

static void write_all(struct pipe_report *pipe_report, const void *bytes, size_t length) {
    const unsigned char *at = bytes;
    while (length > 0 && !pipe_report->broken) {
        ssize_t written = write(pipe_report->descriptor, at, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
            pipe_report->broken = 1;
            return;
        }
        at += written;
        length -= (size_t)written;
    }
}

static void report_to_pipe(const uintptr_t *blocks, size_t count, void *context) {
    uint64_t header[2] = {'U', count};
    write_all(context, header, sizeof header);
    write_all(context, blocks, count * sizeof *blocks);
}

/// How long the scan's copy may take to answer, at most, before it is given up: a copy that hangs must not hang
/// the program (a leak scan of a scope runs while the program goes on, and holds its allocations up).
#define SCAN_ANSWER_SECONDS 300

/// Reads `length` bytes, waiting for them until `deadline` (CLOCK_MONOTONIC seconds): 1, or 0 at the end of the
/// pipe, an error, or the deadline.
static int read_all(int descriptor, void *bytes, size_t length, time_t deadline) {
    unsigned char *at = bytes;
    while (length > 0) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec >= deadline) return 0;
        struct pollfd wait = {.fd = descriptor, .events = POLLIN};
        int ready = poll(&wait, 1, (int)((deadline - now.tv_sec) * 1000));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return 0;
        ssize_t count = read(descriptor, at, length);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return 0;
        at += count;
        length -= (size_t)count;
    }
    return 1;
}

struct direct_report {
    void (*report)(const uintptr_t *, size_t);
};

static void report_in_process(const uintptr_t *blocks, size_t count, void *context) {
    ((struct direct_report *)context)->report(blocks, count);
}

static char failure_text[512];

HOOK_HIDDEN const char *reachability_scan(
    int capture, uint64_t length, size_t page, uintptr_t stack_from, int in_process, const struct live_table *live,
    size_t (*usable_size)(void *), void (*report)(const uintptr_t *, size_t), int *error) {
    *error = 0;
    int channel[2];
    if (!in_process && pipe2(channel, O_CLOEXEC) == 0) {
        // No handler runs in the copy: all signals blocked across the clone, and kept blocked there.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        read_stack_pointers();  // the copy sees the stacks as they are now
        long child = syscall(SYS_clone, 0UL, NULL, NULL, NULL, 0UL);
        if (child == 0) {
            close(channel[0]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            struct pipe_report out = {channel[1], 0};
            int scan_error = 0;
            const char *failure =
                scan(capture, length, page, stack_from, 1, live, usable_size, report_to_pipe, &out, &scan_error);
            if (failure != NULL) {
                size_t text = strlen(failure);
                uint64_t header[2] = {'E', text}, code = (uint64_t)scan_error;
                write_all(&out, header, sizeof header);
                write_all(&out, failure, text);
                write_all(&out, &code, sizeof code);
            } else {
                uint64_t header[2] = {'K', 0};
                write_all(&out, header, sizeof header);
            }
            syscall(SYS_exit_group, 0);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(channel[1]);
        if (child > 0) {
            // On this thread's stack: nothing needs mapping here, and the copy has its own picture of the stack.
            uintptr_t batch[1000];
            const char *failure = NULL;
            int finished = 0;
            struct timespec started;
            clock_gettime(CLOCK_MONOTONIC, &started);
            time_t deadline = started.tv_sec + SCAN_ANSWER_SECONDS;
            while (failure == NULL && !finished) {
                uint64_t header[2];
                if (!read_all(channel[0], header, sizeof header, deadline)) {
                    failure = "the scan's copy of the process ended, or took more than 5 minutes, before it finished";
                } else if (header[0] == 'U' && header[1] <= 1000) {
                    if (!read_all(channel[0], batch, header[1] * sizeof *batch, deadline))
                        failure = "the scan's copy of the process ended, or took more than 5 minutes, before it finished";
                    else
                        report(batch, (size_t)header[1]);
                } else if (header[0] == 'E' && header[1] < sizeof failure_text) {
                    uint64_t code = 0;
                    if (read_all(channel[0], failure_text, (size_t)header[1], deadline) &&
                        read_all(channel[0], &code, sizeof code, deadline)) {
                        failure_text[header[1]] = 0;
                        failure = failure_text;
                        *error = (int)code;
                    } else {
                        failure = "the scan's copy of the process ended before it finished";
                    }
                } else if (header[0] == 'K') {
                    finished = 1;
                } else {
                    failure = "the scan's copy of the process answered nonsense";
                }
            }
            close(channel[0]);
            // The batch held the addresses of every unreachable block of the process, other scopes' too: left on
            // this thread's stack, they would be found by the next scan (this thread's stack is read whole by a
            // scan made while it runs) and keep those blocks "reachable".
            explicit_bzero(batch, sizeof batch);
            // The copy is this process's child (a clone without an exit signal): ended, and waited for, so that no
            // zombie is left for each scan of a program that goes on.
            if (failure != NULL) kill((pid_t)child, SIGKILL);
            while (waitpid((pid_t)child, NULL, __WALL) < 0 && errno == EINTR) {}
            return failure;
        }
        close(channel[0]);
        // No copy (seccomp, a process limit): the scan runs here, its tables in the program's memory.
    }
    struct direct_report direct = {report};
    return scan(capture, length, page, stack_from, 0, live, usable_size, report_in_process, &direct, error);
}
