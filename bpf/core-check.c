// SPDX-License-Identifier: GPL-2.0
/*
 * core-check: would uring_iter.bpf.o load on another kernel?
 *
 *   core-check OBJ [BTF]
 *
 * Opens the BPF object with libbpf's btf_custom_path set to BTF (an ELF
 * vmlinux with a .BTF section or a raw BTF file, e.g. one extracted from a
 * distribution's kernel package), so every CO-RE relocation is resolved
 * against that kernel's types, then loads it into the running kernel.  A
 * field that kernel lacks and that is read unguarded makes libbpf poison
 * the instruction, and the verifier rejects it if it is reachable: that is
 * exactly a load failure on the other kernel.  Without BTF the running
 * kernel's own is used.  Prints one line per program and exits non-zero if
 * anything failed; with -v, libbpf's log of a failure is printed as well.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int verbose;

static int print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && verbose < 2)
		return 0;
	if (!verbose && level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct bpf_program *prog;
	struct bpf_object *obj;
	sigset_t all;
	int err, argi = 1;

	while (argi < argc && strcmp(argv[argi], "-v") == 0) {
		verbose++;
		argi++;
	}
	if (argc - argi < 1 || argc - argi > 2) {
		fprintf(stderr, "usage: core-check [-v] OBJ [BTF]\n");
		return 2;
	}
	if (argc - argi == 2)
		opts.btf_custom_path = argv[argi + 1];
	libbpf_set_print(print);
	obj = bpf_object__open_file(argv[argi], &opts);
	if (!obj) {
		fprintf(stderr, "core-check: open %s: %s\n", argv[argi], strerror(errno));
		return 1;
	}
	/* the verifier gives up with EAGAIN on a pending signal */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	err = bpf_object__load(obj);
	bpf_object__for_each_program(prog, obj)
		printf("%-12s %s\n", bpf_program__name(prog),
		       err ? "FAILED" : "loads");
	if (err)
		fprintf(stderr, "core-check: load against %s: %s\n",
			opts.btf_custom_path ? opts.btf_custom_path : "running kernel",
			strerror(-err));
	bpf_object__close(obj);
	return err ? 1 : 0;
}
