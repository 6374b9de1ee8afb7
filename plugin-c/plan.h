/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef CRIU_URING_PLAN_H
#define CRIU_URING_PLAN_H

/*
 * Execute the plan the Node helper sends for process @pid (the lines up
 * to "end"; format in src/restore/plan.ts); @doing names it in errors
 * ("restoring the rings", "dumping the rings").  Returns 0 when every step
 * succeeded.  After a failure only the cleanup steps ("always ...") run,
 * the other lines are drained so the protocol stays in step, and the
 * reason is logged.
 */
int plan_execute(int pid, const char *doing);

#endif
