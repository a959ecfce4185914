import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An error from the file system: the operation, the path and the system's reason.
public struct StorageError: Error, CustomStringConvertible, Sendable, Equatable {
    public var operation: String
    public var path: String
    public var errno: Int32
    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}
