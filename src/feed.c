/*
 * The feeder thread: reads the input in large read(2)s, splits it into
 * records and puts each in a job, waiting while the window is full.
 */

#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smap.h"

#define READSZ	(256 * 1024)

static void	emit(const char *, size_t, uint64_t);

/*
 * The length of the first record in buf (len bytes); *complete tells
 * whether its delimiter was found (then the record and one byte more
 * are consumed).
 */
size_t
feed_scan(const char *buf, size_t len, int delim, int *complete)
{
	const char	*p;

	if ((p = memchr(buf, delim, len)) == NULL) {
		*complete = 0;
		return len;
	}
	*complete = 1;
	return p - buf;
}

/*
 * Parses a delimiter as -d takes it: one byte, or \n, \t, \0, \\, \xHH.
 * Returns the byte, or -1.
 */
int
feed_delim(const char *s)
{
	char	*end;
	long	 v;

	if (s[0] != '\0' && s[1] == '\0')
		return (unsigned char)s[0];
	if (s[0] != '\\' || s[1] == '\0')
		return -1;
	if (s[2] == '\0') {
		switch (s[1]) {
		case 'n':
			return '\n';
		case 't':
			return '\t';
		case '0':
			return '\0';
		case '\\':
			return '\\';
		}
		return -1;
	}
	if (s[1] != 'x' || strlen(s) > 4 || strspn(s + 2, "0123456789abcdefABCDEF") !=
	    strlen(s + 2))
		return -1;
	v = strtol(s + 2, &end, 16);
	return *end == '\0' ? (int)v : -1;
}

/* Puts a record in a new job; blocks while the window is full. */
static void
emit(const char *rec, size_t len, uint64_t seq)
{
	struct job	*j;

	if ((j = order_alloc()) == NULL)
		return;
	if (len + 1 > j->reccap) {
		free(j->rec);
		j->reccap = len + 1;
		j->rec = xmalloc(j->reccap);
	}
	memcpy(j->rec, rec, len);
	j->rec[len] = '\0';
	j->len = len;
	j->seq = seq;
	j->bad = memchr(rec, '\0', len) != NULL ? "contains a NUL byte" :
	    NULL;
	order_put(j);
}

/* The feeder thread: arg is the input descriptor. */
void *
feed_main(void *arg)
{
	const char	*name = opt.input != NULL ? opt.input : "stdin";
	size_t		 start = 0, end = 0, from = 0, cap = READSZ, n;
	uint64_t	 seq = 0;
	ssize_t		 r;
	char		*buf;
	int		 fd = (int)(intptr_t)arg, eof = 0, complete;

	buf = xmalloc(cap);
	while (!smap_stopping()) {
		if (start < end) {
			n = feed_scan(buf + from, end - from, opt.delim,
			    &complete);
			if (complete || eof) {
				n += from - start;
				emit(buf + start, n, ++seq);
				start += n + complete;
				from = start;
				continue;
			}
			from = end;
		} else if (eof)
			break;
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			end -= start;
			from -= start;
			start = 0;
		}
		if (cap - end < READSZ / 2) {
			buf = xreallocarray(buf, 2, cap);
			cap *= 2;
		}
		if ((r = read(fd, buf + end, cap - end)) == -1) {
			if (errno == EINTR)
				continue;
			warn("%s", name);
			smap_stop(STOP_ERROR, 0);
			break;
		}
		if (r == 0)
			eof = 1;
		end += r;
	}
	free(buf);
	order_eof();
	return NULL;
}
