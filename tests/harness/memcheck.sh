#!/bin/sh
# make memcheck: the fake-core harness suite under valgrind memcheck.
#
# Every harness test binary (load/shutdown/dlclose/reload, calls of every application, API,
# panic guard, concurrency, unload refused while an HTTP worker runs, the release module on
# 240 KiB threads) runs under memcheck with the module and the fake core it loads.
# Any invalid read/write, use of uninitialised memory, bad free, or DEFINITE leak fails the run
# (exit 1). "Possibly lost" and "still reachable" blocks are not errors: they are the Rust
# test runner's and std's process-lifetime statics (thread-locals, the output capture, the
# OnceLock'd dlopen handles) that live until exit by design.
#
# Suppressions: tests/harness/memcheck.supp (documented there; currently it suppresses nothing,
# because nothing needed suppressing). QuickJS runs inside the module, so its leaks count.
#
#   MEMCHECK_TESTS="calls load"  only these test binaries (default: all of tests/harness/tests)
#   VALGRIND=/path/to/valgrind   (default: valgrind on PATH)
#   Extra valgrind options:      MEMCHECK_FLAGS="--track-origins=yes"
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
CARGO=${CARGO:-cargo}
VALGRIND=${VALGRIND:-valgrind}
target_dir=target/harness

if ! command -v "$VALGRIND" >/dev/null 2>&1; then
	echo "make memcheck: valgrind not found (install the valgrind package or set VALGRIND=...)" >&2
	exit 1
fi

# The artifacts exactly as the harness builds them (module with test-hooks for the panic test;
# the release module, as make builds it, for session_stack).
"$CARGO" build --quiet -p mod_rustflow --features mod_rustflow/test-hooks -p rustflow-fakecore \
	--target-dir "$target_dir"
"$CARGO" build --quiet --release -p mod_rustflow -p rustflow-fakecore --target-dir "$target_dir"
RUSTFLOW_MODULE_SO="$root/$target_dir/debug/libmod_rustflow.so"
RUSTFLOW_RELEASE_MODULE_SO="$root/$target_dir/release/libmod_rustflow.so"
RUSTFLOW_FAKECORE_SO="$root/$target_dir/debug/libfakecore.so"
export RUSTFLOW_MODULE_SO RUSTFLOW_RELEASE_MODULE_SO RUSTFLOW_FAKECORE_SO

# The harness test binaries (cargo prints each one's path in its JSON messages).
binaries=$("$CARGO" test --quiet -p rustflow-harness --no-run --message-format=json 2>/dev/null |
	grep '"kind":\["test"\]' | grep '"executable":"' |
	sed 's/.*"name":"\([^"]*\)","src_path".*"executable":"\([^"]*\)".*/\1=\2/')
if [ -z "$binaries" ]; then
	echo "make memcheck: found no harness test binaries" >&2
	exit 1
fi

failed=""
for entry in $binaries; do
	name=${entry%%=*}
	bin=${entry#*=}
	if [ -n "${MEMCHECK_TESTS:-}" ] && ! echo " $MEMCHECK_TESTS " | grep -q " $name "; then
		continue
	fi
	log="$root/$target_dir/memcheck-$name.log"
	echo "memcheck: $name (log: $log)"
	# shellcheck disable=SC2086
	if "$VALGRIND" --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite --num-callers=40 \
		--suppressions="$root/tests/harness/memcheck.supp" ${MEMCHECK_FLAGS:-} \
		"$bin" --test-threads=1 >"$log" 2>&1; then
		grep -E "test result:|ERROR SUMMARY:" "$log" | sed 's/^/  /'
	else
		echo "  FAILED: memcheck errors or failing tests in $name:" >&2
		grep -E "^==[0-9]+== (Invalid|Conditional|Mismatched|Use of|Syscall|Source and destination)|definitely lost in|ERROR SUMMARY|test result:|panicked" "$log" | head -40 >&2
		failed="$failed $name"
	fi
done

if [ -n "$failed" ]; then
	echo "make memcheck: FAILED:$failed (full logs in $target_dir/memcheck-*.log)" >&2
	exit 1
fi
echo "make memcheck: clean (no invalid access, no definite leak)"
