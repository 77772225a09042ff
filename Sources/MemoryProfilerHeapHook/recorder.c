// The capture: one writer under one lock, records appended to a shared mapping of the file (the format:
// capture_format.h).
//
// Files: the capture and "<file>.children" are created 0600 (they hold the process's load addresses). A process in
// secure mode (set-user-ID, set-group-ID, file capabilities: AT_SECURE) records nothing and creates no file, and
// every MPROF_* variable is read with secure_getenv: its environment is its caller's.
//
// One process records into one file. The first process to start with MPROF_HEAP_OUTPUT set creates it, or takes the
// one mprof created for it (MPROF_HEAP_DESCRIPTOR); a program it starts (fork and exec) finds the file there and
// records nothing, but appends a line "exec PID PATH" to "<file>.children" (a process that forks without exec:
// "fork PID"), so mprof can say which were not recorded. An exec of the recorded process itself (same PID) starts
// the capture again for the new program.
#define _GNU_SOURCE
#include "hook.h"
#include "capture_format.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unwind.h>

int hook_recording;

// The allocator's usable size of a block (family.c's), for the leak scan.
static size_t (*allocator_usable_size)(void *block);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char output_path[4096];
static int output = -1;
static pid_t recording_pid;
// Set in the thread that forks, from fork's first handler (which takes the lock) to its last.
static __thread int holding_for_fork __attribute__((tls_model("initial-exec")));
static struct timespec started;

static inline int recording(void) { return __atomic_load_n(&hook_recording, __ATOMIC_RELAXED); }

HOOK_HIDDEN int hook_secure_mode(void) { return getauxval(AT_SECURE) != 0; }

// MARK: Small helpers that allocate nothing

static char *append_text(char *at, const char *end, const char *text) {
    while (*text && at < end) *at++ = *text++;
    return at;
}

static char *append_decimal(char *at, const char *end, uint64_t value) {
    char digits[20];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count > 0 && at < end) *at++ = digits[--count];
    return at;
}

/// Says something to the program's standard error, once per reason, keeping errno.
static void complain(const char *what, int error) {
    int saved = errno;
    char line[512];
    char *end = line + sizeof line - 1, *at = append_text(line, end, "mprof-heap: ");
    at = append_text(at, end, what);
    if (error != 0) {
        at = append_text(at, end, " (errno ");
        at = append_decimal(at, end, (uint64_t)error);
        at = append_text(at, end, ")");
    }
    *at++ = '\n';
    (void)!write(2, line, (size_t)(at - line));
    errno = saved;
}

// MARK: The stream

// A window's written pages count in the program's resident set while it is mapped: small windows keep the hook's
// share of the RSS mprof reports to a megabyte (a new window every ~50,000 allocations costs nothing measurable).
#define WINDOW_BYTES ((size_t)1 << 20)
// The file grows further ahead, in fewer and larger steps: growing it is the costly part.
#define GROWTH_BYTES ((size_t)16 << 20)
#define LARGEST_RECORD 8448  // a module record with a 4096-byte path, and room to spare
// Kept free at the end of a file that cannot grow (a file size limit, a full disk): room for the record that says
// why the capture stopped.
#define TAIL_BYTES 1024

static unsigned char *window;   // the mapped part of the file
static uint64_t window_offset;  // where it starts in the file
static uint64_t stream_end;     // bytes of the capture written so far
static uint64_t file_end;       // the file's length, as the hook last made it
static uint64_t writable_end;   // records may be written up to here without a call to reserve's slow part
static uint64_t previous_address;
static int began;               // the begin record is written: a condition record may follow

static inline unsigned char *capture_put_number(unsigned char *at, uint64_t value);
static unsigned char *put_string(unsigned char *at, const char *text, size_t limit);

/// Stops recording and says why: on standard error, and in the capture, in the room kept at its end (the mapped
/// window covers it: see reserve), when its file is still the capture.
static void stop_recording(const char *why, int error) {
    // Once: the first reason is the one (a stop that follows from it would hide it, with a stale errno).
    if (!__atomic_load_n(&hook_recording, __ATOMIC_RELAXED)) return;
    __atomic_store_n(&hook_recording, 0, __ATOMIC_RELAXED);
    complain(why, error);
    if (!began || window == NULL) return;
    unsigned char fields[600];
    unsigned char *at = capture_put_number(fields, 2);
    at = capture_put_number(at, (uint64_t)(error > 0 ? error : 0));
    at = put_string(at, why, 500);
    size_t length = (size_t)(at - fields);
    if (stream_end < window_offset || stream_end + 1 + length > window_offset + WINDOW_BYTES ||
        stream_end + 1 + length > file_end)
        return;
    unsigned char *record = window + (stream_end - window_offset);
    memcpy(record + 1, fields, length);
    __atomic_store_n(record, (unsigned char)TAG_CONDITION, __ATOMIC_RELEASE);
    stream_end += 1 + length;
}

HOOK_HIDDEN void recorder_address_space_changing(uintptr_t start, size_t length) {
    // A forked child records nothing; its fork handlers (other libraries', which may unmap) can run before the
    // hook's, while the lock is still the parent's.
    if (!recording() || length == 0 || getpid() != recording_pid) return;
    uintptr_t end = start + length < start ? UINTPTR_MAX : start + length;
    int tables = hook_maps_any_of(start, end);
    // Signals blocked while the lock is held: a handler that maps or allocates would wait for it forever. Between
    // fork's handlers this thread holds the lock already (a library's own fork handler may unmap).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int locking = !holding_for_fork;
    if (locking) pthread_mutex_lock(&lock);
    // The reason first, while the window is still the hook's to write it in.
    if (tables && recording()) stop_recording("the capture stopped early: the program mapped over memory the hook uses", 0);
    if (window != NULL && (uintptr_t)window < end && start < (uintptr_t)window + WINDOW_BYTES) {
        window = NULL;  // the program's from now on: neither written nor unmapped by the hook (reserve maps another)
        writable_end = 0;
    }
    if (locking) pthread_mutex_unlock(&lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/// The file size limit (RLIMIT_FSIZE, `ulimit -f`): the hook never grows its file past it, since a process that
/// does receives SIGXFSZ, which kills it.
static uint64_t file_size_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    return (uint64_t)limit.rlim_cur;
}

/// Makes room for `bytes` more at the end of the stream: maps the next window when this one is full. The file is
/// extended with fallocate where the file system has it, so a full disk is an error here rather than a SIGBUS on a
/// later store.
static dev_t output_device;
static ino_t output_inode;

/// Whether `output` is still the capture: a program may close every descriptor it did not open (daemons do), and
/// the number may since name one of its own files, which the hook must never touch. If so, the capture is opened
/// again by its path, if that is still the same file.
static int output_is_capture(void) {
    struct stat status;
    if (fstat(output, &status) == 0 && status.st_dev == output_device && status.st_ino == output_inode) return 1;
    int again = open(output_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (again < 0) return 0;
    if (fstat(again, &status) != 0 || status.st_dev != output_device || status.st_ino != output_inode) {
        close(again);
        return 0;
    }
    output = again;  // the old number is the program's now: not closed here
    return 1;
}

/// Makes the file `target` bytes long from `offset` on, with fallocate (so a full disk is an error now, not a SIGBUS
/// on a later store) or, where the file system has none, ftruncate. 0, or -1 with errno.
static int grow_file(uint64_t offset, uint64_t target) {
    int status = fallocate(output, 0, (off_t)offset, (off_t)(target - offset));
    if (status != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) status = ftruncate(output, (off_t)target);
    return status;
}

static int reserve(size_t bytes) {
    if (window != NULL && stream_end + bytes <= writable_end) return 1;
    if (!output_is_capture()) {
        window = NULL;  // the file is not ours to write any more (the mapping stays: unmapping it costs nothing)
        stop_recording("the capture stopped early: the program closed its file", 0);
        return 0;
    }
    uint64_t offset = stream_end & ~(uint64_t)(hook_page_size - 1);
    // The window first, so that the room at the file's end is mapped when a stop must be written there.
    if (window == NULL || window_offset != offset) {
        void *mapped = hook_mmap(NULL, WINDOW_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, output, (off_t)offset);
        if (mapped == MAP_FAILED) {
            stop_recording("the capture stopped early: its file cannot be mapped", errno);
            return 0;
        }
        if (window != NULL) hook_munmap(window, WINDOW_BYTES);
        window = mapped;
        window_offset = offset;
    }
    if (offset + WINDOW_BYTES > file_end) {
        // Grown in large steps, never past the file size limit (a process that does receives SIGXFSZ).
        uint64_t limit = file_size_limit(), target = offset + GROWTH_BYTES;
        if (target > limit) target = limit;
        if (target > file_end && target >= stream_end + bytes + TAIL_BYTES) {
            int status = grow_file(offset, target);
            if (status != 0 && (errno == ENOSPC || errno == EDQUOT)) {
                // Little room left on the disk: as much as the next records need, a window at most.
                uint64_t needed = (stream_end + bytes + TAIL_BYTES + hook_page_size - 1) & ~(uint64_t)(hook_page_size - 1);
                uint64_t smaller = offset + WINDOW_BYTES < target ? offset + WINDOW_BYTES : target;
                if (smaller < needed) smaller = needed;
                if (smaller > file_end && smaller < target && grow_file(offset, smaller) == 0) {
                    status = 0;
                    target = smaller;
                }
            }
            if (status != 0) {
                stop_recording("the capture stopped early: its file cannot grow", errno);
                return 0;
            }
            file_end = target;
        } else if (target < stream_end + bytes + TAIL_BYTES) {
            char why[160];
            char *end = why + sizeof why - 1, *at = append_text(why, end, "the capture stopped early: the file size limit (ulimit -f, RLIMIT_FSIZE) of ");
            at = append_decimal(at, end, limit);
            at = append_text(at, end, " bytes was reached");
            *at = 0;
            stop_recording(why, 0);
            return 0;
        }
    }
    // Pages past the file's end must never be touched (SIGBUS): records stop short of it by the room for a stop.
    uint64_t window_end = window_offset + WINDOW_BYTES, usable_end = file_end > TAIL_BYTES ? file_end - TAIL_BYTES : 0;
    writable_end = window_end < usable_end ? window_end : usable_end;
    if (stream_end + bytes <= writable_end) return 1;
    stop_recording("the capture stopped early: its file cannot grow", 0);
    return 0;
}

/// Appends one record: its fields first, then its tag (see "Crash safety").
static void emit(unsigned char tag, const unsigned char *fields, size_t length) {
    if (!reserve(1 + length)) return;
    unsigned char *at = window + (stream_end - window_offset);
    // Records are a few bytes: a loop the compiler keeps inline beats a call to memcpy through the PLT.
    if (length <= 32) {
        for (size_t index = 0; index < length; index += 1) at[1 + index] = fields[index];
    } else {
        memcpy(at + 1, fields, length);
    }
    __atomic_store_n(at, tag, __ATOMIC_RELEASE);
    stream_end += 1 + length;
}

static unsigned char *put_string(unsigned char *at, const char *text, size_t limit) {
    size_t length = strnlen(text, limit);
    at = capture_put_number(at, length);
    memcpy(at, text, length);
    return at + length;
}

static inline uint64_t address_delta(uintptr_t address) {
    int64_t delta = (int64_t)(address - previous_address);
    previous_address = address;
    return ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63);  // zigzag: small either way
}

// MARK: Threads and time

static __thread uint32_t thread_number __attribute__((tls_model("initial-exec")));
static __thread uint32_t thread_capture __attribute__((tls_model("initial-exec")));  // the capture it was numbered in
static uint32_t threads_seen, current_thread;
static uint32_t capture_number;  // 1, 2, … for each capture this process writes (regions may start more than one)
static int aggregating;          // this capture keeps counters, not events (MPROF_HEAP_AGGREGATE=1: see Aggregate mode)
static uint64_t *totals;         // the aggregate mode's totals, in the file; NULL when the counters could not be made
static uint64_t level_millisecond;  // when the aggregate mode's last 'L' was written
uint32_t hook_capture_number;    // the same, for the unwinder's recent stacks
static uint64_t current_millisecond;

static uint64_t milliseconds_since_start(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    int64_t nanoseconds = (int64_t)(now.tv_sec - started.tv_sec) * 1000000000 + (now.tv_nsec - started.tv_nsec);
    return nanoseconds > 0 ? (uint64_t)nanoseconds / 1000000 : 0;
}

/// Before each event, under the lock: say which thread and when, if that changed.
static void before_event(void) {
    unsigned char fields[16];
    if (thread_capture != capture_number) {
        thread_number = ++threads_seen;
        thread_capture = capture_number;
    }
    if (thread_number != current_thread && !aggregating) {
        current_thread = thread_number;
        emit(TAG_THREAD, fields, (size_t)(capture_put_number(fields, thread_number) - fields));
    }
    // The clock (the coarse one, from the vDSO) costs a few nanoseconds, which a churning program feels. It is read
    // at every event while time moves between events, and ever less often (down to every 32nd) while events come
    // faster than the millisecond ticks: exact for a slow program (reading it only every 32nd event had dated one
    // allocation every 50 ms up to 1.6 s late), and at most 31 events late after a burst.
    static unsigned events_to_skip, clock_interval = 1;
    if (events_to_skip > 0) {
        events_to_skip -= 1;
        return;
    }
    uint64_t millisecond = milliseconds_since_start();
    if (millisecond != current_millisecond) {
        current_millisecond = millisecond;
        if (!aggregating) {
            emit(TAG_TIME, fields, (size_t)(capture_put_number(fields, millisecond) - fields));
        } else if (millisecond >= level_millisecond + 10 && totals != NULL) {
            // The heap over time, at most every 10 ms: the bytes live as the events before this one left them.
            level_millisecond = millisecond;
            emit(TAG_TIME, fields, (size_t)(capture_put_number(fields, millisecond) - fields));
            emit(TAG_LEVEL, fields, (size_t)(capture_put_number(fields, totals[0]) - fields));
        }
        clock_interval = 1;
    } else if (clock_interval < 32) {
        clock_interval *= 2;
    }
    events_to_skip = clock_interval - 1;
}

// MARK: Modules

struct module_range {
    uintptr_t start, end;
};
#define MAX_MODULE_RANGES 4096
static struct module_range module_ranges[MAX_MODULE_RANGES];
static int module_range_count;

static int known_range(uintptr_t start, uintptr_t end) {
    for (int index = 0; index < module_range_count; index += 1)
        if (module_ranges[index].start == start && module_ranges[index].end == end) return 1;
    return 0;
}

static int in_known_module(uintptr_t address) {
    for (int index = 0; index < module_range_count; index += 1)
        if (address >= module_ranges[index].start && address < module_ranges[index].end) return 1;
    return 0;
}

static char executable_path[4096];

static int emit_new_modules(struct dl_phdr_info *info, size_t size, void *context) {
    (void)size;
    (void)context;
    const char *path = info->dlpi_name != NULL && info->dlpi_name[0] != 0 ? info->dlpi_name : executable_path;
    // One record per module: the span of its loadable segments (code for stacks, data for type descriptors).
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (int index = 0; index < info->dlpi_phnum; index += 1) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        if (header->p_type != PT_LOAD) continue;
        uintptr_t segment = info->dlpi_addr + header->p_vaddr;
        if (segment < start) start = segment;
        if (segment + header->p_memsz > end) end = segment + header->p_memsz;
    }
    if (start >= end || known_range(start, end) || module_range_count == MAX_MODULE_RANGES) return 0;
    module_ranges[module_range_count++] = (struct module_range){start, end};
    unsigned char fields[LARGEST_RECORD];
    unsigned char *at = capture_put_number(fields, info->dlpi_addr);
    at = capture_put_number(at, start);
    at = capture_put_number(at, end);
    at = put_string(at, path, 4096);
    emit(TAG_MODULE, fields, (size_t)(at - fields));
    return 0;
}

/// Records the modules loaded since the last call (under the lock).
static void emit_modules(void) { dl_iterate_phdr(emit_new_modules, NULL); }

static void forget_stacks(void);

HOOK_HIDDEN void recorder_modules_changed(void) {
    if (!recording() || hook_in_hook) return;
    hook_in_hook = 1;
    pthread_mutex_lock(&lock);
    if (recording()) {
        module_range_count = 0;  // forget them: a module loaded later at a known range must be recorded again
        emit_modules();
        // Forget the interned stacks too: a library loaded later where the closed one was has the same return
        // addresses, and its frames must be new nodes, recorded after its module record, or the reader would name
        // them after the closed library.
        forget_stacks();
    }
    pthread_mutex_unlock(&lock);
    hook_leave();
}

// MARK: Stack interning

// Two open-addressing tables in memory from mmap. `nodes` maps (parent, return address) to a node number: the
// stacks form a tree, so a stack costs one record per frame the first time and nothing after. `stacks` maps a
// hash of a whole stack to its leaf node, so a stack seen before costs one lookup instead of one per frame.
// 64-bit hashes are compared without the frames: two different stacks collide with a probability of about 1e-8
// for a million distinct stacks.
struct node_entry {
    uint64_t address;
    uint32_t parent, number;  // number 0: empty
};
struct stack_entry {
    uint64_t hash;  // 0: empty
    uint32_t leaf, unused;
};
static struct node_entry *nodes;
static size_t node_capacity, node_count;
static size_t node_entries;  // in the table now: node_count goes on numbering after the table is emptied
static struct stack_entry *stacks;
static size_t stack_capacity, stack_count;

static inline uint64_t mix(uint64_t value) {
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ULL;
    value ^= value >> 33;
    return value;
}

/// Empties both tables (under the lock): stacks seen from now on get new nodes. Node numbers go on.
static void forget_stacks(void) {
    if (nodes != NULL) memset(nodes, 0, node_capacity * sizeof *nodes);
    node_entries = 0;
    if (stacks != NULL) memset(stacks, 0, stack_capacity * sizeof *stacks);
    stack_count = 0;
}

static int grow_nodes(void) {
    size_t capacity = node_capacity == 0 ? 65536 : node_capacity * 2;
    struct node_entry *grown = hook_map(capacity * sizeof *grown);
    if (grown == NULL) return 0;
    for (size_t index = 0; index < node_capacity; index += 1) {
        struct node_entry entry = nodes[index];
        if (entry.number == 0) continue;
        size_t slot = mix(entry.address ^ ((uint64_t)entry.parent << 40)) & (capacity - 1);
        while (grown[slot].number != 0) slot = (slot + 1) & (capacity - 1);
        grown[slot] = entry;
    }
    hook_unmap(nodes, node_capacity * sizeof *nodes);
    nodes = grown;
    node_capacity = capacity;
    return 1;
}

static uint32_t intern_node(uint32_t parent, uintptr_t address) {
    if ((node_entries + 1) * 2 > node_capacity && !grow_nodes()) return 0;
    size_t slot = mix(address ^ ((uint64_t)parent << 40)) & (node_capacity - 1);
    while (nodes[slot].number != 0) {
        if (nodes[slot].address == address && nodes[slot].parent == parent) return nodes[slot].number;
        slot = (slot + 1) & (node_capacity - 1);
    }
    // A new frame: perhaps in a library loaded since the last module records.
    if (!in_known_module(address)) emit_modules();
    uint32_t number = (uint32_t)++node_count;
    node_entries += 1;
    nodes[slot] = (struct node_entry){address, parent, number};
    unsigned char fields[24];
    unsigned char *at = capture_put_number(fields, parent);
    at = capture_put_number(at, address);
    emit(TAG_STACK_NODE, fields, (size_t)(at - fields));
    return number;
}

static int grow_stacks(void) {
    size_t capacity = stack_capacity == 0 ? 65536 : stack_capacity * 2;
    struct stack_entry *grown = hook_map(capacity * sizeof *grown);
    if (grown == NULL) return 0;
    for (size_t index = 0; index < stack_capacity; index += 1) {
        struct stack_entry entry = stacks[index];
        if (entry.hash == 0) continue;
        size_t slot = entry.hash & (capacity - 1);
        while (grown[slot].hash != 0) slot = (slot + 1) & (capacity - 1);
        grown[slot] = entry;
    }
    hook_unmap(stacks, stack_capacity * sizeof *stacks);
    stacks = grown;
    stack_capacity = capacity;
    return 1;
}

static uint32_t intern_stack(const uintptr_t *frames, int count) {
    if (count == 0) return 0;
    // One multiply per frame (the full mix per frame cost more than the rest of the recording), one mix at the end.
    uint64_t hash = (uint64_t)count;
    for (int index = 0; index < count; index += 1) hash = (hash ^ frames[index]) * 0x9E3779B97F4A7C15ULL;
    hash = mix(hash);
    if (hash == 0) hash = 1;
    if ((stack_count + 1) * 2 > stack_capacity && !grow_stacks()) return 0;
    size_t slot = hash & (stack_capacity - 1);
    while (stacks[slot].hash != 0) {
        if (stacks[slot].hash == hash) return stacks[slot].leaf;
        slot = (slot + 1) & (stack_capacity - 1);
    }
    uint32_t leaf = 0;
    for (int index = count - 1; index >= 0; index -= 1) {
        leaf = intern_node(leaf, frames[index]);
        if (leaf == 0) return 0;
    }
    stacks[slot] = (struct stack_entry){hash, leaf, 0};
    stack_count += 1;
    return leaf;
}

// MARK: Swift types

// Class metadata on Linux (no Objective-C interop): word 0 is the kind (0 for a class), word 5 the nominal type
// descriptor, which the analyser names from the executable's symbols ("…CMn"), generic classes included.
#define MAX_TYPES 65536
static struct {
    const void *metadata;
    uint32_t number;
} *types;
static uint32_t type_count;

static uint32_t intern_type(const void *metadata) {
    if (types == NULL && (types = hook_map(MAX_TYPES * sizeof *types)) == NULL) return 0;
    size_t slot = mix((uintptr_t)metadata) & (MAX_TYPES - 1);
    for (size_t probes = 0; probes < MAX_TYPES; probes += 1) {
        if (types[slot].metadata == metadata) return types[slot].number;
        if (types[slot].metadata == NULL) {
            if (type_count * 2 >= MAX_TYPES) return 0;  // a program with 32,768 types: the rest stay unnamed
            uint32_t number = ++type_count;
            types[slot].metadata = metadata;
            types[slot].number = number;
            const uintptr_t *words = metadata;
            uintptr_t kind = words[0], descriptor = kind == 0 ? words[5] : 0;
            unsigned char fields[48];
            unsigned char *at = capture_put_number(fields, number);
            at = capture_put_number(at, (uintptr_t)metadata);
            at = capture_put_number(at, kind);
            at = capture_put_number(at, descriptor);
            emit(TAG_TYPE, fields, (size_t)(at - fields));
            return number;
        }
        slot = (slot + 1) & (MAX_TYPES - 1);
    }
    return 0;
}

// MARK: Aggregate mode

// MPROF_HEAP_AGGREGATE=1 ('B' version 3), for programs that run for hours: the capture keeps counters per allocation
// site (a stack and a Swift type) instead of a record per allocation and free, so it does not grow with them. What
// it keeps is what the reports read — per site the allocations and bytes, the blocks live now, at the heap's peak,
// freed right away (temporaries) and leaked, and in all a size histogram —, not the order of events: no regions,
// no replay. The counters live in the file itself, in 'Q' records whose page-aligned payload the hook maps shared
// and updates in place: like every record they are in the page cache as soon as written, so a program killed by
// SIGKILL or the OOM killer leaves a capture that reads with every count up to the kill. The heap over time is a
// 'T' and 'L' (the bytes live) at most every 10 ms, about 2 MB an hour.
//
// The peak per site without a copy at every new peak: each new peak of the total moves an epoch on; a site about
// to change first copies its live counts to its peak counts if its epoch is behind (it has not changed since that
// peak, so its live counts are its counts at the peak). A reader takes a site's peak counts when its epoch is the
// last one, and its live counts otherwise.

#define COUNTER_PAYLOAD 32768  // the bytes of a 'Q' record's counters: under the 64 KiB of zeros that end a capture
#define SITE_WORDS 12
#define SITES_PER_RECORD (COUNTER_PAYLOAD / (SITE_WORDS * 8))
enum {
    SITE_KEY,  // 1 << 63 | stack node << 32 | type
    SITE_ALLOCATIONS, SITE_BYTES, SITE_LIVE, SITE_LIVE_BYTES, SITE_PEAK, SITE_PEAK_BYTES, SITE_EPOCH,
    SITE_TEMPORARIES, SITE_TEMPORARY_BYTES, SITE_LEAKED, SITE_LEAKED_BYTES,
};
enum {
    TOTAL_LIVE_BYTES, TOTAL_PEAK_BYTES, TOTAL_PEAK_MILLISECONDS, TOTAL_EPOCH, TOTAL_ALLOCATIONS, TOTAL_FREES,
    TOTAL_BYTES, TOTAL_UNKNOWN_FREES, TOTAL_TEMPORARIES, TOTAL_LIVE, TOTAL_SITES, TOTAL_LEAKED, TOTAL_LEAKED_BYTES,
    TOTAL_HISTOGRAM = 16,  // 65 buckets of (count, bytes): sizes 0, 1, 2–3, 4–7, …
};

static uint64_t **site_pages;  // the sites records' payloads, SITES_PER_RECORD sites each
static size_t site_page_capacity;
static uint32_t site_count;
static struct site_entry {
    uint64_t key;  // 0: empty
    uint32_t site, unused;
} *site_index;
static size_t site_index_capacity;
static struct live_table aggregate_live = {.with_sites = 1};
static __thread uintptr_t last_allocated_block __attribute__((tls_model("initial-exec")));
static __thread uint32_t last_allocated_capture __attribute__((tls_model("initial-exec")));
static __thread struct {
    uintptr_t block;
    uint64_t size;  // UINT64_MAX: a free of a block the capture never saw
    uint32_t site, thread, capture;
    int temporary;
} last_freed __attribute__((tls_model("initial-exec")));

/// Appends a 'Q' record (v kind: 1 totals, 2 sites; v first site; v payload bytes; v padding, 3 bytes; the padding's
/// zeros; the payload) whose payload starts on a page of the file, and maps the payload; NULL when it cannot.
static uint64_t *counters_record(uint64_t kind, uint64_t first) {
    unsigned char fields[40];
    unsigned char *at = capture_put_number(fields, kind);
    at = capture_put_number(at, first);
    at = capture_put_number(at, COUNTER_PAYLOAD);
    size_t head = 1 + (size_t)(at - fields) + 3;
    size_t padding = (size_t)((hook_page_size - (stream_end + head) % hook_page_size) % hook_page_size);
    *at++ = (unsigned char)(0x80 | (padding & 0x7f));  // three bytes whatever the value, so the head's length is known
    *at++ = (unsigned char)(0x80 | ((padding >> 7) & 0x7f));
    *at++ = (unsigned char)(padding >> 14);
    if (!reserve(head + padding + COUNTER_PAYLOAD)) return NULL;
    unsigned char *record = window + (stream_end - window_offset);
    memcpy(record + 1, fields, head - 1);
    memset(record + head, 0, padding + COUNTER_PAYLOAD);
    uint64_t payload_offset = stream_end + head + padding;
    uint64_t *payload = hook_map_file(COUNTER_PAYLOAD, output, (off_t)payload_offset);
    if (payload == NULL) {
        stop_recording("the capture stopped early: its counters cannot be mapped", errno);
        return NULL;
    }
    __atomic_store_n(record, (unsigned char)TAG_COUNTERS, __ATOMIC_RELEASE);
    stream_end = payload_offset + COUNTER_PAYLOAD;
    return payload;
}

/// Forgets the counters of an earlier capture of this process (an exec starts it again); under the lock.
static void aggregate_reset(void) {
    if (totals != NULL) hook_unmap(totals, COUNTER_PAYLOAD);
    totals = NULL;
    for (size_t index = 0; site_pages != NULL && index < site_page_capacity; index += 1)
        if (site_pages[index] != NULL) hook_unmap(site_pages[index], COUNTER_PAYLOAD);
    hook_unmap(site_pages, site_page_capacity * sizeof *site_pages);
    site_pages = NULL;
    site_page_capacity = 0;
    hook_unmap(site_index, site_index_capacity * sizeof *site_index);
    site_index = NULL;
    site_index_capacity = 0;
    site_count = 0;
    live_release(&aggregate_live);
    level_millisecond = 0;
}

static inline uint64_t *site_slot(uint32_t site) {
    return site_pages[site / SITES_PER_RECORD] + (size_t)(site % SITES_PER_RECORD) * SITE_WORDS;
}

/// The site of allocations from stack node `leaf` of type `type`, numbered from 0 as they first allocate; new ones
/// get their counters (a new 'Q' record every SITES_PER_RECORD). UINT32_MAX when no memory could be had.
static uint32_t aggregate_site(uint32_t leaf, uint32_t type) {
    uint64_t key = (uint64_t)1 << 63 | (uint64_t)leaf << 32 | type;
    if ((site_count + 1) * 2 > site_index_capacity) {
        size_t capacity = site_index_capacity == 0 ? 4096 : site_index_capacity * 2;
        struct site_entry *grown = hook_map(capacity * sizeof *grown);
        if (grown == NULL) return UINT32_MAX;
        for (size_t index = 0; index < site_index_capacity; index += 1) {
            if (site_index[index].key == 0) continue;
            size_t slot = mix(site_index[index].key) & (capacity - 1);
            while (grown[slot].key != 0) slot = (slot + 1) & (capacity - 1);
            grown[slot] = site_index[index];
        }
        hook_unmap(site_index, site_index_capacity * sizeof *site_index);
        site_index = grown;
        site_index_capacity = capacity;
    }
    size_t slot = mix(key) & (site_index_capacity - 1);
    while (site_index[slot].key != 0) {
        if (site_index[slot].key == key) return site_index[slot].site;
        slot = (slot + 1) & (site_index_capacity - 1);
    }
    if (site_count == UINT32_MAX - 1) return UINT32_MAX;
    uint32_t site = site_count;
    size_t page = site / SITES_PER_RECORD;
    if (site % SITES_PER_RECORD == 0) {
        if (page >= site_page_capacity) {
            size_t capacity = site_page_capacity == 0 ? 512 : site_page_capacity * 2;
            uint64_t **grown = hook_map(capacity * sizeof *grown);
            if (grown == NULL) return UINT32_MAX;
            if (site_pages != NULL) memcpy(grown, site_pages, site_page_capacity * sizeof *grown);
            hook_unmap(site_pages, site_page_capacity * sizeof *site_pages);
            site_pages = grown;
            site_page_capacity = capacity;
        }
        site_pages[page] = counters_record(2, site);
        if (site_pages[page] == NULL) return UINT32_MAX;
    }
    site_index[slot] = (struct site_entry){key, site, 0};
    site_count += 1;
    uint64_t *counters = site_slot(site);
    counters[SITE_EPOCH] = totals[TOTAL_EPOCH];  // live at no earlier peak: its peak counts stay 0
    __atomic_store_n(&counters[SITE_KEY], key, __ATOMIC_RELEASE);
    totals[TOTAL_SITES] = site_count;
    return site;
}

/// Before a site's counts change: its counts at the last peak, if it has not changed since.
static inline void keep_peak(uint64_t *counters) {
    if (counters[SITE_EPOCH] == totals[TOTAL_EPOCH]) return;
    counters[SITE_PEAK] = counters[SITE_LIVE];
    counters[SITE_PEAK_BYTES] = counters[SITE_LIVE_BYTES];
    counters[SITE_EPOCH] = totals[TOTAL_EPOCH];
}

/// After the heap grew: a new peak, now.
static inline void note_peak(void) {
    if (totals[TOTAL_LIVE_BYTES] <= totals[TOTAL_PEAK_BYTES]) return;
    totals[TOTAL_PEAK_BYTES] = totals[TOTAL_LIVE_BYTES];
    totals[TOTAL_PEAK_MILLISECONDS] = current_millisecond;
    totals[TOTAL_EPOCH] += 1;
}

static void add_live(uint32_t site, uint64_t size) {
    uint64_t *counters = site_slot(site);
    keep_peak(counters);
    counters[SITE_LIVE] += 1;
    counters[SITE_LIVE_BYTES] += size;
    totals[TOTAL_LIVE] += 1;
    totals[TOTAL_LIVE_BYTES] += size;
}

static void remove_live(uint32_t site, uint64_t size) {
    uint64_t *counters = site_slot(site);
    keep_peak(counters);
    counters[SITE_LIVE] -= 1;
    counters[SITE_LIVE_BYTES] -= size;
    totals[TOTAL_LIVE] -= 1;
    totals[TOTAL_LIVE_BYTES] -= size;
}

static void aggregate_allocation(uintptr_t block, uint64_t size, uint32_t leaf, uint32_t type) {
    if (totals == NULL) return;
    uint32_t site = aggregate_site(leaf, type);
    if (site == UINT32_MAX) {
        stop_recording("the capture stopped early: no memory could be mapped for its allocation sites", errno);
        return;
    }
    uint64_t replaced_size = UINT64_MAX;
    struct live_tag replaced = {0, 0};
    if (!live_insert(&aggregate_live, block, size, (struct live_tag){site, thread_number}, &replaced_size, &replaced)) {
        stop_recording("the capture stopped early: no memory could be mapped for its table of live blocks", errno);
        return;
    }
    // Allocated over without a free the hook saw (another allocator freed it): gone, and no free is counted.
    if (replaced_size != UINT64_MAX) remove_live(replaced.site, replaced_size);
    uint64_t *counters = site_slot(site);
    counters[SITE_ALLOCATIONS] += 1;
    counters[SITE_BYTES] += size;
    add_live(site, size);
    totals[TOTAL_ALLOCATIONS] += 1;
    totals[TOTAL_BYTES] += size;
    unsigned bucket = size == 0 ? 0 : 64 - (unsigned)__builtin_clzll(size);
    totals[TOTAL_HISTOGRAM + 2 * bucket] += 1;
    totals[TOTAL_HISTOGRAM + 2 * bucket + 1] += size;
    note_peak();
    last_allocated_block = block;
    last_allocated_capture = capture_number;
}

static void aggregate_free(uintptr_t block) {
    if (totals == NULL) return;
    struct live_tag tag = {0, 0};
    uint64_t size = live_remove(&aggregate_live, block, &tag);
    uint32_t site = tag.site;
    if (size == UINT64_MAX) {
        totals[TOTAL_UNKNOWN_FREES] += 1;
        last_freed.block = block;
        last_freed.size = UINT64_MAX;
        last_freed.capture = capture_number;
    } else {
        // A temporary: freed by the thread that allocated it before it allocated or freed anything else. (The
        // block's own thread too: this thread's last allocation at that address may have been freed by another
        // thread since, and the address given to it again.)
        int temporary = last_allocated_block == block && last_allocated_capture == capture_number &&
            tag.thread == thread_number;
        remove_live(site, size);
        totals[TOTAL_FREES] += 1;
        if (temporary) {
            uint64_t *counters = site_slot(site);
            counters[SITE_TEMPORARIES] += 1;
            counters[SITE_TEMPORARY_BYTES] += size;
            totals[TOTAL_TEMPORARIES] += 1;
        }
        last_freed.block = block;
        last_freed.size = size;
        last_freed.site = site;
        last_freed.thread = tag.thread;
        last_freed.capture = capture_number;
        last_freed.temporary = temporary;
    }
    last_allocated_block = 0;
}

/// The thread's last free did not free its block after all (a realloc that failed).
static void aggregate_restore(uintptr_t block) {
    if (totals == NULL || last_freed.capture != capture_number || last_freed.block != block) return;
    last_freed.capture = 0;
    if (last_freed.size == UINT64_MAX) {
        totals[TOTAL_UNKNOWN_FREES] -= 1;
        return;
    }
    if (!live_insert(&aggregate_live, block, last_freed.size, (struct live_tag){last_freed.site, last_freed.thread}, NULL,
            NULL)) {
        stop_recording("the capture stopped early: no memory could be mapped for its table of live blocks", errno);
        return;
    }
    add_live(last_freed.site, last_freed.size);
    totals[TOTAL_FREES] -= 1;
    if (last_freed.temporary) {
        uint64_t *counters = site_slot(last_freed.site);
        counters[SITE_TEMPORARIES] -= 1;
        counters[SITE_TEMPORARY_BYTES] -= last_freed.size;
        totals[TOTAL_TEMPORARIES] -= 1;
    }
    note_peak();
}

/// The exit scan's answer: the unreachable blocks' sites count them as leaked.
static void aggregate_unreachable(const uintptr_t *blocks, size_t count) {
    for (size_t index = 0; index < count && totals != NULL; index += 1) {
        struct live_tag tag = {0, 0};
        uint64_t size = live_find(&aggregate_live, blocks[index], &tag);
        if (size == UINT64_MAX) continue;
        uint64_t *counters = site_slot(tag.site);
        counters[SITE_LEAKED] += 1;
        counters[SITE_LEAKED_BYTES] += size;
        totals[TOTAL_LEAKED] += 1;
        totals[TOTAL_LEAKED_BYTES] += size;
    }
}

// MARK: Events


static uint64_t allocations, frees;

static void aggregate_allocation(uintptr_t block, uint64_t size, uint32_t leaf, uint32_t type);
static void aggregate_free(uintptr_t block);
static void aggregate_restore(uintptr_t block);

/// Appends an allocation record (under the lock): 'A', or 'O' with the Swift type `type` when it is not 0.
static void emit_allocation(const void *block, size_t size, uint32_t leaf, uint32_t type) {
    if (aggregating) {
        aggregate_allocation((uintptr_t)block, size, leaf, type);
        allocations += 1;
        return;
    }
    unsigned char fields[40];
    unsigned char *at = capture_put_number(fields, size);
    at = capture_put_number(at, leaf);
    at = capture_put_number(at, address_delta((uintptr_t)block));
    if (type != 0) at = capture_put_number(at, type);
    emit(type != 0 ? TAG_OBJECT : TAG_ALLOCATION, fields, (size_t)(at - fields));
    allocations += 1;
}

/// Appends a free record (under the lock).
static void emit_free(const void *block) {
    if (aggregating) {
        aggregate_free((uintptr_t)block);
    } else {
        unsigned char fields[16];
        emit(TAG_FREE, fields, (size_t)(capture_put_number(fields, address_delta((uintptr_t)block)) - fields));
    }
    frees += 1;
}

// A capture made for scopes alone (mprof_heap_scopes_record) records only their events.
static int scopes_only;

HOOK_HIDDEN void recorder_allocation(const void *block, size_t size, int in_scope) {
    if (!recording() || (scopes_only && !in_scope)) return;
    uintptr_t frames[HOOK_MAX_FRAMES];
    uint64_t *walk_leaf;
    int filled;
    int count = stacks_capture(frames, HOOK_MAX_FRAMES, &walk_leaf, &filled);
    const void *metadata = NULL;
    if (hook_pending_metadata != NULL && hook_pending_size == size) {
        metadata = hook_pending_metadata;
        hook_pending_metadata = NULL;
    }
    pthread_mutex_lock(&lock);
    if (recording()) {
        before_event();
        // One of the thread's recent stacks again (an allocating loop): its node is known, no hashing, no lookup.
        uint64_t known = walk_leaf != NULL ? *walk_leaf : 0;
        // A node of another capture, and the frames not filled: a region began its capture on another thread
        // between the walk and the lock. That one allocation goes without a stack rather than with a wrong one.
        uint32_t leaf = known != 0 && (uint32_t)(known >> 32) == capture_number ? (uint32_t)known
            : filled ? intern_stack(frames, count)
            : 0;
        if (walk_leaf != NULL) *walk_leaf = (uint64_t)capture_number << 32 | leaf;
        uint32_t type = metadata != NULL ? intern_type(metadata) : 0;
        emit_allocation(block, size, leaf, type);
    }
    pthread_mutex_unlock(&lock);
}

HOOK_HIDDEN void recorder_late_allocation(const void *block, size_t size, uintptr_t caller, int in_scope) {
    if (!recording() || (scopes_only && !in_scope)) return;
    pthread_mutex_lock(&lock);
    if (recording()) {
        before_event();
        emit_allocation(block, size, caller != 0 ? intern_stack(&caller, 1) : 0, 0);
    }
    pthread_mutex_unlock(&lock);
}

HOOK_HIDDEN int recorder_try_record(const void *block, size_t size, uintptr_t caller) {
    if (!recording() || scopes_only) return 1;
    // Never waits: the lock may be held by the very call this handler interrupted.
    if (pthread_mutex_trylock(&lock) != 0) return 0;
    if (recording()) {
        before_event();
        if (size == SIZE_MAX) {
            emit_free(block);
        } else {
            emit_allocation(block, size, caller != 0 ? intern_stack(&caller, 1) : 0, 0);
        }
    }
    pthread_mutex_unlock(&lock);
    return 1;
}

HOOK_HIDDEN void recorder_restore(const void *block, int in_scope) {
    if (!recording() || (scopes_only && !in_scope)) return;
    pthread_mutex_lock(&lock);
    if (recording()) {
        before_event();
        if (aggregating) {
            aggregate_restore((uintptr_t)block);
        } else {
            unsigned char fields[16];
            emit(TAG_RESTORE, fields, (size_t)(capture_put_number(fields, address_delta((uintptr_t)block)) - fields));
        }
        frees -= 1;
    }
    pthread_mutex_unlock(&lock);
}

HOOK_HIDDEN void recorder_exec(const char *path) {
    if (!recording() || getpid() != recording_pid) return;
    pthread_mutex_lock(&lock);
    if (recording()) {
        unsigned char fields[LARGEST_RECORD];
        unsigned char *at = put_string(fields, path != NULL ? path : "", 4096);
        emit(TAG_EXEC, fields, (size_t)(at - fields));
    }
    pthread_mutex_unlock(&lock);
}

HOOK_HIDDEN void recorder_free(const void *block, int in_scope) {
    if (!recording() || (scopes_only && !in_scope)) return;
    pthread_mutex_lock(&lock);
    if (recording()) {
        before_event();
        emit_free(block);
    }
    pthread_mutex_unlock(&lock);
}

// MARK: Start, children, finish

/// Appends "KIND PID PATH" to "<capture>.children" for a process that is not recorded.
static void note_unrecorded(const char *kind) {
    char path[sizeof output_path + 16];
    char *end = path + sizeof path - 1, *at = append_text(path, end, output_path);
    at = append_text(at, end, ".children");
    *at = 0;
    int descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (descriptor < 0) return;
    // Never past the file size limit: the write would kill the process with SIGXFSZ.
    struct stat status;
    if (fstat(descriptor, &status) != 0 || (uint64_t)status.st_size + sizeof(char[4200]) > file_size_limit()) {
        close(descriptor);
        return;
    }
    char line[4200];
    end = line + sizeof line - 1;
    at = append_text(line, end, kind);
    at = append_text(at, end, " ");
    at = append_decimal(at, end, (uint64_t)getpid());
    at = append_text(at, end, " ");
    char executable[4096];
    ssize_t length = readlink("/proc/self/exe", executable, sizeof executable - 1);
    executable[length > 0 ? length : 0] = 0;
    for (const char *character = executable; *character && at < end; character += 1)
        *at++ = *character == '\n' ? '?' : *character;  // one line per process
    *at++ = '\n';
    (void)!write(descriptor, line, (size_t)(at - line));
    close(descriptor);
}

// A fork from a signal handler that interrupted this thread inside the hook would wait for the lock the thread
// already holds: then the lock is not taken (the interrupted record is not finished in the child either way).
static __thread int fork_took_lock __attribute__((tls_model("initial-exec")));
static void before_fork(void) {
    fork_took_lock = !hook_in_hook;
    if (fork_took_lock) pthread_mutex_lock(&lock);
    holding_for_fork = fork_took_lock;
}
static void after_fork_in_parent(void) {
    holding_for_fork = 0;
    if (fork_took_lock) pthread_mutex_unlock(&lock);
}
/// In a child forked by a signal handler that interrupted the hook: the interrupted call goes on when the handler
/// returns, and would finish its update of the file a second time (the aggregate mode's counters are added to in
/// place: a test's capture read as damaged). The child's views of the file become private copies, so what it goes on
/// writing stays its own.
static void make_file_views_private(void) {
    if (window != NULL &&
        hook_mmap(window, WINDOW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, output, (off_t)window_offset) ==
            MAP_FAILED)
        hook_mmap(window, WINDOW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    hook_make_file_maps_private(output);
}

static void after_fork_in_child(void) {
    holding_for_fork = 0;
    if (!fork_took_lock) make_file_views_private();
    // The child shares the file and its mapping: it must not write. Nothing of the parent's is freed here.
    int was_recording = recording();
    __atomic_store_n(&hook_recording, 0, __ATOMIC_RELAXED);
    pthread_mutex_init(&lock, NULL);
    if (was_recording) note_unrecorded("fork");
}

/// The process id recorded in an existing capture's 'B' record, or -1.
static long capture_owner(int descriptor) {
    unsigned char head[32];
    ssize_t count = pread(descriptor, head, sizeof head, 0);
    if (count < 12 || memcmp(head, CAPTURE_MAGIC, CAPTURE_MAGIC_LENGTH) != 0 || head[8] != TAG_BEGIN) return -1;
    size_t at = 9;
    uint64_t version, pid;
    if (!capture_get_number(head, (size_t)count, &at, &version) || !capture_get_number(head, (size_t)count, &at, &pid) ||
        pid > INT32_MAX)
        return -1;
    return (long)pid;
}

static uintptr_t own_start, own_end;

static int find_own_text(struct dl_phdr_info *info, size_t size, void *context) {
    (void)size;
    (void)context;
    uintptr_t probe = (uintptr_t)&find_own_text;
    for (int index = 0; index < info->dlpi_phnum; index += 1) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[index];
        if (header->p_type != PT_LOAD || !(header->p_flags & PF_X)) continue;
        uintptr_t start = info->dlpi_addr + header->p_vaddr, end = start + header->p_memsz;
        if (probe >= start && probe < end) {
            own_start = start;
            own_end = end;
            uintptr_t module_start = UINTPTR_MAX, module_end = 0;
            for (int other = 0; other < info->dlpi_phnum; other += 1) {
                const ElfW(Phdr) *segment = &info->dlpi_phdr[other];
                if (segment->p_type != PT_LOAD) continue;
                uintptr_t from = info->dlpi_addr + segment->p_vaddr, to = from + segment->p_memsz;
                if (from < module_start) module_start = from;
                if (to > module_end) module_end = to;
            }
            hook_pages_own_module(module_start, module_end);
            return 1;
        }
    }
    return 0;
}

/// What the capture needs once per process: the page size, the executable, the unwinder, the fork handlers.
static void prepare_once(void) {
    static int prepared;
    if (prepared) return;
    prepared = 1;
    hook_pages_start();
    ssize_t length = readlink("/proc/self/exe", executable_path, sizeof executable_path - 1);
    executable_path[length > 0 ? length : 0] = 0;
    dl_iterate_phdr(find_own_text, NULL);
    // dlopen (libunwind) and the first walk allocate: the hook's own allocations.
    HOOK_INTERNAL(stacks_start(own_start, own_end));
    HOOK_INTERNAL(pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child));
}

/// Notes the open capture's identity (to know it again after a program closes descriptors).
static int identify_output(void) {
    // A shared lock for as long as the capture is open (the descriptor closes with the process): mprof does not
    // replace a capture another run is still writing.
    (void)flock(output, LOCK_SH | LOCK_NB);
    struct stat status;
    if (fstat(output, &status) != 0) {
        complain("cannot examine the capture; nothing is recorded", errno);
        close(output);
        output = -1;
        return 0;
    }
    output_device = status.st_dev;
    output_inode = status.st_ino;
    return 1;
}

/// Starts writing the capture opened as `output`: fresh tables (node numbers are the file's), the header, the
/// modules.
static void start_capture(void) {
    recording_pid = getpid();
    clock_gettime(CLOCK_MONOTONIC_COARSE, &started);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    pthread_mutex_lock(&lock);
    hook_unmap(nodes, node_capacity * sizeof *nodes);
    hook_unmap(stacks, stack_capacity * sizeof *stacks);
    hook_unmap(types, MAX_TYPES * sizeof *types);
    nodes = NULL;
    stacks = NULL;
    types = NULL;
    node_capacity = node_count = node_entries = stack_capacity = stack_count = 0;
    type_count = 0;
    module_range_count = 0;
    window = NULL;
    window_offset = stream_end = file_end = writable_end = 0;
    began = 0;
    previous_address = 0;
    threads_seen = current_thread = 0;
    current_millisecond = 0;
    allocations = frees = 0;
    capture_number += 1;
    aggregate_reset();
    __atomic_store_n(&hook_capture_number, capture_number, __ATOMIC_RELEASE);
    // Threads' recent stacks name nodes of the last capture: they are forgotten.
    __atomic_add_fetch(&hook_code_generation, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&hook_recording, 1, __ATOMIC_RELAXED);
    if (reserve(8)) {
        memcpy(window, CAPTURE_MAGIC, CAPTURE_MAGIC_LENGTH);
        stream_end = 8;
        unsigned char fields[LARGEST_RECORD];
        unsigned char *at = capture_put_number(fields, aggregating ? 3 : 1);
        at = capture_put_number(at, (uint64_t)recording_pid);
        at = capture_put_number(at, (uint64_t)wall.tv_sec * 1000000000 + (uint64_t)wall.tv_nsec);
        at = capture_put_number(at, hook_page_size);
        at = put_string(at, stacks_unwinder_name(), 64);
        at = put_string(at, executable_path, 4096);
        emit(TAG_BEGIN, fields, (size_t)(at - fields));
        began = recording();
        emit_modules();
        if (aggregating) totals = counters_record(1, 0);
    }
    pthread_mutex_unlock(&lock);
}

/// The capture `mprof run --heap` created for this process and handed over open (MPROF_HEAP_DESCRIPTOR: its
/// number), or -1. mprof creates the file itself, exclusively, before the program starts, and holds it until it has
/// stored the names, so a second run with the same -o is refused instead of sharing it. The descriptor is taken only
/// when it is the very file MPROF_HEAP_OUTPUT names and still empty (no process recorded into it yet); it is made
/// close-on-exec, so a program this one starts finds the file taken and records nothing, as it would without it.
static int handed_over_output(const char *path) {
    const char *number = hook_getenv("MPROF_HEAP_DESCRIPTOR");
    if (number == NULL) return -1;
    long descriptor = 0;
    int digits = 0;
    for (; number[digits] != 0; digits += 1) {
        if (number[digits] < '0' || number[digits] > '9' || digits >= 7) return -1;
        descriptor = descriptor * 10 + (number[digits] - '0');
    }
    if (digits == 0 || descriptor < 3 || descriptor > (1 << 20)) return -1;
    struct stat handed, named;
    if (fstat((int)descriptor, &handed) != 0 || lstat(path, &named) != 0) return -1;
    if (!S_ISREG(handed.st_mode) || handed.st_dev != named.st_dev || handed.st_ino != named.st_ino) return -1;
    // The capture, but not to be taken (written already, or not writable): kept from the programs this one starts.
    int flags = fcntl((int)descriptor, F_GETFL);
    if (handed.st_size != 0 || flags < 0 || (flags & O_ACCMODE) != O_RDWR) {
        (void)fcntl((int)descriptor, F_SETFD, FD_CLOEXEC);
        return -1;
    }
    if (fcntl((int)descriptor, F_SETFD, FD_CLOEXEC) != 0) return -1;
    return (int)descriptor;
}

HOOK_HIDDEN void recorder_start(size_t (*usable_size)(void *block)) {
    allocator_usable_size = usable_size;
    // A set-ID or capability-raising program (the hook linked in with patchelf --add-needed, where LD_PRELOAD would
    // be ignored) obeys nothing of its caller's environment, creates no file and records nothing.
    if (hook_secure_mode()) return;
    const char *path = hook_getenv("MPROF_HEAP_OUTPUT");
    if (path == NULL || path[0] == 0) return;
    if (strlen(path) >= sizeof output_path - 16) {
        complain("MPROF_HEAP_OUTPUT is too long; nothing is recorded", 0);
        return;
    }
    memcpy(output_path, path, strlen(path) + 1);
    output = handed_over_output(output_path);
    if (output < 0) output = open(output_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (output < 0 && errno == EEXIST) {
        int existing = open(output_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (existing >= 0 && capture_owner(existing) == (long)getpid() && ftruncate(existing, 0) == 0) {
            output = existing;  // this process exec'd a new program: its capture starts again
        } else {
            if (existing >= 0) close(existing);
            note_unrecorded("exec");
            return;
        }
    } else if (output < 0) {
        complain("cannot create the capture named by MPROF_HEAP_OUTPUT; nothing is recorded", errno);
        return;
    }
    if (!identify_output()) return;
    prepare_once();
    const char *aggregate = hook_getenv("MPROF_HEAP_AGGREGATE");
    aggregating = aggregate != NULL && strcmp(aggregate, "1") == 0;
    start_capture();
    if (stacks_unwinder_name()[0] == 'n') complain("no unwinder found: allocations are recorded without stacks", 0);
}

/// Records a batch of unreachable blocks ('U': v count, then each address as a difference from the one before).
static void report_unreachable(const uintptr_t *blocks, size_t count) {
    unsigned char fields[16 + 1000 * 10];
    unsigned char *at = capture_put_number(fields, count);
    uintptr_t previous = 0;
    for (size_t index = 0; index < count && index < 1000; index += 1) {
        at = capture_put_number(at, blocks[index] - previous);
        previous = blocks[index];
    }
    emit(TAG_UNREACHABLE, fields, (size_t)(at - fields));
}

static void emit_condition(uint64_t kind, uint64_t value, const char *text) {
    unsigned char fields[600];
    unsigned char *at = capture_put_number(fields, kind);
    at = capture_put_number(at, value);
    at = put_string(at, text, 500);
    emit(TAG_CONDITION, fields, (size_t)(at - fields));
}

/// The process's peak resident set (VmHWM) in bytes, 0 when unknown. From this thread's status: the process's
/// (/proc/self) reads empty once its main thread has ended with pthread_exit.
static uint64_t resident_peak(void) {
    int descriptor = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) descriptor = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) return 0;
    char text[8192];
    size_t length = 0;
    ssize_t count;
    while (length < sizeof text - 1 && (count = read(descriptor, text + length, sizeof text - 1 - length)) > 0)
        length += (size_t)count;
    close(descriptor);
    text[length] = 0;
    const char *field = strstr(text, "\nVmHWM:");
    if (field == NULL) return 0;
    field += 7;
    while (*field == ' ' || *field == '\t') field += 1;
    uint64_t kilobytes = 0;
    while (*field >= '0' && *field <= '9') kilobytes = kilobytes * 10 + (uint64_t)(*field++ - '0');
    return kilobytes * 1024;
}

/// Ends the capture, under the lock: the modules, the reachability scan (`stack_from`: where this thread's stack is
/// the program's; 0 for none), the end record, the file cut to its length and closed.
static void finish_capture(uintptr_t stack_from) {
    // The program's peak before the hook's exit work: what mprof reports as its peak.
    uint64_t peak = stack_from != 0 ? resident_peak() : 0;
    if (peak != 0) emit_condition(4, peak, "");
    // How much of the resident set is the hook's own tables now (the exit work's are to come).
    emit_condition(6, hook_tables_resident(), "");
    // When the exit work begins: the resident set sampled after this is the scan's, not the program's.
    if (stack_from != 0) emit_condition(5, milliseconds_since_start(), "");
    emit_modules();
    uint64_t missed = __atomic_load_n(&hook_signal_events_missed, __ATOMIC_RELAXED);
    if (missed != 0) emit_condition(3, missed, "");
    // Which blocks still allocated are unreachable. Under the lock, so no thread frees one meanwhile.
    const char *scan = hook_getenv("MPROF_HEAP_REACHABILITY");
    // (Not for a capture of scopes alone: their leaks are found when each ends, and nobody reads it after the exit.)
    if (stack_from != 0 && !scopes_only && (scan == NULL || strcmp(scan, "0") != 0) && recording() && output_is_capture()) {
        int error = 0;
        const char *failure = reachability_scan(output, stream_end, hook_page_size, stack_from,
            scan != NULL && strcmp(scan, "in-process") == 0, aggregating ? &aggregate_live : NULL, allocator_usable_size,
            aggregating ? aggregate_unreachable : report_unreachable, &error);
        if (failure != NULL) emit_condition(1, (uint64_t)error, failure);
        // The sites count the leaks: one empty 'U' says the scan was made.
        else if (aggregating) report_unreachable(NULL, 0);
    }
    unsigned char fields[40];
    unsigned char *at = capture_put_number(fields, allocations);
    at = capture_put_number(at, frees);
    at = capture_put_number(at, milliseconds_since_start());
    if (recording()) emit(TAG_END, fields, (size_t)(at - fields));  // not after a stop: that record is the last
    __atomic_store_n(&hook_recording, 0, __ATOMIC_RELAXED);
    if (window != NULL) hook_munmap(window, WINDOW_BYTES);
    window = NULL;
    if (output_is_capture() && ftruncate(output, (off_t)stream_end) != 0)
        complain("could not cut the capture to its length", errno);
    close(output);
    output = -1;
}

// MARK: Where the program's stack begins at exit

struct module_search {
    uintptr_t address, base;
};

static int find_module_base(struct dl_phdr_info *info, size_t size, void *context) {
    (void)size;
    struct module_search *search = context;
    for (int index = 0; index < info->dlpi_phnum; index += 1) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[index];
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_LOAD && search->address >= start && search->address < start + segment->p_memsz) {
            search->base = info->dlpi_addr;
            return 1;
        }
    }
    return 0;
}

/// The load address of the module holding `address`; UINTPTR_MAX when none does (0 is a real answer: a program
/// linked without PIE).
static uintptr_t module_base(uintptr_t address) {
    struct module_search search = {address, UINTPTR_MAX};
    dl_iterate_phdr(find_module_base, &search);
    return search.base;
}

struct exit_walk {
    uintptr_t libc, loader, hook;
    uintptr_t below_program;  // the CFA of the last frame of the exit's own (libc, the loader, the hook)
    int steps, reached_program;
};

static _Unwind_Reason_Code step_to_program(struct _Unwind_Context *context, void *argument) {
    struct exit_walk *walk = argument;
    uintptr_t address = (uintptr_t)_Unwind_GetIP(context);
    if (address == 0 || ++walk->steps > 256) return _URC_END_OF_STACK;
    uintptr_t base = module_base(address - 1);
    if (base == UINTPTR_MAX) return _URC_END_OF_STACK;  // code in no module (a JIT's): stop, keep what was there
    if (base == walk->libc || base == walk->loader || base == walk->hook) {
        walk->below_program = (uintptr_t)_Unwind_GetCFA(context);
        return _URC_NO_REASON;
    }
    walk->reached_program = 1;
    return _URC_END_OF_STACK;
}

/// Where the leak scan starts reading this thread's stack at exit: at the innermost frame of the program's own (the
/// caller of exit, quick_exit or _exit; _start after a return from main), above the frames of the exit machinery
/// (libc's exit handlers, the loader's destructor calls, the hook). Those frames reuse stack the program's dead
/// frames used, and their unwritten slots still hold the program's last pointers: read as roots, they kept lost
/// blocks "reachable". `fallback` (this frame) when the walk does not reach the program's code.
static uintptr_t program_stack_start(uintptr_t fallback) {
    struct exit_walk walk = {0};
    walk.libc = module_base((uintptr_t)&exit);
    walk.loader = (uintptr_t)getauxval(AT_BASE);
    walk.hook = module_base((uintptr_t)&program_stack_start);
    if (walk.libc == UINTPTR_MAX || walk.hook == UINTPTR_MAX) return fallback;
    _Unwind_Backtrace(step_to_program, &walk);
    return walk.reached_program && walk.below_program > fallback ? walk.below_program : fallback;
}

__attribute__((destructor)) HOOK_HIDDEN void recorder_finish(void) {
    // Called from a signal handler (an _exit there) that interrupted this thread inside the hook, perhaps holding
    // the lock: leave the capture as a killed program's rather than wait for ourselves.
    if (!recording() || getpid() != recording_pid || hook_in_hook) return;
    int saved = errno;
    hook_in_hook = 1;
    // The reachability scan reads this thread's stack from the program's innermost frame up: not the hook's, nor
    // the exit machinery's.
    uintptr_t stack_from = program_stack_start((uintptr_t)__builtin_frame_address(0));
    pthread_mutex_lock(&lock);
    if (recording()) finish_capture(stack_from);
    pthread_mutex_unlock(&lock);
    hook_in_hook = 0;
    errno = saved;
}

// MARK: Regions

// A program that links the library (or any program) can profile a piece of its work: between a region's begin and
// end, 'G' records mark where it starts and ends (v 1 or 2, v region number). Under `mprof run --heap` they go into
// the run's capture; otherwise the region starts a capture of its own in the file it names, and ends it.

static int region_begin(const char *path_if_not_recording, uint64_t *region);

// Starting a capture of a region's or the scopes' own is one step at a time: both fill output_path and output.
static pthread_mutex_t capture_start_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t open_region;          // the region being recorded (0: none)
static uint64_t regions_begun;
static int region_started_capture;    // the open region's capture is its own (ended with it)

/// Begins region recording: 0, and the region's number in `*region`; 1 when a region is already open; 2 when no
/// capture could be started (errno says why).
HOOK_EXPORT int mprof_heap_region_begin(const char *path_if_not_recording, uint64_t *region) {
    int was_in_hook = hook_in_hook;
    hook_in_hook = 1;
    pthread_mutex_lock(&capture_start_lock);
    int status = region_begin(path_if_not_recording, region);
    pthread_mutex_unlock(&capture_start_lock);
    hook_in_hook = was_in_hook;
    return status;
}

static int region_begin(const char *path_if_not_recording, uint64_t *region) {
    int status = 0;
    pthread_mutex_lock(&lock);
    if (open_region != 0) {
        status = 1;
    } else if (!recording() || getpid() != recording_pid) {
        pthread_mutex_unlock(&lock);
        if (hook_secure_mode()) {  // a set-ID program creates no file for anyone
            errno = EPERM;
            return 2;
        }
        // A capture of the region's own.
        if (path_if_not_recording == NULL || strlen(path_if_not_recording) >= sizeof output_path - 16) {
            errno = EINVAL;
            return 2;
        }
        memcpy(output_path, path_if_not_recording, strlen(path_if_not_recording) + 1);
        output = open(output_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (output < 0 || !identify_output()) return 2;
        prepare_once();
        aggregating = 0;  // a region's capture is of its events
        start_capture();
        pthread_mutex_lock(&lock);
        region_started_capture = 1;
    }
    if (status == 0) {
        open_region = ++regions_begun;
        *region = open_region;
        unsigned char fields[24];
        unsigned char *at = capture_put_number(fields, 1);
        at = capture_put_number(at, open_region);
        emit(TAG_REGION, fields, (size_t)(at - fields));
    }
    pthread_mutex_unlock(&lock);
    return status;
}

/// Ends region `region`: 0, with the capture's path in `path` and whether the capture was the region's own (now
/// finished) in `*own`; 1 when that region is not open.
HOOK_EXPORT int mprof_heap_region_end(uint64_t region, char *path, size_t capacity, int *own) {
    int was_in_hook = hook_in_hook;
    hook_in_hook = 1;
    int status = 1;
    pthread_mutex_lock(&lock);
    if (region != 0 && region == open_region) {
        status = 0;
        unsigned char fields[24];
        unsigned char *at = capture_put_number(fields, 2);
        at = capture_put_number(at, region);
        emit(TAG_REGION, fields, (size_t)(at - fields));
        open_region = 0;
        *own = region_started_capture;
        size_t length = strnlen(output_path, sizeof output_path);
        if (capacity > 0) {
            size_t copied = length < capacity - 1 ? length : capacity - 1;
            memcpy(path, output_path, copied);
            path[copied] = 0;
        }
        if (region_started_capture && recording()) finish_capture(0);
        region_started_capture = 0;
    }
    pthread_mutex_unlock(&lock);
    hook_in_hook = was_in_hook;
    return status;
}

// Scopes (scopes.c) count on their own; a capture says where their blocks came from. Under `mprof run --heap` their
// marks go into the run's capture; otherwise mprof_heap_scopes_record starts one of their own, which records only
// what threads in a scope allocate and the frees of those blocks, until the process ends.

HOOK_HIDDEN void recorder_scope_mark(uint64_t scope, uint64_t kind) {
    if (!recording()) return;
    pthread_mutex_lock(&lock);
    if (recording() && !aggregating) {
        before_event();
        unsigned char fields[24];
        unsigned char *at = capture_put_number(fields, scope);
        at = capture_put_number(at, kind);
        emit(TAG_SCOPE, fields, (size_t)(at - fields));
    }
    pthread_mutex_unlock(&lock);
}

/// Makes sure scopes are recorded: 0, with the capture's path in `path`, and in `*own` whether it is the scopes' own
/// (opened here, or by an earlier call); 2 when no capture could be started (errno says why: EPERM in secure mode,
/// EBUSY when the run's capture is an aggregate one, which keeps no events).
HOOK_EXPORT int mprof_heap_scopes_record(const char *path_if_not_recording, char *path, size_t capacity, int *own) {
    int was_in_hook = hook_in_hook;
    hook_in_hook = 1;
    pthread_mutex_lock(&capture_start_lock);
    int status = 0;
    pthread_mutex_lock(&lock);
    if (recording() && getpid() == recording_pid) {
        if (aggregating) {
            errno = EBUSY;
            status = 2;
        }
        pthread_mutex_unlock(&lock);
    } else {
        pthread_mutex_unlock(&lock);
        if (hook_secure_mode()) {
            errno = EPERM;
            status = 2;
        } else if (path_if_not_recording == NULL || strlen(path_if_not_recording) >= sizeof output_path - 16) {
            errno = EINVAL;
            status = 2;
        } else {
            memcpy(output_path, path_if_not_recording, strlen(path_if_not_recording) + 1);
            output = open(output_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (output < 0 || !identify_output()) {
                status = 2;
            } else {
                prepare_once();
                aggregating = 0;
                scopes_only = 1;
                start_capture();
            }
        }
    }
    if (status == 0) {
        *own = scopes_only;
        size_t length = strnlen(output_path, sizeof output_path);
        if (capacity > 0) {
            size_t copied = length < capacity - 1 ? length : capacity - 1;
            memcpy(path, output_path, copied);
            path[copied] = 0;
        }
    }
    pthread_mutex_unlock(&capture_start_lock);
    hook_in_hook = was_in_hook;
    return status;
}
