/*
 * When the dump's capture of a ring is final (src/plugin/verify.ts,
 * sqpollTaking): an SQPOLL ring whose thread is awake with published SQEs
 * it has not taken is not, since the thread is not frozen with the tree
 * and takes them whenever it next runs; the dump then abandoned itself
 * at the check after it (changedSince) on busy SQPOLL programs.  No root
 * needed.
 */
import t from 'tap';
import type { RingState } from '../src/capture/model';
import { sqpollTaking } from '../src/plugin/verify';
import { SETUP, SQ } from '../src/uring/abi';

function ring(setup: number, head: number, tail: number, flags: number, disabled = false): RingState {
	return { setup_flags: setup, disabled, sq: { head, tail, cached_head: head, dropped: 0, flags } } as unknown as RingState;
}

t.test('the capture waits only for an awake SQPOLL thread with SQEs to take', async (t) => {
	t.ok(sqpollTaking(ring(SETUP.SQPOLL, 10, 12, 0)), 'awake, 2 SQEs published: it will take them');
	t.notOk(sqpollTaking(ring(SETUP.SQPOLL, 10, 12, SQ.NEED_WAKEUP)), 'asleep: it takes nothing until woken (cr_sqpend)');
	t.notOk(sqpollTaking(ring(SETUP.SQPOLL, 12, 12, 0)), 'nothing published');
	t.notOk(sqpollTaking(ring(SETUP.SQPOLL | SETUP.R_DISABLED, 10, 12, 0, true)), 'never enabled: no thread yet');
	t.notOk(sqpollTaking(ring(0, 10, 12, 0)), 'no SQPOLL: SQEs wait for io_uring_enter');
	t.ok(sqpollTaking(ring(SETUP.SQPOLL, 0xfffffffe, 1, 0)), 'across the u32 wrap');
});
