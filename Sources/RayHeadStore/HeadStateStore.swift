import Foundation
import Logging
import NIOCore
import RayWire

/// The head's control state, written through as it changes and read back by a restarted head:
/// on its own disk (the embedded default, SQLite), or in PostgreSQL for heads whose machine can be
/// lost. It holds the key-value store (`ray.kv`, Serve's and Tune's records in it) and the
/// detached actors (what re-creates each, and the binary its workers run), the detached
/// placement groups, the submitted jobs' records, the worker nodes' ids and the refs contained in
/// objects kept in other nodes' stores (which outlive the head, while the refs lived only in it).
/// Changes are recorded in order from any thread and written in the background, in that order.
package final class HeadStateStore: Sendable {
    private enum Change: Sendable {
        case put(space: String, key: String, value: [UInt8])
        case delete(space: String, key: String)
        case actor(StoredActor)
        case forgetActor(id: String)
        case placed(actorID: String, remote: Bool)
        case group(PlacementGroupSpec)
        case forgetGroup(id: String)
        case job(id: String, record: [UInt8])
        case forgetJob(id: String)
        case node(id: String)
        case forgetNode(id: String)
        case contained(object: String, refs: String)
        case forgetContained(object: String)
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

    /// A detached actor as stored: its spec in the wire's encoding, and its workers' binary and
    /// environment.
    package struct StoredActor: Sendable, Equatable {
        package var id: String
        package var spec: [UInt8]
        package var executable: String
        package var binaryHash: String
        package var environment: [String: String]
        /// Whether its process last ran on a node other than the head's (it may outlive the head);
        /// nil when that was not recorded (the head died before writing it).
        package var remote: Bool?

        package init(id: String, spec: [UInt8], executable: String, binaryHash: String, environment: [String: String], remote: Bool? = nil) {
            self.id = id
            self.spec = spec
            self.executable = executable
            self.binaryHash = binaryHash
            self.environment = environment
            self.remote = remote
        }
    }

    private let database: any StateDatabase
    private let writes: AsyncStream<Write>.Continuation
    private let writer: Task<Void, Never>
    private static let logger = Logger(label: "swiftray.headstore")

    private init(_ database: any StateDatabase) {
        self.database = database
        let (stream, continuation) = AsyncStream<Write>.makeStream()
        writes = continuation
        writer = Task {
            for await write in stream {
                do {
                    try await Self.apply(write.change, to: database)
                } catch {
                    Self.logger.error("cannot write the head's state: \(error); a restarted head will miss this change")
                }
                write.done()
            }
        }
    }

    private static func apply(_ change: Change, to database: any StateDatabase) async throws {
        switch change {
        case .put(let space, let key, let value):
            try await database.execute(
                "INSERT INTO kv (space, key, value) VALUES (?, ?, ?) ON CONFLICT (space, key) DO UPDATE SET value = excluded.value",
                [.text(space), .text(key), .blob(value)])
        case .delete(let space, let key):
            try await database.execute("DELETE FROM kv WHERE space = ? AND key = ?", [.text(space), .text(key)])
        case .actor(let actor):
            let environment = String(decoding: try JSONEncoder().encode(actor.environment), as: UTF8.self)
            try await database.execute(
                """
                INSERT INTO actors (id, spec, executable, "binary", environment) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, executable = excluded.executable,
                "binary" = excluded."binary", environment = excluded.environment
                """,
                [.text(actor.id), .blob(actor.spec), .text(actor.executable), .text(actor.binaryHash), .text(environment)])
        case .forgetActor(let id):
            try await database.execute("DELETE FROM actors WHERE id = ?", [.text(id)])
            try await database.execute("DELETE FROM actor_placements WHERE id = ?", [.text(id)])
        case .placed(let id, let remote):
            try await database.execute(
                "INSERT INTO actor_placements (id, remote) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET remote = excluded.remote",
                [.text(id), .integer(remote ? 1 : 0)])
        case .group(let spec):
            try await database.execute(
                "INSERT INTO placement_groups (id, spec) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET spec = excluded.spec",
                [.text("\(spec.id)"), .blob(Array(try JSONEncoder().encode(spec)))])
        case .forgetGroup(let id):
            try await database.execute("DELETE FROM placement_groups WHERE id = ?", [.text(id)])
        case .job(let id, let record):
            try await database.execute(
                "INSERT INTO jobs (id, record) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                [.text(id), .blob(record)])
        case .forgetJob(let id):
            try await database.execute("DELETE FROM jobs WHERE id = ?", [.text(id)])
        case .node(let id):
            try await database.execute("INSERT INTO nodes (id) VALUES (?) ON CONFLICT (id) DO NOTHING", [.text(id)])
        case .forgetNode(let id):
            try await database.execute("DELETE FROM nodes WHERE id = ?", [.text(id)])
        case .contained(let object, let refs):
            try await database.execute(
                "INSERT INTO contained_refs (id, refs) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET refs = excluded.refs",
                [.text(object), .text(refs)])
        case .forgetContained(let object):
            try await database.execute("DELETE FROM contained_refs WHERE id = ?", [.text(object)])
        }
    }

    /// The tables (the same on both engines; `BLOB` is PostgreSQL's `BYTEA`).
    private static let schema = [
        "CREATE TABLE IF NOT EXISTS kv (space TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (space, key))",
        """
        CREATE TABLE IF NOT EXISTS actors (id TEXT PRIMARY KEY, spec BLOB NOT NULL, executable TEXT NOT NULL, "binary" TEXT NOT NULL, \
        environment TEXT NOT NULL)
        """,
        "CREATE TABLE IF NOT EXISTS placement_groups (id TEXT PRIMARY KEY, spec BLOB NOT NULL)",
        // Where each detached actor's process last ran (a table of its own: older stores open as they are).
        "CREATE TABLE IF NOT EXISTS actor_placements (id TEXT PRIMARY KEY, remote INTEGER NOT NULL)",
        // Submitted jobs' records (JSON), for a head started on another machine.
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, record BLOB NOT NULL)",
        // The worker nodes joined (a restarted head waits for them to rejoin before resuming drivers).
        "CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY)",
        // The refs inside objects kept in other nodes' stores (ids, space-separated).
        "CREATE TABLE IF NOT EXISTS contained_refs (id TEXT PRIMARY KEY, refs TEXT NOT NULL)",
    ]

    /// Opens (or creates) the store at `location`: a PostgreSQL URL (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`,
    /// or `postgres://USER@/DATABASE?host=/socket/folder`), else a SQLite file's path.
    /// - Throws: when the database cannot be reached or opened, or is not a store.
    package static func open(_ location: String) async throws -> HeadStateStore {
        let database: any StateDatabase = PostgresStateDatabase.isURL(location)
            ? try await PostgresStateDatabase.open(url: location, logger: logger)
            : try await SQLiteStateDatabase.open(path: location, logger: logger)
        do {
            for statement in schema { try await database.execute(database.dialect(statement), []) }
        } catch {
            await database.close()
            throw error
        }
        return HeadStateStore(database)
    }

    /// Where the store is, for messages (a PostgreSQL URL without its password).
    package static func describe(_ location: String) -> String {
        PostgresStateDatabase.isURL(location) ? PostgresStateDatabase.redacted(location) : location
    }

    /// Every key-value entry stored.
    package func keyValues() async throws -> [Entry] {
        try await database.rows("SELECT space, key, value FROM kv").compactMap { row in
            guard let space = row["space"]?.text, let key = row["key"]?.text, let value = row["value"]?.blob else { return nil }
            return Entry(space: space, key: key, value: value)
        }
    }

    /// Every detached actor stored; rows that cannot be read are skipped with a log line.
    package func detachedActors() async throws -> [StoredActor] {
        let query = """
            SELECT actors.id AS id, spec, executable, "binary", environment, remote
            FROM actors LEFT JOIN actor_placements ON actors.id = actor_placements.id
            """
        return try await database.rows(query).compactMap { row in
            guard let id = row["id"]?.text, let spec = row["spec"]?.blob, let executable = row["executable"]?.text,
                  let binary = row["binary"]?.text, let environment = row["environment"]?.text,
                  let variables = try? JSONDecoder().decode([String: String].self, from: Data(environment.utf8)) else {
                Self.logger.warning("skipping an unreadable actor row in the head's state store")
                return nil
            }
            return StoredActor(id: id, spec: spec, executable: executable, binaryHash: binary, environment: variables, remote: row["remote"]?.integer.map { $0 == 1 })
        }
    }

    /// Every detached placement group stored; rows that cannot be read are skipped with a log line.
    package func detachedGroups() async throws -> [PlacementGroupSpec] {
        try await database.rows("SELECT spec FROM placement_groups").compactMap { row in
            guard let spec = row["spec"]?.blob, let group = try? JSONDecoder().decode(PlacementGroupSpec.self, from: Data(spec)) else {
                Self.logger.warning("skipping an unreadable placement group row in the head's state store")
                return nil
            }
            return group
        }
    }

    /// Records a detached placement group (created), or forgets one (removed); `done` runs once
    /// it is written.
    package func record(group created: PlacementGroupSpec?, removed: RayID?, then done: @escaping @Sendable () -> Void) {
        if let created { writes.yield(Write(change: .group(created), done: done)) }
        if let removed { writes.yield(Write(change: .forgetGroup(id: "\(removed)"), done: done)) }
        if created == nil && removed == nil { done() }
    }

    /// Every submitted job's record stored (as the job manager wrote it).
    package func jobRecords() async throws -> [[UInt8]] {
        try await database.rows("SELECT record FROM jobs").compactMap { $0["record"]?.blob }
    }

    /// Records a submitted job's record as it changed, or forgets a deleted job (nil).
    package func record(job id: String, _ record: [UInt8]?) {
        let change: Change = record.map { .job(id: id, record: $0) } ?? .forgetJob(id: id)
        writes.yield(Write(change: change, done: {}))
    }

    /// The ids of the worker nodes joined and not lost.
    package func nodeIDs() async throws -> [String] {
        try await database.rows("SELECT id FROM nodes").compactMap { $0["id"]?.text }
    }

    /// Records a worker node that joined (`alive`) or was lost.
    package func record(node id: String, alive: Bool) {
        writes.yield(Write(change: alive ? .node(id: id) : .forgetNode(id: id), done: {}))
    }

    /// The refs each object kept in another node's store contains (unreadable rows skipped).
    package func containedRefs() async throws -> [(object: ObjectID, refs: [ObjectID])] {
        try await database.rows("SELECT id, refs FROM contained_refs").compactMap { row in
            guard let object = row["id"]?.text.flatMap(RayID.init), let text = row["refs"]?.text else { return nil }
            let refs = text.split(separator: " ").compactMap { RayID(String($0)) }
            return refs.isEmpty ? nil : (object, refs)
        }
    }

    /// Records the refs an object kept in another node's store contains, or forgets them (nil:
    /// the object was freed or is being rebuilt); `done` runs once it is written.
    package func record(contained refs: [ObjectID]?, of object: ObjectID, then done: @escaping @Sendable () -> Void) {
        let change: Change = refs.map { .contained(object: "\(object)", refs: $0.map { "\($0)" }.joined(separator: " ")) }
            ?? .forgetContained(object: "\(object)")
        writes.yield(Write(change: change, done: done))
    }

    /// Records a detached actor (created or restarted); `done` runs once it is written.
    package func record(actor: StoredActor, then done: @escaping @Sendable () -> Void) {
        writes.yield(Write(change: .actor(actor), done: done))
    }

    /// Records where a detached actor's process runs (on a node other than the head's, or not);
    /// `done` runs once it is written.
    package func record(actorID: String, remote: Bool, then done: @escaping @Sendable () -> Void) {
        writes.yield(Write(change: .placed(actorID: actorID, remote: remote), done: done))
    }

    /// Forgets a detached actor that died for good; `done` runs once it is written.
    package func forgetActor(id: String, then done: @escaping @Sendable () -> Void) {
        writes.yield(Write(change: .forgetActor(id: id), done: done))
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

    /// Writes what was recorded, then closes the database.
    package func close() async {
        writes.finish()
        await writer.value
        await database.close()
    }

    /// After a clean stop: writes what was recorded and closes the store. A SQLite file (kept for a
    /// crash on this machine) is removed with its journal: there is nothing to recover. A PostgreSQL
    /// database keeps the state: a head stopped cleanly to move (a Kubernetes head pod rescheduled
    /// to another node gets SIGTERM) recovers it where it starts again.
    package func closeAfterCleanStop() async {
        await close()
        guard let sqlite = database as? SQLiteStateDatabase else { return }
        for suffix in ["", "-wal", "-shm"] { unlink(sqlite.path + suffix) }
    }
}
