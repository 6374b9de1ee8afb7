// SPDX-License-Identifier: GPL-2.0-only
/*
 * insp_abi: our include/linux/io_uring.h against the running kernel.
 * Compile time: sizes and offsets of the ABI structs.  Run time: the
 * kernel's own counts (REGISTER_QUERY) and the setup offsets it returns
 * for a known ring.  Truth: what the kernel said and what the header says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "uring.h"

_Static_assert(sizeof(struct io_uring_sqe) == 64, "sqe is 64 bytes");
_Static_assert(sizeof(struct io_uring_cqe) == 16, "cqe is 16 bytes");
_Static_assert(sizeof(struct io_uring_params) == 120, "params is 120 bytes");
_Static_assert(sizeof(struct io_sqring_offsets) == 40, "sq offsets are 40 bytes");
_Static_assert(sizeof(struct io_cqring_offsets) == 40, "cq offsets are 40 bytes");
_Static_assert(offsetof(struct io_uring_sqe, len) == 24, "sqe.len");
_Static_assert(offsetof(struct io_uring_sqe, rw_flags) == 28, "sqe.rw_flags");
_Static_assert(offsetof(struct io_uring_sqe, user_data) == 32, "sqe.user_data");
_Static_assert(offsetof(struct io_uring_sqe, buf_index) == 40, "sqe.buf_index");
_Static_assert(offsetof(struct io_uring_sqe, personality) == 42, "sqe.personality");
_Static_assert(offsetof(struct io_uring_sqe, file_index) == 44, "sqe.file_index");
_Static_assert(offsetof(struct io_uring_sqe, addr3) == 48, "sqe.addr3");
_Static_assert(offsetof(struct io_uring_sqe, cmd) == 48, "sqe.cmd");
_Static_assert(offsetof(struct io_uring_cqe, big_cqe) == 16, "cqe.big_cqe");
_Static_assert(offsetof(struct io_uring_params, wq_fd) == 24, "params.wq_fd");
_Static_assert(offsetof(struct io_uring_params, sq_off) == 40, "params.sq_off");
_Static_assert(offsetof(struct io_uring_params, cq_off) == 80, "params.cq_off");
_Static_assert(offsetof(struct io_sqring_offsets, user_addr) == 32, "sq_off.user_addr");
_Static_assert(sizeof(struct io_uring_rsrc_register) == 32, "rsrc_register");
_Static_assert(sizeof(struct io_uring_rsrc_update2) == 32, "rsrc_update2");
_Static_assert(sizeof(struct io_uring_probe_op) == 8, "probe_op");
_Static_assert(sizeof(struct io_uring_probe) == 16, "probe");
_Static_assert(sizeof(struct io_uring_restriction) == 16, "restriction");
_Static_assert(sizeof(struct io_uring_buf) == 16, "buf");
_Static_assert(sizeof(struct io_uring_buf_ring) == 16, "buf_ring");
_Static_assert(offsetof(struct io_uring_buf_ring, tail) == 14, "buf_ring.tail");
_Static_assert(sizeof(struct io_uring_buf_reg) == 40, "buf_reg");
_Static_assert(sizeof(struct io_uring_buf_status) == 40, "buf_status");
_Static_assert(sizeof(struct io_uring_napi) == 16, "napi");
_Static_assert(sizeof(struct io_uring_clone_buffers) == 32, "clone_buffers");
_Static_assert(sizeof(struct io_uring_sync_cancel_reg) == 64, "sync_cancel_reg");
_Static_assert(sizeof(struct io_uring_getevents_arg) == 24, "getevents_arg");
_Static_assert(sizeof(struct io_uring_region_desc) == 64, "region_desc");
_Static_assert(sizeof(struct io_uring_mem_region_reg) == 32, "mem_region_reg");
_Static_assert(sizeof(struct io_uring_reg_wait) == 64, "reg_wait");
_Static_assert(sizeof(struct io_uring_query_hdr) == 40, "query_hdr");
_Static_assert(sizeof(struct io_uring_query_opcode) == 48, "query_opcode");
_Static_assert(sizeof(struct io_uring_zcrx_ifq_reg) == 96, "zcrx_ifq_reg");
_Static_assert(IORING_OP_LAST == 63, "63 opcodes on 6.18");
_Static_assert(IORING_REGISTER_LAST == 36, "36 register opcodes on 6.18");

static void query_kernel(struct io_uring_query_opcode *q, int *result)
{
	struct io_uring_query_hdr hdr;

	memset(&hdr, 0, sizeof(hdr));
	memset(q, 0, sizeof(*q));
	hdr.query_op = IO_URING_QUERY_OPCODES;
	hdr.query_data = (__u64)(uintptr_t)q;
	hdr.size = sizeof(*q);
	if (sys_io_uring_register(-1, IORING_REGISTER_QUERY, &hdr, 0) < 0)
		die("io_uring_register(QUERY)");
	*result = hdr.result;
}

int main(int argc, char **argv)
{
	struct io_uring_query_opcode q;
	struct truth *t;
	struct ring r;
	int result;

	(void)argc;
	stop_signals_init(argv[0]);
	query_kernel(&q, &result);
	ring_create_or_die(&r, 8, NULL);

	t = truth_new();
	truth_int(t, "pid", getpid());
	truth_obj(t, "kernel");
	truth_int(t, "query_result", result);
	truth_int(t, "nr_request_opcodes", q.nr_request_opcodes);
	truth_int(t, "nr_register_opcodes", q.nr_register_opcodes);
	truth_int(t, "ring_setup_flags", (long long)q.ring_setup_flags);
	truth_int(t, "sqe_flags", (long long)q.sqe_flags);
	truth_int(t, "enter_flags", (long long)q.enter_flags);
	truth_int(t, "features", r.p.features);
	truth_int(t, "sq_off_array", r.p.sq_off.array);
	truth_int(t, "cq_off_cqes", r.p.cq_off.cqes);
	truth_end(t);
	truth_obj(t, "header");
	truth_int(t, "nr_request_opcodes", IORING_OP_LAST);
	truth_int(t, "nr_register_opcodes", IORING_REGISTER_LAST);
	truth_int(t, "ring_setup_flags", (IORING_SETUP_CQE_MIXED << 1) - 1);
	truth_int(t, "sqe_flags", (IOSQE_CQE_SKIP_SUCCESS << 1) - 1);
	truth_int(t, "enter_flags", (IORING_ENTER_NO_IOWAIT << 1) - 1);
	truth_int(t, "features", (IORING_FEAT_NO_IOWAIT << 1) - 1);
	truth_end(t);
	truth_arr(t, "rings");
	truth_obj(t, NULL);
	truth_ring_common(t, &r, &r.fd, 1, 0, 0);
	truth_end(t);
	truth_end(t);
	truth_write(t);
	wait_for_stop();
	return 0;
}
