/* cd_upwait.c - uploads waiting for the owner's body: watching their
 * sockets (see cd_upwait.h).
 *
 * While the read callback is paused, libcurl goes on reading the response,
 * but it finishes a transfer only once both directions are done: when the
 * server closes the connection, libcurl reads the end of the stream, stops
 * polling the socket and waits for a body that may never come (an owner
 * streaming from a source that waits on the response, as a pipeline does).
 * The worker watches the sockets of such transfers itself and ends them
 * when the server has hung up: a body the close delimits is complete; any
 * other is cut short, the same error a send on that socket would have
 * met. */
#include "cd_upwait.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "cd_conn.h"
#include "cd_pause.h"

size_t cd__upwait_fds(cd__worker *w, struct curl_waitfd *fds, size_t max) {
  size_t n = 0;
  cd_request *req;
  cds_list_for_each_entry(req, &w->upload_waits, upwait.node) {
    if (n == max) break;
    if ((req->pause & CD__PAUSE_HELD_RECV) || req->upwait.stale) continue;  /* readable until something changes */
    curl_socket_t fd = cd__conn_transfer_fd(&w->conns, req);
    if (fd == CURL_SOCKET_BAD) continue;
    fds[n].fd = fd;
    fds[n].events = CURL_WAIT_POLLIN;
    fds[n].revents = 0;
    n++;
  }
  return n;
}

#ifdef POLLRDHUP
#define CD__POLL_RDHUP POLLRDHUP
#else
#define CD__POLL_RDHUP 0
#endif

bool cd__upwait_hung_up(cd_request *req, curl_socket_t fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN | CD__POLL_RDHUP};
  if (poll(&p, 1, 0) != 1) return false;
  int unread = 0;
  if (ioctl(fd, FIONREAD, &unread) != 0) return false;
  bool hup = (p.revents & (POLLHUP | POLLERR | CD__POLL_RDHUP)) != 0;
  if (CD__POLL_RDHUP == 0 && !hup && unread == 0) {
    /* no RDHUP on this system: readable with nothing to read is the end */
    char b;
    hup = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  bool same = unread > 0 && unread == req->upwait.unread;
  req->upwait.unread = unread;
  /* bytes libcurl leaves unread on an open connection (sent after a
   * complete response) would keep the poll awake: that socket is left to
   * the loop's periodic turn until something changes */
  req->upwait.stale = !hup && same;
  return hup && (unread == 0 || same);
}
