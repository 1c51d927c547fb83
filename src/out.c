/*
 * The transports: how bytes reach standard output (write(2), splice(2)
 * from a job's pipe, sendfile(2) from the spill file) and how the spill
 * file is made.  Owns what is known of standard output: whether it
 * failed, and which of the kernel's moves it takes.  The caller of each
 * out_* function that writes owns standard output (order.c decides who).
 */

#include <sys/sendfile.h>
#include <sys/stat.h>

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

static atomic_int	outbad;		/* standard output failed */
static atomic_int	nosplice;	/* splice(2) to it fails */
static atomic_int	nosendfile;	/* sendfile(2) to it fails */
static atomic_int	grown;		/* its pipe made larger */
static atomic_int	nbig;		/* job pipes made BIGPIPE large */

static void	outerr(int);

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
 * Whether what sendfile(2) moves to standard output may still refer to
 * the file's pages after it returns: a pipe or a socket, not a file or
 * a device.  Asked once.
 */
int
out_byref(void)
{
	static atomic_int	byref = -1;
	struct stat		st;

	if (byref == -1)
		byref = fstat(STDOUT_FILENO, &st) == -1 ||
		    !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) ||
		    S_ISBLK(st.st_mode));
	return byref;
}

/* Whether standard output has failed: then output goes nowhere. */
int
out_failed(void)
{
	return outbad;
}

/*
 * Writes n bytes to standard output.  Returns -1 once it has failed:
 * then the output goes nowhere.
 */
int
out_write(const char *p, size_t n)
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
 * Moves what the pipe fd holds to standard output without copying it
 * through smap.  Returns the bytes moved, 0 at the end of fd, or -1
 * where splice(2) cannot serve (read(2) instead).
 */
ssize_t
out_splice(int fd)
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
void
out_copy(int fd, off_t off, off_t len)
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
		out_write(buf, r);
		off += r;
		len -= r;
	}
}

/*
 * A job's pipe fd carries a big output: fewer, larger moves.  It is made
 * BIGPIPE large, a few such pipes at a time (past the user's soft limit
 * of pipe memory, new pipes get 2 pages, pipe(7)); standard output, if
 * it is a pipe, is made as large once.  Returns whether fd was enlarged,
 * to be given back with out_unbig().
 */
int
out_big(int fd)
{
	int	big = 0;

	if (atomic_fetch_add(&nbig, 1) < BIGPIPES) {
		fcntl(fd, F_SETPIPE_SZ, BIGPIPE);
		big = 1;
	} else
		atomic_fetch_sub(&nbig, 1);
	if (!atomic_exchange(&grown, 1) &&
	    fcntl(STDOUT_FILENO, F_GETPIPE_SZ) < BIGPIPE)
		fcntl(STDOUT_FILENO, F_SETPIPE_SZ, BIGPIPE);
	return big;
}

/* A pipe that out_big() enlarged is closed. */
void
out_unbig(void)
{
	atomic_fetch_sub(&nbig, 1);
}

/* An unlinked temporary file in dir, or -1. */
int
out_tmpfile(const char *dir)
{
	char		 path[PATH_MAX];
	int		 fd;

	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1)
		return fd;
	if (snprintf(path, sizeof(path), "%s/smap.XXXXXX", dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	unlink(path);
	return fd;
}
