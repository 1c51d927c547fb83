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

struct opts opt = {
	.window = 10000,
	.delim = '\n',
	.repl = "{}",
	.maxmem = 64 * 1024 * 1024,
};

static pthread_mutex_t	 stlock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int	 why;		/* enum stop; written under stlock */
static int		 whysig;	/* STOP_SIGNAL: which; under stlock */
static int		 ctl[2];	/* threads wake main */

enum {
	OPT_MAXMEM = CHAR_MAX + 1,
	OPT_SHELL,
};

static const struct option longopts[] = {
	{ "null",		no_argument,		NULL, '0' },
	{ "arg-file",		required_argument,	NULL, 'a' },
	{ "buffer-size",	required_argument,	NULL, 'b' },
	{ "delimiter",		required_argument,	NULL, 'd' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "jobs",		required_argument,	NULL, 'j' },
	{ "keep-order",		no_argument,		NULL, 'k' },
	{ "unordered",		no_argument,		NULL, 'u' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "max-memory",		required_argument,	NULL, OPT_MAXMEM },
	{ "shell",		required_argument,	NULL, OPT_SHELL },
	{ NULL,			0,			NULL, 0 }
};

static void __dead	usage(const char *, ...);
static void __dead	help(void);
static void __dead	die(int);
static long		msleft(const struct timespec *);
static void		fdsetup(void);

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
"usage: smap [-0hkuV] [-a file] [-b n|inf] [-d c] [-I str] [-j n]\n"
"            [--max-memory size] [--shell path] [--] command [arg ...]\n"
"Runs command once per input record, in parallel, and writes the outputs\n"
"in input order, the oldest job's output live.\n"
"\n"
"  -0, --null            records end at NUL\n"
"  -a, --arg-file FILE   read records from FILE, not standard input\n"
"  -b, --buffer-size N   at most N records read and not written out\n"
"                        (default 10000; inf for no bound)\n"
"  -d, --delimiter C     records end at byte C (\\n \\t \\0 \\\\ \\xHH)\n"
"  -h, --help            print this help and exit\n"
"  -I STR                use STR in place of {}\n"
"  -j, --jobs N          run N jobs at once (default: online processors)\n"
"  -k, --keep-order      outputs in input order (the default)\n"
"  -u, --unordered       each output whole as its job ends\n"
"  -V, --version         print the version and exit\n"
"      --max-memory SIZE held output kept in memory (default 64M; K, M, G)\n"
"      --shell PATH      run lines with PATH -c (default /bin/sh)\n"
"\n"
"Replacement strings: {} record, {.} without extension, {/} basename,\n"
"{//} dirname, {/.} basename without extension, {#} job number, {%%} slot.\n"
"Without one, the record is appended as the last word.  See smap(1).\n");
	exit(EXIT_OK);
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
	for (fd = 3; fd < 65536 && fd < sysconf(_SC_OPEN_MAX); fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int
main(int argc, char *argv[])
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd[3];
	struct timespec		 deadline;
	sigset_t		 sigs;
	pthread_t		 feeder;
	const char		*errstr;
	char			 drain[64];
	uint64_t		 mm;
	long			 n;
	int			 ch, error, sfd, infd, acted, watchout, killed;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	opt.njobs = n < 1 ? 1 : n > MAXJOBS ? MAXJOBS : n;
	while ((ch = getopt_long(argc, argv, "+0a:b:d:hI:j:kuV", longopts,
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
			opt.njobs = strtonum(optarg, 1, MAXJOBS, &errstr);
			if (errstr != NULL)
				usage("-j %s: %s", optarg, errstr);
			break;
		case 'k':
			opt.unordered = 0;
			break;
		case 'u':
			opt.unordered = 1;
			break;
		case 'V':
			printf("smap %s\n", VERSION);
			exit(EXIT_OK);
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
	if ((size_t)opt.njobs > opt.window)
		opt.njobs = opt.window;

	fdsetup();
	infd = STDIN_FILENO;
	if (opt.input != NULL &&
	    (infd = open(opt.input, O_RDONLY | O_CLOEXEC)) == -1)
		err(EXIT_ERR, "%s", opt.input);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTSTP);
	sigaddset(&sigs, SIGCONT);
	if ((error = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0)
		errc(EXIT_ERR, error, "pthread_sigmask");
	if ((sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		err(EXIT_ERR, "signalfd");
	if (pipe2(ctl, O_CLOEXEC | O_NONBLOCK) == -1)
		err(EXIT_ERR, "pipe2");

	cmd_init(argc, argv);
	order_init();
	spawn_init();
	if ((error = pthread_create(&feeder, NULL, feed_main,
	    (void *)(intptr_t)infd)) != 0)
		errc(EXIT_ERR, error, "pthread_create");
	spawn_start();

	pfd[0].fd = ctl[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	pfd[2].fd = STDOUT_FILENO;
	pfd[2].events = 0;
	watchout = 1;
	acted = STOP_NONE;
	killed = 0;
	for (;;) {
		if (why != acted) {
			acted = why;
			if (acted == STOP_DONE)
				break;
			order_stop();
			spawn_kill(acted == STOP_SIGNAL ? whysig : SIGTERM);
			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_sec += GRACE_MS / 1000;
			deadline.tv_nsec += GRACE_MS % 1000 * 1000000L;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
		}
		if (acted > STOP_DONE) {
			if (spawn_kill(0) == 0)
				break;
			if (!killed && msleft(&deadline) == 0) {
				spawn_kill(SIGKILL);
				killed = 1;
			}
		}
		if (poll(pfd, watchout ? 3 : 2, acted > STOP_DONE && !killed ?
		    (int)msleft(&deadline) : -1) == -1 && errno != EINTR)
			err(EXIT_ERR, "poll");
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
			if (pfd[2].revents & POLLNVAL)
				errc(EXIT_ERR, EBADF, "stdout");
			smap_stop(STOP_EPIPE, 0);
		}
	}

	switch (acted) {
	case STOP_DONE:
		pthread_join(feeder, NULL);
		spawn_join();
		return order_failed() > 0 ? EXIT_FAILED : EXIT_OK;
	case STOP_SIGNAL:
		die(whysig);
	case STOP_EPIPE:
		die(SIGPIPE);
	case STOP_HALT:
		return EXIT_HALTED;
	default:
		return EXIT_ERR;
	}
}
