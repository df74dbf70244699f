/* `kmsmig rehearse MANIFEST [--fixture FILE] [--run-dir DIR]`: the whole
 * migration against a local copy of the fleet before it touches
 * production (docs/rehearse.md).
 *
 * Without --fixture the fleet is planned first (read-only, the real cloud)
 * and exported as a kmsim fixture; then kmsim (found next to kmsmig) serves
 * that fixture on an ephemeral loopback port at the published QPS limits
 * and its console task times, and the same manifest, hooks and plugins run
 * against it with the sim driver, the fixture's test-only AccessKeys and
 * every endpoint redirected (in memory: the manifest file is not changed).
 * The run directory, report.json, the summary and the worklist say it was
 * a rehearsal; rehearsal.json holds the wall time and the projection.
 * kmsim runs in its own process group, so a Ctrl-C reaches kmsmig only
 * (which winds down, restores rotation in kmsim and stops it), and dies
 * with kmsmig whatever happens (PR_SET_PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "run/export.h"
#include "util/paths.h"
#include "util/util.h"

typedef struct rargs_s {
  const char *manifest;
  const char *fixture; /* NULL: export one now */
  const char *run_dir;
  const char *plugins_dir;
  bool allow_include_outside;
  bool quiet;
  int verbose;
} rargs_t;

void km__usage_rehearse(void) {
  printf("usage: kmsmig rehearse MANIFEST [--fixture FILE] [--run-dir DIR]\n"
         "                       [--plugins-dir DIR] [-q] [-v]\n\n"
         "Runs the whole migration of MANIFEST against kmsim on loopback: a "
         "copy of\nthe fleet (FILE from `kmsmig plan MANIFEST --export-fixture "
         "FILE`; without\n--fixture, plan runs first, read-only, and exports "
         "it), with the same\nmanifest, hooks and plugins, the sim driver, the "
         "published per-account QPS\nlimits and kmsim's console task times.  "
         "Prints what would happen, every\nfailure, the rehearsal's wall time "
         "and the projected time of the real run.\nNothing real is changed: "
         "every endpoint goes to kmsim and accounts sign with\nthe fixture's "
         "test-only AccessKeys (assume_role stays, against kmsim's STS).\n\n"
         "The run directory (default runs/rehearsal-<name>-<UTC time>, a new "
         "one each\ntime) is marked as a rehearsal: report.json "
         "(\"rehearsal\": true), rehearsal.json,\nthe worklist, the summary.  "
         "kmsim is stopped at the end, also on SIGINT.\n\n"
         "exit: as `kmsmig run` (0 done, 1 failures, 3 blocked, 4 "
         "interrupted); 2 usage,\nmanifest or fixture error, 70 kmsim did not "
         "start.\n");
}

static int parse(int argc, char **argv, rargs_t *a) {
  memset(a, 0, sizeof(*a));
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    bool more = i + 1 < argc;
    if (km__is_help(s)) {
      km__usage_rehearse();
      return 1;
    } else if (strcmp(s, "--fixture") == 0 && more) {
      a->fixture = argv[++i];
    } else if (strcmp(s, "--run-dir") == 0 && more) {
      a->run_dir = argv[++i];
    } else if (strcmp(s, "--plugins-dir") == 0 && more) {
      a->plugins_dir = argv[++i];
    } else if (strcmp(s, "--allow-include-outside") == 0) {
      a->allow_include_outside = true;
    } else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
      a->quiet = true;
    } else if (strcmp(s, "-v") == 0 || strcmp(s, "--verbose") == 0) {
      a->verbose++;
    } else if (s[0] == '-') {
      fprintf(stderr,
              "kmsmig rehearse: unknown option %s (or it needs a value); "
              "see `kmsmig rehearse --help`\n",
              s);
      return -1;
    } else if (a->manifest == NULL) {
      a->manifest = s;
    } else {
      fprintf(stderr, "kmsmig rehearse: one manifest only (got %s too)\n", s);
      return -1;
    }
  }
  if (a->manifest == NULL) {
    fprintf(stderr, "kmsmig rehearse: which manifest? see `kmsmig rehearse "
                    "--help`\n");
    return -1;
  }
  if (a->quiet) km_log_set_level(KM_LOG_WARN);
  if (a->verbose) km_log_set_level(KM_LOG_DEBUG);
  return 0;
}

/* kmsim next to the running kmsmig (build/bin and <prefix>/bin alike). */
static char *kmsim_path(void) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return NULL;
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash == NULL) return NULL;
  *slash = '\0';
  return km_xasprintf("%s/kmsim", self);
}

typedef struct kmsim_s {
  pid_t pid;
  int port;
} kmsim_t;

/* Starts kmsim on 127.0.0.1 with a free port (written to work/ports) and
 * waits until it listens.  0, or < 0 with the reason printed. */
static int kmsim_start(const char *bin, const char *fixture, const char *work,
                       kmsim_t *k) {
  char *ports = km_xasprintf("%s/ports", work);
  char *logp = km_xasprintf("%s/kmsim.log", work);
  pid_t parent = getpid();
  k->pid = fork();
  if (k->pid == 0) {
    /* Ctrl-C goes to kmsmig, which then stops kmsim; kmsim dies with it. */
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127); /* kmsmig is already gone */
    int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int nul = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (nul >= 0) dup2(nul, 0);
    execl(bin, "kmsim", "--fixture", fixture, "--bind", "127.0.0.1",
          "--https-port", "0", "--port-file", ports, (char *)NULL);
    _exit(127);
  }
  int rc = k->pid < 0 ? KM_EIO : KM_ETIMEDOUT;
  for (int i = 0; k->pid > 0 && i < 600; i++) {
    FILE *f = fopen(ports, "r");
    char line[64];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
      if (sscanf(line, "https=%d", &k->port) == 1 && k->port > 0) rc = 0;
    if (f != NULL) fclose(f);
    int st;
    if (rc == 0 || waitpid(k->pid, &st, WNOHANG) == k->pid) break;
    usleep(50 * 1000);
  }
  if (rc < 0) {
    fprintf(stderr,
            "kmsmig rehearse: kmsim (%s) did not start with fixture %s; "
            "its log is %s (check the fixture with `kmsim --fixture %s "
            "--https-port 0`)\n",
            bin, fixture, logp, fixture);
    if (k->pid > 0) kill(k->pid, SIGKILL);
    if (k->pid > 0) waitpid(k->pid, NULL, 0);
    k->pid = 0;
  }
  free(ports);
  free(logp);
  return rc;
}

static void kmsim_stop(kmsim_t *k) {
  if (k->pid <= 0) return;
  kill(k->pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(k->pid, NULL, WNOHANG) == k->pid) {
      k->pid = 0;
      return;
    }
    usleep(50 * 1000);
  }
  kill(k->pid, SIGKILL);
  waitpid(k->pid, NULL, 0);
  k->pid = 0;
}

/* A copy of the fixture the rehearsal used, 0600, in the run directory. */
static void keep_fixture(const char *from, const char *run_dir) {
  char *to = km_xasprintf("%s/fixture.yaml", run_dir);
  FILE *in = fopen(from, "r");
  int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
  char buf[8192];
  size_t r;
  while (in != NULL && out != NULL && (r = fread(buf, 1, sizeof(buf), in)) > 0)
    if (fwrite(buf, 1, r, out) != r) break;
  if (in != NULL) fclose(in);
  if (out != NULL)
    fclose(out);
  else if (fd >= 0)
    close(fd);
  free(to);
}

/* "8.5 s", or "3d 4h 5m" for the long waits of a scheduled run. */
static void fmt_dur(double s, char *out, size_t n) {
  if (s < 120) {
    snprintf(out, n, "%.1f s", s);
    return;
  }
  long long m = (long long)(s / 60 + 0.5);
  if (m < 60 * 24)
    snprintf(out, n, "%lldh %02lldm", m / 60, m % 60);
  else
    snprintf(out, n, "%lldd %lldh %02lldm", m / 1440, m / 60 % 24, m % 60);
}

/* rehearsal.json: the measured and projected times (docs/rehearse.md). */
static void write_projection(const char *run_dir, const char *fixture,
                             double wall, int64_t when, bool console, int ec) {
  int64_t now = (int64_t)time(NULL);
  double wait = when > now ? (double)(when - now) : 0;
  json_t *j = json_pack("{s:b, s:s, s:f, s:f, s:f, s:i}", "rehearsal", 1,
                        "fixture", fixture, "wall_s", wall, "scheduled_wait_s",
                        wait, "projected_s", wall + wait, "exit", ec);
  char *p = km_xasprintf("%s/rehearsal.json", run_dir);
  char *text =
      j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || text == NULL || write(fd, text, strlen(text)) < 0)
    fprintf(stderr, "kmsmig rehearse: cannot write %s: %s\n", p,
            strerror(errno));
  if (fd >= 0) close(fd);
  free(text);
  char w[32], t[32], sw[32];
  fmt_dur(wall, w, sizeof(w));
  fmt_dur(wall + wait, t, sizeof(t));
  fmt_dur(wait, sw, sizeof(sw));
  printf("rehearsal: %s at the published QPS limits and kmsim's console "
         "task times; the real run is projected at %s",
         w, t);
  if (wait > 0) printf(" (%s of it waiting for migrate.when)", sw);
  if (console)
    printf("\n  plus the operator's time at the console for each batch "
           "(migrate.driver: console)");
  printf("\n  details: %s\n", p);
  free(p);
  json_decref(j);
}

/* The run directory: given, or a new runs/rehearsal-<name>-<UTC>.  An
 * existing one is refused: kmsim's copy of the fleet is gone, so a
 * rehearsal never resumes. */
static char *run_dir_for(const rargs_t *a, const char *name) {
  if (a->run_dir != NULL) {
    struct stat st;
    if (stat(a->run_dir, &st) == 0) {
      fprintf(stderr,
              "kmsmig rehearse: %s exists; a rehearsal starts from a fresh "
              "copy of the fleet and never resumes: choose a new --run-dir\n",
              a->run_dir);
      return NULL;
    }
    return km_xstrdup(a->run_dir);
  }
  char ts[21], compact[32];
  km_iso8601((int64_t)time(NULL), ts);
  size_t o = 0;
  for (const char *c = ts; *c && o + 1 < sizeof(compact); c++)
    if (*c != '-' && *c != ':') compact[o++] = *c;
  compact[o] = '\0';
  return km_xasprintf("runs/rehearsal-%s-%s", name, compact);
}

static int rehearse(const rargs_t *a, const char *work, const char *run_dir,
                    int64_t when, bool console) {
  char *fixture = a->fixture != NULL ? km_xstrdup(a->fixture)
                                     : km_xasprintf("%s/fixture.yaml", work);
  int ec = KM_EXIT_USAGE;
  km_rt_static_key_t *keys = NULL;
  size_t nkeys = 0;
  char *bin = kmsim_path(), *ca = km_path_data("sim/tls/ca.pem");
  kmsim_t k = {0, 0};
  if (a->fixture == NULL) {
    printf("== kmsmig plan %s --export-fixture (read-only)\n", a->manifest);
    fflush(stdout);
    ec = km__plan_export(a->manifest, fixture, a->plugins_dir,
                         a->allow_include_outside);
    if (ec != KM_EXIT_OK && ec != KM_EXIT_BLOCKED) {
      fprintf(stderr, "kmsmig rehearse: not started: the plan could not "
                      "export the fleet (see above)\n");
      goto out;
    }
    ec = KM_EXIT_USAGE;
  }
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (km_export_read_keys(fixture, &keys, &nkeys, &err) < 0) {
    fprintf(stderr, "kmsmig rehearse: %s\n", err.text);
    goto out;
  }
  if (bin == NULL || access(bin, X_OK) != 0 || ca == NULL) {
    fprintf(stderr,
            "kmsmig rehearse: kmsim (%s) or its test CA (sim/tls/ca.pem in "
            "the data folder) is missing: install kmsmig with kmsim "
            "(`cmake --install`) or run the kmsmig of a build tree\n",
            bin != NULL ? bin : "next to kmsmig");
    ec = KM_EXIT_INTERNAL;
    goto out;
  }
  if (kmsim_start(bin, fixture, work, &k) < 0) {
    ec = KM_EXIT_INTERNAL;
    goto out;
  }
  char addr[64];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", k.port);
  printf("\n== rehearsal: kmsim on %s serves %s\n", addr, fixture);
  fflush(stdout);
  km_rt_rehearse_t r = {
      .address = addr, .ca_file = ca, .keys = keys, .nkeys = nkeys};
  km_runtime_opts_t o = {.manifest_path = a->manifest,
                         .mode = KM_MODE_RUN,
                         .run_dir = run_dir,
                         .plugins_dir = a->plugins_dir,
                         .allow_include_outside = a->allow_include_outside,
                         .quiet = a->quiet,
                         .rehearse = &r};
  double wall = 0;
  km_progress_opts_t po = {KM_COLOR_AUTO, false, a->quiet};
  ec = km__run_migration(&o, &po, a->verbose > 0, &wall);
  kmsim_stop(&k);
  struct stat st;
  if (wall > 0 && stat(run_dir, &st) == 0) { /* the run started */
    keep_fixture(fixture, run_dir);
    write_projection(run_dir, fixture, wall, when, console, ec);
  }
out:
  kmsim_stop(&k);
  km_export_keys_free(keys, nkeys);
  free(bin);
  free(ca);
  if (a->fixture == NULL) unlink(fixture);
  free(fixture);
  return ec;
}

int km__cmd_rehearse(int argc, char **argv) {
  rargs_t a;
  int r = parse(argc, argv, &a);
  if (r != 0) return r > 0 ? KM_EXIT_OK : KM_EXIT_USAGE;
  /* The name for the run directory and migrate.when for the projection;
   * the runtime loads (and checks) the manifest again. */
  km_diags_t diags;
  km_diags_init(&diags);
  km_manifest_opts_t mo = {.allow_include_outside = a.allow_include_outside};
  km_manifest_t *m = NULL;
  int rc = km_manifest_load_opts(a.manifest, &mo, &m, &diags);
  km_diags_print(&diags, stderr, KM_DIAG_WARNING);
  km_diags_free(&diags);
  if (rc < 0) {
    fprintf(stderr, "kmsmig: %s is not valid; nothing was called\n",
            a.manifest);
    return KM_EXIT_USAGE;
  }
  int64_t when = m->migrate.when;
  bool console = m->migrate.driver == KM_MF_DRIVER_CONSOLE;
  char *run_dir = run_dir_for(&a, m->name);
  km_manifest_free(m);
  if (run_dir == NULL) return KM_EXIT_USAGE;
  const char *tmp = getenv("TMPDIR");
  char *work = km_xasprintf("%s/kmsmig-rehearse-XXXXXX",
                            tmp != NULL && tmp[0] ? tmp : "/tmp");
  if (mkdtemp(work) == NULL) {
    fprintf(stderr, "kmsmig rehearse: cannot create a work folder %s: %s\n",
            work, strerror(errno));
    free(work);
    free(run_dir);
    return KM_EXIT_INTERNAL;
  }
  int ec = rehearse(&a, work, run_dir, when, console);
  char *p = km_xasprintf("%s/ports", work);
  unlink(p);
  free(p);
  p = km_xasprintf("%s/kmsim.log", work);
  if (ec != KM_EXIT_INTERNAL) unlink(p); /* kept when kmsim failed */
  free(p);
  if (ec != KM_EXIT_INTERNAL) rmdir(work);
  free(work);
  free(run_dir);
  return ec;
}
