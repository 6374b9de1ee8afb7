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

/*
 * The same with the lines from @next_line (NULL: none left, which fails
 * the plan, as a dead helper does): a plan the dump saved (saved_plan.c).
 * The lines may be modified.
 */
int plan_run(int pid, const char *doing, char *(*next_line)(void *arg), void *arg);


#endif
