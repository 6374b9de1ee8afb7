#!/bin/bash
# Extract the uncompressed ELF kernel (vmlinux) from a bzImage (vmlinuz).
#
#   scripts/extract-vmlinux.sh VMLINUZ OUT
#
# A bzImage holds the kernel as one compressed stream behind the setup code
# and the decompressor.  For each compression format we know (zstd, lz4
# legacy, xz, gzip) we look for its magic bytes, decompress from every place
# they occur and keep the first result that is an ELF file.  The ELF's .BTF
# section is what `bpftool btf dump file OUT` reads.
set -euo pipefail

in=${1:?usage: extract-vmlinux.sh VMLINUZ OUT}
out=${2:?usage: extract-vmlinux.sh VMLINUZ OUT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

is_elf() {
	[ -s "$1" ] && [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]
}

# magic (as grep -P bytes), decompressor command reading stdin
try_format() {
	local magic=$1; shift
	local off
	for off in $(LC_ALL=C grep -obaP "$magic" "$in" | cut -d: -f1); do
		tail -c +$((off + 1)) "$in" | "$@" > "$tmp/vmlinux" 2>/dev/null || true
		if is_elf "$tmp/vmlinux"; then
			mv "$tmp/vmlinux" "$out"
			return 0
		fi
	done
	return 1
}

if is_elf "$in"; then
	cp "$in" "$out"
	exit 0
fi
try_format '\x28\xb5\x2f\xfd' zstd -dcq && exit 0
try_format '\x02\x21\x4c\x18' lz4 -dcq && exit 0
try_format '\xfd\x37\x7a\x58\x5a\x00' xz -dcq && exit 0
try_format '\x1f\x8b\x08' gzip -dcq && exit 0
echo "extract-vmlinux: no known compressed ELF kernel in $in" >&2
exit 1
