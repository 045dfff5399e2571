/* cd_bodydec.h - whether a final response's body is decoded in the worker
 * (CD_REQ_DECODE), decided as undici's interceptors.decompress() decides
 * it, and the decoder that does it (cd_decode.h); its failures as
 * CD_ERR_DECODE payloads (req->dec.error).
 *
 * Below cd_transfer, whose write callback hands it libcurl's bytes; above
 * cd_data (what the decoder gives goes out within the response window),
 * cd_pause, cd_decode and cd_head.
 * Threading: the request's worker.
 */
#ifndef CD_BODYDEC_H
#define CD_BODYDEC_H

#include <stddef.h>

#include "cd_request.h"
#include "cd_worker.h"

/* At the end of the final head, of `status`: 1 when its body is to be
 * decoded (req->dec.decoder set), 0 when it passes through as it came
 * (no coding, one the decoder does not know, a status left coded, a HEAD
 * request), -1 when the request fails instead (too many codings:
 * req->dec.error set, the head is not delivered, as the interceptor
 * throws before its handler sees it), -2 when out of memory. */
int cd__bodydec_start(cd_request *req, long status, const char *head, size_t len);

/* libcurl's body bytes for a request being decoded (on_write's work for
 * it): returns what the write callback returns, 0 with req->error set on
 * failure (CD_ERR_DECODE with req->dec.error, or CD_ERR_NO_MEMORY). */
size_t cd__bodydec_write(cd__worker *w, cd_request *req, const char *ptr, size_t n);

/* The transfer completed: the decoder's end, and what it still gives;
 * req->error set when the body ends truncated or out of memory. */
void cd__bodydec_finish(cd__worker *w, cd_request *req);

/* The transfer ends: the decoder goes. */
void cd__bodydec_release(cd_request *req);

#endif /* CD_BODYDEC_H */
