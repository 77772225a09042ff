#ifndef MEMORY_PROFILER_HEAP_HOOK_H
#define MEMORY_PROFILER_HEAP_HOOK_H

// libmprof-heap-hook.so is loaded with LD_PRELOAD, never imported: it defines the malloc family itself. This
// header exists only because SwiftPM wants one for a C target; it declares nothing.

#endif
