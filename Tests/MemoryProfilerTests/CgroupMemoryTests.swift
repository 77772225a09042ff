import Foundation
@testable import MemoryProfiler
import Testing

/// cgroup v2's files as the kernel writes them, read from a directory the test fills: the machines these tests run
/// on mount the memory controller in v1's hierarchy (the live v1 path is tested with a real cgroup and a real OOM kill
/// in ExplainCommandTests), so v2's live files cannot be reached here.
struct CgroupMemoryTests {
    static func directory(_ files: [String: String]) throws -> URL {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cgroup-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: false, encoding: .utf8) }
        return directory
    }

    @Test func v2FilesAreReadAsTheKernelWritesThem() throws {
        let directory = try Self.directory([
            "memory.current": "157286400\n", "memory.max": "268435456\n", "memory.peak": "200000000\n",
            "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n",
            "memory.stat": "anon 104857600\nfile 41943040\nkernel 5242880\nkernel_stack 163840\nsock 4096\nshmem 0\n",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let memory = try CgroupMemory.read(.v2, path: "/app.slice/web.service", directory: directory.path)
        #expect(memory.current.bytes == 157_286_400 && memory.limit?.bytes == 268_435_456 && memory.peak?.bytes == 200_000_000)
        #expect(memory.headroom?.bytes == 268_435_456 - 157_286_400)
        #expect(memory.outOfMemoryEvents == 2 && memory.outOfMemoryKills == 1)
        #expect(memory.anonymous?.bytes == 104_857_600 && memory.file?.bytes == 41_943_040)
        #expect(memory.kernel?.bytes == 5_242_880 && memory.socketBuffers?.bytes == 4096)

        // No limit ("max"), no memory.peak (kernels before 5.19).
        try "max\n".write(to: directory.appendingPathComponent("memory.max"), atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("memory.peak"))
        let unlimited = try CgroupMemory.read(.v2, path: "/", directory: directory.path)
        #expect(unlimited.limit == nil && unlimited.headroom == nil && unlimited.peak == nil)
    }

    @Test func hostileValuesAreErrorsOrLeftOut() throws {
        for current in ["abc\n", "", "-5\n", "99999999999999999999999\n", "12 34\n"] {
            let directory = try Self.directory(["memory.current": current, "memory.max": "1e9\n", "memory.stat": "anon -1\nfile x\n"])
            defer { try? FileManager.default.removeItem(at: directory) }
            do {
                let memory = try CgroupMemory.read(.v2, path: "/", directory: directory.path)
                // "12 34": the first field is the number; the rest is ignored, as for every cgroup file.
                #expect(current == "12 34\n" && memory.current.bytes == 12 && memory.limit == nil && memory.anonymous == nil, "\(current): \(memory)")
            } catch {
                #expect(error.code == .unexpectedFormat, "\(current): \(error)")
            }
        }
    }

    @Test func mountsAndNamespacedPathsAreFound() {
        let mountinfo = """
            25 1 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            40 31 0:37 / /sys/fs/cgroup/my\\040mount rw,relatime - cgroup cgroup rw,name=systemd
            """
        let mounts = CgroupMemory.mountPoints(mountinfo)
        #expect(mounts.v2?.point == "/sys/fs/cgroup" && mounts.v2?.root == "/")
        #expect(mounts.v1?.point == "/sys/fs/cgroup/memory")
        #expect(CgroupMemory.unescaped("/a\\040b\\134c") == "/a b\\c")
        // A container's mount shows its hierarchy from the container's own cgroup down.
        #expect(CgroupMemory.directory(of: "/kubepods/pod1/c1", in: (root: "/kubepods/pod1", point: "/sys/fs/cgroup")) == "/sys/fs/cgroup/c1")
        #expect(CgroupMemory.directory(of: "/", in: (root: "/", point: "/sys/fs/cgroup")) == "/sys/fs/cgroup")
        #expect(CgroupMemory.directory(of: "/a/../../etc", in: (root: "/", point: "/sys/fs/cgroup")) == nil)
    }
}
