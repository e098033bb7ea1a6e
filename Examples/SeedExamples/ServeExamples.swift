import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwiftRay
import SwiftRayServe

/// The seed's linear model: weights and a bias read from a JSON file.
struct ServedLinearModel: Codable, Sendable {
    let weights: [Double]
    let bias: Double

    init(contentsOf path: String) throws {
        self = try JSONDecoder().decode(ServedLinearModel.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func predict(_ features: [Double]) -> Double { zip(weights, features).reduce(bias) { $0 + $1.0 * $1.1 } }
}

struct Features: Codable { let features: [Double] }

/// The seed's `ModelPredictor` deployment: loads the model once per replica, predicts per request.
@RayActor
distributed actor ModelPredictor: Deployment {
    let model: ServedLinearModel

    init(actorSystem: RayActorSystem, modelPath: String) throws {
        self.actorSystem = actorSystem
        model = try ServedLinearModel(contentsOf: modelPath)
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        try .json(["prediction": model.predict(try request.json(Features.self).features)])
    }
}

struct Text: Codable { let text: String }

/// Words a `TextClassifier` counts besides its own (its `user_config`).
struct ClassifierSettings: Codable {
    var positive: [String]?
    var negative: [String]?
}

/// The seed's `TextClassifier`: sentiment by counting positive and negative words; a user config
/// adds words without restarting the replicas.
@RayActor
distributed actor TextClassifier: Deployment, ReconfigurableDeployment {
    var positive: Set<String> = ["good", "great", "love", "excellent", "fast", "happy", "nice"]
    var negative: Set<String> = ["bad", "awful", "hate", "slow", "terrible", "sad", "broken"]

    distributed func reconfigure(_ config: UserConfig) throws {
        let settings = try config.decode(ClassifierSettings.self)
        positive.formUnion(settings.positive ?? [])
        negative.formUnion(settings.negative ?? [])
    }

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        let words = try request.json(Text.self).text.lowercased().split { !$0.isLetter }.map(String.init)
        let score = words.filter(positive.contains).count - words.filter(negative.contains).count
        return try .json(["label": score > 0 ? "POSITIVE" : score < 0 ? "NEGATIVE" : "NEUTRAL", "replica": "\(getpid())"])
    }
}

struct ModelArguments: Codable { let modelPath: String? }

/// The examples' applications by name, for Serve configs (`import_path: model_predictor`).
enum ServeExampleApplications {
    /// `model.json` beside this file.
    static let defaultModelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("model.json").path

    static func register() {
        Serve.register("model_predictor") { args in
            let given = try args?.decode(ModelArguments.self).modelPath
            let path = given.map { URL(fileURLWithPath: $0).path } ?? defaultModelPath  // relative to this host's folder
            return ModelPredictor.bind { try await ModelPredictor.create(modelPath: path, options: $0) }
        }
        Serve.register("text_classifier") { _ in TextClassifier.bind(DeploymentConfig(numReplicas: 4)) }
    }
}

/// POSTs `body` as JSON to `url`; returns the answer's text.
func post(_ url: String, _ body: String) async throws -> String {
    var request = URLRequest(url: URL(string: url)!)
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    request.httpBody = Data(body.utf8)
    return String(decoding: try await URLSession.shared.data(for: request).0, as: UTF8.self)
}
