/*
 * The window and the order of the outputs: jobs from the feeder wait here
 * for a worker, and their outputs are written in input order.  The job
 * at the head of the window owns standard output ("live"): its worker
 * writes what it reads straight through.  Later jobs' outputs are held,
 * in memory up to --max-memory and past that in the spill file, one
 * unlinked temporary file that all jobs share (so a held output costs no
 * descriptor), up to --max-disk; past that a held job's pipe is not read
 * until there is room, and the job blocks, losing nothing.  The thread
 * that finishes the head job writes the held outputs out and hands
 * standard output on.  Only the owner writes, so outputs never mix.
 * How the bytes move is out.c's.
 */

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smap.h"

#define KEEPBUF	4096	/* larger buffers are not kept for reuse */
#define MAXFREE	1024		/* jobs kept for reuse */
#define WAITMS	100		/* a held job looks again for room */

static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 room;		/* the feeder waits: window full */
	pthread_cond_t	 work;		/* workers wait: nothing to start */
	pthread_cond_t	 drained;	/* held jobs wait: no room to hold */
	struct jobq	 win;		/* read and not yet written out */
	struct job	*next;		/* oldest job not yet started */
	size_t		 n;		/* records (--pipe: jobs) in win */
	size_t		 held;		/* output bytes held in memory */
	off_t		 disk;		/* output bytes held in the file */
	unsigned	 idle;		/* workers waiting on work */
	int		 eof;		/* the feeder is done */
	int		 stop;		/* start no more jobs */
	int		 drop;		/* nothing more is written: drop it */
	uint64_t	 ended;		/* jobs done, bad records */
	uint64_t	 failed;	/* of which failed */
	uint64_t	 undone;	/* jobs dropped or not started */
	int		 halted;	/* --halt has fired */
	struct jobq	 free;		/* jobs to reuse */
	size_t		 nfree;
	int		 spill;		/* the spill file, or -1 */
	int		 spillbad;	/* $TMPDIR failed */
	int		 nospill;	/* splice(2) into it fails */
	off_t		 spillend;	/* its end: written or reserved */
	unsigned	 resv;		/* splices into it in flight */
	pthread_mutex_t	 ulock;		/* -u: one job writes at a time */
} o = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.drained = PTHREAD_COND_INITIALIZER,
	.spill = -1,
	.ulock = PTHREAD_MUTEX_INITIALIZER,
};

static const char	*tmpdir;	/* [I] $TMPDIR, or /tmp */
static off_t		 maxdisk;	/* [I] --max-disk, or its default */
static off_t		 pagesize;	/* [I] */

static void	stopall(void);
static int	spillopen(void);
static void	spillfail(int);
static void	spillidle(void);
static void	addext(struct job *, off_t, off_t);
static void	unext(off_t, off_t);
static void	dropheld(struct job *);
static int	mustwait(struct job *);
static int	hold(struct job *, const char *, size_t);
static int	offer(struct job *, struct sink *, const char *, size_t);
static ssize_t	spillsplice(struct job *, struct sink *, int);
static void	tagemit(struct job *, struct sink *, const char *, size_t);
static void	unhold(struct job *);
static void	advance(void);
static int	halts(void);
static void	release(struct job *);

/* Sets up the window; the default --max-disk: half of $TMPDIR's room. */
void
order_init(void)
{
	struct statvfs	sv;

	TAILQ_INIT(&o.win);
	TAILQ_INIT(&o.free);
	if ((tmpdir = getenv("TMPDIR")) == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	pagesize = sysconf(_SC_PAGESIZE);
	maxdisk = opt.maxdisk;
	if (maxdisk == 0) {
		if (statvfs(tmpdir, &sv) == 0)
			maxdisk = (off_t)(sv.f_bavail / 2) * sv.f_frsize;
		if (maxdisk < SPILLAT)
			maxdisk = SPILLAT;
	}
}

/* No job is started from now on; wake all who wait.  Under o.lock. */
static void
stopall(void)
{
	o.stop = 1;
	pthread_cond_broadcast(&o.room);
	pthread_cond_broadcast(&o.work);
	pthread_cond_broadcast(&o.drained);
}

/*
 * Makes workers and the feeder give up waiting: smap is stopping, and
 * writes no more output (unlike a halt): what jobs print is dropped.
 */
void
order_stop(void)
{
	pthread_mutex_lock(&o.lock);
	o.drop = 1;
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
		j->rec = j->inl;
		j->reccap = sizeof(j->inl);
	}
	return j;
}

/*
 * Room in the window for one more record of the job being filled, which
 * has nrec: waits for it, so that a job has exactly -n records whatever
 * the timing.  Returns 1, or 0 when the job must be put as it is (its
 * own records fill the window), or -1 when smap is stopping.  With
 * --pipe the window counts jobs, not records: always room.
 */
int
order_more(uint32_t nrec)
{
	int	ok;

	if (opt.pipe)
		return 1;
	if (nrec >= opt.window)
		return 0;
	pthread_mutex_lock(&o.lock);
	while (o.n >= opt.window && !o.stop)
		pthread_cond_wait(&o.room, &o.lock);
	if ((ok = o.stop ? -1 : 1) == 1)
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
	j->unstarted = 0;
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

/* A record that cannot run was reported: it counts as a failed job. */
void
order_bad(void)
{
	pthread_mutex_lock(&o.lock);
	o.ended++;
	o.failed++;
	if (opt.halt.when != 0 && !o.halted && halts())
		o.halted = 1;
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

/*
 * Whether --halt left anything undone: a job dropped or not started, or
 * input not read to its end.
 */
uint64_t
order_undone(void)
{
	uint64_t	n;

	pthread_mutex_lock(&o.lock);
	n = o.undone + !o.eof;
	pthread_mutex_unlock(&o.lock);
	return n;
}

/* Job j is tried again: its output so far is dropped. */
void
order_discard(struct job *j)
{
	pthread_mutex_lock(&o.lock);
	dropheld(j);
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
		o.undone++;
	}
	o.next = NULL;
	if (!opt.unordered && head != NULL && head->state == JOB_NEW)
		advance();
	pthread_mutex_unlock(&o.lock);
}

/* Opens the spill file if it is not open.  Under o.lock. */
static int
spillopen(void)
{
	if (o.spill == -1)
		o.spill = out_tmpfile(tmpdir);
	return o.spill;
}

/*
 * The spill file is closed when it holds nothing: its descriptor may be
 * what a job needs to start.  Under o.lock.
 */
static void
spillidle(void)
{
	if (o.spill != -1 && o.disk == 0 && o.resv == 0) {
		close(o.spill);
		o.spill = -1;
		o.spillend = 0;
	}
}

/* $TMPDIR failed with error e: say so once, and stop.  Under o.lock. */
static void
spillfail(int e)
{
	if (o.spillbad)
		return;
	warnc(e, "%s", tmpdir);
	o.spillbad = 1;
	smap_stop(STOP_ERROR, 0);
}

/* Job j holds len more bytes at off in the spill file.  Under o.lock. */
static void
addext(struct job *j, off_t off, off_t len)
{
	struct extent	*e;

	o.disk += len;
	j->spilling = 1;
	if (j->next > j->extrd) {
		e = &j->ext[j->next - 1];
		if (e->off + e->len == off) {
			e->len += len;
			return;
		}
	}
	if (j->next == j->extcap) {
		j->extcap = j->extcap == 0 ? 4 : 2 * j->extcap;
		j->ext = xreallocarray(j->ext, j->extcap, sizeof(*j->ext));
	}
	j->ext[j->next].off = off;
	j->ext[j->next++].len = len;
}

/*
 * len bytes at off in the spill file are no longer held: the disk space
 * of the whole pages among them is given back, and when nothing is held
 * the file is closed (its descriptor may be what a job needs to start).
 * Not when standard output is a pipe or a socket: sendfile(2) passes the
 * pages there by reference, and punching them would change bytes that the
 * reader has yet to read; the file then grows until it is empty and
 * closed, and --max-disk counts its size.  Under o.lock.
 */
static void
unext(off_t off, off_t len)
{
	off_t	from, to;

	o.disk -= len;
	from = (off + pagesize - 1) / pagesize * pagesize;
	to = (off + len) / pagesize * pagesize;
	if (to > from && !out_byref())
		fallocate(o.spill, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		    from, to - from);
	spillidle();
	pthread_cond_broadcast(&o.drained);
}

/* Drops what job j holds, in memory and on disk.  Under o.lock. */
static void
dropheld(struct job *j)
{
	o.held -= j->outlen;
	j->outlen = 0;
	for (; j->extrd < j->next; j->extrd++)
		unext(j->ext[j->extrd].off, j->ext[j->extrd].len);
	j->next = j->extrd = 0;
	j->spilling = 0;
}

/*
 * Whether job j, which does not own standard output, must wait before
 * more of its output is read: memory is full and so is --max-disk.  Under -u such a
 * job takes the right to write, if no other job has it, and writes what
 * it holds and then the rest as it comes: it is written whole all the
 * same.  The head job and a try to retry never wait.  Under o.lock.
 */
static int
mustwait(struct job *j)
{
	if (j->live || o.drop || o.spillbad)
		return 0;
	if (!j->spilling && o.held < opt.maxmem)
		return 0;
	if ((out_byref() ? o.spillend : o.disk) < maxdisk)
		return 0;
	if (opt.unordered && pthread_mutex_trylock(&o.ulock) == 0) {
		unhold(j);		/* j->live is set: it has the lock */
		return 0;
	}
	return 1;
}

/*
 * Holds n bytes of job j's output, in memory while the total stays under
 * --max-memory, else in the spill file.  Under o.lock: the writer reads
 * the file at the same time.
 */
static int
hold(struct job *j, const char *buf, size_t n)
{
	ssize_t		 w;
	size_t		 cap;
	off_t		 off;

	if (o.drop)
		return 0;
	if (!j->spilling && o.held + n <= opt.maxmem) {
inmem:
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
		return 0;
	}
	if (o.spillbad)
		return 0;	/* smap is stopping with an error */
	if (spillopen() == -1) {
		if (errno == EMFILE || errno == ENFILE)
			goto inmem;	/* for now: jobs need descriptors */
		spillfail(errno);
		return 0;
	}
	off = o.spillend;
	o.spillend += n;
	while (n > 0) {
		if ((w = pwrite(o.spill, buf, n, off)) == -1) {
			if (errno == EINTR)
				continue;
			spillfail(errno);
			return 0;
		}
		addext(j, off, w);
		off += w;
		buf += w;
		n -= w;
	}
	return 0;
}

/*
 * Offers n bytes that job j printed.  Returns 1 if j owns standard
 * output (the caller writes them, and all that follows), else holds them,
 * and notes in s->full whether the next read must ask mustwait().
 */
static int
offer(struct job *j, struct sink *s, const char *buf, size_t n)
{
	pthread_mutex_lock(&o.lock);
	if (j->live && !j->buffered) {
		pthread_mutex_unlock(&o.lock);
		return 1;
	}
	hold(j, buf, n);
	s->full = j->spilling || o.held >= opt.maxmem;
	pthread_mutex_unlock(&o.lock);
	return 0;
}

/*
 * Moves what job j's pipe fd holds straight into the spill file with
 * splice(2): one copy, in the kernel, rather than two through smap and a
 * third when written out (sendfile(2) then moves pages).  Done once j
 * spills, or early when j holds SPILLAT bytes in memory: a big output
 * costs less in the page cache than in smap's heap.  Returns the bytes
 * moved, 0 at the end of fd, or -1 where the caller is to read(2): j owns
 * standard output, holds little, or splice(2) cannot serve.
 */
static ssize_t
spillsplice(struct job *j, struct sink *s, int fd)
{
	ssize_t	 n;
	off_t	 off, at;
	int	 e;

	pthread_mutex_lock(&o.lock);
	if ((j->live && !j->buffered) || o.spillbad || o.nospill || o.drop ||
	    (!j->spilling && j->outlen < SPILLAT)) {
		pthread_mutex_unlock(&o.lock);
		return -1;
	}
	if (spillopen() == -1) {	/* read(2) and hold() */
		pthread_mutex_unlock(&o.lock);
		return -1;
	}
	/* Room for one move is reserved; what it leaves unused is a hole. */
	at = off = o.spillend;
	o.spillend += BIGPIPE;
	o.resv++;
	pthread_mutex_unlock(&o.lock);

	while ((n = splice(fd, NULL, o.spill, &off, BIGPIPE, 0)) == -1 &&
	    errno == EINTR)
		;
	e = errno;
	pthread_mutex_lock(&o.lock);
	o.resv--;
	if (o.spillend == at + BIGPIPE)
		o.spillend = at + (n > 0 ? n : 0);
	if (n == -1) {
		if (e == EINVAL || e == ENOSYS)
			o.nospill = 1;	/* pwrite(2) instead */
		else
			spillfail(e);
		spillidle();
		pthread_mutex_unlock(&o.lock);
		return -1;
	}
	if (n > 0) {
		addext(j, at, n);
		s->full = 1;
	}
	if (n > 0 && j->live && !j->buffered)
		unhold(j);	/* handed standard output meanwhile */
	spillidle();
	pthread_mutex_unlock(&o.lock);
	return n;
}

/* A new try of job j begins: its worker's output state is reset. */
void
order_start(struct job *j, struct sink *s)
{
	size_t	i, from, n, k = 0;

	s->atline = 1;
	s->live = 0;
	s->full = 0;
	s->received = 0;
	s->taglen = 0;
	if (!opt.tag)
		return;
	/* The prefix: the records, joined by spaces, and a tab. */
	if (s->precap < j->len + j->nrec + 1) {
		s->precap = j->len + j->nrec + 1;
		s->prefix = xreallocarray(s->prefix, 1, s->precap);
	}
	for (from = i = 0; !opt.pipe && i < j->nrec; from = job_end(j, i++)) {
		n = job_end(j, i) - from;
		if (i > 0)
			s->prefix[k++] = ' ';
		memcpy(s->prefix + k, j->rec + from, n);
		k += n;
	}
	s->prefix[k++] = '\t';
	s->prelen = k;
}

/* Passes n bytes of job j's output on: held, or written if it is live. */
void
order_emit(struct job *j, struct sink *s, const char *buf, size_t n)
{
	if (!s->live)
		s->live = offer(j, s, buf, n);
	if (s->live)
		out_write(buf, n);
}

/*
 * Passes output on with the --tag prefix at the start of every line,
 * through a buffer of CHUNK bytes: a long prefix or line goes on in
 * pieces, so memory does not grow with the output.
 */
static void
tagemit(struct job *j, struct sink *s, const char *buf, size_t n)
{
	const char	*nl;
	size_t		 k;

	if (s->tagbuf == NULL)
		s->tagbuf = xmalloc(CHUNK);
#define PUT(p, len) do {						\
	const char *p_ = (p);						\
	size_t len_ = (len), c_;					\
	while (len_ > 0) {						\
		if (s->taglen == CHUNK) {				\
			order_emit(j, s, s->tagbuf, s->taglen);		\
			s->taglen = 0;					\
		}							\
		c_ = CHUNK - s->taglen < len_ ? CHUNK - s->taglen : len_; \
		memcpy(s->tagbuf + s->taglen, p_, c_);			\
		s->taglen += c_;					\
		p_ += c_;						\
		len_ -= c_;						\
	}								\
} while (0)
	while (n > 0) {
		if (s->atline)
			PUT(s->prefix, s->prelen);
		nl = memchr(buf, '\n', n);
		k = nl != NULL ? (size_t)(nl - buf) + 1 : n;
		PUT(buf, k);
		s->atline = nl != NULL;
		buf += k;
		n -= k;
	}
#undef PUT
	order_emit(j, s, s->tagbuf, s->taglen);
	s->taglen = 0;
}

/*
 * Moves what job j printed on its pipe fd on: straight to standard
 * output if j owns it, else held.  Returns the bytes read, 0 at the end
 * of fd, -1 on a read error (errno), or DRAIN_WAIT: nothing was read,
 * there is no room to hold more (order_wait() waits for it).
 */
ssize_t
order_drain(struct job *j, int fd, struct sink *s)
{
	ssize_t	n;
	int	wait;

	if (!s->big && s->received >= PIPEBUF)
		s->big = out_big(fd) ? 2 : 1;
	if (!s->live && s->full) {	/* only then may it have to wait */
		pthread_mutex_lock(&o.lock);
		wait = mustwait(j);
		pthread_mutex_unlock(&o.lock);
		if (wait)
			return DRAIN_WAIT;
	}
	if (!opt.tag && s->live && (n = out_splice(fd)) >= 0)
		goto moved;
	if (!opt.tag && !s->live && s->received >= SPILLAT &&
	    (n = spillsplice(j, s, fd)) >= 0)
		goto moved;
	if (s->buf == NULL)
		s->buf = xmalloc(CHUNK);
	while ((n = read(fd, s->buf, CHUNK)) == -1 && errno == EINTR)
		;
	if (n <= 0)
		return n;
	if (opt.tag)
		tagemit(j, s, s->buf, n);
	else
		order_emit(j, s, s->buf, n);
moved:
	s->received += n;
	return n;
}

/* Waits at most ms (-1: WAITMS) for room to hold job j's output. */
void
order_wait(struct job *j, long ms)
{
	struct timespec	ts;

	if (ms < 0 || ms > WAITMS)
		ms = WAITMS;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += ms % 1000 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&o.lock);
	if (!j->live && !o.drop)
		pthread_cond_timedwait(&o.drained, &o.lock, &ts);
	pthread_mutex_unlock(&o.lock);
}

/*
 * Writes out all that job j holds, then, if it still runs, makes it own
 * standard output.  Called with o.lock held by the owner of standard
 * output; drops it while writing.
 */
static void
unhold(struct job *j)
{
	struct extent	 e;
	char		*p;
	size_t		 n;
	int		 own;

	if (j->buffered && j->state != JOB_DONE) {
		j->live = 1;		/* written when the try succeeds */
		return;
	}
	for (;;) {
		if (j->outlen == 0 && j->extrd == j->next) {
			j->next = j->extrd = 0;
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
		e.len = 0;
		if (j->extrd < j->next)
			e = j->ext[j->extrd++];
		pthread_mutex_unlock(&o.lock);
		out_write(p, n);
		if (own)
			free(p);
		if (e.len > 0)
			out_copy(o.spill, e.off, e.len);
		pthread_mutex_lock(&o.lock);
		if (e.len > 0)
			unext(e.off, e.len);
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
	pthread_cond_broadcast(&o.drained);
}

/* Returns job j to the free list, and its records' room.  Under o.lock. */
static void
release(struct job *j)
{
	o.n -= opt.pipe ? 1 : j->nrec;
	pthread_cond_signal(&o.room);
	dropheld(j);
	j->live = 0;
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
	if (j->extcap > 64) {
		free(j->ext);
		j->ext = NULL;
		j->extcap = 0;
	}
	if (o.nfree >= MAXFREE) {
		if (j->rec != j->inl)
			free(j->rec);
		free(j->ends);
		free(j->out);
		free(j->ext);
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
	spawn_nostart();
	smap_stop(opt.halt.when == HALT_NOW ? STOP_HALTNOW : STOP_HALTSOON,
	    0);
	return 1;
}

/*
 * Job j has ended (status set) and its output is all read, or it was
 * never started (j->unstarted).  If it owns standard output, write out
 * the jobs after it that are done as well, and hand standard output to
 * the first that is not.
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
	if (j->unstarted)
		o.undone++;
	else {
		o.ended++;
		if (failed)
			o.failed++;
		if (opt.halt.when != 0 && !o.halted && halts())
			o.halted = 1;
	}
	if (opt.unordered) {
		TAILQ_REMOVE(&o.win, j, entry);
		if (!j->live) {		/* else it has the lock already */
			pthread_mutex_unlock(&o.lock);
			pthread_mutex_lock(&o.ulock);
			pthread_mutex_lock(&o.lock);
		}
		unhold(j);
		pthread_mutex_unlock(&o.ulock);
		release(j);
	} else if (j->live)
		advance();
	if (o.eof && o.n == 0)
		smap_stop(STOP_DONE, 0);
	pthread_mutex_unlock(&o.lock);
}
