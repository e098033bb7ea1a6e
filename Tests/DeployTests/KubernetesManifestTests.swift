import Foundation
import RayTesting
import XCTest

/// `deploy/kubernetes/`: every manifest valid against KubeRay's v1 CRD schemas (strictly) and
/// Kubernetes' own schemas, the kustomize base rendering with `kubectl kustomize`, and the validator
/// refusing a broken manifest (so passing means something).
final class KubernetesManifestTests: XCTestCase {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The Python with jsonschema, PyYAML and kubernetes-validate that `.ci/run` installs.
    static var python: String? {
        let candidates = [
            ProcessInfo.processInfo.environment["SWIFTRAY_ORACLE_PYTHON"],
            package.appendingPathComponent(".build/python-oracles/bin/python").path,
        ].compactMap { $0 }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func validate(_ files: [String]) throws -> (status: Int32, output: String) {
        guard let python = Self.python else { throw XCTSkip("the manifest validator's Python is not installed (.ci/run installs it)") }
        // KubeRay's CRDs (v1, unchanged, with their license), kept beside the tests so a fresh clone has them.
        let crds = Self.package.appendingPathComponent("Tests/DeployTests/KubeRayCRDs").path
        let script = Self.package.appendingPathComponent("Tests/DeployTests/validate_manifests.py").path
        return try RayTesting.runProcess(python, [script, crds] + files)
    }

    func testManifestsAreValidKubeRayAndKubernetesResources() throws {
        let deploy = Self.package.appendingPathComponent("deploy/kubernetes").path
        let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let rendered = try RayTesting.runProcess(try XCTUnwrap(kubectl, "kubectl is needed (.ci/run installs it)"), ["kustomize", deploy])
        XCTAssertEqual(rendered.status, 0, rendered.output)
        XCTAssertTrue(rendered.output.contains("kind: RayCluster") && rendered.output.contains("kind: Secret"), rendered.output)
        let renderedFile = NSTemporaryDirectory() + "swiftray-rendered-\(getpid()).yaml"
        try rendered.output.write(toFile: renderedFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: renderedFile) }
        let manifests = ["raycluster.yaml", "rayjob.yaml", "rayservice.yaml"].map { "\(deploy)/\($0)" }
        let result = try validate(manifests + [renderedFile])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("VALID 5/5"), result.output)
    }

    func testTheValidatorRefusesABrokenManifest() throws {
        let broken = NSTemporaryDirectory() + "swiftray-broken-\(getpid()).yaml"
        defer { try? FileManager.default.removeItem(atPath: broken) }
        try """
            apiVersion: ray.io/v1
            kind: RayCluster
            metadata: {name: broken}
            spec:
              headGroupSpecs: {}
              headGroupSpec:
                rayStartParams: {}
                template:
                  spec:
                    containers: [{name: head, image: swift-ray:latest, imagePullPolice: Always}]
              workerGroupSpecs:
                - {groupName: w, minReplicas: one, maxReplicas: 2, rayStartParams: {}, template: {spec: {containers: [{name: w, image: x}]}}}
            """.write(toFile: broken, atomically: true, encoding: .utf8)
        let result = try validate([broken])
        XCTAssertEqual(result.status, 1, result.output)
        for problem in ["headGroupSpecs", "imagePullPolice", "'one' is not of type 'integer'"] {
            XCTAssertTrue(result.output.contains(problem), "\(problem) reported: \(result.output)")
        }
    }
}
