import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A head state store in PostgreSQL, through postgres-nio: for heads whose machine can be lost
/// (the state outlives it on the database's). One database per cluster.
struct PostgresStateDatabase: StateDatabase {
    let connection: PostgresConnection
    let logger: Logger

    /// Connects to `url`: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or over a Unix socket
    /// with libpq's spelling `postgres://USER@/DATABASE?host=/socket/folder` (the socket is that
    /// folder's `.s.PGSQL.PORT`).
    /// - Throws: `HeadStateStoreError` for a URL it cannot read; the driver's error when the
    ///   database cannot be reached or refuses the login.
    static func open(url: String, logger: Logger) async throws -> PostgresStateDatabase {
        let configuration = try configuration(url)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        return PostgresStateDatabase(connection: connection, logger: logger)
    }

    /// Whether `location` names a PostgreSQL database rather than a SQLite file.
    static func isURL(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    static func configuration(_ url: String) throws -> PostgresConnection.Configuration {
        guard let parts = URLComponents(string: url), let user = parts.user, !user.isEmpty else {
            throw HeadStateStoreError("cannot read the PostgreSQL URL \(redacted(url)): expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
        }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        let port = parts.port ?? 5432
        // libpq's variable keeps the password off command lines.
        let password = parts.password ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        if let folder = parts.queryItems?.first(where: { $0.name == "host" })?.value, folder.hasPrefix("/") {
            return .init(unixSocketPath: "\(folder)/.s.PGSQL.\(port)", username: user, password: password, database: database.isEmpty ? nil : database)
        }
        guard let host = parts.host, !host.isEmpty else {
            throw HeadStateStoreError("the PostgreSQL URL \(redacted(url)) names no host (nor a socket folder as ?host=/path)")
        }
        return .init(host: host, port: port, username: user, password: password, database: database.isEmpty ? nil : database, tls: .disable)
    }

    /// `url` without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url), parts.password != nil else { return url }
        parts.password = "***"
        return parts.string ?? "(a PostgreSQL URL)"
    }

    func execute(_ sql: String, _ values: [StateValue]) async throws {
        try await connection.query(Self.query(sql, values), logger: logger)
    }

    func rows(_ sql: String) async throws -> [StateRow] {
        var rows: [StateRow] = []
        for try await row in try await connection.query(Self.query(sql, []), logger: logger) {
            var values: StateRow = [:]
            for cell in row {
                switch cell.dataType {
                case .bytea: values[cell.columnName] = (try? cell.decode(ByteBuffer.self)).map { .blob(Array(buffer: $0)) }
                case .int2, .int4, .int8: values[cell.columnName] = (try? cell.decode(Int.self)).map { .integer($0) }
                default: values[cell.columnName] = (try? cell.decode(String.self)).map { .text($0) }
                }
            }
            rows.append(values)
        }
        return rows
    }

    func close() async { try? await connection.close() }

    func dialect(_ definition: String) -> String { definition.replacingOccurrences(of: " BLOB", with: " BYTEA") }

    /// The SQL with PostgreSQL's placeholders: `$1, $2...` for `?`.
    private static func query(_ sql: String, _ values: [StateValue]) -> PostgresQuery {
        var text = ""
        var number = 0
        for character in sql {
            if character == "?" {
                number += 1
                text += "$\(number)"
            } else {
                text.append(character)
            }
        }
        var bindings = PostgresBindings()
        for value in values {
            switch value {
            case .text(let string): bindings.append(string)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            case .integer(let integer): bindings.append(integer)
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }
}

/// A head state store that cannot be opened as given.
package struct HeadStateStoreError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}
