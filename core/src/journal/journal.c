/* The run journal (see journal.h for the contract): appending one fsync'd
 * JSON line per record, scanning the file back with torn-tail tolerance, and
 * the guard that refuses records carrying secret-named keys.
 *
 * A record is only ever written with a single write() of the complete line,
 * so after a crash at most the unsynced tail can be incomplete.  The scanner
 * therefore accepts any number of valid records followed by a suffix of
 * invalid lines (the torn tail), and calls anything else corruption.
 *
 * A journal that lost records cannot prove what was turned off and
 * restored, so it must never be resumed as if complete.  Beside the file,
 * journal.mark holds the number of the last record made durable (written
 * after each fsync, so it never runs ahead of the journal after a crash).
 * Opening a journal whose last record is before the mark (emptied,
 * truncated, replaced) fails with KM_EJOURNAL and says what to check.
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
#include "util/util.h"

struct km_journal_s {
  int fd;
  char *path;
  uint64_t next_seq;
  uint64_t size; /* bytes of complete records in the file */
  int dirty;     /* records written since the last fsync */
  int broken;    /* a failed write could not be undone */
  int mark_fd;   /* journal.mark, or -1 */
};

#define MARK_FILE "journal.mark"

/* The record number in dir's journal.mark: 0 when there is none. */
static uint64_t read_mark(const char *dir) {
  char *path = km_xasprintf("%s/%s", dir, MARK_FILE);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  free(path);
  if (fd < 0) return 0;
  char buf[32] = {0};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  close(fd);
  return n > 0 ? strtoull(buf, NULL, 10) : 0;
}

/* Records that seq is durable (fixed width, one pwrite, no fsync: the mark
 * may lag the journal after a power loss, never lead it). */
static void write_mark(km_journal_t *j, uint64_t seq) {
  if (j->mark_fd < 0) return;
  char buf[24];
  int n = snprintf(buf, sizeof(buf), "%20llu\n", (unsigned long long)seq);
  if (pwrite(j->mark_fd, buf, (size_t)n, 0) != n)
    km_log(KM_LOG_WARN, "journal %s: cannot update %s: %s", j->path, MARK_FILE,
           strerror(errno));
}

bool km_journal_marked(const char *dir) {
  return read_mark(dir) > 0;
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

/* ---- Scanning ---- */

/* Validates one line (without its newline) as the record after prev_seq.
 * Returns the parsed envelope (new reference), or NULL with *wrong_seq set
 * when the line is a well-formed envelope with the wrong number (an edit or
 * a splice, never a torn write) and clear when it is not an envelope. */
static json_t *parse_record(const char *line, size_t len, uint64_t prev_seq,
                            int *wrong_seq) {
  *wrong_seq = 0;
  json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(rec)) goto bad;
  json_t *seq = json_object_get(rec, "seq");
  json_t *type = json_object_get(rec, "type");
  json_t *ts = json_object_get(rec, "ts");
  json_t *fields = json_object_get(rec, "fields");
  if (!json_is_integer(seq) || !json_is_string(type) ||
      json_string_length(type) == 0 || !json_is_string(ts) ||
      (fields != NULL && !json_is_object(fields)))
    goto bad;
  if (json_integer_value(seq) < 1 ||
      (uint64_t)json_integer_value(seq) != prev_seq + 1) {
    *wrong_seq = 1;
    goto bad;
  }
  return rec;
bad:
  json_decref(rec);
  return NULL;
}

typedef struct scan_s {
  km_journal_replay_cb cb;
  void *ud;
  km_journal_info_t info;
  uint64_t offset;     /* file offset of the current line's start */
  size_t line;         /* 1-based number of the current line */
  size_t bad_line;     /* first invalid line not yet followed by a valid one */
  uint64_t bad_offset; /* its offset */
  int stop;            /* non-zero value returned by cb */
} scan_t;

/* Handles one complete line (newline excluded).  Returns 0, a cb's
 * non-zero value, or KM_EJOURNAL for corruption before a valid record. */
static int scan_line(scan_t *s, const char *p, size_t len, const char *path,
                     km_err_t *err) {
  int wrong_seq;
  json_t *rec = parse_record(p, len, s->info.last_seq, &wrong_seq);
  if ((rec != NULL || wrong_seq) && s->bad_line != 0) {
    json_decref(rec);
    return km__err_setw(err, KM_EJOURNAL, path,
                        "journal %s is corrupt at line %zu (a record follows "
                        "it at line %zu); it was damaged or edited: restore "
                        "it or start a new run directory",
                        path, s->bad_line, s->line);
  }
  if (wrong_seq)
    return km__err_setw(err, KM_EJOURNAL, path,
                        "journal %s is corrupt at line %zu: expected record "
                        "number %llu there; it was edited or spliced: restore "
                        "it or start a new run directory",
                        path, s->line,
                        (unsigned long long)(s->info.last_seq + 1));
  if (rec == NULL) {
    if (s->bad_line == 0) {
      s->bad_line = s->line;
      s->bad_offset = s->offset;
    }
    return 0;
  }
  s->info.records++;
  s->info.last_seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
  s->info.good_size = s->offset + len + 1;
  int rc = 0;
  if (s->cb != NULL) {
    json_t *fields = json_object_get(rec, "fields");
    json_t *empty = NULL;
    if (fields == NULL) fields = empty = json_object();
    km_journal_record_t r = {
        .seq = s->info.last_seq,
        .ts = json_string_value(json_object_get(rec, "ts")),
        .type = json_string_value(json_object_get(rec, "type")),
        .fields = fields,
        .record = rec,
        .line = s->line,
    };
    rc = s->cb(&r, s->ud);
    json_decref(empty);
  }
  json_decref(rec);
  return rc;
}

/* Reads fd from offset 0 to EOF, line by line.  Returns 0, a cb's non-zero
 * value or a negative code; s->info is complete when 0 is returned. */
static int scan_fd(int fd, const char *path, scan_t *s, km_err_t *err) {
  km_buf_t line;
  km_buf_init(&line);
  char chunk[65536];
  uint64_t pos = 0;
  int rc = 0;
  s->line = 1;
  for (;;) {
    ssize_t n = pread(fd, chunk, sizeof(chunk), (off_t)pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = km__err_setw(err, KM_EJOURNAL, path, "cannot read journal %s: %s",
                        path, strerror(errno));
      goto out;
    }
    if (n == 0) break;
    pos += (uint64_t)n;
    const char *p = chunk;
    const char *end = chunk + n;
    while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      if (nl == NULL) {
        km_buf_append(&line, p, (size_t)(end - p));
        break;
      }
      km_buf_append(&line, p, (size_t)(nl - p));
      p = nl + 1;
      rc = scan_line(s, line.data, line.len, path, err);
      if (rc != 0) goto out;
      s->offset += line.len + 1;
      s->line++;
      km_buf_reset(&line);
    }
  }
  /* Whatever follows the last valid record is the torn tail: invalid lines
   * and/or a last line without its newline. */
  if (s->bad_line != 0) {
    s->info.torn_line = s->bad_line;
    s->info.torn_bytes = pos - s->bad_offset;
  } else if (line.len > 0) {
    s->info.torn_line = s->line;
    s->info.torn_bytes = line.len;
  }
out:
  km_buf_free(&line);
  return rc;
}

static char *journal_file_path(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return km_xasprintf("%s/%s", path, KM_JOURNAL_FILE);
  return km_xstrdup(path);
}

int km_journal_replay_info(const char *path, km_journal_replay_cb cb, void *ud,
                           km_journal_info_t *info, km_err_t *err) {
  if (path == NULL) return km__err_set(err, KM_EINVAL, "journal path is NULL");
  char *file = journal_file_path(path);
  int rc;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    rc = km__err_setw(err, e == ENOENT ? KM_ENOENT : KM_EJOURNAL, file,
                      "cannot open journal %s: %s", file, strerror(e));
    goto out;
  }
  scan_t s;
  memset(&s, 0, sizeof(s));
  s.cb = cb;
  s.ud = ud;
  rc = scan_fd(fd, file, &s, err);
  close(fd);
  if (rc == 0 && s.info.torn_bytes > 0)
    km_log(KM_LOG_WARN,
           "journal %s: ignored a torn last record (%llu bytes from line %zu)",
           file, (unsigned long long)s.info.torn_bytes, s.info.torn_line);
  if (info != NULL) *info = s.info;
out:
  free(file);
  return rc;
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

  scan_t s;
  memset(&s, 0, sizeof(s));
  rc = scan_fd(fd, file, &s, err);
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
  uint64_t mark = read_mark(dir);
  if (mark > s.info.last_seq) {
    rc = km__err_setw(
        err, KM_EJOURNAL, file,
        "journal %s ends at record %llu, but this run directory made %llu "
        "records durable (%s): records were lost (the file was emptied, "
        "truncated or replaced), so it cannot show what was turned off and "
        "restored.  Not resuming: restore journal.jsonl from a backup, or "
        "check automatic rotation of every key and secret of this run in the "
        "KMS console (turn back on what is off) and start a new run "
        "directory",
        file, (unsigned long long)s.info.last_seq, (unsigned long long)mark,
        MARK_FILE);
    goto fail_stat;
  }
  km_journal_t *j = km_xcalloc(1, sizeof(*j));
  j->fd = fd;
  char *mpath = km_xasprintf("%s/%s", dir, MARK_FILE);
  j->mark_fd = open(mpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  free(mpath);
  if (j->mark_fd >= 0) {
    (void)fchmod(j->mark_fd, 0600);
    write_mark(j, s.info.last_seq);
  }
  j->path = file;
  j->next_seq = s.info.last_seq + 1;
  j->size = s.info.good_size;
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
  json_object_set_new(rec, "seq", json_integer((json_int_t)j->next_seq));
  char ts[25];
  now_ts(ts);
  json_object_set_new(rec, "ts", json_string(ts));
  json_object_set_new(rec, "type", json_string(type));
  json_object_set_new(rec, "fields",
                      fields != NULL ? json_incref(fields) : json_object());
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
  free(line);
  if (w != (ssize_t)(len + 1)) {
    int e = w < 0 ? errno : ENOSPC;
    /* Take the partial line back so the file stays a clean prefix. */
    if (w > 0 && ftruncate(j->fd, (off_t)j->size) != 0) j->broken = 1;
    return km__err_setw(err, KM_EJOURNAL, j->path,
                        "cannot append to journal %s: %s", j->path,
                        strerror(e));
  }
  j->size += len + 1;
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
  write_mark(j, j->next_seq - 1);
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
    write_mark(j, j->next_seq - 1);
  flock(j->fd, LOCK_UN);
  close(j->fd);
  if (j->mark_fd >= 0) close(j->mark_fd);
  free(j->path);
  free(j);
}
