# syntax=docker/dockerfile:1
# The rpc-vs-rest image: the one binary, on distroless, as a non-root user.
#
#   docker build -t rpc-vs-rest:0.1.0 .
#   docker run --rm --read-only -p 50051:50051 -p 8080:8080 rpc-vs-rest:0.1.0
#
# Dependencies are cached with cargo-chef: `planner` reduces the workspace to a recipe (the
# manifests and lock file), `cacher` builds only the dependencies from it, and that layer is
# reused until the manifests or Cargo.lock change, so editing src/ or crates/ rebuilds only our
# crates. The contract's build.rs compiles the protos with protox (pure Rust): no protoc in any stage.

# Bookworm, to match the runtime's glibc (Debian 12).
FROM rust:1.95.0-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin rpc-vs-rest

FROM chef AS cacher
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin rpc-vs-rest

FROM cacher AS builder
COPY . .
RUN cargo build --release --locked --bin rpc-vs-rest

# cc: glibc and libgcc_s, all the binary links (TLS is rustls: no OpenSSL). No shell, no
# package manager. The binary writes nothing to disk, so the root filesystem may be read-only.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="rpc-vs-rest" \
      org.opencontainers.image.description="One Greeter served as gRPC and as REST, and a fair comparison of the two" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /build/target/release/rpc-vs-rest /usr/local/bin/rpc-vs-rest
# Numeric, so that Kubernetes' runAsNonRoot can verify it (it cannot resolve "nonroot").
USER 65532:65532
# gRPC (with health, reflection and gRPC-Web), then REST (HTTP/1.1 and h2c).
EXPOSE 50051 8080
# With no arguments the binary serves on 0.0.0.0:50051 and 0.0.0.0:8080; `compare ...` and
# `openapi` run its other subcommands.
ENTRYPOINT ["/usr/local/bin/rpc-vs-rest"]
