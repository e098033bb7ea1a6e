import Foundation
import Logging
import NIOCore
import SQLiteNIO

/// A value bound into, or read out of, a head state store's SQL.
enum StateValue: Sendable, Equatable {
    case text(String)
    case blob([UInt8])
    case integer(Int)

    var text: String? { if case .text(let value) = self { value } else { nil } }
    var blob: [UInt8]? { if case .blob(let value) = self { value } else { nil } }
    var integer: Int? { if case .integer(let value) = self { value } else { nil } }
}

/// One row of a query, by column name.
typealias StateRow = [String: StateValue]

/// The database under a `HeadStateStore`: the same SQL on either engine, written with `?`
/// placeholders and `BLOB` columns (each engine spells them its own way: `dialect` for tables).
protocol StateDatabase: Sendable {
    /// Runs a statement.
    func execute(_ sql: String, _ values: [StateValue]) async throws
    /// Runs a query; returns its rows.
    func rows(_ sql: String) async throws -> [StateRow]
    /// Closes the connection.
    func close() async
    /// A table definition in this engine's types (the schema is written with SQLite's).
    func dialect(_ definition: String) -> String
}

extension StateDatabase {
    func dialect(_ definition: String) -> String { definition }
}

/// The embedded default: SQLite in a file on the head's disk (WAL), through sqlite-nio.
struct SQLiteStateDatabase: StateDatabase {
    let connection: SQLiteConnection
    let path: String

    static func open(path: String, logger: Logger) async throws -> SQLiteStateDatabase {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        do {
            _ = try await connection.query("PRAGMA journal_mode=WAL")
            _ = try await connection.query("PRAGMA synchronous=NORMAL")
        } catch {
            try? await connection.close()
            throw error
        }
        return SQLiteStateDatabase(connection: connection, path: path)
    }

    func execute(_ sql: String, _ values: [StateValue]) async throws {
        _ = try await connection.query(sql, values.map(Self.data))
    }

    func rows(_ sql: String) async throws -> [StateRow] {
        try await connection.query(sql).map { row in
            var values: StateRow = [:]
            for column in row.columns {
                switch column.data {
                case .text(let text): values[column.name] = .text(text)
                case .blob(let bytes): values[column.name] = .blob(Array(buffer: bytes))
                case .integer(let number): values[column.name] = .integer(number)
                case .float, .null: break
                }
            }
            return values
        }
    }

    func close() async { try? await connection.close() }

    private static func data(_ value: StateValue) -> SQLiteData {
        switch value {
        case .text(let text): .text(text)
        case .blob(let bytes): .blob(ByteBuffer(bytes: bytes))
        case .integer(let number): .integer(number)
        }
    }
}
