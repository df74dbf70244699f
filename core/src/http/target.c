/* Where a request really connects, for the transport (http.c): the URL's
 * host and port, or the CONNECT_TO target that applies to them, and whether
 * that is a loopback address.  The transport keys its per-target queue on
 * the result and only turns TLS verification off for a loopback target, so
 * the parsing errs towards the URL host when in doubt.
 *
 * Also the split of a URL into its origin and its request target, which
 * the transport hands to curl apart (CURLOPT_REQUEST_TARGET): curl 7.88
 * copies a URL's path and query through its printf engine a byte at a time
 * three times per request, which was a fifth of a signed call's CPU with
 * the ~300-byte query of a V1 signature.  And the choice of the trust
 * store's source, which decides whether curl caches it. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http/http_internal.h"
#include "kmsmig/errors.h"
#include "util/util.h"

/* Host part of an authority "host", "[v6]" (brackets removed) into out. */
static void copy_host(const char *p, size_t n, char *out, size_t outsz) {
  if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
    p++;
    n -= 2;
  }
  if (n >= outsz) n = outsz - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

int km__http_is_loopback(const char *host) {
  if (strcasecmp(host, "localhost") == 0) return 1;
  unsigned char a[16];
  if (inet_pton(AF_INET, host, a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, host, a) == 1) {
    static const unsigned char lo[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1};
    return memcmp(a, lo, 16) == 0;
  }
  return 0;
}

/* Splits the next ':'-separated field of a CONNECT_TO entry (a bracketed
 * IPv6 address may contain ':').  Returns the field length; *pp advances
 * past the separator. */
static size_t next_field(const char **pp) {
  const char *p = *pp;
  size_t n = 0;
  if (p[0] == '[') {
    const char *e = strchr(p, ']');
    n = e != NULL ? (size_t)(e - p) + 1 : strlen(p);
  }
  while (p[n] != '\0' && p[n] != ':')
    n++;
  *pp = p[n] == ':' ? p + n + 1 : p + n;
  return n;
}

int km__http_split_url(const char *url, char *origin, size_t originsz,
                       char **target) {
  *target = NULL;
  const char *p = strstr(url, "://");
  if (p == NULL) return 0;
  p += 3;
  size_t alen = strcspn(p, "/?#");
  const char *t = p + alen;
  if (t[0] == '\0' || strcmp(t, "/") == 0) return 0;
  /* Only what curl itself would send unchanged: printable ASCII without
   * space, and no fragment (curl drops it from a URL, a target would keep
   * it).  CR or LF here would split the request line. */
  for (const unsigned char *c = (const unsigned char *)t; *c != '\0'; c++)
    if (*c <= 0x20 || *c >= 0x7f || *c == '#') return 0;
  size_t olen = (size_t)(t - url);
  if (olen + 2 > originsz) return 0;
  memcpy(origin, url, olen);
  origin[olen] = '/';
  origin[olen + 1] = '\0';
  size_t tlen = strlen(t);
  char *s = malloc(tlen + 2);
  if (s == NULL) return KM_ENOMEM;
  size_t at = 0;
  if (t[0] == '?') s[at++] = '/'; /* "https://host?q" is "/?q" */
  memcpy(s + at, t, tlen + 1);
  *target = s;
  return 1;
}

/* Checks url is http(s) and finds where curl will really connect for (url,
 * connect_to): the connect_to's CONNECT-HOST when the entry applies to the
 * URL (its HOST and PORT are empty or equal to the URL's) and names a host,
 * else the URL host; port (at least 8 bytes) gets the port it connects to.
 * Getting this wrong would turn TLS verification off for a real endpoint,
 * so when in doubt the result is the URL host.  uh and up get the URL's own
 * host (at least 256 bytes, IPv6 in brackets) and port (16).  Returns 0,
 * KM_EINVAL for a malformed or non-HTTP URL, KM_ENOMEM. */
static int connect_target(const char *url, const char *connect_to, char *out,
                          size_t outsz, char *port, size_t portsz, char *uh,
                          char *up) {
  CURLU *u = curl_url();
  if (u == NULL) return KM_ENOMEM;
  char *uscheme = NULL, *uhost = NULL, *uport = NULL;
  int rc = KM_EINVAL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &uscheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &uhost, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_PORT, &uport, CURLU_DEFAULT_PORT) != CURLUE_OK)
    goto out;
  /* Only plain and TLS HTTP: a typo must not reach another protocol. */
  if (strcmp(uscheme, "http") != 0 && strcmp(uscheme, "https") != 0) goto out;
  copy_host(uhost, strlen(uhost), out, outsz);
  snprintf(port, portsz, "%s", uport);
  snprintf(uh, 256, "%s", uhost);
  snprintf(up, 16, "%s", uport);
  rc = 0;
  if (connect_to == NULL) goto out;
  const char *p = connect_to;
  const char *fh = p;
  size_t nh = next_field(&p);
  const char *fp = p;
  size_t np = next_field(&p);
  const char *fc = p;
  size_t nc = next_field(&p);
  char tmp[256];
  copy_host(fh, nh, tmp, sizeof(tmp));
  int host_ok = nh == 0 || strcasecmp(tmp, out) == 0;
  int port_ok = np == 0 || (strlen(uport) == np && memcmp(fp, uport, np) == 0);
  if (host_ok && port_ok && nc > 0) {
    copy_host(fc, nc, out, outsz);
    if (p[0] != '\0') snprintf(port, portsz, "%s", p);
  }
out:
  curl_free(uscheme);
  curl_free(uhost);
  curl_free(uport);
  curl_url_cleanup(u);
  return rc;
}

/* The CONNECT_TO and RESOLVE pair that connects the URL host to an address
 * target:port while curl files the connection under the URL host: curl 7.88
 * keys its pool of connections on the CONNECT-HOST, so an override naming
 * an address put every host name's connections in one list, and each new
 * transfer checked the idle connections of the other hosts (one recv with
 * MSG_PEEK each) before it found one of its own: in the P1 fleet ~18 such
 * checks per call, 95% of kmsmig's recv calls.  An address (IPv4 or IPv6)
 * only: a host name there is left to curl's resolver, as before. */
static void pin_pair(km__http_conn_t *c, const char *uhost, const char *uport) {
  c->pin_ct[0] = c->pin_res[0] = '\0';
  char bare[256]; /* an IPv6 URL host without its brackets */
  copy_host(uhost, strlen(uhost), bare, sizeof(bare));
  if (strcasecmp(bare, c->target) == 0 && strcmp(uport, c->port) == 0)
    return; /* no entry applied */
  unsigned char a[16];
  int v6 = inet_pton(AF_INET6, c->target, a) == 1;
  if (!v6 && inet_pton(AF_INET, c->target, a) != 1) return;
  int n = snprintf(c->pin_ct, sizeof(c->pin_ct), "%s:%s:%s:%s", uhost, uport,
                   uhost, c->port);
  int m = snprintf(c->pin_res, sizeof(c->pin_res),
                   v6 ? "%s:%s:[%s]" : "%s:%s:%s", uhost, c->port, c->target);
  if (n < 0 || (size_t)n >= sizeof(c->pin_ct) || m < 0 ||
      (size_t)m >= sizeof(c->pin_res))
    c->pin_ct[0] = c->pin_res[0] = '\0';
}

static int conn_of(const char *url, const char *ct, km__http_conn_t *c) {
  char uhost[256], uport[16];
  int rc = connect_target(url, ct, c->target, sizeof(c->target), c->port,
                          sizeof(c->port), uhost, uport);
  if (rc < 0) return rc;
  snprintf(c->endpoint, sizeof(c->endpoint), "%s:%s", uhost, uport);
  pin_pair(c, uhost, uport);
  return 0;
}

/* Whether TLS trusts one CA file alone: ca_file, or without it the bundle
 * libcurl was built with when that file is readable.  Debian's libcurl also
 * has a default CA directory (CApath), and curl 7.88 caches the parsed
 * store (in the multi handle, for CURLOPT_CA_CACHE_TIMEOUT, 24 h) only when
 * no CApath is set: with one, every new TLS connection read and parsed the
 * CA file again, and kept a store of its own.  The directory is left in
 * place when there is no readable bundle (then it is the trust store).
 * Debian's directory holds the bundle's certificates (update-ca-certificates
 * writes both), so the system trust does not change. */
int km__http_ca_file_only(const char *ca_file) {
  if (ca_file != NULL) return 1;
  CURL *e = curl_easy_init();
  if (e == NULL) return 0;
  char *def = NULL;
  int only = curl_easy_getinfo(e, CURLINFO_CAINFO, &def) == CURLE_OK &&
             def != NULL && access(def, R_OK) == 0;
  curl_easy_cleanup(e);
  return only;
}

static int opt_eq(const char *a, const char *b) {
  return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* A URL with a query (one curl gets whole) is not kept: it may hold an
 * STS token. */
int km__http_connect_target_memo(km__http_memo_t *m, const char *url,
                                 const char *ct, km__http_conn_t *out) {
  if (strchr(url, '?') != NULL) return conn_of(url, ct, out);
  if (m->url == NULL || strcmp(m->url, url) != 0 ||
      !opt_eq(m->connect_to, ct)) {
    int rc = conn_of(url, ct, &m->conn);
    free(m->url);
    free(m->connect_to);
    m->url = m->connect_to = NULL;
    if (rc < 0) return rc;
    m->url = km_xstrdup(url);
    m->connect_to = ct != NULL ? km_xstrdup(ct) : NULL;
  }
  *out = m->conn;
  return 0;
}

void km__http_memo_free(km__http_memo_t *m) {
  free(m->url);
  free(m->connect_to);
  m->url = m->connect_to = NULL;
}
