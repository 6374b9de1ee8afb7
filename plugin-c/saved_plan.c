// SPDX-License-Identifier: GPL-2.0-only
/*
 * The restore plan the dump saved next to the images
 * (io_uring-restore.plan, written by src/plugin/saved-plan.ts, described in
 * docs/saved-plan.md).  A restore whose images and kernel are those the
 * plan was made for runs it from here and starts no Node helper; anything
 * else (another kernel or CPU count, an image edited, damaged, added or
 * missing, a plan from another build, no plan) leaves the restore to the
 * helper, which reads, checks and plans the images as it always did.
 *
 * What a plan depends on and is checked here: the plugin/helper protocol
 * (the step language), uname's release and version, the online CPU count,
 * /proc/sys/kernel/io_uring_disabled, every io_uring image (its envelope
 * header as the plan names it, and its payload's SHA-256 as that header
 * says; no other image there), and the SHA-256 of the plan file itself.
 * The images are kept: the plan's "writeimg" steps copy the ring bytes
 * from them.  What depends on the restore itself is not in the plan: the host
 * tids of the restored threads are looked up here as the helper would
 * (src/plugin/pids.ts), and steps such as "timens" read the restored
 * task's state when they run.
 */
#define LOG_PREFIX "io_uring: "

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sha2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"
#include "helper.h"
#include "plan.h"
#include "saved_plan.h"

#define SAVED_PLAN	"io_uring-restore.plan"
#define MAX_PLAN_BYTES	(1UL << 30)

struct saved_process {
	int pid;		/* in the dumped pid namespace */
	char **lines;		/* into plan_text */
	int nr_lines;
	bool done;
};

static char *plan_text;
static struct saved_process *procs;
static int nr_procs;

/* the images, as hashed: "writeimg" steps copy ring bytes from them */
struct saved_file {
	char name[64];
	uint8_t header[56];	/* ENVELOPE_SIZE */
	uint8_t *data;
	size_t len;
};
static struct saved_file *files;
static int nr_files;

/* namespace tid -> host tid of every thread of the restored tree (when it is in a pid namespace of its own) */
struct tid_map {
	int ns, host;
	bool leader;
};
static struct tid_map *tids;
static int nr_tids;
static bool tree_known, tree_in_own_ns;

static void forget(void)
{
	for (int i = 0; i < nr_procs; i++)
		free(procs[i].lines);
	free(procs);
	free(plan_text);
	procs = NULL;
	plan_text = NULL;
	nr_procs = 0;
	for (int i = 0; i < nr_files; i++)
		free(files[i].data);
	free(files);
	files = NULL;
	nr_files = 0;
}

int saved_plan_file_bytes(const char *name, const uint8_t **data, size_t *len)
{
	for (int i = 0; i < nr_files; i++) {
		if (!strcmp(files[i].name, name)) {
			*data = files[i].data;
			*len = files[i].len;
			return 0;
		}
	}
	return -1;
}

static bool is_image_name(const char *name)
{
	size_t n = strlen(name);

	if (strncmp(name, "io_uring-", 9) || n < 14 || strcmp(name + n - 4, ".img"))
		return false;
	if (!strcmp(name, "io_uring-files.img"))
		return true;
	for (size_t i = 9; i < n - 4; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

/* The envelope of an io_uring image (src/image/envelope.ts): 56 bytes, the payload's length at 16, its SHA-256 at 24. */
#define ENVELOPE_SIZE		56
#define ENVELOPE_LENGTH		16
#define ENVELOPE_DIGEST		24

static int unhex_into(const char *hex, uint8_t *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = b;
	}
	return 0;
}

/*
 * Read image @name whole and keep it (file_bytes()): true if it is the
 * file the plan was made from, whose envelope header was @header (hex):
 * the same header, the payload as long as it says, with the SHA-256 it
 * records.
 */
static bool image_is(int dirfd, const char *name, const char *header)
{
	uint8_t want[ENVELOPE_SIZE], digest[SHA256_DIGEST_LENGTH];
	struct saved_file *grown, *f;
	SHA2_CTX ctx;
	uint64_t payload;
	struct stat st;
	size_t got = 0;
	int fd;

	if (unhex_into(header, want, sizeof(want)) || strlen(name) >= sizeof(f->name))
		return false;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	grown = realloc(files, (nr_files + 1) * sizeof(*files));
	if (grown)
		files = grown;
	if (!grown || fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_PLAN_BYTES) {
		close(fd);
		return false;
	}
	f = &files[nr_files];
	*f = (struct saved_file){ .data = malloc(st.st_size ? st.st_size : 1), .len = st.st_size };
	strcpy(f->name, name);
	memcpy(f->header, want, sizeof(want));
	while (f->data && got < f->len) {
		ssize_t n = read(fd, f->data + got, f->len - got);

		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	memcpy(&payload, want + ENVELOPE_LENGTH, sizeof(payload));	/* little endian, as x86_64 */
	if (f->data && got == f->len && f->len >= ENVELOPE_SIZE &&
	    !memcmp(f->data, want, ENVELOPE_SIZE) && payload == f->len - ENVELOPE_SIZE) {
		SHA256Init(&ctx);
		SHA256Update(&ctx, f->data + ENVELOPE_SIZE, payload);
		SHA256Final(digest, &ctx);
		if (!memcmp(digest, want + ENVELOPE_DIGEST, sizeof(digest))) {
			nr_files++;	/* kept only once checked */
			return true;
		}
	}
	free(f->data);
	return false;
}

int saved_plan_add_file(int dirfd, const char *name, const char *header)
{
	uint8_t want[ENVELOPE_SIZE];

	if (!is_image_name(name) || unhex_into(header, want, sizeof(want)))
		return -EINVAL;
	for (int i = 0; i < nr_files; i++)
		if (!strcmp(files[i].name, name))
			return memcmp(files[i].header, want, sizeof(want)) ? -ESTALE : 0;
	return image_is(dirfd, name, header) ? 0 : -ESTALE;
}

/* The whole plan file, NUL-terminated; NULL (with @why) if there is none or it cannot be read. */
static char *read_plan(int dirfd, size_t *len, const char **why)
{
	struct stat st;
	char *text;
	size_t got = 0;
	int fd = openat(dirfd, SAVED_PLAN, O_RDONLY | O_CLOEXEC);

	*why = "the dump saved none";
	if (fd < 0)
		return NULL;
	*why = "it cannot be read";
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_PLAN_BYTES) {
		close(fd);
		return NULL;
	}
	text = malloc(st.st_size + 1);
	while (text && got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, st.st_size - got);

		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	if (!text || got != (size_t)st.st_size) {
		free(text);
		return NULL;
	}
	text[got] = '\0';
	*len = got;
	return text;
}

/* Next line of the plan (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **at)
{
	char *line = *at, *nl;

	if (!*line)
		return NULL;
	nl = strchr(line, '\n');
	if (!nl)
		return NULL;	/* every line ends with a newline */
	*nl = '\0';
	*at = nl + 1;
	return line;
}

/* "KEY VALUE" with the value the restore sees. */
static bool key_line(char **at, const char *key, const char *value, const char **why)
{
	char *line = next_line(at);
	size_t k = strlen(key);

	if (!line || strncmp(line, key, k) || line[k] != ' ') {
		*why = "it is damaged";
		return false;
	}
	if (strcmp(line + k + 1, value)) {
		*why = key;
		return false;
	}
	return true;
}

static void uring_disabled(char *out, size_t size)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");

	if (!f || !fgets(out, size, f))
		snprintf(out, size, "-");
	else
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* Check the images named in the plan against the directory: same set, same contents. */
static bool images_match(int dirfd, char **at, const char **why)
{
	char *line;
	int named = 0, present = 0;
	struct dirent *de;
	DIR *d;
	int dfd;

	while (!strncmp(*at, "image ", 6)) {
		char *name, *sum;

		line = next_line(at);
		name = line ? line + 6 : NULL;
		sum = name ? strchr(name, ' ') : NULL;
		if (!sum) {
			*why = "it is damaged";
			return false;
		}
		*sum++ = '\0';
		if (!is_image_name(name) || faccessat(dirfd, name, F_OK, 0)) {
			*why = "an image it was made from is missing";
			return false;
		}
		if (!image_is(dirfd, name, sum)) {
			*why = "an image differs from the one it was made from";
			return false;
		}
		named++;
	}
	dfd = dup(dirfd);
	d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		*why = "the image directory cannot be read";
		return false;
	}
	rewinddir(d);
	while ((de = readdir(d)))
		present += is_image_name(de->d_name);
	closedir(d);
	if (present != named) {
		*why = "the directory holds io_uring images it was not made from";
		return false;
	}
	return true;
}

static bool parse_extfiles(char **at, int *ids, int max, int *nr, const char **why)
{
	char *line = next_line(at), *tok, *save;

	*why = "it is damaged";
	if (!line || strncmp(line, "extfiles", 8) || (line[8] && line[8] != ' '))
		return false;
	*nr = 0;
	for (tok = strtok_r(line + 8, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *end;
		long id = strtol(tok, &end, 10);

		if (*end || id < 0 || id > INT_MAX || *nr == max)
			return false;
		ids[(*nr)++] = id;
	}
	return true;
}

static bool parse_processes(char **at, const char **why)
{
	char *line;

	*why = "it is damaged";
	while ((line = next_line(at)) && !strncmp(line, "process ", 8)) {
		struct saved_process *p, *grown;
		int pid, n;

		if (sscanf(line, "process %d %d", &pid, &n) != 2 || pid <= 0 || n < 0 || n > 1 << 26)
			return false;
		grown = realloc(procs, (nr_procs + 1) * sizeof(*procs));
		if (!grown)
			return false;
		procs = grown;
		p = &procs[nr_procs++];
		*p = (struct saved_process){ .pid = pid, .lines = malloc((n + 1) * sizeof(char *)) };
		if (!p->lines)
			return false;
		for (p->nr_lines = 0; p->nr_lines <= n; p->nr_lines++) {
			p->lines[p->nr_lines] = next_line(at);
			if (!p->lines[p->nr_lines])
				return false;
		}
		p->nr_lines--;
		if (strcmp(p->lines[n], "end"))
			return false;	/* the count and the "end" line must agree */
	}
	/* what follows the processes is the checksum line, already checked */
	return line && !strncmp(line, "sha256 ", 7);
}

int saved_plan_load(int dirfd, int *ids, int max_ids, int *nr_ids)
{
	char digest[SHA256_DIGEST_STRING_LENGTH], cpus[16], disabled[32], *last, *at;
	const char *why = "";
	const char *v = getenv("CRIU_URING_SAVED_PLAN");
	struct utsname u;
	size_t len;

	if (v && !strcmp(v, "0")) {
		pr_info("the dump's restore plan is not used (CRIU_URING_SAVED_PLAN=0)\n");
		return 1;
	}
	plan_text = read_plan(dirfd, &len, &why);
	if (!plan_text)
		goto unused;
	/* the last line is "sha256 <digest of everything before it>" */
	why = "it is damaged";
	if (len < 2 || plan_text[len - 1] != '\n')
		goto unused;
	plan_text[len - 1] = '\0';
	last = strrchr(plan_text, '\n');
	plan_text[len - 1] = '\n';
	if (!last || strncmp(last + 1, "sha256 ", 7) || strlen(last + 8) != SHA256_DIGEST_STRING_LENGTH)
		goto unused;
	SHA256Data((const uint8_t *)plan_text, last + 1 - plan_text, digest);
	if (strncmp(last + 8, digest, SHA256_DIGEST_STRING_LENGTH - 1))
		goto unused;

	at = plan_text;
	if (uname(&u))
		goto unused;
	snprintf(cpus, sizeof(cpus), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	uring_disabled(disabled, sizeof(disabled));
	/* 2: "writeimg" steps; older plans are not used (the helper plans) */
	if (!key_line(&at, "criu-uring", "saved plan 2", &why) ||
	    !key_line(&at, "protocol", HELPER_PROTOCOL, &why) ||
	    !key_line(&at, "kernel", u.release, &why) ||
	    !key_line(&at, "kversion", u.version, &why) ||
	    !key_line(&at, "cpus", cpus, &why) ||
	    !key_line(&at, "uring_disabled", disabled, &why))
		goto unused;
	if (!images_match(dirfd, &at, &why) || !parse_extfiles(&at, ids, max_ids, nr_ids, &why) ||
	    !parse_processes(&at, &why))
		goto unused;
	pr_info("restore plan of the dump used (%d process(es), no helper)\n", nr_procs);
	return 0;
unused:
	/* key_line() names the key that differs */
	if (!strcmp(why, "criu-uring"))
		why = "it is in another format (another version of criu-uring made it)";
	else if (!strcmp(why, "protocol"))
		why = "another build of criu-uring made it";
	else if (!strcmp(why, "kernel") || !strcmp(why, "kversion"))
		why = "it was made on another kernel";
	else if (!strcmp(why, "cpus"))
		why = "it was made with another number of CPUs";
	else if (!strcmp(why, "uring_disabled"))
		why = "kernel.io_uring_disabled changed";
	pr_info("the dump's restore plan is not used (%s): the helper plans the restore\n", why);
	forget();
	*nr_ids = 0;
	return 1;
}

/* The last field of the NSpid line of /proc/<tid>/status: the tid inside its own pid namespace. */
static int ns_tid(int tid)
{
	char path[64], line[256];
	int ns = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p, *end;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (p = line + 6;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			ns = v;
		}
		break;
	}
	fclose(f);
	return ns;
}

static bool pid_ns_of(const char *pid, char *out, size_t size)
{
	char path[300];	/* a d_name */
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%s/ns/pid", pid);
	n = readlink(path, out, size - 1);
	if (n < 0)
		return false;
	out[n] = '\0';
	return true;
}

static int add_tid(int ns, int host, bool leader)
{
	struct tid_map *grown = realloc(tids, (nr_tids + 1) * sizeof(*tids));

	if (!grown)
		return -1;
	tids = grown;
	tids[nr_tids++] = (struct tid_map){ ns, host, leader };
	return 0;
}

/* The restored tree's threads, from any of its tasks (as RestoredTree in src/plugin/pids.ts). */
static int learn_tree(int any_task)
{
	char ns[64], self[64], other[64], arg[16];
	struct dirent *de;
	DIR *proc;

	snprintf(arg, sizeof(arg), "%d", any_task);
	if (!pid_ns_of(arg, ns, sizeof(ns)) || !pid_ns_of("self", self, sizeof(self))) {
		pr_err("restored task %d is gone\n", any_task);
		return -1;
	}
	tree_known = true;
	tree_in_own_ns = strcmp(ns, self);
	if (!tree_in_own_ns)
		return 0;
	proc = opendir("/proc");
	if (!proc)
		return -1;
	while ((de = readdir(proc))) {
		char path[300];
		struct dirent *te;
		DIR *task;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || !pid_ns_of(de->d_name, other, sizeof(other)) ||
		    strcmp(other, ns))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", de->d_name);
		task = opendir(path);
		if (!task)
			continue;
		while ((te = readdir(task))) {
			int host = atoi(te->d_name), v = host > 0 ? ns_tid(host) : -1;

			if (v > 0 && add_tid(v, host, !strcmp(te->d_name, de->d_name))) {
				closedir(task);
				closedir(proc);
				return -1;
			}
		}
		closedir(task);
	}
	closedir(proc);
	return 0;
}

/* Host tid of the tree's thread @ns (@leader: a process), or -1. */
static int host_tid(int ns, bool leader)
{
	char path[64];

	if (!tree_in_own_ns) {
		snprintf(path, sizeof(path), leader ? "/proc/%d/task/%d" : "/proc/%d", ns, ns);
		return access(path, F_OK) ? -1 : ns;
	}
	for (int i = 0; i < nr_tids; i++)
		if (tids[i].ns == ns && (!leader || tids[i].leader))
			return tids[i].host;
	return -1;
}

struct reader {
	struct saved_process *p;
	int next;
	char *buf;
	size_t size;
};

/* The plan's next line, a copy (the executor tokenizes it) with "task NSTID" turned into the host tid. */
static char *read_step(void *arg)
{
	struct reader *r = arg;
	const char *line;
	size_t need;

	if (r->next > r->p->nr_lines)
		return NULL;
	line = r->p->lines[r->next++];
	need = strlen(line) + 32;
	if (need > r->size) {
		char *grown = realloc(r->buf, need);

		if (!grown)
			return NULL;
		r->buf = grown;
		r->size = need;
	}
	if (!strncmp(line, "task ", 5)) {
		int ns = atoi(line + 5), host = host_tid(ns, false);

		if (host < 0) {
			/* the step itself then fails naming it */
			pr_err("thread %d of the images is not among the restored tasks\n", ns);
			host = 0;
		}
		snprintf(r->buf, r->size, "task %d", host);
		return r->buf;
	}
	memcpy(r->buf, line, strlen(line) + 1);
	return r->buf;
}

int saved_plan_execute(int pid)
{
	struct saved_process *p = NULL;
	struct reader r = { 0 };
	int ns, ret;

	if (!tree_known) {
		char lost[256] = "";
		size_t used = 0;

		if (learn_tree(pid))
			return -1;
		/* every process that had rings must be among the restored tasks */
		for (int i = 0; i < nr_procs; i++)
			if (host_tid(procs[i].pid, true) < 0 && used < sizeof(lost) - 16)
				used += snprintf(lost + used, sizeof(lost) - used, "%s%d", used ? ", " : "", procs[i].pid);
		if (used) {
			pr_err("process(es) %s had io_uring rings at dump but are not among the restored tasks\n", lost);
			return -1;
		}
	}
	ns = tree_in_own_ns ? ns_tid(pid) : pid;
	for (int i = 0; i < nr_procs; i++)
		if (procs[i].pid == ns)
			p = &procs[i];
	if (!p)
		return -ENOTSUP;	/* no rings in this process */
	if (p->done) {
		pr_err("process %d: its rings were already rebuilt\n", ns);
		return -1;
	}
	p->done = true;
	if (ns != pid)
		pr_info("process %d of the images was restored as host pid %d\n", ns, pid);
	pr_info("rebuilding the rings of %d (%d steps, saved by the dump)\n", pid, p->nr_lines);
	r.p = p;
	ret = plan_run(pid, "restoring the rings", read_step, &r);
	free(r.buf);
	return ret;
}
