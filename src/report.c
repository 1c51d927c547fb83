/*
 * What smap tells about its jobs besides their output: the --joblog
 * lines, in GNU parallel's format, and the --progress line on stderr.
 */

#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smap.h"

static pthread_mutex_t	 loglock = PTHREAD_MUTEX_INITIALIZER;
static int		 logfd = -1;	/* [I] --joblog */
static int		 logbad;	/* it failed; under loglock */
static off_t		 insize;	/* [I] input size, if a regular file */
static struct timespec	 t0;		/* [I] when smap started */

static int	writeall(int, const char *, size_t);

/* Writes all n bytes of p to fd; -1 with errno set when it cannot. */
static int
writeall(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/* Opens the job log and notes what --progress needs of the input. */
void
report_init(int infd)
{
	static const char hdr[] = "Seq\tHost\tStarttime\tJobRuntime\tSend\t"
	    "Receive\tExitval\tSignal\tCommand\n";
	struct stat	st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fstat(infd, &st) == 0 && S_ISREG(st.st_mode))
		insize = st.st_size - lseek(infd, 0, SEEK_CUR);
	if (opt.joblog == NULL)
		return;
	if (strcmp(opt.joblog, "-") == 0)
		logfd = STDERR_FILENO;
	else if ((logfd = open(opt.joblog, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0666)) == -1)
		err(EXIT_ERR, "%s", opt.joblog);
	if (writeall(logfd, hdr, sizeof(hdr) - 1) == -1)
		err(EXIT_ERR, "%s", opt.joblog);
}

/*
 * Logs one try t of job j, that ran command line cmd.  A log that cannot
 * be written is reported once, and smap stops with an error: a log with
 * lines missing would mislead.
 */
void
report_job(const struct job *j, const struct try *t, const char *cmd)
{
	struct timespec	 now;
	char		*line;
	double		 start, run;
	size_t		 cmdlen, cap;
	int		 len, ev, sig, e;

	clock_gettime(CLOCK_REALTIME, &now);
	start = t->start.tv_sec + t->start.tv_nsec / 1e9;
	run = now.tv_sec + now.tv_nsec / 1e9 - start;
	ev = t->status == -1 ? -1 : WIFEXITED(t->status) ?
	    WEXITSTATUS(t->status) : 0;
	sig = t->status != -1 && WIFSIGNALED(t->status) ?
	    WTERMSIG(t->status) : 0;
	cmdlen = strlen(cmd);
	cap = cmdlen + 160;
	line = xmalloc(cap);
	len = snprintf(line, cap, "%ju\t:\t%.3f\t%10.3f\t%ju\t%ju\t%d\t%d\t",
	    (uintmax_t)j->seq, start, run, (uintmax_t)t->sent,
	    (uintmax_t)t->received, ev, sig);
	if (len < 0 || (size_t)len + cmdlen + 1 >= cap)
		len = 0;	/* cannot be: 160 holds the numbers */
	memcpy(line + len, cmd, cmdlen);
	line[len + cmdlen] = '\n';
	pthread_mutex_lock(&loglock);
	if (!logbad && writeall(logfd, line, len + cmdlen + 1) == -1) {
		e = errno;
		logbad = 1;
		warnc(e, "%s", opt.joblog);
		smap_stop(STOP_ERROR, 0);
	}
	pthread_mutex_unlock(&loglock);
	free(line);
}

/* Draws the --progress line; the last one (final) ends with a newline. */
void
report_progress(int final)
{
	struct timespec	 now;
	uint64_t	 ended, failed, in;
	double		 secs, rate, frac;
	char		 eta[64] = "";
	long		 left;

	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
	failed = order_failed(&ended);
	rate = secs > 0 ? ended / secs : 0;
	if (insize > 0) {
		in = feed_bytes;
		frac = (double)in / insize;
		if (frac > 1)
			frac = 1;
		left = frac > 0 ? (long)(secs / frac - secs + 0.5) : -1;
		if (left >= 0)
			snprintf(eta, sizeof(eta), ", %d%% of input, ETA "
			    "%ld:%02ld:%02ld", (int)(frac * 100), left / 3600,
			    left / 60 % 60, left % 60);
		else
			snprintf(eta, sizeof(eta), ", %d%% of input",
			    (int)(frac * 100));
	}
	fprintf(stderr, "\rsmap: %ju done, %u running, %ju failed, %.1f/s%s"
	    "\033[K%s", (uintmax_t)ended, spawn_kill(0), (uintmax_t)failed,
	    rate, eta, final ? "\n" : "");
	fflush(stderr);
}
