#!/usr/bin/env bash
# Build the Docker test base image offline: a minimal Debian with python3, made by debootstrap
# from the Debian mirror apt already uses, then `docker import`ed. No image registry is reached.
#
#   scripts/build-test-base.sh [IMAGE]      (default IMAGE: mletui-test-base; needs root)
#
# The image is the `--base` the tests give `mletui image build`; it stays in the Engine, so
# later runs reuse it. The mirror is read from apt's sources at run time, never written here.
set -euo pipefail

image="${1:-mletui-test-base}"
suite="${MLETUI_TEST_BASE_SUITE:-bookworm}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image: already there"
    exit 0
fi

mirror="${MLETUI_DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    # deb822 sources first (URIs: ...), then one-line sources (deb URL suite ...).
    mirror="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
fi
if [[ -z "$mirror" ]]; then
    mirror="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$mirror" ]]; then
    echo "no Debian mirror found in /etc/apt/sources.list*; set MLETUI_DEBIAN_MIRROR" >&2
    exit 1
fi

if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

rootfs="$(mktemp -d /var/tmp/mletui-test-base.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1 || { tail -n 20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# Smaller and quicker to import: no apt lists, caches, docs or man pages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' - "$image" >/dev/null
echo "$image: built in $((SECONDS - start)) s"
