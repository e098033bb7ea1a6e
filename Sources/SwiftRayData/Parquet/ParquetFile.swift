/// One Parquet file read or written in this process (datasets use the same code inside tasks:
/// `Dataset.readParquet`, `Dataset.writeParquet`).
///
/// ```swift
/// try ParquetFile.write(block, to: "/tmp/sales.parquet", options: ParquetOptions(compression: .gzip))
/// let back = try ParquetFile.read("/tmp/sales.parquet", columns: ["key", "price"])
/// ```
public enum ParquetFile {
    /// The file's rows as one block; only `columns`, in that order, when given.
    /// - Throws: `DataError.io` naming the file when it is missing, not Parquet, nested, or uses
    ///   a codec or encoding this module does not read; `DataError.unknownColumn` for a column it lacks.
    public static func read(_ path: String, columns: [String]? = nil) throws -> Block {
        let block = try ParquetReader.read(path, columns: columns.map(Set.init))
        return try columns.map { try block.selecting($0) } ?? block
    }

    /// Writes `block` to `path` atomically, as one row group.
    /// - Throws: `DataError.invalid` for vector columns, `DataError.io` when the file cannot be written.
    public static func write(_ block: Block, to path: String, options: ParquetOptions = ParquetOptions()) throws {
        try FileSources.write(try ParquetWriter.file(block, options: options), to: path)
    }

    /// Rows in each row group of the file, read from its footer.
    public static func rowGroupSizes(_ path: String) throws -> [Int] {
        try ParquetReader.rowGroups(path).map(\.rows)
    }
}
