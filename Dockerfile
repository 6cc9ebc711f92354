# The meshcon binary in a small image: what `meshcon export kubernetes`'s
# Deployments run (`meshcon workload ...`). Build from the repository root:
#   docker build -t meshcon:latest .
# (any OCI builder reads this file: docker, podman, buildah).

# Build stage: the same release build as on a developer's machine.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin meshcon

# Runtime stage: glibc and libgcc only, no shell, not root.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/meshcon /usr/local/bin/meshcon
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/meshcon"]
CMD ["workload", "--help"]
