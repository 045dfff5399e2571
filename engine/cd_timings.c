/* cd_timings.c - per-request phase timings (see cd_timings.h, and engine.h
 * for what each instant means). */
#include "cd_timings.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cd_clock.h"
#include "cd_channel.h"

void cd__timings_submit(cd_request *req) {
  req->timings_submit_us = (int64_t)cd__clock_us();
}

void cd__timings_start(cd_request *req) {
  req->timings_start_us = (int64_t)cd__clock_us();
  /* 0 means "not started": a clock reading of 0 cannot happen after boot,
   * but keep the meaning whatever the clock says. */
  if (req->timings_start_us == 0) req->timings_start_us = 1;
}

static int http_version_x10(long v) {
  switch (v) {
    case CURL_HTTP_VERSION_1_0: return 10;
    case CURL_HTTP_VERSION_1_1: return 11;
    case CURL_HTTP_VERSION_2_0: return 20;
    case CURL_HTTP_VERSION_3: return 30;
    default: return 0;
  }
}

void cd__timings_collect(cd_request *req, int64_t end_us, cd_timings *out) {
  memset(out, 0, sizeof(*out));
  for (int i = 0; i < CD_TIMINGS; i++) out->at[i] = -1;
  out->submit_us = req->timings_submit_us;
  int64_t total = end_us - req->timings_submit_us;
  if (total < 0) total = 0;
  if (req->timings_start_us == 0 || req->easy == NULL) {
    /* Never handed to libcurl: aborted or failed while queued. */
    out->at[CD_TIMING_TOTAL] = total;
    return;
  }

  CURL *e = req->easy;
  curl_off_t dns = 0, conn = 0, tls = 0, sent = 0, first = 0, curl_total = 0;
  long connects = 0, port = 0, version = 0;
  char *ip = NULL;
  curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &dns);
  curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &conn);
  curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &tls);
  curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &sent);
  curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &first);
  curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &curl_total);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
  curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &port);
  curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);

  /* libcurl counts from its first perform after the hand-over, a few
   * microseconds after timings_start_us. A request sent again on a new
   * connection (cd_transfer.c, HTTP/2) restarted libcurl's clock: its
   * phases are the second attempt's, counted back from the end. */
  int64_t q = req->timings_start_us - req->timings_submit_us;
  if (req->retried && curl_total > 0 && total - (int64_t)curl_total > q) q = total - (int64_t)curl_total;
  if (q < 0) q = 0;
  int64_t *at = out->at;
  at[CD_TIMING_QUEUED] = q;

  out->reused = connects == 0 && sent > 0;
  if (out->reused) {
    /* no lookup, connect or handshake: zero-length phases */
    at[CD_TIMING_DNS] = at[CD_TIMING_CONNECT] = at[CD_TIMING_TLS] = q;
  } else {
    if (dns > 0 || conn > 0) at[CD_TIMING_DNS] = q + dns;
    if (conn > 0) at[CD_TIMING_CONNECT] = q + conn;
    if (strncmp(req->url, "https:", 6) != 0) {
      if (conn > 0) at[CD_TIMING_TLS] = at[CD_TIMING_CONNECT];  /* no TLS to the origin */
    } else if (tls > 0) {
      at[CD_TIMING_TLS] = q + tls;
    }
  }
  if (sent > 0) at[CD_TIMING_SENT] = q + sent;
  if (first > 0) at[CD_TIMING_FIRST_BYTE] = q + first;

  /* Cumulative and non-decreasing: a phase passed implies the ones before
   * it were (any gap takes the instant before it), and no instant comes
   * before the previous one. */
  int last = 0;
  for (int i = CD_TIMING_DNS; i < CD_TIMING_TOTAL; i++)
    if (at[i] >= 0) last = i;
  int64_t prev = q;
  for (int i = CD_TIMING_DNS; i < CD_TIMING_TOTAL; i++) {
    if (at[i] < 0 && i < last) at[i] = prev;
    if (at[i] < 0) continue;
    if (at[i] < prev) at[i] = prev;
    prev = at[i];
  }
  at[CD_TIMING_TOTAL] = total > prev ? total : prev;

  out->remote_port = (int32_t)port;
  out->http_version = http_version_x10(version);
  if (ip != NULL) snprintf(out->remote_address, sizeof(out->remote_address), "%s", ip);
}

void cd__timings_emit(cd_request *req) {
  cd_timings t;
  cd__timings_collect(req, (int64_t)cd__clock_us(), &t);
  (void)cd__emit(req, CD_EV_TIMINGS, &t, sizeof(t));
}
