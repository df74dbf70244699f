/* Internal to the HTTP transport (http.c, target.c). */
#ifndef KM_HTTP_INTERNAL_H
#define KM_HTTP_INTERNAL_H

#include <stddef.h>

/* 1 when host (no brackets) is localhost, 127.0.0.0/8 or ::1. */
int km__http_is_loopback(const char *host);

/* Checks url is http(s) and finds where curl will really connect for (url,
 * connect_to): the connect_to's CONNECT-HOST when the entry applies to the
 * URL, else the URL host, into out; port (at least 8 bytes) gets the port.
 * Returns 0, KM_EINVAL for a malformed or non-HTTP URL, KM_ENOMEM. */
int km__http_connect_target(const char *url, const char *connect_to, char *out,
                            size_t outsz, char *port, size_t portsz);

/* Splits an http(s) url into its origin "scheme://authority/" (into
 * origin) and its request target "/path?query" (*target, malloc'd): 1 when
 * split, 0 when the URL is better given to curl whole (no path or query
 * beyond "/", a fragment, a byte curl would refuse or encode, or an origin
 * longer than originsz), KM_ENOMEM. */
int km__http_split_url(const char *url, char *origin, size_t originsz,
                       char **target);

/* Whether TLS can trust one CA file alone (CURLOPT_CAPATH NULL): ca_file,
 * or libcurl's built-in bundle when it is readable.  curl 7.88 caches the
 * parsed store per multi handle only without a CApath. */
int km__http_ca_file_only(const char *ca_file);

/* km__http_connect_target, remembered for the last (url, connect_to):
 * calls to one endpoint ask the same question each time. */
typedef struct {
  char *url, *connect_to; /* NULL url: nothing yet */
  char target[256], port[16];
} km__http_memo_t;
int km__http_connect_target_memo(km__http_memo_t *m, const char *url,
                                 const char *ct, char target[256],
                                 char port[16]);
void km__http_memo_free(km__http_memo_t *m);

#endif
