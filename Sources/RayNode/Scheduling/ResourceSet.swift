/// Resource amounts by name: `CPU`, `GPU`, `memory` and custom names.
package typealias ResourceSet = [String: Double]

extension Dictionary where Key == String, Value == Double {
    /// Whether `demand` fits in these amounts.
    func fits(_ demand: ResourceSet) -> Bool {
        demand.allSatisfy { name, amount in amount <= 0 || (self[name] ?? 0) + 1e-9 >= amount }
    }

    /// How many of `demand` these amounts hold at once (`limit` for a demand of nothing).
    func count(of demand: ResourceSet, upTo limit: Int) -> Int {
        demand.reduce(limit) { count, entry in
            entry.value <= 0 ? count : Swift.min(count, Int(((self[entry.key] ?? 0) + 1e-9) / entry.value))
        }
    }

    /// Whether it asks for nothing but CPU: the one resource a task blocked in `get` lends out (as
    /// in Ray), so the only demand that may share a worker's lease with a blocked task.
    var onlyCPU: Bool { allSatisfy { $0.key == "CPU" || $0.value <= 0 } }

    mutating func subtract(_ demand: ResourceSet) {
        for (name, amount) in demand where amount > 0 { self[name, default: 0] -= amount }
    }

    package mutating func add(_ demand: ResourceSet) {
        for (name, amount) in demand where amount > 0 { self[name, default: 0] += amount }
    }

    /// `{CPU: 2, GPU: 1}`, sorted by name, for messages.
    package var summary: String {
        "{" + sorted { $0.key < $1.key }.map { "\($0.key): \(Self.format($0.value))" }.joined(separator: ", ") + "}"
    }

    static func format(_ amount: Double) -> String {
        amount == amount.rounded() && abs(amount) < 1e15 ? String(Int(amount)) : String(amount)
    }
}
