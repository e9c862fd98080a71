#!/usr/bin/env bash
# Start a Docker engine (if none answers) and build the offline base image the
# Docker tests use. No image can be pulled here, so the base is a debootstrapped
# Debian with python3 + venv, imported as a local image (see ../shared/DESIGN.md).
# Usage: tests/support/docker_engine.sh [IMAGE_NAME]
set -euo pipefail
IMAGE="${1:-amlops-test-base:bookworm}"

if ! docker info >/dev/null 2>&1; then
  echo "docker_engine: starting dockerd" >&2
  nohup dockerd --iptables=false --ip6tables=false --bridge=none \
    >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "docker_engine: dockerd did not start, see /tmp/dockerd.log" >&2; exit 1; }
fi

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "docker_engine: base image $IMAGE already present" >&2
  exit 0
fi

ROOT="$(mktemp -d /tmp/amlops-base.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT
echo "docker_engine: debootstrapping $IMAGE (about a minute)" >&2
debootstrap --variant=minbase \
  --include=python3,python3-pip,python3-venv,ca-certificates \
  bookworm "$ROOT" >/tmp/debootstrap.log 2>&1 \
  || { echo "docker_engine: debootstrap failed, see /tmp/debootstrap.log" >&2; exit 1; }
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$ROOT/etc/pip.conf"
tar -C "$ROOT" -c . | docker import - "$IMAGE" >/dev/null
echo "docker_engine: built $IMAGE" >&2
