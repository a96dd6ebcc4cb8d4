# syntax=docker/dockerfile:1
#
# slamon container image: a static-ish Rust binary on distroless (glibc + libgcc + CA certificates,
# no shell, no package manager), running as the distroless "nonroot" user (65532:65532).
# TLS is rustls (certificates verified against the system store shipped by distroless), SQLite is
# bundled into the binary: no OpenSSL and no libsqlite3 at runtime.
#
#   docker build -t slamon:0.1.0 .
#   docker run --rm -p 9464:9464 -v "$PWD/config/demo.toml:/etc/slamon/slamon.toml:ro" \
#     slamon:0.1.0 run --config /etc/slamon/slamon.toml --listen 0.0.0.0:9464
#
# See docs/kubernetes.md. This file is not built in CI (no container engine there).

# --- build -----------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, so that a source-only change reuses the cached dependency layer: build a
# placeholder crate with the real manifest and lock file, then throw its own artifacts away.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/slamon target/release/deps/slamon-* \
           target/release/deps/libslamon-* target/release/.fingerprint/slamon-*

# The sources (config/demo.toml is compiled in, for `slamon demo`).
COPY . .
RUN cargo build --release --locked \
 && install -D -m 0755 target/release/slamon /out/slamon \
 && /out/slamon --version \
 && mkdir -p /out/state

# --- runtime ---------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="slamon" \
      org.opencontainers.image.description="Continuous SLA monitoring daemon: scheduled load profiles, sliding-window percentiles, Prometheus export" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=builder /out/slamon /usr/local/bin/slamon
COPY --from=builder --chown=65532:65532 /out/state /var/lib/slamon

# The state directory (SQLite outbox and alert states); mount a volume here. The working
# directory is the same, so the default relative state_dir ("slamon-state") lands on it too.
WORKDIR /var/lib/slamon
USER 65532:65532

EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/slamon"]
CMD ["run", "--config", "/etc/slamon/slamon.toml"]
