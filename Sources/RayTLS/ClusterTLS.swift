import Crypto
import Foundation
import NIOCore
import NIOSSL
import RayPlatform
import RayTransport
import Synchronization
import X509

/// TLS for a cluster's network links (`swiftray start --head --tls`): the head's cluster port and
/// every node's object server. One certificate per cluster, which is also the root that clients
/// trust: the head generates it (ECDSA P-256, ten years) unless given one, nodes receive it with
/// their key from the head after joining, and drivers, nodes and commands verify servers against it
/// (the chain, not the host name: nodes are reached by address, and the cluster token still
/// authenticates every connection). The embedded cluster's loopback port stays plain.
package struct ClusterTLS: Sendable, Equatable {
    /// The certificate, PEM.
    package let certificatePEM: String
    /// Its private key, PEM (servers only).
    package let keyPEM: String?

    package init(certificatePEM: String, keyPEM: String?) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }

    /// A new self-signed certificate and key for a cluster.
    package static func generate() throws -> ClusterTLS {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("swift-ray")
            CommonName("swift-ray cluster")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 10 * 365 * 86_400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                KeyUsage(digitalSignature: true, keyCertSign: true)
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.dnsName("swift-ray")])
            },
            issuerPrivateKey: .init(key))
        return ClusterTLS(certificatePEM: try certificate.serializeAsPEM().pemString, keyPEM: key.pemRepresentation)
    }

    /// Reads a certificate (and its key) from PEM files.
    /// - Throws: `ClusterError` naming the file that cannot be read or parsed.
    package static func load(certificateFile: String, keyFile: String?) throws -> ClusterTLS {
        let tls = ClusterTLS(certificatePEM: try read(certificateFile), keyPEM: try keyFile.map(read))
        _ = try tls.clientContext()
        if tls.keyPEM != nil { _ = try tls.serverContext() }
        return tls
    }

    private static func read(_ path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ClusterError("cannot read the TLS file \(path)")
        }
        return text
    }

    /// What servers add to their connections: TLS with this certificate and key.
    package func serverContext() throws -> TLSSecurity {
        let configuration = try serverConfiguration()
        do {
            return TLSSecurity(context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw ClusterError("invalid TLS certificate or key: \(error)")
        }
    }

    /// A server's TLS configuration with this certificate and key (the dashboard's HTTPS too).
    package func serverConfiguration() throws -> TLSConfiguration {
        guard let keyPEM else { throw ClusterError("a TLS server needs the certificate's private key") }
        do {
            let certificates = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
            let key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            return TLSConfiguration.makeServerConfiguration(
                certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
        } catch {
            throw ClusterError("invalid TLS certificate or key: \(error)")
        }
    }

    /// What clients add to their connections: TLS trusting this certificate only.
    package func clientContext() throws -> TLSSecurity {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)))
            configuration.certificateVerification = .noHostnameVerification
            return TLSSecurity(context: try NIOSSLContext(configuration: configuration))
        } catch {
            throw ClusterError("invalid TLS certificate: \(error)")
        }
    }

    // MARK: This process as a client

    /// The environment variable naming the cluster certificate a process trusts.
    package static let certificateVariable = TLSSupport.certificateVariable

    private static let contexts = Mutex<[String: TLSSecurity]>([:])

    /// The client context trusting the certificate in `path`, made once per file.
    static func client(certificateFile path: String) throws -> TLSSecurity {
        if let context = contexts.withLock({ $0[path] }) { return context }
        let context = try load(certificateFile: path, keyFile: nil).clientContext()
        contexts.withLock { $0[path] = context }
        return context
    }

    /// What the head's servers and clients add, and what it gives its nodes.
    /// - Throws: `ClusterError` when there is no key or the certificate is unusable.
    package func security() throws -> ClusterSecurity {
        guard let keyPEM else { throw ClusterError("a TLS server needs the certificate's private key") }
        return ClusterSecurity(server: try serverContext(), client: try clientContext(), certificatePEM: certificatePEM, keyPEM: keyPEM)
    }
}

/// RayTLS as `TLSSupport` finds it in a binary that links this module.
package enum ClusterTLSProvider: TLSProvider {
    package static func client(certificateFile: String) throws -> any ChannelSecurity {
        try ClusterTLS.client(certificateFile: certificateFile)
    }

    package static func server(certificatePEM: String, keyPEM: String) throws -> any ChannelSecurity {
        try ClusterTLS(certificatePEM: certificatePEM, keyPEM: keyPEM).serverContext()
    }
}

/// TLS on a connection (swift-nio-ssl): the server's or the client's handler with one context.
package struct TLSSecurity: ChannelSecurity {
    package let context: NIOSSLContext

    package func addHandler(to pipeline: ChannelPipeline.SynchronousOperations, server: Bool) throws {
        if server {
            try pipeline.addHandler(NIOSSLServerHandler(context: context))
        } else {
            try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
        }
    }
}

extension ClusterTLS {
    /// The certificate and key as `ClusterFiles.recordHead` writes them.
    package var pem: (certificatePEM: String, keyPEM: String?) { (certificatePEM, keyPEM) }
}
