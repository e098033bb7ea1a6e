import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import RayJobs
import RayTransport
import RayWire

/// Ray's job submission REST API (what Ray's `ray job` CLI and `JobSubmissionClient` call):
/// `GET /api/version`, `GET/PUT /api/packages/{protocol}/{name}`, `POST/GET /api/jobs/`,
/// `GET /api/jobs/{id}`, `/logs`, `POST /api/jobs/{id}/stop`, `DELETE /api/jobs/{id}`, and the
/// websocket `/api/jobs/{id}/logs/tail`. Without a job manager (a driver's embedded dashboard)
/// submitting answers 404 naming where jobs go; listing shows the drivers.
enum JobRoutes {
    /// The job API's protocol version Ray 2.60's clients expect, and the Ray release whose API this is.
    static let version = "4", rayVersion = "2.60.0"
    /// Largest working-directory package accepted (Ray's limit).
    static let maxPackageBytes = 512 << 20

    /// Routes that run code or change jobs want the cluster token even on loopback (reading
    /// needs it only off loopback, as the rest of the dashboard): submitting a job runs a command
    /// as the head's user, which no other local user may do. Ray's clients send it with
    /// `RAY_AUTH_MODE=token` and `RAY_AUTH_TOKEN`; `swiftray job` finds it itself.
    static func add(to router: Router<BasicRequestContext>, jobs: JobManager?, token: String?, source: @escaping Dashboard.StateSource) {
        let guarded = router.group().add(middleware: ChangeNeedsToken(token: token))
        add(reading: router, changing: guarded, jobs: jobs, source: source)
    }

    private static func add(
        reading router: Router<BasicRequestContext>, changing guarded: RouterGroup<BasicRequestContext>, jobs: JobManager?,
        source: @escaping Dashboard.StateSource
    ) {
        router.get("/api/version") { _, _ in
            try DashboardRoutes.json(["version": version, "ray_version": rayVersion, "ray_commit": "swift-ray", "session_name": "swift-ray"])
        }
        router.get("/api/packages/{scheme}/{name}") { _, context in
            let jobs = try require(jobs)
            let found = await jobs.hasPackage(scheme: try context.parameters.require("scheme"), name: try context.parameters.require("name"))
            return Response(status: found ? .ok : .notFound)
        }
        guarded.put("/api/packages/{scheme}/{name}") { request, context in
            let jobs = try require(jobs)
            let body = try await request.body.collect(upTo: maxPackageBytes)
            try await answer {
                try await jobs.storePackage(
                    scheme: try context.parameters.require("scheme"), name: try context.parameters.require("name"), bytes: Data(buffer: body))
            }
            return Response(status: .ok)
        }
        guarded.post("/api/jobs") { request, _ in
            let jobs = try require(jobs)
            let body = try await request.body.collect(upTo: 1 << 20)
            let submit: JobSubmitRequest
            do {
                submit = try JSONDecoder().decode(JobSubmitRequest.self, from: Data(buffer: body))
            } catch {
                throw HTTPError(.badRequest, message: "the job submission is not a valid JobSubmitRequest: \(error)")
            }
            let record = try await answer { try await jobs.submit(submit) }
            return try DashboardRoutes.json(["job_id": record.submissionID, "submission_id": record.submissionID])
        }
        router.get("/api/jobs") { _, _ in
            let submitted = await jobs?.list() ?? []
            let drivers = try await source().jobs.filter { $0.type == "DRIVER" }.map(DriverJobDetails.init)
            return try DashboardRoutes.json(submitted.map(AnyJobDetails.submission) + drivers.map(AnyJobDetails.driver))
        }
        router.get("/api/jobs/{id}") { _, context in
            let jobs = try require(jobs)
            let id = try context.parameters.require("id")
            return try DashboardRoutes.json(try await answer { try await jobs.job(id) })
        }
        router.get("/api/jobs/{id}/logs") { _, context in
            let jobs = try require(jobs)
            let id = try context.parameters.require("id")
            return try DashboardRoutes.json(["logs": try await answer { try await jobs.logs(id) }])
        }
        guarded.post("/api/jobs/{id}/stop") { _, context in
            let jobs = try require(jobs)
            let id = try context.parameters.require("id")
            return try DashboardRoutes.json(["stopped": try await answer { try await jobs.stop(id) }])
        }
        guarded.delete("/api/jobs/{id}") { _, context in
            let jobs = try require(jobs)
            let id = try context.parameters.require("id")
            return try DashboardRoutes.json(["deleted": try await answer { try await jobs.delete(id) }])
        }
    }

    /// The websocket that streams a job's output as it is written (text messages), closing
    /// normally once the job is over and everything was sent.
    static func addTail(to router: Router<BasicWebSocketRequestContext>, jobs: JobManager?) {
        router.ws("/api/jobs/{id}/logs/tail") { _, context in
            let jobs = try require(jobs)
            let id = try context.parameters.require("id")
            _ = try await answer { try await jobs.job(id) }
            return .upgrade([:])
        } onUpgrade: { _, outbound, context in
            guard let jobs, let id = context.requestContext.parameters.get("id") else { return }
            var offset = 0
            while !Task.isCancelled {
                guard let chunk = try? await jobs.logs(id, from: offset) else { return }
                if !chunk.text.isEmpty { try await outbound.write(.text(chunk.text)) }
                offset = chunk.next
                if chunk.finished, chunk.text.isEmpty { return }
                if chunk.text.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
        }
    }

    private static func require(_ jobs: JobManager?) throws -> JobManager {
        guard let jobs else {
            throw HTTPError(.notFound, message: "jobs are submitted to a head started with `swiftray start --head`, not to a driver's dashboard")
        }
        return jobs
    }

    /// Runs a job manager call, turning its `JobError` into Ray's HTTP statuses.
    private static func answer<T: Sendable>(_ call: () async throws -> T) async throws -> T {
        do {
            return try await call()
        } catch let error as JobError {
            switch error.kind {
            case .badRequest: throw HTTPError(.badRequest, message: error.message)
            case .notFound: throw HTTPError(.notFound, message: error.message)
            case .internalError: throw HTTPError(.internalServerError, message: error.message)
            }
        }
    }
}

/// Refuses a request without the cluster token (when the dashboard has one).
struct ChangeNeedsToken<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else { return try await next(request, context) }
        let given = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        guard let given, ClusterToken.matches(given, token) else {
            throw HTTPError(.unauthorized, message: "submitting, stopping or deleting jobs needs the cluster token as Authorization: Bearer TOKEN (Ray's clients: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN)")
        }
        return try await next(request, context)
    }
}

/// A program that connected as a driver, as Ray's job list shows one (`type: DRIVER`).
struct DriverJobDetails: Encodable {
    struct DriverInfo: Encodable {
        let id: String, nodeIPAddress: String, pid: String
        enum CodingKeys: String, CodingKey { case id, nodeIPAddress = "node_ip_address", pid }
    }

    let type = "DRIVER", jobID: String, status: String, entrypoint: String, startTime: Int64, endTime: Int64?, driverInfo: DriverInfo

    init(_ job: JobState) {
        jobID = job.jobID
        status = job.status
        entrypoint = job.binary
        startTime = job.startedAt / 1000
        endTime = job.endedAt.map { $0 / 1000 }
        driverInfo = DriverInfo(id: job.jobID, nodeIPAddress: "127.0.0.1", pid: "\(job.driverPID)")
    }

    enum CodingKeys: String, CodingKey {
        case type, status, entrypoint
        case jobID = "job_id", startTime = "start_time", endTime = "end_time", driverInfo = "driver_info"
    }
}

/// Either kind of row in `GET /api/jobs/`.
enum AnyJobDetails: Encodable {
    case submission(JobRecord)
    case driver(DriverJobDetails)

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .submission(let record): try record.encode(to: encoder)
        case .driver(let driver): try driver.encode(to: encoder)
        }
    }
}
