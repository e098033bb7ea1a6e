import RayWire

/// A first-in first-out queue shared by every process of the cluster (Ray's `ray.util.queue.Queue`),
/// held by an actor: pass it to tasks and actors on any node and they put and get through it.
///
/// ```swift
/// let queue = try await Queue<Int>(maxSize: 100)
/// try await queue.put(1)
/// let item = try await queue.get(timeout: .seconds(5))
/// ```
///
/// `put` waits while the queue is full and `get` while it is empty (up to `timeout`, then
/// `QueueFull` / `QueueEmpty`); the `nowait` forms never wait. Items may hold `ObjectRef`s, which
/// stay alive while the item is queued.
public struct Queue<Element: Codable & Sendable>: Codable, Sendable {
    let actor: QueueActor
    /// The most items it holds (0: unbounded).
    public let maxSize: Int

    /// Creates the queue's actor (with `actorOptions`, e.g. a name to find it by).
    public init(maxSize: Int = 0, actorOptions: ActorOptions = ActorOptions()) async throws {
        self.maxSize = max(0, maxSize)
        actor = try await QueueActor.create(maxSize: self.maxSize, options: actorOptions)
    }

    /// Items queued now.
    public func size() async throws -> Int { try await actor.size() }
    public func isEmpty() async throws -> Bool { try await size() == 0 }
    public func isFull() async throws -> Bool { maxSize > 0 ? try await size() >= maxSize : false }

    /// Adds `item`, waiting while the queue is full: forever, up to `timeout`, or not at all
    /// (`block: false`).
    /// - Throws: `QueueFull` when there is no room in time.
    public func put(_ item: Element, block: Bool = true, timeout: Duration? = nil) async throws {
        let wait = block ? timeout.map(\.seconds) ?? -1 : 0
        guard try await actor.put(try QueueItem(item), waitSeconds: wait) else { throw QueueFull() }
    }

    /// Adds `item` if there is room now. - Throws: `QueueFull`.
    public func putNowait(_ item: Element) async throws { try await put(item, block: false) }

    /// Adds every item if there is room for all of them now, else none.
    /// - Throws: `QueueFull`.
    public func putNowaitBatch(_ items: [Element]) async throws {
        guard try await actor.putBatch(try items.map(QueueItem.init)) else { throw QueueFull() }
    }

    /// Takes the oldest item, waiting while the queue is empty: forever, up to `timeout`, or not at
    /// all (`block: false`).
    /// - Throws: `QueueEmpty` when none came in time.
    public func get(block: Bool = true, timeout: Duration? = nil) async throws -> Element {
        let wait = block ? timeout.map(\.seconds) ?? -1 : 0
        guard let item = try await actor.get(waitSeconds: wait) else { throw QueueEmpty() }
        return try item.value(Element.self)
    }

    /// Takes the oldest item if there is one now. - Throws: `QueueEmpty`.
    public func getNowait() async throws -> Element { try await get(block: false) }

    /// Takes the `count` oldest items if there are that many now, else none.
    /// - Throws: `QueueEmpty`.
    public func getNowaitBatch(_ count: Int) async throws -> [Element] {
        guard let items = try await actor.getBatch(count) else { throw QueueEmpty() }
        return try items.map { try $0.value(Element.self) }
    }

    /// Ends the queue's actor; its items go with it.
    public func shutdown() throws { try ray.kill(actor) }
}

/// `Queue.get` found no item in time.
public struct QueueEmpty: Error, CustomStringConvertible {
    public var description: String { "QueueEmpty: the queue has no item" }
}

/// `Queue.put` found no room in time.
public struct QueueFull: Error, CustomStringConvertible {
    public var description: String { "QueueFull: the queue is full" }
}

/// One queued item: its encoding, and references to the objects it holds (so they stay alive
/// while it waits in the queue).
struct QueueItem: Codable, Sendable {
    let bytes: [UInt8]
    let refs: [ObjectRef<RayVoid>]

    init<T: Encodable>(_ value: T) throws {
        let encoded = try RayEncoding.encode(value)
        bytes = encoded.bytes
        refs = encoded.refs.map { ObjectRef(id: $0) }
    }

    func value<T: Decodable>(_ type: T.Type) throws -> T {
        try RayEncoding.decode(T.self, from: RayWire.EncodedValue(bytes: bytes))
    }
}

/// The actor behind a `Queue`: the items, and the callers waiting for room or for an item.
@RayActor
distributed actor QueueActor {
    private let maxSize: Int
    private var items: [QueueItem] = []
    private var head = 0
    private var getters: [(id: Int, waiter: CheckedContinuation<QueueItem?, Never>)] = []
    private var putters: [(id: Int, item: QueueItem, waiter: CheckedContinuation<Bool, Never>)] = []
    private var nextWaiter = 0

    init(actorSystem: RayActorSystem, maxSize: Int) {
        self.actorSystem = actorSystem
        self.maxSize = maxSize
    }

    distributed func size() -> Int { items.count - head }

    /// Adds the item, waiting up to `waitSeconds` for room (negative: forever); false if none came.
    distributed func put(_ item: QueueItem, waitSeconds: Double) async -> Bool {
        if putters.isEmpty, hasRoom(for: 1) {
            append(item)
            return true
        }
        guard waitSeconds != 0 else { return false }
        let id = newWaiter()
        return await withCheckedContinuation { waiter in
            putters.append((id, item, waiter))
            expire(id, after: waitSeconds)
        }
    }

    distributed func putBatch(_ batch: [QueueItem]) -> Bool {
        guard putters.isEmpty, hasRoom(for: batch.count) else { return false }
        for item in batch { append(item) }
        return true
    }

    /// Takes the oldest item, waiting up to `waitSeconds` for one (negative: forever); nil if none came.
    distributed func get(waitSeconds: Double) async -> QueueItem? {
        if let item = takeFirst() { return item }
        guard waitSeconds != 0 else { return nil }
        let id = newWaiter()
        return await withCheckedContinuation { waiter in
            getters.append((id, waiter))
            expire(id, after: waitSeconds)
        }
    }

    distributed func getBatch(_ count: Int) -> [QueueItem]? {
        guard count >= 0, size() >= count else { return nil }
        return (0..<count).compactMap { _ in takeFirst() }
    }

    // MARK: Internals

    private func hasRoom(for count: Int) -> Bool { maxSize == 0 || size() + count <= maxSize }

    /// Hands the item to the oldest waiting getter, or queues it.
    private func append(_ item: QueueItem) {
        if !getters.isEmpty { return getters.removeFirst().waiter.resume(returning: item) }
        items.append(item)
    }

    /// The oldest item, letting the oldest waiting putter in behind it.
    private func takeFirst() -> QueueItem? {
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        }
        if !putters.isEmpty, hasRoom(for: 1) {
            let putter = putters.removeFirst()
            append(putter.item)
            putter.waiter.resume(returning: true)
        }
        return item
    }

    private func newWaiter() -> Int {
        nextWaiter += 1
        return nextWaiter
    }

    /// Gives up on waiter `id` after `seconds` (never when negative).
    private func expire(_ id: Int, after seconds: Double) {
        guard seconds > 0 else { return }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            self.timeOut(id)
        }
    }

    private func timeOut(_ id: Int) {
        if let index = getters.firstIndex(where: { $0.id == id }) { getters.remove(at: index).waiter.resume(returning: nil) }
        if let index = putters.firstIndex(where: { $0.id == id }) { putters.remove(at: index).waiter.resume(returning: false) }
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
