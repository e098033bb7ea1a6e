import RayPlatform

/// Makes TLS for cluster connections. RayTLS implements it (`ClusterTLSProvider`); RayTransport
/// and everything above it reach it only through `TLSSupport`, so a program links BoringSSL only
/// when it links RayTLS (the `SwiftRayTLS` product, and the `swiftray` command).
package protocol TLSProvider {
    /// What a client adds to trust the cluster certificate in `certificateFile` (PEM).
    static func client(certificateFile: String) throws -> any ChannelSecurity
    /// What a server adds to serve with this certificate and key (PEM).
    static func server(certificatePEM: String, keyPEM: String) throws -> any ChannelSecurity
}

/// Where this process gets TLS from: RayTLS's provider, found by its type name when the binary
/// links it (workers run their driver's binary and never run its `main`, so nothing could
/// register it there).
package enum TLSSupport {
    /// The environment variable naming the cluster certificate a process trusts; set, every
    /// connection to a head or object server uses TLS.
    package static let certificateVariable = "SWIFTRAY_TLS_CA_FILE"

    /// RayTLS's provider, if this binary has it (`RayTLS.ClusterTLSProvider`), looked up when a
    /// connection needs it (rarely: once per connection made).
    package static var provider: (any TLSProvider.Type)? { _typeByName("6RayTLS18ClusterTLSProviderO") as? any TLSProvider.Type }

    /// The certificate a client must trust to reach the cluster: `SWIFTRAY_TLS_CA_FILE`, else the
    /// one a TLS head on this machine recorded in `files`; nil: the cluster is plain TCP.
    package static func certificateFile(files: ClusterFiles?) -> String? {
        if let path = getenvString(certificateVariable) { return path }
        guard let path = files?.tlsCertificateFile, access(path, F_OK) == 0 else { return nil }
        return path
    }

    /// What a client adds to reach the cluster (nil: plain TCP).
    /// - Throws: `ClusterError` when the cluster uses TLS and this program was built without it,
    ///   or its certificate cannot be used.
    package static func client(files: ClusterFiles?) throws -> (any ChannelSecurity)? {
        guard let path = certificateFile(files: files) else { return nil }
        return try require().client(certificateFile: path)
    }

    /// What a server adds to serve TLS with this certificate and key.
    /// - Throws: as `client(files:)`.
    package static func server(certificatePEM: String, keyPEM: String) throws -> any ChannelSecurity {
        try require().server(certificatePEM: certificatePEM, keyPEM: keyPEM)
    }

    private static func require() throws -> any TLSProvider.Type {
        guard let provider else {
            throw ClusterError(
                "this cluster uses TLS, but this program was built without it: add the SwiftRayTLS product to its dependencies")
        }
        return provider
    }
}

/// A cluster's TLS as its head serves it: what its servers and clients add to their connections,
/// and the certificate and key it hands to nodes for their object servers.
package struct ClusterSecurity: Sendable {
    package let server: any ChannelSecurity
    package let client: any ChannelSecurity
    package let certificatePEM: String
    package let keyPEM: String

    package init(server: any ChannelSecurity, client: any ChannelSecurity, certificatePEM: String, keyPEM: String) {
        self.server = server
        self.client = client
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }
}
