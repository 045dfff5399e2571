/* curl-multi.c - libcurl by itself, in curl-dispatcher's pattern.
 *
 * The benchmark's "libcurl multi (C)" ceiling row (bench/run.js builds and
 * runs it). It does what one engine worker does, minus Node: one thread, one
 * multi handle, CONCURRENCY easy handles kept in flight; a handle that
 * completes is removed and added again as it is (options kept, no
 * curl_easy_reset), and the loop is curl_multi_perform +
 * curl_multi_info_read + curl_multi_poll. What this costs is libcurl's own
 * share; the gap between this row and curl-dispatcher's dispatch row is the
 * price of the bridge to Node (events, threads handing over, JS handlers).
 *
 * After a warm-up that is not counted (connections, TLS handshakes), a timed
 * window of DURATION_MS counts completions, their latency (from
 * curl_multi_add_handle to CURLMSG_DONE) and the CPU time of the process
 * (getrusage). A request is an error when curl fails it, the status is not
 * 200 or, with --expect-bytes, the body has another size. Bodies are
 * counted and thrown away. Output is one JSON line on stdout:
 *
 *   {"requests":N,"seconds":S,"rps":R,"p50ms":A,"p99ms":B,"cpuUs":C,
 *    "maxRssMB":M,"errors":E[,"firstError":"..."]}
 *
 * Build: cc -std=c11 -Wall -Wextra -O2 -o curl-multi curl-multi.c \
 *          $(pkg-config --cflags --libs libcurl)
 * Usage: curl-multi URL CONCURRENCY DURATION_MS [--post BYTES] [--put] [--h2]
 *          [--insecure] [--cacert FILE] [--warmup MS] [--expect-bytes N]
 */
#define _XOPEN_SOURCE 700

#include <curl/curl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#define MAX_CONNECTS 4096L      /* = the engine's CURLMOPT_MAXCONNECTS */
#define BUFFER_SIZE (64L * 1024L) /* = the engine's CURLOPT_BUFFERSIZE */
#define DEFAULT_WARMUP_MS 500L
#define MAX_POLL_MS 1000

typedef struct {
  const char *url;
  long concurrency;
  long duration_ms;
  long warmup_ms;
  long post_bytes;     /* -1: GET */
  int put;             /* the body goes as PUT instead of POST */
  long expect_bytes;   /* -1: not checked */
  int h2;
  int insecure;
  const char *cacert;
} options;

/* One easy handle and what its current transfer has seen. */
typedef struct {
  CURL *easy;
  double started_ms;
  curl_off_t bytes;
  char errbuf[CURL_ERROR_SIZE];
} slot;

/* Latencies of the timed window, in ms. */
typedef struct {
  double *v;
  size_t len;
  size_t cap;
} samples;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_us(const struct rusage *ru) {
  return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e6 +
         (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
}

static void die(const char *what) {
  fprintf(stderr, "curl-multi: %s\n", what);
  exit(1);
}

static void usage(const char *msg) {
  if (msg != NULL) fprintf(stderr, "curl-multi: %s\n", msg);
  fprintf(stderr,
          "usage: curl-multi URL CONCURRENCY DURATION_MS [--post BYTES] [--put] [--h2]\n"
          "         [--insecure] [--cacert FILE] [--warmup MS] [--expect-bytes N]\n");
  exit(2);
}

/* A whole non-negative decimal number, or usage(). */
static long parse_count(const char *text, const char *what) {
  char *end = NULL;
  long v;
  errno = 0;
  v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0) {
    char msg[128];
    snprintf(msg, sizeof(msg), "%s: not a count: %s", what, text);
    usage(msg);
  }
  return v;
}

static void parse_args(int argc, char **argv, options *o) {
  int pos = 0;
  memset(o, 0, sizeof(*o));
  o->warmup_ms = DEFAULT_WARMUP_MS;
  o->post_bytes = -1;
  o->expect_bytes = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_value = i + 1 < argc;
    if (strcmp(a, "--h2") == 0) {
      o->h2 = 1;
    } else if (strcmp(a, "--put") == 0) {
      o->put = 1;
    } else if (strcmp(a, "--insecure") == 0) {
      o->insecure = 1;
    } else if (strcmp(a, "--post") == 0 && has_value) {
      o->post_bytes = parse_count(argv[++i], a);
    } else if (strcmp(a, "--warmup") == 0 && has_value) {
      o->warmup_ms = parse_count(argv[++i], a);
    } else if (strcmp(a, "--expect-bytes") == 0 && has_value) {
      o->expect_bytes = parse_count(argv[++i], a);
    } else if (strcmp(a, "--cacert") == 0 && has_value) {
      o->cacert = argv[++i];
    } else if (strncmp(a, "--", 2) == 0) {
      usage(has_value ? "unknown option" : "option without its value");
    } else if (pos == 0) {
      o->url = a;
      pos++;
    } else if (pos == 1) {
      o->concurrency = parse_count(a, "CONCURRENCY");
      pos++;
    } else if (pos == 2) {
      o->duration_ms = parse_count(a, "DURATION_MS");
      pos++;
    } else {
      usage("too many arguments");
    }
  }
  if (pos != 3) usage(NULL);
  if (o->concurrency < 1) usage("CONCURRENCY must be at least 1");
  if (o->duration_ms < 1) usage("DURATION_MS must be at least 1");
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
  slot *s = userdata;
  (void)ptr;
  s->bytes += (curl_off_t)(size * nmemb);
  return size * nmemb;
}

static void samples_push(samples *s, double v) {
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 65536;
    double *v2 = realloc(s->v, cap * sizeof(*v2));
    if (v2 == NULL) die("out of memory");
    s->v = v2;
    s->cap = cap;
  }
  s->v[s->len++] = v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a;
  double y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Percentile of an ascending array, linear between ranks (as bench/stats.js). */
static double percentile(const double *v, size_t n, double p) {
  double rank = p / 100.0 * (double)(n - 1);
  size_t lo = (size_t)rank; /* rank >= 0: truncation is floor */
  size_t hi = lo + 1 < n ? lo + 1 : n - 1;
  return v[lo] + (v[hi] - v[lo]) * (rank - (double)lo);
}

/* JSON string body: the few characters an error message might hold. */
static void print_json_string(const char *s) {
  putchar('"');
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c < 0x20) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

static void setup_easy(slot *s, const options *o, struct curl_slist *headers, const char *body) {
  CURL *e = s->easy;
  curl_easy_setopt(e, CURLOPT_URL, o->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)s);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, BUFFER_SIZE);
  if (o->h2) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for the connection that can multiplex rather than open another. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  }
  if (body != NULL) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->post_bytes);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    if (o->put) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
  }
  if (o->cacert != NULL) curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert);
  if (o->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

static void start(CURLM *multi, slot *s) {
  s->bytes = 0;
  s->errbuf[0] = '\0';
  s->started_ms = now_ms();
  if (curl_multi_add_handle(multi, s->easy) != CURLM_OK) die("curl_multi_add_handle failed");
}

int main(int argc, char **argv) {
  options o;
  parse_args(argc, argv, &o);
  /* OpenSSL may write to a socket the server has closed. */
  signal(SIGPIPE, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) die("curl_global_init failed");

  CURLM *multi = curl_multi_init();
  if (multi == NULL) die("curl_multi_init failed");
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, MAX_CONNECTS);
  if (o.h2) curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);

  /* No Accept or Expect header from curl, as in the engine (which drops
   * both); a POST body is declared as octet-stream, as in the other rows. */
  struct curl_slist *headers = NULL;
  headers = curl_slist_append(headers, "Accept:");
  headers = curl_slist_append(headers, "Expect:");
  char *body = NULL;
  if (o.post_bytes >= 0) {
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    body = malloc((size_t)o.post_bytes + 1);
    if (body == NULL) die("out of memory");
    memset(body, 'b', (size_t)o.post_bytes);
    body[o.post_bytes] = '\0';
  }
  if (headers == NULL) die("curl_slist_append failed");

  slot *slots = calloc((size_t)o.concurrency, sizeof(*slots));
  if (slots == NULL) die("out of memory");
  for (long i = 0; i < o.concurrency; i++) {
    slots[i].easy = curl_easy_init();
    if (slots[i].easy == NULL) die("curl_easy_init failed");
    setup_easy(&slots[i], &o, headers, body);
  }

  enum { WARMUP, TIMED } phase = WARMUP;
  samples lat = {NULL, 0, 0};
  long requests = 0;
  long errors = 0;
  char first_error[CURL_ERROR_SIZE + 64] = "";
  struct rusage ru0, ru1;
  double t0 = 0, t1 = 0;
  double warm_end = now_ms() + (double)o.warmup_ms;

  if (o.warmup_ms == 0) {
    phase = TIMED;
    t0 = now_ms();
    getrusage(RUSAGE_SELF, &ru0);
  }
  for (long i = 0; i < o.concurrency; i++) start(multi, &slots[i]);

  for (;;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) die(curl_multi_strerror(mc));

    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *e = msg->easy_handle;
      CURLcode rc = msg->data.result; /* msg is gone after remove_handle */
      double done = now_ms();
      slot *s = NULL;
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      curl_multi_remove_handle(multi, e);
      if (rc != CURLE_OK || status != 200 ||
          (o.expect_bytes >= 0 && s->bytes != (curl_off_t)o.expect_bytes)) {
        errors++;
        if (first_error[0] == '\0') {
          if (rc != CURLE_OK) {
            snprintf(first_error, sizeof(first_error), "curl %d: %s", (int)rc,
                     s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
          } else {
            snprintf(first_error, sizeof(first_error), "status %ld, %ld body bytes", status,
                     (long)s->bytes);
          }
        }
      } else if (phase == TIMED) {
        requests++;
        samples_push(&lat, done - s->started_ms);
      }
      start(multi, s);
    }

    double now = now_ms();
    if (phase == WARMUP && now >= warm_end) {
      phase = TIMED;
      t0 = now;
      getrusage(RUSAGE_SELF, &ru0);
    }
    if (phase == TIMED && now >= t0 + (double)o.duration_ms) {
      t1 = now;
      getrusage(RUSAGE_SELF, &ru1);
      break;
    }
    /* Wake up for the next phase change at the latest; curl shortens the
     * wait itself for its own timers. */
    double until = (phase == WARMUP ? warm_end : t0 + (double)o.duration_ms) - now;
    int timeout = MAX_POLL_MS;
    if (until < MAX_POLL_MS) {
      timeout = (int)until;
      if ((double)timeout < until) timeout++; /* round up, never spin */
    }
    mc = curl_multi_poll(multi, NULL, 0, timeout, NULL);
    if (mc != CURLM_OK) die(curl_multi_strerror(mc));
  }

  /* Transfers still in flight are not counted. */
  for (long i = 0; i < o.concurrency; i++) {
    curl_multi_remove_handle(multi, slots[i].easy);
    curl_easy_cleanup(slots[i].easy);
  }
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  free(body);
  free(slots);

  struct rusage ru_end;
  getrusage(RUSAGE_SELF, &ru_end);
  double seconds = (t1 - t0) / 1e3;
  printf("{\"requests\":%ld,\"seconds\":%.6f,\"rps\":%.1f,", requests, seconds,
         seconds > 0 ? (double)requests / seconds : 0.0);
  if (lat.len > 0) {
    qsort(lat.v, lat.len, sizeof(*lat.v), cmp_double);
    printf("\"p50ms\":%.4f,\"p99ms\":%.4f,", percentile(lat.v, lat.len, 50),
           percentile(lat.v, lat.len, 99));
  } else {
    printf("\"p50ms\":null,\"p99ms\":null,");
  }
  /* ru_maxrss is in KiB on Linux. */
  printf("\"cpuUs\":%.0f,\"maxRssMB\":%.1f,\"errors\":%ld", cpu_us(&ru1) - cpu_us(&ru0),
         (double)ru_end.ru_maxrss / 1024.0, errors);
  if (first_error[0] != '\0') {
    printf(",\"firstError\":");
    print_json_string(first_error);
  }
  printf("}\n");
  free(lat.v);
  curl_global_cleanup();
  return 0;
}
