// SPDX-License-Identifier: GPL-2.0
/*
 * uring_iter: read the io_uring state of processes without touching them.
 *
 * Three generic iterators find every ring a process can reach:
 *   iter/task_file  rings held through fds (and every fd's struct file, so
 *                   user space can match registered files and the eventfd
 *                   to fds by open file description, not by path),
 *   iter/task       per-thread registered ring slots, io-wq state, SQPOLL,
 *   iter/task_vma   rings reachable only through a mapping, and all ring
 *                   mappings.
 * The first time a ring (keyed by ctx pointer and tgid) is seen in a run, its
 * whole state is dumped.  Everything is read with CO-RE probe reads; the
 * target is never stopped, signalled or entered.
 *
 * Output goes to the "events" ring buffer, not to the seq_file: a ring with
 * 32k CQEs or thousands of registered files produces far more than the
 * seq_file's page budget for one object, and an object whose output
 * overflows the seq page would be shown again (duplicating records).  The
 * seq_file stays empty; user space reads the iterator to EOF (which runs the
 * programs) and then drains the ring buffer.  Records are described in
 * uring_records.h and docs/bpf.md.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "uring_records.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before each run. */
__u32 target_tgid;	/* 0: every process, summary mode */
__u32 run_gen;		/* makes the "seen" map forget earlier runs */
__u64 dropped;		/* records lost because the ring buffer was full */

extern int CONFIG_HZ __kconfig __weak;
/* io_uring_fops is not in kallsyms without KALLSYMS_ALL; its mmap is. */
extern const void io_uring_mmap __ksym __weak;

#define IORING_SETUP_SQE128	(1u << 10)
#define IORING_SETUP_CQE32	(1u << 11)
#define IORING_SETUP_NO_SQARRAY	(1u << 16)
#define IORING_SETUP_CQE_MIXED	(1u << 18)
#define IOBL_BUF_RING		1
#define IO_REGION_F_USER_PROVIDED 2
#define FFS_FLAG_BITS		7ULL	/* low bits of io_rsrc_node.file_ptr */
#define REGISTERED_RINGS	16
#define MAX_CHAIN		65536	/* longest list we follow */
#define MAX_PATH_STEPS		48
#define XA_CHUNK_SHIFT		6

/*
 * Layouts of older kernels, as CO-RE flavors (libbpf ignores the ___suffix
 * when it matches them against the running kernel's BTF).  Every access
 * through them sits behind a bpf_core_field_exists() of that field, so a
 * kernel without it never sees the access (the verifier drops the branch)
 * and no program fails to load for a field it does not need there.
 *
 * ___old: Linux 6.1 to 6.12, before resource nodes (6.13): registered
 *         files in an io_fixed_file array, buffers in an io_mapped_ubuf
 *         pointer array, tags in two-level tables of io_rsrc_data;
 *         buffer lists without regions; io_wq with one all_list (6.12);
 *         NAPI on or off (napi_enabled, 6.9 to 6.13);
 *         NO_MMAP rings as pinned page arrays (6.5 to 6.12).
 * ___v61: Linux 6.1: io-wq state per NUMA node (io_wqe), provided buffer
 *         groups below 64 in a plain array, buffer length as an end address.
 */
struct io_file_table___old {
	unsigned long *files;		/* struct io_fixed_file { unsigned long file_ptr; } */
} __attribute__((preserve_access_index));

struct io_rsrc_data___old {
	__u64 **tags;
} __attribute__((preserve_access_index));

struct io_mapped_ubuf___old {
	__u64 ubuf;
	__u64 ubuf_end;
	unsigned int len;
} __attribute__((preserve_access_index));

struct io_buffer_list___v61;

struct io_ring_ctx___old {
	struct io_file_table___old file_table;
	unsigned int nr_user_files;
	unsigned int nr_user_bufs;
	struct io_mapped_ubuf___old **user_bufs;
	struct io_rsrc_data___old *file_data;
	struct io_rsrc_data___old *buf_data;
	struct io_buffer_list___v61 *io_bl;
	struct io_hash_table cancel_table_locked;
	bool napi_enabled;
	struct page **ring_pages;
	struct page **sqe_pages;
} __attribute__((preserve_access_index));

struct io_buffer_list___old {
	struct page **buf_pages;
	__u16 flags;
} __attribute__((preserve_access_index));

struct io_wq___old {
	struct list_head all_list;
} __attribute__((preserve_access_index));

struct io_wqe_acct___v61 {
	unsigned int nr_workers;
	unsigned int max_workers;
	struct io_wq_work_list work_list;
} __attribute__((preserve_access_index));

struct io_wqe___v61 {
	struct io_wqe_acct___v61 acct[2];
	struct list_head all_list;
} __attribute__((preserve_access_index));

/*
 * cpumask_var_t is a pointer with CONFIG_CPUMASK_OFFSTACK (distribution
 * kernels: NR_CPUS=8192) and an array without: one flavor each, so the
 * mask is read the way this kernel keeps it.
 */
struct io_wq___maskptr {
	struct cpumask *cpu_mask;
} __attribute__((preserve_access_index));

struct io_wq___maskarr {
	struct cpumask cpu_mask[1];
} __attribute__((preserve_access_index));

struct io_wqe___v61maskptr {
	struct cpumask *cpu_mask;
} __attribute__((preserve_access_index));

struct io_wqe___v61maskarr {
	struct cpumask cpu_mask[1];
} __attribute__((preserve_access_index));

struct io_wq___v61 {
	struct io_wqe___v61 *wqes[0];
} __attribute__((preserve_access_index));

#define IORING_SETUP_NO_MMAP	(1u << 14)
#define IOBL_INC		2	/* 6.13 and later */
#define IOBL_MMAP___old		2	/* 6.12: kernel memory */
#define IOBL_INC___old		4	/* 6.12 */
#define BGID_ARRAY___v61	64	/* 6.1: groups below 64 in ctx->io_bl[] */
#define IO_RSRC_TAG_TABLE_SHIFT	9	/* tags per page of an io_rsrc_data table */
#define IO_RSRC_TAG_TABLE_MASK	((1u << IO_RSRC_TAG_TABLE_SHIFT) - 1)
#define IO_URING_NAPI_TRACKING_DYNAMIC	0
#define IO_URING_NAPI_TRACKING_INACTIVE	255

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);	/* user space may enlarge before load */
} events SEC(".maps");

struct seen_key {
	__u64 ctx;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct seen_key);
	__type(value, __u32);
} seen SEC(".maps");

#define REC_NEW(T, TYPE) ({						\
	T *__r = bpf_ringbuf_reserve(&events, sizeof(T), 0);		\
	if (__r) {							\
		__builtin_memset(__r, 0, sizeof(T));			\
		__r->hdr.type = (TYPE);					\
		__r->hdr.size = sizeof(T);				\
	} else {							\
		__sync_fetch_and_add(&dropped, 1);			\
	}								\
	__r;								\
})
#define REC_SEND(r) bpf_ringbuf_submit((r), BPF_RB_NO_WAKEUP)

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline __u32 read_u32(__u64 addr)
{
	__u32 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline bool summary_mode(void)
{
	return target_tgid == 0;
}

/*
 * An io_uring file is recognised by its mmap method (the address of
 * io_uring_mmap comes from kallsyms); if that symbol cannot be resolved, by
 * the anon inode name every ring file carries.
 */
static __always_inline bool is_uring_file(struct file *file)
{
	char name[12] = {};
	const unsigned char *p;

	if (!file)
		return false;
	if ((__u64)&io_uring_mmap)
		return (__u64)BPF_CORE_READ(file, f_op, mmap) == (__u64)&io_uring_mmap;
	p = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(name, sizeof(name), p) != 11)
		return false;
	return name[0] == '[' && name[1] == 'i' && name[2] == 'o' &&
	       name[3] == '_' && name[4] == 'u' && name[5] == 'r' &&
	       name[6] == 'i' && name[7] == 'n' && name[8] == 'g' &&
	       name[9] == ']';
}

/* ------------------------------------------------------------------ */
/* User addresses of pinned application memory                         */

#define PAGE_MAPPING_ANON	1ULL

/*
 * The user address of an anonymous page the kernel pinned: an anonymous
 * folio's index is its linear page index, which for a private anonymous
 * mapping is the virtual page number it was faulted in at (mremap moves the
 * mapping but keeps the index, so user space verifies the result against
 * /proc/PID/maps and the memory's contents).  0 for other pages.
 */
static __always_inline __u64 page_user_addr(__u64 page)
{
	__u64 map_off = bpf_core_field_offset(struct page, mapping);
	__u64 head, mapping, delta = 0;

	if (!page)
		return 0;
	head = read_u64(page + bpf_core_field_offset(struct page, compound_head));
	if (head & 1) {
		head -= 1;
		delta = (page - head) / bpf_core_type_size(struct page);
		page = head;
	}
	mapping = read_u64(page + map_off);
	if (!(mapping & PAGE_MAPPING_ANON))
		return 0;
	/* the index (__folio_index, formerly index) follows mapping */
	return (read_u64(page + map_off + 8) + delta) << 12;
}

/* User address of an io_mapped_region's memory, if the application gave it. */
static __always_inline __u64 region_user_addr(struct io_mapped_region *mr)
{
	struct page **pages;

	if (!(BPF_CORE_READ(mr, flags) & IO_REGION_F_USER_PROVIDED))
		return 0;
	pages = BPF_CORE_READ(mr, pages);
	if (!pages)
		return 0;
	return page_user_addr(read_u64((__u64)pages));
}

/* ------------------------------------------------------------------ */
/* In-flight requests                                                  */

/*
 * A generic walker for the kernel's linked lists: list_head, hlist and
 * io_wq_work_list all keep the next pointer at offset 0 of the node.  The
 * request is either the node's container (node - node_off) or a pointer
 * stored in that container (deref_off >= 0), minus req_off.
 */
struct chain_walk {
	__u64 cur;
	__u64 stop;		/* list head address, or 0 for NULL-terminated */
	__u64 ctx;		/* ring the request belongs to, 0: read req->ctx */
	__s64 node_off;
	__s64 deref_off;
	__s64 req_off;
	__u32 state;
	__u32 tid;
	__u32 count;
	__u32 pad;
};


#define OP_POLL_ADD		6
#define OP_RECVMSG		10
#define OP_TIMEOUT		11
#define OP_ACCEPT		13
#define OP_READ			22
#define OP_RECV			27
#define OP_READ_MULTISHOT	49
#define OP_WRITE		23
#define OP_SEND			26
#define OP_SENDMSG		9
#define OP_LINK_TIMEOUT		15
#define OP_NOP			0
#define OP_CONNECT		16
#define OP_FUTEX_WAIT		51
#define OP_FUTEX_WAITV		53
#define FUTEX_WAITV_MAX		128
#define OP_WAITID		50
#define OP_MSG_RING		40
#define TIMEOUT_BOOTTIME	(1u << 2)
#define TIMEOUT_REALTIME	(1u << 3)
#define MAX_LINKS		64	/* links of one chain we follow */


/*
 * SENDMSG (io_uring/net.c: io_sendmsg_prep copies the application's
 * msghdr into req->async_data, struct io_async_msghdr), and a SEND to an
 * address (io_send_setup copies the address there too): the request is
 * noted here and its rec_sendmsg emitted once the ring's lists are walked
 * (walk_inflight), like a FUTEX_WAITV's vector.
 */
#define MAX_SENDMSG_HEADS	64
__u64 sendmsg_heads[MAX_SENDMSG_HEADS];
__u32 nr_sendmsg_heads;

static __always_inline void note_sendmsg(struct io_kiocb *req)
{
	__u32 n = nr_sendmsg_heads;

	if (n < MAX_SENDMSG_HEADS) {
		sendmsg_heads[n] = (__u64)req;
		nr_sendmsg_heads = n + 1;
	}
}

/*
 * The destination address (the kernel's copy), the control buffer's user
 * pointer (sr->msg_control: sending overwrites msg.msg_control) and
 * length, and the data iterator: an ITER_UBUF holds one user buffer (the
 * single-iovec case), an ITER_IOVEC points into the kernel's copy of the
 * iovec array at the segment it is at.
 */
static __noinline void emit_sendmsg(__u64 req_addr, __u64 ctx_addr)
{
	struct io_kiocb *req = (void *)req_addr;
	struct io_sr_msg *sr = (void *)&req->cmd;
	struct io_async_msghdr *io;
	struct rec_sendmsg *m;
	const void *iov;
	__u64 size;
	__u8 type;

	if (!bpf_core_type_exists(struct io_async_msghdr))
		return;
	io = BPF_CORE_READ(req, async_data);
	if (!io)
		return;
	m = REC_NEW(struct rec_sendmsg, REC_SENDMSG);
	if (!m)
		return;
	m->ctx = ctx_addr;
	m->req = req_addr;
	m->control = (__u64)BPF_CORE_READ(sr, msg_control);
	m->controllen = BPF_CORE_READ(io, msg.msg_controllen);
	m->namelen = BPF_CORE_READ(io, msg.msg_namelen);
	m->has_name = BPF_CORE_READ(io, msg.msg_name) != NULL;
	bpf_core_read(m->name, sizeof(m->name), &io->addr);
	type = BPF_CORE_READ(io, msg.msg_iter.iter_type);
	m->iov_offset = BPF_CORE_READ(io, msg.msg_iter.iov_offset);
	m->count = BPF_CORE_READ(io, msg.msg_iter.count);
	if (type == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
		m->iter = SENDMSG_ITER_UBUF;
		m->ubuf = (__u64)BPF_CORE_READ(io, msg.msg_iter.ubuf);
	} else if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC)) {
		m->iter = SENDMSG_ITER_IOVEC;
		m->nr_segs = BPF_CORE_READ(io, msg.msg_iter.nr_segs);
		iov = BPF_CORE_READ(io, msg.msg_iter.__iov);
		m->iov_cur = (__u64)iov;
		if (bpf_core_field_exists(io->vec))
			m->iov_start = (__u64)BPF_CORE_READ(io, vec.iovec);
		size = m->nr_segs * 2 * sizeof(__u64);
		if (size > sizeof(m->iov))
			size = sizeof(m->iov);
		if (iov)
			bpf_probe_read_kernel(m->iov, size, iov);
	}
	REC_SEND(m);
}

struct sendmsg_heads_walk {
	__u64 ctx;
};

static int sendmsg_heads_step(__u32 i, struct sendmsg_heads_walk *h)
{
	__u64 idx = i;

	if (i >= nr_sendmsg_heads)
		return 1;
	/* keep the bound where the verifier sees it */
	asm volatile("" : "+r"(idx));
	idx &= MAX_SENDMSG_HEADS - 1;
	emit_sendmsg(sendmsg_heads[idx], h->ctx);
	return 0;
}

/* Per-opcode command data of a network receive (io_uring/net.c: io_sr_msg). */
static __always_inline void arm_recv(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_sr_msg *sr = (void *)&req->cmd;

	a->addr = (__u64)BPF_CORE_READ(sr, buf);
	a->len = BPF_CORE_READ(sr, len);
	a->op_flags = BPF_CORE_READ(sr, msg_flags);
	a->ioprio = BPF_CORE_READ(sr, flags);
	a->buf_group = BPF_CORE_READ(sr, buf_group);
	a->done_io = BPF_CORE_READ(sr, done_io);
	if (bpf_core_field_exists(sr->mshot_len))
		a->mshot_len = BPF_CORE_READ(sr, mshot_len);
	if (bpf_core_field_exists(sr->mshot_total_len))
		a->mshot_total_len = BPF_CORE_READ(sr, mshot_total_len);
	/*
	 * A multishot RECVMSG stashes each selected buffer in sr->buf, over
	 * the msghdr pointer it shares a union with: the header the kernel
	 * copied at submission is kept in async_data instead.
	 */
	if (BPF_CORE_READ(req, opcode) == OP_RECVMSG && bpf_core_type_exists(struct io_async_msghdr)) {
		struct io_async_msghdr *io = BPF_CORE_READ(req, async_data);

		a->msg_control = (__u64)BPF_CORE_READ(sr, msg_control);
		if (io) {
			a->bits |= ARM_HAS_MSGHDR;
			a->msg_name = (__u64)BPF_CORE_READ(io, uaddr);
			a->msg_namelen = BPF_CORE_READ(io, namelen);
			a->msg_controllen = BPF_CORE_READ(io, controllen);
		}
	}
	if (BPF_CORE_READ(req, opcode) == OP_SENDMSG)
		note_sendmsg(req);
	/* a SEND to an address (sendto): the kernel keeps only its copy of it */
	if (BPF_CORE_READ(req, opcode) == OP_SEND && bpf_core_type_exists(struct io_async_msghdr)) {
		struct io_async_msghdr *io = BPF_CORE_READ(req, async_data);

		if (io) {
			a->msg_namelen = BPF_CORE_READ(io, msg.msg_namelen);
			if (a->msg_namelen) {
				a->bits |= ARM_SEND_ADDR;
				note_sendmsg(req);	/* its rec_sendmsg carries the address */
			}
		}
	}
}

/* Reads (io_uring/rw.c: io_rw). */
static __always_inline void arm_rw(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_rw *rw = (void *)&req->cmd;

	a->addr = BPF_CORE_READ(rw, addr);
	a->len = BPF_CORE_READ(rw, len);
	a->op_flags = BPF_CORE_READ(rw, flags);
	a->addr2 = BPF_CORE_READ(rw, kiocb.ki_pos);
	a->ioprio = BPF_CORE_READ(rw, kiocb.ki_ioprio);
	/*
	 * Since the buffer-select rework the group lives in io_async_rw
	 * (req->buf_index then holds the last selected buffer's id); the
	 * bytes a partial read already moved are counted there too.
	 */
	if (bpf_core_type_exists(struct io_async_rw) &&
	    bpf_core_field_exists(((struct io_async_rw *)0)->buf_group)) {
		struct io_async_rw *io = BPF_CORE_READ(req, async_data);

		if (io) {
			if (BPF_CORE_READ(req, flags) & (1ULL << 5))	/* REQ_F_BUFFER_SELECT */
				a->buf_group = BPF_CORE_READ(io, buf_group);
			a->done_io = BPF_CORE_READ(io, bytes_done);
		}
	}
}

/* Accepts (io_uring/net.c: io_accept). */
static __always_inline void arm_accept(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_accept *ac = (void *)&req->cmd;

	a->addr = (__u64)BPF_CORE_READ(ac, addr);
	a->addr2 = (__u64)BPF_CORE_READ(ac, addr_len);
	a->op_flags = BPF_CORE_READ(ac, flags);
	if (bpf_core_field_exists(ac->iou_flags))
		a->ioprio = BPF_CORE_READ(ac, iou_flags);
	a->file_slot = BPF_CORE_READ(ac, file_slot);
}

/*
 * Timeouts (io_uring/timeout.c): the timespec as given, the time left on
 * the hrtimer (its expiry is in the timer's clock base: MONOTONIC, or
 * BOOTTIME with IORING_TIMEOUT_BOOTTIME), and for a count-based timeout
 * the completions it still waits for: its target sequence against the
 * ring's sequence (cached CQ tail minus the timeouts that fired).
 */
static __always_inline void arm_timeout(struct rec_req_arm *a, struct io_kiocb *req,
					struct io_ring_ctx *ctx)
{
	struct io_timeout *t = (void *)&req->cmd;
	struct io_timeout_data *d = BPF_CORE_READ(req, async_data);
	__s64 expires, now;
	__u32 seq;

	a->len = BPF_CORE_READ(t, off);
	seq = BPF_CORE_READ(ctx, cached_cq_tail) - BPF_CORE_READ(ctx, cq_timeouts.counter);
	a->count_left = (__s32)(BPF_CORE_READ(t, target_seq) - seq);
	if (!d)
		return;
	a->op_flags = BPF_CORE_READ(d, flags);
	a->mode = BPF_CORE_READ(d, mode);
	a->ts_sec = BPF_CORE_READ(d, ts.tv_sec);
	a->ts_nsec = BPF_CORE_READ(d, ts.tv_nsec);
	if (bpf_core_field_exists(t->repeats))
		a->repeats = BPF_CORE_READ(t, repeats);
	expires = BPF_CORE_READ(d, timer.node.expires);
	if (a->op_flags & TIMEOUT_REALTIME) {
		/* the REALTIME base's offset from CLOCK_MONOTONIC, as the hrtimer code compares */
		struct hrtimer_clock_base *base = BPF_CORE_READ(d, timer.base);

		now = bpf_ktime_get_ns() + (base ? BPF_CORE_READ(base, offset) : 0);
	} else {
		now = a->op_flags & TIMEOUT_BOOTTIME ? bpf_ktime_get_boot_ns() : bpf_ktime_get_ns();
	}
	a->remaining_ns = expires - now;
}

/*
 * FUTEX_WAIT (io_uring/futex.c: io_futex): address, value, mask, the
 * kernel's FLAGS_* and whether the futex_q is still queued (a wake
 * clears its lock_ptr before the request leaves futex_list).
 */
static __always_inline void arm_futex(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_futex *f = (void *)&req->cmd;
	struct io_futex_data *d;

	if (!bpf_core_type_exists(struct io_futex) || !bpf_core_type_exists(struct io_futex_data))
		return;
	a->addr = (__u64)BPF_CORE_READ(f, uaddr);
	a->addr2 = BPF_CORE_READ(f, futex_val);
	a->addr3 = BPF_CORE_READ(f, futex_mask);
	a->op_flags = BPF_CORE_READ(f, futex_flags);
	d = BPF_CORE_READ(req, async_data);
	if (d && BPF_CORE_READ(d, q.lock_ptr))
		a->bits |= ARM_FUTEX_QUEUED;
}

/*
 * FUTEX_WAITV (io_uring/futex.c: io_futex with the vector in async_data):
 * the number of futexes in len and whether no wake has claimed it yet
 * (futexv_owned clear, futexes not unqueued).  Its vector (one rec_futexv
 * per futex of the kernel's copy) is emitted after the ring's lists are
 * walked (walk_inflight): a loop from here would nest calls deeper than
 * the verifier allows.
 */
#define MAX_FUTEXV_HEADS	64
__u64 futexv_heads[MAX_FUTEXV_HEADS];
__u32 nr_futexv_heads;

static __always_inline void arm_futexv(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_futex *f = (void *)&req->cmd;
	__u32 n = nr_futexv_heads;

	if (!bpf_core_type_exists(struct io_futex) || !bpf_core_field_exists(f->futex_nr))
		return;
	a->len = BPF_CORE_READ(f, futex_nr);
	if (!BPF_CORE_READ(f, futexv_owned) && !BPF_CORE_READ(f, futexv_unqueued))
		a->bits |= ARM_FUTEX_QUEUED;
	if (n < MAX_FUTEXV_HEADS) {
		futexv_heads[n] = (__u64)req;
		nr_futexv_heads = n + 1;
	}
}

struct futexv_walk {
	__u64 ctx;
	__u64 req;
	__u64 base;
	__u64 stride;
	__u32 nr;
};

static int futexv_step(__u32 i, struct futexv_walk *w)
{
	struct futex_vector *v;
	struct rec_futexv *f;

	if (i >= w->nr)
		return 1;
	v = (void *)(w->base + i * w->stride);
	f = REC_NEW(struct rec_futexv, REC_FUTEXV);
	if (!f)
		return 1;
	f->ctx = w->ctx;
	f->req = w->req;
	f->uaddr = BPF_CORE_READ(v, w.uaddr);
	f->val = BPF_CORE_READ(v, w.val);
	f->flags = BPF_CORE_READ(v, w.flags);
	f->index = i;
	REC_SEND(f);
	return 0;
}

static __noinline void emit_futexv(__u64 req_addr, __u64 ctx_addr)
{
	struct io_kiocb *req = (void *)req_addr;
	struct io_futex *f = (void *)&req->cmd;
	struct futexv_walk w = { .ctx = ctx_addr, .req = req_addr };

	if (!bpf_core_type_exists(struct io_futex) || !bpf_core_type_exists(struct futex_vector) ||
	    !bpf_core_field_exists(f->futex_nr))
		return;
	w.nr = BPF_CORE_READ(f, futex_nr);
	w.base = (__u64)BPF_CORE_READ(req, async_data);
	w.stride = bpf_core_type_size(struct futex_vector);
	if (w.base && w.nr <= FUTEX_WAITV_MAX)
		bpf_loop(FUTEX_WAITV_MAX, futexv_step, &w, 0);
}

struct futexv_heads_walk {
	__u64 ctx;
};

static int futexv_heads_step(__u32 i, struct futexv_heads_walk *h)
{
	__u64 idx = i;

	if (i >= nr_futexv_heads)
		return 1;
	/* keep the bound where the verifier sees it */
	asm volatile("" : "+r"(idx));
	idx &= MAX_FUTEXV_HEADS - 1;
	emit_futexv(futexv_heads[idx], h->ctx);
	return 0;
}

/*
 * WAITID (io_uring/waitid.c: io_waitid): which, upid and options as the
 * SQE gave them, the user's siginfo pointer, and whether it still waits:
 * a wakeup takes a reference (refs) before it queues the completion.
 */
#define WAITID_REF_MASK		0x7fffffffu

static __always_inline void arm_waitid(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_waitid *w = (void *)&req->cmd;

	if (!bpf_core_type_exists(struct io_waitid))
		return;
	a->len = BPF_CORE_READ(w, which);
	a->addr = (__u64)(__s64)BPF_CORE_READ(w, upid);
	a->op_flags = BPF_CORE_READ(w, options);
	a->addr2 = (__u64)BPF_CORE_READ(w, infop);
	if (!(BPF_CORE_READ(w, refs.counter) & WAITID_REF_MASK))
		a->bits |= ARM_WAITID_WAITING;
}

/*
 * MSG_RING (io_uring/msg_ring.c: io_msg), a link of a chain: what its
 * preparation kept of the SQE (the target ring is still the SQE's fd).
 */
static __always_inline void arm_msg_ring(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_msg *m = (void *)&req->cmd;

	if (!bpf_core_type_exists(struct io_msg))
		return;
	a->addr = BPF_CORE_READ(m, cmd);
	a->addr2 = BPF_CORE_READ(m, user_data);
	a->len = BPF_CORE_READ(m, len);
	a->addr3 = BPF_CORE_READ(m, src_fd);
	a->file_slot = BPF_CORE_READ(m, dst_fd);
	a->op_flags = BPF_CORE_READ(m, flags);
}

/* NOP (io_uring/nop.c: io_nop): a link of a chain. */
static __always_inline void arm_nop(struct rec_req_arm *a, struct io_kiocb *req)
{
	struct io_nop *n = (void *)&req->cmd;

	if (!bpf_core_type_exists(struct io_nop) || !bpf_core_field_exists(n->flags))
		return;
	a->op_flags = BPF_CORE_READ(n, flags);
	a->len = BPF_CORE_READ(n, result);
	if (bpf_core_field_exists(n->extra1)) {
		a->addr = BPF_CORE_READ(n, extra1);
		a->addr2 = BPF_CORE_READ(n, extra2);
	}
}

/* Linux before 6.13 named the submitting task, not its io_uring_task */
struct io_kiocb___task {
	struct task_struct *task;
};

/*
 * Whether a request's creds are its submitter's own: io_uring takes the
 * submitting task's creds (the SQ thread's sq_creds) whenever it prepares
 * a request for async execution (a drained one, for instance), and a
 * registered personality's otherwise.  Only the latter is refused.
 */
static __always_inline bool own_creds(struct io_kiocb *req, struct io_ring_ctx *ctx)
{
	const struct cred *c = BPF_CORE_READ(req, creds);
	struct task_struct *task = NULL;

	if (!c)
		return false;
	if (c == BPF_CORE_READ(ctx, sq_creds))
		return true;
	if (bpf_core_field_exists(req->tctx)) {
		struct io_uring_task *tctx = BPF_CORE_READ(req, tctx);

		if (tctx)
			task = BPF_CORE_READ(tctx, task);
	} else {
		task = BPF_CORE_READ((struct io_kiocb___task *)req, task);
	}
	return task && c == BPF_CORE_READ(task, cred);
}

/*
 * What re-arming one request waiting for an outside event takes
 * (rec_req_arm); for a link of its chain (state REQ_LINKED), head is the
 * waiting request and pos the link's place after it.
 */
static __noinline void emit_req_arm(__u64 req_addr, __u64 ctx_addr, __u32 state, __u64 head, __u32 pos)
{
	struct io_kiocb *req = (void *)req_addr;
	struct async_poll *apoll;
	struct rec_req_arm *a;
	__u8 opcode;

	if (state != REQ_POLL && state != REQ_TIMEOUT && state != REQ_LINKED && state != REQ_FUTEX &&
	    state != REQ_WAITID)
		return;
	a = REC_NEW(struct rec_req_arm, REC_REQ_ARM);
	if (!a)
		return;
	a->ctx = ctx_addr;
	a->req = req_addr;
	a->head = head;
	a->link_pos = pos;
	a->file = (__u64)BPF_CORE_READ(req, file);
	a->link = (__u64)BPF_CORE_READ(req, link);
	/*
	 * Bits 0-6 of req->flags mirror IOSQE_* (ABI).  The others are
	 * REQ_F_*_BIT enumerators of an anonymous enum, which CO-RE cannot
	 * relocate and 6.13 renumbered: user space translates them from the
	 * raw flags of the rec_req that precedes this record, with the numbers
	 * it reads from the kernel's BTF (src/capture/reqflags.ts).
	 */
	a->bits = BPF_CORE_READ(req, flags) & 0x7f;
	if (own_creds(req, (struct io_ring_ctx *)ctx_addr))
		a->bits |= ARM_OWN_CREDS;
	a->buf_group = BPF_CORE_READ(req, buf_index);
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode == OP_POLL_ADD) {
		a->poll_events = BPF_CORE_READ((struct io_poll *)&req->cmd, events);
	} else if (state == REQ_POLL) {
		apoll = BPF_CORE_READ(req, apoll);
		if (apoll) {
			a->poll_events = BPF_CORE_READ(apoll, poll.events);
			a->bits |= ARM_HAS_APOLL;
		}
	}
	if (opcode == OP_RECV || opcode == OP_RECVMSG || opcode == OP_SEND || opcode == OP_SENDMSG)
		arm_recv(a, req);
	else if (opcode == OP_READ || opcode == OP_READ_MULTISHOT || opcode == OP_WRITE)
		arm_rw(a, req);
	else if (opcode == OP_ACCEPT)
		arm_accept(a, req);
	else if (opcode == OP_TIMEOUT || opcode == OP_LINK_TIMEOUT)
		arm_timeout(a, req, (struct io_ring_ctx *)ctx_addr);
	else if (opcode == OP_NOP)
		arm_nop(a, req);
	else if (opcode == OP_FUTEX_WAIT && state == REQ_FUTEX)
		arm_futex(a, req);
	else if (opcode == OP_WAITID && state == REQ_WAITID)
		arm_waitid(a, req);
	else if (opcode == OP_FUTEX_WAITV && state == REQ_FUTEX)
		arm_futexv(a, req);
	else if (opcode == OP_MSG_RING && state == REQ_LINKED)
		arm_msg_ring(a, req);
	REC_SEND(a);
}

/*
 * The links of a waiting request's chain (req->link onwards): prepared at
 * submission, never issued, so they are in no list of the ring.  Each is
 * reported as a request in state REQ_LINKED with its re-arm details.
 */
struct link_walk {
	__u64 cur;
	__u64 head;
	__u64 ctx;
};

static int link_step(__u32 i, struct link_walk *w)
{
	struct io_kiocb *req = (void *)w->cur;
	struct rec_req *r;

	if (!req)
		return 1;
	r = REC_NEW(struct rec_req, REC_REQ);
	if (r) {
		r->ctx = w->ctx;
		r->req = w->cur;
		r->user_data = BPF_CORE_READ(req, cqe.user_data);
		r->fd = BPF_CORE_READ(req, cqe.fd);
		r->flags = BPF_CORE_READ_BITFIELD_PROBED(req, flags);
		r->opcode = BPF_CORE_READ(req, opcode);
		r->state = REQ_LINKED;
		r->tid = 0;
		REC_SEND(r);
	}
	emit_req_arm(w->cur, w->ctx, REQ_LINKED, w->head, i + 1);
	w->cur = (__u64)BPF_CORE_READ(req, link);
	return 0;
}

static __noinline void emit_links(__u64 req_addr, __u64 ctx_addr)
{
	struct link_walk w = { .head = req_addr, .ctx = ctx_addr };

	w.cur = (__u64)BPF_CORE_READ((struct io_kiocb *)req_addr, link);
	if (w.cur)
		bpf_loop(MAX_LINKS, link_step, &w, 0);
}

/*
 * Waiting requests with a chain, noted while the ring's lists are walked
 * and followed after the walk (walk_inflight): following them from inside
 * the list walks multiplies what the verifier explores past its limit.
 * One ring at a time; a ring with more such requests than fit here gets
 * its first ones' chains (the others are refused at dump, not lost).
 */
#define MAX_LINK_HEADS		256
__u64 link_heads[MAX_LINK_HEADS];
__u32 nr_link_heads;

struct heads_walk {
	__u64 ctx;
};

static int heads_step(__u32 i, struct heads_walk *h)
{
	__u64 idx = i;

	if (i >= nr_link_heads)
		return 1;
	/* keep the bound where the verifier sees it (the compiler would fold it into the check above) */
	asm volatile("" : "+r"(idx));
	idx &= MAX_LINK_HEADS - 1;
	emit_links(link_heads[idx], h->ctx);
	return 0;
}

static __always_inline void emit_req(struct chain_walk *w, __u64 req_addr)
{
	struct io_kiocb *req = (void *)req_addr;
	struct rec_req *r;

	w->count++;
	r = REC_NEW(struct rec_req, REC_REQ);
	if (!r)
		return;
	r->ctx = w->ctx ? w->ctx : (__u64)BPF_CORE_READ(req, ctx);
	r->req = req_addr;
	r->user_data = BPF_CORE_READ(req, cqe.user_data);
	r->fd = BPF_CORE_READ(req, cqe.fd);
	/* 32 bits before 6.10, 64 after */
	r->flags = BPF_CORE_READ_BITFIELD_PROBED(req, flags);
	r->opcode = BPF_CORE_READ(req, opcode);
	r->state = w->state;
	r->tid = w->tid;
	emit_req_arm(req_addr, r->ctx, w->state, 0, 0);
	REC_SEND(r);
	if ((w->state == REQ_POLL || w->state == REQ_TIMEOUT) && BPF_CORE_READ(req, link)) {
		__u32 n = nr_link_heads;

		if (n < MAX_LINK_HEADS) {
			link_heads[n] = req_addr;
			nr_link_heads = n + 1;
		}
	}
}

static int chain_step(__u32 i, struct chain_walk *w)
{
	__u64 node = w->cur, req;

	if (!node || node == w->stop)
		return 1;
	w->cur = read_u64(node);
	req = node - w->node_off;
	if (w->deref_off >= 0) {
		req = read_u64(req + w->deref_off);
		if (!req)
			return 0;
		req -= w->req_off;
	}
	emit_req(w, req);
	return 0;
}

static __noinline __u32 run_chain(struct chain_walk *w)
{
	bpf_loop(MAX_CHAIN, chain_step, w, 0);
	return w->count;
}

#define walk_chain(FIRST, STOP, CTX, NODE_OFF, DEREF_OFF, REQ_OFF, STATE, TID) ({ \
	struct chain_walk __w = {						\
		.cur = (FIRST), .stop = (STOP), .ctx = (CTX),			\
		.node_off = (NODE_OFF), .deref_off = (DEREF_OFF),		\
		.req_off = (REQ_OFF), .state = (STATE), .tid = (TID),		\
	};									\
	run_chain(&__w);							\
})

/* Requests on a list_head threaded through io_timeout.list in req->cmd. */
static __always_inline __u32 walk_timeouts(struct io_ring_ctx *ctx, __u64 head,
					   __u32 state)
{
	__s64 off = bpf_core_field_offset(struct io_kiocb, cmd) +
		    bpf_core_field_offset(struct io_timeout, list);

	return walk_chain(read_u64(head), head, (__u64)ctx, off, -1, 0, state, 0);
}

/* Requests on an hlist threaded through req->hash_node. */
static __always_inline __u32 walk_hash_list(struct io_ring_ctx *ctx, __u64 head,
					    __u32 state)
{
	__s64 off = bpf_core_field_offset(struct io_kiocb, hash_node);

	return walk_chain(read_u64(head), 0, (__u64)ctx, off, -1, 0, state, 0);
}

struct bucket_walk {
	__u64 ctx;
	__u64 hbs;
	__u64 bucket_size;
	__u32 count;
};

static int bucket_step(__u32 i, struct bucket_walk *b)
{
	__u64 head = b->hbs + i * b->bucket_size +
		     bpf_core_field_offset(struct io_hash_bucket, list);

	b->count += walk_hash_list((void *)b->ctx, head, REQ_POLL);
	return 0;
}

static __noinline __u32 walk_inflight(struct io_ring_ctx *ctx)
{
	struct heads_walk hw = { .ctx = (__u64)ctx };
	struct bucket_walk b = { .ctx = (__u64)ctx };
	__u32 bits;
	__s64 off;

	nr_link_heads = 0;
	nr_futexv_heads = 0;
	nr_sendmsg_heads = 0;
	if (bpf_core_field_exists(ctx->cancel_table)) {
		b.hbs = (__u64)BPF_CORE_READ(ctx, cancel_table.hbs);
		bits = BPF_CORE_READ(ctx, cancel_table.hash_bits);
		b.bucket_size = bpf_core_type_size(struct io_hash_bucket);
		if (b.hbs && bits < 20)
			bpf_loop(1u << bits, bucket_step, &b, 0);
	}
	/* before 6.13: requests armed under uring_lock (multishot accept, ...) had their own table */
	if (bpf_core_field_exists(((struct io_ring_ctx___old *)ctx)->cancel_table_locked)) {
		b.hbs = (__u64)BPF_CORE_READ((struct io_ring_ctx___old *)ctx, cancel_table_locked.hbs);
		bits = BPF_CORE_READ((struct io_ring_ctx___old *)ctx, cancel_table_locked.hash_bits);
		b.bucket_size = bpf_core_type_size(struct io_hash_bucket);
		if (b.hbs && bits < 20)
			bpf_loop(1u << bits, bucket_step, &b, 0);
	}
	b.count += walk_timeouts(ctx, (__u64)&ctx->timeout_list, REQ_TIMEOUT);
	b.count += walk_timeouts(ctx, (__u64)&ctx->ltimeout_list, REQ_LTIMEOUT);
	if (bpf_core_field_exists(ctx->futex_list))
		b.count += walk_hash_list(ctx, (__u64)&ctx->futex_list, REQ_FUTEX);
	if (bpf_core_field_exists(ctx->waitid_list))
		b.count += walk_hash_list(ctx, (__u64)&ctx->waitid_list, REQ_WAITID);
	if (bpf_core_field_exists(ctx->cancelable_uring_cmd))
		b.count += walk_hash_list(ctx, (__u64)&ctx->cancelable_uring_cmd,
					  REQ_URING_CMD);
	off = bpf_core_field_offset(struct io_kiocb, comp_list);
	b.count += walk_chain((__u64)BPF_CORE_READ(ctx, iopoll_list.first), 0,
			      (__u64)ctx, off, -1, 0, REQ_IOPOLL, 0);
	/*
	 * DEFER_TASKRUN: completions queued for the owner as local task work
	 * (work_llist, retry_llist).  They are neither in flight elsewhere nor
	 * CQEs yet; missing them would lose them from a checkpoint.
	 */
	off = bpf_core_field_offset(struct io_kiocb, io_task_work) +
	      bpf_core_field_offset(struct io_task_work, node);
	if (bpf_core_field_exists(ctx->work_llist))
		b.count += walk_chain((__u64)BPF_CORE_READ(ctx, work_llist.first), 0,
				      (__u64)ctx, off, -1, 0, REQ_TASK_WORK, 0);
	if (bpf_core_field_exists(ctx->retry_llist))
		b.count += walk_chain((__u64)BPF_CORE_READ(ctx, retry_llist.first), 0,
				      (__u64)ctx, off, -1, 0, REQ_TASK_WORK, 0);
	if (bpf_core_type_exists(struct io_defer_entry)) {
		__u64 head = (__u64)&ctx->defer_list;

		b.count += walk_chain(read_u64(head), head, (__u64)ctx,
				      bpf_core_field_offset(struct io_defer_entry, list),
				      bpf_core_field_offset(struct io_defer_entry, req),
				      0, REQ_DEFERRED, 0);
	}
	if (nr_link_heads)
		bpf_loop(MAX_LINK_HEADS, heads_step, &hw, 0);
	if (nr_futexv_heads) {
		struct futexv_heads_walk fw = { .ctx = (__u64)ctx };

		bpf_loop(MAX_FUTEXV_HEADS, futexv_heads_step, &fw, 0);
	}
	if (nr_sendmsg_heads) {
		struct sendmsg_heads_walk sw = { .ctx = (__u64)ctx };

		bpf_loop(MAX_SENDMSG_HEADS, sendmsg_heads_step, &sw, 0);
	}
	return b.count;
}

/* ------------------------------------------------------------------ */
/* SQ and CQ contents                                                  */

struct ring_walk {
	__u64 ctx;
	__u64 array;		/* sq_array (u32[]), 0 with NO_SQARRAY */
	__u64 base;		/* SQE array or CQE array */
	__u32 head;
	__u32 mask;
	__u32 entries;
	__u32 big;		/* SQE128 / CQE32 */
	__u32 mixed;		/* CQE_MIXED: also copy the next 16-byte slot */
	__u32 pad;
};

static int sqe_step(__u32 i, struct ring_walk *w)
{
	__u32 pos = w->head + i, idx;
	struct rec_sqe *r;

	idx = w->array ? read_u32(w->array + (__u64)(pos & w->mask) * 4)
		       : pos & w->mask;
	if (idx >= w->entries)
		return 0;	/* the kernel will drop this one */
	r = REC_NEW(struct rec_sqe, REC_SQE);
	if (!r)
		return 1;
	r->ctx = w->ctx;
	r->pos = pos;
	r->sqe_idx = idx;
	if (w->big) {
		r->len = 128;
		bpf_probe_read_kernel(r->data, 128, (void *)(w->base + ((__u64)idx << 7)));
	} else {
		r->len = 64;
		bpf_probe_read_kernel(r->data, 64, (void *)(w->base + ((__u64)idx << 6)));
	}
	REC_SEND(r);
	return 0;
}

static int cqe_step(__u32 i, struct ring_walk *w)
{
	__u32 pos = w->head + i;
	struct rec_cqe *r;

	r = REC_NEW(struct rec_cqe, REC_CQE);
	if (!r)
		return 1;
	r->ctx = w->ctx;
	r->pos = pos;
	if (w->big) {
		bpf_probe_read_kernel(r->data, 32,
				      (void *)(w->base + ((__u64)(pos & w->mask) << 5)));
	} else {
		bpf_probe_read_kernel(r->data, 16,
				      (void *)(w->base + ((__u64)(pos & w->mask) << 4)));
		if (w->mixed)
			bpf_probe_read_kernel(r->data + 16, 16,
					      (void *)(w->base + ((__u64)((pos + 1) & w->mask) << 4)));
	}
	REC_SEND(r);
	return 0;
}

struct overflow_walk {
	__u64 ctx;
	__u64 cur;
	__u64 stop;
	__u32 big;
	__u32 n;
};

static int overflow_step(__u32 i, struct overflow_walk *w)
{
	__u64 node = w->cur, cqe;
	struct rec_cqe *r;

	if (!node || node == w->stop)
		return 1;
	w->cur = read_u64(node);
	cqe = node - bpf_core_field_offset(struct io_overflow_cqe, list) +
	      bpf_core_field_offset(struct io_overflow_cqe, cqe);
	r = REC_NEW(struct rec_cqe, REC_CQE);
	if (!r)
		return 1;
	r->ctx = w->ctx;
	r->pos = w->n++;
	r->overflow = 1;
	if (w->big)
		bpf_probe_read_kernel(r->data, 32, (void *)cqe);
	else
		bpf_probe_read_kernel(r->data, 16, (void *)cqe);
	REC_SEND(r);
	return 0;
}

static __noinline void dump_queues(struct io_ring_ctx *ctx, struct rec_ring *rr)
{
	struct io_rings *rings = (void *)rr->rings;
	struct ring_walk w = { .ctx = (__u64)ctx };
	struct overflow_walk ow = { .ctx = (__u64)ctx };
	__u32 n;

	/* Pending SQEs: between the kernel's SQ head and the user's tail. */
	w.array = rr->setup_flags & IORING_SETUP_NO_SQARRAY ? 0 : rr->sq_array;
	w.base = rr->sq_sqes;
	w.head = rr->sq_head;
	w.mask = rr->sq_mask;
	w.entries = rr->sq_entries;
	w.big = !!(rr->setup_flags & IORING_SETUP_SQE128);
	n = rr->sq_tail - rr->sq_head;
	if (n > rr->sq_entries)
		n = rr->sq_entries;
	if (w.base)
		bpf_loop(n, sqe_step, &w, 0);

	/* Unconsumed CQEs: between the user's CQ head and the kernel's tail. */
	w.array = 0;
	w.base = (__u64)rings + bpf_core_field_offset(struct io_rings, cqes);
	w.head = rr->cq_head;
	w.mask = rr->cq_mask;
	w.entries = rr->cq_entries;
	w.big = !!(rr->setup_flags & IORING_SETUP_CQE32);
	w.mixed = !!(rr->setup_flags & IORING_SETUP_CQE_MIXED);
	n = rr->cq_tail - rr->cq_head;
	if (n > rr->cq_entries)
		n = rr->cq_entries;
	if (rings)
		bpf_loop(n, cqe_step, &w, 0);

	ow.stop = (__u64)&ctx->cq_overflow_list;
	ow.cur = read_u64(ow.stop);
	ow.big = w.big || w.mixed;
	bpf_loop(MAX_CHAIN, overflow_step, &ow, 0);
}

/* ------------------------------------------------------------------ */
/* Registered files and buffers                                        */

struct path_walk {
	__u64 ctx;
	__u64 dentry;
	__u64 mnt;		/* struct mount * */
	__u32 index;
	__u32 depth;
};

/*
 * Emit the dentry names from the file up to the root of the mount tree,
 * crossing mount points.  Pseudo files (sockets, pipes, anon inodes) have a
 * dentry that is its own parent and produce nothing.
 */
static int path_step(__u32 i, struct path_walk *p)
{
	struct dentry *d = (void *)p->dentry, *parent;
	struct mount *mnt = (void *)p->mnt, *mparent;
	struct rec_rfile_name *r;

	if (!d)
		return 1;
	if (mnt && (__u64)BPF_CORE_READ(mnt, mnt.mnt_root) == (__u64)d) {
		mparent = BPF_CORE_READ(mnt, mnt_parent);
		if (!mparent || mparent == mnt)
			return 1;
		p->dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		p->mnt = (__u64)mparent;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (!parent || parent == d)
		return 1;
	r = REC_NEW(struct rec_rfile_name, REC_RFILE_NAME);
	if (!r)
		return 1;
	r->ctx = p->ctx;
	r->index = p->index;
	r->depth = p->depth++;
	r->len = BPF_CORE_READ(d, d_name.len);
	bpf_probe_read_kernel_str(r->name, sizeof(r->name), BPF_CORE_READ(d, d_name.name));
	REC_SEND(r);
	p->dentry = (__u64)parent;
	return 0;
}

struct table_walk {
	__u64 ctx;
	__u64 nodes;		/* io_rsrc_node *[], or before 6.13 the slot array */
	__u64 tags;		/* before 6.13: io_rsrc_data.tags (u64 *[]) */
	__u32 count;
	__u32 summary;
};

/* Before 6.13: a slot's tag, from the two-level table of its io_rsrc_data. */
static __always_inline __u64 old_tag(struct table_walk *t, __u32 i)
{
	__u64 page;

	if (!t->tags)
		return 0;
	page = read_u64(t->tags + (__u64)(i >> IO_RSRC_TAG_TABLE_SHIFT) * 8);
	return page ? read_u64(page + (__u64)(i & IO_RSRC_TAG_TABLE_MASK) * 8) : 0;
}

static int rfile_step(__u32 i, struct table_walk *t)
{
	struct io_rsrc_node *node = NULL;
	struct path_walk p = { .ctx = t->ctx, .index = i };
	struct rec_rfile *r;
	struct file *file;
	struct inode *inode;
	struct dentry *d;
	__u64 tag;

	if (bpf_core_field_exists(node->file_ptr)) {
		node = (void *)read_u64(t->nodes + (__u64)i * 8);
		if (!node)
			return 0;
		file = (void *)(BPF_CORE_READ(node, file_ptr) & ~FFS_FLAG_BITS);
		tag = BPF_CORE_READ(node, tag);
	} else {
		/* io_fixed_file: just the file pointer with flag bits */
		file = (void *)(read_u64(t->nodes + (__u64)i * 8) & ~FFS_FLAG_BITS);
		tag = old_tag(t, i);
	}
	if (!file)
		return 0;
	t->count++;
	if (t->summary)
		return 0;
	r = REC_NEW(struct rec_rfile, REC_RFILE);
	if (!r)
		return 1;
	inode = BPF_CORE_READ(file, f_inode);
	d = BPF_CORE_READ(file, f_path.dentry);
	r->ctx = t->ctx;
	r->index = i;
	r->file = (__u64)file;
	r->private_data = (__u64)BPF_CORE_READ(file, private_data);
	r->tag = tag;
	r->f_flags = BPF_CORE_READ(file, f_flags);
	r->pos = BPF_CORE_READ(file, f_pos);
	r->ino = BPF_CORE_READ(inode, i_ino);
	r->i_mode = BPF_CORE_READ(inode, i_mode);
	r->rdev = BPF_CORE_READ(inode, i_rdev);
	r->s_magic = BPF_CORE_READ(inode, i_sb, s_magic);
	r->name_len = BPF_CORE_READ(d, d_name.len);
	bpf_probe_read_kernel_str(r->name, sizeof(r->name), BPF_CORE_READ(d, d_name.name));
	REC_SEND(r);

	p.dentry = (__u64)d;
	p.mnt = (__u64)BPF_CORE_READ(file, f_path.mnt) -
		bpf_core_field_offset(struct mount, mnt);
	bpf_loop(MAX_PATH_STEPS, path_step, &p, 0);
	return 0;
}

static int rbuf_step(__u32 i, struct table_walk *t)
{
	struct io_rsrc_node *node = NULL;
	struct io_mapped_ubuf___old *obuf;
	struct io_mapped_ubuf *buf;
	struct rec_rbuf *r;
	__u64 ubuf, tag;
	__u32 len;

	if (bpf_core_field_exists(node->buf)) {
		node = (void *)read_u64(t->nodes + (__u64)i * 8);
		if (!node)
			return 0;
		buf = BPF_CORE_READ(node, buf);
		if (!buf)
			return 0;
		ubuf = BPF_CORE_READ(buf, ubuf);
		len = BPF_CORE_READ(buf, len);
		tag = BPF_CORE_READ(node, tag);
	} else {
		/* io_mapped_ubuf *[]; empty slots hold a dummy with ubuf ~0 */
		obuf = (void *)read_u64(t->nodes + (__u64)i * 8);
		if (!obuf)
			return 0;
		ubuf = BPF_CORE_READ(obuf, ubuf);
		if (ubuf == ~0ULL)
			return 0;
		if (bpf_core_field_exists(obuf->len))
			len = BPF_CORE_READ(obuf, len);
		else
			len = BPF_CORE_READ(obuf, ubuf_end) - ubuf;
		tag = old_tag(t, i);
		buf = NULL;
	}
	t->count++;
	if (t->summary)
		return 0;
	r = REC_NEW(struct rec_rbuf, REC_RBUF);
	if (!r)
		return 1;
	r->ctx = t->ctx;
	r->index = i;
	r->ubuf = ubuf;
	r->len = len;
	r->tag = tag;
	if (bpf_core_field_exists(buf->is_kbuf) && buf)
		r->is_kbuf = BPF_CORE_READ(buf, is_kbuf);
	REC_SEND(r);
	return 0;
}

static __noinline __u32 walk_files(struct io_ring_ctx *ctx, __u32 nr, bool summary)
{
	struct io_ring_ctx___old *octx = (void *)ctx;
	struct table_walk t = { .ctx = (__u64)ctx, .summary = summary };
	struct io_rsrc_data___old *data;

	if (bpf_core_field_exists(ctx->file_table.data)) {
		t.nodes = (__u64)BPF_CORE_READ(ctx, file_table.data.nodes);
	} else if (bpf_core_field_exists(octx->file_table.files) &&
		   bpf_core_field_exists(octx->file_data)) {
		t.nodes = (__u64)BPF_CORE_READ(octx, file_table.files);
		data = BPF_CORE_READ(octx, file_data);
		if (data)
			t.tags = (__u64)BPF_CORE_READ(data, tags);
	} else {
		return 0;
	}
	if (t.nodes)
		bpf_loop(nr, rfile_step, &t, 0);
	return t.count;
}

static __noinline __u32 walk_bufs(struct io_ring_ctx *ctx, __u32 nr, bool summary)
{
	struct io_ring_ctx___old *octx = (void *)ctx;
	struct table_walk t = { .ctx = (__u64)ctx, .summary = summary };
	struct io_rsrc_data___old *data;

	if (bpf_core_field_exists(ctx->buf_table)) {
		t.nodes = (__u64)BPF_CORE_READ(ctx, buf_table.nodes);
	} else if (bpf_core_field_exists(octx->user_bufs) &&
		   bpf_core_field_exists(octx->buf_data)) {
		t.nodes = (__u64)BPF_CORE_READ(octx, user_bufs);
		data = BPF_CORE_READ(octx, buf_data);
		if (data)
			t.tags = (__u64)BPF_CORE_READ(data, tags);
	} else {
		return 0;
	}
	if (t.nodes)
		bpf_loop(nr, rbuf_step, &t, 0);
	return t.count;
}

/* ------------------------------------------------------------------ */
/* XArrays: personalities and provided buffer groups                   */

static __always_inline bool xa_is_internal(__u64 e)
{
	return (e & 3) == 2;
}

static __always_inline bool xa_is_node(__u64 e)
{
	return xa_is_internal(e) && e > 4096;
}

/* Highest index the tree rooted at head can hold (capped: IDs are u16). */
static __always_inline __u32 xa_index_limit(__u64 head)
{
	struct xa_node *node = (void *)(head - 2);
	__u32 shift;

	if (!head)
		return 0;
	if (!xa_is_node(head))
		return 1;
	shift = BPF_CORE_READ(node, shift);
	if (shift >= 16 - XA_CHUNK_SHIFT + 1)
		return 65536;
	return 64u << shift;
}

static __always_inline __u64 xa_entry_at(__u64 head, __u32 index)
{
	__u64 entry = head;
	int level;

	if (!xa_is_node(entry))
		return index == 0 && !xa_is_internal(entry) ? entry : 0;
	for (level = 0; level < 4; level++) {
		struct xa_node *node = (void *)(entry - 2);
		__u32 shift = BPF_CORE_READ(node, shift);
		__u32 slot = (index >> (shift & 63)) & 63;

		entry = read_u64((__u64)node + bpf_core_field_offset(struct xa_node, slots) +
				 slot * 8);
		if (!xa_is_node(entry))
			return xa_is_internal(entry) ? 0 : entry;
	}
	return 0;
}

struct xa_walk {
	__u64 ctx;
	__u64 head;
};

static int pers_step(__u32 i, struct xa_walk *x)
{
	struct cred *cred = (void *)xa_entry_at(x->head, i);
	struct group_info *gi;
	struct rec_pers *r;
	__u32 n;

	if (!cred)
		return 0;
	r = REC_NEW(struct rec_pers, REC_PERS);
	if (!r)
		return 1;
	r->ctx = x->ctx;
	r->id = i;
	r->uid = BPF_CORE_READ(cred, uid.val);
	r->gid = BPF_CORE_READ(cred, gid.val);
	r->suid = BPF_CORE_READ(cred, suid.val);
	r->sgid = BPF_CORE_READ(cred, sgid.val);
	r->euid = BPF_CORE_READ(cred, euid.val);
	r->egid = BPF_CORE_READ(cred, egid.val);
	r->fsuid = BPF_CORE_READ(cred, fsuid.val);
	r->fsgid = BPF_CORE_READ(cred, fsgid.val);
	bpf_probe_read_kernel(&r->cap_effective, 8, &cred->cap_effective);
	gi = BPF_CORE_READ(cred, group_info);
	n = BPF_CORE_READ(gi, ngroups);
	r->ngroups = n;
	if (n > PERS_MAX_GROUPS)
		n = PERS_MAX_GROUPS;
	if (n > 0 && gi)
		bpf_probe_read_kernel(r->groups, (n & 127) * 4,
				      (void *)gi + bpf_core_field_offset(struct group_info, gid));
	REC_SEND(r);
	return 0;
}

struct legacy_walk {
	__u64 ctx;
	__u64 cur;
	__u64 stop;
	__u32 bgid;
	__u32 n;
};

static int legacy_step(__u32 i, struct legacy_walk *w)
{
	struct io_buffer *buf;
	struct rec_pbuf_buf *r;
	__u64 node = w->cur;

	if (!node || node == w->stop)
		return 1;
	w->cur = read_u64(node);
	buf = (void *)(node - bpf_core_field_offset(struct io_buffer, list));
	r = REC_NEW(struct rec_pbuf_buf, REC_PBUF_BUF);
	if (!r)
		return 1;
	r->ctx = w->ctx;
	r->bgid = w->bgid;
	r->seq = w->n++;
	r->addr = BPF_CORE_READ(buf, addr);
	r->len = BPF_CORE_READ(buf, len);
	r->bid = BPF_CORE_READ(buf, bid);
	REC_SEND(r);
	return 0;
}

/*
 * The flags of a buffer list in the 6.13+ encoding (IOBL_BUF_RING,
 * IOBL_INC), and for rings in application memory their region flags and
 * user address.  6.12 has IOBL_MMAP (kernel memory) and IOBL_INC = 4;
 * 6.1 has no flags: a list with pinned pages is a ring, and every ring is
 * in application memory.
 */
static __always_inline void pbuf_flags(struct io_buffer_list *bl, struct rec_pbuf_list *r)
{
	struct io_buffer_list___old *obl = (void *)bl;
	__u16 f, npages;

	if (bpf_core_field_exists(bl->region)) {
		r->flags = BPF_CORE_READ(bl, flags);
		r->region_flags = BPF_CORE_READ(bl, region.flags);
		r->region_nr_pages = BPF_CORE_READ(bl, region.nr_pages);
		r->user_addr = region_user_addr(&bl->region);
		return;
	}
	npages = BPF_CORE_READ(bl, buf_nr_pages);
	if (bpf_core_field_exists(obl->flags)) {
		f = BPF_CORE_READ(obl, flags);
		r->flags = (f & IOBL_BUF_RING) | (f & IOBL_INC___old ? IOBL_INC : 0);
		if (!(f & IOBL_BUF_RING) || (f & IOBL_MMAP___old))
			return;
	} else {
		if (!npages)
			return;
		r->flags = IOBL_BUF_RING;
	}
	r->region_flags = IO_REGION_F_USER_PROVIDED;
	r->region_nr_pages = npages;
	if (bpf_core_field_exists(obl->buf_pages))
		r->user_addr = page_user_addr(read_u64((__u64)BPF_CORE_READ(obl, buf_pages)));
}

static __noinline int emit_pbuf_list(__u64 ctx, struct io_buffer_list *bl)
{
	struct legacy_walk lw = { .ctx = ctx };
	struct rec_pbuf_list *r;
	__u64 ring;

	if (!bl)
		return 0;
	r = REC_NEW(struct rec_pbuf_list, REC_PBUF_LIST);
	if (!r)
		return 1;
	r->ctx = ctx;
	r->bgid = BPF_CORE_READ(bl, bgid);
	r->nr_entries = BPF_CORE_READ(bl, nr_entries);
	r->head = BPF_CORE_READ(bl, head);
	r->mask = BPF_CORE_READ(bl, mask);
	if (bpf_core_field_exists(bl->nbufs))
		r->nbufs = BPF_CORE_READ(bl, nbufs);
	else
		r->nbufs = -1;
	pbuf_flags(bl, r);
	if (r->flags & IOBL_BUF_RING) {
		ring = (__u64)BPF_CORE_READ(bl, buf_ring);
		r->buf_ring = ring;
		if (ring)
			r->tail = BPF_CORE_READ((struct io_uring_buf_ring *)ring, tail);
		REC_SEND(r);
		return 0;
	}
	lw.bgid = r->bgid;
	REC_SEND(r);
	lw.stop = (__u64)bl + bpf_core_field_offset(struct io_buffer_list, buf_list);
	lw.cur = read_u64(lw.stop);
	bpf_loop(MAX_CHAIN, legacy_step, &lw, 0);
	return 0;
}

static int pbuf_step(__u32 i, struct xa_walk *x)
{
	return emit_pbuf_list(x->ctx, (void *)xa_entry_at(x->head, i));
}

/* 6.1: groups below 64 live in the ctx->io_bl array; unused ones are empty lists. */
static int pbuf_array_step(__u32 i, struct xa_walk *x)
{
	__u64 bl = x->head + (__u64)i * bpf_core_type_size(struct io_buffer_list);
	__u64 list = bl + bpf_core_field_offset(struct io_buffer_list, buf_list);

	if (!BPF_CORE_READ((struct io_buffer_list *)bl, buf_nr_pages) && read_u64(list) == list)
		return 0;
	return emit_pbuf_list(x->ctx, (void *)bl);
}

static __noinline void walk_xarrays(struct io_ring_ctx *ctx)
{
	struct xa_walk x = { .ctx = (__u64)ctx };

	if (bpf_core_field_exists(ctx->personalities)) {
		x.head = (__u64)BPF_CORE_READ(ctx, personalities.xa_head);
		bpf_loop(xa_index_limit(x.head), pers_step, &x, 0);
	}
	if (bpf_core_field_exists(((struct io_ring_ctx___old *)ctx)->io_bl)) {
		x.head = (__u64)BPF_CORE_READ((struct io_ring_ctx___old *)ctx, io_bl);
		if (x.head)
			bpf_loop(BGID_ARRAY___v61, pbuf_array_step, &x, 0);
	}
	if (bpf_core_field_exists(ctx->io_bl_xa)) {
		x.head = (__u64)BPF_CORE_READ(ctx, io_bl_xa.xa_head);
		bpf_loop(xa_index_limit(x.head), pbuf_step, &x, 0);
	}
}

/* ------------------------------------------------------------------ */
/* Ring core state                                                     */

static __always_inline void read_core(struct io_ring_ctx *ctx, struct rec_ring *r)
{
	struct io_ring_ctx___old *octx = (void *)ctx;
	struct io_rings *rings = BPF_CORE_READ(ctx, rings);
	struct io_sq_data *sqd;
	struct task_struct *t;
	struct io_ev_fd *ev;
	__u32 bits = 0;

	r->setup_flags = BPF_CORE_READ(ctx, flags);
	if (BPF_CORE_READ_BITFIELD_PROBED(ctx, restricted))
		bits |= RING_BIT_RESTRICTED;
	if (BPF_CORE_READ_BITFIELD_PROBED(ctx, has_evfd))
		bits |= RING_BIT_HAS_EVFD;
	if (bpf_core_field_exists(ctx->task_complete) &&
	    BPF_CORE_READ_BITFIELD_PROBED(ctx, task_complete))
		bits |= RING_BIT_TASK_COMPLETE;
	if (bpf_core_field_exists(ctx->lockless_cq) &&
	    BPF_CORE_READ_BITFIELD_PROBED(ctx, lockless_cq))
		bits |= RING_BIT_LOCKLESS_CQ;
	if (BPF_CORE_READ_BITFIELD_PROBED(ctx, compat))
		bits |= RING_BIT_COMPAT;
	if (BPF_CORE_READ_BITFIELD_PROBED(ctx, drain_active))
		bits |= RING_BIT_DRAIN_ACTIVE;
	if (bpf_core_field_exists(ctx->iowq_limits_set)) {
		if (BPF_CORE_READ_BITFIELD_PROBED(ctx, iowq_limits_set))
			bits |= RING_BIT_IOWQ_LIMITS;
	}
	r->bits = bits;

	r->submitter_tid = -1;
	if (bpf_core_field_exists(ctx->submitter_task)) {
		t = BPF_CORE_READ(ctx, submitter_task);
		if (t)
			r->submitter_tid = BPF_CORE_READ(t, pid);
	} else {
		r->missing |= MISS_SUBMITTER;
	}

	r->rings = (__u64)rings;
	r->sq_array = (__u64)BPF_CORE_READ(ctx, sq_array);
	r->sq_sqes = (__u64)BPF_CORE_READ(ctx, sq_sqes);
	r->cached_sq_head = BPF_CORE_READ(ctx, cached_sq_head);
	r->sq_entries = BPF_CORE_READ(ctx, sq_entries);
	r->cached_cq_tail = BPF_CORE_READ(ctx, cached_cq_tail);
	r->cq_entries = BPF_CORE_READ(ctx, cq_entries);
	r->check_cq = BPF_CORE_READ(ctx, check_cq);
	if (rings) {
		r->sq_head = BPF_CORE_READ(rings, sq.head);
		r->sq_tail = BPF_CORE_READ(rings, sq.tail);
		r->cq_head = BPF_CORE_READ(rings, cq.head);
		r->cq_tail = BPF_CORE_READ(rings, cq.tail);
		r->sq_mask = BPF_CORE_READ(rings, sq_ring_mask);
		r->cq_mask = BPF_CORE_READ(rings, cq_ring_mask);
		r->sq_dropped = BPF_CORE_READ(rings, sq_dropped);
		r->sq_flags = BPF_CORE_READ(rings, sq_flags.counter);
		r->cq_flags = BPF_CORE_READ(rings, cq_flags);
		r->cq_overflow = BPF_CORE_READ(rings, cq_overflow);
	}

	if (bpf_core_field_exists(ctx->clockid)) {
		r->clockid = BPF_CORE_READ(ctx, clockid);
		r->clock_offset = BPF_CORE_READ(ctx, clock_offset);
	} else {
		r->missing |= MISS_CLOCK;
	}
	r->sq_thread_idle = BPF_CORE_READ(ctx, sq_thread_idle);
	r->hz = CONFIG_HZ;

	if (bpf_core_field_exists(ctx->file_table.data))
		r->nr_files = BPF_CORE_READ(ctx, file_table.data.nr);
	else if (bpf_core_field_exists(octx->file_table.files) &&
		 bpf_core_field_exists(octx->nr_user_files))
		r->nr_files = BPF_CORE_READ(octx, nr_user_files);
	else
		r->missing |= MISS_FILE_TABLE;
	if (bpf_core_field_exists(ctx->buf_table))
		r->nr_bufs = BPF_CORE_READ(ctx, buf_table.nr);
	else if (bpf_core_field_exists(octx->user_bufs) &&
		 bpf_core_field_exists(octx->nr_user_bufs))
		r->nr_bufs = BPF_CORE_READ(octx, nr_user_bufs);
	else
		r->missing |= MISS_BUF_TABLE;
	if (bpf_core_field_exists(ctx->file_alloc_start)) {
		r->file_alloc_start = BPF_CORE_READ(ctx, file_alloc_start);
		r->file_alloc_end = BPF_CORE_READ(ctx, file_alloc_end);
		r->file_alloc_hint = BPF_CORE_READ(ctx, file_table.alloc_hint);
	} else {
		r->missing |= MISS_FILE_ALLOC;
	}

	if (bpf_core_field_exists(ctx->restrictions.registered)) {
		bpf_probe_read_kernel(&r->restr_register_op, 8, &ctx->restrictions.register_op);
		bpf_probe_read_kernel(&r->restr_sqe_op, 8, &ctx->restrictions.sqe_op);
		r->restr_flags_allowed = BPF_CORE_READ(ctx, restrictions.sqe_flags_allowed);
		r->restr_flags_required = BPF_CORE_READ(ctx, restrictions.sqe_flags_required);
		r->restr_registered = BPF_CORE_READ(ctx, restrictions.registered);
	} else {
		r->missing |= MISS_RESTRICTIONS;
	}

	if (bpf_core_field_exists(ctx->iowq_limits)) {
		r->iowq_limits[0] = BPF_CORE_READ(ctx, iowq_limits[0]);
		r->iowq_limits[1] = BPF_CORE_READ(ctx, iowq_limits[1]);
	} else {
		r->missing |= MISS_IOWQ_LIMITS;
	}

	if (bpf_core_field_exists(ctx->napi_track_mode)) {
		r->napi_mode = BPF_CORE_READ(ctx, napi_track_mode);
		r->napi_busy_poll_dt = BPF_CORE_READ(ctx, napi_busy_poll_dt);
		r->napi_prefer = BPF_CORE_READ(ctx, napi_prefer_busy_poll);
	} else if (bpf_core_field_exists(octx->napi_enabled) &&
		   bpf_core_field_exists(ctx->napi_busy_poll_dt)) {
		/* before static tracking: dynamic tracking, on or off */
		r->napi_mode = BPF_CORE_READ(octx, napi_enabled) ?
			       IO_URING_NAPI_TRACKING_DYNAMIC : IO_URING_NAPI_TRACKING_INACTIVE;
		r->napi_busy_poll_dt = BPF_CORE_READ(ctx, napi_busy_poll_dt);
		r->napi_prefer = BPF_CORE_READ(ctx, napi_prefer_busy_poll);
	} else {
		r->missing |= MISS_NAPI;
	}

	if (bpf_core_field_exists(ctx->pers_next))
		r->pers_next = BPF_CORE_READ(ctx, pers_next);
	if (!bpf_core_field_exists(ctx->personalities))
		r->missing |= MISS_PERSONALITIES;
	if (!bpf_core_field_exists(ctx->io_bl_xa))
		r->missing |= MISS_PBUF;

	if (bpf_core_field_exists(ctx->ring_region)) {
		r->ring_uaddr = region_user_addr(&ctx->ring_region);
		r->sqes_uaddr = region_user_addr(&ctx->sq_region);
	} else if (bpf_core_field_exists(octx->ring_pages) &&
		   (r->setup_flags & IORING_SETUP_NO_MMAP)) {
		/* NO_MMAP before regions: the application's pages, pinned */
		r->ring_uaddr = page_user_addr(read_u64((__u64)BPF_CORE_READ(octx, ring_pages)));
		r->sqes_uaddr = page_user_addr(read_u64((__u64)BPF_CORE_READ(octx, sqe_pages)));
	}
	if (bpf_core_field_exists(ctx->param_region)) {
		r->param_uaddr = region_user_addr(&ctx->param_region);
		r->param_ptr = (__u64)BPF_CORE_READ(ctx, param_region.ptr);
		r->param_nr_pages = BPF_CORE_READ(ctx, param_region.nr_pages);
		r->param_flags = BPF_CORE_READ(ctx, param_region.flags);
	} else {
		r->missing |= MISS_PARAM_REGION;
	}
	if (bpf_core_field_exists(ctx->cq_wait_arg)) {
		r->cq_wait_arg = (__u64)BPF_CORE_READ(ctx, cq_wait_arg);
		r->cq_wait_size = BPF_CORE_READ(ctx, cq_wait_size);
	} else {
		r->missing |= MISS_WAIT_ARG;
	}

	r->sqd_thread_tid = -1;
	r->sqd_cpu = -1;
	sqd = BPF_CORE_READ(ctx, sq_data);
	r->sq_data = (__u64)sqd;
	if (sqd) {
		t = BPF_CORE_READ(sqd, thread);
		if (t)
			r->sqd_thread_tid = BPF_CORE_READ(t, pid);
		r->sqd_cpu = BPF_CORE_READ(sqd, sq_cpu);
		r->sqd_idle = BPF_CORE_READ(sqd, sq_thread_idle);
		r->sqd_task_tgid = BPF_CORE_READ(sqd, task_tgid);
	}

	if (bpf_core_field_exists(ctx->io_ev_fd)) {
		ev = BPF_CORE_READ(ctx, io_ev_fd);
		if (ev) {
			r->evfd_ctx = (__u64)BPF_CORE_READ(ev, cq_ev_fd);
			/* a one-bit bitfield before 6.13 */
			r->evfd_async = BPF_CORE_READ_BITFIELD_PROBED(ev, eventfd_async);
		}
	} else {
		r->missing |= MISS_EVENTFD;
	}

	if (!bpf_core_field_exists(ctx->futex_list))
		r->missing |= MISS_FUTEX;
	if (!bpf_core_field_exists(ctx->waitid_list))
		r->missing |= MISS_WAITID;
	if (!bpf_core_field_exists(ctx->cancelable_uring_cmd))
		r->missing |= MISS_URING_CMD;
	if (!bpf_core_field_exists(ctx->cancel_table))
		r->missing |= MISS_CANCEL_TABLE;
}

static __noinline void dump_ring(struct io_ring_ctx *ctx, __u32 tgid, __u64 ino,
				 __u32 via)
{
	bool summary = summary_mode();
	struct rec_counts *c;
	struct rec_ring *r;
	__u32 nfiles, nbufs, ninflight;

	r = REC_NEW(struct rec_ring, REC_RING);
	if (!r)
		return;
	r->ctx = (__u64)ctx;
	r->ino = ino;
	r->tgid = tgid;
	r->via = via;
	read_core(ctx, r);
	nfiles = r->nr_files;
	nbufs = r->nr_bufs;
	if (!summary)
		dump_queues(ctx, r);
	REC_SEND(r);

	nfiles = walk_files(ctx, nfiles, summary);
	nbufs = walk_bufs(ctx, nbufs, summary);
	if (!summary)
		walk_xarrays(ctx);
	ninflight = walk_inflight(ctx);

	if (!summary)
		return;
	c = REC_NEW(struct rec_counts, REC_COUNTS);
	if (!c)
		return;
	c->ctx = (__u64)ctx;
	c->tgid = tgid;
	c->files = nfiles;
	c->bufs = nbufs;
	c->inflight = ninflight;
	REC_SEND(c);
}

/* Dump a ring the first time this run sees it in this process. */
static __always_inline void dump_ring_once(struct io_ring_ctx *ctx, __u32 tgid,
					   __u64 ino, __u32 via)
{
	struct seen_key key = { .ctx = (__u64)ctx, .tgid = tgid };
	__u32 gen = run_gen, *old;

	if (!ctx)
		return;
	old = bpf_map_lookup_elem(&seen, &key);
	if (old && *old == gen)
		return;
	bpf_map_update_elem(&seen, &key, &gen, BPF_ANY);
	dump_ring(ctx, tgid, ino, via);
}

/* ------------------------------------------------------------------ */
/* Iterator programs                                                   */

SEC("iter/task_file")
int uring_files(struct bpf_iter__task_file *it)
{
	struct task_struct *task = it->task;
	struct file *file = it->file;
	struct rec_file *r;
	bool uring;
	__u32 tgid;

	if (!task || !file)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (target_tgid && tgid != target_tgid)
		return 0;
	uring = is_uring_file(file);
	if (summary_mode() && !uring)
		return 0;
	r = REC_NEW(struct rec_file, REC_FILE);
	if (!r)
		return 0;
	r->tgid = tgid;
	r->fd = it->fd;
	r->file = (__u64)file;
	r->private_data = (__u64)BPF_CORE_READ(file, private_data);
	r->ino = BPF_CORE_READ(file, f_inode, i_ino);
	r->f_flags = BPF_CORE_READ(file, f_flags);
	r->i_mode = BPF_CORE_READ(file, f_inode, i_mode);
	r->is_uring = uring;
	REC_SEND(r);
	if (uring)
		dump_ring_once(BPF_CORE_READ(file, private_data), tgid,
			       BPF_CORE_READ(file, f_inode, i_ino), VIA_FD);
	return 0;
}

struct slot_walk {
	__u64 tctx;
	__u32 tgid;
	__u32 tid;
};

static int slot_step(__u32 i, struct slot_walk *s)
{
	struct io_uring_task *tctx = (void *)s->tctx;
	struct rec_rslot *r;
	struct file *file;
	__u64 ino;

	if (i >= REGISTERED_RINGS)
		return 1;
	file = (void *)read_u64((__u64)tctx +
				bpf_core_field_offset(struct io_uring_task, registered_rings) +
				i * 8);
	if (!file)
		return 0;
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	r = REC_NEW(struct rec_rslot, REC_RSLOT);
	if (r) {
		r->ctx = (__u64)BPF_CORE_READ(file, private_data);
		r->file = (__u64)file;
		r->ino = ino;
		r->tgid = s->tgid;
		r->tid = s->tid;
		r->index = i;
		REC_SEND(r);
	}
	dump_ring_once(BPF_CORE_READ(file, private_data), s->tgid, ino, VIA_RSLOT);
	return 0;
}

/*
 * Where one task's io-wq keeps its state: the two accounting classes
 * (bounded, unbounded), the lists of workers and the CPU mask.  Since 6.2
 * in struct io_wq itself (workers listed per class since 6.15, before in
 * one list); in 6.1 in the io_wqe of NUMA node 0 (every node's io_wqe got
 * the same limits and mask).
 */
struct iowq_view {
	__u64 acct;		/* acct[0] */
	__u64 acct_size;
	__u64 nr_off, max_off, work_off;
	__u64 all[2];		/* worker list heads, 0: none */
	__u64 cpumask;		/* address of the mask's bits, 0: unknown */
};

static __always_inline bool iowq_view(struct io_uring_task *tctx, struct iowq_view *v)
{
	struct io_wq *wq = BPF_CORE_READ(tctx, io_wq);
	__u64 wqe;

	if (!wq)
		return false;
	if (bpf_core_field_exists(wq->acct)) {
		v->acct = (__u64)wq + bpf_core_field_offset(struct io_wq, acct);
		v->acct_size = bpf_core_type_size(struct io_wq_acct);
		v->nr_off = bpf_core_field_offset(struct io_wq_acct, nr_workers);
		v->max_off = bpf_core_field_offset(struct io_wq_acct, max_workers);
		v->work_off = bpf_core_field_offset(struct io_wq_acct, work_list);
		if (bpf_core_field_exists(struct io_wq_acct, all_list)) {
			v->all[0] = v->acct + bpf_core_field_offset(struct io_wq_acct, all_list);
			v->all[1] = v->all[0] + v->acct_size;
		} else if (bpf_core_field_exists(((struct io_wq___old *)wq)->all_list)) {
			v->all[0] = (__u64)wq + bpf_core_field_offset(struct io_wq___old, all_list);
		}
		if (bpf_core_field_exists(((struct io_wq___maskptr *)wq)->cpu_mask))
			v->cpumask = read_u64((__u64)wq +
					      bpf_core_field_offset(struct io_wq___maskptr, cpu_mask));
		else if (bpf_core_field_exists(((struct io_wq___maskarr *)wq)->cpu_mask))
			v->cpumask = (__u64)wq + bpf_core_field_offset(struct io_wq___maskarr, cpu_mask);
		return true;
	}
	if (bpf_core_field_exists(((struct io_wq___v61 *)wq)->wqes)) {
		wqe = read_u64((__u64)wq + bpf_core_field_offset(struct io_wq___v61, wqes));
		if (!wqe)
			return false;
		v->acct = wqe + bpf_core_field_offset(struct io_wqe___v61, acct);
		v->acct_size = bpf_core_type_size(struct io_wqe_acct___v61);
		v->nr_off = bpf_core_field_offset(struct io_wqe_acct___v61, nr_workers);
		v->max_off = bpf_core_field_offset(struct io_wqe_acct___v61, max_workers);
		v->work_off = bpf_core_field_offset(struct io_wqe_acct___v61, work_list);
		v->all[0] = wqe + bpf_core_field_offset(struct io_wqe___v61, all_list);
		if (bpf_core_field_exists(((struct io_wqe___v61maskptr *)wqe)->cpu_mask))
			v->cpumask = read_u64(wqe + bpf_core_field_offset(struct io_wqe___v61maskptr,
									  cpu_mask));
		else if (bpf_core_field_exists(((struct io_wqe___v61maskarr *)wqe)->cpu_mask))
			v->cpumask = wqe + bpf_core_field_offset(struct io_wqe___v61maskarr, cpu_mask);
		return true;
	}
	return false;
}

/* Queued and running io-wq work of one task, and its limits and affinity. */
static __noinline void read_iowq(struct io_uring_task *tctx, struct rec_task *r)
{
	struct iowq_view v = {};
	__u64 acct;
	int i;

	if (!iowq_view(tctx, &v))
		return;
	r->has_iowq = 1;
	for (i = 0; i < 2; i++) {
		acct = v.acct + i * v.acct_size;
		r->nr_workers[i] = read_u32(acct + v.nr_off);
		r->max_workers[i] = read_u32(acct + v.max_off);
	}
	if (v.cpumask)
		bpf_probe_read_kernel(r->cpumask, sizeof(r->cpumask), (void *)v.cpumask);
}

/*
 * Completions queued as ordinary task work for this thread (rings without
 * DEFER_TASKRUN): posted when the thread next returns to user space.
 */
static __noinline void walk_task_work(struct io_uring_task *tctx, __u32 tid)
{
	__s64 off = bpf_core_field_offset(struct io_kiocb, io_task_work) +
		    bpf_core_field_offset(struct io_task_work, node);

	if (!bpf_core_field_exists(tctx->task_list))
		return;
	walk_chain((__u64)BPF_CORE_READ(tctx, task_list.first), 0, 0, off, -1, 0,
		   REQ_TASK_WORK, tid);
}

static __noinline void walk_iowq(struct io_uring_task *tctx, __u32 tid)
{
	__s64 work_off = bpf_core_field_offset(struct io_kiocb, work);
	struct iowq_view v = {};
	__u64 head;
	int i;

	if (!iowq_view(tctx, &v))
		return;
	for (i = 0; i < 2; i++) {
		head = v.acct + i * v.acct_size + v.work_off;
		walk_chain(read_u64(head), 0, 0, work_off, -1, 0, REQ_IOWQ_QUEUED, tid);
		head = v.all[i];
		if (head)
			walk_chain(read_u64(head), head, 0,
				   bpf_core_field_offset(struct io_worker, all_list),
				   bpf_core_field_offset(struct io_worker, cur_work),
				   work_off, REQ_IOWQ_RUNNING, tid);
	}
}

SEC("iter/task")
int uring_tasks(struct bpf_iter__task *it)
{
	struct task_struct *task = it->task;
	struct io_uring_task *tctx;
	struct slot_walk s = {};
	struct rec_task *r;
	__u32 tgid, tid;

	if (!task)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	tid = BPF_CORE_READ(task, pid);
	if (target_tgid && tgid != target_tgid)
		return 0;
	tctx = BPF_CORE_READ(task, io_uring);
	if (summary_mode() && !tctx && tid != tgid)
		return 0;

	r = REC_NEW(struct rec_task, REC_TASK);
	if (!r)
		return 0;
	r->tgid = tgid;
	r->tid = tid;
	r->pf_flags = BPF_CORE_READ(task, flags);
	bpf_probe_read_kernel_str(r->comm, sizeof(r->comm), &task->comm);
	r->has_tctx = !!tctx;
	if (tctx)
		read_iowq(tctx, r);
	REC_SEND(r);
	if (!tctx)
		return 0;

	s.tctx = (__u64)tctx;
	s.tgid = tgid;
	s.tid = tid;
	bpf_loop(REGISTERED_RINGS, slot_step, &s, 0);
	walk_iowq(tctx, tid);
	walk_task_work(tctx, tid);
	return 0;
}

SEC("iter/task_vma")
int uring_vmas(struct bpf_iter__task_vma *it)
{
	struct task_struct *task = it->task;
	struct vm_area_struct *vma = it->vma;
	struct rec_vma *r;
	struct file *file;
	__u32 tgid;
	__u64 ino;

	if (!task || !vma)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (target_tgid && tgid != target_tgid)
		return 0;
	file = BPF_CORE_READ(vma, vm_file);
	if (!is_uring_file(file))
		return 0;
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	r = REC_NEW(struct rec_vma, REC_VMA);
	if (r) {
		r->ctx = (__u64)BPF_CORE_READ(file, private_data);
		r->ino = ino;
		r->start = BPF_CORE_READ(vma, vm_start);
		r->end = BPF_CORE_READ(vma, vm_end);
		r->pgoff = BPF_CORE_READ(vma, vm_pgoff);
		r->vm_flags = BPF_CORE_READ(vma, vm_flags);
		r->tgid = tgid;
		REC_SEND(r);
	}
	dump_ring_once(BPF_CORE_READ(file, private_data), tgid, ino, VIA_VMA);
	return 0;
}
