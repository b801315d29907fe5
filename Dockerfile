# syntax=docker/dockerfile:1
# Pluto in a container: a build stage, then a slim runtime image running as a non-root user.
#
#   docker build -t pluto .
#   docker run --rm -p 8080:8080 -e OPENROUTER_API_KEY -e PLUTO_ADMIN_KEY pluto
#
# Listening on 0.0.0.0 needs authentication: set PLUTO_ADMIN_KEY (tenants and their keys come
# from the admin API), or PLUTO_INSECURE_NO_AUTH=true on a network you trust. Probes: /healthz
# (alive) and /readyz (the state store answers). The image has no Node.js or Python: an agent's
# stdio MCP servers need their runtime added (FROM this image, apt-get install nodejs).
# The image holds the shipped agents/ and sandbox-policies/ in /app; mount your own over them
# (-v ./agents:/app/agents:ro). State is written to /app/.pluto (a volume in production).

FROM rust:1.95-slim-trixie AS build
WORKDIR /src
# The toolchain file pins the exact toolchain, its components and the wasm32-wasip2 target.
COPY rust-toolchain.toml ./
RUN rustup toolchain install
COPY Cargo.toml Cargo.lock ./
COPY host ./host
# The sandbox's guest components are built by host/pluto-sandbox/build.rs and embedded.
COPY guest ./guest
COPY wit ./wit
# Cargo.toml lists tests/support as a member; the build needs its manifest, not the tests.
COPY tests/support ./tests/support
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p pluto-cli \
 && install -m 0755 target/release/pluto /usr/local/bin/pluto

FROM debian:trixie-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home pluto
COPY --from=build /usr/local/bin/pluto /usr/local/bin/pluto
WORKDIR /app
COPY agents ./agents
COPY sandbox-policies ./sandbox-policies
# The shipped agents must be valid, or the image is not built.
RUN pluto validate \
 && mkdir -p /app/.pluto \
 && chown pluto:pluto /app/.pluto
USER pluto
ENV PLUTO_BIND=0.0.0.0:8080
EXPOSE 8080
VOLUME ["/app/.pluto"]
ENTRYPOINT ["pluto"]
CMD ["serve"]
