/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef CRIU_URING_HELPER_H
#define CRIU_URING_HELPER_H

#include <stddef.h>

/*
 * The plugin's channel to its Node helper process (src/plugin/helper.ts),
 * which does the io_uring logic: capture, images, restore planning.
 * Requests and replies are single text lines; see docs/plugin-protocol.md.
 */
/*
 * The protocol version, sent in "hello" and echoed by the helper
 * (src/plugin/protocol.ts PROTOCOL_VERSION): a plugin and a helper from
 * different builds refuse each other instead of misreading each other.
 */
#define HELPER_PROTOCOL "criu-uring-8"

/*
 * Start the helper and send "hello"; its reply is read by the first
 * helper_call(), so Node starts while CRIU goes on.
 */
int helper_start(const char *stage);
/* Close its stdin and wait (bounded) for it to exit, logging its stderr. */
void helper_stop(void);
/* The work is done and answered: log its stderr, kill it, do not wait. */
void helper_release(void);

/*
 * Send one request line (no newline) and read one reply line into @reply.
 * Returns 0 for "ok ...", 1 for "notmine", -1 for "err ..." (the whole
 * message is logged) or a dead, hung (past the deadline) or garbled
 * helper.  @reply gets the text after the status word (cut to @size).
 */
int helper_call(char *reply, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * The same for a request whose reply includes the helper's start-up work
 * (the dump's pause: drain and warm-up): its deadline is
 * CRIU_URING_HELPER_TIMEOUT_MS, like the hello reply's, never the
 * shorter CRIU_URING_HELPER_STEP_MS of the other replies.
 */
int helper_call_startup(char *reply, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Read the next line of a multi-line reply (a restore plan); NULL if the
 * helper died.  The line is valid until the next read.
 */
char *helper_read_line(void);


#endif
