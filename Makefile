# mod_rustflow: build, install, test, demo.
#
#   make                 release build: target/release/mod_rustflow.so and target/release/rustflow
#   make install         module into the FreeSWITCH modules dir (stripped; its debug info beside it
#                        as mod_rustflow.so.debug), sample config (never overwritten), flows dir
#                        with an example flow. Honours DESTDIR and FREESWITCH_PREFIX.
#   make test            the whole test suite
#   make demo            runs examples/flows/demo.json on the built-in call simulator
#
# Directories come from `pkg-config freeswitch` (modulesdir, confdir); with FREESWITCH_PREFIX
# set they are $(FREESWITCH_PREFIX)/mod and $(FREESWITCH_PREFIX)/conf (the source-install layout).
# Set FREESWITCH_INCLUDE_DIR to build against real headers (otherwise pkg-config, otherwise the
# bundled include/rustflow_abi.h).

CARGO ?= cargo
PKG_CONFIG ?= pkg-config
OBJCOPY ?= objcopy
DESTDIR ?=
RELEASE_DIR := target/release
MODULE := $(RELEASE_DIR)/mod_rustflow.so
CLI := $(RELEASE_DIR)/rustflow
# what `make install` installs: the module without its debug info, and the debug info
STRIPPED_DIR := $(RELEASE_DIR)/stripped

ifneq ($(strip $(FREESWITCH_PREFIX)),)
  FS_MODULES_DIR ?= $(FREESWITCH_PREFIX)/mod
  FS_CONF_DIR ?= $(FREESWITCH_PREFIX)/conf
else
  FS_MODULES_DIR ?= $(shell $(PKG_CONFIG) --variable=modulesdir freeswitch 2>/dev/null)
  FS_CONF_DIR ?= $(shell $(PKG_CONFIG) --variable=confdir freeswitch 2>/dev/null)
endif

.PHONY: all build strip install test demo memcheck clean-module

all: build

# A module file is never rewritten in place: a FreeSWITCH that loaded it from there has it
# mapped and would crash. Each copy goes to a temporary name and is renamed over the old
# file (the running process keeps the old inode).
build:
	$(CARGO) build --release -p mod_rustflow -p rustflow-cli
	cp $(RELEASE_DIR)/libmod_rustflow.so $(MODULE).tmp
	mv -f $(MODULE).tmp $(MODULE)
	@echo "built $(MODULE) and $(CLI)"

# The release module is mostly debug info; FreeSWITCH gets it stripped, and gdb finds the
# debug info through the debuglink when mod_rustflow.so.debug sits next to the module.
strip: build
	mkdir -p $(STRIPPED_DIR)
	$(OBJCOPY) --only-keep-debug $(MODULE) $(STRIPPED_DIR)/mod_rustflow.so.debug.tmp
	mv -f $(STRIPPED_DIR)/mod_rustflow.so.debug.tmp $(STRIPPED_DIR)/mod_rustflow.so.debug
	cd $(STRIPPED_DIR) && $(OBJCOPY) --strip-debug --add-gnu-debuglink=mod_rustflow.so.debug \
	  ../mod_rustflow.so mod_rustflow.so.tmp
	mv -f $(STRIPPED_DIR)/mod_rustflow.so.tmp $(STRIPPED_DIR)/mod_rustflow.so

install: strip
	@if [ -z "$(FS_MODULES_DIR)" ] || [ -z "$(FS_CONF_DIR)" ]; then \
	  echo "make install: cannot find the FreeSWITCH directories: pkg-config knows no 'freeswitch'" >&2; \
	  echo "  (install FreeSWITCH's development files or set PKG_CONFIG_PATH), or set" >&2; \
	  echo "  FREESWITCH_PREFIX=/usr/local/freeswitch, or FS_MODULES_DIR=... FS_CONF_DIR=..." >&2; \
	  exit 1; \
	fi
	install -d "$(DESTDIR)$(FS_MODULES_DIR)"
	install -m 0644 $(STRIPPED_DIR)/mod_rustflow.so.debug "$(DESTDIR)$(FS_MODULES_DIR)/mod_rustflow.so.debug.tmp"
	mv -f "$(DESTDIR)$(FS_MODULES_DIR)/mod_rustflow.so.debug.tmp" "$(DESTDIR)$(FS_MODULES_DIR)/mod_rustflow.so.debug"
	install -m 0755 $(STRIPPED_DIR)/mod_rustflow.so "$(DESTDIR)$(FS_MODULES_DIR)/mod_rustflow.so.tmp"
	mv -f "$(DESTDIR)$(FS_MODULES_DIR)/mod_rustflow.so.tmp" "$(DESTDIR)$(FS_MODULES_DIR)/mod_rustflow.so"
	install -d "$(DESTDIR)$(FS_CONF_DIR)/autoload_configs"
	@if [ -e "$(DESTDIR)$(FS_CONF_DIR)/autoload_configs/mod_rustflow.conf.xml" ]; then \
	  echo "keeping the existing $(DESTDIR)$(FS_CONF_DIR)/autoload_configs/mod_rustflow.conf.xml"; \
	else \
	  install -m 0644 mod_rustflow.conf.xml "$(DESTDIR)$(FS_CONF_DIR)/autoload_configs/mod_rustflow.conf.xml"; \
	fi
	install -d "$(DESTDIR)$(FS_CONF_DIR)/flows"
	@if [ -e "$(DESTDIR)$(FS_CONF_DIR)/flows/demo.json" ]; then \
	  echo "keeping the existing $(DESTDIR)$(FS_CONF_DIR)/flows/demo.json"; \
	else \
	  install -m 0644 examples/flows/demo.json "$(DESTDIR)$(FS_CONF_DIR)/flows/demo.json"; \
	fi
	@echo "installed mod_rustflow (stripped; debug info in mod_rustflow.so.debug beside it) into $(DESTDIR)$(FS_MODULES_DIR); add <load module=\"mod_rustflow\"/> to modules.conf.xml"

test:
	$(CARGO) test --workspace --no-fail-fast

demo: build
	$(CLI) run examples/flows/demo.json

# The fake-core harness suite under valgrind memcheck (owned by the harness engineer; see
# tests/harness/memcheck.sh for options and tests/harness/memcheck.supp for the policy).
memcheck:
	tests/harness/memcheck.sh

# End-to-end suite and call benchmark against a real FreeSWITCH (tests/e2e/README.md).
# FreeSWITCH is found through FREESWITCH_PREFIX or `freeswitch` on PATH; without one both
# print one SKIP line and succeed. Each builds its own mod_rustflow into target/e2e.
PYTHON ?= python3
BENCH_ARGS ?= --rate 20 --heavy-rate 5 --seconds 30 --rounds 3
# the contact-centre benchmark: joinQueue against mod_callcenter (bench/cc_bench.py)
BENCH_CC_ARGS ?= --rate 20 --agents 40 --talk-ms 1500,1900,2200 --seconds 25 --rounds 3

.PHONY: e2e bench bench-cc
e2e:
	$(PYTHON) tests/e2e/run_e2e.py

bench:
	$(PYTHON) bench/bench.py $(BENCH_ARGS)

bench-cc:
	$(PYTHON) bench/cc_bench.py $(BENCH_CC_ARGS)
