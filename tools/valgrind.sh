#!/usr/bin/env bash
# tools/valgrind.sh - runs the engine's C tests (plain build) under valgrind
# memcheck, one test per valgrind process.
#
#   tools/valgrind.sh                 every test
#   tools/valgrind.sh hello 'abort_*' some tests (names, or prefixes with *)
#
# Fails (exit 1) on any memcheck error, and on definite, indirect or
# possible leaks; "still reachable" blocks are not errors. Known one-time
# initialisation noise goes in test/engine/valgrind.supp (each entry says
# why). Logs: test/engine/build/valgrind/<test>.log
#
# Environment: CD_TEST_SLOW (default 10) widens the tests' time bounds,
# CD_STRESS_SCALE (default 1), VALGRIND_TEST_TIMEOUT seconds per test
# (default 600), VALGRIND (default valgrind).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tests_dir="$root/test/engine"
bin="$tests_dir/build/plain/cd-tests"
supp="$tests_dir/valgrind.supp"
logdir="$tests_dir/build/valgrind"
valgrind=${VALGRIND:-valgrind}

if ! command -v "$valgrind" >/dev/null; then
  echo "valgrind.sh: valgrind not found (apt-get install valgrind)" >&2
  exit 2
fi

echo "valgrind.sh: building the plain engine tests"
if ! build_log=$(make -C "$tests_dir" -j"$(nproc)" 2>&1); then
  printf '%s\n' "$build_log" >&2
  echo "valgrind build failed"
  echo "valgrind: 0 passed, 1 failed"
  exit 1
fi
mkdir -p "$logdir"

export CD_TEST_SLOW=${CD_TEST_SLOW:-10}
export CD_STRESS_SCALE=${CD_STRESS_SCALE:-1}
per_test_timeout=${VALGRIND_TEST_TIMEOUT:-600}

selected() {
  local name=$1 pat
  [ $# -eq 1 ] && [ ${#patterns[@]} -eq 0 ] && return 0
  for pat in "${patterns[@]}"; do
    # shellcheck disable=SC2053
    [[ $name == $pat ]] && return 0
  done
  return 1
}

patterns=("$@")
passed=0
failed=0
failed_names=()
start=$(date +%s)
for t in $("$bin" --list); do
  selected "$t" || continue
  log="$logdir/$t.log"
  t0=$(date +%s)
  timeout --kill-after=10 "$per_test_timeout" \
    "$valgrind" --tool=memcheck --leak-check=full \
      --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible \
      --error-exitcode=99 --num-callers=40 --fair-sched=yes \
      --suppressions="$supp" --log-file="$log" \
      "$bin" --run "$t" >"$log.out" 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$log" 2>/dev/null | awk '{print $3}' | tail -1)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok - $t # ${secs} s"
  else
    failed=$((failed + 1))
    failed_names+=("$t")
    test_failed=0
    grep -qE '^FAIL ' "$log.out" && test_failed=1
    case $rc in
      124|137) why="timed out after ${per_test_timeout} s" ;;
      *)
        # A failed assertion ends the process with threads still running:
        # their stacks then show up as "possibly lost"; that is the failure
        # already reported, not a separate memcheck finding.
        if [ "$test_failed" -eq 1 ]; then why="test failed"
        elif [ "$rc" -eq 99 ]; then why="memcheck: ${errors:-?} error(s)"
        else why="test failed (exit $rc)"; fi ;;
    esac
    echo "not ok - $t # $why, ${secs} s (log: ${log#$root/})"
    # the test's own failure message, or valgrind's first report
    grep -E '^FAIL ' "$log.out" | head -3 | sed 's/^/  /'
    if [ "$rc" -eq 99 ] && [ "$test_failed" -eq 0 ]; then
      awk '/^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|Argument|[0-9,]+ bytes in)/{p=1} p{print; n++} n>=25{exit}' "$log" | sed 's/^/  /'
    fi
  fi
done
echo "# ${failed_names[*]:-}" | sed -n '/[a-z]/s/^# /# failed: /p'
echo "valgrind: $(( $(date +%s) - start )) s"
echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
