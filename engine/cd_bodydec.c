/* cd_bodydec.c - the decision to decode a response body (see cd_bodydec.h). */
#include "cd_bodydec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_channel.h"
#include "cd_data.h"
#include "cd_decode.h"
#include "cd_pause.h"
#include "cd_head.h"

/* As the interceptor: nothing for 1xx, the statuses the caller names
 * (204 and 304 by default: no body anyway) and, unless asked
 * (CD_REQ_DECODE_ERRORS), error statuses, whose bodies often come from a
 * proxy or a framework and are read as they came. */
static int status_decoded(const cd_request *req, long status) {
  if (status < 200) return 0;
  for (unsigned i = 0; i < req->decode_skip_len; i++)
    if (req->decode_skip[i] == status) return 0;
  return status < 400 || (req->flags & CD_REQ_DECODE_ERRORS);
}

int cd__bodydec_start(cd_request *req, long status, const char *head, size_t len) {
  if (!(req->flags & CD_REQ_DECODE) || !status_decoded(req, status)) return 0;
  /* a HEAD response has no body (undici's interceptor skips HEAD too) */
  if (strcmp(req->method, "HEAD") == 0) return 0;
  char stack[256];
  long need = cd__head_field_join(head, len, "content-encoding", stack, sizeof stack);
  if (need <= 0) return 0;
  char *value = stack;
  if ((size_t)need >= sizeof stack) {
    if ((value = malloc((size_t)need + 1)) == NULL) return -2;
    cd__head_field_join(head, len, "content-encoding", value, (size_t)need + 1);
  }
  char message[160];
  cd__decoder *d = NULL;
  int r = cd__decoder_new(value, (size_t)need, &d, message, sizeof message);
  if (value != stack) free(value);
  if (r == 1) {
    req->dec.decoder = d;
    return 1;
  }
  if (r == -1) {
    snprintf(req->dec.error, sizeof req->dec.error, "- 0 %s", message);
    return -1;
  }
  return r == -2 ? -2 : 0;
}

/* The decoder failed: its error as the CD_ERR_DECODE payload. */
static void failed(cd_request *req) {
  const char *code = NULL;
  int err_no = 0;
  const char *message = cd__decoder_error(req->dec.decoder, &code, &err_no);
  snprintf(req->dec.error, sizeof req->dec.error, "%s %d %s", code ? code : "-", err_no,
           message ? message : "decoding failed");
}

/* Decoded bytes for the owner, as many as the window takes. Returns the
 * decoder's status: IDLE (everything pushed is decoded and handed on),
 * MORE (the window filled first), ERROR; or -1 when out of memory. */
static int pump(cd__worker *w, cd_request *req) {
  if (w->decoded == NULL && (w->decoded = malloc(CD__EVENT_LARGE)) == NULL) return -1;
  for (;;) {
    if (cd__window_full(req)) return CD__DECODE_MORE;
    size_t got = 0;
    int st = cd__decoder_pull(req->dec.decoder, w->decoded, CD__EVENT_LARGE, &got);
    if (got > 0 && cd__data_queue(w, req, w->decoded, got) != 0) return -1;
    if (st != CD__DECODE_MORE) return st;
  }
}

/* A coded body (CD_REQ_DECODE): libcurl's bytes go to the decoder, and
 * what it gives to the owner, within the response window. A decompression
 * bomb fills the window, not memory: when the window is full with output
 * still to come, libcurl is paused on this write, and delivers the same
 * bytes again once the owner has freed the window. The decoder holds them
 * already, so that many bytes at the start of the next deliveries are
 * skipped (dec.skip). libcurl is told a write is done only once the
 * decoder has handed on all it had: when the transfer completes, nothing
 * is left in the decoder but its end. */
size_t cd__bodydec_write(cd__worker *w, cd_request *req, const char *ptr, size_t n) {
  size_t skip = req->dec.skip, had = skip < n ? skip : n;
  if (had < n && cd__decoder_push(req->dec.decoder, ptr + had, n - had) != 0) {
    req->error = CD_ERR_NO_MEMORY;
    return 0;
  }
  req->resp.received += (int64_t)(n - had);
  int st = pump(w, req);
  if (st == CD__DECODE_ERROR || st < 0) {
    if (st < 0) req->error = CD_ERR_NO_MEMORY;
    else {
      req->error = CD_ERR_DECODE;
      failed(req);
    }
    return 0;  /* makes curl fail the transfer */
  }
  if (st == CD__DECODE_MORE) {
    req->dec.skip = skip > n ? skip : n;  /* delivered again from this write's start */
    return cd__pause_hold_recv(req, CD__PAUSE_WINDOW);
  }
  req->dec.skip = skip - had;
  return n;
}

/* The transfer completed: the decoder's end (a truncated stream fails
 * here). Nothing was left in it but that (cd__bodydec_write), so what it still
 * gives goes out whatever the window. */
void cd__bodydec_finish(cd__worker *w, cd_request *req) {
  if (w->decoded == NULL && (w->decoded = malloc(CD__EVENT_LARGE)) == NULL) {
    req->error = CD_ERR_NO_MEMORY;
    return;
  }
  cd__decoder_end(req->dec.decoder);
  int st;
  do {
    size_t got = 0;
    st = cd__decoder_pull(req->dec.decoder, w->decoded, CD__EVENT_LARGE, &got);
    if (got > 0 && cd__data_queue(w, req, w->decoded, got) != 0) {
      req->error = CD_ERR_NO_MEMORY;
      return;
    }
  } while (st == CD__DECODE_MORE);
  if (st == CD__DECODE_ERROR) {
    req->error = CD_ERR_DECODE;
    failed(req);
  }
}

void cd__bodydec_release(cd_request *req) {
  if (req->dec.decoder == NULL) return;
  cd__decoder_free(req->dec.decoder);
  req->dec.decoder = NULL;
}
