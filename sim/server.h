/* kmsim's server object: the two libmicrohttpd daemons (HTTP and HTTPS)
 * sharing one cloud, and the request pipeline they run. */
#ifndef KSIM_SERVER_H
#define KSIM_SERVER_H

#include <stdbool.h>

#include "ksim.h"

struct MHD_Daemon;

typedef struct ksim_server {
  ksim_cloud_t *cloud;
  const char *bind_addr; /* default 127.0.0.1 */
  int http_port;         /* -1 = off, 0 = ephemeral */
  int https_port;
  const char *tls_cert, *tls_key;
  const char *admin_token; /* NULL = admin paths open */
  bool verbose;
  /* TLS 1.3 session tickets off: every new connection is a full handshake
   * (as before kmsim resumed sessions; for measuring what resumption saves) */
  bool no_tls_tickets;
  /* filled by ksim_server_start */
  int http_bound, https_bound;
  struct MHD_Daemon *http, *https;
  char *tls_cert_pem, *tls_key_pem;
} ksim_server_t;

int ksim_server_start(ksim_server_t *s);
void ksim_server_stop(ksim_server_t *s);
/* Runs one collected request through routing, auth and dispatch (used by the
 * daemons and directly by unit tests). */
void ksim_process(ksim_server_t *s, ksim_req_t *req, ksim_resp_t *resp,
                  unsigned *delay_ms);
/* The application traffic of the fixture's `traffic:` section (traffic.c):
 * parses it and starts its thread (nothing without the section); 0 or -1
 * with err.  Stop before ksim_server_stop. */
int ksim_traffic_configure(const json_t *cfg, char *err, size_t errlen);
int ksim_traffic_start(ksim_server_t *s, char *err, size_t errlen);
void ksim_traffic_stop(void);
/* Host -> product/region; -1 for an unknown endpoint. */
int ksim_route(ksim_cloud_t *c, ksim_req_t *req);

#endif
