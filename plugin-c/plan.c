// SPDX-License-Identifier: GPL-2.0-only
/*
 * The restore plan executor: performs, inside restored tasks, the steps
 * the TypeScript planner chose (src/restore/planner.ts).  It knows no
 * io_uring policy; it parses a step, resolves its arguments and calls the
 * remote-task engine (inject.c, place.c, advance.c).
 */
#define LOG_PREFIX "io_uring: "

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>

#include "criu-plugin.h"
#include "criu-log.h"
#include "advance.h"
#include "creds.h"
#include "helper.h"
#include "inject.h"
#include "place.h"
#include "plan.h"
#include "saved_plan.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* a few variables per ring; processes with hundreds of rings exist */
#define MAX_VARS	16384
#define MAX_ARGS	16
#define MAX_PARTS	16

struct plan_var {
	char name[32];
	unsigned long value;
	int next;	/* next variable in the same hash bucket, -1: none */
};

/* a power of two: a few buckets per ring of a large process */
#define VAR_BUCKETS	4096

struct plan_state {
	struct remote task;
	bool task_open;
	/* placeholders kept from one place step to the next (place.h) */
	struct place_keep keep;
	struct plan_var vars[MAX_VARS];
	int nr_vars;
	int bucket[VAR_BUCKETS];	/* first variable of each bucket + 1, 0: none */
	int step;
	char err[512];
};

static int fail(struct plan_state *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct plan_state *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ps->err, sizeof(ps->err), fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned int var_hash(const char *name, size_t len)
{
	unsigned int h = 2166136261u;	/* FNV-1a */

	while (len--)
		h = (h ^ (unsigned char)*name++) * 16777619u;
	return h & (VAR_BUCKETS - 1);
}

/* Variables are looked up by hash: a plan of hundreds of rings sets thousands. */
static struct plan_var *find_var(struct plan_state *ps, const char *name, size_t len)
{
	for (int i = ps->bucket[var_hash(name, len)] - 1; i >= 0; i = ps->vars[i].next)
		if (!strncmp(ps->vars[i].name, name, len) && !ps->vars[i].name[len])
			return &ps->vars[i];
	return NULL;
}

static int set_var(struct plan_state *ps, const char *name, unsigned long value)
{
	size_t len = strlen(name);
	struct plan_var *v = find_var(ps, name, len);
	unsigned int h;

	if (!v) {
		if (ps->nr_vars == MAX_VARS || len >= sizeof(v->name))
			return fail(ps, "too many plan variables");
		h = var_hash(name, len);
		v = &ps->vars[ps->nr_vars];
		strcpy(v->name, name);
		v->next = ps->bucket[h] - 1;
		ps->bucket[h] = ++ps->nr_vars;
	}
	v->value = value;
	return 0;
}

/* "123", "0x7f00", "$name" or "$name+16" */
static int eval(struct plan_state *ps, const char *tok, unsigned long *out)
{
	const char *plus;
	struct plan_var *v;
	char *end;

	if (tok[0] != '$') {
		*out = strtoull(tok, &end, 0);
		if (*end)
			return fail(ps, "bad number '%s'", tok);
		return 0;
	}
	plus = strchr(tok, '+');
	v = find_var(ps, tok + 1, plus ? (size_t)(plus - tok - 1) : strlen(tok + 1));
	if (!v)
		return fail(ps, "unknown variable '%s'", tok);
	*out = v->value;
	if (plus) {
		*out += strtoull(plus + 1, &end, 0);
		if (*end)
			return fail(ps, "bad offset in '%s'", tok);
	}
	return 0;
}

/* Split "verb a b c -- what" into tokens and the description. */
static int tokenize(char *line, char **tok, int max, const char **what)
{
	char *sep = strstr(line, " -- ");
	int n = 0;

	*what = "";
	if (sep) {
		*sep = '\0';
		*what = sep + 4;
	}
	for (char *t = strtok(line, " "); t; t = strtok(NULL, " ")) {
		if (n == max)
			return -1;
		tok[n++] = t;
	}
	return n;
}

/*
 * CRIU_URING_CHECK_MAPS=1 (set by the test suite, test/lib/criu.ts):
 * before leaving a task, compare the engine's kept list of its mappings
 * with /proc/PID/maps (inject.h, remote_ranges()); a difference fails
 * the plan.  Off by default: it costs a read of the maps per task.
 */
static int check_ranges(struct plan_state *ps)
{
	const char *v = getenv("CRIU_URING_CHECK_MAPS");

	if (!v || strcmp(v, "1") || !remote_ranges_check(&ps->task))
		return 0;
	return fail(ps, "%s", remote_error(&ps->task));
}

/* Remove the placeholders kept in the current task, if any. */
static int release_placeholders(struct plan_state *ps)
{
	if (!ps->keep.nr)
		return 0;
	if (place_release(&ps->task, &ps->keep))
		return fail(ps, "removing placeholders in task %d: %s", ps->task.tid,
			    remote_error(&ps->task));
	return 0;
}

static int step_task(struct plan_state *ps, char **tok, int n)
{
	unsigned long tid;

	if (n != 2 || eval(ps, tok[1], &tid))
		return fail(ps, "task: bad arguments");
	if (ps->task_open && ps->task.tid == (pid_t)tid)
		return 0;
	if (ps->task_open) {
		if (release_placeholders(ps) || check_ranges(ps))
			return -1;
		ps->task_open = false;
		if (remote_close(&ps->task))
			return fail(ps, "leaving task %d: %s", ps->task.tid, remote_error(&ps->task));
	}
	if (remote_open(&ps->task, tid))
		return fail(ps, "entering task %lu: %s", tid, remote_error(&ps->task));
	ps->task_open = true;
	return 0;
}

static int need_task(struct plan_state *ps)
{
	return ps->task_open ? 0 : fail(ps, "no task selected");
}

static int step_alloc(struct plan_state *ps, char **tok, int n)
{
	unsigned long len, addr;

	if (n != 3 || eval(ps, tok[2], &len) || need_task(ps))
		return fail(ps, "alloc: bad arguments");
	if (remote_alloc(&ps->task, len ? len : 1, 0, &addr))
		return fail(ps, "scratch memory: %s", remote_error(&ps->task));
	return set_var(ps, tok[1], addr);
}

static int step_free(struct plan_state *ps, char **tok, int n)
{
	unsigned long addr;

	if (n != 2 || eval(ps, tok[1], &addr) || need_task(ps))
		return fail(ps, "free: bad arguments");
	if (remote_free(&ps->task, addr))
		return fail(ps, "freeing scratch memory: %s", remote_error(&ps->task));
	return 0;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Not sscanf("%2x") per byte: glibc's sscanf takes strlen() of the rest each call, quadratic on megabyte lines. */
static int unhex(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex);

	if (n % 2)
		return -1;
	*len = n / 2;
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return -1;
	for (size_t i = 0; i < *len; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(*out);
			return -1;
		}
		(*out)[i] = hi << 4 | lo;
	}
	return 0;
}

static int step_write(struct plan_state *ps, char **tok, int n)
{
	unsigned long addr;
	uint8_t *data;
	size_t len;
	int ret;

	if (n != 3 || eval(ps, tok[1], &addr) || need_task(ps))
		return fail(ps, "write: bad arguments");
	if (unhex(tok[2], &data, &len))
		return fail(ps, "write: bad hex data");
	ret = remote_write(&ps->task, addr, data, len);
	free(data);
	if (ret)
		return fail(ps, "writing %zu bytes at %#lx: %s", len, addr, remote_error(&ps->task));
	return 0;
}

/*
 * "file NAME HEADER": image NAME of CRIU's image directory, as the helper
 * read it (its envelope header), for the writeimg steps after it
 * (saved_plan.c keeps it).
 */
static int step_file(struct plan_state *ps, char **tok, int n)
{
	int err;

	if (n != 3)
		return fail(ps, "file: bad arguments");
	err = saved_plan_add_file(criu_get_image_dir(), tok[1], tok[2]);
	if (err)
		return fail(ps, "image %s: %s", tok[1], err == -ESTALE ?
			    "not the file the plan was made from (changed or damaged since)" :
			    "bad file step");
	return 0;
}

/* "writeimg ADDR NAME OFF LEN": LEN bytes at OFF of file NAME into the task. */
static int step_writeimg(struct plan_state *ps, char **tok, int n)
{
	unsigned long addr, off, len;
	const uint8_t *data;
	size_t size;

	if (n != 5 || eval(ps, tok[1], &addr) || eval(ps, tok[3], &off) ||
	    eval(ps, tok[4], &len) || need_task(ps))
		return fail(ps, "writeimg: bad arguments");
	if (saved_plan_file_bytes(tok[2], &data, &size))
		return fail(ps, "writeimg: no file %s", tok[2]);
	if (off > size || len > size - off)
		return fail(ps, "writeimg: %lu bytes at %lu are beyond the %zu of %s", len, off,
			    size, tok[2]);
	if (remote_write(&ps->task, addr, data + off, len))
		return fail(ps, "writing %lu bytes at %#lx: %s", len, addr, remote_error(&ps->task));
	return 0;
}

static int step_sys(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long nr, a[6];
	long ret;

	if (n != 9 || eval(ps, tok[2], &nr) || need_task(ps))
		return fail(ps, "sys: bad arguments");
	for (int i = 0; i < 6; i++)
		if (eval(ps, tok[3 + i], &a[i]))
			return -1;
	ret = remote_syscall(&ps->task, nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (ret < 0)
		return fail(ps, "%s: %s%s%s", what, strerror(-ret),
			    remote_error(&ps->task)[0] ? ": " : "", remote_error(&ps->task));
	return set_var(ps, tok[1], ret);
}

/* "start-end:prot" */
static int parse_part(struct plan_state *ps, const char *tok, struct place_part *part)
{
	if (sscanf(tok, "%lx-%lx:%d", &part->start, &part->end, &part->prot) != 3)
		return fail(ps, "place: bad part '%s'", tok);
	return 0;
}

static int step_place(struct plan_state *ps, char **tok, int n, const char *what)
{
	struct place_part parts[MAX_PARTS];
	struct place_req req = { 0 };
	struct place_stats stats = { 0 };
	unsigned long v[6];

	if (n < 8 || n - 8 > MAX_PARTS || need_task(ps))
		return fail(ps, "place: bad arguments");
	for (int i = 0; i < 6; i++)
		if (eval(ps, tok[2 + i], &v[i]))
			return -1;
	req.fd = v[0];
	req.addr = v[1];
	req.len = v[2];
	req.prot = v[3];
	req.flags = v[4];
	req.offset = v[5];
	for (int i = 8; i < n; i++)
		if (parse_part(ps, tok[i], &parts[i - 8]))
			return -1;
	if (n > 8) {
		req.parts = parts;
		req.nr_parts = n - 8;
	}
	if (place_mapping_keep(&ps->task, &req, &stats, &ps->keep))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	pr_debug("%s: placed with %d placeholder(s), %d new, attempt %d\n", what,
		 stats.placeholders, stats.new_placeholders, stats.attempts);
	return set_var(ps, tok[1], req.addr);
}

static void log_progress(void *priv, uint64_t done, uint64_t total, double ops_per_sec)
{
	(void)priv;
	pr_info("advancing indices: %llu of %llu operations (%.1f M ops/s)\n",
		(unsigned long long)done, (unsigned long long)total, ops_per_sec / 1e6);
}

/* The options after an advance step's six arguments: "registered", "head H". */
static int advance_options(struct plan_state *ps, char **tok, int n, struct advance_ring *ring)
{
	unsigned long head;

	for (int i = 7; i < n; i++) {
		if (!strcmp(tok[i], "registered")) {
			ring->registered = true;
		} else if (!strcmp(tok[i], "head") && i + 1 < n && !eval(ps, tok[i + 1], &head)) {
			ring->keep_cq_head = true;
			ring->cq_head = (uint32_t)head;
			i++;
		} else {
			return -1;
		}
	}
	return 0;
}

/*
 * "advance FD SQ CQ RINGS SQES PARAMS [registered] [head H]": PARAMS is
 * the io_uring_params the kernel filled in at setup (still in the task's
 * scratch memory); it gives the engine the ring's geometry.  "registered":
 * FD is the ring's index in the task's registered-ring table
 * (IORING_SETUP_REGISTERED_FD_ONLY rings have no fd).  "head H": the CQ
 * head the ring gets back afterwards; the advance never reaps past it
 * (advance.h: the kernel's cache of free CQ slots).
 */
static int step_advance(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long fd, sq, cq, rings, sqes, params;
	struct advance_opts opts = { .progress_every = 1ULL << 28, .progress = log_progress };
	struct advance_stats stats = { 0 };
	struct advance_ring ring = { 0 };

	if (n < 7 || need_task(ps) ||
	    eval(ps, tok[1], &fd) || eval(ps, tok[2], &sq) ||
	    eval(ps, tok[3], &cq) || eval(ps, tok[4], &rings) || eval(ps, tok[5], &sqes) ||
	    eval(ps, tok[6], &params) || advance_options(ps, tok, n, &ring))
		return fail(ps, "advance: bad arguments");
	if (remote_read(&ps->task, params, &ring.params, sizeof(ring.params)))
		return fail(ps, "%s: reading the ring parameters: %s", what, remote_error(&ps->task));
	ring.fd = fd;
	ring.ring_addr = rings;
	ring.sqes_addr = sqes;
	if (advance_ring(&ps->task, &ring, sq, cq, &opts, &stats))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	if (stats.ops)
		pr_info("%s: %llu operations in %.3f s (%.1f M ops/s)\n", what,
			(unsigned long long)stats.ops, stats.seconds, stats.ops_per_sec / 1e6);
	return 0;
}

/* The close-on-exec flag of fd @fd of the task (its fdinfo "flags", octal): 1, 0 or -errno. */
static int fd_cloexec(const struct remote *r, unsigned long fd)
{
	char path[96], line[128];
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/fdinfo/%lu", r->tgid, r->tid, fd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "flags:", 6)) {
			ret = !!(strtoul(line + 6, NULL, 8) & O_CLOEXEC);
			break;
		}
	}
	fclose(f);
	return ret;
}

/*
 * "movefd VAR RING FD -- WHAT": the ring onto fd FD, which keeps the
 * close-on-exec flag CRIU gave the placeholder there; one injected dup3
 * (the flag is read from /proc, not with fcntl in the task).
 */
static int step_movefd(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long ring, fd;
	long ret;
	int cloexec;

	if (n != 4 || eval(ps, tok[2], &ring) || eval(ps, tok[3], &fd) || need_task(ps))
		return fail(ps, "movefd: bad arguments");
	cloexec = fd_cloexec(&ps->task, fd);
	if (cloexec < 0)
		return fail(ps, "%s: reading the flags of fd %lu in %d: %s", what, fd, ps->task.tid,
			    strerror(-cloexec));
	ret = remote_syscall(&ps->task, SYS_dup3, ring, fd, cloexec ? O_CLOEXEC : 0, 0, 0, 0);
	if (ret < 0)
		return fail(ps, "%s: %s%s%s", what, strerror(-ret),
			    remote_error(&ps->task)[0] ? ": " : "", remote_error(&ps->task));
	return set_var(ps, tok[1], ret);
}

/*
 * "expect VALUE N -- WHAT": a check between steps, for results the next
 * steps rely on (the registered-ring slot io_uring_setup chose).
 */
static int step_expect(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long value, want;

	if (n != 3 || eval(ps, tok[1], &value) || eval(ps, tok[2], &want))
		return fail(ps, "expect: bad arguments");
	if (value != want)
		return fail(ps, "%s: got %lu, not %lu", what, value, want);
	return 0;
}

/*
 * "store ADDR SIZE VALUE": write VALUE (a number or a plan variable, such
 * as an fd the plan created) as a SIZE-byte (4 or 8) little-endian integer
 * at ADDR, for arguments the kernel reads from memory (a registered fd,
 * io_uring_params.wq_fd).
 */
static int step_store(struct plan_state *ps, char **tok, int n)
{
	unsigned long addr, size, value;
	uint32_t v32;

	if (n != 4 || need_task(ps) || eval(ps, tok[1], &addr) || eval(ps, tok[2], &size) ||
	    eval(ps, tok[3], &value) || (size != 4 && size != 8))
		return fail(ps, "store: bad arguments");
	v32 = value;
	if (remote_write(&ps->task, addr, size == 4 ? (void *)&v32 : (void *)&value, size))
		return fail(ps, "storing at %#lx: %s", addr, remote_error(&ps->task));
	return 0;
}

/*
 * "wait ADDR VALUE MS -- WHAT": poll the u32 at ADDR in the task (every
 * millisecond, up to MS ms) until it is VALUE: an SQ head the SQPOLL
 * thread moves as it takes SQEs (concerns/rearm.ts).
 */
static int step_wait(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long addr, value, ms;
	uint32_t v = 0;

	if (n != 4 || need_task(ps) || eval(ps, tok[1], &addr) || eval(ps, tok[2], &value) || eval(ps, tok[3], &ms))
		return fail(ps, "wait: bad arguments");
	for (unsigned long i = 0; i <= ms; i++) {
		if (remote_read(&ps->task, addr, &v, 4))
			return fail(ps, "%s: %s", what, remote_error(&ps->task));
		if (v == (uint32_t)value)
			return 0;
		usleep(1000);
	}
	return fail(ps, "%s: still %u after %lu ms, not %lu", what, v, ms, value);
}

/*
 * "timens ADDR CLOCK": the struct __kernel_timespec at ADDR in the task
 * holds an absolute deadline of CLOCK (1 CLOCK_MONOTONIC, 7
 * CLOCK_BOOTTIME) as the task's time namespace reads that clock; make it
 * the deadline the kernel compares with, which io_uring does not
 * translate: minus the namespace's offset (/proc/PID/timens_offsets; CRIU
 * restores a tree into a new time namespace whose offsets keep its clocks
 * continuous).  A deadline that would fall before 0 becomes 0 (already
 * due either way).
 */
static int step_timens(struct plan_state *ps, char **tok, int n)
{
	unsigned long addr, clock;
	const char *want;
	char path[64], line[128], name[32];
	long long off_sec = 0, off_nsec = 0, sec, nsec;
	int64_t ts[2];
	bool found = false;
	FILE *f;

	if (n != 3 || need_task(ps) || eval(ps, tok[1], &addr) || eval(ps, tok[2], &clock) ||
	    (clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME))
		return fail(ps, "timens: bad arguments");
	want = clock == CLOCK_MONOTONIC ? "monotonic" : "boottime";
	snprintf(path, sizeof(path), "/proc/%d/timens_offsets", ps->task.tgid);
	f = fopen(path, "re");
	if (!f && errno != ENOENT)
		return fail(ps, "timens: %s: %s", path, strerror(errno));
	found = !f; /* a kernel without time namespaces: the host's clocks */
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%31s %lld %lld", name, &sec, &nsec) == 3 && !strcmp(name, want)) {
			off_sec = sec;
			off_nsec = nsec;
			found = true;
		}
	if (f)
		fclose(f);
	if (!found)
		return fail(ps, "timens: no %s offset in %s", want, path);
	if (remote_read(&ps->task, addr, ts, sizeof(ts)))
		return fail(ps, "timens: reading the deadline: %s", remote_error(&ps->task));
	sec = ts[0] - off_sec;
	nsec = ts[1] - off_nsec;
	while (nsec < 0) {
		nsec += 1000000000LL;
		sec--;
	}
	while (nsec >= 1000000000LL) {
		nsec -= 1000000000LL;
		sec++;
	}
	if (sec < 0)
		sec = nsec = 0;
	ts[0] = sec;
	ts[1] = nsec;
	if (remote_write(&ps->task, addr, ts, sizeof(ts)))
		return fail(ps, "timens: writing the deadline: %s", remote_error(&ps->task));
	return 0;
}

/*
 * "post FD SCRATCH COUNT USER_DATA RES FLAGS RUNTW": COUNT CQEs with
 * exactly (USER_DATA, RES, FLAGS) posted to ring FD, in order, through
 * IORING_REGISTER_SEND_MSG_RING (fd -1: no ring of our own needed).  The
 * MSG_RING SQE goes to SCRATCH (64 bytes of task memory).  A full CQ puts
 * them on the kernel's overflow list, which is how that list is rebuilt.
 * DEFER_TASKRUN targets get each post as task work for their owner, so
 * RUNTW runs it (GETEVENTS, min 0) after every post: this keeps order and
 * never leaves more than one item queued.
 */
static int step_post(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long fd, scratch, count, ud, res, flags, runtw;
	struct io_uring_sqe sqe;
	long ret;

	if (n != 8 || need_task(ps) || eval(ps, tok[1], &fd) || eval(ps, tok[2], &scratch) ||
	    eval(ps, tok[3], &count) || eval(ps, tok[4], &ud) || eval(ps, tok[5], &res) ||
	    eval(ps, tok[6], &flags) || eval(ps, tok[7], &runtw))
		return fail(ps, "post: bad arguments");
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = IORING_OP_MSG_RING;
	sqe.fd = (int)fd;
	sqe.addr = IORING_MSG_DATA;
	sqe.off = ud;
	sqe.len = (uint32_t)res;
	sqe.msg_ring_flags = IORING_MSG_RING_FLAGS_PASS;
	sqe.file_index = (uint32_t)flags;
	if (remote_write(&ps->task, scratch, &sqe, sizeof(sqe)))
		return fail(ps, "%s: writing the MSG_RING SQE: %s", what, remote_error(&ps->task));
	for (unsigned long i = 0; i < count; i++) {
		ret = remote_syscall(&ps->task, SYS_io_uring_register, -1,
				     IORING_REGISTER_SEND_MSG_RING, scratch, 1, 0, 0);
		if (!ret && runtw)
			ret = remote_syscall(&ps->task, SYS_io_uring_enter, fd, 0, 0,
					     IORING_ENTER_GETEVENTS, 0, 0);
		if (ret < 0)
			return fail(ps, "%s: CQE %lu of %lu: %s", what, i + 1, count, strerror(-ret));
	}
	return 0;
}

#define POSTNOP_SQPOLL_WAIT_S	5
#define POSTNOP_BIG		1	/* IORING_NOP_CQE32: a 32-byte CQE with extras */
#define POSTNOP_FILL		2	/* the CQEs fill the CQ instead of overflowing it */

/* The ring of a "submit" or "postnop" step: its geometry and (temporary) views in the task. */
struct submit_ring {
	int fd;
	struct ring_params p;
	unsigned long ring, sqes;
	unsigned long ring_len, sqes_len;
	uint32_t seen;		/* submit: CQEs checked up to here */
	bool hold;		/* submit: keep the CQ head at limit (submit_free_to()) */
	uint32_t limit;
};

/* Queue @n SQEs (copies of @sqe[(first + i) % nsqe]) after the current SQ tail. */
static int submit_queue(struct plan_state *ps, const struct submit_ring *sr,
			const struct ring_sqe *sqe, unsigned int nsqe, uint64_t first,
			unsigned int n)
{
	const struct ring_params *p = &sr->p;
	unsigned int size = p->flags & IORING_SETUP_SQE128 ? 128 : 64;
	uint8_t slot[128] = { 0 };
	uint32_t tail, idx;

	if (remote_read(&ps->task, sr->ring + p->sq_off.tail, &tail, 4))
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		idx = (tail + i) & (p->sq_entries - 1);
		memcpy(slot, &sqe[(first + i) % nsqe], sizeof(*sqe));
		if (remote_write(&ps->task, sr->sqes + (unsigned long)idx * size, slot, size))
			return -1;
		if (!(p->flags & IORING_SETUP_NO_SQARRAY) &&
		    remote_write(&ps->task, sr->ring + p->sq_off.array + 4ul * idx, &idx, 4))
			return -1;
	}
	tail += n;
	return remote_write(&ps->task, sr->ring + p->sq_off.tail, &tail, 4);
}

/*
 * Wait until the shared SQ head reaches @tail: at once without SQPOLL (the
 * enter consumed the SQEs); with SQPOLL once the SQ thread took them.  The
 * kernel flushes the completions of a submission batch before it
 * publishes the new SQ head, so the NOPs' CQEs have been posted by then.
 */
static int postnop_wait_head(struct plan_state *ps, const struct submit_ring *sr,
			     uint32_t tail, const char *what)
{
	struct timespec t0, now;
	uint32_t head;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (remote_read(&ps->task, sr->ring + sr->p.sq_off.head, &head, 4))
			return fail(ps, "%s: reading the SQ head: %s", what, remote_error(&ps->task));
		if (head == tail)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > POSTNOP_SQPOLL_WAIT_S)
			return fail(ps, "%s: SQ head %u after the NOPs, expected %u", what, head, tail);
		remote_syscall(&ps->task, SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	}
}

/*
 * "postnop RING REG RINGS SQES PARAMS COUNT USER_DATA RES EXTRA1 EXTRA2 MODE":
 * COUNT CQEs (USER_DATA, RES) posted by NOPs submitted on the ring itself,
 * for CQEs that MSG_RING cannot post (extras; a ring without an fd).
 * IORING_NOP_INJECT_RESULT makes res = sqe->len; with MODE POSTNOP_BIG,
 * IORING_NOP_CQE32 makes a 32-byte CQE with extra1 = sqe->off, extra2 =
 * sqe->addr (and IORING_CQE_F_32 on CQE_MIXED rings).  The CQE's other
 * flags are 0.
 *
 * The SQEs go in at the shared SQ tail of the ring mapped at RINGS/SQES
 * (PARAMS: its io_uring_params as the kernel filled them); the caller has
 * left SQ head == tail.  They are submitted without GETEVENTS, so nothing
 * is reaped and nothing flushed: the NOPs complete inline and, the CQ
 * being full, their CQEs go to the overflow list, which the step checks
 * (IORING_SQ_CQ_OVERFLOW).  With MODE POSTNOP_FILL they fill the CQ
 * instead, and the step checks that the CQ tail moved by COUNT.  Each NOP
 * consumes one SQE, so the kernel's cached SQ head moves by COUNT; the
 * planner accounts for it.  On SQPOLL rings the enter only wakes the SQ
 * thread, which submits them.  RING names the ring in the task: an fd, or
 * with REG 1 a registered-ring index (IORING_ENTER_REGISTERED_RING).
 */
static int step_postnop(struct plan_state *ps, char **tok, int n, const char *what)
{
	struct submit_ring sr = { 0 };
	struct ring_sqe sqe = { .opcode = IORING_OP_NOP };
	unsigned long v[11];
	unsigned int enter = 0, batch;
	uint32_t tail, cq_before, cq_after, sq_flags;
	long ret;

	if (n != 12 || need_task(ps))
		return fail(ps, "postnop: bad arguments");
	for (int i = 0; i < 11; i++)
		if (eval(ps, tok[1 + i], &v[i]))
			return -1;
	if (remote_read(&ps->task, v[4], &sr.p, sizeof(sr.p)))
		return fail(ps, "%s: reading the ring parameters: %s", what, remote_error(&ps->task));
	sr.fd = (int)v[0];
	sr.ring = v[2];
	sr.sqes = v[3];
	sqe.user_data = v[6];
	sqe.len = (uint32_t)v[7];
	sqe.op_flags = IORING_NOP_INJECT_RESULT;	/* sqe->nop_flags */
	if (v[10] & POSTNOP_BIG) {
		sqe.op_flags |= IORING_NOP_CQE32;
		sqe.off = v[8];
		sqe.addr = v[9];
	}
	if (v[1])
		enter |= IORING_ENTER_REGISTERED_RING;
	if (sr.p.flags & IORING_SETUP_SQPOLL)
		enter |= IORING_ENTER_SQ_WAKEUP;
	if (remote_read(&ps->task, sr.ring + sr.p.sq_off.tail, &tail, 4) ||
	    remote_read(&ps->task, sr.ring + sr.p.cq_off.tail, &cq_before, 4))
		return fail(ps, "%s: reading the indices: %s", what, remote_error(&ps->task));
	for (unsigned long done = 0; done < v[5]; done += batch, tail += batch) {
		batch = v[5] - done < sr.p.sq_entries ? v[5] - done : sr.p.sq_entries;
		if (submit_queue(ps, &sr, &sqe, 1, 0, batch))
			return fail(ps, "%s: writing the NOPs: %s", what, remote_error(&ps->task));
		ret = remote_syscall(&ps->task, SYS_io_uring_enter, sr.fd, batch, 0, enter, 0, 0);
		if (ret < 0)
			return fail(ps, "%s: io_uring_enter: %s", what, strerror(-ret));
		if (ret != batch)
			return fail(ps, "%s: the kernel took %ld of %u NOPs", what, ret, batch);
		if (postnop_wait_head(ps, &sr, tail + batch, what))
			return -1;
	}
	if (remote_read(&ps->task, sr.ring + sr.p.sq_off.flags, &sq_flags, 4) ||
	    remote_read(&ps->task, sr.ring + sr.p.cq_off.tail, &cq_after, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	if (v[10] & POSTNOP_FILL) {
		if (cq_after - cq_before != v[5])
			return fail(ps, "%s: the CQ tail moved by %u, not %lu", what, cq_after - cq_before, v[5]);
	} else if (!(sq_flags & IORING_SQ_CQ_OVERFLOW) || cq_after != cq_before) {
		/* a CQ with room would have taken the CQEs instead of the overflow list */
		return fail(ps, "%s: the NOPs' CQEs did not go to the overflow list", what);
	}
	return 0;
}

/* "a,b,c" or "-" (no groups); the array is malloc()ed. */
static int parse_groups(struct plan_state *ps, const char *csv, struct creds *c)
{
	const char *p = csv;
	char *end;

	c->nr_groups = 0;
	c->groups = NULL;
	if (!strcmp(csv, "-"))
		return 0;
	c->groups = calloc(CREDS_MAX_GROUPS, sizeof(gid_t));
	if (!c->groups)
		return fail(ps, "personality: out of memory");
	for (;;) {
		if (c->nr_groups == CREDS_MAX_GROUPS)
			return fail(ps, "personality: too many groups");
		c->groups[c->nr_groups++] = strtoul(p, &end, 10);
		if (end == p || (*end && *end != ','))
			return fail(ps, "personality: bad group list '%s'", csv);
		if (!*end)
			return 0;
		p = end + 1;
	}
}

/*
 * "personality FD ID UID EUID SUID FSUID GID EGID SGID FSGID CAPS GROUPS":
 * register credentials on the task's (still disabled) ring FD from a child
 * of CRIU's master that takes them on (creds.c); the kernel must hand out
 * exactly ID, so the plan registers ids in order.
 */
static int step_personality(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long fd, id, v[9];
	struct creds c = { 0 };
	char err[256] = "";
	long ret;

	if (n != 13 || need_task(ps) || eval(ps, tok[1], &fd) || eval(ps, tok[2], &id))
		return fail(ps, "personality: bad arguments");
	for (int i = 0; i < 9; i++)
		if (eval(ps, tok[3 + i], &v[i]))
			return -1;
	c.uid = v[0]; c.euid = v[1]; c.suid = v[2]; c.fsuid = v[3];
	c.gid = v[4]; c.egid = v[5]; c.sgid = v[6]; c.fsgid = v[7];
	c.cap_effective = v[8];
	if (parse_groups(ps, tok[12], &c)) {
		free(c.groups);
		return -1;
	}
	ret = creds_register_personality(ps->task.tgid, fd, &c, err, sizeof(err));
	free(c.groups);
	if (ret < 0)
		return fail(ps, "%s: %s", what, err);
	if ((unsigned long)ret != id)
		return fail(ps, "%s: the kernel gave personality id %ld, not %lu", what, ret, id);
	return 0;
}

static int submit_map(struct plan_state *ps, struct submit_ring *sr)
{
	long ring, sqes;

	sr->ring_len = advance_ring_region_len(&sr->p);
	sr->sqes_len = advance_sqes_region_len(&sr->p);
	ring = remote_syscall(&ps->task, SYS_mmap, 0, sr->ring_len, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_POPULATE, sr->fd, IORING_OFF_SQ_RING);
	if (ring < 0 && ring > -4096)
		return fail(ps, "mapping the ring region: %s", strerror(-ring));
	sr->ring = ring;
	sqes = remote_syscall(&ps->task, SYS_mmap, 0, sr->sqes_len, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_POPULATE, sr->fd, IORING_OFF_SQES);
	if (sqes < 0 && sqes > -4096)
		return fail(ps, "mapping the SQE region: %s", strerror(-sqes));
	sr->sqes = sqes;
	return 0;
}

static void submit_unmap(struct plan_state *ps, struct submit_ring *sr)
{
	if (sr->sqes)
		remote_syscall(&ps->task, SYS_munmap, sr->sqes, sr->sqes_len, 0, 0, 0, 0);
	if (sr->ring)
		remote_syscall(&ps->task, SYS_munmap, sr->ring, sr->ring_len, 0, 0, 0, 0);
}

/*
 * Where a submit step may free CQ slots up to: @seen (every CQE checked),
 * but with a hold (the dumped CQ head H, "head H") never past H while the
 * CQEs from H to @seen still fit the CQ.  The kernel computes its cache
 * of free CQ slots from the head when it refills it: a head moved past H
 * here would leave a cache reaching into slots the restored ring's
 * unconsumed CQEs occupy once H is written back (the same reason the
 * index advance stops at H, plugin-c/advance.h; test/progs/cr_cqwrap.c
 * --pbuf).  A head already past H is out of reach.
 */
static uint32_t submit_free_to(const struct submit_ring *sr, uint32_t head, uint32_t seen)
{
	if (!sr->hold || sr->limit - head > seen - head)
		return seen;
	return sr->limit;
}

/*
 * Before @n more CQEs: a hold that would make them overflow the CQ is
 * given up (the CQ head then follows the CQEs checked, as without one):
 * more CQEs before the advance than H + cq_entries, which no dumped
 * state whose tail they do not pass gives.
 */
static int submit_room(struct plan_state *ps, struct submit_ring *sr, unsigned int n, const char *what)
{
	uint32_t head;

	if (!sr->hold)
		return 0;
	if (remote_read(&ps->task, sr->ring + sr->p.cq_off.head, &head, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	if (sr->seen + n - head <= sr->p.cq_entries)
		return 0;
	sr->hold = false;
	if (remote_write(&ps->task, sr->ring + sr->p.cq_off.head, &sr->seen, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	return 0;
}

/* Submit what submit_queue() queued, wait for its @n CQEs, check them and free their slots. */
static int submit_reap(struct plan_state *ps, struct submit_ring *sr,
		       unsigned int n, uint64_t done, const char *what)
{
	const struct ring_params *p = &sr->p;
	unsigned int enter = IORING_ENTER_GETEVENTS;
	unsigned int size = p->flags & IORING_SETUP_CQE32 ? 32 : 16;
	struct ring_cqe cqe;
	uint32_t head, tail;
	long ret;

	if (p->flags & IORING_SETUP_SQPOLL)
		enter |= IORING_ENTER_SQ_WAKEUP;
	ret = remote_syscall(&ps->task, SYS_io_uring_enter, sr->fd, n, n, enter, 0, 0);
	if (ret < 0)
		return fail(ps, "%s: io_uring_enter: %s", what, strerror(-ret));
	if (!(p->flags & IORING_SETUP_SQPOLL) && ret != n)
		return fail(ps, "%s: the kernel took %ld of %u requests", what, ret, n);
	if (remote_read(&ps->task, sr->ring + p->cq_off.head, &head, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	/* an SQ thread may still be working through them */
	for (;;) {
		if (remote_read(&ps->task, sr->ring + p->cq_off.tail, &tail, 4))
			return fail(ps, "%s: %s", what, remote_error(&ps->task));
		if (tail - sr->seen >= n)
			break;
		ret = remote_syscall(&ps->task, SYS_io_uring_enter, sr->fd, 0, n - (tail - sr->seen),
				     IORING_ENTER_GETEVENTS, 0, 0);
		if (ret < 0)
			return fail(ps, "%s: waiting for completions: %s", what, strerror(-ret));
	}
	for (unsigned int i = 0; i < n; i++) {
		unsigned long at = sr->ring + p->cq_off.cqes +
				   (unsigned long)((sr->seen + i) & (p->cq_entries - 1)) * size;

		if (remote_read(&ps->task, at, &cqe, sizeof(cqe)))
			return fail(ps, "%s: %s", what, remote_error(&ps->task));
		if (cqe.res < 0)
			return fail(ps, "%s: request %llu failed: %s", what,
				    (unsigned long long)(done + i + 1), strerror(-cqe.res));
	}
	sr->seen += n;
	head = submit_free_to(sr, head, sr->seen);
	if (remote_write(&ps->task, sr->ring + p->cq_off.head, &head, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	return 0;
}

/*
 * "submit FD PARAMS COUNT FILE HEX [head H] -- WHAT": the 64-byte SQEs in
 * HEX, submitted COUNT times over, in order, on ring FD (enabled, no SQE
 * pending; PARAMS: its io_uring_params as the kernel filled them).  Every
 * CQE must succeed and is reaped, so the ring is empty again afterwards
 * and the index advance continues from there; with "head H" (the dumped
 * CQ head) the CQ head stops at H instead (submit_free_to()), and the
 * CQEs after it stay for the advance, which keeps it there.  CQEs a
 * submit step before left are not looked at again.  FILE, unless "-",
 * replaces each SQE's fd: a file the plan opened in the task.  This is
 * how provided buffers are handed back to the kernel and buffer-ring
 * heads moved.
 */
static int step_submit(struct plan_state *ps, char **tok, int n, const char *what)
{
	struct submit_ring sr = { 0 };
	unsigned long fd, params, count, file = 0, batch, total, limit = 0;
	struct ring_sqe *sqe;
	uint8_t *bytes;
	size_t len;
	int ret = 0;

	if ((n != 6 && (n != 8 || strcmp(tok[6], "head") || eval(ps, tok[7], &limit))) ||
	    need_task(ps) || eval(ps, tok[1], &fd) || eval(ps, tok[2], &params) ||
	    eval(ps, tok[3], &count) || (strcmp(tok[4], "-") && eval(ps, tok[4], &file)))
		return fail(ps, "submit: bad arguments");
	if (unhex(tok[5], &bytes, &len) || !len || len % sizeof(*sqe))
		return fail(ps, "submit: bad SQE data");
	sqe = (struct ring_sqe *)bytes;
	if (strcmp(tok[4], "-"))
		for (size_t i = 0; i < len / sizeof(*sqe); i++)
			sqe[i].fd = (int32_t)file;
	sr.fd = fd;
	sr.hold = n == 8;
	sr.limit = (uint32_t)limit;
	if (remote_read(&ps->task, params, &sr.p, sizeof(sr.p)))
		ret = fail(ps, "%s: reading the ring parameters: %s", what, remote_error(&ps->task));
	if (!ret)
		ret = submit_map(ps, &sr);
	if (!ret && remote_read(&ps->task, sr.ring + sr.p.cq_off.tail, &sr.seen, 4))
		ret = fail(ps, "%s: %s", what, remote_error(&ps->task));
	batch = sr.p.sq_entries < sr.p.cq_entries ? sr.p.sq_entries : sr.p.cq_entries;
	total = count * (len / sizeof(*sqe));
	for (unsigned long done = 0; !ret && done < total; done += batch) {
		unsigned int now = total - done < batch ? total - done : batch;

		if (submit_room(ps, &sr, now, what))
			ret = -1;
		else if (submit_queue(ps, &sr, sqe, len / sizeof(*sqe), done, now))
			ret = fail(ps, "%s: queueing SQEs: %s", what, remote_error(&ps->task));
		else
			ret = submit_reap(ps, &sr, now, done, what);
	}
	submit_unmap(ps, &sr);
	free(bytes);
	return ret;
}

#define ARM_MAX		(1u << 20)	/* re-armed requests per ring and step */

/* A request's immediate completion that means our SQE was wrong, not that its event happened. */
static bool arm_sqe_rejected(int res)
{
	return res == -EINVAL || res == -EBADF || res == -EFAULT || res == -EOPNOTSUPP ||
	       res == -ENOTSOCK || res == -EBADFD;
}

/* Fail if one of the @n requests the arm step submitted completed at once with an error that names the SQE. */
static int arm_check_cqes(struct plan_state *ps, const struct submit_ring *sr, const struct ring_sqe *sqe,
			  unsigned int n, uint32_t from, uint32_t to, const char *what)
{
	const struct ring_params *p = &sr->p;
	unsigned int size = p->flags & IORING_SETUP_CQE32 ? 32 : 16;
	struct ring_cqe cqe;

	for (uint32_t pos = from; pos != to; pos++) {
		unsigned long at = sr->ring + p->cq_off.cqes + (unsigned long)(pos & (p->cq_entries - 1)) * size;

		if (remote_read(&ps->task, at, &cqe, sizeof(cqe)))
			return fail(ps, "%s: %s", what, remote_error(&ps->task));
		for (unsigned int i = 0; i < n; i++)
			if (sqe[i].user_data == cqe.user_data && arm_sqe_rejected(cqe.res))
				return fail(ps, "%s: the kernel refused the re-armed request with user_data %llu (opcode %u): %s",
					    what, (unsigned long long)cqe.user_data, sqe[i].opcode, strerror(-cqe.res));
	}
	return 0;
}

/*
 * "arm FD PARAMS SRC N [RINGS SQES [registered]] -- WHAT": re-arm N
 * in-flight requests (the 64-byte SQEs at SRC in the task) on ring FD,
 * after the dumped ring bytes are back.  RINGS and SQES: where a NO_MMAP
 * ring's regions are in the task (else the step maps them through FD);
 * "registered": FD is a registered-ring index (REGISTERED_FD_ONLY).  The index advance stopped N SQEs short of the dumped SQ head H,
 * so the kernel takes exactly the SQEs at positions H-N .. H-1: each goes
 * into the SQE slot of its position (and the SQ array maps the position
 * to that slot), io_uring_enter(to_submit) submits them, and the slots and
 * array entries get their dumped bytes back.  More requests than the SQ
 * has room for beside the application's pending SQEs go in batches, each
 * ending at the end of a linked chain (the kernel ends a chain at the end
 * of a submission), in their order.  The SQEs the application had pending
 * at H .. tail are not touched (to_submit stops the kernel at H); the step
 * fails if they would share a slot.  A request whose event already
 * happened completes at once, after the dumped CQEs, as it would have in
 * the original process; one the kernel refuses as malformed fails the
 * step.  Not for SQPOLL rings (their SQ thread would submit on its own),
 * which the planner refuses.
 */
static int arm_batch(struct plan_state *ps, struct submit_ring *sr, const struct ring_sqe *sqe,
		     unsigned long n, uint32_t first, uint32_t head, uint32_t tail,
		     uint8_t (*saved)[128], uint32_t *saved_idx, unsigned int enter, const char *what)
{
	uint32_t mask = sr->p.sq_entries - 1, now, cq_before, cq_after;
	unsigned int size = sr->p.flags & IORING_SETUP_SQE128 ? 128 : 64;
	bool sqarray = !(sr->p.flags & IORING_SETUP_NO_SQARRAY);
	long ret;
	int err = 0;

	if (remote_read(&ps->task, sr->ring + sr->p.cq_off.tail, &cq_before, 4))
		return fail(ps, "%s: reading the CQ tail: %s", what, remote_error(&ps->task));
	/* pending SQEs must not live in the slots this batch borrows */
	for (uint32_t pos = head; pos != tail && sqarray; pos++) {
		uint32_t slot;

		if (remote_read(&ps->task, sr->ring + sr->p.sq_off.array + 4ul * (pos & mask), &slot, 4))
			return fail(ps, "%s: %s", what, remote_error(&ps->task));
		if (((slot - first) & mask) < n)
			return fail(ps, "%s: pending SQE slot %u is one the re-armed requests need", what, slot);
	}
	for (unsigned long i = 0; i < n && !err; i++) {
		uint32_t slot = (first + i) & mask;
		uint8_t bytes[128] = { 0 };

		memcpy(bytes, &sqe[i], sizeof(sqe[i]));
		if (remote_read(&ps->task, sr->sqes + (unsigned long)slot * size, saved[i], size) ||
		    remote_write(&ps->task, sr->sqes + (unsigned long)slot * size, bytes, size))
			err = fail(ps, "%s: writing SQE %lu: %s", what, i, remote_error(&ps->task));
		if (!err && sqarray &&
		    (remote_read(&ps->task, sr->ring + sr->p.sq_off.array + 4ul * slot, &saved_idx[i], 4) ||
		     remote_write(&ps->task, sr->ring + sr->p.sq_off.array + 4ul * slot, &slot, 4)))
			err = fail(ps, "%s: writing the SQ array: %s", what, remote_error(&ps->task));
	}
	if (!err) {
		ret = remote_syscall(&ps->task, SYS_io_uring_enter, sr->fd, n, 0, enter, 0, 0);
		if (ret < 0)
			err = fail(ps, "%s: io_uring_enter: %s", what, strerror(-ret));
		else if ((unsigned long)ret != n)
			err = 1; /* below: name the request the kernel stopped at */
	}
	/* the dumped bytes back in the borrowed slots, whatever happened */
	for (unsigned long i = 0; i < n; i++) {
		uint32_t slot = (first + i) & mask;

		if (remote_write(&ps->task, sr->sqes + (unsigned long)slot * size, saved[i], size) ||
		    (sqarray && remote_write(&ps->task, sr->ring + sr->p.sq_off.array + 4ul * slot, &saved_idx[i], 4))) {
			if (!err)
				err = fail(ps, "%s: restoring the SQ bytes: %s", what, remote_error(&ps->task));
			break;
		}
	}
	if (err < 0)
		return err;
	/* a request the kernel refused at once names its SQE: only this batch's CQEs can be */
	if (remote_read(&ps->task, sr->ring + sr->p.cq_off.tail, &cq_after, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	if (arm_check_cqes(ps, sr, sqe, n, cq_before, cq_after, what))
		return -1;
	if (err)
		return fail(ps, "%s: the kernel took fewer of the %lu requests than it was given", what, n);
	if (remote_read(&ps->task, sr->ring + sr->p.sq_off.head, &now, 4))
		return fail(ps, "%s: %s", what, remote_error(&ps->task));
	if (now != first + n)
		return fail(ps, "%s: SQ head %u after the re-arm, expected %u", what, now, (uint32_t)(first + n));
	return 0;
}

static int step_arm(struct plan_state *ps, char **tok, int n, const char *what)
{
	struct submit_ring sr = { 0 };
	unsigned long fd, params, src, count, room, done, now, rings = 0, sqes = 0;
	struct ring_sqe *sqe = NULL;
	uint8_t (*saved)[128] = NULL;
	uint32_t *saved_idx = NULL;
	uint32_t head, tail;
	unsigned int enter = 0;
	bool user_mem = n >= 7;
	int err = 0;

	if ((n != 5 && n != 7 && n != 8) || need_task(ps) || eval(ps, tok[1], &fd) || eval(ps, tok[2], &params) ||
	    eval(ps, tok[3], &src) || eval(ps, tok[4], &count) || !count || count > ARM_MAX ||
	    (user_mem && (eval(ps, tok[5], &rings) || eval(ps, tok[6], &sqes))) ||
	    (n == 8 && strcmp(tok[7], "registered")))
		return fail(ps, "arm: bad arguments");
	if (n == 8)
		enter = IORING_ENTER_REGISTERED_RING;
	sr.fd = fd;
	if (remote_read(&ps->task, params, &sr.p, sizeof(sr.p)))
		return fail(ps, "%s: reading the ring parameters: %s", what, remote_error(&ps->task));
	if (sr.p.flags & IORING_SETUP_SQPOLL)
		return fail(ps, "%s: an SQPOLL ring", what);
	sqe = calloc(count, sizeof(*sqe));
	if (!sqe)
		return fail(ps, "%s: out of memory", what);
	if (remote_read(&ps->task, src, sqe, count * sizeof(*sqe))) {
		err = fail(ps, "%s: reading the SQEs: %s", what, remote_error(&ps->task));
		goto out;
	}
	if (user_mem) {
		sr.ring = rings;
		sr.sqes = sqes;
	} else {
		err = submit_map(ps, &sr);
		if (err)
			goto out;
	}
	if (remote_read(&ps->task, sr.ring + sr.p.sq_off.head, &head, 4) ||
	    remote_read(&ps->task, sr.ring + sr.p.sq_off.tail, &tail, 4)) {
		err = fail(ps, "%s: reading the indices: %s", what, remote_error(&ps->task));
		goto out;
	}
	if (tail - head >= sr.p.sq_entries) {
		err = fail(ps, "%s: %u pending SQEs leave no room in the %u-entry SQ", what, tail - head, sr.p.sq_entries);
		goto out;
	}
	room = sr.p.sq_entries - (tail - head);
	saved = calloc(room, sizeof(*saved));
	saved_idx = calloc(room, sizeof(*saved_idx));
	if (!saved || !saved_idx) {
		err = fail(ps, "%s: out of memory", what);
		goto out;
	}
	for (done = 0; done < count && !err; done += now) {
		now = count - done < room ? count - done : room;
		/* a batch ends where a chain ends */
		while (done + now < count && now && sqe[done + now - 1].flags & (IOSQE_IO_LINK | IOSQE_IO_HARDLINK))
			now--;
		if (!now) {
			err = fail(ps, "%s: a linked chain longer than the %lu SQ entries free", what, room);
			break;
		}
		err = arm_batch(ps, &sr, sqe + done, now, head - count + done, head, tail, saved, saved_idx, enter, what);
	}
out:
	if (!user_mem)
		submit_unmap(ps, &sr);
	free(saved_idx);
	free(saved);
	free(sqe);
	return err;
}

/*
 * "load VAR ADDR SIZE": read a SIZE-byte (4 or 8) little-endian integer
 * from task memory at ADDR into VAR: for results the kernel writes to
 * memory instead of returning them (the fds of pipe2()).
 */
static int step_load(struct plan_state *ps, char **tok, int n)
{
	unsigned long addr, size, value = 0;
	uint32_t v32;

	if (n != 4 || need_task(ps) || eval(ps, tok[2], &addr) || eval(ps, tok[3], &size) ||
	    (size != 4 && size != 8))
		return fail(ps, "load: bad arguments");
	if (remote_read(&ps->task, addr, size == 4 ? (void *)&v32 : (void *)&value, size))
		return fail(ps, "loading from %#lx: %s", addr, remote_error(&ps->task));
	return set_var(ps, tok[1], size == 4 ? v32 : value);
}

/* Wait up to a second for @fd to become readable. */
static int wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 1000) == 1 ? 0 : -1;
}

/* Copy exactly @len bytes from @in (a pipe) to @out at @off. */
static int copy_from_pipe(int in, int out, unsigned long len, off_t off)
{
	static char buf[65536];
	unsigned long done = 0;
	ssize_t got;

	while (done < len) {
		if (wait_readable(in))
			return -ETIMEDOUT;
		got = read(in, buf, len - done < sizeof(buf) ? len - done : sizeof(buf));
		if (got <= 0)
			return got < 0 ? -errno : -EPIPE;
		if (pwrite(out, buf, got, off + done) != got)
			return -errno;
		done += got;
	}
	return 0;
}

/*
 * "save FD LEN NAME OFFSET": take LEN bytes the task wrote into the pipe
 * its fd FD reads from, and store them at OFFSET in file NAME of CRIU's
 * image directory (created if needed), for the helper to read.  This is
 * how the dump gets bytes only the task can reach (the pinned pages of a
 * registered buffer the process has unmapped, src/plugin/pinned.ts): the
 * fd is borrowed with pidfd_getfd(), so nothing is left in the task.
 */
static int step_save(struct plan_state *ps, char **tok, int n, const char *what)
{
	unsigned long fd, len, off;
	int pidfd, in = -1, out = -1, ret;

	if (n != 5 || need_task(ps) || eval(ps, tok[1], &fd) || eval(ps, tok[2], &len) ||
	    eval(ps, tok[4], &off) || strchr(tok[3], '/'))
		return fail(ps, "save: bad arguments");
	pidfd = syscall(SYS_pidfd_open, ps->task.tgid, 0);
	if (pidfd >= 0)
		in = syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	if (in < 0) {
		ret = fail(ps, "%s: borrowing fd %lu of %d: %s", what, fd, ps->task.tgid, strerror(errno));
		goto out;
	}
	out = openat(criu_get_image_dir(), tok[3], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (out < 0) {
		ret = fail(ps, "%s: opening %s in the image directory: %s", what, tok[3], strerror(errno));
		goto out;
	}
	ret = copy_from_pipe(in, out, len, off);
	if (ret == -ETIMEDOUT)
		ret = fail(ps, "%s: the task wrote fewer than %lu bytes", what, len);
	else if (ret)
		ret = fail(ps, "%s: copying to %s: %s", what, tok[3], strerror(-ret));
out:
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}

/*
 * May the step run with placeholders kept in the task?  Those that map
 * or unmap nothing may, and those whose mapping takes the kernel's choice
 * (mmap(NULL), scratch memory) or unmaps what is not a placeholder; any
 * other step gets an address space without placeholders (a MAP_FIXED
 * over one would be unmapped with it).
 */
static bool keeps_placeholders(struct plan_state *ps, char **tok, int n)
{
	static const char *const safe[] = { "task", "place", "write", "writeimg", "file", "movefd", "store", "load",
					    "expect", "alloc", "free", "advance" };
	unsigned long nr, a[6];
	size_t i;

	/* every gap filled (place.h): only the next placements may use them */
	if (ps->keep.below)
		return !strcmp(tok[0], "place") || !strcmp(tok[0], "task");
	for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (!strcmp(tok[0], safe[i]))
			return true;
	if (strcmp(tok[0], "sys") || n != 9 || eval(ps, tok[2], &nr))
		return false;
	for (i = 0; i < 6; i++)
		if (eval(ps, tok[3 + i], &a[i]))
			return false;
	switch (nr) {
	case SYS_io_uring_setup:
	case SYS_io_uring_enter:
	case SYS_io_uring_register:
	case SYS_close:
	case SYS_dup3:
	case SYS_fcntl:
		return true;
	case SYS_mmap:
		return !a[0] && !(a[3] & (MAP_FIXED | MAP_FIXED_NOREPLACE));
	case SYS_munmap:
		return !place_keep_overlaps(&ps->keep, a[0], a[0] + a[1]);
	}
	return false;
}

static int run_step(struct plan_state *ps, char *line)
{
	char *tok[MAX_ARGS + MAX_PARTS];
	const char *what;
	int n = tokenize(line, tok, MAX_ARGS + MAX_PARTS, &what);

	if (n <= 0)
		return fail(ps, "empty or overlong step");
	if (ps->keep.nr && !keeps_placeholders(ps, tok, n) && release_placeholders(ps))
		return -1;
	if (!strcmp(tok[0], "task"))
		return step_task(ps, tok, n);
	if (!strcmp(tok[0], "alloc"))
		return step_alloc(ps, tok, n);
	if (!strcmp(tok[0], "free"))
		return step_free(ps, tok, n);
	if (!strcmp(tok[0], "write"))
		return step_write(ps, tok, n);
	if (!strcmp(tok[0], "writeimg"))
		return step_writeimg(ps, tok, n);
	if (!strcmp(tok[0], "file"))
		return step_file(ps, tok, n);
	if (!strcmp(tok[0], "store"))
		return step_store(ps, tok, n);
	if (!strcmp(tok[0], "timens"))
		return step_timens(ps, tok, n);
	if (!strcmp(tok[0], "wait"))
		return step_wait(ps, tok, n, what);
	if (!strcmp(tok[0], "sys"))
		return step_sys(ps, tok, n, what);
	if (!strcmp(tok[0], "place"))
		return step_place(ps, tok, n, what);
	if (!strcmp(tok[0], "advance"))
		return step_advance(ps, tok, n, what);
	if (!strcmp(tok[0], "submit"))
		return step_submit(ps, tok, n, what);
	if (!strcmp(tok[0], "personality"))
		return step_personality(ps, tok, n, what);
	if (!strcmp(tok[0], "expect"))
		return step_expect(ps, tok, n, what);
	if (!strcmp(tok[0], "movefd"))
		return step_movefd(ps, tok, n, what);
	if (!strcmp(tok[0], "post"))
		return step_post(ps, tok, n, what);
	if (!strcmp(tok[0], "load"))
		return step_load(ps, tok, n);
	if (!strcmp(tok[0], "save"))
		return step_save(ps, tok, n, what);
	if (!strcmp(tok[0], "postnop"))
		return step_postnop(ps, tok, n, what);
	if (!strcmp(tok[0], "arm"))
		return step_arm(ps, tok, n, what);
	return fail(ps, "unknown step '%s'", tok[0]);
}

/*
 * Timed step for the debug log ("step N VERB [WHAT]: MS"), which
 * bench/restore.ts reads to report where restore time goes.  The verb and
 * description are copied first: run_step() tokenizes the line in place.
 */
static int run_step_timed(struct plan_state *ps, char *line)
{
	const char *sep = strstr(line, " -- ");
	char verb[16] = "", what[96] = "";
	struct timespec t0, t1;
	int ret;

	sscanf(line, "%15s", verb);
	if (sep)
		snprintf(what, sizeof(what), "%s", sep + 4);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = run_step(ps, line);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!ret)
		pr_debug("step %d %s [%s]: %.3f ms\n", ps->step, verb, what,
			 (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	return ret;
}

/*
 * CRIU_URING_FAIL_STEP=N, a test hook (test/dump-cleanup.test.ts): the
 * Nth step of this CRIU run that is not a cleanup step fails as if it had
 * failed in the task, so that every failure path of every plan can be
 * tried.  Cleanup steps (lines starting "always ") run whatever failed
 * before them; they are never failed on purpose.
 */
static int fail_step_wanted(void)
{
	const char *v = getenv("CRIU_URING_FAIL_STEP");

	return v ? atoi(v) : 0;
}

static char *helper_next_line(void *arg)
{
	(void)arg;
	return helper_read_line();
}

int plan_execute(int pid, const char *doing)
{
	return plan_run(pid, doing, helper_next_line, NULL);
}

int plan_run(int pid, const char *doing, char *(*next_line)(void *arg), void *arg)
{
	static struct plan_state ps;
	static int steps_run; /* non-cleanup steps of this CRIU run, for CRIU_URING_FAIL_STEP */
	int fail_at = fail_step_wanted();
	bool failed = false;
	char *line;

	memset(&ps, 0, sizeof(ps));
	while ((line = next_line(arg))) {
		bool always = false;
		int ret;

		if (!strcmp(line, "end"))
			break;
		ps.step++;
		if (!strncmp(line, "always ", 7)) {
			always = true;
			line += 7;
		}
		if (failed && !always)
			continue; /* keep reading: the protocol must stay in step */
		if (!always && ++steps_run == fail_at)
			ret = fail(&ps, "failure injected by CRIU_URING_FAIL_STEP=%d", fail_at);
		else
			ret = run_step_timed(&ps, line);
		if (!ret)
			continue;
		if (failed) {
			/* a cleanup step after a failure may name what was never made */
			pr_debug("%s of %d, cleanup step %d: %s\n", doing, pid, ps.step, ps.err);
			continue;
		}
		pr_err("%s of %d, step %d: %s\n", doing, pid, ps.step, ps.err);
		failed = true;
		if (ps.task_open && release_placeholders(&ps))
			pr_err("%s of %d: %s\n", doing, pid, ps.err);
	}
	if (ps.task_open && release_placeholders(&ps)) {
		pr_err("%s of %d: %s\n", doing, pid, ps.err);
		failed = true;
	}
	if (ps.task_open && !failed && check_ranges(&ps)) {
		pr_err("%s of %d: %s\n", doing, pid, ps.err);
		failed = true;
	}
	if (ps.task_open && remote_close(&ps.task)) {
		pr_err("leaving task %d: %s\n", ps.task.tid, remote_error(&ps.task));
		failed = true;
	}
	return line && !failed ? 0 : -1;
}
