/*
 * What smap.c, order.c and spawn.c provide to the pure modules, for the
 * fuzz targets that link src/cmd.c, src/feed.c and src/xmalloc.c alone.
 * The order_* stubs (what feed.c calls) are weak: a target that drives feed_main
 * (fuzz_split.c) defines its own; any other call is a harness error.
 */

#include <stdio.h>
#include <stdlib.h>

#include "smap.h"

struct opts opt = OPTS_DEFAULT;

#define WEAK	__attribute__((__weak__))

static void __dead
unexpected(const char *fn)
{
	fprintf(stderr, "fuzz harness: unexpected call to %s\n", fn);
	abort();
}

void smap_stop(enum stop w, int sig) { (void)w; (void)sig; }
WEAK int smap_stopping(void) { return 0; }
void smap_wake(void) { }
void __dead smap_fatal(const char *what) { perror(what); abort(); }

WEAK struct job *order_alloc(void) { unexpected(__func__); }
WEAK int order_more(uint32_t n) { (void)n; unexpected(__func__); }
WEAK void order_bad(void) { unexpected(__func__); }
WEAK void order_unalloc(struct job *j) { (void)j; unexpected(__func__); }
WEAK void order_put(struct job *j) { (void)j; unexpected(__func__); }
WEAK void order_eof(void) { unexpected(__func__); }
