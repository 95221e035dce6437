#!/usr/bin/env bash
# Makes the two base images the Dockerfile starts from, for a machine that
# cannot reach an image registry, with podman and Debian's debootstrap:
#   docker.io/library/debian:bookworm-slim  Debian 12 (minbase) + CA certificates
#   docker.io/library/rust:1-bookworm       the same + a C toolchain + this
#                                           machine's Rust toolchain (rustup's)
# Then the Dockerfile builds unchanged:
#   podman build --pull=never --network host -t liveagent-graphql:local .
# Needs root and the packages podman runc debootstrap.
set -euo pipefail
work="${1:-/var/tmp/liveagent-bases}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
toolchain="$(rustc --print sysroot)"
mkdir -p "$work"

if [ ! -x "$work/slim/bin/sh" ]; then
  debootstrap --variant=minbase --include=ca-certificates bookworm "$work/slim" "$mirror"
  chroot "$work/slim" apt-get clean
fi
tar -C "$work/slim" -c . | podman import \
  --change 'CMD ["/bin/bash"]' - docker.io/library/debian:bookworm-slim

if [ ! -x "$work/rust/usr/bin/gcc" ]; then
  rm -rf "$work/rust"
  cp -a "$work/slim" "$work/rust"
  # The crates that build C (jemalloc, SQLite, ring) need a compiler and make.
  chroot "$work/rust" apt-get update
  chroot "$work/rust" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends gcc libc6-dev make
  chroot "$work/rust" apt-get clean
fi
# Where this machine reaches registries through a TLS-inspecting proxy, the
# build needs its local CA certificates too (npm, cargo).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$work/rust/usr/local/share/ca-certificates/"
  chroot "$work/rust" update-ca-certificates
fi
mkdir -p "$work/rust/usr/local/rust"
cp -a "$toolchain/bin" "$toolchain/lib" "$work/rust/usr/local/rust/"
tar -C "$work/rust" -c . | podman import \
  --change 'ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV CARGO_HOME=/usr/local/cargo' \
  --change 'CMD ["/bin/bash"]' - docker.io/library/rust:1-bookworm
podman images
