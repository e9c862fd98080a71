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

# A test run killed while tests/native_support.py had the test image tagged under public
# names (python:3.11-slim, Azure ML's base images) leaves those tags behind, and every later
# RUNTIME=auto test would then build on them instead of falling back to a venv. Such a tag
# is one whose image is an amlops-test-python image: remove the tag (never an image).
TEST_IMAGE_IDS="$(docker images -q amlops-test-python 2>/dev/null | sort -u)"
for NAME in python:3.11-slim mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest \
  mcr.microsoft.com/azureml/curated/sklearn-1.0-ubuntu20.04-py38-cpu:latest \
  mcr.microsoft.com/azureml/curated/sklearn-1.5:latest; do
  ID="$(docker images -q "$NAME" 2>/dev/null)"
  if [ -n "$ID" ] && printf '%s\n' "$TEST_IMAGE_IDS" | grep -qx "$ID"; then
    echo "docker_engine: removing the stale test tag $NAME" >&2
    docker rmi --no-prune "$NAME" >/dev/null
  fi
done

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
