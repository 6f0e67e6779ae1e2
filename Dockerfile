# okrd's container image. From the repository root:
#
#   docker build -t okrd .
#   docker build -t okrd:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     --build-arg SOURCE=https://REPOSITORY-URL .
#
# deploy/README.md says how to run it; .ci/dockerfile lints this file and
# runs its steps (and builds it where a container engine runs).

FROM rust:1.94-bookworm AS build
WORKDIR /src

# The dependencies first, in layers that outlive changes to okrd's own code:
# the manifest and lock file, the bench files cargo needs to parse the
# manifest ([[bench]] targets), a stub lib and bin, and the empty folders
# build.rs reads.
COPY Cargo.toml Cargo.lock build.rs ./
COPY benches ./benches
RUN mkdir -p src migrations/sqlite migrations/postgres connectors \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs
RUN cargo build --release --locked

# okrd itself: src/ (with what include_str! reads there) and what build.rs
# embeds (migrations/, connectors/). COPY keeps the files' times, which can
# be older than the stub build's, so touch them: else cargo keeps the stub
# binary and build.rs's empty lists. The line tables stay (file:line in a
# panic's backtrace), compressed: 78 MB instead of 185.
COPY src ./src
COPY migrations ./migrations
COPY connectors ./connectors
RUN find build.rs src migrations connectors -exec touch {} + \
    && cargo build --release --locked \
    && objcopy --compress-debug-sections=zlib target/release/okrd okrd

# The binary links glibc only (rustls, no libssl); ca-certificates gives it
# the system's roots. debian-slim rather than distroless: the health check
# needs bash.
FROM debian:bookworm-slim
# Unpinned on purpose: bookworm's ca-certificates only moves with security
# and point updates, which an image should take.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 okrd \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/okrd \
        --no-create-home --shell /usr/sbin/nologin okrd \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/okrd \
    && install -d -m 0755 /etc/okrd

# Root-owned, so the daemon cannot rewrite its own binary or config. The
# config (SQLite in /var/lib/okrd, no OKR files) serves until one is mounted
# over /etc/okrd.
COPY --from=build /src/okrd /usr/local/bin/okrd
COPY deploy/container/okrd.toml /etc/okrd/okrd.toml

# OKRD_CONFIG: `docker exec ... okrd token create` and the other commands
# read the same config (and so the same database) as the daemon.
# The listen address wins over the config's, so a mounted config that keeps
# the default 127.0.0.1 is still reachable from outside the container.
ENV OKRD_CONFIG=/etc/okrd/okrd.toml \
    OKRD_SERVER__LISTEN=0.0.0.0:9785

# Numeric, so Kubernetes' runAsNonRoot can verify it; the Kubernetes
# manifests assume 10001.
USER 10001:10001
WORKDIR /var/lib/okrd
EXPOSE 9785

# GET /healthz with bash's /dev/tcp (no curl in the image), on the port of
# OKRD_SERVER__LISTEN: healthy on a 200 status line, unhealthy otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "listen=${OKRD_SERVER__LISTEN:-0.0.0.0:9785}; exec 3<>/dev/tcp/127.0.0.1/${listen##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [[ $code == 200 ]]"]

ENTRYPOINT ["/usr/local/bin/okrd"]
CMD ["serve", "--config", "/etc/okrd/okrd.toml"]

# Last, so new values rebuild nothing. VERSION is Cargo.toml's
# (.ci/dockerfile checks it); SOURCE is where the code is published.
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="okrd" \
      org.opencontainers.image.description="A daemon that keeps OKR key results up to date from metric sources" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
