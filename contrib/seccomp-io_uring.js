#!/usr/bin/env node
/*
 * Print a container seccomp profile that allows io_uring: the system's
 * default profile (podman's /usr/share/containers/seccomp.json unless a
 * path is given) with one rule added that allows io_uring_setup,
 * io_uring_enter and io_uring_register.  Everything else stays as the
 * default profile has it.
 *
 *   node contrib/seccomp-io_uring.js > /etc/containers/seccomp-io_uring.json
 *   node contrib/seccomp-io_uring.js /path/to/profile.json > out.json
 *   podman run --security-opt seccomp=/etc/containers/seccomp-io_uring.json ...
 *
 * Exits 1 with one line on stderr when the input is not a seccomp profile
 * in the OCI/podman JSON format.
 */
'use strict';
const fs = require('fs');

const IO_URING = ['io_uring_setup', 'io_uring_enter', 'io_uring_register'];
const input = process.argv[2] ?? '/usr/share/containers/seccomp.json';

function fail(msg) {
	process.stderr.write(`seccomp-io_uring: ${msg}\n`);
	process.exit(1);
}

let profile;
try {
	profile = JSON.parse(fs.readFileSync(input, 'utf8'));
} catch (e) {
	fail(`cannot read ${input}: ${e.message}`);
}
if (typeof profile !== 'object' || profile === null || typeof profile.defaultAction !== 'string' || !Array.isArray(profile.syscalls))
	fail(`${input} is not a seccomp profile (no defaultAction and syscalls list)`);

/* A rule that names an io_uring syscall with another action (errno, kill)
 * would win for that syscall in some runtimes: drop the names from it. */
profile.syscalls = profile.syscalls
	.map((r) => (r.action === 'SCMP_ACT_ALLOW' || !Array.isArray(r.names) ? r
		: { ...r, names: r.names.filter((n) => !IO_URING.includes(n)) }))
	.filter((r) => !Array.isArray(r.names) || r.names.length > 0);
profile.syscalls.push({
	names: IO_URING,
	action: 'SCMP_ACT_ALLOW',
	args: [],
	comment: 'io_uring (criu-uring contrib/seccomp-io_uring.js)',
	includes: {},
	excludes: {},
});
process.stdout.write(`${JSON.stringify(profile, null, '\t')}\n`);
