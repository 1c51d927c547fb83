/*
 * smap: map a command over the records of the input, in parallel, and
 * write the outputs in input order.
 *
 * A record goes feed -> spawn -> order: the feeder thread (feed.c) reads
 * it into a job and puts it in the window; a worker thread (spawn.c)
 * takes the oldest job not yet started, runs its command line (cmd.c)
 * and passes its output to order.c, which writes it out in input order
 * and frees the job.  main (smap.c) parses options, handles signals and
 * watches standard output, and decides how smap ends.
 */

#include <sys/queue.h>
#include <sys/types.h>

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Exit statuses (SPEC.md, smap.1 EXIT STATUS). */
enum {
	EXIT_OK = 0,
	EXIT_ERR = 1,		/* smap's own error */
	EXIT_USAGE = 2,
	EXIT_FAILED = 123,	/* one or more jobs failed */
	EXIT_HALTED = 124	/* stopped early by --halt */
};

/* Why smap is stopping, in order of precedence (smap.c: the table). */
enum stop {
	STOP_NONE = 0,
	STOP_DONE,		/* every record run and written */
	STOP_HALTSOON,		/* --halt soon: let running jobs end */
	STOP_HALTNOW,		/* --halt now: stop them */
	STOP_ERROR,		/* input or output error: exit 1 */
	STOP_EPIPE,		/* downstream closed: die of SIGPIPE */
	STOP_SIGNAL,		/* a signal that ends smap: die of it */
	STOP_NCAUSES
};

/*
 * Diagnostics come from several threads: each is one line, written by a
 * single write(2) (stderr is line buffered) under stderr's lock, so that
 * two never mix.
 */
#define warn(...)	do {						\
	flockfile(stderr); warn(__VA_ARGS__); funlockfile(stderr);	\
} while (0)
#define warnx(...)	do {						\
	flockfile(stderr); warnx(__VA_ARGS__); funlockfile(stderr);	\
} while (0)
#define warnc(...)	do {						\
	flockfile(stderr); warnc(__VA_ARGS__); funlockfile(stderr);	\
} while (0)

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif

#define MAXJOBS		4096
#define GRACE_MS	1000	/* SIGTERM, then SIGKILL after this */
#define ARGMAX_REC	131071	/* longest record as an argument (Linux) */
#define PIPEMAX_REC	(1UL << 30)	/* longest record with --pipe */
#define CHUNK		65536	/* read(2) size for job output */
#define PIPEBUF		65536	/* a pipe's default capacity */
#define BIGPIPE		(1 << 20)	/* that of a pipe with big output */
#define BIGPIPES	16		/* job pipes that large at once */
#define SPILLAT		(1 << 20)	/* a job holding more spills early */

/* --halt: when to stop early. */
struct halt {
	int		 when;		/* 0 never, HALT_SOON, HALT_NOW */
	int		 success;	/* count successes, not failures */
	int		 pct;		/* limit is a percentage */
	uint64_t	 limit;
};

enum { HALT_SOON = 1, HALT_NOW };

/* Options, fixed before threads start. */
struct opts {
	const char	*input;		/* -a, or NULL for stdin */
	size_t		 window;	/* -b; SIZE_MAX for inf */
	size_t		 block;		/* --block, bytes per --pipe job */
	const char	*colsep;	/* --colsep regex */
	int		 delim;		/* -0, -d */
	int		 dryrun;	/* --dry-run */
	struct halt	 halt;		/* --halt, --fail-fast */
	const char	*repl;		/* -I, default "{}" */
	unsigned	 njobs;		/* -j */
	const char	*joblog;	/* --joblog */
	size_t		 maxargs;	/* -n, -N: records per job */
	size_t		 maxmem;	/* --max-memory */
	off_t		 maxdisk;	/* --max-disk; 0: half the free space */
	int		 pipe;		/* --pipe */
	int		 progress;	/* --progress */
	unsigned	 retries;	/* --retries: tries in all */
	const char	*shell;		/* --shell, or NULL for /bin/sh */
	int		 tag;		/* --tag */
	long		 timeout;	/* --timeout, ms; 0 none */
	int		 unordered;	/* -u */
};

/*
 * Who may touch what.  Each shared field is tagged with its rule:
 *	[I]	fixed before the threads start
 *	[F]	the feeder, before the job is put in the window
 *	[W]	the job's worker, from order_take() to order_done()
 *	[O]	under the order lock (order.c's o.lock)
 *	[P]	under the process lock (spawn.c's plock)
 *	[a]	atomic
 * A job's [F] fields are read-only once it is in the window.  Lock order:
 * o.ulock before o.lock; o.lock before plock; stderr's lock (warn())
 * innermost, and loglock (report.c) is taken with no other held.
 */

/* A part of the spill file that holds a job's output. */
struct extent {
	off_t		 off;
	off_t		 len;
};

/* One job: its records, its state and what its command printed. */
struct job {
	TAILQ_ENTRY(job) entry;		/* [O] window or free list */
	uint64_t	 seq;		/* [F] job number, from 1 */
	uint64_t	 recno;		/* [F] its first record's number */
	char		*rec;		/* [F] records: inl or owned; reused */
	size_t		 len;		/* [F] */
	size_t		 reccap;	/* [F] */
	char		 inl[24];	/* [F] a short record */
	size_t		 end1;		/* [F] end of the first record in rec */
	size_t		*ends;		/* [F] ends of the others (-n) */
	uint32_t	 nrec;		/* [F] */
	uint32_t	 endcap;	/* [F] */
	int		 status;	/* [W] from waitpid(2), or -1 */
	unsigned char	 state;		/* [O] JOB_* */
	unsigned char	 live;		/* [O] owns standard output */
	unsigned char	 buffered;	/* [O] a try to retry: hold all */
	unsigned char	 spilling;	/* [O] its output goes to the file */
	unsigned char	 unstarted;	/* [W] stopped before it started */
	char		*out;		/* [O] held output in memory */
	size_t		 outlen;	/* [O] */
	size_t		 outcap;	/* [O] */
	struct extent	*ext;		/* [O] held in the spill file, in order */
	uint32_t	 next;		/* [O] extents in ext */
	uint32_t	 extrd;		/* [O] of which written out */
	uint32_t	 extcap;	/* [O] */
};

enum { JOB_NEW, JOB_RUNNING, JOB_DONE };

TAILQ_HEAD(jobq, job);

/* A worker's output state for the job it runs.  [W] */
struct sink {
	char		*buf;		/* CHUNK bytes of output */
	char		*prefix;	/* --tag */
	size_t		 prelen;
	size_t		 precap;
	char		*tagbuf;	/* output with prefixes, CHUNK bytes */
	size_t		 taglen;
	int		 atline;	/* output is at a line start */
	int		 live;		/* the job owns standard output */
	int		 big;		/* a big output: its pipe enlarged */
	int		 full;		/* held, and memory full or spilling */
	uint64_t	 received;	/* bytes read from the job */
};

/* order_drain(): nothing read, the job's output must wait for room. */
#define DRAIN_WAIT	(-2)

/* One try of a job, for --joblog. */
struct try {
	struct timespec	 start;		/* CLOCK_REALTIME */
	uint64_t	 sent;		/* bytes to its stdin (--pipe) */
	uint64_t	 received;	/* bytes of output */
	int		 status;	/* wait status, or -1 */
	int		 timedout;
};

extern struct opts opt;

/* The options' defaults, for the definition of opt. */
#define OPTS_DEFAULT {							\
	.window = 10000,						\
	.delim = '\n',							\
	.repl = "{}",							\
	.maxargs = 1,							\
	.maxmem = 64 * 1024 * 1024,					\
	.retries = 1,							\
}

/* Where record i of job j ends in j->rec. */
static inline size_t
job_end(const struct job *j, size_t i)
{
	return i == 0 ? j->end1 : j->ends[i - 1];
}

/* cmd.c */
void		 cmd_init(int, char **);
int		 cmd_direct(void);
int		 cmd_usesrec(void);
void		 cmd_free(void);
const char	*cmd_line(const struct job *, unsigned, size_t *);
char	*const	*cmd_argv(const struct job *, unsigned);
size_t		 cmd_quote(char *, const char *, size_t);
size_t		 cmd_expand(int, const char *, size_t, const char **);

/* feed.c */
void		*feed_main(void *);
size_t		 feed_scan(const char *, size_t, int, int *);
int		 feed_delim(const char *);

/* order.c */
void		 order_init(void);
struct job	*order_alloc(void);
int		 order_more(uint32_t);
void		 order_unalloc(struct job *);
void		 order_put(struct job *);
void		 order_bad(void);
void		 order_eof(void);
struct job	*order_take(void);
void		 order_start(struct job *, struct sink *);
ssize_t		 order_drain(struct job *, int, struct sink *);
void		 order_emit(struct job *, struct sink *, const char *, size_t);
void		 order_wait(struct job *, long);
void		 order_done(struct job *);
void		 order_stop(void);
void		 order_halt(void);
void		 order_discard(struct job *);
void		 order_try(struct job *, int);
uint64_t	 order_failed(uint64_t *);
uint64_t	 order_undone(void);

/* out.c */
int		 out_failed(void);
int		 out_byref(void);
int		 out_write(const char *, size_t);
ssize_t		 out_splice(int);
void		 out_copy(int, off_t, off_t);
int		 out_big(int);
void		 out_unbig(void);
int		 out_tmpfile(const char *);

/* spawn.c */
void		 spawn_init(const sigset_t *);
void		 spawn_start(void);
void		 spawn_join(void);
void		*spawn_main(void *);
unsigned	 spawn_kill(int);
void		 spawn_nostart(void);
void		 spawn_abort(void);
extern _Atomic unsigned spawn_exited;

/* report.c */
void		 report_init(int);
void		 report_job(const struct job *, const struct try *,
		    const char *);
void		 report_progress(int);
extern _Atomic uint64_t feed_bytes;

/* smap.c */
void __dead	 smap_fatal(const char *);
void		 smap_stop(enum stop, int);
int		 smap_stopping(void);
void		 smap_wake(void);

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
