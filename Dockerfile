# Multi-stage build: compile with the Rust toolchain, run on a slim Debian
# image as an unprivileged user.
FROM rust:1-bookworm AS build
# npm installs the pinned GraphiQL packages that build.rs embeds.
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY playground/package.json playground/package-lock.json ./playground/
RUN cd playground && npm ci --no-audit --no-fund
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# Cargo.toml declares the bench target, so its file must be there to parse.
COPY benches ./benches
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home gateway
COPY --from=build /src/target/release/liveagent-graphql /usr/local/bin/liveagent-graphql
USER 10001
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/liveagent-graphql", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/liveagent-graphql"]
