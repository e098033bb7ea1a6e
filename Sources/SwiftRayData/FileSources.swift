import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files named by paths, folders and glob patterns.
enum FileSources {
    /// Every file `paths` name, in order: a folder gives its files (sorted, recursively, skipping
    /// names that start with `.` or `_`, as Ray does), a pattern with `*`, `?` or `[` its matches.
    /// - Throws: `DataError.io` for a path that does not exist or a pattern that matches nothing.
    static func resolve(_ paths: [String]) throws -> [String] {
        try paths.flatMap { path -> [String] in
            if path.contains(where: { "*?[".contains($0) }) {
                let matches = glob(path)
                guard !matches.isEmpty else { throw DataError.io(path: path, reason: "no file matches the pattern") }
                return try resolve(matches)
            }
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                throw DataError.io(path: path, reason: "no such file or folder")
            }
            guard isFolder.boolValue else { return [path] }
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw DataError.io(path: path, reason: "cannot list the folder: \(error)")
            }
            return try resolve(names.filter { !$0.hasPrefix(".") && !$0.hasPrefix("_") }.sorted().map { "\(path)/\($0)" })
        }
    }

    private static func glob(_ pattern: String) -> [String] {
        var found = glob_t()
        defer { globfree(&found) }
        #if canImport(Glibc)
        guard Glibc.glob(pattern, 0, nil, &found) == 0 else { return [] }
        #else
        guard Darwin.glob(pattern, 0, nil, &found) == 0 else { return [] }
        #endif
        return (0..<Int(found.gl_pathc)).compactMap { found.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    /// Byte ranges of `path` of about `target` bytes each (the whole file when `target` is nil).
    static func ranges(_ path: String, target: Int?) throws -> [Range<Int>] {
        let size = try fileSize(path)
        guard let target, target > 0, size > target else { return [0..<size] }
        return stride(from: 0, to: size, by: target).map { $0..<min($0 + target, size) }
    }

    static func fileSize(_ path: String) throws -> Int {
        do {
            return (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        } catch {
            throw DataError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    /// The whole lines of `path` that start in `range` (a line that starts before it belongs to the
    /// range before; one that runs past its end is read to its end).
    static func lines(_ path: String, _ range: Range<Int>) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var start = range.lowerBound
        if start > 0 {
            // Skip the rest of the line the byte before `start` is on.
            start -= 1
            while true {
                let chunk = try read(fd, path, at: start, count: 64 << 10)
                guard !chunk.isEmpty else { return [] }
                if let newline = chunk.firstIndex(of: 10) { start += newline + 1; break }
                start += chunk.count
            }
            if start >= range.upperBound { return [] }
        }
        var bytes = try read(fd, path, at: start, count: range.upperBound - start)
        guard range.upperBound > 0 else { return bytes }
        // Finish the last line.
        var next = range.upperBound
        while bytes.last != 10 {
            let chunk = try read(fd, path, at: next, count: 64 << 10)
            guard !chunk.isEmpty else { break }
            if let newline = chunk.firstIndex(of: 10) { bytes += chunk[...newline]; break }
            bytes += chunk
            next += chunk.count
        }
        return bytes
    }

    /// Calls `body` with the whole lines of `path` that start in `range` (as `lines`), read in place
    /// from a read-only mapping of the file: no copy, no zeroed buffer.
    static func withMappedLines<R>(_ path: String, _ range: Range<Int>, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        try withMappedFile(path) { file in
            let all = file.assumingMemoryBound(to: UInt8.self)
            let size = all.count
            guard size > 0, range.lowerBound < size else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
            /// Just past the line end at or after `index`.
            func lineEnd(from index: Int) -> Int {
                var i = index
                while i < size, all[i] != 10 { i += 1 }
                return Swift.min(i + 1, size)
            }
            let start = range.lowerBound > 0 ? lineEnd(from: range.lowerBound - 1) : 0
            let end = range.upperBound >= size ? size : lineEnd(from: Swift.max(0, range.upperBound - 1))
            guard start < end else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
            return try body(UnsafeBufferPointer(rebasing: all[start..<end]))
        }
    }

    /// Calls `body` with the whole of `path` mapped read-only (empty for an empty file).
    static func withMappedFile<R>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let size = try fileSize(path)
        guard size > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw DataError.io(path: path, reason: "cannot map: \(String(cString: strerror(errno)))")
        }
        defer { munmap(address, size) }
        _ = madvise(address, size, MADV_SEQUENTIAL)
        return try body(UnsafeRawBufferPointer(start: address, count: size))
    }

    /// The whole file.
    static func contents(_ path: String) throws -> [UInt8] {
        try lines(path, 0..<fileSize(path))
    }

    /// The first line of `path` (a CSV header).
    static func firstLine(_ path: String) throws -> [UInt8] {
        try lines(path, 0..<1)
    }

    private static func read(_ fd: Int32, _ path: String, at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { throw DataError.io(path: path, reason: String(cString: strerror(errno))) }
            if got == 0 { break }
            done += got
        }
        bytes.removeLast(count - done)
        return bytes
    }

    /// Writes `bytes` to `path` atomically (a temporary file renamed into place).
    static func write(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DataError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
