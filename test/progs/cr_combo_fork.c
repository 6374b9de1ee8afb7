// SPDX-License-Identifier: GPL-2.0-only
/*
 * cr_combo_fork [--busy]
 *
 * A reviewer-style checkpoint/restore test written with liburing: a ring
 * shared by a parent and its fork()ed child (the parent submits, the child
 * reaps), personalities registered by helper threads that switched their
 * own credentials (raw setresuid/setresgid, which change only the calling
 * thread), and a second ring of the child's own.
 *
 * Parent ring P (plain): registered file table [data file], personality
 * P1 (uid/gid 1000) registered by a helper thread.  Child ring C
 * (SINGLE_ISSUER|DEFER_TASKRUN, set up with R_DISABLED so that the child's
 * helper thread may register personality P2 (uid/gid 1001) before the
 * child's main thread enables it and becomes its submitter).
 *
 * A round: the parent submits on P (1) OPENAT of a root-only 0600 file
 * with personality P1 (must fail with EACCES), (2) OPENAT O_CREAT of a new
 * file with P1 (must be owned by uid 1000), (3) a WRITE through registered
 * file 0; then tells the child over a pipe, which waits on P, reaps and
 * checks the three CQEs (stat of the created file, the written block read
 * back) and acknowledges.  The child also runs its own round on C: OPENAT
 * O_CREAT with P2 (owned by uid 1001) and the root-only file with P2
 * (EACCES).
 *
 * Quiet mode (default): one round's CQEs left unreaped in P and one OPENAT
 * CQE unreaped in C; truth file (with the child's pid); wait for SIGUSR1;
 * then the child checks those CQEs and 20 more rounds run.  --busy: rounds
 * from the start until SIGUSR1, dumps at random moments.
 *
 * The parent prints "verified" ("N verified rounds" with --busy) and exits
 * 0 only when the child exited 0 and every check passed; otherwise a
 * one-line reason on stderr (from whichever process found it) and exit 1.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
/* first: our 6.18 ABI header, which liburing 2.3's older copy then defers to */
#include "lib/uring.h"
#include "lib/combo.h"

#define BLOCK		4096
#define NR_BLOCKS	16
#define UID_P		1000
#define UID_C		1001

enum op { OP_DENIED = 1, OP_CREATE = 2, OP_WRITE = 3 };

static struct io_uring ring_p, ring_c;
static int pers_p, pers_c;
static int data_fd;
static int go_pipe[2], ack_pipe[2];	/* parent -> child commands, child -> parent acks */
static uint8_t *wbuf;
static char dir[4096], secret[4096];

/* ---- credentials of one thread ---- */

struct pers_req {
	struct io_uring *ring;
	uid_t uid;
	int id;		/* out: personality id or -errno */
};

static void *register_as(void *arg)
{
	struct pers_req *req = arg;

	/* the raw system calls change this thread's credentials only */
	if (syscall(SYS_setresgid, req->uid, req->uid, req->uid) || syscall(SYS_setresuid, req->uid, req->uid, req->uid)) {
		req->id = -errno;
		return NULL;
	}
	req->id = io_uring_register_personality(req->ring);
	return NULL;
}

static int personality_of(struct io_uring *ring, uid_t uid)
{
	struct pers_req req = { ring, uid, 0 };
	pthread_t th;

	errno = pthread_create(&th, NULL, register_as, &req);
	if (errno || (errno = pthread_join(th, NULL)))
		die("helper thread");
	if (req.id < 0)
		die_err(-req.id, "registering a personality as uid %u", uid);
	return req.id;
}

/* ---- helpers ---- */

static void fill(uint32_t tag)
{
	for (unsigned int i = 0; i < BLOCK / 4; i++)
		((uint32_t *)wbuf)[i] = tag * 2654435761u + i;
}

static bool holds(const uint8_t *b, uint32_t tag)
{
	for (unsigned int i = 0; i < BLOCK / 4; i++)
		if (((const uint32_t *)b)[i] != tag * 2654435761u + i)
			return false;
	return true;
}

static const char *created_path(char who, uint64_t round)
{
	static char path[4200];

	snprintf(path, sizeof(path), "%s/%c-%" PRIu64, dir, who, round);
	return path;
}

static struct io_uring_sqe *get_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe)
		die_err(EBUSY, "SQ full");
	return sqe;
}

static void prep_open(struct io_uring *r, const char *path, int flags, int pers, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	io_uring_prep_openat(sqe, AT_FDCWD, path, flags | O_CLOEXEC, 0644);
	sqe->personality = pers;
	io_uring_sqe_set_data64(sqe, ud);
}

static void write_byte(int fd, char c)
{
	while (write(fd, &c, 1) != 1)
		if (errno != EINTR)
			die("pipe write");
}

static char read_byte(int fd)
{
	char c;
	ssize_t n;

	while ((n = read(fd, &c, 1)) != 1)
		if (n == 0 || errno != EINTR)
			die_err(n == 0 ? EPIPE : errno, "pipe read");
	return c;
}

/*
 * The file a ring created is owned by @uid; @own_fd: the fd it returned is
 * in this process (the submitter's fd table), else in the parent's.
 */
static void check_created(const struct io_uring_cqe *cqe, const char *path, uid_t uid, bool own_fd)
{
	struct stat st;

	if (cqe->res < 0)
		die_err(-cqe->res, "creating %s as uid %u", path, uid);
	if ((own_fd && fstat(cqe->res, &st)) || stat(path, &st))
		die("stat of %s", path);
	if (st.st_uid != uid)
		die_err(EPERM, "%s is owned by uid %u, expected %u", path, st.st_uid, uid);
}

/* ---- the parent's side of a round: submit on P ---- */

static void parent_submit(uint64_t round)
{
	struct io_uring_sqe *sqe;
	int ret;

	prep_open(&ring_p, secret, O_RDONLY, pers_p, round << 2 | OP_DENIED);
	prep_open(&ring_p, created_path('p', round), O_CREAT | O_EXCL | O_WRONLY, pers_p, round << 2 | OP_CREATE);
	fill((uint32_t)round);
	sqe = get_sqe(&ring_p);
	io_uring_prep_write(sqe, 0, wbuf, BLOCK, (round % NR_BLOCKS) * BLOCK);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, round << 2 | OP_WRITE);
	ret = io_uring_submit_and_wait(&ring_p, 3);
	if (ret < 0)
		die_err(-ret, "submitting round %" PRIu64, round);
}

/* ---- the child's side: reap P, and its own ring C ---- */

/* Returns the fd the parent's OPENAT installed in the parent, for it to close. */
static int child_reap_p(uint64_t round)
{
	int parent_fd = -1;
	uint8_t block[BLOCK];

	unsigned int seen = 0;

	/* independent requests: an OPENAT that goes async may complete last */
	for (int i = 0; i < 3; i++) {
		struct io_uring_cqe *cqe = wait_cqe(&ring_p, "a CQE of the parent's ring");
		unsigned int op = cqe->user_data & 3;

		if (cqe->user_data >> 2 != round || !op || seen & (1u << op))
			die_err(EIO, "parent ring CQE user_data %llx in round %" PRIu64,
				(unsigned long long)cqe->user_data, round);
		seen |= 1u << op;
		if (op == OP_DENIED && cqe->res != -EACCES)
			die_err(EIO, "uid %u opened a root-only file: res %d", UID_P, cqe->res);
		if (op == OP_CREATE)
			check_created(cqe, created_path('p', round), UID_P, false);
		if (op == OP_CREATE)
			parent_fd = cqe->res;
		if (op == OP_WRITE && cqe->res != BLOCK)
			die_err(EIO, "write of round %" PRIu64 " returned %d", round, cqe->res);
		io_uring_cqe_seen(&ring_p, cqe);
	}
	if (pread(data_fd, block, BLOCK, (off_t)(round % NR_BLOCKS) * BLOCK) != BLOCK)
		die("reading block back");
	if (!holds(block, (uint32_t)round))
		die_err(EIO, "block of round %" PRIu64 " does not hold the parent's data", round);
	return parent_fd;
}

static void child_submit_c(uint64_t round)
{
	int ret;

	prep_open(&ring_c, created_path('c', round), O_CREAT | O_EXCL | O_WRONLY, pers_c, round << 2 | OP_CREATE);
	ret = io_uring_submit_and_wait(&ring_c, 1);
	if (ret < 0)
		die_err(-ret, "child submit");
}

static void child_reap_c(uint64_t round)
{
	struct io_uring_cqe *cqe = wait_cqe(&ring_c, "the child's OPENAT");

	if (cqe->user_data != (round << 2 | OP_CREATE))
		die_err(EIO, "child ring CQE user_data %llx", (unsigned long long)cqe->user_data);
	check_created(cqe, created_path('c', round), UID_C, true);
	close(cqe->res);
	io_uring_cqe_seen(&ring_c, cqe);

	prep_open(&ring_c, secret, O_RDONLY, pers_c, round << 2 | OP_DENIED);
	if (io_uring_submit_and_wait(&ring_c, 1) < 0)
		die("child submit");
	cqe = wait_cqe(&ring_c, "the child's denied OPENAT");
	if (cqe->user_data != (round << 2 | OP_DENIED) || cqe->res != -EACCES)
		die_err(EIO, "uid %u opened a root-only file: res %d", UID_C, cqe->res);
	io_uring_cqe_seen(&ring_c, cqe);
}

/*
 * The child: its own ring, then commands from the parent.  'r': a round
 * is in P, reap it and do one on C; 's': the state left at the checkpoint
 * (round 0 in P and C) is there, check it; 'q': done.
 */
static int child_main(int ready_fd)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
	};
	uint64_t round = 0;
	int parent_fd, ret = io_uring_queue_init_params(8, &ring_c, &p);

	if (ret < 0)
		die_err(-ret, "child ring");
	pers_c = personality_of(&ring_c, UID_C);
	/* io_uring_enable_rings() is declared by liburing 2.3 but not exported */
	if (sys_io_uring_register(ring_c.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0))
		die("enabling the child ring");
	child_submit_c(0);	/* left unreaped until 's' (or reaped now with --busy) */
	write_byte(ready_fd, 'y');
	close(ready_fd);
	for (;;) {
		char c = read_byte(go_pipe[0]);

		if (c == 'q')
			return 0;
		if (c == 's') {
			child_reap_c(0);
			parent_fd = child_reap_p(0);
		} else {
			round++;
			parent_fd = child_reap_p(round);
			child_submit_c(round);
			child_reap_c(round);
		}
		/* the ack: the fd the parent's OPENAT created, for the parent to close */
		while (write(ack_pipe[1], &parent_fd, sizeof(parent_fd)) != sizeof(parent_fd))
			if (errno != EINTR)
				die("ack");
	}
}

static void setup_parent(void)
{
	struct io_uring_params p = { 0 };
	int ret, fd;

	snprintf(dir, sizeof(dir), "%s", scratch_path("cr_combo_fork.d"));
	/* uids 1000 and 1001 create files in dir: let them through the scratch dir */
	if (getenv("TRUTH_FILE") && chmod(scratch_path("."), 0711))
		die("chmod of the scratch dir");
	snprintf(secret, sizeof(secret), "%s", scratch_path("cr_combo_fork.secret"));
	if ((mkdir(dir, 0777) && errno != EEXIST) || chmod(dir, 0777))
		die("creating %s", dir);
	fd = open(secret, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("creating %s", secret);
	close(fd);
	data_fd = open(scratch_path("cr_combo_fork.data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (data_fd < 0 || ftruncate(data_fd, BLOCK * NR_BLOCKS))
		die("data file");
	wbuf = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (wbuf == MAP_FAILED)
		die("buffer");
	ret = io_uring_queue_init_params(16, &ring_p, &p);
	if (ret < 0)
		die_err(-ret, "parent ring");
	ret = io_uring_register_files(&ring_p, &data_fd, 1);
	if (ret < 0)
		die_err(-ret, "registering the data file");
	pers_p = personality_of(&ring_p, UID_P);
	if (pipe(go_pipe) || pipe(ack_pipe))
		die("pipe");
}

static unsigned long inode_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat");
	return st.st_ino;
}

static void write_truth(pid_t child)
{
	struct truth *t = truth_new();

	truth_int(t, "pid", getpid());
	truth_int(t, "child", child);
	truth_int(t, "ring_inode", inode_of(ring_p.ring_fd));
	truth_write(t);
}

static void round_trip(char cmd)
{
	write_byte(go_pipe[1], cmd);
	int fd;
	ssize_t n;

	while ((n = read(ack_pipe[0], &fd, sizeof(fd))) != sizeof(fd))
		if (n == 0 || (n < 0 && errno != EINTR))
			die_err(n < 0 ? errno : EPIPE, "no ack from the child");
	if (close(fd))
		die("closing fd %d the ring opened", fd);
}

static void finish(pid_t child)
{
	int status;

	write_byte(go_pipe[1], 'q');
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			die("waiting for the child");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		die_err(EIO, "the child failed (status %#x)", status);
}

int main(int argc, char **argv)
{
	bool is_busy = false;
	int ready[2];
	pid_t child;
	uint64_t round = 0;

	stop_signals_init(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--busy"))
			is_busy = true;
		else
			die_err(EINVAL, "unknown argument %s", argv[i]);
	}
	signal(SIGPIPE, SIG_IGN);	/* a dead child: EPIPE and a message, not a silent death */
	setup_parent();
	if (pipe(ready))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		/* unused ends closed, so that either side sees EOF when the other dies */
		close(ready[0]);
		close(go_pipe[1]);
		close(ack_pipe[0]);
		exit(child_main(ready[1]));
	}
	close(ready[1]);
	close(go_pipe[0]);
	close(ack_pipe[1]);
	if (read_byte(ready[0]) != 'y')
		die_err(EPROTO, "child not ready");
	close(ready[0]);
	parent_submit(0);	/* round 0: left in P for the child until 's' */
	if (is_busy) {
		round_trip('s');
		write_truth(child);
		while (!stop_requested()) {
			parent_submit(++round);
			round_trip('r');
		}
		finish(child);
		printf("%" PRIu64 " verified rounds\n", round);
		return 0;
	}
	write_truth(child);
	wait_for_stop();
	if (io_uring_cq_ready(&ring_p) != 3)
		die_err(EIO, "%u CQEs in the parent's ring after the restore, expected 3", io_uring_cq_ready(&ring_p));
	round_trip('s');
	while (++round <= 20) {
		parent_submit(round);
		round_trip('r');
	}
	finish(child);
	printf("verified\n");
	return 0;
}
