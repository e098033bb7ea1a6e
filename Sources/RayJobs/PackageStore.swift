import Foundation
import ZIPFoundation

/// Uploaded working directories (Ray's `/api/packages/{protocol}/{name}`): zip files kept by
/// name under the head's jobs folder, unpacked once when a job needs one.
struct PackageStore: Sendable {
    let folder: String

    func contains(scheme: String, name: String) -> Bool {
        guard let path = try? path(scheme, name) else { return false }
        return FileManager.default.fileExists(atPath: path)
    }

    /// Keeps `bytes` as the package (replacing one of the same name, atomically).
    /// - Throws: `JobError.badRequest` for a name with a path in it.
    func store(scheme: String, name: String, bytes: Data) throws {
        let path = try path(scheme, name)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw JobError(.internalError, "cannot store package \(scheme)://\(name): \(error)")
        }
    }

    /// The package's zip bytes.
    /// - Throws: `JobError.badRequest` when it was never uploaded.
    func archive(scheme: String, name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: try path(scheme, name)) else {
            throw JobError(.badRequest, "runtime_env working_dir \(scheme)://\(name) was not uploaded to this head")
        }
        return [UInt8](data)
    }

    /// The package unpacked into a folder of its own (once; a half-unpacked one is redone).
    /// - Throws: `JobError.badRequest` when it was never uploaded or is not a zip file.
    func unpacked(scheme: String, name: String) throws -> String {
        let archive = try path(scheme, name)
        guard FileManager.default.fileExists(atPath: archive) else {
            throw JobError(.badRequest, "runtime_env working_dir \(scheme)://\(name) was not uploaded to this head")
        }
        let target = archive + ".d"
        if FileManager.default.fileExists(atPath: archive + ".unpacked") { return target }
        try? FileManager.default.removeItem(atPath: target)
        do {
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try FileManager.default.unzipItem(at: URL(fileURLWithPath: archive), to: URL(fileURLWithPath: target))
            _ = FileManager.default.createFile(atPath: archive + ".unpacked", contents: Data())
        } catch {
            try? FileManager.default.removeItem(atPath: target)
            throw JobError(.badRequest, "package \(scheme)://\(name) cannot be unpacked: \(error)")
        }
        return target
    }

    private func path(_ scheme: String, _ name: String) throws -> String {
        guard JobManager.isValidID(scheme), JobManager.isValidID(name) else {
            throw JobError(.badRequest, "a package's protocol and name may only hold letters, digits, '-', '_' and '.'")
        }
        return "\(folder)/\(scheme)/\(name)"
    }
}
