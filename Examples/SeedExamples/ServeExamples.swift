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

/// The seed's `TextClassifier`: sentiment by counting positive and negative words.
@RayActor
distributed actor TextClassifier: Deployment {
    static let positive: Set<String> = ["good", "great", "love", "excellent", "fast", "happy", "nice"]
    static let negative: Set<String> = ["bad", "awful", "hate", "slow", "terrible", "sad", "broken"]

    distributed func handle(_ request: ServeRequest) async throws -> ServeResponse {
        let words = try request.json(Text.self).text.lowercased().split { !$0.isLetter }.map(String.init)
        let score = words.filter(Self.positive.contains).count - words.filter(Self.negative.contains).count
        return try .json(["label": score > 0 ? "POSITIVE" : score < 0 ? "NEGATIVE" : "NEUTRAL", "replica": "\(getpid())"])
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
