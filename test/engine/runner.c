/* runner.c - runs the engine tests, each in its own process.
 *
 *   cd-tests                   every test, TAP output, one child per test
 *   cd-tests NAME...           those tests (exact names or prefixes ending
 *                              in '*', e.g. 'abort_*')
 *   cd-tests --run NAME        one test in this process (used by the parent,
 *                              and by tools/valgrind.sh)
 *   cd-tests --list            the names, one per line
 * Options: --timeout SECONDS per test (default 30, times CD_TEST_SLOW).
 * Exit status: 0 when every selected test passed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cd_test.h"
#include "test_list.h"

#define X(name) TEST_DECLARE(name)
CD_TESTS(X)
#undef X

typedef struct test_entry {
  const char *name;
  int (*fn)(void);
} test_entry;

static const test_entry tests[] = {
#define X(name) {#name, cd_test_##name},
    CD_TESTS(X)
#undef X
};

#define NTESTS (sizeof tests / sizeof tests[0])

static const test_entry *find(const char *name) {
  for (size_t i = 0; i < NTESTS; i++)
    if (strcmp(tests[i].name, name) == 0) return &tests[i];
  return NULL;
}

static int selected(const char *name, char **pats, int npats) {
  if (npats == 0) return 1;
  for (int i = 0; i < npats; i++) {
    size_t l = strlen(pats[i]);
    if (l && pats[i][l - 1] == '*') {
      if (strncmp(name, pats[i], l - 1) == 0) return 1;
    } else if (strcmp(name, pats[i]) == 0) {
      return 1;
    }
  }
  return 0;
}

static int run_one_here(const char *name) {
  const test_entry *t = find(name);
  if (t == NULL) {
    fprintf(stderr, "no such test: %s\n", name);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  int rc = t->fn();
  fflush(stdout);
  fflush(stderr);
  return rc;
}

/* Runs one test in a child; returns 0 on success and fills why. */
static int run_one_child(const char *self, const char *name, unsigned timeout_s,
                         char *why, size_t why_len) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(why, why_len, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    char *argv[] = {(char *)self, (char *)"--run", (char *)name, NULL};
    execv("/proc/self/exe", argv);
    execv(self, argv);
    _exit(127);
  }
  uint64_t deadline = tu_now_ms() + (uint64_t)timeout_s * 1000u;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      snprintf(why, why_len, "waitpid: %s", strerror(errno));
      return -1;
    }
    if (tu_now_ms() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      snprintf(why, why_len, "timed out after %u s", timeout_s);
      return -1;
    }
    tu_sleep_ms(5);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFEXITED(status))
    snprintf(why, why_len, "exit status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(why, why_len, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(why, why_len, "status 0x%x", status);
  return -1;
}

int main(int argc, char **argv) {
  unsigned timeout_s = 30;
  char **pats = calloc((size_t)argc, sizeof *pats);
  int npats = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--list") == 0) {
      for (size_t k = 0; k < NTESTS; k++) printf("%s\n", tests[k].name);
      free(pats);
      return 0;
    }
    if (strcmp(argv[i], "--run") == 0 && i + 1 < argc) {
      free(pats);
      return run_one_here(argv[i + 1]);
    }
    if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      timeout_s = (unsigned)strtoul(argv[++i], NULL, 10);
      continue;
    }
    if (argv[i][0] == '-') {
      fprintf(stderr, "usage: %s [--list] [--run NAME] [--timeout S] [NAME...]\n",
              argv[0]);
      free(pats);
      return 2;
    }
    pats[npats++] = argv[i];
  }
  timeout_s *= tu_slow();

  size_t total = 0;
  for (size_t k = 0; k < NTESTS; k++)
    if (selected(tests[k].name, pats, npats)) total++;
  if (total == 0) {
    fprintf(stderr, "no test matches\n");
    free(pats);
    return 2;
  }
  printf("1..%zu\n", total);
  int passed = 0, failed = 0;
  size_t n = 0;
  uint64_t t0 = tu_now_ms();
  for (size_t k = 0; k < NTESTS; k++) {
    if (!selected(tests[k].name, pats, npats)) continue;
    n++;
    char why[256] = "";
    uint64_t start = tu_now_ms();
    int rc = run_one_child(argv[0], tests[k].name, timeout_s, why, sizeof why);
    uint64_t ms = tu_now_ms() - start;
    if (rc == 0) {
      passed++;
      printf("ok %zu - %s # %llu ms\n", n, tests[k].name, (unsigned long long)ms);
    } else {
      failed++;
      printf("not ok %zu - %s # %s, %llu ms\n", n, tests[k].name, why,
             (unsigned long long)ms);
    }
    fflush(stdout);
  }
  printf("# %d passed, %d failed, %llu ms\n", passed, failed,
         (unsigned long long)(tu_now_ms() - t0));
  free(pats);
  return failed ? 1 : 0;
}
