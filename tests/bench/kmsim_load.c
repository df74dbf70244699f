/* kmsim_load: a signed-request client for kmsim, used by the integration
 * tests (`call`: one request, prints the status and body) and to measure
 * kmsim's throughput (`bench`: N keep-alive connections through curl multi,
 * every request freshly signed with a new nonce).  It signs with kmsmig's own
 * signer (core/src/acs), which kmsim verifies with its independent code, so
 * every call is also a cross-check of the two.
 *
 *   kmsim_load call  --addr 127.0.0.1:PORT [--https --cacert F] --host H
 *                    --ak ID --secret S [--token T] [--sigver 1|3]
 *                    [--method GET|POST] [--form] --action A --version V
 *                    [--nonce N] [--timestamp T] [-p Key=Value ...]
 *   kmsim_load bench (same) [--conns N] [--duration SECONDS]
 * Test credentials only: nothing here is meant for a real cloud. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "acs/acs.h"
#include "util/util.h"

typedef struct {
  const char *addr, *host, *ak, *secret, *token, *action, *version, *nonce,
      *timestamp, *cacert, *method;
  bool https, form;
  int sigver, conns;
  double duration;
  km_params_t params;
} opts_t;

static size_t sink(char *p, size_t s, size_t n, void *ud) {
  km_buf_t *b = ud;
  if (b != NULL) km_buf_append(b, p, s * n);
  return s * n;
}

/* Signs one request and prepares an easy handle for it. */
static int prepare(CURL *h, const opts_t *o, struct curl_slist **hdrs,
                   km_buf_t *out, char **url_out, char **body_out) {
  km_acs_request_t r = {.method = o->method,
                        .host = o->host,
                        .action = o->action,
                        .version = o->version,
                        .params = &o->params,
                        .form_body = o->form,
                        .sigver = (km_sigver_t)o->sigver,
                        .nonce = o->nonce,
                        .timestamp = o->timestamp};
  km_credential_t cred = {o->ak, o->secret, o->token};
  km_signed_request_t s;
  km_err_t err;
  if (km_acs_sign(&r, &cred, &s, &err) < 0) {
    fprintf(stderr, "kmsim_load: sign: %s\n", err.text);
    return -1;
  }
  const char *rest = strstr(s.url, "://");
  char *url = km_xasprintf("%s://%s", o->https ? "https" : "http",
                           rest != NULL ? rest + 3 : s.url);
  *hdrs = NULL;
  for (size_t i = 0; i < s.nheaders; i++) {
    char *line = km_xasprintf("%s: %s", s.headers[i].name, s.headers[i].value);
    *hdrs = curl_slist_append(*hdrs, line);
    free(line);
  }
  *hdrs = curl_slist_append(*hdrs, "Expect:");
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s.method);
  if (s.body != NULL) {
    *body_out = km_xstrndup(s.body, s.body_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, *body_out);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)s.body_len);
  } else {
    *body_out = NULL;
    if (strcmp(s.method, "POST") == 0) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
  char connect_to[256];
  snprintf(connect_to, sizeof(connect_to), "::%s", o->addr);
  struct curl_slist *ct = curl_slist_append(NULL, connect_to);
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, ct);
  curl_easy_setopt(h, CURLOPT_PRIVATE, ct);
  if (o->cacert != NULL) curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  *url_out = url;
  km_signed_request_free(&s);
  return 0;
}

static void release(CURL *h, struct curl_slist *hdrs, char *url, char *body) {
  struct curl_slist *ct = NULL;
  curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&ct);
  curl_slist_free_all(ct);
  curl_slist_free_all(hdrs);
  free(url);
  free(body);
}

static int do_call(opts_t *o) {
  CURL *h = curl_easy_init();
  km_buf_t out;
  km_buf_init(&out);
  struct curl_slist *hdrs;
  char *url, *body;
  if (prepare(h, o, &hdrs, &out, &url, &body) < 0) return 2;
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  release(h, hdrs, url, body);
  curl_easy_cleanup(h);
  if (rc != CURLE_OK) {
    printf("TRANSPORT %s\n", curl_easy_strerror(rc));
    km_buf_free(&out);
    return 3;
  }
  printf("HTTP %ld\n%s\n", status, out.data != NULL ? out.data : "");
  km_buf_free(&out);
  return 0;
}

typedef struct {
  CURL *h;
  struct curl_slist *hdrs;
  char *url, *body;
  uint64_t start_us;
} slot_t;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int do_bench(opts_t *o) {
  CURLM *m = curl_multi_init();
  slot_t *slots = km_xcalloc((size_t)o->conns, sizeof(*slots));
  size_t cap = 1 << 20, nlat = 0;
  uint64_t *lat = km_xmalloc(cap * sizeof(*lat));
  long by_status[600] = {0};
  long transport_err = 0;
  uint64_t t0 = now_us(), end = t0 + (uint64_t)(o->duration * 1e6);
  o->nonce = NULL; /* a fresh nonce per request */
  for (int i = 0; i < o->conns; i++) {
    slots[i].h = curl_easy_init();
    prepare(slots[i].h, o, &slots[i].hdrs, NULL, &slots[i].url, &slots[i].body);
    slots[i].start_us = now_us();
    curl_multi_add_handle(m, slots[i].h);
  }
  int running = o->conns;
  while (running > 0) {
    curl_multi_perform(m, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != CURLMSG_DONE) continue;
      slot_t *s = NULL;
      for (int i = 0; i < o->conns; i++)
        if (slots[i].h == msg->easy_handle) s = &slots[i];
      long status = 0;
      curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result != CURLE_OK)
        transport_err++;
      else if (status >= 0 && status < 600)
        by_status[status]++;
      if (nlat < cap) lat[nlat++] = now_us() - s->start_us;
      curl_multi_remove_handle(m, s->h);
      /* keep the easy handle (and its connection) for the next request */
      struct curl_slist *ct = NULL;
      curl_easy_getinfo(s->h, CURLINFO_PRIVATE, (char **)&ct);
      curl_slist_free_all(ct);
      curl_slist_free_all(s->hdrs);
      free(s->url);
      free(s->body);
      s->url = s->body = NULL;
      s->hdrs = NULL;
      if (now_us() < end) {
        prepare(s->h, o, &s->hdrs, NULL, &s->url, &s->body);
        s->start_us = now_us();
        curl_multi_add_handle(m, s->h);
        running++;
      }
    }
    if (running > 0) curl_multi_poll(m, NULL, 0, 100, NULL);
  }
  double secs = (double)(now_us() - t0) / 1e6;
  qsort(lat, nlat, sizeof(*lat), cmp_u64);
  long total = transport_err;
  for (int i = 0; i < 600; i++)
    total += by_status[i];
  printf("requests=%ld seconds=%.2f rps=%.0f conns=%d", total, secs,
         (double)total / secs, o->conns);
  if (nlat > 0)
    printf(
        " p50_ms=%.2f p99_ms=%.2f max_ms=%.2f", (double)lat[nlat / 2] / 1000.0,
        (double)lat[nlat * 99 / 100] / 1000.0, (double)lat[nlat - 1] / 1000.0);
  for (int i = 0; i < 600; i++)
    if (by_status[i] > 0) printf(" http_%d=%ld", i, by_status[i]);
  if (transport_err > 0) printf(" transport_errors=%ld", transport_err);
  printf("\n");
  for (int i = 0; i < o->conns; i++)
    curl_easy_cleanup(slots[i].h);
  curl_multi_cleanup(m);
  free(slots);
  free(lat);
  return transport_err > 0 ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2 ||
      (strcmp(argv[1], "call") != 0 && strcmp(argv[1], "bench") != 0)) {
    fprintf(stderr, "usage: kmsim_load call|bench [options] (see source)\n");
    return 2;
  }
  bool bench = strcmp(argv[1], "bench") == 0;
  opts_t o = {.addr = "127.0.0.1:18080",
              .host = "kms.cn-hangzhou.aliyuncs.com",
              .version = "2016-01-20",
              .method = "POST",
              .sigver = 3,
              .conns = 8,
              .duration = 5};
  km_params_init(&o.params);
  static const struct option lo[] = {
      {"addr", required_argument, NULL, 'a'},
      {"host", required_argument, NULL, 'H'},
      {"ak", required_argument, NULL, 'k'},
      {"secret", required_argument, NULL, 's'},
      {"token", required_argument, NULL, 't'},
      {"sigver", required_argument, NULL, 'V'},
      {"method", required_argument, NULL, 'm'},
      {"form", no_argument, NULL, 'f'},
      {"action", required_argument, NULL, 'A'},
      {"version", required_argument, NULL, 'v'},
      {"nonce", required_argument, NULL, 'n'},
      {"timestamp", required_argument, NULL, 'T'},
      {"https", no_argument, NULL, 'S'},
      {"cacert", required_argument, NULL, 'c'},
      {"conns", required_argument, NULL, 'C'},
      {"duration", required_argument, NULL, 'd'},
      {"param", required_argument, NULL, 'p'},
      {NULL, 0, NULL, 0}};
  int ch;
  optind = 2;
  while ((ch = getopt_long(argc, argv, "p:", lo, NULL)) != -1) {
    switch (ch) {
    case 'a':
      o.addr = optarg;
      break;
    case 'H':
      o.host = optarg;
      break;
    case 'k':
      o.ak = optarg;
      break;
    case 's':
      o.secret = optarg;
      break;
    case 't':
      o.token = optarg;
      break;
    case 'V':
      o.sigver = atoi(optarg);
      break;
    case 'm':
      o.method = optarg;
      break;
    case 'f':
      o.form = true;
      break;
    case 'A':
      o.action = optarg;
      break;
    case 'v':
      o.version = optarg;
      break;
    case 'n':
      o.nonce = optarg;
      break;
    case 'T':
      o.timestamp = optarg;
      break;
    case 'S':
      o.https = true;
      break;
    case 'c':
      o.cacert = optarg;
      break;
    case 'C':
      o.conns = atoi(optarg);
      break;
    case 'd':
      o.duration = atof(optarg);
      break;
    case 'p': {
      char *eq = strchr(optarg, '=');
      if (eq == NULL) {
        fprintf(stderr, "kmsim_load: -p Key=Value\n");
        return 2;
      }
      *eq = '\0';
      km_params_set(&o.params, optarg, eq + 1);
      break;
    }
    default:
      return 2;
    }
  }
  if (o.ak == NULL || o.secret == NULL || o.action == NULL || o.conns < 1) {
    fprintf(stderr, "kmsim_load: --ak, --secret and --action are required\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = bench ? do_bench(&o) : do_call(&o);
  km_params_free(&o.params);
  curl_global_cleanup();
  return rc;
}
