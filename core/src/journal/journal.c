/* The run journal (see journal.h for the contract): appending one fsync'd
 * JSON line per record, each carrying the hash of the line before it (the
 * chain; scan.c reads it back and checks it), and the guard that refuses
 * records carrying secret-named keys.
 *
 * A journal that lost records cannot prove what was turned off and
 * restored, so it must never be resumed as if complete.  Beside the file,
 * journal.mark holds the number and hash of the last record made durable
 * (written after each fsync, so it never runs ahead of the journal after a
 * crash).  Opening a journal whose last record is before the mark (emptied,
 * truncated, replaced) or whose record at the mark has another hash fails
 * with KM_EJOURNAL and says what to check, before anything is truncated.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/journal.h"
#include "journal/scan.h"
#include "util/util.h"

struct km_journal_s {
  int fd;
  char *path;
  uint64_t next_seq;
  uint64_t size;                   /* bytes of complete records in the file */
  int dirty;                       /* records written since the last fsync */
  int broken;                      /* a failed write could not be undone */
  int mark_fd;                     /* journal.mark */
  char last_hash[KM_JOURNAL_HASH]; /* of the last line written: next prev */
};

#define MARK_FILE KM_JMARK_FILE

/* Records that the last record written is durable: its number and the hash
 * of its line (fixed width, one pwrite, no fsync: the mark may lag the
 * journal after a power loss, never lead it). */
static void write_mark(km_journal_t *j) {
  char buf[128];
  int n = snprintf(buf, sizeof(buf), "%20llu %s\n",
                   (unsigned long long)(j->next_seq - 1), j->last_hash);
  if (pwrite(j->mark_fd, buf, (size_t)n, 0) != n)
    km_log(KM_LOG_WARN, "journal %s: cannot update %s: %s", j->path, MARK_FILE,
           strerror(errno));
}

bool km_journal_marked(const char *dir) {
  uint64_t seq;
  char hash[KM_JOURNAL_HASH];
  km__jmark_read(dir, &seq, hash);
  return seq > 0;
}

/* Key names refused anywhere in a record, compared after lower-casing and
 * dropping '_' and '-' (so SecurityToken, security_token, security-token
 * all match).  Names are exact: "secret_name" is an identifier, not a
 * secret. */
static const char *const secret_keys[] = {
    "accesskeysecret", "securitytoken", "ststoken",    "secretdata",
    "secretvalue",     "keymaterial",   "importtoken", "encryptedkeymaterial",
    "plaintext",       "privatekey",    "password",
};

static void normalize_key(const char *k, char *out, size_t n) {
  size_t o = 0;
  for (; *k != '\0' && o + 1 < n; k++) {
    char c = *k;
    if (c == '_' || c == '-') continue;
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    out[o++] = c;
  }
  out[o] = '\0';
}

static int key_is_secret(const char *k) {
  char norm[64];
  if (strlen(k) >= sizeof(norm)) return 0;
  normalize_key(k, norm, sizeof(norm));
  for (size_t i = 0; i < KM_ARRAY_SIZE(secret_keys); i++)
    if (strcmp(norm, secret_keys[i]) == 0) return 1;
  return 0;
}

int km_journal_has_secret_key(json_t *v, char *name, size_t n) {
  if (json_is_object(v)) {
    const char *k;
    json_t *child;
    json_object_foreach(v, k, child) {
      if (key_is_secret(k)) {
        if (name != NULL && n > 0) snprintf(name, n, "%s", k);
        return 1;
      }
      if (km_journal_has_secret_key(child, name, n)) return 1;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *child;
    json_array_foreach(v, i, child) {
      if (km_journal_has_secret_key(child, name, n)) return 1;
    }
  }
  return 0;
}

/* "YYYY-MM-DDThh:mm:ss.mmmZ" (UTC) into out[25]. */
static void now_ts(char out[25]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char base[20];
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 25, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000));
}

static char *journal_file_path(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return km_xasprintf("%s/%s", path, KM_JOURNAL_FILE);
  return km_xstrdup(path);
}

/* The directory of a journal file (owned). */
static char *dir_of(const char *file) {
  const char *slash = strrchr(file, '/');
  if (slash == NULL) return km_xstrdup(".");
  if (slash == file) return km_xstrdup("/");
  return km_xasprintf("%.*s", (int)(slash - file), file);
}

/* Scans path (a journal file or a run directory) into s.  with_mark: also
 * checks journal.mark (read before the file, so a live run's mark is never
 * ahead of what is read). */
static int scan_path(const char *path, bool with_mark, km_jscan_t *s,
                     km_journal_replay_cb cb, void *ud, const char *const *only,
                     km_err_t *err) {
  char *file = journal_file_path(path);
  char *dir = dir_of(file);
  int rc = km__jscan_init(s, dir, with_mark, cb, ud, err);
  s->only = only;
  int fd = rc == 0 ? open(file, O_RDONLY | O_CLOEXEC) : -1;
  if (rc == 0 && fd < 0) {
    int e = errno;
    rc = km__err_setw(err, e == ENOENT ? KM_ENOENT : KM_EJOURNAL, file,
                      "cannot open journal %s: %s", file, strerror(e));
  }
  if (fd >= 0) {
    rc = km__jscan_fd(fd, file, s, err);
    close(fd);
  }
  if (rc == 0 && with_mark) rc = km__jscan_check_mark(s, file, err);
  if (rc == 0 && s->info.torn_bytes > 0)
    km_log(KM_LOG_WARN,
           "journal %s: ignored a torn last record (%llu bytes from line %zu)",
           file, (unsigned long long)s->info.torn_bytes, s->info.torn_line);
  free(dir);
  free(file);
  return rc;
}

int km_journal_verify(const char *dir, km_journal_info_t *info, km_err_t *err) {
  if (dir == NULL) return km__err_set(err, KM_EINVAL, "journal path is NULL");
  km_jscan_t s;
  int rc = scan_path(dir, true, &s, NULL, NULL, NULL, err);
  if (rc == KM_ENOENT && km_journal_marked(dir))
    rc = km__err_setw(err, KM_EJOURNAL, dir,
                      "%s has no journal.jsonl, but journal.mark says records "
                      "were written: the journal was deleted, so nothing can "
                      "show what was turned off and restored. %s",
                      dir, KM_JOURNAL_FIX);
  if (info != NULL) *info = s.info;
  return rc;
}

int km_journal_replay_info(const char *path, km_journal_replay_cb cb, void *ud,
                           km_journal_info_t *info, km_err_t *err) {
  if (path == NULL) return km__err_set(err, KM_EINVAL, "journal path is NULL");
  km_jscan_t s;
  int rc = scan_path(path, false, &s, cb, ud, NULL, err);
  if (info != NULL) *info = s.info;
  return rc;
}

int km_journal_replay_types(const char *path, const char *const *types,
                            km_journal_replay_cb cb, void *ud, km_err_t *err) {
  if (path == NULL || types == NULL)
    return km__err_set(err, KM_EINVAL, "journal path is NULL");
  km_jscan_t s;
  return scan_path(path, false, &s, cb, ud, types, err);
}

int km_journal_replay(const char *path, km_journal_replay_cb cb, void *ud,
                      km_err_t *err) {
  return km_journal_replay_info(path, cb, ud, NULL, err);
}

/* ---- Opening ---- */

/* Makes the directory entry of a newly created file durable. */
static void sync_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

int km_journal_open(const char *dir, km_journal_t **out,
                    km_journal_info_t *info, km_err_t *err) {
  *out = NULL;
  if (dir == NULL || *dir == '\0')
    return km__err_set(err, KM_EINVAL, "journal directory is empty");
  char *file = km_xasprintf("%s/%s", dir, KM_JOURNAL_FILE);
  int rc;
  struct stat st;
  int created = lstat(file, &st) != 0 && errno == ENOENT;
  int fd =
      open(file, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    rc = km__err_setw(err, KM_EJOURNAL, file, "cannot open journal %s: %s%s",
                      file, strerror(e),
                      e == ELOOP ? " (it is a symlink; refusing)" : "");
    goto fail_open;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = km__err_setw(err, KM_EJOURNAL, file,
                      "journal %s is not a regular file", file);
    goto fail_stat;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    rc = km__err_setw(err, KM_EBUSY, file,
                      "journal %s is in use by another kmsmig process; wait "
                      "for it to finish or use another run directory",
                      file);
    goto fail_stat;
  }
  if ((st.st_mode & 07777) != 0600) {
    km_log(KM_LOG_WARN, "journal %s had mode %04o; setting it to 0600", file,
           (unsigned)(st.st_mode & 07777));
    if (fchmod(fd, 0600) != 0) {
      rc = km__err_setw(err, KM_EJOURNAL, file,
                        "cannot set journal %s to mode 0600: %s", file,
                        strerror(errno));
      goto fail_stat;
    }
  }
  if (created) sync_dir(dir);

  /* The whole journal is checked (chain and mark) before anything is cut
   * off: a refused journal is left exactly as it was found. */
  km_jscan_t s;
  rc = km__jscan_init(&s, dir, true, NULL, NULL, err);
  if (rc == 0) rc = km__jscan_fd(fd, file, &s, err);
  if (rc == 0) rc = km__jscan_check_mark(&s, file, err);
  if (rc != 0) goto fail_stat;
  if (s.info.torn_bytes > 0) {
    km_log(KM_LOG_WARN,
           "journal %s: truncating a torn last record (%llu bytes from line "
           "%zu) left by an interrupted run",
           file, (unsigned long long)s.info.torn_bytes, s.info.torn_line);
    if (ftruncate(fd, (off_t)s.info.good_size) != 0 || fsync(fd) != 0) {
      rc = km__err_setw(err, KM_EJOURNAL, file,
                        "cannot truncate the torn tail of journal %s: %s", file,
                        strerror(errno));
      goto fail_stat;
    }
  }
  /* The mark is what catches a cut or rewritten end: without it the run
   * does not go on. */
  char *mpath = km_xasprintf("%s/%s", dir, MARK_FILE);
  int mark_created = access(mpath, F_OK) != 0;
  int mfd = open(mpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  free(mpath);
  if (mfd < 0) {
    rc = km__err_setw(err, KM_EJOURNAL, file,
                      "cannot open %s/%s (it guards the end of journal %s): "
                      "%s",
                      dir, MARK_FILE, file, strerror(errno));
    goto fail_stat;
  }
  (void)fchmod(mfd, 0600);
  if (mark_created) sync_dir(dir);
  km_journal_t *j = km_xcalloc(1, sizeof(*j));
  j->fd = fd;
  j->mark_fd = mfd;
  memcpy(j->last_hash, s.info.last_hash, sizeof(j->last_hash));
  j->path = file;
  j->next_seq = s.info.last_seq + 1;
  j->size = s.info.good_size;
  write_mark(j);
  if (info != NULL) *info = s.info;
  *out = j;
  return 0;

fail_stat:
  close(fd);
fail_open:
  free(file);
  return rc;
}

/* ---- Appending ---- */

static int do_append(km_journal_t *j, const char *type, json_t *fields,
                     uint64_t *seq_out, int sync, km_err_t *err) {
  if (j == NULL || type == NULL || *type == '\0')
    return km__err_set(err, KM_EINVAL, "journal append needs a record type");
  if (fields != NULL && !json_is_object(fields))
    return km__err_set(err, KM_EINVAL,
                       "journal record %s: fields must be a JSON object", type);
  char bad[64];
  if (fields != NULL && km_journal_has_secret_key(fields, bad, sizeof(bad)))
    return km__err_set(err, KM_EINVAL,
                       "journal record %s refused: it has a field named "
                       "\"%s\", which may hold a secret (secrets are never "
                       "journalled)",
                       type, bad);
  if (j->broken)
    return km__err_setw(err, KM_EJOURNAL, j->path,
                        "journal %s is unusable after an earlier write "
                        "failure",
                        j->path);

  json_t *rec = json_object();
  json_object_set_new(rec, "v", json_integer(KM_JOURNAL_FORMAT));
  json_object_set_new(rec, "seq", json_integer((json_int_t)j->next_seq));
  char ts[25];
  now_ts(ts);
  json_object_set_new(rec, "ts", json_string(ts));
  json_object_set_new(rec, "type", json_string(type));
  json_object_set_new(rec, "fields",
                      fields != NULL ? json_incref(fields) : json_object());
  json_object_set_new(rec, "prev", json_string(j->last_hash));
  char *line = json_dumps(rec, JSON_COMPACT);
  json_decref(rec);
  if (line == NULL)
    return km__err_set(err, KM_EINVAL,
                       "journal record %s cannot be encoded as JSON (invalid "
                       "UTF-8 or NaN?)",
                       type);
  size_t len = strlen(line);
  if (len + 1 > KM_JOURNAL_MAX_RECORD) {
    free(line);
    return km__err_set(err, KM_EINVAL,
                       "journal record %s is too large (%zu bytes)", type, len);
  }
  line[len] = '\n'; /* replaces the NUL: the buffer is written by length */

  int rc = 0;
  ssize_t w;
  do {
    w = write(j->fd, line, len + 1);
  } while (w < 0 && errno == EINTR);
  if (w != (ssize_t)(len + 1)) {
    free(line);
    int e = w < 0 ? errno : ENOSPC;
    /* Take the partial line back so the file stays a clean prefix. */
    if (w > 0 && ftruncate(j->fd, (off_t)j->size) != 0) j->broken = 1;
    return km__err_setw(err, KM_EJOURNAL, j->path,
                        "cannot append to journal %s: %s", j->path,
                        strerror(e));
  }
  j->size += len + 1;
  km__jhash(line, len, j->last_hash);
  free(line);
  j->dirty = 1;
  if (seq_out != NULL) *seq_out = j->next_seq;
  j->next_seq++;
  if (sync) rc = km_journal_sync(j, err);
  return rc;
}

int km_journal_append(km_journal_t *j, const char *type, json_t *fields,
                      uint64_t *seq_out, km_err_t *err) {
  return do_append(j, type, fields, seq_out, 1, err);
}

int km_journal_append_nosync(km_journal_t *j, const char *type, json_t *fields,
                             uint64_t *seq_out, km_err_t *err) {
  return do_append(j, type, fields, seq_out, 0, err);
}

int km_journal_sync(km_journal_t *j, km_err_t *err) {
  if (j == NULL) return km__err_set(err, KM_EINVAL, "journal is NULL");
  if (!j->dirty) return 0;
  if (fsync(j->fd) != 0) {
    /* After a failed fsync the kernel may have dropped the dirty pages:
     * nothing written since the last good sync can be trusted. */
    j->broken = 1;
    return km__err_setw(err, KM_EJOURNAL, j->path,
                        "cannot fsync journal %s: %s", j->path,
                        strerror(errno));
  }
  j->dirty = 0;
  write_mark(j);
  return 0;
}

uint64_t km_journal_next_seq(const km_journal_t *j) {
  return j->next_seq;
}

const char *km_journal_path(const km_journal_t *j) {
  return j->path;
}

void km_journal_close(km_journal_t *j) {
  if (j == NULL) return;
  if (j->dirty && !j->broken && fsync(j->fd) != 0)
    km_log(KM_LOG_ERROR, "journal %s: final fsync failed: %s", j->path,
           strerror(errno));
  else if (j->dirty && !j->broken)
    write_mark(j);
  flock(j->fd, LOCK_UN);
  close(j->fd);
  close(j->mark_fd);
  free(j->path);
  free(j);
}
