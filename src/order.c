/*
 * The window and the output: jobs from the feeder wait here for a worker,
 * and their outputs are written in input order.  The job at the head of
 * the window owns standard output ("live"): its worker writes what it
 * reads straight through.  Later jobs' outputs are held, in memory up to
 * --max-memory and past that in an unlinked temporary file, until the
 * thread that finishes the head job writes them out and hands standard
 * output on.  Only the owner writes, so outputs never interleave.
 */

#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smap.h"

#define KEEPBUF	4096	/* larger buffers are not kept for reuse */
#define MAXFREE	1024		/* jobs kept for reuse */

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 room;		/* the feeder waits: window full */
	pthread_cond_t	 work;		/* workers wait: nothing to start */
	struct jobq	 win;		/* read and not yet written out */
	struct job	*next;		/* oldest job not yet started */
	size_t		 n;		/* jobs in win */
	size_t		 held;		/* output bytes held in memory */
	unsigned	 idle;		/* workers waiting on work */
	int		 eof;		/* the feeder is done */
	int		 stop;		/* start no more jobs */
	uint64_t	 ended;		/* jobs done */
	uint64_t	 failed;	/* of which failed */
	int		 halted;	/* --halt has fired */
	struct jobq	 free;		/* jobs to reuse */
	size_t		 nfree;
	pthread_mutex_t	 ulock;		/* -u: one job writes at a time */
} o = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.ulock = PTHREAD_MUTEX_INITIALIZER,
};

static atomic_int	outbad;		/* standard output failed */
static atomic_int	nosplice;	/* splice(2) to it fails */
static atomic_int	nosendfile;	/* sendfile(2) to it fails */
static atomic_int	grown;		/* its pipe made larger */
static int		spillbad;	/* $TMPDIR failed; under o.lock */
static int		nospill;	/* no early spill; under o.lock */
static const char	*tmpdir;	/* $TMPDIR, or /tmp */

static void	stopall(void);
static void	hold(struct job *, const char *, size_t);
static void	copy(int, off_t, off_t);
static void	unhold(struct job *);
static void	advance(void);
static int	halts(void);
static void	release(struct job *);
static int	tmpfile_open(void);

/* Sets up the window. */
void
order_init(void)
{
	TAILQ_INIT(&o.win);
	TAILQ_INIT(&o.free);
	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
}

/* No job is started from now on; wake all who wait.  Under o.lock. */
static void
stopall(void)
{
	o.stop = 1;
	pthread_cond_broadcast(&o.room);
	pthread_cond_broadcast(&o.work);
}

/* Makes workers and the feeder give up waiting: smap is stopping. */
void
order_stop(void)
{
	pthread_mutex_lock(&o.lock);
	stopall();
	pthread_mutex_unlock(&o.lock);
}

/* A fresh job, once the window has room; NULL when stopping. */
struct job *
order_alloc(void)
{
	struct job	*j;

	pthread_mutex_lock(&o.lock);
	while (o.n >= opt.window && !o.stop)
		pthread_cond_wait(&o.room, &o.lock);
	if (o.stop) {
		pthread_mutex_unlock(&o.lock);
		return NULL;
	}
	o.n++;
	if ((j = TAILQ_FIRST(&o.free)) != NULL) {
		TAILQ_REMOVE(&o.free, j, entry);
		o.nfree--;
	}
	pthread_mutex_unlock(&o.lock);
	if (j == NULL) {
		j = xcalloc(1, sizeof(*j));
		j->spill = -1;
		j->rec = j->inl;
		j->reccap = sizeof(j->inl);
	}
	return j;
}

/* Room in the window for one more record of the job being filled? */
int
order_more(void)
{
	int	ok;

	pthread_mutex_lock(&o.lock);
	if ((ok = o.n < opt.window && !o.stop))
		o.n++;
	pthread_mutex_unlock(&o.lock);
	return ok;
}

/* Gives back a job from order_alloc that was never put. */
void
order_unalloc(struct job *j)
{
	pthread_mutex_lock(&o.lock);
	if (j->nrec == 0)
		j->nrec = 1;
	release(j);
	pthread_mutex_unlock(&o.lock);
}

/* Puts job j, filled by the feeder, at the end of the window. */
void
order_put(struct job *j)
{
	j->state = JOB_NEW;
	j->status = -1;
	pthread_mutex_lock(&o.lock);
	TAILQ_INSERT_TAIL(&o.win, j, entry);
	if (o.next == NULL)
		o.next = j;
	if (!opt.unordered && TAILQ_FIRST(&o.win) == j)
		j->live = 1;
	if (o.idle > 0)
		pthread_cond_signal(&o.work);
	pthread_mutex_unlock(&o.lock);
}

/* The feeder has put its last record. */
void
order_eof(void)
{
	pthread_mutex_lock(&o.lock);
	o.eof = 1;
	pthread_cond_broadcast(&o.work);
	if (o.n == 0)
		smap_stop(STOP_DONE, 0);
	pthread_mutex_unlock(&o.lock);
}

/* The oldest job not yet started, for a worker; NULL: no more. */
struct job *
order_take(void)
{
	struct job	*j;

	pthread_mutex_lock(&o.lock);
	while (o.next == NULL && !o.eof && !o.stop) {
		o.idle++;
		pthread_cond_wait(&o.work, &o.lock);
		o.idle--;
	}
	if ((j = o.next) != NULL && !o.stop) {
		o.next = TAILQ_NEXT(j, entry);
		j->state = JOB_RUNNING;
	} else
		j = NULL;
	pthread_mutex_unlock(&o.lock);
	return j;
}

/* Jobs that failed so far; *ended: jobs done. */
uint64_t
order_failed(uint64_t *ended)
{
	uint64_t	n;

	pthread_mutex_lock(&o.lock);
	n = o.failed;
	if (ended != NULL)
		*ended = o.ended;
	pthread_mutex_unlock(&o.lock);
	return n;
}

/* Job j is tried again: its output so far is dropped. */
void
order_discard(struct job *j)
{
	pthread_mutex_lock(&o.lock);
	o.held -= j->outlen;
	j->outlen = 0;
	if (j->spill != -1) {
		close(j->spill);
		j->spill = -1;
	}
	j->spilled = j->spillrd = 0;
	pthread_mutex_unlock(&o.lock);
}

/* Whether job j's next try is not its last: then all is held. */
void
order_try(struct job *j, int buffered)
{
	pthread_mutex_lock(&o.lock);
	j->buffered = buffered;
	pthread_mutex_unlock(&o.lock);
}

/*
 * --halt has fired: start no more jobs and drop those not started, so
 * that what the started ones print is still written in order.  If the
 * head was not started, nobody owns standard output: take it here.
 */
void
order_halt(void)
{
	struct job	*j, *next, *head;

	pthread_mutex_lock(&o.lock);
	stopall();
	head = TAILQ_FIRST(&o.win);
	for (j = o.next; j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		TAILQ_REMOVE(&o.win, j, entry);
		release(j);
	}
	o.next = NULL;
	if (!opt.unordered && head != NULL && head->state == JOB_NEW)
		advance();
	pthread_mutex_unlock(&o.lock);
}

/* An unlinked temporary file in $TMPDIR, or -1. */
static int
tmpfile_open(void)
{
	char		 path[PATH_MAX];
	int		 fd;

	if ((fd = open(tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1)
		return fd;
	if (snprintf(path, sizeof(path), "%s/smap.XXXXXX", tmpdir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	unlink(path);
	return fd;
}

/* $TMPDIR failed with error e: say so once, and stop.  Under o.lock. */
static void
spillfail(int e)
{
	warnc(e, "%s", tmpdir);
	spillbad = 1;
	smap_stop(STOP_ERROR, 0);
}

/*
 * Holds n bytes of job j's output, in memory while the total stays under
 * --max-memory, else in j's temporary file.  Under o.lock: the writer
 * reads the file at the same time.
 */
static void
hold(struct job *j, const char *buf, size_t n)
{
	ssize_t		 w;
	size_t		 cap;

	if (j->spill == -1 && o.held + n <= opt.maxmem) {
		if (j->outlen + n > j->outcap) {
			cap = j->outcap == 0 ? 24 : j->outcap;
			while (cap < j->outlen + n)
				cap *= 2;
			j->out = xreallocarray(j->out, 1, cap);
			j->outcap = cap;
		}
		memcpy(j->out + j->outlen, buf, n);
		j->outlen += n;
		o.held += n;
		return;
	}
	if (spillbad)
		return;		/* smap is stopping with an error */
	if (j->spill == -1 && (j->spill = tmpfile_open()) == -1) {
		spillfail(errno);
		return;
	}
	while (n > 0) {
		if ((w = pwrite(j->spill, buf, n, j->spilled)) == -1) {
			if (errno == EINTR)
				continue;
			spillfail(errno);
			return;
		}
		j->spilled += w;
		buf += w;
		n -= w;
	}
}

/*
 * Offers n bytes that job j printed.  Returns 1 if j owns standard
 * output (the caller writes them, and all that follows), else holds them.
 */
int
order_hold(struct job *j, const char *buf, size_t n)
{
	pthread_mutex_lock(&o.lock);
	if (j->live && !j->buffered) {
		pthread_mutex_unlock(&o.lock);
		return 1;
	}
	hold(j, buf, n);
	pthread_mutex_unlock(&o.lock);
	return 0;
}

/*
 * Moves what job j's pipe fd holds straight into j's temporary file with
 * splice(2): one copy, in the kernel, rather than two through smap and a
 * third when written out (sendfile(2) then moves pages).  Done once j
 * spills, or early when j holds SPILLAT bytes in memory: a big output
 * costs less in the page cache than in smap's heap.  Returns the bytes
 * moved, 0 at the end of fd, or -1 where the caller is to read(2): j owns
 * standard output, holds little, or splice(2) cannot serve.
 */
ssize_t
order_spill(struct job *j, int fd)
{
	ssize_t	 n;
	off_t	 off;
	int	 sfd, e;

	pthread_mutex_lock(&o.lock);
	if ((j->live && !j->buffered) || spillbad || nospill ||
	    (j->spill == -1 && j->outlen < SPILLAT)) {
		pthread_mutex_unlock(&o.lock);
		return -1;
	}
	if (j->spill == -1 && (j->spill = tmpfile_open()) == -1) {
		nospill = 1;	/* memory, up to --max-memory */
		pthread_mutex_unlock(&o.lock);
		return -1;
	}
	sfd = j->spill;
	off = j->spilled;
	pthread_mutex_unlock(&o.lock);

	/* Only j's worker appends; the writer reads below j->spilled. */
	while ((n = splice(fd, NULL, sfd, &off, BIGPIPE, 0)) == -1 &&
	    errno == EINTR)
		;
	e = errno;
	pthread_mutex_lock(&o.lock);
	if (n == -1) {
		if (e == EINVAL || e == ENOSYS)
			nospill = 1;	/* pwrite(2) instead */
		else if (!spillbad)
			spillfail(e);
		pthread_mutex_unlock(&o.lock);
		return -1;
	}
	j->spilled += n;
	if (n > 0 && j->live && !j->buffered)
		unhold(j);	/* handed standard output meanwhile */
	pthread_mutex_unlock(&o.lock);
	return n;
}

/*
 * Standard output, if it is a pipe, is made as large as the pipe of a job
 * with a big output: fewer, larger moves, fewer wakeups of both sides.
 */
void
order_grow(void)
{
	if (atomic_exchange(&grown, 1))
		return;
	if (fcntl(STDOUT_FILENO, F_GETPIPE_SZ) < BIGPIPE)
		fcntl(STDOUT_FILENO, F_SETPIPE_SZ, BIGPIPE);
}

/*
 * Writes out all that job j holds, then, if it still runs, makes it own
 * standard output.  Called with o.lock held by the owner of standard
 * output; drops it while writing.
 */
static void
unhold(struct job *j)
{
	char	*p;
	size_t	 n;
	off_t	 off, end;
	int	 own;

	if (j->buffered && j->state != JOB_DONE) {
		j->live = 1;		/* written when the try succeeds */
		return;
	}
	for (;;) {
		if (j->outlen == 0 && j->spillrd == j->spilled) {
			if (j->state != JOB_DONE)
				j->live = 1;
			return;
		}
		n = j->outlen;
		p = j->out;
		if ((own = j->state != JOB_DONE)) {	/* its worker appends */
			j->out = NULL;
			j->outcap = 0;
		}
		j->outlen = 0;
		o.held -= n;
		off = j->spillrd;
		end = j->spillrd = j->spilled;
		pthread_mutex_unlock(&o.lock);
		order_write(p, n);
		if (own)
			free(p);
		if (off < end)
			copy(j->spill, off, end - off);
		pthread_mutex_lock(&o.lock);
	}
}

/* Reports an output error and stops smap; later output is dropped. */
static void
outerr(int e)
{
	if (atomic_exchange(&outbad, 1))
		return;
	if (e == EPIPE)
		smap_stop(STOP_EPIPE, 0);
	else {
		warnc(e, "stdout");
		smap_stop(STOP_ERROR, 0);
	}
}

/*
 * Writes n bytes to standard output; the caller owns it.  Returns -1
 * once it has failed: then the output goes nowhere.
 */
int
order_write(const char *p, size_t n)
{
	struct pollfd	pfd;
	ssize_t		w;

	while (n > 0 && !outbad) {
		if ((w = write(STDOUT_FILENO, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {	/* O_NONBLOCK, not ours */
				pfd.fd = STDOUT_FILENO;
				pfd.events = POLLOUT;
				poll(&pfd, 1, -1);
				continue;
			}
			outerr(errno);
			break;
		}
		p += w;
		n -= w;
	}
	return outbad ? -1 : 0;
}

/*
 * Moves what the pipe fd holds to standard output, which the caller
 * owns, without copying it through smap.  Returns the bytes moved, 0 at
 * the end of fd, or -1 where splice(2) cannot serve (read(2) instead).
 */
ssize_t
order_splice(int fd)
{
	ssize_t	n;

	if (outbad || nosplice)
		return -1;
	for (;;) {
		n = splice(fd, NULL, STDOUT_FILENO, NULL, BIGPIPE,
		    SPLICE_F_MOVE);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EINVAL || errno == EAGAIN || errno == ENOSYS) {
			nosplice = 1;
			return -1;
		}
		outerr(errno);
		return -1;
	}
}

/*
 * Writes len bytes of file fd from off to standard output: sendfile(2)
 * where it serves, else pread(2) and write(2).
 */
static void
copy(int fd, off_t off, off_t len)
{
	char	 buf[CHUNK];
	ssize_t	 r;

	while (len > 0 && !outbad && !nosendfile) {
		r = sendfile(STDOUT_FILENO, fd, &off, len);
		if (r > 0)
			len -= r;
		else if (r == -1 && errno == EINTR)
			continue;
		else if (r == -1 && (errno == EINVAL || errno == ENOSYS ||
		    errno == EAGAIN))
			nosendfile = 1;
		else {
			if (r == -1 && errno != EIO)
				outerr(errno);
			else
				nosendfile = 1;
		}
	}
	while (len > 0 && !outbad) {
		r = pread(fd, buf, len < CHUNK ? len : CHUNK, off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			warn("temporary file");
			smap_stop(STOP_ERROR, 0);
			return;
		}
		order_write(buf, r);
		off += r;
		len -= r;
	}
}

/*
 * Writes out the head of the window and the jobs after it that are done,
 * and hands standard output to the first that is not.  Under o.lock, by
 * the owner of standard output.
 */
static void
advance(void)
{
	struct job	*j;

	while ((j = TAILQ_FIRST(&o.win)) != NULL) {
		unhold(j);
		if (j->state != JOB_DONE)
			break;
		TAILQ_REMOVE(&o.win, j, entry);
		release(j);
	}
}

/* Returns job j to the free list, and its records' room.  Under o.lock. */
static void
release(struct job *j)
{
	o.n -= j->nrec;
	pthread_cond_signal(&o.room);
	if (j->spill != -1) {
		close(j->spill);
		j->spill = -1;
	}
	j->spilled = j->spillrd = 0;
	j->outlen = 0;
	j->live = 0;
	j->bad = NULL;
	if (j->outcap > KEEPBUF) {
		free(j->out);
		j->out = NULL;
		j->outcap = 0;
	}
	if (j->reccap > KEEPBUF) {
		free(j->rec);
		j->rec = j->inl;
		j->reccap = sizeof(j->inl);
	}
	if (o.nfree >= MAXFREE) {
		if (j->rec != j->inl)
			free(j->rec);
		free(j->ends);
		free(j->out);
		free(j);
		return;
	}
	TAILQ_INSERT_HEAD(&o.free, j, entry);
	o.nfree++;
}

/* Whether the --halt policy fires now.  Under o.lock. */
static int
halts(void)
{
	uint64_t	n;

	n = opt.halt.success ? o.ended - o.failed : o.failed;
	if (opt.halt.pct ? n * 100 < opt.halt.limit * o.ended :
	    n < opt.halt.limit)
		return 0;
	stopall();		/* at once: no worker may start another */
	smap_stop(STOP_HALT, 0);
	return 1;
}

/*
 * Job j has ended (status set) and its output is all read.  If it owns
 * standard output, write out the jobs after it that are done as well, and
 * hand standard output to the first that is not.
 */
void
order_done(struct job *j)
{
	int	failed;

	failed = j->status == -1 || !WIFEXITED(j->status) ||
	    WEXITSTATUS(j->status) != 0;
	pthread_mutex_lock(&o.lock);
	j->state = JOB_DONE;
	j->buffered = 0;
	o.ended++;
	if (failed)
		o.failed++;
	if (opt.halt.when != 0 && !o.halted && halts())
		o.halted = 1;
	if (opt.unordered) {
		TAILQ_REMOVE(&o.win, j, entry);
		pthread_mutex_unlock(&o.lock);
		pthread_mutex_lock(&o.ulock);
		pthread_mutex_lock(&o.lock);
		unhold(j);
		pthread_mutex_unlock(&o.ulock);
		release(j);
	} else if (j->live)
		advance();
	if (o.eof && o.n == 0)
		smap_stop(STOP_DONE, 0);
	pthread_mutex_unlock(&o.lock);
}
