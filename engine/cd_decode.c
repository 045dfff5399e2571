/* cd_decode.c - see cd_decode.h.
 *
 * Pull model: cd__decoder_pull asks the last stage for output; a stage takes
 * its input from the stage before it (refilling that stage's 16 KiB buffer
 * once it has been read) or, the first stage, from the backlog of pushed
 * segments. Nothing is decoded that has nowhere to go.
 *
 * Node's behaviour reproduced here (checked against Node 20, 22 and 24):
 * - input ends inside a stream (no input at all included): "unexpected end
 *   of file", Z_BUF_ERROR, -5, whatever the coding (zstd: as Node 24; 22
 *   took a truncated frame silently).
 * - gzip (node_zlib.cc, GUNZIP): after a member, a zero byte is padding that
 *   ends the stream, the rest dropped; any other byte starts a new member,
 *   so trailing garbage fails as a header ("incorrect header check").
 * - deflate, br: bytes after the end of the stream are dropped (zlib.js ends
 *   the readable side when a write leaves input over).
 * - zstd: ZSTD_decompressStream stops at the end of a frame; with input left
 *   in that write zlib.js ends the stream, dropping the rest (later frames
 *   too); a frame ending exactly at the end of a write lets the next write
 *   start another frame.
 * - once a stage's stream ended, the stages before it still run to the end
 *   of the input and may still fail, as in the interceptor's pipeline().
 * Not reproduced: where Node's own 16 KiB output chunks fall (a zstd frame
 * ending just as one fills lets Node start the next frame), and which
 * output Node withholds from a write that fails.
 */
#include "cd_decode.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define CD__STAGE_BUF (16 * 1024) /* Node's default chunkSize */

enum { CD__GUNZIP, CD__INFLATE, CD__BROTLI, CD__ZSTD };
/* A stage's stream: decoding; a gzip member ended and the next byte
 * decides; ended, further input dropped. */
enum { CD__RUN, CD__MEMBER_END, CD__FINISHED };
/* What one decoder call says. */
enum { CD__S_OK, CD__S_DONE, CD__S_ERR };

typedef struct cd__seg { /* one push: one write to Node's stream */
  struct cd__seg *next;
  size_t len, off;
  unsigned char data[];
} cd__seg;

typedef struct cd__stage {
  int kind, state;
  int done;    /* input ended and consumed, all output given */
  int framed;  /* zstd: no frame half-read */
  int pending; /* zstd: the last call filled the output */
  union { z_stream z; BrotliDecoderState *br; ZSTD_DCtx *zs; } u;
  unsigned char *buf; /* output for the next stage; NULL for the last */
  size_t off, len;    /* buf[off, len) not yet read by the next stage */
} cd__stage;

struct cd__decoder {
  int n, ended, failed;
  size_t backlog;
  cd__seg *head, *tail;
  const char *msg, *code;
  int err_no;
  cd__stage st[CD__DECODE_MAX_CODINGS];
};

/* One decoder call: in[0, n) into out[0, cap), of which it sets what it
 * used and got; last: no input after in[n). */
typedef struct cd__io {
  const unsigned char *in;
  unsigned char *out;
  size_t n, cap, used, got;
  int last;
} cd__io;

/* As undici 8's interceptor: compress and x-compress are the UNIX compress
 * (LZW) format (RFC 9110 8.4.1.1), which zlib cannot read; undici 7
 * inflated them, turning a readable body into Z_DATA_ERROR. They pass
 * through as unknown codings. */
static const struct { const char *name; int kind; } cd__codings[] = {
    {"gzip", CD__GUNZIP}, {"x-gzip", CD__GUNZIP}, {"deflate", CD__INFLATE},
    {"br", CD__BROTLI}, {"zstd", CD__ZSTD}};

/* JS String.prototype.trim's ASCII part (a header value has no other). */
static int cd__space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int cd__kind(const char *p, size_t len) {
  for (size_t i = 0; i < sizeof cd__codings / sizeof cd__codings[0]; i++)
    if (strlen(cd__codings[i].name) == len && strncasecmp(p, cd__codings[i].name, len) == 0)
      return cd__codings[i].kind;
  return -1;
}

/* Node's ZlibStrerror, ZstdStrerror (its list and fallback), and "ERR_" +
 * BrotliDecoderErrorString as of brotli 1.1, which Node bundles (1.0 leaves
 * out the prefix: "CL_SPACE" for Node's "ERR__ERROR_FORMAT_CL_SPACE"). */
static const char *cd__zlib_code(int rc) {
  switch (rc) {
#define V(c) case c: return #c;
    V(Z_NEED_DICT) V(Z_ERRNO) V(Z_STREAM_ERROR) V(Z_DATA_ERROR) V(Z_MEM_ERROR)
    V(Z_BUF_ERROR) V(Z_VERSION_ERROR)
#undef V
    default: return "Z_UNKNOWN_ERROR";
  }
}

static const char *cd__zstd_code(ZSTD_ErrorCode e) {
  switch (e) {
#define V(c) case ZSTD_error_##c: return "ZSTD_error_" #c;
    V(GENERIC) V(prefix_unknown) V(version_unsupported) V(frameParameter_unsupported)
    V(frameParameter_windowTooLarge) V(corruption_detected) V(checksum_wrong)
    V(literals_headerWrong) V(dictionary_corrupted) V(dictionary_wrong)
    V(dictionaryCreation_failed) V(parameter_unsupported)
    V(parameter_combination_unsupported) V(parameter_outOfBound) V(tableLog_tooLarge)
    V(maxSymbolValue_tooLarge) V(maxSymbolValue_tooSmall)
    V(stabilityCondition_notRespected) V(stage_wrong) V(init_missing)
    V(memory_allocation) V(workSpace_tooSmall) V(dstSize_tooSmall) V(srcSize_wrong)
    V(dstBuffer_null) V(noForwardProgress_destFull) V(noForwardProgress_inputEmpty)
#undef V
    default: return "ZSTD_error_GENERIC";
  }
}

static const char *cd__brotli_code(BrotliDecoderErrorCode e) {
  switch (e) {
#define V(PREFIX, NAME, CODE) case BROTLI_DECODER##PREFIX##NAME: return "ERR_" #PREFIX #NAME;
    BROTLI_DECODER_ERROR_CODES_LIST(V, )
#undef V
    default: return "ERR_INVALID";
  }
}

static int cd__fail(cd__decoder *d, const char *msg, const char *code, int err_no) {
  d->failed = 1;
  d->msg = msg;
  d->code = code;
  d->err_no = err_no;
  return CD__S_ERR;
}

/* Input ended inside stage s's stream: what Node says, whatever the coding.
 * But not for the last stage of a chain: the interceptor's pipeline() is
 * done once that stream's writable side finishes, which zlib.js lets happen
 * before its flush reports the truncation, so undici ends the body cleanly
 * with what was decoded (Node 20 and 24 alike, every time). */
static int cd__truncated(cd__decoder *d, const cd__stage *s) {
  if (d->n > 1 && s == &d->st[d->n - 1]) return CD__S_DONE;
  return cd__fail(d, "unexpected end of file", "Z_BUF_ERROR", Z_BUF_ERROR);
}

int cd__decoder_new(const char *value, size_t len, cd__decoder **out, char *errbuf,
                    size_t errlen) {
  int kinds[CD__DECODE_MAX_CODINGS];
  size_t parts = 1, n = 0;

  *out = NULL;
  /* The interceptor counts split(',') parts before looking at them. */
  for (size_t i = 0; i < len; i++) parts += value[i] == ',';
  if (parts > CD__DECODE_MAX_CODINGS) {
    if (errbuf != NULL && errlen > 0)
      snprintf(errbuf, errlen, "too many content-encodings in response: %zu, maximum allowed is %d",
               parts, CD__DECODE_MAX_CODINGS);
    return -1;
  }
  /* Last item first: the last coding applied is the first undone. */
  for (size_t e = len;; e--) {
    size_t b = e, s, t;
    while (b > 0 && value[b - 1] != ',') b--;
    for (s = b; s < e && cd__space(value[s]); s++) {}
    for (t = e; t > s && cd__space(value[t - 1]); t--) {}
    if (t > s) {
      int k = cd__kind(value + s, t - s);
      if (k < 0) return 0; /* one unknown coding: the body passes as it is */
      kinds[n++] = k;
    }
    if ((e = b) == 0) break;
  }
  if (n == 0) return 0;

  cd__decoder *d = calloc(1, sizeof *d);
  if (d == NULL) return -2;
  for (size_t i = 0; i < n; i++) {
    cd__stage *s = &d->st[i];
    int ok;
    s->kind = kinds[i];
    if (s->kind == CD__BROTLI)
      ok = (s->u.br = BrotliDecoderCreateInstance(NULL, NULL, NULL)) != NULL;
    else if (s->kind == CD__ZSTD)
      /* an 8 MiB window at most, as undici 8 (RFC 9659 3): a frame that
       * asks for more fails, where Node's default allows 128 MiB */
      ok = (s->u.zs = ZSTD_createDCtx()) != NULL &&
           !ZSTD_isError(ZSTD_DCtx_setParameter(s->u.zs, ZSTD_d_windowLogMax, 23));
    else /* Node's windowBits: 15, plus 16 for gzip */
      ok = inflateInit2(&s->u.z, s->kind == CD__GUNZIP ? 15 + 16 : 15) == Z_OK;
    if (!ok) break;
    d->n++;
    if (i + 1 < n && (s->buf = malloc(CD__STAGE_BUF)) == NULL) break;
  }
  if ((size_t)d->n < n) { /* a stage, or the buffer of one, failed */
    cd__decoder_free(d);
    return -2;
  }
  *out = d;
  return 1;
}

static void cd__drop(cd__decoder *d) {
  for (cd__seg *g; (g = d->head) != NULL; free(g)) d->head = g->next;
  d->tail = NULL;
  d->backlog = 0;
}

void cd__decoder_free(cd__decoder *d) {
  if (d == NULL) return;
  for (int i = 0; i < d->n; i++) {
    cd__stage *s = &d->st[i];
    if (s->kind == CD__BROTLI)
      BrotliDecoderDestroyInstance(s->u.br);
    else if (s->kind == CD__ZSTD)
      ZSTD_freeDCtx(s->u.zs);
    else
      inflateEnd(&s->u.z);
    free(s->buf);
  }
  cd__drop(d);
  free(d);
}

int cd__decoder_push(cd__decoder *d, const char *in, size_t len) {
  /* Nothing would read it: after the end, an error, or the first stream. */
  if (len == 0 || d->ended || d->failed || d->st[0].state == CD__FINISHED) return 0;
  cd__seg *g = len > SIZE_MAX - sizeof *g ? NULL : malloc(sizeof *g + len);
  if (g == NULL) return -1;
  g->next = NULL;
  g->len = len;
  g->off = 0;
  memcpy(g->data, in, len);
  *(d->tail ? &d->tail->next : &d->head) = g;
  d->tail = g;
  d->backlog += len;
  return 0;
}

void cd__decoder_end(cd__decoder *d) { d->ended = 1; }

size_t cd__decoder_backlog(const cd__decoder *d) { return d->backlog; }

const char *cd__decoder_error(const cd__decoder *d, const char **code, int *err_no) {
  if (code != NULL) *code = d->failed ? d->code : NULL;
  if (err_no != NULL) *err_no = d->failed ? d->err_no : 0;
  return d->failed ? d->msg : NULL;
}

static int cd__zlib(cd__decoder *d, cd__stage *s, cd__io *io) {
  z_stream *z = &s->u.z;
  if (s->state == CD__MEMBER_END) {
    if (io->n == 0) return io->last ? CD__S_DONE : CD__S_OK;
    if (io->in[0] == 0) { /* padding: Node ends the stream here */
      s->state = CD__FINISHED;
      return CD__S_OK;
    }
    inflateReset(z); /* another member, or garbage that fails as one */
    s->state = CD__RUN;
  }
  uInt ai = io->n > UINT_MAX ? UINT_MAX : (uInt)io->n;
  uInt ao = io->cap > UINT_MAX ? UINT_MAX : (uInt)io->cap;
  z->next_in = (Bytef *)(uintptr_t)io->in;
  z->avail_in = ai;
  z->next_out = io->out;
  z->avail_out = ao;
  int rc = inflate(z, Z_NO_FLUSH);
  io->used = ai - z->avail_in;
  io->got = ao - z->avail_out;
  if (rc == Z_STREAM_END) {
    s->state = s->kind == CD__GUNZIP ? CD__MEMBER_END : CD__FINISHED;
    return CD__S_OK;
  }
  if (rc == Z_NEED_DICT) /* Node's message unless zlib has one */
    return cd__fail(d, z->msg ? z->msg : "Missing dictionary", "Z_NEED_DICT", rc);
  if (rc != Z_OK && rc != Z_BUF_ERROR) /* Z_BUF_ERROR: just no progress */
    return cd__fail(d, z->msg ? z->msg : "Zlib error", cd__zlib_code(rc), rc);
  /* All input taken and room left, yet the stream goes on: it was cut. */
  if (io->last && io->used == io->n && z->avail_out > 0) return cd__truncated(d, s);
  return CD__S_OK;
}

static int cd__brotli(cd__decoder *d, cd__stage *s, cd__io *io) {
  static const uint8_t none;
  size_t ai = io->n, ao = io->cap;
  const uint8_t *ni = io->n ? io->in : &none;
  uint8_t *no = io->out;
  BrotliDecoderResult r = BrotliDecoderDecompressStream(s->u.br, &ai, &ni, &ao, &no, NULL);
  io->used = io->n - ai;
  io->got = io->cap - ao;
  if (r == BROTLI_DECODER_RESULT_SUCCESS) s->state = CD__FINISHED;
  if (r == BROTLI_DECODER_RESULT_ERROR) {
    BrotliDecoderErrorCode e = BrotliDecoderGetErrorCode(s->u.br);
    return cd__fail(d, "Decompression failed", cd__brotli_code(e), (int)e);
  }
  /* It asks for input with output still pending when that did not fit. */
  if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && io->last &&
      !BrotliDecoderHasMoreOutput(s->u.br))
    return cd__truncated(d, s);
  return CD__S_OK;
}

static int cd__zstd(cd__decoder *d, cd__stage *s, cd__io *io) {
  /* Without input, call only when output may be pending: zstd fails a
   * stream after 16 calls in a row without progress. */
  if (io->n == 0 && !s->pending) {
    if (!io->last) return CD__S_OK;
    return s->framed ? CD__S_DONE : cd__truncated(d, s);
  }
  ZSTD_inBuffer ib = {io->n ? (const void *)io->in : (const void *)"", io->n, 0};
  ZSTD_outBuffer ob = {io->out, io->cap, 0};
  size_t r = ZSTD_decompressStream(s->u.zs, &ob, &ib);
  io->used = ib.pos;
  io->got = ob.pos;
  s->pending = ob.pos == io->cap;
  if (ZSTD_isError(r)) {
    ZSTD_ErrorCode e = ZSTD_getErrorCode(r);
    return cd__fail(d, ZSTD_getErrorString(e), cd__zstd_code(e), (int)e);
  }
  if (r == 0) { /* a frame decoded and flushed */
    s->framed = 1;
    if (ib.pos < io->n) s->state = CD__FINISHED; /* input left in this write */
  } else if (ib.pos > 0) {
    s->framed = 0;
  }
  if (io->last && ib.pos == io->n && ob.pos < io->cap)
    return s->framed ? CD__S_DONE : cd__truncated(d, s);
  return CD__S_OK;
}

static int cd__fill(cd__decoder *d, int i, unsigned char *out, size_t cap, size_t *wrote);

/* Stage i's next piece of input. Refills the previous stage's buffer once it
 * has been read, and returns that stage's status then (MORE: it worked, even
 * if nothing came out). */
static int cd__input(cd__decoder *d, int i, cd__io *io) {
  if (i == 0) {
    cd__seg *g = d->head;
    io->in = g ? g->data + g->off : NULL;
    io->n = g ? g->len - g->off : 0;
    io->last = d->ended && (g == NULL || g->next == NULL);
    return CD__DECODE_IDLE;
  }
  cd__stage *p = &d->st[i - 1];
  int r = CD__DECODE_IDLE;
  if (p->off == p->len && !p->done) {
    p->off = p->len = 0;
    r = cd__fill(d, i - 1, p->buf, CD__STAGE_BUF, &p->len);
  }
  io->in = p->buf + p->off;
  io->n = p->len - p->off;
  io->last = p->done;
  return r;
}

static void cd__consume(cd__decoder *d, int i, size_t used) {
  if (used == 0) return;
  if (i > 0) {
    d->st[i - 1].off += used;
    return;
  }
  cd__seg *g = d->head;
  g->off += used;
  d->backlog -= used;
  if (g->off == g->len) {
    if ((d->head = g->next) == NULL) d->tail = NULL;
    free(g);
  }
}

/* Output of stage i into out[0, cap): as much as fits or its input allows. */
static int cd__fill(cd__decoder *d, int i, unsigned char *out, size_t cap, size_t *wrote) {
  cd__stage *s = &d->st[i];
  int more = 0;

  *wrote = 0;
  while (!s->done) {
    cd__io io = {0};
    int state = s->state, r = cd__input(d, i, &io);
    if (r == CD__DECODE_ERROR) return r;
    more |= r == CD__DECODE_MORE;
    if (s->state == CD__FINISHED) {
      /* Drop what follows the stream. Earlier stages still run, one buffer
       * per call, so that a bomb behind the end makes no long call. */
      if (i == 0) {
        cd__drop(d);
        io.last = d->ended;
      } else {
        cd__consume(d, i, io.n);
      }
      if (io.last) break;
      return *wrote || (i > 0 && io.n) || more ? CD__DECODE_MORE : CD__DECODE_IDLE;
    }
    io.out = out + *wrote;
    io.cap = cap - *wrote;
    r = s->kind == CD__BROTLI ? cd__brotli(d, s, &io)
        : s->kind == CD__ZSTD ? cd__zstd(d, s, &io)
                              : cd__zlib(d, s, &io);
    cd__consume(d, i, io.used);
    *wrote += io.got;
    if (r == CD__S_ERR) return CD__DECODE_ERROR;
    if (r == CD__S_DONE) break;
    if (*wrote == cap) return CD__DECODE_MORE;
    if (io.used == 0 && io.got == 0 && s->state == state)
      return *wrote || more ? CD__DECODE_MORE : CD__DECODE_IDLE;
  }
  s->done = 1;
  return CD__DECODE_DONE;
}

int cd__decoder_pull(cd__decoder *d, char *out, size_t cap, size_t *produced) {
  *produced = 0;
  if (d->failed) return CD__DECODE_ERROR;
  int r = cd__fill(d, d->n - 1, (unsigned char *)out, cap, produced);
  if (d->failed) cd__drop(d); /* nothing will read it */
  /* Bytes come with MORE only: an error or the end shows on the next call. */
  return *produced > 0 ? CD__DECODE_MORE : r;
}
