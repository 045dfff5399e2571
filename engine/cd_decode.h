/* cd_decode.h - undoes HTTP content codings (Content-Encoding) in a worker,
 * with the semantics of undici's interceptors.decompress() on Node's zlib.
 *
 * A decoder is a chain of up to CD__DECODE_MAX_CODINGS stages, last coding
 * first (the interceptor's order): gzip and x-gzip as Node's Gunzip,
 * deflate as its Inflate (zlib-wrapped), br as its
 * BrotliDecompress, zstd as its ZstdDecompress (Node 24). Input is pushed
 * (copied into a backlog), output pulled into the caller's buffer: a stage
 * decodes only as much as fits, so a decompression bomb costs CPU, never
 * memory beyond the caller's cap, one 16 KiB buffer per stacked stage and
 * the libraries' own windows (zlib 32 KiB, brotli up to 16 MiB as in Node,
 * zstd up to 8 MiB as undici 8 allows).
 *
 * Errors carry Node's message, code and errno for the same failure, so the
 * JS side can rebuild the Error the interceptor would have raised.
 *
 * A leaf: libc, zlib, brotli, zstd only. Ownership: the creator frees the
 * decoder; pushed bytes are copied. Threading: one decoder is used by one
 * thread at a time.
 */
#ifndef CD_DECODE_H
#define CD_DECODE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd__decoder cd__decoder;

#define CD__DECODE_MAX_CODINGS 5 /* undici's maxContentEncodings */

/* Status of cd__decoder_pull. Bytes produced always come with MORE: IDLE,
 * DONE and ERROR are returned with *produced == 0. */
enum {
  CD__DECODE_MORE = 0,  /* produced bytes, or could: call again */
  CD__DECODE_IDLE = 1,  /* all pushed input consumed and no output pending:
                         * push more (or end) */
  CD__DECODE_DONE = 2,  /* after cd__decoder_end: every stream complete, all
                         * output given */
  CD__DECODE_ERROR = 3  /* corrupt or truncated data: cd__decoder_error says
                         * what */
};

/* A decoder for a Content-Encoding field value (all Content-Encoding lines
 * joined with ","; items trimmed of whitespace, empty items skipped,
 * case-insensitive).
 * Returns 1 with *out set when there is at least one item and every item is
 * one it decodes (gzip, x-gzip, deflate, br, zstd; compress and x-compress,
 * LZW, pass through, as with undici 8's interceptor);
 * 0 with *out NULL when an item is not one of those or there is none (the
 * body then passes through untouched, as with the interceptor);
 * -1 when the value has more than CD__DECODE_MAX_CODINGS parts (counted as
 * JS split(',') counts them, empty ones included), with errbuf set to the
 * interceptor's message; -2 when out of memory.
 * zstd: the interceptor decodes it only when Node has createZstdDecompress
 * (22.15+, 23.8+); on older Node the caller must not ask for it here. */
int cd__decoder_new(const char *value, size_t len, cd__decoder **out,
                    char *errbuf, size_t errlen);

/* Hands input bytes to the decoder, which copies them (its backlog: the
 * caller bounds it by pulling before pushing more). Each push is one write
 * to Node's stream, which matters for zstd: a frame that ends inside a push
 * ends the stream, one that ends at a push's end does not. Bytes after the
 * end of the stream are dropped. 0, or -1 when out of memory. */
int cd__decoder_push(cd__decoder *d, const char *in, size_t len);

/* No more input will come. */
void cd__decoder_end(cd__decoder *d);

/* Decoded bytes into out (up to cap, cap >= 1); *produced says how many.
 * Decodes only as much as fits. */
int cd__decoder_pull(cd__decoder *d, char *out, size_t cap, size_t *produced);

/* Bytes pushed and not yet consumed by the first stage (0 once its stream
 * ended or the decoder failed: the rest is dropped). */
size_t cd__decoder_backlog(const cd__decoder *d);

/* After CD__DECODE_ERROR: Node's message, and its error code and errno
 * (e.g. "incorrect header check", "Z_DATA_ERROR", -3; a truncated stream:
 * "unexpected end of file", "Z_BUF_ERROR", -5). NULL before an error.
 * The strings live as long as the decoder. As with the interceptor, the
 * stage undone last in a chain of two or more is never reported truncated:
 * undici's pipeline() ends the body before that stream's flush fails. */
const char *cd__decoder_error(const cd__decoder *d, const char **code,
                              int *err_no);

void cd__decoder_free(cd__decoder *d);

#ifdef __cplusplus
}
#endif

#endif /* CD_DECODE_H */
