/* cd_loop.h - a worker thread and its loop.
 *
 * Above every other worker-side file: the loop takes commands off the
 * channels, drives libcurl, fires deadlines, moves held-back events and
 * notifies the owners. Called by cd_engine.c (start, stop) and by owners
 * through the waker (cd_waker.h).
 */
#ifndef CD_LOOP_H
#define CD_LOOP_H

#include "cd_registry.h"
#include "cd_worker.h"

/* Starts worker `index`, serving the environments of `registry`. NULL on
 * failure. Any thread (the engine's mutex held). */
cd__worker *cd__loop_start(cd__registry *registry, unsigned index);
/* Stops and joins the worker, then frees it. Every environment has
 * detached. */
void cd__loop_stop(cd__worker *w);

#endif /* CD_LOOP_H */
