import Foundation
import Testing
import CBMTestSupport

@Suite("Children started by the tests")
struct ChildProcessTests {
    @Test("a child holds none of the test process's open files: a script written meanwhile can be run")
    func noInheritedFiles() throws {
        let dir = TemporaryDirectory("child")
        // Open for writing and inheritable, as a file being written by another test would be.
        let fd = open(dir.file("script.sh"), O_WRONLY | O_CREAT | O_TRUNC, 0o755)
        #expect(fd >= 3)
        let text = "#!/bin/sh\nexit 7\n"
        #expect(write(fd, text, text.utf8.count) == text.utf8.count)
        let holder = try ChildProcess("/bin/sh", ["-c", "ls /proc/$$/fd; exec sleep 30"], directory: dir.path, name: "holder")
        defer { holder.signal(SIGKILL); holder.wait() }
        close(fd)
        #expect(eventually(timeout: 10) { holder.stdout.hasSuffix("\n") })
        let descriptors = holder.stdout.split(separator: "\n").compactMap { Int32($0) }
        #expect(!descriptors.isEmpty)
        #expect(!descriptors.contains(fd), "the child holds \(descriptors)")
        // Had the child kept the file open for writing, running it would fail: text file busy.
        let runner = try ChildProcess(dir.file("script.sh"), [], directory: dir.path, name: "script")
        #expect(runner.wait(timeout: 10) == 7)
    }
}
