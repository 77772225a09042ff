// The readers are the Linux kernel's (/proc, clear_refs, getrusage's units) and the process code is glibc's:
// Linux is the one platform this package is built and tested on. Other systems stop here, with this message,
// rather than deep inside a reader.
#if !os(Linux)
#error("swift-memory-profiler supports Linux only: it reads memory through /proc and glibc")
#endif
