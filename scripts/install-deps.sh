#!/usr/bin/env bash
# Install every Debian package the project needs (build, tests, demo) when
# something is missing.  Idempotent: a machine that has everything does no
# network access at all.
set -euo pipefail

PKGS=(
	# BPF toolchain: clang/llvm compile bpf/*.bpf.c, bpftool generates
	# vmlinux.h and skeletons, libbpf-dev links the addon.
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	# CRIU 4.2.1 build dependencies (see docs/criu-build.md).
	libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
	libnl-3-dev libnet1-dev libcap-dev libbsd-dev libnftables-dev libdrm-dev
	pkg-config python3-protobuf libgnutls28-dev uuid-dev
	# Fetching and unpacking CRIU's source package.
	xz-utils dpkg-dev ca-certificates xxd
	# Native addon and test programs.
	build-essential cmake liburing-dev
	# Real-application tests (qemu-utils has qemu-nbd, qemu-io, qemu-img;
	# qemu-system-common has qemu-storage-daemon).
	fio mariadb-server mariadb-client qemu-utils qemu-system-common
	# Container tests (test/containers/): podman with both OCI runtimes, and
	# what scripts/build-crun.sh needs (Debian's crun has no CRIU support).
	podman runc crun zstd libyajl-dev libseccomp-dev libsystemd-dev gperf
	# CRIU's default network lock for TCP connections (--network-lock
	# iptables, test/steady.test.ts); podman pulls it in too.
	iptables
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
