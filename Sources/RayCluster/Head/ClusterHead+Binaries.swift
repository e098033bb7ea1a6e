import RayNode
import RayTransport
import RayWire

/// A job binary coming back from a node: a head started on another machine has none of the jobs'
/// binaries its restored detached actors run, but the nodes that ran them keep copies.
struct BinaryFetch {
    let node: NodeRecord
    var upload: BinaryUpload?
}

extension ClusterHead {
    /// Asks one node not asked yet for job binary `hash` (a restored actor waits for it); nodes that
    /// join later are asked in turn while it is missing.
    func askNextNode(for hash: String) {
        guard binaryFetches[hash] == nil, manager.missingBinaries.contains(hash) else { return }
        let asked = binaryAsked[hash] ?? []
        guard let node = manager.nodes.first(where: { $0.alive && !$0.isLocal && $0.daemon != nil && !asked.contains($0.id) }) else { return }
        binaryAsked[hash, default: []].insert(node.id)
        binaryFetches[hash] = BinaryFetch(node: node)
        logger.info("asking node \(node.id) for job binary \(hash)")
        node.daemon?.writeAndFlush(WireMessage.control(.fetchBinary(hash: hash)), promise: nil)
    }

    /// A piece of a binary a node sends back (an empty last one when it has none, which fails the
    /// hash check: the next node is asked).
    func binaryChunk(_ hash: String, _ bytes: [UInt8], last: Bool, from node: NodeRecord) {
        guard var fetch = binaryFetches[hash], fetch.node === node else { return }
        do {
            if fetch.upload == nil {
                fetch.upload = try BinaryUpload(hash: hash, size: BinaryHash.size(of: hash), path: files.binary(hash))
            }
            try fetch.upload!.append(bytes)
            binaryFetches[hash] = fetch
            guard last else { return }
            try fetch.upload!.finish()
            binaryFetches[hash] = nil
            binaryAsked[hash] = nil
            logger.info("job binary \(hash) fetched back from node \(node.id)")
            manager.binaryArrived(hash)
        } catch {
            binaryFetches[hash] = fetch
            binaryFetchFailed(from: node, "\(error)")
        }
    }

    /// The fetches from `node` ended without a binary: the next node is asked.
    func binaryFetchFailed(from node: NodeRecord, _ reason: String) {
        for (hash, fetch) in binaryFetches where fetch.node === node {
            fetch.upload?.abandon()
            binaryFetches[hash] = nil
            logger.warning("node \(node.id) did not provide job binary \(hash): \(reason)")
            askNextNode(for: hash)
        }
    }
}
