// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_personality: three personalities registered, the middle one (id 2)
 * unregistered, leaving a gap.  Id 1 holds root's credentials; id 3 was
 * registered while the thread ran with euid/egid 65534 (raw syscalls, so
 * only this thread's creds change), which also clears its effective caps.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include "uring.h"

#define NOBODY 65534

static uint64_t cap_effective(void)
{
	char line[256];
	unsigned long long cap = 0;
	FILE *f = fopen("/proc/thread-self/status", "r");

	if (!f)
		die("open /proc/thread-self/status");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &cap) == 1)
			break;
	fclose(f);
	return cap;
}

/* The current thread's credentials, as a personality entry with @id. */
static void truth_creds(struct truth *t, int id)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	gid_t groups[64];
	int n, i;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		die("getresuid/getresgid");
	n = getgroups(64, groups);
	if (n < 0)
		die("getgroups");
	truth_obj(t, NULL);
	truth_int(t, "id", id);
	truth_int(t, "uid", ru);
	truth_int(t, "euid", eu);
	truth_int(t, "suid", su);
	truth_int(t, "fsuid", setfsuid(-1));
	truth_int(t, "gid", rg);
	truth_int(t, "egid", eg);
	truth_int(t, "sgid", sg);
	truth_int(t, "fsgid", setfsgid(-1));
	truth_arr(t, "groups");
	for (i = 0; i < n; i++)
		truth_int(t, NULL, groups[i]);
	truth_end(t);
	truth_hex(t, "cap_effective", cap_effective());
	truth_end(t);
}

static void set_effective_ids(uid_t uid, gid_t gid)
{
	/* Raw syscalls: glibc would change every thread, we want just this one. */
	if (syscall(SYS_setresgid, -1, gid, -1) < 0 || syscall(SYS_setresuid, -1, uid, -1) < 0)
		die("setres[ug]id(-1, %u, -1)", (unsigned int)uid);
}

int main(int argc, char **argv)
{
	struct truth *t;
	struct ring r;
	int id;

	(void)argc;
	stop_signals_init(argv[0]);
	if (geteuid() != 0)
		die_err(EPERM, "must run as root (it switches euid to register personality 3)");
	ring_create_or_die(&r, 8, NULL);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 0, 0);
	truth_arr(t, "personalities");

	id = reg_or_die(r.fd, IORING_REGISTER_PERSONALITY, NULL, 0, "PERSONALITY 1");
	truth_creds(t, id);
	if (reg_or_die(r.fd, IORING_REGISTER_PERSONALITY, NULL, 0, "PERSONALITY 2") != 2)
		die_err(EPROTO, "second personality did not get id 2");

	set_effective_ids(NOBODY, NOBODY);
	id = reg_or_die(r.fd, IORING_REGISTER_PERSONALITY, NULL, 0, "PERSONALITY 3");
	truth_creds(t, id);
	set_effective_ids(0, 0);

	reg_or_die(r.fd, IORING_UNREGISTER_PERSONALITY, NULL, 2, "UNREGISTER_PERSONALITY 2");
	truth_end(t);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}
