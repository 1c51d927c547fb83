/*
 * main: options, usage, the signal mask, the threads, and how smap ends.
 * The main thread watches signals (signalfd), standard output (a pipe
 * whose reader has gone reports POLLERR) and the control pipe by which
 * the other threads tell it they have stopped, and acts on them.
 */

#include <sys/signalfd.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libutil.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "smap.h"

#ifndef VERSION
#define VERSION "0.1"
#endif

struct opts opt = OPTS_DEFAULT;

static pthread_mutex_t	 stlock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int	 why;		/* enum stop; written under stlock */
static int		 whysig;	/* STOP_SIGNAL: which; under stlock */
static int		 ctl[2];	/* threads wake main */

/*
 * How smap ends: one row per cause (enum stop, weakest first).  The
 * strongest cause so far is acted on once, by main's loop, in stages:
 *
 *	RUN --cause--> no job starts, those not started are dropped, the
 *	    running ones get the row's signal (none: they may end)
 *	  --GRACE_MS--> SIGKILL to what is left of their process groups
 *	  --every job reaped (flush: every worker done, so that what the
 *	    started jobs printed is written out)--> the row's exit
 *
 * A fatal error (no memory) cannot wait for the loop: smap_fatal() stops
 * and reaps the jobs from the thread that met it, and exits 1.
 */
static const struct cause {
	int	signal;		/* to running jobs; -1: the one received */
	int	flush;		/* wait for every worker, not just the jobs */
	int	exitwith;	/* exit status, or -N: die of signal N */
} causes[STOP_NCAUSES] = {
	/*			signal		flush	exitwith */
	[STOP_DONE] =		{ 0,		1,	EXIT_OK },
	[STOP_HALTSOON] =	{ 0,		1,	EXIT_HALTED },
	[STOP_HALTNOW] =	{ SIGTERM,	1,	EXIT_HALTED },
	[STOP_ERROR] =		{ SIGTERM,	0,	EXIT_ERR },
	[STOP_EPIPE] =		{ SIGTERM,	0,	-SIGPIPE },
	[STOP_SIGNAL] =		{ -1,		0,	-1 },
};

/* Stages of main's loop. */
enum { S_RUN, S_WAIT, S_GRACE, S_KILLED };

/*
 * The signals that would end smap: each ends its jobs first, and then
 * smap dies of it (SPEC.md, SIGNALS in smap.1).  The real-time signals
 * are added at run time.
 */
static const int	endsigs[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
	SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGXCPU,
#ifdef SIGSTKFLT
	SIGSTKFLT,
#endif
};

enum {
	OPT_BLOCK = CHAR_MAX + 1,
	OPT_COLSEP,
	OPT_DRYRUN,
	OPT_FAILFAST,
	OPT_HALT,
	OPT_JOBLOG,
	OPT_MAXDISK,
	OPT_MAXMEM,
	OPT_PIPE,
	OPT_PROGRESS,
	OPT_RETRIES,
	OPT_SHELL,
	OPT_TAG,
	OPT_TIMEOUT,
};

static const struct option longopts[] = {
	{ "null",		no_argument,		NULL, '0' },
	{ "arg-file",		required_argument,	NULL, 'a' },
	{ "buffer-size",	required_argument,	NULL, 'b' },
	{ "delimiter",		required_argument,	NULL, 'd' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "jobs",		required_argument,	NULL, 'j' },
	{ "keep-order",		no_argument,		NULL, 'k' },
	{ "max-args",		required_argument,	NULL, 'n' },
	{ "unordered",		no_argument,		NULL, 'u' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "block",		required_argument,	NULL, OPT_BLOCK },
	{ "colsep",		required_argument,	NULL, OPT_COLSEP },
	{ "dry-run",		no_argument,		NULL, OPT_DRYRUN },
	{ "fail-fast",		no_argument,		NULL, OPT_FAILFAST },
	{ "halt",		required_argument,	NULL, OPT_HALT },
	{ "joblog",		required_argument,	NULL, OPT_JOBLOG },
	{ "max-disk",		required_argument,	NULL, OPT_MAXDISK },
	{ "max-memory",		required_argument,	NULL, OPT_MAXMEM },
	{ "pipe",		no_argument,		NULL, OPT_PIPE },
	{ "progress",		optional_argument,	NULL, OPT_PROGRESS },
	{ "retries",		required_argument,	NULL, OPT_RETRIES },
	{ "shell",		required_argument,	NULL, OPT_SHELL },
	{ "tag",		no_argument,		NULL, OPT_TAG },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ NULL,			0,			NULL, 0 }
};

static void __dead	usage(const char *, ...);
static void __dead	help(void);
static void __dead	die(int);
static int		finish(enum stop, int);
static void		sigsetup(sigset_t *, sigset_t *);
static long		msleft(const struct timespec *);
static void		setdeadline(struct timespec *, long);
static void		fdsetup(void);
static unsigned		parse_jobs(const char *);
static long		parse_duration(const char *);
static int		parse_halt(const char *, struct halt *);

/* Reports a usage error and exits 2. */
static void __dead
usage(const char *fmt, ...)
{
	va_list	ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vwarnx(fmt, ap);
		va_end(ap);
	}
	fprintf(stderr, "Try 'smap --help' for more information.\n");
	exit(EXIT_USAGE);
}

/* Prints the options on standard output. */
static void __dead
help(void)
{
	printf(
"usage: smap [-0hkuV] [-a file] [-b n|inf] [-d c] [-I str] [-j n] [-n n]\n"
"            [options] [--] command [arg ...]\n"
"Runs command once per input record, in parallel, and writes the outputs\n"
"in input order, the oldest job's output live.\n"
"  -0, --null             records end at NUL\n"
"  -a, --arg-file FILE    read records from FILE, not standard input\n"
"  -b, --buffer-size N    at most N records read and not yet written out\n"
"                         (default 10000; inf: no bound)\n"
"  -d, --delimiter C      records end at byte C (\\n \\t \\0 \\\\ \\xHH)\n"
"  -h, --help             print this help and exit\n"
"  -I STR                 use STR in place of {}\n"
"  -j, --jobs N           jobs at once: N, N%%, +N, -N (of online CPUs)\n"
"  -k, --keep-order       outputs in input order (the default)\n"
"  -n, -N, --max-args N   up to N records per job\n"
"  -u, --unordered        each output whole as its job ends\n"
"  -V, --version          print the version and exit\n"
"      --block SIZE       --pipe: about SIZE bytes of records per job\n"
"      --colsep REGEX     split records into columns {1} {2} ...\n"
"      --dry-run          print the command lines, run nothing\n"
"      --fail-fast        same as --halt now,fail=1\n"
"      --halt POLICY      never, [now|soon,]fail=N[%%], success=N[%%]\n"
"      --joblog FILE      log each job as GNU parallel does (- stderr)\n"
"      --max-disk SIZE    held output kept on disk (default: half the\n"
"                         free space of $TMPDIR)\n"
"      --max-memory SIZE  held output kept in memory (default 64M)\n"
"      --pipe             records on each job's stdin, not its arguments\n"
"      --progress[=always] progress line on stderr, if a terminal\n"
"      --retries N        try a failing job up to N times in all\n"
"      --shell PATH       run lines with PATH -c (default /bin/sh)\n"
"      --tag              prefix output lines with the record and a tab\n"
"      --timeout DURATION stop a job after DURATION (30, 1.5s, 2m, 1h)\n"
"Replacement strings: {} record, {.} no extension, {/} basename, {//}\n"
"dirname, {/.} basename without extension, {#} job number, {%%} slot,\n"
"{1} {2} ... columns.  Without one, the record is the last word.\n");
	exit(EXIT_OK);
}

/*
 * -j as GNU parallel reads it: N, N% of the online processors, or +N
 * and -N more or fewer than those (at least 1).  However it is written,
 * more than MAXJOBS is a usage error.
 */
static unsigned
parse_jobs(const char *s)
{
	const char	*errstr;
	long long	 ncpu, n, v;
	size_t		 len = strlen(s);
	char		 num[32];

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (len == 0 || len >= sizeof(num))
		usage("-j %s: invalid", s);
	if (s[len - 1] == '%') {
		memcpy(num, s, len - 1);
		num[len - 1] = '\0';
		n = strtonum(num, 1, 1000000000, &errstr);
		if (errstr != NULL)
			usage("-j %s: %s", s, errstr);
		v = ncpu * n / 100;
	} else if (s[0] == '+' || s[0] == '-') {
		n = strtonum(s + 1, 0, 1000000000, &errstr);
		if (errstr != NULL)
			usage("-j %s: %s", s, errstr);
		v = s[0] == '+' ? ncpu + n : ncpu - n;
	} else {
		v = strtonum(s, 1, LLONG_MAX, &errstr);
		if (errstr != NULL)
			usage("-j %s: %s", s, errstr);
	}
	if (v > MAXJOBS)
		usage("-j %s: %lld jobs, more than %d", s, v, MAXJOBS);
	return v < 1 ? 1 : v;
}

/*
 * A duration: a decimal number of seconds, or with a unit ms, s, m, h
 * or d.  Returns milliseconds, or -1.
 */
static long
parse_duration(const char *s)
{
	static const struct {
		const char	*unit;
		double		 ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	char	*end;
	double	 v;
	size_t	 i;

	v = strtod(s, &end);
	if (end == s || !(v > 0) || !(v < 1e9))
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
			return v * units[i].ms < 1 ? 1 : v * units[i].ms;
	return -1;
}

/*
 * --halt as GNU parallel spells it: never, or [now,|soon,]fail=N,
 * success=N, N or P% (now when not said); 0, 1, 2 as its old forms.
 */
static int
parse_halt(const char *s, struct halt *h)
{
	const char	*errstr, *p;
	char		 num[32];
	size_t		 len;

	memset(h, 0, sizeof(*h));
	if (strcmp(s, "never") == 0 || strcmp(s, "0") == 0)
		return 0;
	if (strcmp(s, "1") == 0 || strcmp(s, "2") == 0) {
		h->when = s[0] == '1' ? HALT_SOON : HALT_NOW;
		h->limit = 1;
		return 0;
	}
	h->when = HALT_NOW;
	if (strncmp(s, "now,", 4) == 0)
		s += 4;
	else if (strncmp(s, "soon,", 5) == 0) {
		h->when = HALT_SOON;
		s += 5;
	}
	if (strncmp(s, "fail=", 5) == 0)
		p = s + 5;
	else if (strncmp(s, "success=", 8) == 0) {
		h->success = 1;
		p = s + 8;
	} else
		return -1;
	if ((len = strlen(p)) == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, p, len + 1);
	if (num[len - 1] == '%') {
		h->pct = 1;
		num[len - 1] = '\0';
	}
	h->limit = strtonum(num, 1, h->pct ? 100 : LLONG_MAX, &errstr);
	return errstr != NULL ? -1 : 0;
}

/*
 * A fatal error (what failed, errno): reported, the jobs stopped and
 * reaped, exit 1.  From any thread; a second one waits for the first.
 */
void __dead
smap_fatal(const char *what)
{
	static atomic_int	dying;
	int			e = errno;

	if (atomic_exchange(&dying, 1))
		for (;;)
			pause();
	warnc(e, "%s", what);
	spawn_abort();
	_exit(EXIT_ERR);
}

/* Stops smap for reason w (sig: the signal for STOP_SIGNAL). */
void
smap_stop(enum stop w, int sig)
{
	pthread_mutex_lock(&stlock);
	if ((int)w > why) {
		whysig = sig;
		why = w;
	}
	pthread_mutex_unlock(&stlock);
	smap_wake();
}

/* Whether smap is stopping, for whatever reason. */
int
smap_stopping(void)
{
	return why != STOP_NONE;
}

/* Wakes the main thread to look at the state. */
void
smap_wake(void)
{
	ssize_t	n;

	n = write(ctl[1], "", 1);	/* full: it is awake already */
	(void)n;
}

/* Dies of signal sig, as the shell should see it. */
static void __dead
die(int sig)
{
	sigset_t	set;

	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(128 + sig);
}

/* Sets *d to ms milliseconds from now. */
static void
setdeadline(struct timespec *d, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += ms % 1000 * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds until deadline, at least 0. */
static long
msleft(const struct timespec *deadline)
{
	struct timespec	now;
	long		ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

/*
 * Makes descriptors 0, 1 and 2 safe before anything is opened: a closed
 * standard output is an error; a closed input or error output is
 * replaced by /dev/null, so no pipe of a job can take its number.
 * Descriptors above 2 that smap inherited are not passed to jobs.
 */
static void
fdsetup(void)
{
	long	max;
	int	fd, closed0;

	closed0 = fcntl(STDIN_FILENO, F_GETFD) == -1;
	if (fcntl(STDOUT_FILENO, F_GETFD) == -1)
		errc(EXIT_ERR, EBADF, "stdout");
	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			_exit(EXIT_ERR);
	if (closed0 && opt.input == NULL)
		errc(EXIT_ERR, EBADF, "stdin");
#ifdef HAVE_CLOSE_RANGE
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	for (fd = 3; fd < 65536 && fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/*
 * The signal mask and dispositions.  A signal ignored when smap started
 * (nohup, trap '' INT) stays ignored, by smap and by its jobs.  The
 * others that would end smap, and SIGTSTP and SIGCONT, are blocked into
 * *sigs, for the signalfd.  SIGPIPE and SIGXFSZ are ignored (EPIPE and
 * EFBIG instead), SIGCHLD is at its default (waitpid(2)).  When standard
 * error is the controlling terminal, SIGTTOU is ignored, so that a job
 * writing to it from its own process group under `stty tostop' is not
 * stopped.  *keep: the signals jobs start with ignored.
 */
static void
sigsetup(sigset_t *sigs, sigset_t *keep)
{
	struct sigaction	sa;
	size_t			i;
	int			sig;

	sigemptyset(sigs);
	sigemptyset(keep);
	for (sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 &&
		    sa.sa_handler == SIG_IGN)
			sigaddset(keep, sig);
	for (i = 0; i < sizeof(endsigs) / sizeof(endsigs[0]); i++)
		if (!sigismember(keep, endsigs[i]))
			sigaddset(sigs, endsigs[i]);
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		if (!sigismember(keep, sig))
			sigaddset(sigs, sig);
	if (!sigismember(keep, SIGTSTP))
		sigaddset(sigs, SIGTSTP);
	sigaddset(sigs, SIGCONT);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	if (isatty(STDERR_FILENO) && tcgetpgrp(STDERR_FILENO) != -1) {
		signal(SIGTTOU, SIG_IGN);
		sigaddset(keep, SIGTTOU);
	}
}

/*
 * The exit status for cause w.  A halt that left nothing undone (the
 * failing job was the last, every record ran, no job was stopped:
 * cutshort) ends as a run without one would.
 */
static int
finish(enum stop w, int cutshort)
{
	int	e = causes[w].exitwith;

	if ((w == STOP_HALTSOON || w == STOP_HALTNOW) && !cutshort &&
	    order_undone() == 0)
		w = STOP_DONE;
	if (w == STOP_DONE)
		return order_failed(NULL) > 0 ? EXIT_FAILED : EXIT_OK;
	if (w == STOP_SIGNAL)
		die(whysig);
	if (e < 0)
		die(-e);
	return e;
}

int
main(int argc, char *argv[])
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd[3];
	struct timespec		 deadline;
	const struct cause	*c = NULL;
	sigset_t		 sigs, keep;
	pthread_t		 feeder;
	const char		*errstr;
	char			 drain[64];
	uint64_t		 mm;
	long			 n;
	int			 ch, error, sfd, infd, acted, watchout, stage;
	int			 timeout, sig, cutshort;

	setvbuf(stderr, NULL, _IOLBF, BUFSIZ);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	opt.njobs = n < 1 ? 1 : n > MAXJOBS ? MAXJOBS : n;
	while ((ch = getopt_long(argc, argv, "+0a:b:d:hI:j:kN:n:uV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case '0':
			opt.delim = '\0';
			break;
		case 'a':
			opt.input = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "inf") == 0) {
				opt.window = SIZE_MAX;
				break;
			}
			opt.window = strtonum(optarg, 1, LLONG_MAX, &errstr);
			if (errstr != NULL)
				usage("-b %s: %s", optarg, errstr);
			break;
		case 'd':
			if ((opt.delim = feed_delim(optarg)) == -1)
				usage("-d %s: not a single byte", optarg);
			break;
		case 'h':
			help();
		case 'I':
			if (*optarg == '\0')
				usage("-I: empty replacement string");
			opt.repl = optarg;
			break;
		case 'j':
			opt.njobs = parse_jobs(optarg);
			break;
		case 'k':
			opt.unordered = 0;
			break;
		case 'N':
		case 'n':
			opt.maxargs = strtonum(optarg, 1, 1000000, &errstr);
			if (errstr != NULL)
				usage("-%c %s: %s", ch, optarg, errstr);
			break;
		case 'u':
			opt.unordered = 1;
			break;
		case 'V':
			printf("smap %s\n", VERSION);
			exit(EXIT_OK);
		case OPT_BLOCK:
			if (expand_number(optarg, &mm) == -1 || mm == 0 ||
			    mm > SIZE_MAX / 4)
				usage("--block %s: invalid size", optarg);
			opt.block = mm;
			break;
		case OPT_COLSEP:
			opt.colsep = optarg;
			break;
		case OPT_DRYRUN:
			opt.dryrun = 1;
			break;
		case OPT_FAILFAST:
			parse_halt("now,fail=1", &opt.halt);
			break;
		case OPT_HALT:
			if (parse_halt(optarg, &opt.halt) == -1)
				usage("--halt %s: invalid policy", optarg);
			break;
		case OPT_JOBLOG:
			opt.joblog = optarg;
			break;
		case OPT_PIPE:
			opt.pipe = 1;
			break;
		case OPT_PROGRESS:
			if (optarg == NULL)
				opt.progress = isatty(STDERR_FILENO);
			else if (strcmp(optarg, "always") == 0)
				opt.progress = 1;
			else if (strcmp(optarg, "auto") == 0)
				opt.progress = isatty(STDERR_FILENO);
			else
				usage("--progress=%s: not always or auto",
				    optarg);
			break;
		case OPT_RETRIES:
			opt.retries = strtonum(optarg, 1, 1000000, &errstr);
			if (errstr != NULL)
				usage("--retries %s: %s", optarg, errstr);
			break;
		case OPT_TAG:
			opt.tag = 1;
			break;
		case OPT_TIMEOUT:
			if ((opt.timeout = parse_duration(optarg)) == -1)
				usage("--timeout %s: invalid duration", optarg);
			break;
		case OPT_MAXDISK:
			if (expand_number(optarg, &mm) == -1 || mm == 0 ||
			    mm > INT64_MAX)
				usage("--max-disk %s: invalid size", optarg);
			opt.maxdisk = mm;
			break;
		case OPT_MAXMEM:
			if (expand_number(optarg, &mm) == -1 || mm == 0)
				usage("--max-memory %s: invalid size", optarg);
			opt.maxmem = mm;
			break;
		case OPT_SHELL:
			if (access(optarg, X_OK) == -1)
				usage("--shell %s: %s", optarg, strerror(errno));
			opt.shell = optarg;
			break;
		default:
			usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage("missing command");
	if (opt.colsep != NULL && (opt.maxargs > 1 || opt.pipe))
		usage("--colsep: not with -n or --pipe");
	if (opt.block > 0 && !opt.pipe)
		usage("--block: only with --pipe");
	if (opt.block > 0 && opt.maxargs == 1)
		opt.maxargs = SIZE_MAX;	/* records up to --block */
	if ((size_t)opt.njobs > opt.window)
		opt.njobs = opt.window;

	fdsetup();
	infd = STDIN_FILENO;
	if (opt.input != NULL && strcmp(opt.input, "-") != 0 &&
	    (infd = open(opt.input, O_RDONLY | O_CLOEXEC)) == -1)
		err(EXIT_ERR, "%s", opt.input);

	sigsetup(&sigs, &keep);
	if ((error = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0)
		errc(EXIT_ERR, error, "pthread_sigmask");
	if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		err(EXIT_ERR, "signalfd");
	if (pipe2(ctl, O_CLOEXEC | O_NONBLOCK) == -1)
		err(EXIT_ERR, "pipe2");

	cmd_init(argc, argv);
	order_init();
	spawn_init(&keep);
	report_init(infd);
	spawn_start();		/* before any job can exist */
	if ((error = pthread_create(&feeder, NULL, feed_main,
	    (void *)(intptr_t)infd)) != 0)
		errc(EXIT_ERR, error, "pthread_create");

	pfd[0].fd = ctl[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	pfd[2].fd = STDOUT_FILENO;
	pfd[2].events = 0;
	watchout = 1;
	acted = STOP_NONE;
	stage = S_RUN;
	cutshort = 0;
	for (;;) {
		if (why != acted) {		/* a stronger cause */
			acted = why;
			c = &causes[acted];
			if (acted == STOP_DONE)
				break;
			if (acted == STOP_HALTSOON || acted == STOP_HALTNOW)
				order_halt();
			else
				order_stop();
			spawn_nostart();
			sig = c->signal == -1 ? whysig : c->signal;
			stage = S_WAIT;
			if (sig != 0) {
				if (spawn_kill(sig) > 0)
					cutshort = 1;
				stage = S_GRACE;
				setdeadline(&deadline, GRACE_MS);
			}
		}
		if (acted != STOP_NONE && (c->flush ?
		    spawn_exited == opt.njobs : spawn_kill(0) == 0))
			break;
		if (stage == S_GRACE && msleft(&deadline) == 0) {
			spawn_kill(SIGKILL);
			stage = c->flush ? S_WAIT : S_KILLED;
			setdeadline(&deadline, 100);
		}
		/* A worker stuck writing to a stopped reader: jobs are dead. */
		if (stage == S_KILLED && msleft(&deadline) == 0)
			break;
		timeout = stage >= S_GRACE ? (int)msleft(&deadline) : -1;
		if (opt.progress) {
			report_progress(0);
			if (timeout == -1 || timeout > 100)
				timeout = 100;
		}
		if (poll(pfd, watchout ? 3 : 2, timeout) == -1 &&
		    errno != EINTR)
			smap_fatal("poll");
		if (pfd[0].revents & POLLIN)
			while (read(ctl[0], drain, sizeof(drain)) > 0)
				;
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGTSTP:
				spawn_kill(SIGTSTP);
				kill(getpid(), SIGSTOP);
				break;
			case SIGCONT:
				spawn_kill(SIGCONT);
				break;
			default:
				if (why == STOP_SIGNAL) {
					/* A second signal: no more waiting. */
					spawn_kill(SIGKILL);
					for (n = 0; n < 100 && spawn_kill(0) > 0;
					    n++)
						usleep(1000);
					die(si.ssi_signo);
				}
				smap_stop(STOP_SIGNAL, si.ssi_signo);
			}
		}
		if (watchout && pfd[2].revents != 0) {
			watchout = 0;
			if (pfd[2].revents & POLLNVAL) {
				errno = EBADF;
				smap_fatal("stdout");
			}
			smap_stop(STOP_EPIPE, 0);
		}
	}
	if (opt.progress)
		report_progress(1);

	if (acted == STOP_DONE) {
		pthread_join(feeder, NULL);
		spawn_join();
	}
	return finish(acted, cutshort);
}
