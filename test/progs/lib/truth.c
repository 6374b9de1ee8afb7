// SPDX-License-Identifier: GPL-2.0-only
/*
 * The truth file: one JSON object per program, saying what the program
 * set up, in the key names of the inspect JSON (src/capture/model.ts).
 * Written to a temporary name and renamed, so a reader never sees half.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uring.h"

#define TRUTH_MAX_DEPTH 16

struct truth {
	FILE *f;
	char *buf;
	size_t len;
	int depth;
	bool first[TRUTH_MAX_DEPTH];	/* nothing written yet at this level */
	bool array[TRUTH_MAX_DEPTH];	/* this level is an array */
};

struct truth *truth_new(void)
{
	struct truth *t = calloc(1, sizeof(*t));

	if (!t)
		die("truth: calloc");
	t->f = open_memstream(&t->buf, &t->len);
	if (!t->f)
		die("truth: open_memstream");
	fputc('{', t->f);
	t->first[0] = true;
	return t;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Separator and key for the next value at the current level. */
static void next_value(struct truth *t, const char *key)
{
	if (!t->first[t->depth])
		fputc(',', t->f);
	t->first[t->depth] = false;
	if (!t->array[t->depth]) {
		put_string(t->f, key ? key : "");
		fputc(':', t->f);
	}
}

static void open_level(struct truth *t, const char *key, bool array)
{
	next_value(t, key);
	if (t->depth + 1 >= TRUTH_MAX_DEPTH)
		die_err(E2BIG, "truth: nesting deeper than %d", TRUTH_MAX_DEPTH);
	t->depth++;
	t->first[t->depth] = true;
	t->array[t->depth] = array;
	fputc(array ? '[' : '{', t->f);
}

void truth_obj(struct truth *t, const char *key)
{
	open_level(t, key, false);
}

void truth_arr(struct truth *t, const char *key)
{
	open_level(t, key, true);
}

void truth_end(struct truth *t)
{
	if (t->depth == 0)
		die_err(EINVAL, "truth: truth_end() without an open object or array");
	fputc(t->array[t->depth] ? ']' : '}', t->f);
	t->depth--;
}

void truth_int(struct truth *t, const char *key, long long v)
{
	next_value(t, key);
	fprintf(t->f, "%lld", v);
}

void truth_bool(struct truth *t, const char *key, bool v)
{
	next_value(t, key);
	fputs(v ? "true" : "false", t->f);
}

void truth_null(struct truth *t, const char *key)
{
	next_value(t, key);
	fputs("null", t->f);
}

void truth_str(struct truth *t, const char *key, const char *s)
{
	next_value(t, key);
	put_string(t->f, s);
}

void truth_u64s(struct truth *t, const char *key, uint64_t v)
{
	next_value(t, key);
	fprintf(t->f, "\"%" PRIu64 "\"", v);
}

void truth_hex(struct truth *t, const char *key, uint64_t v)
{
	next_value(t, key);
	fprintf(t->f, "\"0x%" PRIx64 "\"", v);
}

void truth_write(struct truth *t)
{
	const char *path = getenv("TRUTH_FILE");
	char tmp[4096];
	FILE *out;

	while (t->depth > 0)
		truth_end(t);
	fputs("}\n", t->f);
	if (fclose(t->f) != 0)
		die("truth: close memstream");
	if (!path || !*path) {
		/* Run by hand: show the truth instead. */
		fputs(t->buf, stdout);
		fflush(stdout);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	out = fopen(tmp, "w");
	if (!out)
		die("truth: create %s", tmp);
	if (fwrite(t->buf, 1, t->len, out) != t->len || fclose(out) != 0)
		die("truth: write %s", tmp);
	if (rename(tmp, path) < 0)
		die("truth: rename %s to %s", tmp, path);
out:
	free(t->buf);
	free(t);
}

void truth_ring_common(struct truth *t, struct ring *r, const int *fds, int nfds,
		       unsigned int cached_sq_head, unsigned int cached_cq_tail)
{
	int i;

	truth_int(t, "inode", (long long)r->inode);
	truth_arr(t, "fds");
	for (i = 0; i < nfds; i++)
		truth_int(t, NULL, fds[i]);
	truth_end(t);
	truth_int(t, "setup_flags", r->flags);
	truth_bool(t, "disabled", (r->flags & IORING_SETUP_R_DISABLED) != 0);
	truth_int(t, "sq_entries", r->p.sq_entries);
	truth_int(t, "cq_entries", r->p.cq_entries);
	truth_obj(t, "sq");
	truth_int(t, "head", __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE));
	truth_int(t, "tail", *r->sq_tail);
	truth_int(t, "cached_head", cached_sq_head);
	truth_int(t, "dropped", *r->sq_dropped);
	truth_end(t);
	truth_obj(t, "cq");
	truth_int(t, "head", *r->cq_head);
	truth_int(t, "tail", __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE));
	truth_int(t, "cached_tail", cached_cq_tail);
	truth_int(t, "overflow", *r->cq_overflow);
	truth_end(t);
}

void truth_cqe(struct truth *t, const struct io_uring_cqe *cqe)
{
	truth_obj(t, NULL);
	truth_u64s(t, "user_data", cqe->user_data);
	truth_int(t, "res", cqe->res);
	truth_int(t, "flags", cqe->flags);
	truth_end(t);
}

void truth_sqe(struct truth *t, const struct io_uring_sqe *sqe, unsigned int slot)
{
	truth_obj(t, NULL);
	truth_int(t, "_slot", slot);
	truth_int(t, "opcode", sqe->opcode);
	truth_int(t, "flags", sqe->flags);
	truth_int(t, "fd", sqe->fd);
	truth_bool(t, "fixed", (sqe->flags & IOSQE_FIXED_FILE) != 0);
	truth_u64s(t, "off", sqe->off);
	truth_u64s(t, "addr", sqe->addr);
	truth_int(t, "len", sqe->len);
	truth_int(t, "op_flags", sqe->rw_flags);
	truth_int(t, "buf_index", sqe->buf_index);
	truth_int(t, "personality", sqe->personality);
	truth_u64s(t, "user_data", sqe->user_data);
	truth_end(t);
}

void truth_mapping(struct truth *t, const void *start, size_t len, uint64_t off,
		   const char *kind, int bgid)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	truth_obj(t, NULL);
	truth_hex(t, "start", (uintptr_t)start);
	truth_hex(t, "end", ((uintptr_t)start + len + pg - 1) & ~(uintptr_t)(pg - 1));
	truth_hex(t, "offset", off);
	truth_str(t, "kind", kind);
	truth_str(t, "prot", "rw-s");
	if (bgid >= 0)
		truth_int(t, "bgid", bgid);
	truth_end(t);
}

void truth_ring_mappings(struct truth *t, const struct ring *r)
{
	truth_arr(t, "mappings");
	if (r->ring_mem && !r->user_mem) {
		truth_mapping(t, r->ring_mem, r->ring_len, IORING_OFF_SQ_RING, "rings", -1);
		truth_mapping(t, r->sqe_mem, r->sqe_len, IORING_OFF_SQES, "sqes", -1);
	}
	truth_end(t);
}
