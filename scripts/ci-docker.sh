#!/usr/bin/env bash
# What the docker runtime's tests need, for CI (and any fresh machine, as root): a Docker Engine
# (Debian's docker.io, started here when none answers), the test base image (built offline by
# scripts/build-test-base.sh) and mletui's agent image built on it, exactly as a user builds it
# with `mletui image build --base`. Images stay in the Engine: a second run reuses them.
# Prints how long each part took. Run from anywhere, after the virtual environment exists.
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
# Debian's packages for what is missing: the engine, debootstrap for the base image, openssl and
# ip for the tests' second engine (TLS certificates, its own bridge).
missing=()
{ command -v dockerd && command -v docker; } >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v openssl >/dev/null || missing+=(openssl)
command -v ip >/dev/null || missing+=(iproute2)
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    echo "docker: installed ${missing[*]} in $((SECONDS - t0)) s"
fi
if ! docker info >/dev/null 2>&1; then
    # No systemd here: dockerd runs in the background, in a session of its own.
    setsid dockerd >/var/log/mletui-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        echo "dockerd did not start; its log:" >&2
        tail -n 30 /var/log/mletui-dockerd.log >&2
        exit 1
    fi
fi
echo "docker: engine $(docker version --format '{{.Server.Version}}') ready in $((SECONDS - t0)) s"

t1=$SECONDS
bash scripts/build-test-base.sh mletui-test-base
echo "docker: test base image ready in $((SECONDS - t1)) s"

t2=$SECONDS
.venv/bin/mletui image build --base mletui-test-base --tag mletui-agent:test >/dev/null
echo "docker: agent image ready in $((SECONDS - t2)) s (mletui image build --base mletui-test-base)"
