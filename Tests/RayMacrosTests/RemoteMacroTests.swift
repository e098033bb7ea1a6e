import RayMacroExpansion
import SwiftSyntaxMacros
import SwiftSyntaxMacrosTestSupport
import XCTest

final class RemoteMacroTests: XCTestCase {
    let macros: [String: any Macro.Type] = ["Remote": RemoteMacro.self]

    func testGeneratesPeerWithValueAndRefOverloads() {
        assertMacroExpansion(
            """
            @Remote func add(_ a: Int, to b: Int) async throws -> Int { a + b }
            """,
            expandedSource: """
            func add(_ a: Int, to b: Int) async throws -> Int { a + b }

            /// Submits `add` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
            struct $add: SwiftRay.RemoteFunction {
                typealias Output = Int
                static var functionName: String {
                    "add"
                }
                var taskOptions: SwiftRay.TaskOptions
                init(taskOptions: SwiftRay.TaskOptions) {
                    self.taskOptions = taskOptions
                }
                static func _execute(_ arguments: inout SwiftRay.TaskArguments) async throws -> Output {
                    let a0 = try arguments.next(Int.self)
                    let a1 = try arguments.next(Int.self)
                    return try await add(a0, to: a1)
                }
                @discardableResult
                static func remote(_ a0: Int, to a1: Int) -> SwiftRay.ObjectRef<Output> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0, to: a1)
                }
                @discardableResult
                func remote(_ a0: Int, to a1: Int) -> SwiftRay.ObjectRef<Output> {
                    _submit([SwiftRay.TaskArgument(value: a0), SwiftRay.TaskArgument(value: a1)])
                }
                @discardableResult
                static func remote(_ a0: SwiftRay.ObjectRef<Int>, to a1: Int) -> SwiftRay.ObjectRef<Output> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0, to: a1)
                }
                @discardableResult
                func remote(_ a0: SwiftRay.ObjectRef<Int>, to a1: Int) -> SwiftRay.ObjectRef<Output> {
                    _submit([SwiftRay.TaskArgument(ref: a0), SwiftRay.TaskArgument(value: a1)])
                }
                @discardableResult
                static func remote(_ a0: Int, to a1: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRef<Output> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0, to: a1)
                }
                @discardableResult
                func remote(_ a0: Int, to a1: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRef<Output> {
                    _submit([SwiftRay.TaskArgument(value: a0), SwiftRay.TaskArgument(ref: a1)])
                }
                @discardableResult
                static func remote(_ a0: SwiftRay.ObjectRef<Int>, to a1: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRef<Output> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0, to: a1)
                }
                @discardableResult
                func remote(_ a0: SwiftRay.ObjectRef<Int>, to a1: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRef<Output> {
                    _submit([SwiftRay.TaskArgument(ref: a0), SwiftRay.TaskArgument(ref: a1)])
                }
            }
            """,
            macros: macros)
    }

    func testVoidSyncFunctionReturnsRayVoidWithoutEffects() {
        assertMacroExpansion(
            "public func log(_ s: String) {}".replacingOccurrences(of: "public", with: "@Remote public"),
            expandedSource: """
            public func log(_ s: String) {}

            /// Submits `log` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
            public struct $log: SwiftRay.RemoteFunction {
                public typealias Output = SwiftRay.RayVoid
                public static var functionName: String {
                    "log"
                }
                public var taskOptions: SwiftRay.TaskOptions
                public init(taskOptions: SwiftRay.TaskOptions) {
                    self.taskOptions = taskOptions
                }
                public static func _execute(_ arguments: inout SwiftRay.TaskArguments) async throws -> Output {
                    let a0 = try arguments.next(String.self)
                    log(a0)
                    return SwiftRay.RayVoid()
                }
                @discardableResult
                public static func remote(_ a0: String) -> SwiftRay.ObjectRef<Output> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0)
                }
                @discardableResult
                public func remote(_ a0: String) -> SwiftRay.ObjectRef<Output> {
                    _submit([SwiftRay.TaskArgument(value: a0)])
                }
                @discardableResult
                public static func remote(_ a0: SwiftRay.ObjectRef<String>) -> SwiftRay.ObjectRef<Output> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0)
                }
                @discardableResult
                public func remote(_ a0: SwiftRay.ObjectRef<String>) -> SwiftRay.ObjectRef<Output> {
                    _submit([SwiftRay.TaskArgument(ref: a0)])
                }
            }
            """,
            macros: macros)
    }

    func testATupleResultGivesATupleOfRefs() {
        assertMacroExpansion(
            "@Remote func stats() -> (count: Int, String) { (1, \"a\") }",
            expandedSource: """
            func stats() -> (count: Int, String) { (1, "a") }

            /// Submits `stats` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
            struct $stats: SwiftRay.RemoteFunction {
                typealias Output = SwiftRay._MultipleReturns
                static var functionName: String {
                    "stats"
                }
                var taskOptions: SwiftRay.TaskOptions
                init(taskOptions: SwiftRay.TaskOptions) {
                    self.taskOptions = taskOptions
                }
                static func _execute(_ arguments: inout SwiftRay.TaskArguments) async throws -> Output {
                    let results = stats()
                    return SwiftRay._MultipleReturns(results.0, results.1)
                }
                @discardableResult
                static func remote() -> (count: SwiftRay.ObjectRef<Int>, SwiftRay.ObjectRef<String>) {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote()
                }
                @discardableResult
                func remote() -> (count: SwiftRay.ObjectRef<Int>, SwiftRay.ObjectRef<String>) {
                    let ids = _submitReturns([], count: 2)
                    return (count: SwiftRay.ObjectRef<Int>._result(ids, 0), SwiftRay.ObjectRef<String>._result(ids, 1))
                }
            }
            """,
            macros: macros)
    }

    func testAnAsyncSequenceResultGivesAGenerator() {
        assertMacroExpansion(
            "@Remote func count(_ n: Int) -> AsyncStream<Int> { AsyncStream { $0.finish() } }",
            expandedSource: """
            func count(_ n: Int) -> AsyncStream<Int> { AsyncStream { $0.finish() } }

            /// Submits `count` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
            struct $count: SwiftRay.RemoteFunction {
                typealias Output = SwiftRay._StreamEnd
                static var functionName: String {
                    "count"
                }
                var taskOptions: SwiftRay.TaskOptions
                init(taskOptions: SwiftRay.TaskOptions) {
                    self.taskOptions = taskOptions
                }
                static func _execute(_ arguments: inout SwiftRay.TaskArguments) async throws -> Output {
                    let a0 = try arguments.next(Int.self)
                    return try await SwiftRay._StreamEnd.produce(count(a0))
                }

                static func remote(_ a0: Int) -> SwiftRay.ObjectRefGenerator<Int> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0)
                }

                func remote(_ a0: Int) -> SwiftRay.ObjectRefGenerator<Int> {
                    _submitStream([SwiftRay.TaskArgument(value: a0)], of: Int.self)
                }

                static func remote(_ a0: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRefGenerator<Int> {
                    Self(taskOptions: SwiftRay.TaskOptions()).remote(a0)
                }

                func remote(_ a0: SwiftRay.ObjectRef<Int>) -> SwiftRay.ObjectRefGenerator<Int> {
                    _submitStream([SwiftRay.TaskArgument(ref: a0)], of: Int.self)
                }
            }
            """,
            macros: macros)
        for spelling in ["AsyncThrowingStream<[UInt8], any Error>", "some AsyncSequence<[UInt8], Never>", "any _Concurrency.AsyncSequence<[UInt8], any Error>"] {
            assertMacroExpansion(
                "@Remote func f() -> \(spelling) { fatalError() }",
                expandedSource: expansion(of: "f", returning: spelling, element: "[UInt8]"),
                macros: macros)
        }
    }

    /// The expansion of a streaming function `name()` with no parameters.
    private func expansion(of name: String, returning result: String, element: String) -> String {
        """
        func \(name)() -> \(result) { fatalError() }

        /// Submits `\(name)` as a Ray task: `.remote(...)` returns an `ObjectRef` at once.
        struct $\(name): SwiftRay.RemoteFunction {
            typealias Output = SwiftRay._StreamEnd
            static var functionName: String {
                "\(name)"
            }
            var taskOptions: SwiftRay.TaskOptions
            init(taskOptions: SwiftRay.TaskOptions) {
                self.taskOptions = taskOptions
            }
            static func _execute(_ arguments: inout SwiftRay.TaskArguments) async throws -> Output {
                return try await SwiftRay._StreamEnd.produce(\(name)())
            }

            static func remote() -> SwiftRay.ObjectRefGenerator<\(element)> {
                Self(taskOptions: SwiftRay.TaskOptions()).remote()
            }

            func remote() -> SwiftRay.ObjectRefGenerator<\(element)> {
                _submitStream([], of: \(element).self)
            }
        }
        """
    }

    func testRejectsGenericsInoutAndNonFunctions() {
        assertMacroExpansion(
            "@Remote func g<T>(_ x: T) -> T { x }",
            expandedSource: "func g<T>(_ x: T) -> T { x }",
            diagnostics: [DiagnosticSpec(message: "@Remote functions cannot be generic: a worker must find one concrete function", line: 1, column: 1)],
            macros: macros)
        assertMacroExpansion(
            "@Remote func h(_ x: inout Int) {}",
            expandedSource: "func h(_ x: inout Int) {}",
            diagnostics: [DiagnosticSpec(message: "@Remote functions cannot take inout parameters", line: 1, column: 1)],
            macros: macros)
        assertMacroExpansion(
            "@Remote var v = 1",
            expandedSource: "var v = 1",
            diagnostics: [DiagnosticSpec(message: "@Remote applies to functions", line: 1, column: 1)],
            macros: macros)
    }
}
