// The capture's format as the hook writes it and reads it back (the exit scan replays it): the magic, the records'
// tags and shapes, and the LEB128 numbers every field is. The recorder (recorder.c) writes it; the leak scan
// (reachability.c) reads it; mprof's reader is HeapCapture+Reading.swift, and the DocC catalogue's "Heap capture
// format" article is the specification for users.
//
// The capture: every allocation and free of the process, in order, with interned call stacks.
//
// File layout (version 1; version 3 is the aggregate mode's, described in recorder.c). The file starts with the 8
// bytes "MPROFHP1". Then come records. A record is a tag byte followed by fields. A field is an unsigned LEB128 number
// (v), or a string (a v length and that many bytes).
//
//   'B'  begin       v version, v pid, v wall-clock ns since 1970 at start, v page size, string unwinder,
//                    string executable path
//   'M'  module      v load bias, v start, v end (the span of its loadable segments, run-time addresses),
//                    string path
//   'S'  stack node  v parent node (0 = the root), v return address. Nodes are numbered 1, 2, 3, … in the
//                    order they appear, so a stack is a leaf node and its chain of parents.
//   'A'  allocation  v size, v stack node (0 = no stack), v zigzag(address - previous address)
//   'O'  object      as 'A', then v type: an instance allocated by swift_allocObject
//   'F'  free        v zigzag(address - previous address)
//   'R'  restore     v zigzag(address - previous address): the block freed by the thread's last 'F' was not freed
//                    after all (a realloc that failed keeps its block, which was recorded as freed before the call)
//   'E'  exec        string path: the process is about to replace its program (execve and its relatives); more
//                    records after it mean the exec failed
//   'Y'  type        v type number (1, 2, …), v metadata address, v metadata kind (0 = class),
//                    v nominal type descriptor address (classes; 0 otherwise)
//   'H'  thread      v thread number (1, 2, … in the order threads first allocate); the following records are
//                    its own
//   'T'  time        v milliseconds since start (monotonic; 'B' gives the wall clock of 0)
//   'U'  unreachable v count, then count numbers: addresses of blocks still allocated at exit that nothing in the
//                    process points to, each as the difference from the one before (from 0), ascending. Written
//                    at a normal exit by the reachability scan (reachability.c), in batches of up to 1000; at
//                    least one record (possibly of count 0) when the scan ran.
//   'G'  region      v 1 (begin) or 2 (end), v region number: what a program profiles of itself (see Regions)
//   'K'  scope       v scope identifier, v 1 (this thread enters it), 2 (this thread leaves it) or 3 (it ends): see
//                    scopes.c. A capture made for scopes alone (mprof_heap_scopes_record) holds only what threads
//                    in a scope allocated and the frees of those blocks
//   'X'  end         v allocations, v frees, v milliseconds: the process finished normally
//   'L'  level       v bytes live (version 3 only, after a 'T'): the heap then
//   'Q'  counters    v kind (1 totals, 2 sites), v first site, v payload bytes, v padding (3 bytes), the padding's
//                    zeros, the payload (version 3 only: see Aggregate mode)
//   'C'  condition   v kind, v value, string text: what the numbers need to be read right (1 leak scan failed,
//                    2 stopped early, 3 signal-handler events missed, 4 peak resident set before the exit work,
//                    5 milliseconds since the start when the exit work began)
//                      1  no leak scan was made: value an errno (0: none), text why; 'U' records before it, if
//                         any, are a part of an answer and not to be trusted
//                      2  the capture stopped early: value an errno (0: none), text why; the last record
//                      3  value allocations and frees made by signal handlers inside the hook that were not
//                         recorded (the queue for them was full): the counts are not exact
//                      4  value the process's peak resident set (VmHWM) in bytes, read at exit before the hook's
//                         own exit work (the leak scan)
//                      5  value milliseconds since the start: when the hook began its exit work
//                      6  value the bytes of the hook's own tables (anonymous memory) resident before its exit
//                         work: counted in the program's resident set, and so in its peak, though not the program's
//                    Readers ignore kinds they do not know.
//
// "Previous address" is the address of the last 'A', 'O', 'F' or 'R' record (0 at the start). A realloc is a free of
// the old block and an allocation of the new one.
//
// Crash safety: the records go into a shared mapping of the file, so they are in the page cache the moment they
// are written, and survive SIGKILL and the OOM killer. The file grows in windows of 1 MiB (zero-filled); each
// record's tag byte is stored after its fields, so a reader stops at the first zero tag: the end of a killed
// process's capture, or of one cut short in the middle of a record. At a normal exit an 'X' record is written and
// the file is cut to its length.
//
#ifndef MPROF_HEAP_CAPTURE_FORMAT_H
#define MPROF_HEAP_CAPTURE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/// The first 8 bytes of every capture.
#define CAPTURE_MAGIC "MPROFHP1"
#define CAPTURE_MAGIC_LENGTH 8

/// The records' tags.
enum capture_tag {
    TAG_BEGIN = 'B',
    TAG_MODULE = 'M',
    TAG_STACK_NODE = 'S',
    TAG_ALLOCATION = 'A',
    TAG_OBJECT = 'O',
    TAG_FREE = 'F',
    TAG_RESTORE = 'R',
    TAG_EXEC = 'E',
    TAG_TYPE = 'Y',
    TAG_THREAD = 'H',
    TAG_TIME = 'T',
    TAG_UNREACHABLE = 'U',
    TAG_REGION = 'G',
    TAG_SCOPE = 'K',
    TAG_END = 'X',
    TAG_LEVEL = 'L',
    TAG_COUNTERS = 'Q',
    TAG_CONDITION = 'C',
};

/// The shape of a record whose fields are `numbers` numbers and then `strings` strings; `known` is 0 for a tag
/// without a fixed shape ('U': a count and that many numbers; 'Q': a payload) or that is not a tag.
struct capture_shape {
    unsigned char known, numbers, strings;
};

static inline struct capture_shape capture_shape_of(unsigned char tag) {
    switch (tag) {
    case TAG_BEGIN: return (struct capture_shape){1, 4, 2};
    case TAG_MODULE: return (struct capture_shape){1, 3, 1};
    case TAG_STACK_NODE: return (struct capture_shape){1, 2, 0};
    case TAG_ALLOCATION: return (struct capture_shape){1, 3, 0};
    case TAG_OBJECT: return (struct capture_shape){1, 4, 0};
    case TAG_FREE: case TAG_RESTORE: return (struct capture_shape){1, 1, 0};
    case TAG_EXEC: return (struct capture_shape){1, 0, 1};
    case TAG_TYPE: return (struct capture_shape){1, 4, 0};
    case TAG_THREAD: case TAG_TIME: case TAG_LEVEL: return (struct capture_shape){1, 1, 0};
    case TAG_REGION: case TAG_SCOPE: return (struct capture_shape){1, 2, 0};
    case TAG_END: return (struct capture_shape){1, 3, 0};
    case TAG_CONDITION: return (struct capture_shape){1, 2, 1};
    default: return (struct capture_shape){0, 0, 0};
    }
}

/// Writes `value` as unsigned LEB128 at `at` (at most 10 bytes); returns the byte after it.
static inline unsigned char *capture_put_number(unsigned char *at, uint64_t value) {
    while (value >= 0x80) {
        *at++ = (unsigned char)(value | 0x80);
        value >>= 7;
    }
    *at++ = (unsigned char)value;
    return at;
}

/// Reads the unsigned LEB128 number at `bytes[*at]` and moves `*at` past it; 0 when the bytes end inside it or it
/// does not fit in 64 bits.
static inline int capture_get_number(const unsigned char *bytes, size_t length, size_t *at, uint64_t *value) {
    uint64_t result = 0;
    for (unsigned shift = 0; *at < length && shift < 64; shift += 7) {
        unsigned char byte = bytes[(*at)++];
        if (shift == 63 && byte > 1) return 0;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            *value = result;
            return 1;
        }
    }
    return 0;
}

/// Moves `*at` past a record of `shape` (its fields only: the tag is read); 0 when the bytes end inside it.
static inline int capture_skip_fields(const unsigned char *bytes, size_t length, size_t *at, struct capture_shape shape) {
    uint64_t value;
    for (unsigned index = 0; index < shape.numbers; index += 1)
        if (!capture_get_number(bytes, length, at, &value)) return 0;
    for (unsigned index = 0; index < shape.strings; index += 1) {
        if (!capture_get_number(bytes, length, at, &value) || value > length - *at) return 0;
        *at += (size_t)value;
    }
    return 1;
}

#endif
