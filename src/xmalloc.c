/*
 * Allocation that cannot fail: when memory runs out, smap stops its jobs
 * and exits 1 (smap_fatal).
 */

#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "smap.h"

/* malloc(3), or exit. */
void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		smap_fatal("malloc");
	return p;
}

/* calloc(3), or exit. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		smap_fatal("calloc");
	return p;
}

/* reallocarray(3), or exit. */
void *
xreallocarray(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n == 0 ? 1 : n, size == 0 ? 1 : size)) ==
	    NULL)
		smap_fatal("reallocarray");
	return p;
}

/* strdup(3), or exit. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		smap_fatal("strdup");
	return p;
}
