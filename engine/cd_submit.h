/* cd_submit.h - the owner's calls on a request (engine.h's cd_request_*:
 * submit, write, pause, resume, abort, release), each a command on the
 * channel to the request's worker.
 *
 * The top of the engine, beside cd_loadctl: above cd_env, cd_request and
 * cd_timings. Threading: the owner's thread.
 */
#ifndef CD_SUBMIT_H
#define CD_SUBMIT_H

#include "engine.h"

#endif /* CD_SUBMIT_H */
