// The bundled example workload: memory that grows in steps, then shrinks, with a short spike in between.
// Profile it with mprof (README, Quick start):
//
//   swift build -c release --product step-alloc && swift run -c release mprof run .build/release/step-alloc
//
// Its phases are named regions (withMemoryTimestamp): under mprof run they become FUNC records in the .dat
// file, which mprof plot draws as brackets.
import Glibc
import MemoryProfiler

/// Allocates `mebibytes` and writes every page, so that all of it is resident.
func touched(mebibytes: Int) -> UnsafeMutableRawPointer {
    let bytes = mebibytes << 20
    let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    block.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
    return block
}

func pause(milliseconds: Int) {
    usleep(useconds_t(milliseconds * 1000))
}

var blocks: [UnsafeMutableRawPointer] = []

withMemoryTimestamp("main") {
    withMemoryTimestamp("grow") {
        for _ in 0..<10 {
            blocks.append(touched(mebibytes: 20))
            pause(milliseconds: 150)
        }
    }
    withMemoryTimestamp("spike") {
        // 80 MiB for 30 ms: shorter than mprof's default 100 ms interval; the kernel's high-water mark keeps it.
        let spike = touched(mebibytes: 80)
        pause(milliseconds: 30)
        spike.deallocate()
    }
    pause(milliseconds: 200)
    withMemoryTimestamp("shrink") {
        while let block = blocks.popLast() {
            block.deallocate()
            pause(milliseconds: 100)
        }
    }
    pause(milliseconds: 200)
}
print("step-alloc: done")
