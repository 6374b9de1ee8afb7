/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef CRIU_URING_PLAN_H
#define CRIU_URING_PLAN_H

/*
 * Execute the restore plan the Node helper sends for process @pid (the
 * lines up to "end"; format in src/restore/plan.ts).  Returns 0 when every
 * step succeeded; on failure the reason is logged and the remaining lines
 * are drained so the protocol stays in step.
 */
int plan_execute(int pid);

#endif
