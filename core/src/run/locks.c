/* Run locks across runs (docs/plan.md, "Locks").  Two runs on two run
 * directories over the same account × region would otherwise be stopped
 * only by the cloud's refusals, after one of them has turned rotation off.
 * KMS has no compare-and-set: a tag is last-writer-wins and cannot be a
 * lock.  So the lock is a file per account × region in the manifest's
 * locks.dir, a folder every shard and machine of the fleet shares.
 *
 * A lock file is written whole to a temporary name, then link()ed to its
 * name: link fails with EEXIST when the name exists, atomically on a local
 * filesystem and on NFS, and unlike O_CREAT|O_EXCL nobody ever reads a
 * half-written lock.  It names the run directory's lock id (RUN_DIR/lock.id,
 * made once per run directory), so a resume of the same directory, from any
 * machine that mounts it, re-owns its locks; anyone else is refused with the
 * holder named, or breaks the lock with --break-lock after a confirmation,
 * journalled before the file is replaced. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "model/strmap.h"
#include "run/locks.h"
#include "run/runtime.h"
#include "util/util.h"

#define LOCK_FORMAT "kmsmig-lock"
#define LOCK_VERSION 1

/* ---- the file format ---- */

char *km_lock_name(const char *account_id, const char *region) {
  char *s = km_xasprintf("%s.%s.lock", account_id, region);
  for (char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
      *p = '_';
  return s;
}

static json_t *str_or_null(const char *s) {
  return s != NULL ? json_string(s) : json_null();
}

char *km_lock_format(const km_lock_info_t *li) {
  json_t *o = json_pack(
      "{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "format",
      LOCK_FORMAT, "version", LOCK_VERSION, "token", li->token, "run_id",
      li->run_id, "run_dir", li->run_dir, "host", li->host, "pid",
      (json_int_t)li->pid, "since", li->since, "account", li->account,
      "account_id", li->account_id, "region", li->region);
  json_object_set_new(o, "plan_sha256", str_or_null(li->plan_sha256));
  json_object_set_new(o, "shard", str_or_null(li->shard));
  char *t = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(o);
  char *out = km_xasprintf("%s\n", t);
  free(t);
  return out;
}

/* A copy with control characters as '?': the file may say anything. */
static char *clean(const char *s) {
  char *c = km_xstrdup(s);
  for (unsigned char *p = (unsigned char *)c; *p; p++)
    if (*p < 0x20 || *p == 0x7f) *p = '?';
  return c;
}

int km_lock_parse(const char *text, km_lock_info_t *out, km_err_t *err) {
  memset(out, 0, sizeof(*out));
  json_error_t je;
  json_t *o = json_loads(text, 0, &je);
  if (o == NULL || !json_is_object(o)) {
    json_decref(o);
    return km__err_set(err, KM_EPARSE, "not a kmsmig lock (not JSON: %s)",
                       o == NULL ? je.text : "not an object");
  }
  int rc = 0;
  const char *fmt = json_string_value(json_object_get(o, "format"));
  json_t *ver = json_object_get(o, "version");
  if (fmt == NULL || strcmp(fmt, LOCK_FORMAT) != 0)
    rc = km__err_set(err, KM_EPARSE, "not a kmsmig lock (no format)");
  else if (!json_is_integer(ver) || json_integer_value(ver) != LOCK_VERSION)
    rc = km__err_set(err, KM_EPARSE,
                     "lock version %s is not one this kmsmig reads (1)",
                     json_is_integer(ver) ? "other" : "missing");
  static const char *const req[] = {"token", "run_id",  "run_dir",    "host",
                                    "since", "account", "account_id", "region"};
  char **dst[] = {&out->token, &out->run_id,  &out->run_dir,    &out->host,
                  &out->since, &out->account, &out->account_id, &out->region};
  for (size_t i = 0; rc == 0 && i < KM_ARRAY_SIZE(req); i++) {
    const char *v = json_string_value(json_object_get(o, req[i]));
    if (v == NULL || *v == '\0')
      rc = km__err_set(err, KM_EPARSE, "lock has no %s", req[i]);
    else
      *dst[i] = clean(v);
  }
  json_t *pid = json_object_get(o, "pid");
  if (rc == 0 && (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
                  json_integer_value(pid) > INT_MAX))
    rc = km__err_set(err, KM_EPARSE, "lock has no valid pid");
  if (rc == 0) out->pid = (long)json_integer_value(pid);
  const char *opt[] = {"plan_sha256", "shard"};
  char **odst[] = {&out->plan_sha256, &out->shard};
  for (size_t i = 0; rc == 0 && i < 2; i++) {
    json_t *v = json_object_get(o, opt[i]);
    if (json_is_string(v))
      *odst[i] = clean(json_string_value(v));
    else if (v != NULL && !json_is_null(v))
      rc = km__err_set(err, KM_EPARSE, "lock's %s is not a string", opt[i]);
  }
  json_decref(o);
  if (rc < 0) km_lock_info_free(out);
  return rc;
}

void km_lock_info_free(km_lock_info_t *li) {
  char *all[] = {li->token,       li->run_id,  li->run_dir,    li->host,
                 li->since,       li->account, li->account_id, li->region,
                 li->plan_sha256, li->shard};
  for (size_t i = 0; i < KM_ARRAY_SIZE(all); i++)
    free(all[i]);
  memset(li, 0, sizeof(*li));
}

/* ---- files ---- */

static int write_all(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int e = -errno;
      close(fd);
      return e;
    }
    off += (size_t)w;
  }
  int rc = fsync(fd) != 0 ? -errno : 0;
  close(fd);
  return rc;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return NULL;
  km_buf_t b;
  km_buf_init(&b);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 65536)
    km_buf_append(&b, chunk, n);
  fclose(f);
  km_buf_append(&b, "", 1);
  return b.data; /* the buffer's bytes, NUL-terminated: ours now */
}

/* Puts text at path: link (fails with KM_EEXIST when path exists) or, to
 * replace, rename.  The temporary file is this run's own. */
static int place(const km_locks_t *l, const char *path, const char *text,
                 bool replace) {
  /* The run's token in the name: pods of a Job often all have pid 1. */
  char *tmp = km_xasprintf("%s/.tmp.%s.%ld", l->dir, l->token, (long)getpid());
  int rc = write_all(tmp, text);
  if (rc == 0 && replace && rename(tmp, path) != 0) rc = -errno;
  if (rc == 0 && !replace && link(tmp, path) != 0)
    rc = errno == EEXIST ? KM_EEXIST : -errno;
  if (rc != 0 || !replace) unlink(tmp);
  free(tmp);
  return rc;
}

/* RUN_DIR/lock.id: made once, then read by every sitting of the run. */
static int run_token(const char *run_dir, char out[33]) {
  char *path = km_xasprintf("%s/lock.id", run_dir);
  char *old = read_text(path);
  int rc = 0;
  if (old != NULL) {
    size_t n = strspn(old, "0123456789abcdef");
    if (n != 32) {
      fprintf(stderr,
              "kmsmig: %s is not a lock id (32 hex digits); restore it or "
              "start a new run directory\n",
              path);
      rc = KM_EINVAL;
    } else {
      memcpy(out, old, 32);
      out[32] = '\0';
    }
    free(old);
  } else {
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1) rc = KM_EIO;
    for (size_t i = 0; rc == 0 && i < sizeof(r); i++)
      snprintf(out + 2 * i, 3, "%02x", r[i]);
    if (rc == 0) {
      char line[34];
      snprintf(line, sizeof(line), "%s\n", out);
      rc = write_all(path, line);
    }
    if (rc < 0)
      fprintf(stderr, "kmsmig: cannot write %s: %s\n", path, km_strerror(rc));
  }
  free(path);
  return rc;
}

/* ---- taking ---- */

typedef struct conflict_s {
  char *path; /* owned */
  const km_target_t *t;
  km_lock_info_t who; /* empty when unreadable */
  char why[600];      /* unreadable: what is wrong */
} conflict_t;

typedef struct take_s {
  km_locks_t *l;
  const km_locks_opts_t *o;
  char host[256];
  char *run_dir; /* absolute */
  char since[21];
  char shard[32];
  bool *fresh; /* per held: taken by this call (released on a refusal) */
  conflict_t *c;
  size_t nc;
} take_t;

static void hold(take_t *tk, char *path, bool fresh) {
  km_locks_t *l = tk->l;
  l->held = km_xrealloc(l->held, (l->nheld + 1) * sizeof(*l->held));
  tk->fresh = km_xrealloc(tk->fresh, (l->nheld + 1) * sizeof(*tk->fresh));
  tk->fresh[l->nheld] = fresh;
  l->held[l->nheld++] = path;
}

static char *my_text(take_t *tk, const km_target_t *t, const char *since) {
  km_lock_info_t li = {
      .token = tk->l->token,
      .run_id = (char *)tk->o->run_id,
      .run_dir = tk->run_dir,
      .host = tk->host,
      .pid = (long)getpid(),
      .since = (char *)since,
      .account = (char *)t->account,
      .account_id = (char *)t->account_id,
      .region = (char *)t->region,
      .plan_sha256 = (char *)tk->o->plan_sha256,
      .shard = tk->o->shard_n > 1 ? tk->shard : NULL,
  };
  return km_lock_format(&li);
}

/* One account × region: taken, re-owned, or a conflict. */
static int take_one(take_t *tk, const km_target_t *t) {
  char *name = km_lock_name(t->account_id, t->region);
  char *path = km_xasprintf("%s/%s", tk->l->dir, name);
  free(name);
  char *text = my_text(tk, t, tk->since);
  char *old = NULL;
  int rc = 0;
  /* A lock released between our link and our read: try again, briefly. */
  for (int tries = 0; old == NULL && tries < 3; tries++) {
    rc = place(tk->l, path, text, false);
    if (rc != KM_EEXIST) break;
    old = read_text(path);
  }
  free(text);
  if (rc == 0) {
    hold(tk, path, true);
    return 0;
  }
  if (rc != KM_EEXIST) {
    fprintf(stderr, "kmsmig: cannot create the lock %s: %s\n", path,
            km_strerror(rc));
    free(path);
    return KM_EIO;
  }
  conflict_t c = {.path = path, .t = t};
  km_err_t err;
  memset(&err, 0, sizeof(err));
  if (old == NULL)
    snprintf(c.why, sizeof(c.why), "cannot read it: %s", strerror(errno));
  else if (km_lock_parse(old, &c.who, &err) < 0)
    snprintf(c.why, sizeof(c.why), "%s", err.text);
  free(old);
  if (c.who.token != NULL && strcmp(c.who.token, tk->l->token) == 0) {
    /* This run directory's own lock from an earlier sitting: ours again,
     * with this process named and the first sitting's start kept. */
    text = my_text(tk, t, c.who.since);
    rc = place(tk->l, path, text, true);
    free(text);
    km_lock_info_free(&c.who);
    if (rc < 0) {
      fprintf(stderr, "kmsmig: cannot re-own the lock %s: %s\n", path,
              km_strerror(rc));
      free(path);
      return KM_EIO;
    }
    hold(tk, path, false);
    return 0;
  }
  tk->c = km_xrealloc(tk->c, (tk->nc + 1) * sizeof(*tk->c));
  tk->c[tk->nc++] = c;
  return 0;
}

static void print_conflict(const take_t *tk, const conflict_t *c) {
  const km_lock_info_t *w = &c->who;
  if (w->token == NULL) {
    fprintf(stderr,
            "kmsmig: %s %s is locked by %s, which is not a lock this kmsmig "
            "reads (%s)\n",
            c->t->account, c->t->region, c->path, c->why);
    return;
  }
  bool stale = strcmp(w->host, tk->host) == 0 && kill((pid_t)w->pid, 0) != 0 &&
               errno == ESRCH;
  fprintf(stderr,
          "kmsmig: %s %s is locked by another run: run directory %s (run "
          "%s) on host %s, pid %ld, since %s%s%s%s (lock %s)\n",
          c->t->account, c->t->region, w->run_dir, w->run_id, w->host, w->pid,
          w->since, w->shard != NULL ? ", shard " : "",
          w->shard != NULL ? w->shard : "",
          stale ? "; STALE: that process is not running on this host" : "",
          c->path);
}

static void rollback(take_t *tk) {
  km_locks_t *l = tk->l;
  size_t kept = 0;
  for (size_t i = 0; i < l->nheld; i++) {
    if (tk->fresh[i]) {
      unlink(l->held[i]);
      free(l->held[i]);
    } else {
      l->held[kept++] = l->held[i]; /* re-owned: the run still needs it */
    }
  }
  l->nheld = kept;
}

static bool confirm_break(const take_t *tk) {
  if (tk->o->yes) return true;
  if (!isatty(STDIN_FILENO)) {
    fprintf(stderr,
            "kmsmig run: --break-lock: nobody can confirm here (not a "
            "terminal); pass --yes as well once you have checked that the "
            "runs named above are gone\n");
    return false;
  }
  fprintf(stderr,
          "\nBreak %zu lock(s) held by the run(s) above? Only if "
          "they no longer run. [y/N] ",
          tk->nc);
  char line[16];
  if (fgets(line, sizeof(line), stdin) == NULL) return false;
  return line[0] == 'y' || line[0] == 'Y';
}

/* Journalled first, then replaced: the journal says whose lock this run
 * took over, even when the process dies right after. */
static int break_one(take_t *tk, conflict_t *c) {
  const km_lock_info_t *w = &c->who;
  json_t *f =
      json_pack("{s:s, s:s, s:s, s:s}", "account", c->t->account, "account_id",
                c->t->account_id, "region", c->t->region, "lock", c->path);
  json_object_set_new(f, "holder_run_dir", str_or_null(w->run_dir));
  json_object_set_new(f, "holder_run_id", str_or_null(w->run_id));
  json_object_set_new(f, "holder_host", str_or_null(w->host));
  json_object_set_new(f, "holder_pid",
                      w->pid > 0 ? json_integer(w->pid) : json_null());
  json_object_set_new(f, "holder_since", str_or_null(w->since));
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = tk->o->journal != NULL
               ? km_journal_append(tk->o->journal, "lock_broken", f, NULL, &err)
               : 0;
  json_decref(f);
  if (rc < 0) {
    fprintf(stderr, "kmsmig: journal: %s\n", err.text);
    return rc;
  }
  char *text = my_text(tk, c->t, tk->since);
  rc = place(tk->l, c->path, text, true);
  free(text);
  if (rc < 0) {
    fprintf(stderr, "kmsmig: cannot replace the lock %s: %s\n", c->path,
            km_strerror(rc));
    return KM_EIO;
  }
  fprintf(stderr, "kmsmig: broke the lock of %s %s (journalled)\n",
          c->t->account, c->t->region);
  hold(tk, c->path, true);
  c->path = NULL;
  return 0;
}

static int settle(take_t *tk) {
  size_t shown = tk->nc < 10 ? tk->nc : 10;
  for (size_t i = 0; i < shown; i++)
    print_conflict(tk, &tk->c[i]);
  if (tk->nc > shown)
    fprintf(stderr, "kmsmig: and %zu more accounts × regions are locked\n",
            tk->nc - shown);
  if (!tk->o->break_lock) {
    fprintf(stderr,
            "kmsmig run: refused: another run uses these accounts × regions; "
            "nothing was changed and no lock was kept.  Wait for it to "
            "finish, or, when it is gone (a stale lock: its process no longer "
            "runs), run again with --break-lock\n");
    return KM_EBUSY;
  }
  /* Declined: still locked (exit 5); nobody to ask: a usage error (2). */
  if (!confirm_break(tk)) return isatty(STDIN_FILENO) ? KM_EBUSY : KM_EINVAL;
  for (size_t i = 0; i < tk->nc; i++) {
    int rc = break_one(tk, &tk->c[i]);
    if (rc < 0) return rc;
  }
  return 0;
}

static int locks_dir_ok(const char *dir) {
  struct stat st;
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0)
    return 0;
  fprintf(stderr,
          "kmsmig: locks.dir %s is not a writable folder (%s): create it, "
          "on storage every shard and machine of the run shares, or fix "
          "locks.dir in the manifest; nothing was called\n",
          dir, errno != 0 ? strerror(errno) : "not a directory");
  return KM_EIO;
}

int km_locks_take(km_locks_t *l, const km_locks_opts_t *o,
                  const km_target_t *targets, size_t ntargets) {
  memset(l, 0, sizeof(*l));
  if (o->dir == NULL) return 0;
  l->dir = km_xstrdup(o->dir);
  errno = 0;
  int rc = locks_dir_ok(l->dir);
  if (rc == 0) rc = run_token(o->run_dir, l->token);
  if (rc < 0) return rc;
  take_t tk = {.l = l, .o = o};
  if (gethostname(tk.host, sizeof(tk.host) - 1) != 0)
    snprintf(tk.host, sizeof(tk.host), "unknown");
  tk.run_dir = realpath(o->run_dir, NULL);
  if (tk.run_dir == NULL) tk.run_dir = km_xstrdup(o->run_dir);
  km_iso8601((int64_t)time(NULL), tk.since);
  snprintf(tk.shard, sizeof(tk.shard), "%u/%u", o->shard_k, o->shard_n);
  km_strmap_t *seen = km_strmap_new(ntargets);
  for (size_t i = 0; rc == 0 && i < ntargets; i++) {
    char *key =
        km_xasprintf("%s\n%s", targets[i].account_id, targets[i].region);
    size_t v;
    if (!km_strmap_get(seen, key, &v)) {
      km_strmap_put(seen, key, i);
      rc = take_one(&tk, &targets[i]);
    }
    free(key);
  }
  km_strmap_free(seen);
  if (rc == 0 && tk.nc > 0) rc = settle(&tk);
  if (rc < 0) rollback(&tk);
  for (size_t i = 0; i < tk.nc; i++) {
    free(tk.c[i].path);
    km_lock_info_free(&tk.c[i].who);
  }
  free(tk.c);
  free(tk.fresh);
  free(tk.run_dir);
  return rc;
}

/* ---- releasing ---- */

void km_locks_release(km_locks_t *l) {
  for (size_t i = 0; i < l->nheld; i++) {
    char *text = read_text(l->held[i]);
    km_lock_info_t li;
    km_err_t err;
    if (text != NULL && km_lock_parse(text, &li, &err) == 0) {
      if (strcmp(li.token, l->token) == 0)
        unlink(l->held[i]);
      else
        km_log(KM_LOG_WARN,
               "lock %s was broken by run %s (%s) while this run held it; "
               "left to it",
               l->held[i], li.run_id, li.run_dir);
      km_lock_info_free(&li);
    }
    free(text);
  }
  km_locks_keep(l);
}

void km_locks_keep(km_locks_t *l) {
  for (size_t i = 0; i < l->nheld; i++)
    free(l->held[i]);
  free(l->held);
  free(l->dir);
  memset(l, 0, sizeof(*l));
}

void km_locks_warn(const char *dir, const km_target_t *targets,
                   size_t ntargets) {
  size_t shown = 0, locked = 0;
  for (size_t i = 0; dir != NULL && i < ntargets; i++) {
    char *name = km_lock_name(targets[i].account_id, targets[i].region);
    char *path = km_xasprintf("%s/%s", dir, name);
    char *text = read_text(path);
    km_lock_info_t li;
    km_err_t err;
    if (text != NULL) {
      locked++;
      bool ok = km_lock_parse(text, &li, &err) == 0;
      if (shown++ < 5)
        km_log(KM_LOG_WARN,
               "%s %s is locked by run %s (%s, host %s, since %s): a run "
               "now would be refused",
               targets[i].account, targets[i].region, ok ? li.run_id : "?",
               ok ? li.run_dir : path, ok ? li.host : "?", ok ? li.since : "?");
      if (ok) km_lock_info_free(&li);
    }
    free(text);
    free(path);
    free(name);
  }
  if (locked > shown)
    km_log(KM_LOG_WARN,
           "%zu accounts × regions in all are locked by other runs", locked);
}

/* ---- in a runtime ---- */

int km_runtime_lock(km_runtime_t *rt, const km_runtime_opts_t *o) {
  const char *dir = rt->m->locks_dir;
  if (dir == NULL) return 0;
  if (rt->mode != KM_MODE_RUN) {
    km_locks_warn(dir, rt->targets, rt->ntargets);
    return 0;
  }
  /* A rehearsal's cloud is kmsim: the real accounts are not touched. */
  if (o->rehearse != NULL) return 0;
  km_locks_opts_t lo = {
      .dir = dir,
      .run_dir = rt->rd.dir,
      .run_id = rt->rd.run_id,
      .plan_sha256 = rt->plan != NULL ? rt->plan->file_sha256 : NULL,
      .shard_k = rt->shard_k,
      .shard_n = rt->shard_n,
      .break_lock = o->break_lock,
      .yes = o->yes,
      .journal = rt->journal,
  };
  int rc = km_locks_take(&rt->locks, &lo, rt->targets, rt->ntargets);
  if (rc == KM_EBUSY) return KM_EXIT_LOCKED;
  return rc < 0 ? KM_EXIT_USAGE : 0;
}
