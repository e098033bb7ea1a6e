# swift-ray's container image: `swiftray` (also installed as `ray`, so KubeRay's generated
# `ray start ...` and `ray health-check ...` command lines run it) and `swiftray-examples`.
#   docker build -t swift-ray:latest .
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-noble AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources Sources
COPY Examples Examples
COPY Benchmarks Benchmarks
COPY Tests Tests
RUN swift build -c release --product swiftray \
    && swift build -c release --product swiftray-examples \
    && mkdir -p /out \
    && cp .build/release/swiftray .build/release/swiftray-examples /out/

FROM swift:${SWIFT_VERSION}-noble-slim
RUN useradd --create-home --uid 1000 ray
COPY --from=build /out/swiftray /out/swiftray-examples /usr/local/bin/
RUN ln -s /usr/local/bin/swiftray /usr/local/bin/ray
USER ray
WORKDIR /home/ray
# Ray's ports: the head (6379), the dashboard and job API (8265), the health port (52365), Serve (8000).
EXPOSE 6379 8265 52365 8000
ENTRYPOINT []
CMD ["ray", "start", "--head", "--block", "--dashboard-host=0.0.0.0"]
