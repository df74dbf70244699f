/* kmsim: the command line.  Loads a fixture (or prints a generated one),
 * starts the HTTP and/or HTTPS daemons on loopback, reports the bound ports
 * (stdout and --port-file, so tests can ask for port 0) and runs until
 * SIGINT/SIGTERM.  Those two are blocked before any thread starts, so
 * every daemon thread inherits the mask and the main thread takes them in
 * sigwait(): a handler with pause() stayed asleep when the signal went to
 * one of libmicrohttpd's threads (a kmsim under load that outlived its
 * `timeout 5` by 10 minutes). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "state.h"

#ifndef KSIM_TLS_DIR
#define KSIM_TLS_DIR "sim/tls"
#endif

static void usage(FILE *f) {
  fputs(
      "usage: kmsim --fixture FILE [--state FILE] [--http-port N]\n"
      "             [--https-port N]\n"
      "             [--tls-cert F --tls-key F] [--bind ADDR] [--seed N]\n"
      "             [--admin-token T] [--port-file F] [--no-tls-tickets]\n"
      "             [--verbose]\n"
      "       kmsim --generate 'seed=1,accounts=3,regions=2,keys_per_region=10,"
      "...'\n"
      "       kmsim --help\n"
      "\n"
      "A local emulator of the Alibaba Cloud KMS, STS, ResourceManager (and\n"
      "more) RPC APIs kmsmig uses.  Port 0 picks a free port; the ports are\n"
      "printed as 'kmsim: listening http=N https=M' and written to\n"
      "--port-file as 'http=N\\nhttps=M\\n'.  At least one port is required.\n"
      "--seed seeds injected faults (POST /_kmsim/faults).  --state FILE\n"
      "keeps the cloud in FILE (written before every answer that changed it;\n"
      "loaded instead of --fixture when it exists).  Default TLS\n"
      "certificate: " KSIM_TLS_DIR "/server.pem (test-only CA ca.pem).\n"
      "HTTPS resumes TLS 1.3 sessions (tickets) as the cloud's gateways do;\n"
      "--no-tls-tickets makes every new connection a full handshake.\n"
      "See docs/kmsim.md.\n",
      f);
}

/* "k=v,k=v" -> {"k": "v"} (values kept as strings; gen.c parses them). */
static json_t *parse_kv(const char *s) {
  json_t *o = json_object();
  char *copy = km_xstrdup(s), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t != NULL;
       t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    if (eq == NULL) continue;
    *eq = '\0';
    if (strcmp(t, "regions") == 0 && strchr(eq + 1, '+') != NULL) {
      json_t *a = json_array();
      char *s2 = NULL;
      for (char *r = strtok_r(eq + 1, "+", &s2); r != NULL;
           r = strtok_r(NULL, "+", &s2))
        json_array_append_new(a, json_string(r));
      json_object_set_new(o, t, a);
    } else {
      json_object_set_new(o, t, json_string(eq + 1));
    }
  }
  free(copy);
  return o;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"fixture", required_argument, NULL, 'f'},
      {"state", required_argument, NULL, 'T'},
      {"http-port", required_argument, NULL, 'p'},
      {"https-port", required_argument, NULL, 's'},
      {"tls-cert", required_argument, NULL, 'c'},
      {"tls-key", required_argument, NULL, 'k'},
      {"bind", required_argument, NULL, 'b'},
      {"seed", required_argument, NULL, 'S'},
      {"admin-token", required_argument, NULL, 'a'},
      {"port-file", required_argument, NULL, 'P'},
      {"generate", required_argument, NULL, 'g'},
      {"no-tls-tickets", no_argument, NULL, 'N'},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *fixture = NULL, *port_file = NULL, *generate = NULL,
             *state = NULL;
  long seed = -1;
  ksim_server_t srv;
  memset(&srv, 0, sizeof(srv));
  srv.http_port = srv.https_port = -1;
  srv.tls_cert = KSIM_TLS_DIR "/server.pem";
  srv.tls_key = KSIM_TLS_DIR "/server.key";
  int ch;
  while ((ch = getopt_long(argc, argv, "f:T:p:s:c:k:b:S:a:P:g:Nvh", opts,
                           NULL)) != -1) {
    switch (ch) {
    case 'f':
      fixture = optarg;
      break;
    case 'T':
      state = optarg;
      break;
    case 'p':
      srv.http_port = atoi(optarg);
      break;
    case 's':
      srv.https_port = atoi(optarg);
      break;
    case 'c':
      srv.tls_cert = optarg;
      break;
    case 'k':
      srv.tls_key = optarg;
      break;
    case 'b':
      srv.bind_addr = optarg;
      break;
    case 'S':
      seed = atol(optarg);
      break;
    case 'a':
      srv.admin_token = optarg;
      break;
    case 'P':
      port_file = optarg;
      break;
    case 'g':
      generate = optarg;
      break;
    case 'N':
      srv.no_tls_tickets = true;
      break;
    case 'v':
      srv.verbose = true;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  char err[512];
  if (generate != NULL) {
    json_t *p = parse_kv(generate);
    json_t *tree = ksim_generate(p, err, sizeof(err));
    json_decref(p);
    if (tree == NULL) {
      fprintf(stderr, "kmsim: %s\n", err);
      return 2;
    }
    ksim_yaml_emit(stdout, tree);
    json_decref(tree);
    return 0;
  }
  if ((fixture == NULL && state == NULL) ||
      (srv.http_port < 0 && srv.https_port < 0)) {
    usage(stderr);
    return 2;
  }
  ksim_cloud_t *c = ksim_cloud_new();
  /* An existing state file is the cloud as it was when kmsim stopped (it
   * embeds its fixture): it wins over --fixture. */
  bool resumed = state != NULL && access(state, F_OK) == 0;
  if (state == NULL || !resumed) {
    if (fixture == NULL) {
      fprintf(stderr,
              "kmsim: --state %s does not exist yet: give --fixture "
              "to start from\n",
              state);
      ksim_cloud_free(c);
      return 2;
    }
  }
  if (resumed ? ksim_persist_load(c, state, err, sizeof(err)) < 0
              : ksim_fixture_load(c, fixture, err, sizeof(err)) < 0) {
    fprintf(stderr, "kmsim: %s\n", err);
    ksim_cloud_free(c);
    return 2;
  }
  if (seed >= 0) {
    c->faults.seed = (uint64_t)seed;
    c->faults.rng = (uint64_t)seed;
  }
  if (state != NULL) {
    c->state_path = km_xstrdup(state);
    if (ksim_persist_save(c, err, sizeof(err)) < 0) {
      fprintf(stderr, "kmsim: %s\n", err);
      ksim_cloud_free(c);
      return 2;
    }
  }
  ksim_cloud_set(c);
  srv.cloud = c;
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  if (ksim_server_start(&srv) < 0) {
    ksim_server_stop(&srv);
    ksim_cloud_free(c);
    return 1;
  }
  if (ksim_traffic_start(&srv, err, sizeof(err)) < 0) {
    fprintf(stderr, "kmsim: %s\n", err);
    ksim_server_stop(&srv);
    ksim_cloud_free(c);
    return 2;
  }
  printf("kmsim: listening");
  if (srv.http != NULL) printf(" http=%d", srv.http_bound);
  if (srv.https != NULL) printf(" https=%d", srv.https_bound);
  printf(" accounts=%zu regions=%zu%s\n", c->accounts.n, c->regions.n,
         resumed ? " state=resumed" : "");
  fflush(stdout);
  if (port_file != NULL) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f != NULL) {
      if (srv.http != NULL) fprintf(f, "http=%d\n", srv.http_bound);
      if (srv.https != NULL) fprintf(f, "https=%d\n", srv.https_bound);
      fclose(f);
      rename(tmp, port_file);
    }
  }
  int sig = 0;
  while (sigwait(&stop, &sig) != 0) {
  }
  ksim_traffic_stop();
  ksim_server_stop(&srv);
  ksim_cloud_free(c);
  return 0;
}
