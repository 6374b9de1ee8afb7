#!/bin/bash
# npm run test:kernels: the built project on the kernels users run.
#
#   scripts/test-kernels.sh [--kernel 6.1|6.12|6.18]... [--grep REGEX] [--files "F..."]
#
# 6.1 and 6.12 are Debian's own cloud kernels (bookworm and
# bookworm-security), booted under qemu-system-x86_64 with TCG (no KVM on
# these machines) from an initramfs that holds the built project at its
# own absolute path: node, dist/, bin/, build/criu/criu, the plugin, the
# addon, the test programs, node_modules (without the compilers) and every
# library they load (resolved with ldd).  6.18 is the kernel this machine
# runs: the same subset runs here, natively, with CRIU_URING_NO_SKIPS=1
# (nothing may be skipped on the kernel with every feature).
#
# Each kernel runs `criu check`, `criu-uring check` and the chosen test
# files (the feature probes, check --json and test/dump-restore.test.js's
# plain, DEFER_TASKRUN, SQPOLL and NO_SQARRAY cases, test/rearm.test.js's
# READ/RECV/POLL_ADD/TIMEOUT re-arm cases: --grep) and the report says
# per kernel what passed, failed and was skipped, with the skip reasons.
# Logs: build/kernels/<kernel>.log.  One guest at a time, under nice.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/build/kernels
KERNELS=()
GREP='dump \+ restore: (plain ring|SINGLE_ISSUER|SQPOLL|NO_SQARRAY)|probes agree|io_rings layout|check --json|re-armed after dump \+ restore: READ, RECV, fixed-file RECV, POLL_ADD, TIMEOUTs'
FILES="dist/test/kernel-features.test.js dist/test/cli.test.js dist/test/dump-restore.test.js dist/test/rearm.test.js"
MEM=3G
GUEST_TIMEOUT=${GUEST_TIMEOUT:-3600}

die() { echo "test-kernels: error: $*" >&2; exit 1; }
say() { echo "test-kernels: $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNELS+=("$2"); shift 2 ;;
	--grep) GREP=$2; shift 2 ;;
	--files) FILES=$2; shift 2 ;;
	-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=(6.1 6.12 6.18)
[ "$(id -u)" = 0 ] || die "needs root (CRIU, BPF, apt-get download)"
[ "$(uname -m)" = x86_64 ] || die "x86_64 only (the project's syscall numbers and ptrace engine are)"
[ -x "$REPO/build/criu/criu" ] && [ -d "$REPO/dist" ] || die "not built: run npm run build"
mkdir -p "$OUT"

need_pkgs() {
	local missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	[ -x /bin/busybox ] || missing+=(busybox-static)
	command -v cpio >/dev/null || missing+=(cpio)
	if [ ${#missing[@]} -gt 0 ]; then
		say "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# The newest package matching a pattern; bookworm-security (6.12) is
# added in a private sources dir when the machine's apt lacks it, on the
# same mirror as the machine's Debian sources (never a hard-coded host).
APT_OPTS=()
private_apt() {
	local uri dir=$OUT/apt
	uri=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null |
		grep -v security | grep -m1 debian || true)
	[ -n "$uri" ] || die "no Debian mirror in the apt configuration"
	mkdir -p "$dir/lists/partial" "$dir/sources.list.d"
	echo "deb ${uri%/debian/}/debian-security bookworm-security main" > "$dir/sources.list.d/security.list"
	APT_OPTS=(-o "Dir::Etc::sourceparts=$dir/sources.list.d" -o "Dir::State::Lists=$dir/lists")
	apt-get "${APT_OPTS[@]}" update >/dev/null
}

newest() {
	apt-cache "${APT_OPTS[@]}" search --names-only "$1" | awk '{print $1}' | sort -V | tail -1
}

# fetch VERSION: build/kernels/x-VERSION/{vmlinuz,config,release,modules/}
# (modules: networking and what it needs; CRIU's kernel feature detection
# creates an nftables table, and nf_tables is a module on these kernels)
fetch_kernel() {
	local v=$1 pat pkg dir=$OUT/x-$1
	[ -f "$dir/vmlinuz" ] && [ -f "$dir/release" ] && [ -d "$dir/modules" ] && return 0
	case $v in
	6.1) pat='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' ;;
	6.12) pat='^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64$' ;;
	*) die "no Debian package for kernel $v" ;;
	esac
	pkg=$(newest "$pat")
	if [ -z "$pkg" ]; then
		apt-get update >/dev/null
		pkg=$(newest "$pat")
	fi
	if [ -z "$pkg" ]; then
		private_apt
		pkg=$(newest "$pat")
	fi
	[ -n "$pkg" ] || die "no package matches $pat"
	say "downloading $pkg"
	rm -rf "$dir" && mkdir -p "$dir/pkg"
	(cd "$dir" && apt-get "${APT_OPTS[@]}" download "$pkg" >/dev/null 2>&1)
	dpkg-deb -x "$dir"/*.deb "$dir/pkg"
	cp "$dir"/pkg/boot/vmlinuz-* "$dir/vmlinuz"
	cp "$dir"/pkg/boot/config-* "$dir/config"
	basename "$dir"/pkg/boot/vmlinuz-* | sed 's/^vmlinuz-//' > "$dir/release"
	local mods=$dir/pkg/lib/modules/$(cat "$dir/release")
	mkdir -p "$dir/modules/kernel"
	cp -a "$mods"/modules.* "$dir/modules/"
	cp -a "$mods"/kernel/{net,lib,crypto} "$dir/modules/kernel/"
	mkdir -p "$dir/modules/kernel/drivers/net"
	cp -a "$mods"/kernel/drivers/net/veth.ko* "$dir/modules/kernel/drivers/net/"	# criu check
	# busybox modprobe and depmod read plain .ko files
	find "$dir/modules" -name '*.ko.xz' -exec xz -d {} +
	find "$dir/modules" -name '*.ko.zst' -exec zstd -dq --rm {} +
	rm -rf "$dir/pkg" "$dir"/*.deb
}

# Files of the project the guest needs, relative to $REPO.
project_files() {
	cd "$REPO"
	echo package.json
	find bin dist proto -type f
	echo build/criu/criu
	find build/plugins build/test-progs -type f
	find build/addon/Release -maxdepth 1 -name '*.node'
	find node_modules \( -type f -o -type l \) \
		-not -path 'node_modules/.cache/*'
}

# Shared libraries of every ELF file given on stdin (ldd closure).
libs_of() {
	while read -r f; do
		file -L "$f" 2>/dev/null | grep -q ELF || continue
		ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'
	done | sort -u
}

# build_initramfs RELEASE DIR -> $OUT/initramfs-RELEASE.cpio
build_initramfs() {
	local release=$1 dir=$2 root img=$OUT/initramfs-$1.cpio
	root=$(mktemp -d "$OUT/root.XXXXXX")
	mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,boot,root,usr/bin,usr/sbin,lib64}
	cp /bin/busybox "$root/bin/busybox"
	# programs the tests and the plugin run, besides the project's own
	# (flock: the heavy test files take a lock, test/lib/exclusive.ts)
	local progs=(/bin/bash /bin/sh /usr/bin/node /usr/bin/env /usr/bin/nm /usr/bin/unshare /usr/bin/flock)
	local f
	# the project, symlinks as symlinks (node_modules/.bin), at its own path
	(cd / && project_files | sed "s|^|${REPO#/}/|" | cpio -pdm --quiet "$root" 2>/dev/null) || true
	mkdir -p "$root$REPO/plugin-c"	# how src/util/paths.ts knows a checkout
	# programs and every library (-L: the files behind the symlinks)
	{
		for f in "${progs[@]}"; do [ -e "$f" ] && echo "$f"; done
		{ for f in "${progs[@]}"; do echo "$f"; done; project_files | sed "s|^|$REPO/|" |
			grep -E '\.(so|node)$|/criu$|/test-progs/'; } | libs_of
	} | sort -u | cpio -pdmL --quiet "$root" 2>/dev/null || true
	mkdir -p "$root/lib/modules"
	cp -a "$dir/modules" "$root/lib/modules/$release"
	# nm needs its BFD library, found through ldd above; the dynamic loader
	cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
	cp "$dir/config" "$root/boot/config-$release"	# libbpf's __kconfig (CONFIG_HZ)
	# under TCG a dump's freeze and capture outlast CRIU's default 10 s alarm
	mkdir -p "$root/etc/criu"
	echo 'timeout 120' > "$root/etc/criu/default.conf"
	echo 'root:x:0:0:root:/root:/bin/bash' > "$root/etc/passwd"
	echo 'root:x:0:' > "$root/etc/group"
	echo 'nobody:x:65534:' >> "$root/etc/group"
	echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$root/etc/passwd"
	cat > "$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# TCG runs 10-30 times slower than the host, under nice beside a loaded host:
# the helper's 30 s per reply (plugin-c/helper.c) is not enough there
export CRIU_URING_HELPER_TIMEOUT_MS=600000
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /sys/fs/cgroup
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 none /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ip link set lo up 2>/dev/null
echo /bin/modprobe > /proc/sys/kernel/modprobe
depmod	# the package leaves modules.dep to its postinst
modprobe nf_tables || echo "@@ modprobe nf_tables failed"
modprobe veth
cd $REPO
echo "@@ kernel \$(uname -r)"
echo "@@ criu check"; build/criu/criu check 2>&1 | tail -3
echo "@@ criu-uring check"; node bin/criu-uring check 2>&1
echo "@@ tests"
CRIU_URING_KEEP_SCRATCH=1 node_modules/.bin/tap --disable-coverage --jobs=1 --timeout=$GUEST_TIMEOUT --reporter=tap \\
	--grep='$GREP' $FILES 2>&1
rc=\$?
echo "@@ mmap_min_addr \$(cat /proc/sys/vm/mmap_min_addr)"
for f in /tmp/criu-uring-test-*/*/*.log; do
	grep -q 'Error' "\$f" 2>/dev/null || continue
	echo "@@ log \$f"; grep -E 'Error|Warn|io_uring' "\$f" | tail -40
done
echo "@@ done \$rc"
poweroff -f
EOF
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet > "$img")
	rm -rf "$root"
	echo "$img"
}

run_guest() {
	local v=$1 dir=$OUT/x-$1 release img log=$OUT/$1.log
	fetch_kernel "$v"
	release=$(cat "$dir/release")
	# offline first: the BPF object against this kernel's BTF (CO-RE relocations, verifier)
	"$REPO/scripts/extract-vmlinux.sh" "$dir/vmlinuz" "$dir/vmlinux"
	if ! "$REPO/build/bpf/core-check" "$REPO/build/bpf/uring_iter.bpf.o" "$dir/vmlinux" > "$OUT/$v.core" 2>&1; then
		say "$v: the BPF programs do not load against this kernel's BTF (build/bpf/core-check -v):"
		tail -5 "$OUT/$v.core" >&2
		{ echo "@@ kernel $release"; echo "@@ BPF does not load"; cat "$OUT/$v.core"; } > "$log"
		return 0
	fi
	say "$v: initramfs for $release"
	img=$(build_initramfs "$release" "$dir")
	say "$v: booting under TCG ($(du -h "$img" | cut -f1) initramfs), log in $log"
	local start=$SECONDS
	timeout $((GUEST_TIMEOUT + 600)) nice -n 10 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m "$MEM" \
		-kernel "$dir/vmlinuz" -initrd "$img" -nographic -no-reboot \
		-append "console=ttyS0 rdinit=/init panic=-1 quiet" > "$log" 2>&1 || true
	echo "$((SECONDS - start))" > "$OUT/$v.seconds"
	rm -f "$img"
}

run_native() {
	local v=$1 log=$OUT/$1.log start=$SECONDS
	say "$v: this machine's kernel ($(uname -r)), natively"
	{
		cd "$REPO"
		echo "@@ kernel $(uname -r)"
		echo "@@ criu check"; build/criu/criu check 2>&1 | tail -3
		echo "@@ criu-uring check"; node bin/criu-uring check 2>&1
		echo "@@ tests"
		CRIU_URING_NO_SKIPS=1 npx tap --disable-coverage --jobs=1 --timeout="$GUEST_TIMEOUT" --reporter=tap \
			--grep="$GREP" $FILES 2>&1
		echo "@@ done $?"
	} > "$log" 2>&1 || true
	echo "$((SECONDS - start))" > "$OUT/$v.seconds"
}

report() {
	local v=$1 log=$OUT/$1.log pass fail skip ok=1
	pass=$(grep -cE '^ +ok [0-9]+ - ' "$log" || true)
	fail=$(grep -cE '^ *not ok [0-9]+ - ' "$log" || true)
	skip=$(grep -E '# SKIP' "$log" | grep -vc '# SKIP filter' || true)
	grep -q '^@@ done 0' "$log" || ok=0
	grep -q 'Looks good' "$log" || ok=0
	printf '%-5s %-34s %s  criu check: %s  assertions: %s ok, %s not ok, %s skipped  (%ss)\n' "$v" \
		"$(sed -n 's/.*@@ kernel //p' "$log" | tr -d '\r' | head -1)" "$([ $ok = 1 ] && echo PASS || echo FAIL)" \
		"$(grep -q 'Looks good' "$log" && echo ok || echo FAIL)" "$pass" "$fail" "$skip" "$(cat "$OUT/$v.seconds" 2>/dev/null)"
	grep -E '# SKIP' "$log" | grep -v '# SKIP filter' | sed 's/^ */      skipped: /' | tr -d '\r' | sort -u
	grep -E '^ *not ok [0-9]+ - ' "$log" | sed 's/^ */      failed: /' | tr -d '\r'
	[ $ok = 1 ]
}

need_pkgs
status=0
for v in "${KERNELS[@]}"; do
	if [ "$v" = 6.18 ]; then
		case $(uname -r) in 6.18.*) run_native "$v" ;; *) die "6.18 runs natively, but this machine runs $(uname -r)" ;; esac
	else
		run_guest "$v"
	fi
done
echo "== test:kernels (grep: $GREP; files: $FILES)"
for v in "${KERNELS[@]}"; do report "$v" || status=1; done
exit $status
