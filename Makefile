# smap: GNU make.  A plain `make` bootstraps (autoreconf, configure).

include config.mk

WARNS=	-Wall -Wextra -Wshadow -Wpointer-arith -Wmissing-prototypes \
	-Wstrict-prototypes -Wno-unused-parameter
B?=	src
SRCS=	cmd.c feed.c order.c out.c report.c smap.c spawn.c xmalloc.c
OBJS=	$(SRCS:%.c=$(B)/%.o)
LIBOBJS=$(filter-out $(B)/smap.o,$(OBJS))
PREFIX?=$(prefix)
BINDIR=	$(PREFIX)/bin
MANDIR=	$(PREFIX)/share/man
BATS?=	bats
SAN_CFLAGS= -O1 -g -fno-omit-frame-pointer

.PHONY: all check check-unit check-bats check-asan check-tsan \
	check-valgrind lint install uninstall clean bench fuzz soak

all: $(B)/smap

$(B)/smap: $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

$(B)/%.o: src/%.c src/smap.h config.mk
	@mkdir -p $(B)
	$(CC) $(CPPFLAGS) -DVERSION='"$(VERSION)"' $(CFLAGS) $(WARNS) -c -o $@ $<

$(B)/unit: tests/unit.c $(LIBOBJS)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNS) -Isrc -o $@ tests/unit.c \
	    $(LIBOBJS) $(LDFLAGS) $(LIBS)

config.mk: configure src/config.mk.in
	./configure

configure: configure.ac
	autoreconf -fi

check: check-unit check-bats

check-unit: $(B)/unit
	$(B)/unit

check-bats: $(B)/smap
	SMAP_DIR=$(abspath $(B)) $(BATS) tests

# The whole suite on instrumented builds, each in its own directory.
check-asan:
	SMAP_SANITIZED=1 $(MAKE) B=build-asan CFLAGS="$(SAN_CFLAGS) \
	    -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" check

check-tsan:
	TSAN_OPTIONS="report_thread_leaks=0 $$TSAN_OPTIONS" SMAP_SANITIZED=1 \
	$(MAKE) B=build-tsan CFLAGS="$(SAN_CFLAGS) -fsanitize=thread" \
	    LDFLAGS="-fsanitize=thread" check

check-valgrind: $(B)/smap $(B)/unit
	valgrind -q --error-exitcode=99 --leak-check=full $(B)/unit
	@mkdir -p build-valgrind
	printf '#!/bin/sh\nexec valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --trace-children=no --vgdb=no --max-threads=5000 %s "$$@"\n' \
	    $(abspath $(B))/smap > build-valgrind/smap
	chmod +x build-valgrind/smap
	SMAP_DIR=$(abspath build-valgrind) SMAP_VALGRIND=1 $(BATS) tests

lint:
	mandoc -Tlint -Wwarning man/smap.1

bench: $(B)/smap
	bench/run

# libFuzzer targets (clang), FUZZ_SECONDS each.
fuzz:
	fuzz/run

# 200,000 records of random jobs; flat memory and descriptors.
soak: $(B)/smap
	SMAP=$(abspath $(B))/smap tests/soak.sh

install: $(B)/smap
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(B)/smap $(DESTDIR)$(BINDIR)/smap
	install -m 644 man/smap.1 $(DESTDIR)$(MANDIR)/man1/smap.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/smap $(DESTDIR)$(MANDIR)/man1/smap.1

clean:
	rm -f src/*.o src/smap src/unit
	rm -rf build-asan build-tsan build-valgrind bench/.build fuzz/.build
