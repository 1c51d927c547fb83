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

/* Why smap is stopping, in order of precedence. */
enum stop {
	STOP_NONE = 0,
	STOP_DONE,		/* every record run and written */
	STOP_HALT,		/* --halt policy */
	STOP_ERROR,		/* input or output error: exit 1 */
	STOP_EPIPE,		/* downstream closed: die of SIGPIPE */
	STOP_SIGNAL		/* SIGINT, SIGTERM, SIGHUP: die of it */
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
	int		 pipe;		/* --pipe */
	int		 progress;	/* --progress */
	unsigned	 retries;	/* --retries: tries in all */
	const char	*shell;		/* --shell, or NULL for /bin/sh */
	int		 tag;		/* --tag */
	long		 timeout;	/* --timeout, ms; 0 none */
	int		 unordered;	/* -u */
};

/* One record, its job and what its command printed. */
struct job {
	TAILQ_ENTRY(job) entry;		/* window list, under order lock */
	uint64_t	 seq;		/* job number, from 1 */
	uint64_t	 recno;		/* its first (or bad) record's */
	char		*rec;		/* records: inl or owned; reused */
	size_t		 len;
	size_t		 reccap;
	char		 inl[24];	/* a short record */
	size_t		 end1;		/* end of the first record in rec */
	size_t		*ends;		/* ends of the others (-n) */
	uint32_t	 nrec;
	uint32_t	 endcap;
	const char	*bad;		/* why it cannot run, or NULL */
	int		 status;	/* from waitpid(2), or -1 */
	unsigned char	 state;		/* JOB_*, under order lock */
	unsigned char	 live;		/* owns stdout; under order lock */
	unsigned char	 buffered;	/* a try to retry: hold all output */
	char		*out;		/* held output; under order lock */
	size_t		 outlen;
	size_t		 outcap;
	int		 spill;		/* unlinked temp file, or -1 */
	off_t		 spilled;	/* bytes in it; under order lock */
	off_t		 spillrd;	/* bytes of it written out */
};

enum { JOB_NEW, JOB_RUNNING, JOB_DONE };

TAILQ_HEAD(jobq, job);

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
int		 order_more(void);
void		 order_unalloc(struct job *);
void		 order_put(struct job *);
void		 order_eof(void);
struct job	*order_take(void);
int		 order_hold(struct job *, const char *, size_t);
int		 order_write(const char *, size_t);
ssize_t		 order_splice(int);
ssize_t		 order_spill(struct job *, int);
void		 order_grow(void);
void		 order_done(struct job *);
void		 order_stop(void);
void		 order_halt(void);
void		 order_discard(struct job *);
void		 order_try(struct job *, int);
uint64_t	 order_failed(uint64_t *);

/* spawn.c */
void		 spawn_init(void);
void		 spawn_start(void);
void		 spawn_join(void);
void		*spawn_main(void *);
unsigned	 spawn_kill(int);
extern _Atomic unsigned spawn_exited;

/* report.c */
void		 report_init(int);
void		 report_job(const struct job *, const struct try *,
		    const char *);
void		 report_progress(int);
extern _Atomic uint64_t feed_bytes;

/* smap.c */
void		 smap_stop(enum stop, int);
int		 smap_stopping(void);
void		 smap_wake(void);

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
