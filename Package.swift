// swift-tools-version:6.1
import CompilerPluginSupport
import PackageDescription

let package = Package(
    name: "swift-ray",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwiftRay", targets: ["SwiftRay"]),
        .library(name: "RayTesting", targets: ["RayTesting"]),
        // TLS for programs that connect to a `--tls` cluster (BoringSSL; a plain program leaves it out).
        .library(name: "SwiftRayTLS", targets: ["RayTLS"]),
        // The web dashboard an embedded cluster serves (`Ray.start(includeDashboard:)`): Hummingbird, Prometheus.
        .library(name: "SwiftRayDashboard", targets: ["RayDashboard"]),
        // Hyperparameter tuning (Ray Tune) over the public API.
        .library(name: "SwiftRayTune", targets: ["SwiftRayTune"]),
        // Ray Serve: deployments served over HTTP (Hummingbird's server, NIO's HTTP/1 handlers).
        .library(name: "SwiftRayServe", targets: ["SwiftRayServe"]),
        .library(name: "SwiftRayNN", targets: ["SwiftRayNN"]),
        // Collective communication (Ray's ray.util.collective): rings over direct member links.
        .library(name: "SwiftRayCollective", targets: ["SwiftRayCollective"]),
        // Ray Train: data-parallel training on a worker group, checkpoints and recovery.
        .library(name: "SwiftRayTrain", targets: ["SwiftRayTrain"]),
        // RLlib: environments, PPO and DQN, env-runner actors, checkpoints, Tune trainables.
        .library(name: "SwiftRayRL", targets: ["SwiftRayRL"]),
        // Ray Data: streaming datasets (CSV, JSON lines, text), column expressions, group-by, sort.
        .library(name: "SwiftRayData", targets: ["SwiftRayData"]),
        .executable(name: "swiftray", targets: ["swiftray"]),
        .executable(name: "swiftray-examples", targets: ["SeedExamples"]),
        .executable(name: "swiftray-serve-bench", targets: ["ServeBench"]),
        .executable(name: "swiftray-seed-bench", targets: ["SeedWorkloads"]),
        .executable(name: "swiftray-transfer-bench", targets: ["TransferBenchmark"]),
        .executable(name: "swiftray-collective-bench", targets: ["CollectiveBenchmark"]),
        .executable(name: "swiftray-rl-bench", targets: ["RLBenchmark"]),
        .executable(name: "swiftray-autoscaler-bench", targets: ["AutoscalerBenchmark"]),
        .executable(name: "swiftray-chaos", targets: ["ChaosBenchmark"]),
        .executable(name: "swiftray-data-bench", targets: ["DataBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-syntax", "600.0.0"..<"700.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // gzip for Parquet pages (already in the graph through hummingbird-websocket).
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C shims: the pre-main hook that turns any SwiftRay binary into a worker, process helpers.
        .target(name: "CRayShims"),
        // Frames, messages and the binary Codable encoding.
        .target(
            name: "RayWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        // The C library once (re-exported), errno text, interrupted-call retries, positioned I/O,
        // the environment and the runtime's logger.
        .target(name: "RayPlatform", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // The node's shared-memory object store: files, sealing, spilling.
        .target(name: "RayObjectStore", dependencies: ["RayPlatform", "RayWire"]),
        // How processes reach each other: wire pipelines, the head client connection, cluster files,
        // addresses and tokens, binary shipping, and the seam where TLS plugs in.
        .target(
            name: "RayTransport",
            dependencies: [
                "RayPlatform", "RayWire", "RayObjectStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // TLS for cluster links and the dashboard (swift-nio-ssl, certificates): the only module
        // that links BoringSSL.
        .target(
            name: "RayTLS",
            dependencies: [
                "RayPlatform", "RayTransport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The node manager: scheduler, worker pool, object table, actors, placement groups,
        // references, state; launching and logging workers.
        .target(
            name: "RayNode",
            dependencies: [
                "RayPlatform", "RayWire", "RayObjectStore", "RayTransport", "CRayShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // In-process stand-ins for worker processes, so node tests run on an EmbeddedEventLoop.
        .target(
            name: "RayNodeTesting",
            dependencies: [
                "RayNode", "RayWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        // The core worker in every driver and worker process: the runtime protocol the public API
        // calls, the worker loop, and a driver's connection to a remote head.
        .target(
            name: "RayWorker",
            dependencies: [
                "RayPlatform", "RayWire", "RayObjectStore", "RayTransport", "CRayShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // A cluster: the head, node daemons, object transfer between nodes, and the embedded local
        // cluster a plain `Ray.start()` runs.
        .target(
            name: "RayCluster",
            dependencies: [
                "RayPlatform", "RayWire", "RayObjectStore", "RayTransport", "RayNode", "RayWorker", "RayJobs", "CRayShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // What @Remote and @RayActor expand to: a plain library, so that its tests do not depend on
        // the macro target (a test depending on a macro makes SwiftPM build every test target, and
        // all they depend on, a second time for the host: twice the build).
        .target(
            name: "RayMacroExpansion",
            dependencies: [
                .product(name: "SwiftSyntax", package: "swift-syntax"),
                .product(name: "SwiftSyntaxBuilder", package: "swift-syntax"),
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftDiagnostics", package: "swift-syntax"),
            ]
        ),
        // The compiler plugin serving @Remote and @RayActor.
        .macro(
            name: "RayMacros",
            dependencies: [
                "RayMacroExpansion",
                .product(name: "SwiftSyntaxMacros", package: "swift-syntax"),
                .product(name: "SwiftCompilerPlugin", package: "swift-syntax"),
            ]
        ),
        // The head's control state on its disk (SQLite through sqlite-nio), for a restarted head.
        .target(
            name: "RayHeadStore",
            dependencies: [
                "RayWire", .product(name: "SQLiteNIO", package: "sqlite-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        // Ray's autoscaler: node types, demand packing, idle removal; providers that start nodes as
        // local daemons or as KubeRay worker pods through the Kubernetes API.
        .target(
            name: "RayAutoscaler",
            dependencies: [
                "RayPlatform", "CRayShims", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        // Submitted jobs on the head: supervised entrypoint processes, records on disk, packages.
        .target(
            name: "RayJobs",
            dependencies: [
                "RayPlatform", "RayWire", "CRayShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // The web dashboard, its JSON API, Ray's job submission API and the Prometheus endpoint (Hummingbird).
        .target(
            name: "RayDashboard",
            dependencies: [
                "RayPlatform", "RayWire", "RayTransport", "RayJobs",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Public API.
        .target(
            name: "SwiftRay",
            dependencies: [
                "RayPlatform", "RayWire", "RayObjectStore", "RayTransport", "RayNode", "RayWorker", "RayCluster", "RayMacros",
            ]
        ),
        // Ray Tune: search spaces, trials as tasks, results.
        .target(name: "SwiftRayTune", dependencies: ["SwiftRay"]),
        .target(
            name: "SwiftRayServe",
            dependencies: [
                "SwiftRay",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Ray Train over Collective and Tune's checkpoints and reports.
        .target(
            name: "SwiftRayTrain",
            dependencies: ["SwiftRay", "SwiftRayCollective", "SwiftRayTune", .product(name: "Logging", package: "swift-log")]
        ),
        // Reinforcement learning: environments in gymnasium's shape (CartPole-v1 and Pendulum-v1
        // matching gymnasium step for step, NumPy's PCG64 seeding), vector environments.
        .target(name: "SwiftRayRL", dependencies: ["SwiftRay", "SwiftRayNN", "SwiftRayTune", .product(name: "Logging", package: "swift-log")]),
        // Ray Data: columnar blocks in the object store, lazy plans fused into one task per block,
        // streaming execution bounded by a memory budget, all-to-all group-by and sort.
        .target(
            name: "SwiftRayData",
            dependencies: [
                "SwiftRay", .product(name: "Logging", package: "swift-log"),
                .product(name: "CompressNIO", package: "compress-nio"), .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // A small neural-network library (dense layers, softmax cross-entropy, SGD and Adam, flat
        // parameters) for Train's and RL's examples: pure Swift, SIMD matrix products.
        .target(name: "SwiftRayNN", dependencies: ["SwiftRay"]),
        // Collective communication among tasks and actors: allreduce, allgather, broadcast,
        // reduce-scatter, barrier over direct links (shared memory on a node, TCP between nodes).
        .target(
            name: "SwiftRayCollective",
            dependencies: [
                "SwiftRay", "CCollectiveShims", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Cross-process atomics and futex waits for the collective's shared-memory links.
        .target(name: "CCollectiveShims"),
        // Ray's microbenchmark workloads (`swiftray microbenchmark`).
        .target(name: "RayBenchmarks", dependencies: ["SwiftRay"]),
        // The command line.
        .executableTarget(
            name: "swiftray",
            dependencies: [
                "SwiftRay", "RayPlatform", "RayWire", "RayTransport", "RayTLS", "RayNode", "RayCluster", "RayBenchmarks",
                "CRayShims", "RayDashboard", "RayJobs", "RayAutoscaler", "RayHeadStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Fault injection and fuzzing (issue 22): port fuzzers, connection floods, worker killers.
        .target(
            name: "RayChaos",
            dependencies: ["SwiftRay", "RayWire", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // Helpers to start and stop local clusters in tests (ours and users').
        .target(name: "RayTesting", dependencies: ["SwiftRay", "RayPlatform", "CRayShims"]),
        // The seed's examples, runnable: `swift run -c release swiftray-examples`.
        .executableTarget(
            name: "SeedExamples", dependencies: ["SwiftRay", "SwiftRayTune", "SwiftRayServe", "SwiftRayTrain", "SwiftRayNN", "SwiftRayRL", "SwiftRayData", "RayDashboard"], path: "Examples/SeedExamples",
            exclude: ["model.json", "serve_config.yaml"]),
        // The seed's workloads, timed: `swift run -c release swiftray-seed-bench`.
        .executableTarget(name: "DataBenchmark", dependencies: ["SwiftRay", "SwiftRayData"], path: "Benchmarks/DataBench"),
        .executableTarget(name: "ServeBench", dependencies: ["SwiftRay", "SwiftRayServe"], path: "Benchmarks/ServeBench"),
        .executableTarget(name: "SeedWorkloads", dependencies: ["SwiftRay", "SwiftRayTune"], path: "Benchmarks/SeedWorkloads"),
        // Object transfer between nodes, timed: `swift run -c release swiftray-transfer-bench`.
        .executableTarget(name: "TransferBenchmark", dependencies: ["SwiftRay", "RayTesting"], path: "Benchmarks/Transfer"),
        // Allreduce bandwidth (`bash Benchmarks/collective_compare.sh` runs it beside gloo).
        .executableTarget(name: "CollectiveBenchmark", dependencies: ["SwiftRay", "SwiftRayCollective"], path: "Benchmarks/Collective"),
        // PPO and DQN learning speed and env-runner sampling (`bash Benchmarks/rl_compare.sh` runs it beside RLlib).
        .executableTarget(name: "RLBenchmark", dependencies: ["SwiftRay", "SwiftRayRL"], path: "Benchmarks/RL"),
        // Time from demand to a node the autoscaler launched running it.
        .executableTarget(name: "AutoscalerBenchmark", dependencies: ["SwiftRay"], path: "Benchmarks/Autoscaler"),
        // Long chaos and fuzz runs against a real cluster: `swift run -c release swiftray-chaos`.
        .executableTarget(
            name: "ChaosBenchmark",
            dependencies: ["SwiftRay", "RayChaos", "RayTesting", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/Chaos"),
        // A driver that tests start as a separate process (orphan checks).
        .executableTarget(name: "RayTestDriver", dependencies: ["SwiftRay", "SwiftRayTune"], path: "Tests/RayTestDriver"),
        .testTarget(
            name: "RayWireTests",
            dependencies: ["RayWire", .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "RayNodeTests",
            dependencies: [
                "RayNode", "RayNodeTesting", "RayWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RayMacrosTests",
            dependencies: [
                "RayMacroExpansion",
                .product(name: "SwiftSyntaxMacrosTestSupport", package: "swift-syntax"),
            ]
        ),
        .testTarget(name: "SwiftRayNNTests", dependencies: ["SwiftRayNN", "SwiftRay"]),
        .testTarget(name: "RayJobsTests", dependencies: ["RayJobs", "RayTesting"]),
        .testTarget(
            name: "RayAutoscalerTests",
            dependencies: ["RayAutoscaler", "SwiftRay", "RayTesting", .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "DeployTests", dependencies: ["RayTesting"], exclude: ["validate_manifests.py", "KubeRayCRDs"]),
        .testTarget(name: "SwiftRayRLTests", dependencies: ["SwiftRayRL", "SwiftRayNN", "SwiftRayTune", "SwiftRay", "RayTesting"], exclude: ["Data"]),
        .testTarget(name: "SwiftRayTrainTests", dependencies: ["SwiftRayTrain", "SwiftRayNN", "SwiftRayTune", "SwiftRay", "RayTesting"]),
        .testTarget(
            name: "SwiftRayCollectiveTests",
            dependencies: ["SwiftRayCollective", "SwiftRay", "RayTesting", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "SwiftRayServeTests",
            dependencies: ["SwiftRayServe", "SwiftRay", "RayTesting", "RayDashboard", "RayChaos"]
        ),
        .testTarget(
            name: "SwiftRayTuneTests",
            dependencies: ["SwiftRayTune", "SwiftRay", "RayTesting", "RayDashboard"]
        ),
        .testTarget(name: "SwiftRayDataTests", dependencies: ["SwiftRayData", "SwiftRay", "SwiftRayTrain", "RayTesting"], exclude: ["parquet_oracle.py"]),
        .testTarget(name: "RayChaosTests", dependencies: ["RayChaos", "SwiftRay", "RayTesting", "RayDashboard"]),
        .testTarget(
            name: "SwiftRayTests",
            dependencies: [
                "SwiftRay", "RayTesting", "RayTestDriver", "RayBenchmarks", "SeedExamples", "swiftray", "RayDashboard",
                "RayCluster", "RayNode", "RayObjectStore", "RayTransport", "RayTLS", "RayWire", "RayChaos",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
