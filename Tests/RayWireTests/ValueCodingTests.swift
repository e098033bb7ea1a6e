import Foundation
import RayWire
import XCTest

final class ValueCodingTests: XCTestCase {
    struct Inner: Codable, Equatable { var values: [Double]; var tag: String? }
    struct Outer: Codable, Equatable {
        var id: Int
        var name: String
        var flag: Bool
        var small: Int8
        var big: UInt64
        var ratio: Float
        var inners: [Inner]
        var table: [String: [Int]]
        var byNumber: [Int: String]
        var maybe: Int?
        var nested: [[String]]
        var data: Data
    }

    enum Shape: Codable, Equatable {
        case circle(radius: Double)
        case rect(width: Double, height: Double)
        case point
        case labeled(String, Int)
    }

    func roundTrip<T: Codable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let bytes = try BinaryValueEncoder.encode(value)
        XCTAssertEqual(try BinaryValueDecoder.decode(T.self, from: bytes), value, file: file, line: line)
    }

    func testPrimitives() throws {
        try roundTrip(42)
        try roundTrip(-7)
        try roundTrip(Int.max)
        try roundTrip(3.25)
        try roundTrip("héllo")
        try roundTrip("")
        try roundTrip(true)
        try roundTrip(UInt8(200))
        try roundTrip(Optional<Int>.none)
        try roundTrip(Optional<String>.some(""))
    }

    func testStructsEnumsAndCollections() throws {
        let value = Outer(
            id: 1, name: "x", flag: true, small: -3, big: .max, ratio: 1.5,
            inners: [Inner(values: [1, 2], tag: nil), Inner(values: [], tag: "t")],
            table: ["a": [1], "b": []], byNumber: [3: "three", -1: "minus"], maybe: nil,
            nested: [["a"], [], ["b", "c"]], data: Data([0, 1, 255]))
        try roundTrip(value)
        try roundTrip([Shape.circle(radius: 1), .rect(width: 2, height: 3), .point, .labeled("l", 4)])
        try roundTrip(Set([1, 2, 3]))
        try roundTrip([Int?.none, 1, nil])
    }

    func testTrivialArraysTravelAsRawBytes() throws {
        let doubles = (0..<1000).map(Double.init)
        let bytes = try BinaryValueEncoder.encode(doubles)
        XCTAssertLessThanOrEqual(bytes.count, 8000 + 3, "one frame header and the raw bytes")
        try roundTrip(doubles)
        try roundTrip([Float](repeating: 0.5, count: 33))
        try roundTrip([UInt8](repeating: 7, count: 5))
        try roundTrip([Int32]())
    }

    func testGarbageIsRejectedNotCrashing() {
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Int.self, from: []))
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Int.self, from: [0x05, 1, 2]))  // truncated
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Int.self, from: [0x03, 1, 2]))  // wrong width
        XCTAssertThrowsError(try BinaryValueDecoder.decode([Double].self, from: [0x04, 1, 2, 3]))
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Outer.self, from: [0x02, 0xFF]))
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Int.self, from: [0x00]))  // nil for non-optional
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Int.self, from: [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 9]))  // trailing
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? BinaryValueDecoder.decode(Outer.self, from: bytes)
            _ = try? BinaryValueDecoder.decode([Shape].self, from: bytes)
        }
    }

    func testTypeMismatchIsAnError() throws {
        let bytes = try BinaryValueEncoder.encode(Inner(values: [1], tag: "x"))
        XCTAssertThrowsError(try BinaryValueDecoder.decode(Outer.self, from: bytes))
    }

    func testScalarFramesMatchTheGeneralEncoding() throws {
        func check<T: Codable & Equatable>(_ value: T) throws {
            let frame = try XCTUnwrap(BinaryValueEncoder.scalarFrame(value), "\(T.self)")
            XCTAssertEqual(frame, try BinaryValueEncoder.encode(value))
            XCTAssertEqual(try BinaryValueDecoder.decode(T.self, from: frame), value)
        }
        try check("ok")
        try check("")
        try check(-42)
        try check(Double.pi)
        try check(true)
        XCTAssertNil(BinaryValueEncoder.scalarFrame([1, 2]))
        XCTAssertNil(BinaryValueEncoder.scalarFrame(Int32(1)))
    }
}
