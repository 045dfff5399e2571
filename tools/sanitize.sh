#!/usr/bin/env bash
# tools/sanitize.sh - the engine and the addon under sanitizers.
#
#   (a) asan:  engine C tests built with ASan + UBSan (no recovery, leaks on)
#   (b) tsan:  engine C tests built with ThreadSanitizer, then the ring and
#              worker stress test again at a larger scale
#   (c) addon: the addon rebuilt with ASan + UBSan
#              (CURL_DISPATCHER_SANITIZE=address node tools/setup.js
#              --build-only --force), the mocha suite run with libasan
#              preloaded and leak detection off (Node itself leaks at exit),
#              then the normal addon rebuilt (also when a step failed)
#
# Usage: tools/sanitize.sh [--engine-only | --addon-only] [TEST...]
#   TEST: engine test names or prefixes ending in '*' for (a) and (b).
#
# Exit status: 1 if any sanitizer reported anything; otherwise 2 if some
# test failed or a step could not run; 0 when all is clean.
# Logs: test/engine/build/sanitize/{asan,tsan,tsan-stress,addon}.log
# Environment: CD_TEST_SLOW (default 4 for asan, 6 for tsan) widens the
# tests' time bounds; SANITIZE_STRESS_SCALE (default 3) for (b)'s stress.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tests_dir="$root/test/engine"
logdir="$tests_dir/build/sanitize"
jobs=$(nproc 2>/dev/null || echo 2)

do_engine=1
do_addon=1
args=()
for a in "$@"; do
  case $a in
    --engine-only) do_addon=0 ;;
    --addon-only) do_engine=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

mkdir -p "$logdir"
reports=0        # sanitizer reports, all steps
failures=0       # test failures or steps that could not run
summary=()

# Lines that only a sanitizer prints.
report_re='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer|ThreadSanitizer: reported|AddressSanitizer:DEADLYSIGNAL|ThreadSanitizer:DEADLYSIGNAL'

count_reports() {
  grep -Ec "$report_re" "$1" 2>/dev/null || true
}

# Prints the failing TAP lines and the first lines of each sanitizer report.
show_problems() {
  local log=$1
  grep -E '^not ok |^FAIL ' "$log" | head -40 | sed 's/^/  /'
  awk -v re="$report_re" '
    $0 ~ re && !/ThreadSanitizer: reported/ { n++; shown = 0; if (n <= 6) print "  --- report " n ":"; }
    n && n <= 6 && shown < 30 { print "  " $0; shown++ }
  ' "$log"
}

# run_step NAME LOG CMD...: runs a test command, counts TAP results and
# sanitizer reports, prints a one-line summary.
run_step() {
  local name=$1 log=$2
  shift 2
  echo "== $name: $*" | sed "s|$root/||g"
  "$@" >"$log" 2>&1
  local rc=$?
  local passed failed nrep
  passed=$(grep -Ec '^ok ' "$log" || true)
  failed=$(grep -Ec '^not ok ' "$log" || true)
  nrep=$(count_reports "$log")
  if [ "$nrep" -gt 0 ] || [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
    show_problems "$log"
  fi
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && [ "$nrep" -eq 0 ]; then
    failed=1
    echo "  (exit status $rc)"
  fi
  reports=$((reports + nrep))
  failures=$((failures + failed))
  summary+=("$name: $passed passed, $failed failed, $nrep sanitizer report(s) (log: ${log#$root/})")
  echo "   $name: $passed passed, $failed failed, $nrep sanitizer report(s)"
}

build_variant() {
  local variant=$1 log=$2
  echo "== build: make -C test/engine SANITIZE=$variant"
  if ! make -C "$tests_dir" -j"$jobs" SANITIZE="$variant" >"$log" 2>&1; then
    tail -30 "$log" | sed 's/^/  /'
    failures=$((failures + 1))
    summary+=("build SANITIZE=$variant: failed (log: ${log#$root/})")
    return 1
  fi
}

if [ "$do_engine" -eq 1 ]; then
  # (a) AddressSanitizer + UndefinedBehaviorSanitizer. exitcode 23 tells a
  # sanitizer exit from a failed assertion (1) in the runner's output.
  if build_variant address "$logdir/build-asan.log"; then
    CD_TEST_SLOW=${CD_TEST_SLOW:-4} \
    ASAN_OPTIONS="detect_leaks=1:exitcode=23:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=23" \
    LSAN_OPTIONS="exitcode=23" \
      run_step asan "$logdir/asan.log" "$tests_dir/build/asan/cd-tests" "${args[@]}"
  fi

  # (b) ThreadSanitizer. See test/engine/tsan-shim/ for how concurrencykit
  # and liburcu are made visible to it, test/engine/tsan.supp for what is
  # suppressed and why.
  if build_variant thread "$logdir/build-tsan.log"; then
    tsan_opts="halt_on_error=0:exitcode=66:second_deadlock_stack=1:history_size=4:suppressions=$tests_dir/tsan.supp"
    CD_TEST_SLOW=${CD_TEST_SLOW:-6} TSAN_OPTIONS="$tsan_opts" \
      run_step tsan "$logdir/tsan.log" "$tests_dir/build/tsan/cd-tests" "${args[@]}"
    if [ ${#args[@]} -eq 0 ]; then
      CD_TEST_SLOW=${CD_TEST_SLOW:-6} TSAN_OPTIONS="$tsan_opts" \
      CD_STRESS_SCALE=${SANITIZE_STRESS_SCALE:-3} \
        run_step tsan-stress "$logdir/tsan-stress.log" \
          "$tests_dir/build/tsan/cd-tests" --timeout 120 stress_rings
    fi
  fi
fi

if [ "$do_addon" -eq 1 ]; then
  # (c) The addon with ASan + UBSan under mocha.
  echo "== addon: ASan build, mocha with libasan preloaded"
  addon_log="$logdir/addon.log"
  mocha_bin="$root/node_modules/.bin/mocha"
  libasan=$(gcc -print-file-name=libasan.so)
  restore_addon() {
    echo "== addon: rebuilding the normal addon"
    if ! (cd "$root" && env -u CURL_DISPATCHER_SANITIZE node tools/setup.js --build-only --force) >>"$addon_log" 2>&1; then
      echo "  the normal addon did not build: see ${addon_log#$root/}"
      failures=$((failures + 1))
      summary+=("addon: normal rebuild FAILED (log: ${addon_log#$root/})")
    fi
  }
  addon_file="$root/build/Release/curl_dispatcher.node"
  # Instrumented code calls into the ASan runtime: its __asan_ symbols are
  # undefined in the addon, and libasan is among its dependencies. The
  # outputs are read whole first: with pipefail, `ldd | grep -q` fails
  # whenever grep quits before ldd has written everything (SIGPIPE).
  addon_instrumented() {
    local syms deps
    syms=$(nm -D --undefined-only "$addon_file" 2>/dev/null)
    deps=$(ldd "$addon_file" 2>/dev/null)
    grep -q ' __asan_' <<<"$syms" && grep -q libasan <<<"$deps"
  }
  addon_diagnostics() {
    echo "ldd:"; ldd "$addon_file" 2>&1 | head -20
    echo "__asan_ symbols: $(nm -D --undefined-only "$addon_file" 2>/dev/null | grep -c ' __asan_')"
    echo "config-stamp: $(cat "$root/build/config-stamp" 2>/dev/null)"
    echo "sanitize in config.gypi: $(grep -o '"sanitize": "[a-z]*"' "$root/build/config.gypi" 2>/dev/null)"
    echo "compiler: $(cc --version 2>&1 | head -1); CC=${CC:-} CFLAGS=${CFLAGS:-} LDFLAGS=${LDFLAGS:-}"
    grep -m3 -- '-fsanitize' "$root/build/curl_dispatcher.target.mk" 2>/dev/null || echo "no -fsanitize in build/curl_dispatcher.target.mk"
  }
  if [ ! -x "$mocha_bin" ]; then
    echo "  mocha is not installed (run: node tools/setup.js)"
    failures=$((failures + 1))
    summary+=("addon: not run, node_modules/.bin/mocha missing")
  elif [ ! -e "$libasan" ] || [ "$libasan" = libasan.so ]; then
    echo "  libasan.so not found (gcc -print-file-name=libasan.so)"
    failures=$((failures + 1))
    summary+=("addon: not run, libasan.so missing")
  else
    trap restore_addon EXIT
    : >"$addon_log"
    if ! (cd "$root" && CURL_DISPATCHER_SANITIZE=address node tools/setup.js --build-only --force) >>"$addon_log" 2>&1; then
      tail -30 "$addon_log" | sed 's/^/  /'
      failures=$((failures + 1))
      summary+=("addon: ASan build failed (log: ${addon_log#$root/})")
    elif ! addon_instrumented; then
      echo "  the rebuilt addon is not instrumented (no __asan_ symbols, no libasan):"
      addon_diagnostics | sed 's/^/  /'
      failures=$((failures + 1))
      summary+=("addon: ASan build not instrumented (log: ${addon_log#$root/})")
    else
      echo "   mocha (LD_PRELOAD=$libasan)"
      (cd "$root" && \
        LD_PRELOAD="$libasan" CD_TEST_SANITIZER=address \
        ASAN_OPTIONS="detect_leaks=0:exitcode=23:abort_on_error=0" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=23" \
        "$mocha_bin") >>"$addon_log" 2>&1
      rc=$?
      nrep=$(count_reports "$addon_log")
      passing=$(grep -Eo '[0-9]+ passing' "$addon_log" | tail -1)
      failing=$(grep -Eo '[0-9]+ failing' "$addon_log" | tail -1)
      if [ "$nrep" -gt 0 ] || [ "$rc" -ne 0 ]; then
        grep -E '^\s+[0-9]+\) ' "$addon_log" | head -20 | sed 's/^/  /'
        # mocha's failure details (message and stack), so that a failure
        # on a CI machine can be read from the CI output alone
        sed -n '/^ *[0-9][0-9]* failing/,$p' "$addon_log" | head -80 | sed 's/^/  /'
        show_problems "$addon_log"
      fi
      reports=$((reports + nrep))
      [ "$rc" -ne 0 ] && failures=$((failures + 1))
      summary+=("addon (mocha, ASan): ${passing:-0 passing}, ${failing:-0 failing}, exit $rc, $nrep sanitizer report(s) (log: ${addon_log#$root/})")
      echo "   addon: ${passing:-0 passing}, ${failing:-0 failing}, exit $rc, $nrep sanitizer report(s)"
    fi
    restore_addon
    trap - EXIT
  fi
fi

echo
echo "sanitize summary:"
for s in "${summary[@]}"; do echo "  $s"; done
if [ "$reports" -gt 0 ]; then
  echo "sanitize: $reports sanitizer report(s)"
  exit 1
fi
if [ "$failures" -gt 0 ]; then
  echo "sanitize: no sanitizer report, but $failures test failure(s) or step(s) not run"
  exit 2
fi
echo "sanitize: clean"
exit 0
