/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the liburing-based test programs (cr_combo_*.c, the
 * "reviewer-style" programs): a block pattern that names the write it
 * came from, and a CQE wait that survives the EINTR a checkpoint causes.
 * Header-only: only these programs link liburing.
 */
#ifndef TEST_PROGS_COMBO_H
#define TEST_PROGS_COMBO_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>
#include "uring.h"

#define COMBO_BLOCK	4096

/* Fill a block with the pattern of @tag. */
static inline void block_fill(uint8_t *b, uint32_t tag)
{
	for (unsigned int i = 0; i < COMBO_BLOCK / 4; i++)
		((uint32_t *)b)[i] = tag * 2654435761u + i;
}

/* Whether a block holds the pattern of @tag. */
static inline bool block_holds(const uint8_t *b, uint32_t tag)
{
	for (unsigned int i = 0; i < COMBO_BLOCK / 4; i++)
		if (((const uint32_t *)b)[i] != tag * 2654435761u + i)
			return false;
	return true;
}

/* The next CQE of @r, waiting through EINTR; exits with a message on error. */
static inline struct io_uring_cqe *wait_cqe(struct io_uring *r, const char *what)
{
	struct io_uring_cqe *cqe;
	int ret;

	do
		ret = io_uring_wait_cqe(r, &cqe);
	while (ret == -EINTR);
	if (ret < 0)
		die_err(-ret, "waiting for %s", what);
	return cqe;
}

#endif
