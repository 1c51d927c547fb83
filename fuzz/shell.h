/*
 * Shared by the fuzz targets: a tiny parser of what cmd_quote and
 * cmd_line produce (an independent model of the few shell rules they
 * rely on), and running a real /bin/sh on a command line.
 */

#include <stddef.h>

/* At most this many words out of one parse. */
#define SH_MAXWORDS	65536

/* One parse: words NUL-separated in buf, and where each starts. */
struct shwords {
	char	*buf;			/* owned */
	size_t	 n;
	size_t	 off[SH_MAXWORDS];
	size_t	 len[SH_MAXWORDS];
	int	 bare[SH_MAXWORDS];	/* no quoting at all in the word */
	size_t	 prefix[SH_MAXWORDS];	/* bytes before the first quote */
};

int	sh_plain(int);
int	sh_split(const char *, size_t, struct shwords *);
void	sh_free(struct shwords *);
int	sh_reserved(const char *, size_t);
int	sh_assignment(const char *, size_t);
int	sh_run(const char *, char *, size_t, size_t *, int *);
