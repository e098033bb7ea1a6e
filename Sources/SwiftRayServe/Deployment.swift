import SwiftRay

/// A deployment (Ray Serve's `@serve.deployment` class): a `@RayActor` distributed actor whose
/// replicas each answer requests in `handle`.
///
/// ```swift
/// @RayActor
/// distributed actor ModelPredictor: Deployment {
///     let model: LinearModel
///     init(actorSystem: RayActorSystem, modelPath: String) throws {
///         self.actorSystem = actorSystem
///         model = try LinearModel(contentsOf: modelPath)
///     }
///     distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
///         try .json(["prediction": model.predict(request.json(Features.self).features)])
///     }
/// }
/// ```
public protocol Deployment: RayActor {
    /// Answers one request (Ray's `__call__`).
    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse
}

/// How a deployment runs (Ray's `@serve.deployment(...)` options).
public struct DeploymentConfig: Sendable {
    /// Replicas (actors) serving it.
    public var numReplicas: Int
    /// Requests one replica works on at once (Ray's `max_ongoing_requests`, default 5).
    public var maxOngoingRequests: Int
    /// Requests waiting for a replica when all are at their limit; more are refused with 503
    /// (Ray's `max_queued_requests`; never unbounded here).
    public var maxQueuedRequests: Int
    /// Each replica's actor options (resources, runtime environment, ...).
    public var actorOptions: ActorOptions
    /// Replicas follow the load between bounds (then `numReplicas` is ignored; Ray's
    /// `num_replicas="auto"` / `autoscaling_config`).
    public var autoscaling: AutoscalingConfig?
    /// Handed to each replica's `reconfigure` (a `ReconfigurableDeployment`) before it serves.
    public var userConfig: UserConfig?
    /// How often a `HealthCheckedDeployment`'s replicas are checked, and how long a check may take.
    public var healthCheckPeriod: Duration
    public var healthCheckTimeout: Duration
    /// How long a replica leaving (deleted, scaled down, replaced by a redeploy) may finish its
    /// requests before it is killed (Ray's `graceful_shutdown_timeout_s`).
    public var gracefulShutdownTimeout: Duration

    public init(
        numReplicas: Int = 1, maxOngoingRequests: Int = 5, maxQueuedRequests: Int = 100, actorOptions: ActorOptions = ActorOptions(),
        autoscaling: AutoscalingConfig? = nil, userConfig: UserConfig? = nil, healthCheckPeriod: Duration = .seconds(10),
        healthCheckTimeout: Duration = .seconds(30), gracefulShutdownTimeout: Duration = .seconds(20)
    ) {
        self.autoscaling = autoscaling
        self.userConfig = userConfig
        self.healthCheckPeriod = healthCheckPeriod
        self.healthCheckTimeout = healthCheckTimeout
        self.gracefulShutdownTimeout = gracefulShutdownTimeout
        self.numReplicas = max(numReplicas, 1)
        self.maxOngoingRequests = max(maxOngoingRequests, 1)
        self.maxQueuedRequests = max(maxQueuedRequests, 0)
        self.actorOptions = actorOptions
    }

    /// Replicas a deployment starts with.
    var initialReplicas: Int { autoscaling?.minReplicas ?? numReplicas }
}

/// How a deployment's replicas follow its load (Ray's `autoscaling_config`): every
/// `metricsInterval` the wanted count is `ceil((ongoing + queued) / targetOngoingRequests)` within
/// `minReplicas...maxReplicas`; replicas are added once more have been wanted for
/// `upscaleDelay` and removed (after their requests finish) once fewer have been wanted for
/// `downscaleDelay`, so a steady load never makes it oscillate. With `minReplicas: 0` the
/// deployment scales to zero, and a request arriving then waits while a replica starts.
public struct AutoscalingConfig: Sendable {
    public var minReplicas: Int
    public var maxReplicas: Int
    public var targetOngoingRequests: Double
    public var upscaleDelay: Duration
    public var downscaleDelay: Duration
    public var metricsInterval: Duration

    public init(
        minReplicas: Int = 1, maxReplicas: Int = 1, targetOngoingRequests: Double = 2, upscaleDelay: Duration = .seconds(30),
        downscaleDelay: Duration = .seconds(600), metricsInterval: Duration = .milliseconds(100)
    ) {
        self.minReplicas = max(minReplicas, 0)
        self.maxReplicas = max(maxReplicas, self.minReplicas, 1)
        self.targetOngoingRequests = max(targetOngoingRequests, 0.01)
        self.upscaleDelay = upscaleDelay
        self.downscaleDelay = downscaleDelay
        self.metricsInterval = metricsInterval
    }

    /// The replicas wanted for `load` requests on or waiting for replicas.
    func wanted(load: Int) -> Int {
        min(max(Int((Double(load) / targetOngoingRequests).rounded(.up)), minReplicas), maxReplicas)
    }
}

/// A deployment bound to its constructor arguments, ready for `Serve.run` (Ray's
/// `Deployment.bind(...)`).
public struct Application: Sendable {
    /// Calls one replica.
    typealias ReplicaCall = @Sendable (ServeRequest) async throws -> ServeResponse
    /// Sends one request to a replica at once, its answer to come in the ref (the proxy's path
    /// without a Swift task).
    typealias SubmitCall = @Sendable (ServeRequest) -> ObjectRef<ServeResponse>
    /// Opens a streaming replica's chunks for one request.
    typealias StreamCall = @Sendable (ServeRequest) -> ObjectRefGenerator<ServeChunk>
    /// A replica made: how to call it, its actor's id (what handles in other processes carry),
    /// its lifecycle hooks (nil for a handle's view of another process's replicas), and for a
    /// `StreamingDeployment` how to open its stream.
    struct Replica: Sendable {
        let call: ReplicaCall
        let id: RayActorID
        var control: ReplicaControl? = nil
        var stream: StreamCall? = nil
        /// How to send a request without waiting (nil: only `call`).
        var submit: SubmitCall? = nil
    }

    public let deploymentName: String
    public let config: DeploymentConfig
    /// The deployment type's mangled name, found again by handles in other processes.
    let typeName: String
    /// A `StreamingDeployment`'s content type (nil: it answers whole responses).
    var contentType: String? = nil
    let makeReplica: @Sendable (ActorOptions) async throws -> Replica

    /// Whether HTTP requests are answered with a stream.
    var isStreaming: Bool { contentType != nil }
}

extension Deployment {
    /// The deployment with its replicas made by `create` (usually the generated
    /// `Self.create(args..., options:)`), Ray's `Deployment.bind(args)`:
    ///
    /// ```swift
    /// let app = ModelPredictor.bind(DeploymentConfig(numReplicas: 2)) { try await ModelPredictor.create(modelPath: path, options: $0) }
    /// ```
    public static func bind(
        _ config: DeploymentConfig = DeploymentConfig(), name: String? = nil, _ create: @escaping @Sendable (ActorOptions) async throws -> Self
    ) -> Application {
        Application(deploymentName: name ?? "\(Self.self)", config: config, typeName: _mangledTypeName(Self.self) ?? "\(Self.self)") { options in
            let replica = try await create(options)
            return Application.Replica(call: caller(of: replica), id: replica.id, control: .of(replica), submit: submitter(of: replica))
        }
    }

    /// How the proxy and handles call a replica's `handle`: by the `@RayActor` macro's dispatch
    /// key when the macro saw it (a string match in the replica), else as a distributed call
    /// (Swift then looks the method up by its mangled name and decodes through the distributed
    /// machinery on every call: about a third of a no-op replica's CPU per request).
    static func caller(of replica: Self) -> Application.ReplicaCall {
        guard let submit = submitter(of: replica) else { return { request in try await replica.handle(request) } }
        return { request in try await submit(request).get() }
    }

    /// `handle` sent by the macro's dispatch key, returning at once (nil: the macro did not see it).
    static func submitter(of replica: Self) -> Application.SubmitCall? {
        guard _rayMethodKeys.contains("handle(_:)") else { return nil }
        let name = "\(Self.self).handle"
        return { request in RayActorCalls.submit(replica, method: "handle(_:)", name: name, arguments: [TaskArgument(value: request)]) }
    }

    /// `bind` for a deployment made by its `init(actorSystem:)`.
    public static func bind(_ config: DeploymentConfig = DeploymentConfig(), name: String? = nil) -> Application {
        bind(config, name: name) { options in try await ray.actor(Self.self, options: options) }
    }
}
