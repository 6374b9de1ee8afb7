/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef CRIU_URING_EINTR_H
#define CRIU_URING_EINTR_H

#include <sys/types.h>

/*
 * Threads of @pid that were waiting for completions in io_uring_enter when
 * CRIU's freeze interrupted them are rewound to re-issue the call, as the
 * kernel does for restartable system calls.  Returns how many, or -1.
 */
int rewind_interrupted_waits(pid_t pid);

#endif
