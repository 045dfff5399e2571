/* test_decode.c - the content-coding decoder (engine/cd_decode.c): round
 * trips of every coding, stacked codings, header parsing, and Node's
 * answers (checked with Node 20 and 24) for corrupt, truncated, empty and
 * trailing data; a 200 MB bomb decoded 64 KiB at a time in little memory.
 * No server: bodies are made here with zlib, brotli and zstd. */
#include <malloc.h>
#include <stdlib.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "cd_decode.h"
#include "cd_test.h"

typedef struct buf {
  unsigned char *p;
  size_t len, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    ASSERT_NOT_NULL(b->p);
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}

static buf cat(buf a, const void *p, size_t n) {
  buf r = {0};
  buf_add(&r, a.p, a.len);
  buf_add(&r, p, n);
  return r;
}

/* Compressible text: words of a 16-letter alphabet. */
static buf text(size_t len, uint64_t seed) {
  tu_rng rng;
  buf b = {0};
  tu_rng_seed(&rng, seed);
  while (b.len < len) {
    char c = (char)(tu_rng_next(&rng) % 5 == 0 ? ' ' : 'a' + tu_rng_next(&rng) % 16);
    buf_add(&b, &c, 1);
  }
  return b;
}

/* Encodes with one coding, as a server would. */
static buf encode(const char *coding, const void *in, size_t len) {
  buf b = {0};
  if (strcmp(coding, "br") == 0) {
    b.cap = BrotliEncoderMaxCompressedSize(len) + 16;
    b.p = malloc(b.cap);
    b.len = b.cap;
    ASSERT(BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, len, in, &b.len,
                                 b.p));
  } else if (strcmp(coding, "zstd") == 0) {
    b.cap = ZSTD_compressBound(len);
    b.p = malloc(b.cap);
    b.len = ZSTD_compress(b.p, b.cap, in, len, 3);
    ASSERT(!ZSTD_isError(b.len));
  } else { /* gzip and x-gzip: gzip; deflate, compress: zlib; raw: raw */
    int wbits = strstr(coding, "gzip") ? 31 : strcmp(coding, "raw") == 0 ? -15 : 15;
    z_stream z = {0};
    ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    b.cap = deflateBound(&z, len);
    b.p = malloc(b.cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = b.p;
    z.avail_out = (uInt)b.cap;
    ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    b.len = z.total_out;
    deflateEnd(&z);
  }
  return b;
}

/* Applies codings in header order: "gzip, br" gzips, then brotlis. */
static buf encode_all(const char *const *codings, int n, const buf *in) {
  buf b = cat(*in, "", 0);
  for (int i = 0; i < n; i++) {
    buf next = encode(codings[i], b.p, b.len);
    free(b.p);
    b = next;
  }
  return b;
}

typedef struct dres {
  int status; /* CD__DECODE_DONE or CD__DECODE_ERROR */
  buf out;
  char msg[128], code[64];
  int err_no;
} dres;

/* Runs a body through a decoder for `value`: pushes it in pieces of `piece`
 * bytes (0: one push), pulling with `cap` until IDLE after each push; then
 * ends and pulls to DONE or ERROR. */
static dres decode_pieces(const char *value, const buf *body, size_t piece, size_t cap) {
  cd__decoder *d;
  char eb[128];
  dres r = {0};
  char *tmp = malloc(cap);
  size_t off = 0;
  int ended = 0, st;

  ASSERT_EQ(cd__decoder_new(value, strlen(value), &d, eb, sizeof eb), 1);
  for (;;) {
    if (off < body->len) {
      size_t n = piece && piece < body->len - off ? piece : body->len - off;
      ASSERT_EQ(cd__decoder_push(d, (const char *)body->p + off, n), 0);
      off += n;
    } else {
      cd__decoder_end(d);
      ended = 1;
    }
    size_t got;
    do {
      st = cd__decoder_pull(d, tmp, cap, &got);
      ASSERT_LE(got, cap);
      if (st != CD__DECODE_MORE) ASSERT_EQ(got, 0);
      buf_add(&r.out, tmp, got);
    } while (st == CD__DECODE_MORE);
    if (st == CD__DECODE_DONE || st == CD__DECODE_ERROR) break;
    ASSERT_EQ(st, CD__DECODE_IDLE);
    ASSERT(!ended); /* after the end there is nothing to wait for */
    ASSERT_EQ(cd__decoder_backlog(d), 0);
  }
  r.status = st;
  if (st == CD__DECODE_ERROR) {
    const char *code;
    const char *msg = cd__decoder_error(d, &code, &r.err_no);
    ASSERT_NOT_NULL(msg);
    snprintf(r.msg, sizeof r.msg, "%s", msg);
    snprintf(r.code, sizeof r.code, "%s", code);
  } else {
    ASSERT(ended);
    ASSERT_NULL(cd__decoder_error(d, NULL, NULL));
  }
  /* Sticky: nothing changes once decided. */
  size_t got = 1;
  ASSERT_EQ(cd__decoder_pull(d, tmp, cap, &got), st);
  ASSERT_EQ(got, 0);
  free(tmp);
  cd__decoder_free(d);
  return r;
}

static dres decode(const char *value, const buf *body) {
  return decode_pieces(value, body, 0, 64 * 1024);
}

#define ASSERT_DECODED(r, want)                                               \
  do {                                                                        \
    ASSERT_EQ((r).status, CD__DECODE_DONE);                                   \
    ASSERT_EQ((r).out.len, (want).len);                                       \
    ASSERT((want).len == 0 || memcmp((r).out.p, (want).p, (want).len) == 0);  \
  } while (0)

#define ASSERT_FAILED(r, m, c, e)                                             \
  do {                                                                        \
    ASSERT_EQ((r).status, CD__DECODE_ERROR);                                  \
    ASSERT_STR_EQ((r).msg, m);                                                \
    ASSERT_STR_EQ((r).code, c);                                               \
    ASSERT_EQ((r).err_no, e);                                                 \
  } while (0)

#define ASSERT_TRUNCATED(r) ASSERT_FAILED(r, "unexpected end of file", "Z_BUF_ERROR", -5)

static const char *const all_codings[] = {"gzip", "x-gzip", "deflate", "br", "zstd"};
#define NCODINGS (int)(sizeof all_codings / sizeof all_codings[0])

TEST_IMPL(decode_round_trip) {
  buf t = text(100000, 1), small = text(5000, 2);
  for (int i = 0; i < NCODINGS; i++) {
    buf z = encode(all_codings[i], t.p, t.len);
    dres r = decode(all_codings[i], &z);
    ASSERT_DECODED(r, t);
    free(r.out.p);
    r = decode_pieces(all_codings[i], &z, 1000, 4096);
    ASSERT_DECODED(r, t);
    free(r.out.p);
    free(z.p);
    /* One byte in, one byte out. */
    z = encode(all_codings[i], small.p, small.len);
    r = decode_pieces(all_codings[i], &z, 1, 1);
    ASSERT_DECODED(r, small);
    free(r.out.p);
    free(z.p);
  }
  /* Names are case-insensitive, items trimmed. */
  const char *spelled[][2] = {{"GZIP", "gzip"}, {" Br\t", "br"}, {"\tX-Gzip ", "gzip"},
                              {"ZStd", "zstd"}};
  for (size_t i = 0; i < sizeof spelled / sizeof spelled[0]; i++) {
    buf z = encode(spelled[i][1], small.p, small.len);
    dres r = decode(spelled[i][0], &z);
    ASSERT_DECODED(r, small);
    free(r.out.p);
    free(z.p);
  }
  free(t.p);
  free(small.p);
  return 0;
}

TEST_IMPL(decode_stacked) {
  buf t = text(70000, 3);
  static const char *const chains[][5] = {
      {"gzip", "br"}, {"br", "gzip"}, {"deflate", "zstd", "gzip"},
      {"x-gzip", "deflate", "br", "zstd", "gzip"}};
  static const char *const values[] = {"gzip, br", "br,gzip", "deflate , zstd,gzip",
                                       "x-gzip,deflate,br,zstd,gzip"};
  static const int lens[] = {2, 2, 3, 5};
  for (int i = 0; i < 4; i++) {
    buf z = encode_all(chains[i], lens[i], &t);
    dres r = decode(values[i], &z);
    ASSERT_DECODED(r, t);
    free(r.out.p);
    r = decode_pieces(values[i], &z, 333, 1);
    ASSERT_DECODED(r, t);
    free(r.out.p);
    r = decode_pieces(values[i], &z, 1, 100000);
    ASSERT_DECODED(r, t);
    free(r.out.p);
    free(z.p);
  }
  /* "gzip, br": br was applied last, so it is undone first; data made the
   * other way round fails in brotli. */
  static const char *const wrong[] = {"br", "gzip"};
  buf z = encode_all(wrong, 2, &t);
  dres r = decode("gzip, br", &z);
  ASSERT_EQ(r.status, CD__DECODE_ERROR);
  ASSERT_STR_EQ(r.msg, "Decompression failed");
  ASSERT_EQ(strncmp(r.code, "ERR__ERROR_FORMAT_", 18), 0);
  ASSERT_LT(r.err_no, 0);
  free(r.out.p);
  free(z.p);
  free(t.p);
  return 0;
}

TEST_IMPL(decode_header_values) {
  static const struct {
    const char *value;
    int rc;
  } cases[] = {
      {"gzip", 1},          {", gzip,", 1},      {"gzip,,,,", 1},     {"br, zstd", 1},
      {"", 0},              {",", 0},            {" , \t,", 0},       {"identity", 0},
      {"gzip, identity", 0}, {"identity, gzip", 0}, {"gzip;q=1", 0},  {"gz ip", 0},
      /* LZW, not zlib: passed through, as undici 8 */
      {"compress", 0},      {"x-compress", 0},   {"gzip, compress", 0},
      {"gzip,,,,,", -1},    {"a,b,c,d,e,f", -1}, {"gzip,gzip,gzip,gzip,gzip,gzip", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cd__decoder *d = (cd__decoder *)1;
    char eb[128] = "";
    int rc = cd__decoder_new(cases[i].value, strlen(cases[i].value), &d, eb, sizeof eb);
    ASSERT_MSG(rc == cases[i].rc, "\"%s\": %d, want %d", cases[i].value, rc, cases[i].rc);
    if (rc == 1) {
      ASSERT_NOT_NULL(d);
      cd__decoder_free(d);
    } else {
      ASSERT_NULL(d);
    }
    if (rc == -1)
      ASSERT_STR_EQ(eb, "too many content-encodings in response: 6, maximum allowed is 5");
  }
  /* Only the value's bytes count, NUL or not. */
  cd__decoder *d;
  ASSERT_EQ(cd__decoder_new("gzipXYZ", 4, &d, NULL, 0), 1);
  cd__decoder_free(d);
  ASSERT_EQ(cd__decoder_new("a,b,c,d,e,f,g", 13, &d, NULL, 0), -1);
  char eb[16];
  ASSERT_EQ(cd__decoder_new(",,,,,,,,,,", 10, &d, eb, sizeof eb), -1);
  ASSERT_STR_EQ(eb, "too many conten"); /* cut to the buffer */
  return 0;
}

TEST_IMPL(decode_corrupt) {
  buf t = text(3000, 4), garbage = {(unsigned char *)"hello world", 11, 0};
  dres r;
  buf z = encode("gzip", t.p, t.len), bad = cat(z, "", 0);
#define CHECK_CORRUPT(value, body, m, c, e)                                   \
  do {                                                                        \
    r = decode(value, &(body));                                               \
    ASSERT_FAILED(r, m, c, e);                                                \
    free(r.out.p);                                                            \
  } while (0)
  CHECK_CORRUPT("gzip", garbage, "incorrect header check", "Z_DATA_ERROR", -3);
  bad.p[2] ^= 0x21; /* method */
  CHECK_CORRUPT("gzip", bad, "unknown compression method", "Z_DATA_ERROR", -3);
  bad.p[2] ^= 0x21;
  bad.p[bad.len - 8] ^= 1; /* CRC-32 */
  CHECK_CORRUPT("gzip", bad, "incorrect data check", "Z_DATA_ERROR", -3);
  bad.p[bad.len - 8] ^= 1;
  bad.p[bad.len - 1] ^= 1; /* ISIZE */
  CHECK_CORRUPT("gzip", bad, "incorrect length check", "Z_DATA_ERROR", -3);
  buf zl = encode("deflate", t.p, t.len), raw = encode("raw", t.p, t.len);
  CHECK_CORRUPT("gzip", zl, "incorrect header check", "Z_DATA_ERROR", -3);
  CHECK_CORRUPT("deflate", raw, "incorrect header check", "Z_DATA_ERROR", -3);
  CHECK_CORRUPT("deflate", z, "incorrect header check", "Z_DATA_ERROR", -3);
  CHECK_CORRUPT("deflate", garbage, "incorrect header check", "Z_DATA_ERROR", -3);
  zl.p[zl.len - 1] ^= 1; /* Adler-32 */
  CHECK_CORRUPT("deflate", zl, "incorrect data check", "Z_DATA_ERROR", -3);
  /* A preset dictionary (FDICT) Node was not given. */
  static const unsigned char fdict[] = {0x78, 0xbb, 0x06, 0x2c, 0x02, 0x15, 0x01, 0x00};
  buf dict = {(unsigned char *)fdict, sizeof fdict, 0};
  CHECK_CORRUPT("deflate", dict, "Missing dictionary", "Z_NEED_DICT", 2);
  CHECK_CORRUPT("br", garbage, "Decompression failed", "ERR__ERROR_FORMAT_CL_SPACE", -6);
  CHECK_CORRUPT("zstd", garbage, "Unknown frame descriptor", "ZSTD_error_prefix_unknown", 10);
  /* A frame with a checksum, damaged in it. */
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
  buf zs = {malloc(ZSTD_compressBound(t.len)), 0, 0};
  zs.len = ZSTD_compress2(cc, zs.p, ZSTD_compressBound(t.len), t.p, t.len);
  ASSERT(!ZSTD_isError(zs.len));
  ZSTD_freeCCtx(cc);
  zs.p[zs.len - 1] ^= 1;
  CHECK_CORRUPT("zstd", zs, "Restored data doesn't match checksum", "ZSTD_error_checksum_wrong",
                22);
#undef CHECK_CORRUPT
  free(z.p);
  free(bad.p);
  free(zl.p);
  free(raw.p);
  free(zs.p);
  free(t.p);
  return 0;
}

TEST_IMPL(decode_truncated) {
  buf t = text(20000, 5);
  for (int i = 0; i < NCODINGS; i++) {
    buf z = encode(all_codings[i], t.p, t.len);
    size_t cuts[] = {z.len - 1, z.len / 2, 3, 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
      size_t keep = z.len;
      z.len = cuts[c];
      /* Nothing is wrong until the end: the rest could still come. */
      cd__decoder *d;
      char out[64 * 1024];
      size_t got, total = 0;
      int st;
      ASSERT_EQ(cd__decoder_new(all_codings[i], strlen(all_codings[i]), &d, NULL, 0), 1);
      ASSERT_EQ(cd__decoder_push(d, (const char *)z.p, z.len), 0);
      while ((st = cd__decoder_pull(d, out, sizeof out, &got)) == CD__DECODE_MORE) {
        ASSERT_EQ(memcmp(out, t.p + total, got), 0);
        total += got;
      }
      ASSERT_EQ(st, CD__DECODE_IDLE);
      cd__decoder_end(d);
      ASSERT_EQ(cd__decoder_pull(d, out, sizeof out, &got), CD__DECODE_ERROR);
      const char *code;
      int err_no;
      ASSERT_STR_EQ(cd__decoder_error(d, &code, &err_no), "unexpected end of file");
      ASSERT_STR_EQ(code, "Z_BUF_ERROR");
      ASSERT_EQ(err_no, -5);
      cd__decoder_free(d);
      /* What could be decoded was given: all of it when only the gzip or
       * zlib trailer is missing. */
      if (c == 0 && strcmp(all_codings[i], "br") != 0 && strcmp(all_codings[i], "zstd") != 0)
        ASSERT_EQ(total, t.len);
      z.len = keep;
    }
    free(z.p);
  }
  free(t.p);
  return 0;
}

TEST_IMPL(decode_empty_body) {
  buf none = {0}, t = text(1000, 6);
  for (int i = 0; i < NCODINGS; i++) {
    dres r = decode(all_codings[i], &none);
    ASSERT_TRUNCATED(r);
    free(r.out.p);
  }
  dres r = decode("gzip, br", &none);
  ASSERT_TRUNCATED(r);
  free(r.out.p);
  /* An empty stream that decodes to nothing is fine. */
  for (int i = 0; i < NCODINGS; i++) {
    buf z = encode(all_codings[i], "", 0);
    r = decode(all_codings[i], &z);
    ASSERT_DECODED(r, none);
    free(r.out.p);
    free(z.p);
  }
  /* undici's pipeline() quirk: in a chain, the stage undone last is never
   * reported truncated (nor empty); the body ends with what it decoded. */
  buf z = encode("br", "", 0);
  r = decode("gzip, br", &z);
  ASSERT_DECODED(r, none);
  free(r.out.p);
  free(z.p);
  buf g = encode("gzip", t.p, t.len);
  buf part = encode("br", g.p, g.len / 2);
  r = decode("gzip, br", &part);
  ASSERT_EQ(r.status, CD__DECODE_DONE);
  ASSERT_GT(r.out.len, 0);
  ASSERT_LT(r.out.len, t.len);
  ASSERT_EQ(memcmp(r.out.p, t.p, r.out.len), 0);
  free(r.out.p);
  free(part.p);
  /* Earlier stages are: the outer brotli here, a middle one below. */
  buf full = encode("br", g.p, g.len);
  full.len -= 2;
  r = decode("gzip, br", &full);
  ASSERT_TRUNCATED(r);
  free(r.out.p);
  free(full.p);
  buf mid = encode("br", g.p, g.len);
  mid.len -= 2;
  buf outer = encode("deflate", mid.p, mid.len);
  r = decode("gzip, br, deflate", &outer);
  ASSERT_TRUNCATED(r);
  free(r.out.p);
  free(mid.p);
  free(outer.p);
  free(g.p);
  free(t.p);
  return 0;
}

TEST_IMPL(decode_gzip_members) {
  buf a = text(3000, 7), b = text(100, 8);
  buf ga = encode("gzip", a.p, a.len), gb = encode("gzip", b.p, b.len);
  buf ab = cat(a, b.p, b.len), two = cat(ga, gb.p, gb.len);
  dres r;
  /* Concatenated members decode one after the other, split or not. */
  r = decode("gzip", &two);
  ASSERT_DECODED(r, ab);
  free(r.out.p);
  for (size_t piece = 1; piece < 40; piece += 7) {
    r = decode_pieces("gzip", &two, piece, 1000);
    ASSERT_DECODED(r, ab);
    free(r.out.p);
  }
  /* A zero byte after a member is padding: the stream ends there and
   * whatever follows is dropped, another member included. */
  static const unsigned char zeros_junk[] = {0, 0, 0, 'j', 'u', 'n', 'k'};
  buf padded = cat(ga, zeros_junk, sizeof zeros_junk);
  r = decode("gzip", &padded);
  ASSERT_DECODED(r, a);
  free(r.out.p);
  buf zero1 = cat(ga, "", 1), padded_member = cat(zero1, gb.p, gb.len);
  r = decode_pieces("gzip", &padded_member, ga.len + 1, 100); /* member, 0 | member */
  ASSERT_DECODED(r, a);
  free(r.out.p);
  r = decode_pieces("gzip", &padded_member, ga.len, 100); /* member | 0, member */
  ASSERT_DECODED(r, a);
  free(r.out.p);
  /* Anything else starts a member: garbage fails as its header, a partial
   * header is a truncated stream. */
  buf junk = cat(ga, "junk", 4);
  r = decode("gzip", &junk);
  ASSERT_FAILED(r, "incorrect header check", "Z_DATA_ERROR", -3);
  ASSERT_EQ(r.out.len, a.len); /* the first member was given before */
  free(r.out.p);
  r = decode_pieces("gzip", &junk, ga.len, 100);
  ASSERT_FAILED(r, "incorrect header check", "Z_DATA_ERROR", -3);
  free(r.out.p);
  buf magic = cat(ga, "\x1f\x8b", 2);
  r = decode("x-gzip", &magic);
  ASSERT_TRUNCATED(r);
  free(r.out.p);
  buf half = cat(ga, gb.p, gb.len - 4);
  r = decode("gzip", &half);
  ASSERT_TRUNCATED(r);
  free(r.out.p);
  free(a.p), free(b.p), free(ga.p), free(gb.p), free(ab.p), free(two.p), free(padded.p);
  free(zero1.p), free(padded_member.p), free(junk.p), free(magic.p), free(half.p);
  return 0;
}

TEST_IMPL(decode_trailing_data) {
  buf a = text(3000, 9), b = text(100, 10), ab = cat(a, b.p, b.len), none = {0};
  dres r;
  /* deflate and br: whatever follows the stream is dropped, another stream
   * included, in the same push or a later one. */
  static const char *const dropped[] = {"deflate", "br"};
  for (int i = 0; i < 2; i++) {
    buf za = encode(dropped[i], a.p, a.len), zb = encode(dropped[i], b.p, b.len);
    buf junk = cat(za, "junk", 4), two = cat(za, zb.p, zb.len);
    r = decode(dropped[i], &junk);
    ASSERT_DECODED(r, a);
    free(r.out.p);
    r = decode_pieces(dropped[i], &junk, za.len, 7);
    ASSERT_DECODED(r, a);
    free(r.out.p);
    r = decode(dropped[i], &two);
    ASSERT_DECODED(r, a);
    free(r.out.p);
    r = decode_pieces(dropped[i], &two, za.len, 100);
    ASSERT_DECODED(r, a);
    free(r.out.p);
    free(za.p), free(zb.p), free(junk.p), free(two.p);
  }
  /* zstd, as Node's ZstdDecompress: a frame that ends with input left in
   * the same write ends the stream; one that ends with the write lets the
   * next write start a frame. */
  buf za = encode("zstd", a.p, a.len), zb = encode("zstd", b.p, b.len);
  buf two = cat(za, zb.p, zb.len), junk = cat(za, "junk", 4);
  r = decode("zstd", &two);
  ASSERT_DECODED(r, a);
  free(r.out.p);
  r = decode_pieces("zstd", &two, za.len, 100);
  ASSERT_DECODED(r, ab);
  free(r.out.p);
  r = decode("zstd", &junk);
  ASSERT_DECODED(r, a);
  free(r.out.p);
  r = decode_pieces("zstd", &junk, za.len, 100);
  ASSERT_FAILED(r, "Unknown frame descriptor", "ZSTD_error_prefix_unknown", 10);
  free(r.out.p);
  buf one = cat(za, zb.p, 1);
  r = decode_pieces("zstd", &one, za.len, 100);
  ASSERT_TRUNCATED(r);
  free(r.out.p);
  /* A skippable frame is a frame: alone it is an empty body; with a frame
   * after it in the same write, that frame is dropped. */
  static const unsigned char skip[] = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'a', 'b', 'c', 'd'};
  buf sk = cat(none, skip, sizeof skip), skza = cat(sk, za.p, za.len);
  r = decode("zstd", &sk);
  ASSERT_DECODED(r, none);
  free(r.out.p);
  r = decode("zstd", &skza);
  ASSERT_DECODED(r, none);
  free(r.out.p);
  r = decode_pieces("zstd", &skza, sizeof skip, 100);
  ASSERT_DECODED(r, a);
  free(r.out.p);
  free(a.p), free(b.p), free(ab.p), free(za.p), free(zb.p), free(two.p), free(junk.p);
  free(one.p), free(sk.p), free(skza.p);
  return 0;
}

/* The push/pull contract: IDLE when the backlog is consumed, DONE only after
 * the end, bytes only with MORE, nothing accepted after an error. */
TEST_IMPL(decode_push_pull) {
  buf t = text(50000, 11), z = encode("gzip", t.p, t.len);
  cd__decoder *d;
  char out[1000];
  size_t got, total = 0, half = z.len / 2;
  int st;
  ASSERT_EQ(cd__decoder_new("gzip", 4, &d, NULL, 0), 1);
  ASSERT_EQ(cd__decoder_pull(d, out, sizeof out, &got), CD__DECODE_IDLE);
  ASSERT_EQ(cd__decoder_push(d, (const char *)z.p, half), 0);
  ASSERT_EQ(cd__decoder_push(d, "", 0), 0);
  ASSERT_EQ(cd__decoder_backlog(d), half);
  /* Pulling decodes only what fits: the backlog goes down bit by bit. */
  ASSERT_EQ(cd__decoder_pull(d, out, sizeof out, &got), CD__DECODE_MORE);
  ASSERT_EQ(got, sizeof out);
  ASSERT_GT(cd__decoder_backlog(d), 0);
  total += got;
  while ((st = cd__decoder_pull(d, out, sizeof out, &got)) == CD__DECODE_MORE) {
    ASSERT_EQ(memcmp(out, t.p + total, got), 0);
    total += got;
  }
  ASSERT_EQ(st, CD__DECODE_IDLE);
  ASSERT_EQ(cd__decoder_backlog(d), 0);
  ASSERT_LT(total, t.len);
  ASSERT_EQ(cd__decoder_push(d, (const char *)z.p + half, z.len - half), 0);
  ASSERT_EQ(cd__decoder_backlog(d), z.len - half);
  while ((st = cd__decoder_pull(d, out, sizeof out, &got)) == CD__DECODE_MORE) {
    ASSERT_EQ(memcmp(out, t.p + total, got), 0);
    total += got;
  }
  ASSERT_EQ(st, CD__DECODE_IDLE); /* complete, but not ended */
  ASSERT_EQ(total, t.len);
  cd__decoder_end(d);
  ASSERT_EQ(cd__decoder_pull(d, out, sizeof out, &got), CD__DECODE_DONE);
  ASSERT_EQ(got, 0);
  ASSERT_EQ(cd__decoder_pull(d, out, sizeof out, &got), CD__DECODE_DONE);
  cd__decoder_free(d);

  /* Bytes decoded before an error come first, then the error. */
  buf bad = cat(z, "", 0);
  bad.p[bad.len - 8] ^= 1;
  ASSERT_EQ(cd__decoder_new("gzip", 4, &d, NULL, 0), 1);
  ASSERT_EQ(cd__decoder_push(d, (const char *)bad.p, bad.len), 0);
  total = 0;
  while ((st = cd__decoder_pull(d, out, sizeof out, &got)) == CD__DECODE_MORE) total += got;
  ASSERT_EQ(st, CD__DECODE_ERROR);
  ASSERT_EQ(total, t.len);
  ASSERT_EQ(cd__decoder_push(d, "more", 4), 0);
  ASSERT_EQ(cd__decoder_backlog(d), 0);
  ASSERT_EQ(cd__decoder_pull(d, out, sizeof out, &got), CD__DECODE_ERROR);
  ASSERT_STR_EQ(cd__decoder_error(d, NULL, NULL), "incorrect data check");
  cd__decoder_free(d);
  cd__decoder_free(NULL);
  free(bad.p), free(z.p), free(t.p);
  return 0;
}

/* Bytes the process has allocated: the sanitizer's count when there is
 * one, glibc's otherwise. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));
static size_t heap_now(void) {
  if (__sanitizer_get_current_allocated_bytes != NULL)
    return __sanitizer_get_current_allocated_bytes();
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

#define BOMB_MB 200

static buf bomb_gzip(void) {
  static const unsigned char zero[1 << 20];
  unsigned char out[64 * 1024];
  z_stream z = {0};
  buf b = {0};
  ASSERT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
  for (int i = 0; i <= BOMB_MB; i++) {
    int rc;
    z.next_in = (Bytef *)(uintptr_t)zero;
    z.avail_in = i < BOMB_MB ? sizeof zero : 0;
    do {
      z.next_out = out;
      z.avail_out = sizeof out;
      rc = deflate(&z, i < BOMB_MB ? Z_NO_FLUSH : Z_FINISH);
      buf_add(&b, out, sizeof out - z.avail_out);
    } while (z.avail_out == 0 || (i == BOMB_MB && rc != Z_STREAM_END));
  }
  deflateEnd(&z);
  return b;
}

static buf bomb_zstd(void) {
  static const unsigned char zero[1 << 20];
  unsigned char out[64 * 1024];
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  buf b = {0};
  ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, 20);
  for (int i = 0; i <= BOMB_MB; i++) {
    ZSTD_inBuffer in = {zero, i < BOMB_MB ? sizeof zero : 0, 0};
    size_t rc;
    do {
      ZSTD_outBuffer o = {out, sizeof out, 0};
      rc = ZSTD_compressStream2(cc, &o, &in, i < BOMB_MB ? ZSTD_e_continue : ZSTD_e_end);
      ASSERT(!ZSTD_isError(rc));
      buf_add(&b, out, o.pos);
    } while (in.pos < in.size || (i == BOMB_MB && rc != 0));
  }
  ZSTD_freeCCtx(cc);
  return b;
}

/* Pushes the whole body, pulls 64 KiB at a time: exact output, and the
 * decoder's heap grows by at most `bound` while it makes 200 MB. */
static void pull_bomb(const char *value, const buf *body, size_t bound) {
  static const char zero[64 * 1024];
  char *out = malloc(sizeof zero);
  cd__decoder *d;
  size_t got, total = 0, pulls = 0;
  int st;
  ASSERT_EQ(cd__decoder_new(value, strlen(value), &d, NULL, 0), 1);
  ASSERT_EQ(cd__decoder_push(d, (const char *)body->p, body->len), 0);
  cd__decoder_end(d);
  ASSERT_EQ(cd__decoder_backlog(d), body->len);
  size_t base = heap_now(), peak = base;
  while ((st = cd__decoder_pull(d, out, sizeof zero, &got)) == CD__DECODE_MORE) {
    ASSERT_EQ(memcmp(out, zero, got), 0);
    total += got;
    pulls++;
    size_t h = heap_now();
    if (h > peak) peak = h;
  }
  ASSERT_EQ(st, CD__DECODE_DONE);
  ASSERT_EQ(total, (size_t)BOMB_MB << 20);
  ASSERT_EQ(cd__decoder_backlog(d), 0);
  cd_test_log("%s: %zu bytes in, %zu out in %zu pulls, heap +%zu bytes at most", value,
              body->len, total, pulls, peak - base);
  ASSERT_LT(peak - base, bound);
  cd__decoder_free(d);
  free(out);
}

TEST_IMPL(decode_bomb) {
  buf g = bomb_gzip(), z = bomb_zstd();
  ASSERT_LT(g.len, 1024 * 1024);
  ASSERT_LT(z.len, 1024 * 1024);
  pull_bomb("gzip", &g, 256 * 1024); /* inflate's state and 32 KiB window */
  pull_bomb("zstd", &z, 3 << 20);    /* its 1 MiB window, and block buffers */
  /* Stacked: the gzip'd bomb gzip'd again and brotli'd, a few KB. */
  static const char *const more[] = {"gzip", "br"};
  buf gg = encode_all(more, 2, &g);
  ASSERT_LT(gg.len, 64 * 1024);
  pull_bomb("gzip, gzip, br", &gg, 512 * 1024);
  free(g.p), free(z.p), free(gg.p);
  return 0;
}
