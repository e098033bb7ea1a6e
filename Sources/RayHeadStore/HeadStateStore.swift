import Logging
import NIOCore
import RayWire
import SQLiteNIO

/// The head's control state on its own disk (the embedded store of head fault tolerance, in
/// SQLite): written through as it changes, read back by a head restarted on the same machine after
/// a crash. Today it holds the key-value store (`ray.kv`, Serve's and Tune's records in it).
/// Changes are recorded in order from any thread and written in the background, in that order.
package final class HeadStateStore: Sendable {
    private enum Change: Sendable {
        case put(space: String, key: String, value: [UInt8])
        case delete(space: String, key: String)
    }

    private struct Write: Sendable {
        var change: Change
        var done: @Sendable () -> Void
    }

    /// One key-value entry.
    package struct Entry: Sendable, Equatable {
        package var space: String
        package var key: String
        package var value: [UInt8]
    }

    private let connection: SQLiteConnection
    private let writes: AsyncStream<Write>.Continuation
    private let writer: Task<Void, Never>
    private static let logger = Logger(label: "swiftray.headstore")

    private init(_ connection: SQLiteConnection) {
        self.connection = connection
        let (stream, continuation) = AsyncStream<Write>.makeStream()
        writes = continuation
        writer = Task {
            for await write in stream {
                do {
                    switch write.change {
                    case .put(let space, let key, let value):
                        _ = try await connection.query(
                            "INSERT INTO kv (space, key, value) VALUES (?, ?, ?) ON CONFLICT (space, key) DO UPDATE SET value = excluded.value",
                            [.text(space), .text(key), .blob(ByteBuffer(bytes: value))])
                    case .delete(let space, let key):
                        _ = try await connection.query("DELETE FROM kv WHERE space = ? AND key = ?", [.text(space), .text(key)])
                    }
                } catch {
                    Self.logger.error("cannot write the head's state: \(error); a restarted head will miss this change")
                }
                write.done()
            }
        }
    }

    /// Opens (or creates) the store at `path`.
    /// - Throws: when the file cannot be opened or is not a store.
    package static func open(path: String) async throws -> HeadStateStore {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        do {
            _ = try await connection.query("PRAGMA journal_mode=WAL")
            _ = try await connection.query("PRAGMA synchronous=NORMAL")
            _ = try await connection.query(
                "CREATE TABLE IF NOT EXISTS kv (space TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (space, key))")
        } catch {
            try? await connection.close()
            throw error
        }
        return HeadStateStore(connection)
    }

    /// Every key-value entry stored.
    package func keyValues() async throws -> [Entry] {
        try await connection.query("SELECT space, key, value FROM kv").compactMap { row in
            guard let space = row.column("space")?.string, let key = row.column("key")?.string,
                  let value = row.column("value")?.blob else { return nil }
            return Entry(space: space, key: key, value: Array(buffer: value))
        }
    }

    /// Records a change of the key-value store (a `put` or `delete` that changed it); `done` runs
    /// once it is written (or failed to be, which is logged).
    package func record(_ request: KVRequest, then done: @escaping @Sendable () -> Void) {
        switch request {
        case .put(let space, let key, let value, _): writes.yield(Write(change: .put(space: space, key: key, value: value), done: done))
        case .delete(let space, let key): writes.yield(Write(change: .delete(space: space, key: key), done: done))
        case .get, .keys: done()
        }
    }

    /// Writes what was recorded, then closes the file.
    package func close() async {
        writes.finish()
        await writer.value
        try? await connection.close()
    }
}
