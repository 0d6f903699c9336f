# syntax=docker/dockerfile:1
#
# The one image of Garonne's services: the `garonne` command (realtime, historian, serve,
# simulate, data fetch, pi, up) and the built front-end. docker-compose.yml runs every service
# from it, and deploy/pi/docker-compose.yml runs the Raspberry Pi agent from it.
#
#   docker build -t garonne .
#   docker run --rm -p 8080:8080 garonne          # `garonne up`: the whole demo in one container
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/garonne --push .
#
# Multi-arch: every step is the same on every platform. The Rust stage compiles natively for the
# target platform (under QEMU emulation when it differs from the build machine); the front-end,
# plain JavaScript and CSS, is built once on the build machine's own platform.
#
# Build arguments:
#   FEATURES  cargo features of `garonne`; default `rpi`, real Raspberry Pi hardware for
#             `garonne pi` (rppal builds on every Linux; elsewhere it finds no Pi and says so).
#             `--build-arg FEATURES=` for none.

# --- The front-end: frontend/dist, from npm at build time (no CDN at run time) ---------------
FROM --platform=$BUILDPLATFORM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
# The lock file alone first, so that a source change does not reinstall the packages.
COPY frontend/package.json frontend/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,id=garonne-npm \
    npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- The `garonne` binary ---------------------------------------------------------------------
FROM rust:1-bookworm AS builder
ARG TARGETPLATFORM
ARG FEATURES=rpi
WORKDIR /src
COPY . .
# Cargo's registry and the target directory live in cache mounts (one target directory per
# platform), so a rebuild compiles only what changed. The binary is copied out of the cache
# mount in the same step: the mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=garonne-cargo-registry \
    --mount=type=cache,target=/usr/local/cargo/git,id=garonne-cargo-git \
    --mount=type=cache,target=/src/target,id=garonne-target-${TARGETPLATFORM} \
    cargo build --release --locked --bin garonne --features "${FEATURES}" \
    && install -D -m 0755 target/release/garonne /out/garonne

# --- The runtime image ------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: `garonne data fetch` and InfluxDB over HTTPS. curl: the healthchecks
# (`curl -fsS http://127.0.0.1:PORT/readyz`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A system user without a login. The folders that compose mounts named volumes on are created
# here, owned by it, so that a new volume starts with that owner:
#   /data                             open data (`garonne data fetch`), read by the others
#   /var/lib/garonne/historian-spool  the historian's spool
#   /var/lib/garonne/realtime         realtime's snapshot
#   /var/lib/garonne-pi               the Pi agent's queue (deploy/pi/pi.toml's queue_dir)
RUN groupadd --system --gid 10001 garonne \
    && useradd --system --uid 10001 --gid garonne --no-create-home \
        --home-dir /var/lib/garonne --shell /usr/sbin/nologin garonne \
    && install -d -o garonne -g garonne -m 0750 \
        /data /var/lib/garonne /var/lib/garonne/historian-spool /var/lib/garonne/realtime \
        /var/lib/garonne-pi
COPY --from=builder /out/garonne /usr/local/bin/garonne
COPY --from=frontend /src/frontend/dist /usr/share/garonne/frontend
# GARONNE_STATIC_DIR is read by `garonne up`; `garonne serve` takes --static-dir (see CMD and
# docker-compose.yml).
ENV GARONNE_DATA_DIR=/data \
    GARONNE_STATIC_DIR=/usr/share/garonne/frontend \
    GARONNE_LOG=info
WORKDIR /var/lib/garonne
USER garonne
# 8080: the web server; 9181 and 9182: realtime's and the historian's /healthz, /readyz, /metrics.
EXPOSE 8080 9181 9182
# The default command's probe; docker-compose.yml gives each service its own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["garonne"]
# The demo: embedded broker (inside the container only), simulator, realtime, historian into the
# embedded store, and the map on port 8080. Open data is fetched into /data when missing.
CMD ["up", "--http", "0.0.0.0:8080", "--data-dir", "/data", "--state-dir", "/var/lib/garonne", "--static-dir", "/usr/share/garonne/frontend"]
