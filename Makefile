# vmlua: build, test, install.
#
#   make              build build/vmlua, build/lib/vmlua/core.so, C tests and fakes
#   make lib          only build/vmlua and build/lib/vmlua/core.so
#   make test         build and run every test (unit, C, end to end)
#   make check        the same tests against an ASan+UBSan build (build/asan/)
#   make test-all     both of the above, then one summary line "N passed, N failed"
#   make deps         install the Debian packages needed to build and test
#   make guest        build the guest kit (kernel + initramfs) into build/guest/
#   make demo         the main job: boot the demo guest with a shared folder
#   make bench        run the benchmarks under bench/
#   make fuzz         run every fuzz target FUZZ_SECONDS (60) with libFuzzer (clang)
#   make install      PREFIX=/usr/local DESTDIR= ; make uninstall
#
# luarocks (build type make) passes CC, CFLAGS, LIBFLAG, LUA_INCDIR and the
# install directories; every variable below has a default for plain make.

VERSION    := 0.1.0

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LUADIR     ?= $(PREFIX)/share/lua/5.4
LIBDIR     ?= $(PREFIX)/lib/lua/5.4
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

CC         ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS     ?= -O2 -g
LIBFLAG    ?= -shared

PKGS       := lua5.4 json-c libbsd-overlay
# Recursive (=), so pkg-config runs when a compile needs it, not when make
# parses this file: `make deps demo` installs the -dev packages first.
PKG_CFLAGS  = $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# The module links json-c and libbsd but not liblua: the host provides Lua.
MOD_LIBS    = $(shell $(PKG_CONFIG) --libs json-c libbsd 2>/dev/null)

LUA_INCDIR ?=
ifneq ($(LUA_INCDIR),)
PKG_CFLAGS += -I$(LUA_INCDIR)
endif

WARN       := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral
DEFS       := -D_GNU_SOURCE -DVMLUA_VERSION='"$(VERSION)"'
ALL_CFLAGS  = $(WARN) $(DEFS) -fPIC $(CFLAGS) $(PKG_CFLAGS)

SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Every core/*.c except main.c goes into both the executable and the module.
CORE_SRC   := $(filter-out core/main.c,$(sort $(wildcard core/*.c)))
CORE_HDR   := $(wildcard core/*.h)
# Two layers: the bindings (core/l*.c; linebuf.c is not one) and the
# Lua-free C below them. The Lua-free files are compiled without Lua's
# include path and the C tests link them without liblua: a Lua-free file
# that includes <lua.h> or calls into Lua does not build.
BIND_SRC   := $(filter-out core/linebuf.c,$(filter core/l%.c,$(CORE_SRC)))
LUAFREE_SRC := $(filter-out $(BIND_SRC),$(CORE_SRC))
NOLUA_CFLAGS = $(WARN) $(DEFS) -fPIC $(CFLAGS) $(shell $(PKG_CONFIG) --cflags json-c libbsd-overlay 2>/dev/null)
CTEST_SRC  := $(sort $(wildcard tests/c/test_*.c))
# Fuzz targets (see "fuzzing" below): each also replays as a C test.
FUZZ_C     := $(basename $(notdir $(wildcard tests/fuzz/c/*.c)))
FUZZ_LUA   := $(basename $(notdir $(wildcard tests/fuzz/lua/*.lua)))
# build/fuzz/ holds each target's binary beside these directories of the runs.
FUZZ_DIRS  := corpus crashes logs obj
$(foreach n,$(filter $(FUZZ_DIRS),$(FUZZ_C) $(FUZZ_LUA)),$(error fuzz target '$(n)': the name of a directory in build/fuzz/; name it otherwise))
FUZZ_NAMES := $(FUZZ_C) $(FUZZ_LUA)
FAKE_SRC   := $(sort $(wildcard tests/fakes/*.c))
BENCH_SRC  := $(sort $(wildcard bench/*.c))

B          := build
A          := build/asan

# Plain `make` builds everything tests/run needs (C tests and fakes too).
.DEFAULT_GOAL := all

lib: $(B)/vmlua $(B)/lib/vmlua/core.so

.PHONY: all lib asan test check test-all deps guest demo bench install uninstall clean lint rock

all: $(B)/vmlua $(B)/lib/vmlua/core.so $(B)/ctests $(B)/fakes $(B)/bench

asan: $(A)/vmlua $(A)/lib/vmlua/core.so $(A)/ctests $(A)/fakes $(A)/bench

# ---- normal build ---------------------------------------------------------
$(B)/obj/%.o: core/%.c $(CORE_HDR) | $(B)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(LUAFREE_SRC:core/%.c=$(B)/obj/%.o) $(LUAFREE_SRC:core/%.c=$(A)/obj/%.o) \
$(LUAFREE_SRC:core/%.c=build/fuzz/obj/%.o): ALL_CFLAGS = $(NOLUA_CFLAGS)

$(B)/vmlua: $(B)/obj/main.o $(CORE_SRC:core/%.c=$(B)/obj/%.o)
	$(CC) $(CFLAGS) -rdynamic -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(B)/lib/vmlua/core.so: $(CORE_SRC:core/%.c=$(B)/obj/%.o) | $(B)/lib/vmlua
	$(CC) $(CFLAGS) $(LIBFLAG) -o $@ $^ $(MOD_LIBS) $(LDFLAGS)

# ---- sanitizer build ------------------------------------------------------
$(A)/obj/%.o: core/%.c $(CORE_HDR) | $(A)/obj
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(A)/vmlua: $(A)/obj/main.o $(CORE_SRC:core/%.c=$(A)/obj/%.o)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -rdynamic -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(A)/lib/vmlua/core.so: $(CORE_SRC:core/%.c=$(A)/obj/%.o) | $(A)/lib/vmlua
	$(CC) $(CFLAGS) $(SAN_FLAGS) $(LIBFLAG) -o $@ $^ $(MOD_LIBS) $(LDFLAGS)

# ---- C tests and fakes (built in both flavours) ---------------------------
$(B)/ctests: $(CTEST_SRC:tests/c/%.c=$(B)/ctests.d/%) $(FUZZ_NAMES:%=$(B)/ctests.d/test_fuzz_%)
	@touch $@
$(B)/ctests.d/%: tests/c/%.c tests/c/tap.h $(LUAFREE_SRC:core/%.c=$(B)/obj/%.o) | $(B)/ctests.d
	$(CC) $(NOLUA_CFLAGS) -Icore -o $@ $< $(LUAFREE_SRC:core/%.c=$(B)/obj/%.o) $(MOD_LIBS) $(LDFLAGS)

$(A)/ctests: $(CTEST_SRC:tests/c/%.c=$(A)/ctests.d/%) $(FUZZ_NAMES:%=$(A)/ctests.d/test_fuzz_%)
	@touch $@
$(A)/ctests.d/%: tests/c/%.c tests/c/tap.h $(LUAFREE_SRC:core/%.c=$(A)/obj/%.o) | $(A)/ctests.d
	$(CC) $(NOLUA_CFLAGS) $(SAN_FLAGS) -Icore -o $@ $< $(LUAFREE_SRC:core/%.c=$(A)/obj/%.o) $(MOD_LIBS) $(LDFLAGS)

# Fakes are stand-alone programs (a fake cloud-hypervisor, a fake slow VMM).
# A fake too big for one file lives in tests/fakes/<name>/ (*.c and *.h) and
# builds into one program named <name>.
FAKE_DIRS  := $(patsubst %/,%,$(sort $(dir $(wildcard tests/fakes/*/*.c))))
FAKE_PROGS := $(FAKE_SRC:tests/fakes/%.c=%) $(notdir $(FAKE_DIRS))
$(B)/fakes: $(FAKE_PROGS:%=$(B)/fakes.d/%)
	@touch $@
$(B)/fakes.d/%: tests/fakes/%.c $(wildcard tests/fakes/*.h) | $(B)/fakes.d
	$(CC) $(WARN) $(DEFS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(MOD_LIBS) $(LDFLAGS)

$(A)/fakes: $(FAKE_PROGS:%=$(A)/fakes.d/%)
	@touch $@
$(A)/fakes.d/%: tests/fakes/%.c $(wildcard tests/fakes/*.h) | $(A)/fakes.d
	$(CC) $(WARN) $(DEFS) $(CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(MOD_LIBS) $(LDFLAGS)

# $(1): tests/fakes/<name>; builds <name> from every .c file in it.
define fake_dir_rules
$(B)/fakes.d/$(notdir $(1)): $(wildcard $(1)/*.c $(1)/*.h) | $(B)/fakes.d
	$$(CC) $$(WARN) $$(DEFS) $$(CFLAGS) $$(PKG_CFLAGS) -o $$@ $(wildcard $(1)/*.c) $$(MOD_LIBS) $$(LDFLAGS)
$(A)/fakes.d/$(notdir $(1)): $(wildcard $(1)/*.c $(1)/*.h) | $(A)/fakes.d
	$$(CC) $$(WARN) $$(DEFS) $$(CFLAGS) $$(SAN_FLAGS) $$(PKG_CFLAGS) -o $$@ $(wildcard $(1)/*.c) $$(MOD_LIBS) $$(LDFLAGS)
endef
$(foreach d,$(FAKE_DIRS),$(eval $(call fake_dir_rules,$(d))))

# Benchmark tools (baselines such as bench/seed-launcher.c; not test fakes).
$(B)/bench: $(BENCH_SRC:bench/%.c=$(B)/bench.d/%)
	@touch $@
$(B)/bench.d/%: bench/%.c | $(B)/bench.d
	$(CC) $(WARN) $(DEFS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(MOD_LIBS) $(LDFLAGS)
$(A)/bench: $(BENCH_SRC:bench/%.c=$(A)/bench.d/%)
	@touch $@
$(A)/bench.d/%: bench/%.c | $(A)/bench.d
	$(CC) $(WARN) $(DEFS) $(CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(MOD_LIBS) $(LDFLAGS)

# ---- fuzzing (docs/fuzzing.md) -------------------------------------------
# A target is one file: tests/fuzz/c/<name>.c (a reader in C, on the
# Lua-free layer) or tests/fuzz/lua/<name>.lua (a reader in Lua, run by
# tests/fuzz/lua_target.c). Each is built twice: a replay of its corpus and
# regressions under gcc, which `make test` and `make check` run with the C
# tests (build/ctests.d/test_fuzz_<name>; no clang needed), and a libFuzzer
# binary under clang for `make fuzz` (build/fuzz/<name>).
F          := build/fuzz
FUZZ_CC    ?= clang
FUZZ_SAN   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_DEPS  := tests/fuzz/fuzz.h tests/fuzz/replay.c
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 16384
FUZZ_TARGETS ?= $(FUZZ_NAMES)

# $(1) name, $(2) its source, $(3) flags, $(4) objects (core/%.c stems), $(5) libs
define fuzz_rules
$(B)/ctests.d/test_fuzz_$(1): $(2) $(FUZZ_DEPS) $(4:%=$(B)/obj/%.o) | $(B)/ctests.d
	$$(CC) $(3) -Itests/fuzz -Icore -DFUZZ_TARGET='"$(1)"' -DFUZZ_ROOT='"$$(CURDIR)"' -o $$@ \
	  tests/fuzz/replay.c $(2) $(4:%=$(B)/obj/%.o) $(5) $$(LDFLAGS)
$(A)/ctests.d/test_fuzz_$(1): $(2) $(FUZZ_DEPS) $(4:%=$(A)/obj/%.o) | $(A)/ctests.d
	$$(CC) $(3) $$(SAN_FLAGS) -Itests/fuzz -Icore -DFUZZ_TARGET='"$(1)"' -DFUZZ_ROOT='"$$(CURDIR)"' -o $$@ \
	  tests/fuzz/replay.c $(2) $(4:%=$(A)/obj/%.o) $(5) $$(LDFLAGS)
$(F)/$(1): $(2) tests/fuzz/fuzz.h $(4:%=$(F)/obj/%.o)
	$$(FUZZ_CC) $(3) $$(FUZZ_SAN) -fsanitize=fuzzer -Itests/fuzz -Icore -DFUZZ_LIBFUZZER -DFUZZ_TARGET='"$(1)"' \
	  -DFUZZ_ROOT='"$$(CURDIR)"' -o $$@ $(2) $(4:%=$(F)/obj/%.o) $(5) $$(LDFLAGS)
endef
$(foreach n,$(FUZZ_C),$(eval $(call fuzz_rules,$(n),tests/fuzz/c/$(n).c tests/fuzz/tmpdir.c,$$(NOLUA_CFLAGS),$(LUAFREE_SRC:core/%.c=%),$$(MOD_LIBS))))
$(foreach n,$(FUZZ_LUA),$(eval $(call fuzz_rules,$(n),tests/fuzz/lua_target.c tests/fuzz/tmpdir.c,$$(ALL_CFLAGS),$(CORE_SRC:core/%.c=%),$$(PKG_LIBS))))

$(F)/obj/%.o: core/%.c $(CORE_HDR) | $(F)/obj
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

.PHONY: fuzz fuzz-merge fuzz-deps
# Run each target for FUZZ_SECONDS (new inputs go to build/fuzz/corpus/,
# crashes to build/fuzz/crashes/); fails if any crashed.
# clang and its sanitizer runtimes are only for libFuzzer: installed here
# (when missing), not by `make deps`, which the build and the tests need.
fuzz-deps:
	tests/deps.sh clang libclang-rt-14-dev

fuzz: fuzz-deps
	$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(F)/%)
	tests/fuzz/run $(F) $(FUZZ_SECONDS) $(FUZZ_MAX_LEN) $(FUZZ_TARGETS)

# Keep what the runs found that adds coverage in the corpus under tests/.
fuzz-merge: fuzz-deps
	$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(F)/%)
	tests/fuzz/run --merge $(F) $(FUZZ_TARGETS)

$(B)/obj $(A)/obj $(B)/lib/vmlua $(A)/lib/vmlua $(B)/ctests.d $(A)/ctests.d $(B)/fakes.d $(A)/fakes.d \
$(B)/bench.d $(A)/bench.d $(F)/obj:
	@mkdir -p $@

# ---- tests ----------------------------------------------------------------
# The end-to-end tests boot the guest kit: build it (cached) first.
test: all guest
	tests/run --flavor normal

check: asan guest
	tests/run --flavor asan

# One line at the very end that CI reads.
test-all:
	@rm -f $(B)/results/*.counts
	@st=0; $(MAKE) --no-print-directory test || st=1; \
	$(MAKE) --no-print-directory check || st=1; \
	tests/summary $(B)/results; exit $$st

lint:
	luacheck lua scripts tests bench

# ---- dependencies, guest kit, demo, benchmarks ---------------------------
deps:
	tests/deps.sh

guest:
	tests/guest/build.sh $(B)/guest

demo: all guest
	$(B)/vmlua run --progress scripts/recipes/qemu-demo.lua

bench: all guest
	bench/run

# ---- install --------------------------------------------------------------
install: $(B)/vmlua $(B)/lib/vmlua/core.so
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/vmlua $(DESTDIR)$(LUADIR)/vmlua/scripts \
	           $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(B)/vmlua $(DESTDIR)$(BINDIR)/vmlua
	install -m 0755 $(B)/lib/vmlua/core.so $(DESTDIR)$(LIBDIR)/vmlua/core.so
	cd lua && find vmlua -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(LUADIR)/{} \;
	cd scripts && find . -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(LUADIR)/vmlua/scripts/{} \;
	[ ! -f docs/vmlua.1 ] || install -m 0644 docs/vmlua.1 $(DESTDIR)$(MANDIR)/man1/vmlua.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vmlua $(DESTDIR)$(LIBDIR)/vmlua/core.so $(DESTDIR)$(MANDIR)/man1/vmlua.1
	rm -rf $(DESTDIR)$(LUADIR)/vmlua
	-rmdir $(DESTDIR)$(LIBDIR)/vmlua 2>/dev/null

clean:
	rm -rf $(B)/obj $(B)/vmlua $(B)/lib $(B)/ctests $(B)/ctests.d $(B)/fakes $(B)/fakes.d $(B)/bench \
	       $(B)/bench.d $(A) $(B)/results $(F)
