/* client_floor: the CPU per call of kmsmig's client layers without the
 * engine, to say how far each layer is from the least a client can spend.
 * Makes signed DescribeKey calls (V1, a fresh nonce each, the key ids of a
 * file in turn) against kmsim over plain HTTP, on one libuv loop with
 * --conns keep-alive connections, and prints the CPU (user and sys) of the
 * calls alone: process start and connecting are not counted.
 *
 *   --client raw  kmsmig's signer and an HTTP/1.1 writer and reader of this
 *                 file's own on uv_tcp_t (Content-Length replies only): the
 *                 floor any client on libuv with this signer pays, with
 *   --read none   the reply body not read at all, or
 *   --read tree   read into a jansson tree and freed, as kmsmig does;
 *   --client acs  kmsmig's whole client layer, km_acs_call (signing, the
 *                 retry policy, curl on libuv, the jansson tree), with an
 *                 endpoint override to --addr.
 *
 *   client_floor --addr 127.0.0.1:PORT --ak ID --secret S --ids FILE
 *                [--calls N] [--conns N] [--client raw|acs]
 *                [--read none|tree]
 * A benchmark tool (tests/bench/client_cost.py runs it); test credentials
 * only.  Exits non-zero on any failed call. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>
#include <uv.h>

#include "acs/acs.h"
#include "util/util.h"

#define HOST "kms.cn-hangzhou.aliyuncs.com"

typedef struct {
  const char *addr, *ak, *secret, *ids_file, *client, *read;
  long calls;
  int conns;
  char **ids;
  size_t nids, next_id;
  long sent, done;
  km_sign_key_t *key;
  uv_loop_t *loop;
  km_http_t *http;
  km_acs_client_t *acs;
} bench_t;

typedef struct {
  uv_tcp_t tcp;
  uv_write_t w;
  km_buf_t req;
  char in[1 << 16];
  size_t inl;
  bench_t *b;
} conn_t;

static void die(const char *what, const char *why) {
  fprintf(stderr, "client_floor: %s: %s\n", what, why);
  exit(1);
}

static const char *next_key(bench_t *b) {
  return b->ids[b->next_id++ % b->nids];
}

/* ---- raw: the request written and the reply framed by this file ---- */

static void raw_send(conn_t *c);

static void on_written(uv_write_t *w, int status) {
  if (status < 0) die("write", uv_strerror(status));
  (void)w;
}

static void on_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)size;
  buf->base = c->in + c->inl;
  buf->len = sizeof(c->in) - c->inl;
}

/* One complete reply at the front of c->in: its length, or 0 if more bytes
 * must come first. */
static size_t raw_reply(conn_t *c) {
  const char *end = memmem(c->in, c->inl, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  size_t head = (size_t)(end - c->in) + 4;
  const char *cl = memmem(c->in, head, "Content-Length: ", 16);
  if (cl == NULL) die("reply", "no Content-Length");
  size_t body = strtoul(cl + 16, NULL, 10);
  if (c->inl < head + body) return 0;
  if (memcmp(c->in, "HTTP/1.1 200", 12) != 0) die("reply", "not a 200");
  if (strcmp(c->b->read, "tree") == 0) {
    json_error_t je;
    json_t *j = json_loadb(c->in + head, body, 0, &je);
    if (!json_is_object(j)) die("reply", "not a JSON object");
    json_decref(j);
  }
  return head + body;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = s->data;
  (void)buf;
  if (n < 0) die("read", uv_strerror((int)n));
  c->inl += (size_t)n;
  size_t len;
  while ((len = raw_reply(c)) > 0) {
    memmove(c->in, c->in + len, c->inl - len);
    c->inl -= len;
    if (++c->b->done == c->b->calls) {
      uv_stop(c->b->loop);
      return;
    }
    raw_send(c);
  }
}

static void put(km_buf_t *b, const char *s) {
  km_buf_append(b, s, strlen(s));
}

static void raw_send(conn_t *c) {
  bench_t *b = c->b;
  if (b->sent >= b->calls) return;
  b->sent++;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "KeyId", next_key(b));
  km_acs_request_t r = {.method = "POST",
                        .host = HOST,
                        .action = "DescribeKey",
                        .version = "2016-01-20",
                        .params = &p,
                        .sigver = KM_SIG_V1,
                        .key = b->key};
  km_credential_t cred = {b->ak, b->secret, NULL};
  km_signed_request_t s;
  km_err_t err;
  if (km_acs_sign(&r, &cred, &s, &err) < 0) die("sign", err.text);
  const char *path = strchr(strstr(s.url, "://") + 3, '/');
  km_buf_reset(&c->req);
  put(&c->req, "POST ");
  put(&c->req, path != NULL ? path : "/");
  put(&c->req, " HTTP/1.1\r\nHost: " HOST "\r\nAccept: application/json\r\n"
               "Content-Length: 0\r\n");
  for (size_t i = 0; i < s.nheaders; i++) {
    put(&c->req, s.headers[i].name);
    put(&c->req, ": ");
    put(&c->req, s.headers[i].value);
    put(&c->req, "\r\n");
  }
  put(&c->req, "\r\n");
  km_signed_request_free(&s);
  km_params_free(&p);
  uv_buf_t ub = uv_buf_init(c->req.data, (unsigned)c->req.len);
  int rc = uv_write(&c->w, (uv_stream_t *)&c->tcp, &ub, 1, on_written);
  if (rc < 0) die("write", uv_strerror(rc));
}

static void on_connect(uv_connect_t *r, int status) {
  conn_t *c = r->data;
  free(r);
  if (status < 0) die("connect", uv_strerror(status));
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  raw_send(c);
}

static void raw_start(bench_t *b) {
  char host[64];
  const char *colon = strrchr(b->addr, ':');
  if (colon == NULL || (size_t)(colon - b->addr) >= sizeof(host))
    die("--addr", "want HOST:PORT");
  snprintf(host, sizeof(host), "%.*s", (int)(colon - b->addr), b->addr);
  struct sockaddr_in sa;
  if (uv_ip4_addr(host, atoi(colon + 1), &sa) < 0)
    die("--addr", "not an IPv4 address");
  if (km_sign_key_new(b->secret, &b->key) < 0) die("--secret", "unusable");
  for (int i = 0; i < b->conns; i++) {
    conn_t *c = km_xcalloc(1, sizeof(*c));
    c->b = b;
    km_buf_init(&c->req);
    uv_tcp_init(b->loop, &c->tcp);
    c->tcp.data = c;
    uv_connect_t *r = km_xmalloc(sizeof(*r));
    r->data = c;
    int rc =
        uv_tcp_connect(r, &c->tcp, (const struct sockaddr *)&sa, on_connect);
    if (rc < 0) die("connect", uv_strerror(rc));
  }
}

/* ---- acs: kmsmig's client layer ---- */

static void acs_send(bench_t *b);

static void on_acs(const km_acs_result_t *res, void *ud) {
  bench_t *b = ud;
  if (res->status < 0) die("call", res->err->text);
  if (++b->done == b->calls) {
    uv_stop(b->loop);
    return;
  }
  acs_send(b);
}

static void acs_send(bench_t *b) {
  if (b->sent >= b->calls) return;
  b->sent++;
  km_params_t p;
  km_params_init(&p);
  km_params_set(&p, "KeyId", next_key(b));
  km_credential_t cred = {b->ak, b->secret, NULL};
  km_acs_call_t call = {.product = KM_PRODUCT_KMS,
                        .region = "cn-hangzhou",
                        .action = "DescribeKey",
                        .params = &p,
                        .cred = &cred};
  km_err_t err;
  if (km_acs_call(b->acs, &call, on_acs, b, &err) < 0) die("call", err.text);
  km_params_free(&p);
}

static void acs_start(bench_t *b) {
  km_http_opts_t ho = {.max_host_connections = b->conns};
  if (km_http_new(b->loop, &ho, &b->http) < 0) die("transport", "no curl");
  km_endpoint_override_t ov = {
      .host_pattern = "*", .address = b->addr, .scheme = "http"};
  km_acs_client_opts_t o = {
      .sigver = KM_SIG_V1, .overrides = &ov, .noverrides = 1};
  km_err_t err;
  if (km_acs_client_new(b->http, b->loop, &o, &b->acs, &err) < 0)
    die("client", err.text);
  for (int i = 0; i < b->conns; i++)
    acs_send(b);
}

/* ---- main ---- */

static void read_ids(bench_t *b) {
  FILE *f = fopen(b->ids_file, "r");
  if (f == NULL) die(b->ids_file, "cannot be read");
  char line[256];
  size_t cap = 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') continue;
    if (b->nids == cap) {
      cap = cap != 0 ? 2 * cap : 1024;
      b->ids = km_xrealloc(b->ids, cap * sizeof(*b->ids));
    }
    b->ids[b->nids++] = km_xstrdup(line);
  }
  fclose(f);
  if (b->nids == 0) die(b->ids_file, "holds no key id");
}

static double cpu_s(int user_only) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  double s = (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6;
  if (!user_only)
    s += (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
  return s;
}

static void parse_args(bench_t *b, int argc, char **argv) {
  static const struct option lo[] = {
      {"addr", 1, 0, 'a'},   {"ak", 1, 0, 'k'},    {"secret", 1, 0, 's'},
      {"ids", 1, 0, 'i'},    {"calls", 1, 0, 'n'}, {"conns", 1, 0, 'c'},
      {"client", 1, 0, 'C'}, {"read", 1, 0, 'r'},  {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'a':
      b->addr = optarg;
      break;
    case 'k':
      b->ak = optarg;
      break;
    case 's':
      b->secret = optarg;
      break;
    case 'i':
      b->ids_file = optarg;
      break;
    case 'n':
      b->calls = atol(optarg);
      break;
    case 'c':
      b->conns = atoi(optarg);
      break;
    case 'C':
      b->client = optarg;
      break;
    case 'r':
      b->read = optarg;
      break;
    default:
      exit(2);
    }
  }
  if (b->addr == NULL || b->ak == NULL || b->secret == NULL ||
      b->ids_file == NULL || b->calls <= 0 || b->conns <= 0 ||
      (strcmp(b->client, "raw") != 0 && strcmp(b->client, "acs") != 0) ||
      (strcmp(b->read, "none") != 0 && strcmp(b->read, "tree") != 0))
    die("usage", "--addr HOST:PORT --ak ID --secret S --ids FILE [--calls N]"
                 " [--conns N] [--client raw|acs] [--read none|tree]");
}

int main(int argc, char **argv) {
  bench_t b = {.calls = 20000, .conns = 32, .client = "raw", .read = "none"};
  parse_args(&b, argc, argv);
  read_ids(&b);
  b.loop = uv_default_loop();
  double c0 = cpu_s(0), u0 = cpu_s(1);
  uint64_t t0 = uv_hrtime();
  if (strcmp(b.client, "raw") == 0)
    raw_start(&b);
  else
    acs_start(&b);
  uv_run(b.loop, UV_RUN_DEFAULT);
  double cpu = cpu_s(0) - c0, user = cpu_s(1) - u0;
  double wall = (double)(uv_hrtime() - t0) / 1e9;
  printf("client %s read %s: %ld calls, wall %.2f s, CPU %.3f s (user %.3f, "
         "sys %.3f), %.1f us/call\n",
         b.client, strcmp(b.client, "acs") == 0 ? "tree" : b.read, b.done, wall,
         cpu, user, cpu - user, cpu / (double)b.done * 1e6);
  /* The process ends here: the kernel closes the sockets. */
  return 0;
}
