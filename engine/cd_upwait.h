/* cd_upwait.h - uploads waiting for the owner's next body chunk
 * (CD__PAUSE_UPLOAD, worker->upload_waits) on a connection the server may
 * have closed: libcurl stops polling a socket it read the end of and waits
 * for a body that may never come, so the worker watches those sockets
 * itself; cd_transfer.c ends the transfers whose server hung up.
 *
 * Above cd_conn and cd_pause, below cd_transfer and the loop. Threading:
 * the worker.
 */
#ifndef CD_UPWAIT_H
#define CD_UPWAIT_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "cd_request.h"
#include "cd_worker.h"

/* Poll entries (POLLIN) for the sockets of waiting uploads whose response
 * libcurl is not holding back, at most `max`. */
size_t cd__upwait_fds(cd__worker *w, struct curl_waitfd *fds, size_t max);

/* Whether the server has closed the transfer's connection `fd` and libcurl
 * has read all it sent. Bytes still unread are libcurl's to read (at most a
 * buffer per turn), unless they stay unread for a whole turn: then libcurl
 * has stopped reading (a response already complete), and the socket must
 * not keep the worker's poll awake (upwait_stale). */
bool cd__upwait_hung_up(cd_request *req, curl_socket_t fd);

#endif /* CD_UPWAIT_H */
