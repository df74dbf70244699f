/* Reading a journal back: line by line, each line checked as the next link
 * of the hash chain (docs/journal.md, "The chain").
 *
 * A record is only ever written with a single write() of the complete line,
 * so after a crash at most the unsynced tail can be incomplete.  The scanner
 * therefore accepts any number of valid records followed by a suffix of
 * lines that do not parse (the torn tail), and calls anything else broken:
 * an invalid line followed by a record, a record with the wrong number, a
 * record whose prev is not the hash of the line before it (or, for record
 * 1, not the run directory's manifest hash), a record of another format.
 * Each error names the line, says what it looks like (edited, deleted,
 * reordered, inserted) and what to do.  The classification is a diagnosis
 * for the operator; the verdict "broken" does not depend on it.
 *
 * The chain alone cannot see the end of the file cut off or rewritten
 * consistently: journal.mark (the last durable record and its hash) is
 * checked by km__jscan_check_mark once the scan is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "journal/scan.h"
#include "util/util.h"

void km__jhash(const char *p, size_t len, char out[KM_JOURNAL_HASH]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[32];
  unsigned int n = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  EVP_DigestUpdate(ctx, p, len);
  EVP_DigestUpdate(ctx, "\n", 1);
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  memcpy(out, "sha256:", 7);
  /* Every record is hashed when written and again when read: a table,
   * not 32 snprintf calls a record. */
  for (unsigned i = 0; i < 32; i++) {
    out[7 + 2 * i] = hex[md[i] >> 4];
    out[8 + 2 * i] = hex[md[i] & 15];
  }
  out[7 + 64] = '\0';
}

static bool is_hex64(const char *p) {
  for (int i = 0; i < 64; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
      return false;
  return true;
}

/* Up to n-1 bytes of dir/name into buf; -1 when the file does not exist. */
static ssize_t read_small(const char *dir, const char *name, char *buf,
                          size_t n) {
  char *path = km_xasprintf("%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  free(path);
  if (fd < 0) return -1;
  ssize_t r = pread(fd, buf, n - 1, 0);
  close(fd);
  buf[r > 0 ? r : 0] = '\0';
  return r > 0 ? r : 0;
}

int km__jmark_read(const char *dir, uint64_t *seq, char hash[KM_JOURNAL_HASH]) {
  char buf[128];
  *seq = 0;
  hash[0] = '\0';
  if (read_small(dir, KM_JMARK_FILE, buf, sizeof(buf)) < 0) return 0;
  char *end;
  *seq = strtoull(buf, &end, 10);
  while (*end == ' ')
    end++;
  if (strncmp(end, "sha256:", 7) == 0 && strlen(end) >= 71 && is_hex64(end + 7))
    snprintf(hash, KM_JOURNAL_HASH, "%.71s", end);
  return 1;
}

int km__jscan_init(km_jscan_t *s, const char *dir, bool with_mark,
                   km_journal_replay_cb cb, void *ud, km_err_t *err) {
  memset(s, 0, sizeof(*s));
  s->cb = cb;
  s->ud = ud;
  char buf[128];
  ssize_t n = read_small(dir, "manifest.sha256", buf, sizeof(buf));
  s->anchor_file = n >= 0;
  if (n >= 0 && (n < 64 || !is_hex64(buf)))
    return km__err_setw(err, KM_EJOURNAL, dir,
                        "%s/manifest.sha256 does not hold a SHA-256 (it was "
                        "edited); the journal is anchored on it. %s",
                        dir, KM_JOURNAL_FIX);
  snprintf(s->info.anchor, sizeof(s->info.anchor), "sha256:%.64s",
           n >= 0 ? buf
                  : "0000000000000000000000000000000000000000000000000000000000"
                    "000000");
  memcpy(s->prev, s->info.anchor, sizeof(s->prev));
  if (with_mark)
    s->mark_file = km__jmark_read(dir, &s->info.mark_seq, s->mark_hash) == 1;
  return 0;
}

/* ---- one line ---- */

enum { JR_OK, JR_INVALID, JR_LEGACY, JR_VERSION, JR_SEQ, JR_PREV };

/* Classifies one line (without its newline) as the next record.  *out gets
 * the parsed envelope (new reference) for JR_OK, *seq the number it carries
 * when it has one. */
static int parse_record(const char *line, size_t len, const km_jscan_t *s,
                        json_t **out, uint64_t *seq) {
  *out = NULL;
  *seq = 0;
  json_t *rec = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
  json_t *jseq = json_object_get(rec, "seq");
  json_t *type = json_object_get(rec, "type");
  json_t *ts = json_object_get(rec, "ts");
  json_t *fields = json_object_get(rec, "fields");
  json_t *v = json_object_get(rec, "v");
  json_t *prev = json_object_get(rec, "prev");
  int r = JR_OK;
  if (!json_is_object(rec) || !json_is_integer(jseq) || !json_is_string(type) ||
      json_string_length(type) == 0 || !json_is_string(ts) ||
      (fields != NULL && !json_is_object(fields)))
    r = JR_INVALID;
  else if (v == NULL && prev == NULL)
    r = JR_LEGACY;
  else if (!json_is_integer(v) || json_integer_value(v) != KM_JOURNAL_FORMAT)
    r = JR_VERSION;
  else if (!json_is_string(prev))
    r = JR_INVALID;
  if (r != JR_INVALID && json_integer_value(jseq) > 0)
    *seq = (uint64_t)json_integer_value(jseq);
  if (r == JR_OK && *seq != s->info.last_seq + 1) r = JR_SEQ;
  if (r == JR_OK && strcmp(json_string_value(prev), s->prev) != 0) r = JR_PREV;
  if (r == JR_OK)
    *out = rec;
  else
    json_decref(rec);
  return r;
}

/* The line (1-based, after the line at offset from) that holds record
 * want, or 0.  Only on the error path: it reads the rest of the file. */
static size_t find_seq_after(int fd, uint64_t from, size_t line,
                             uint64_t want) {
  km_buf_t b;
  km_buf_init(&b);
  char chunk[65536];
  ssize_t n;
  size_t found = 0;
  while (found == 0 && (n = pread(fd, chunk, sizeof(chunk), (off_t)from)) > 0) {
    from += (uint64_t)n;
    const char *p = chunk, *end = chunk + n;
    while (found == 0 && p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      km_buf_append(&b, p, nl != NULL ? (size_t)(nl - p) : (size_t)(end - p));
      if (nl == NULL) break;
      p = nl + 1;
      line++;
      json_t *r = json_loadb(b.data != NULL ? b.data : "", b.len, 0, NULL);
      json_t *q = json_object_get(r, "seq");
      if (json_is_integer(q) && (uint64_t)json_integer_value(q) == want)
        found = line;
      json_decref(r);
      km_buf_reset(&b);
    }
  }
  km_buf_free(&b);
  return found;
}

/* The message for a line that is not the next link (r != JR_OK). */
static int broken(km_jscan_t *s, int r, uint64_t seq, const char *path,
                  km_err_t *err) {
  uint64_t want = s->info.last_seq + 1;
  size_t l = s->line;
  char what[320];
  if (r == JR_LEGACY && s->info.records == 0)
    return km__err_setw(
        err, KM_EJOURNAL, path,
        "journal %s is format 1 (written by a kmsmig before the hash chain, "
        "line 1 has no \"v\"): it cannot be verified.  Not resuming: finish "
        "this run directory with the kmsmig that began it (versions.json "
        "names it), or check automatic rotation of this run's keys and "
        "secrets in the KMS console and start a new run directory",
        path);
  else if (r == JR_LEGACY)
    snprintf(what, sizeof(what),
             "a record without the chain (format 1) among format %d records: "
             "a line was inserted or replaced",
             KM_JOURNAL_FORMAT);
  else if (r == JR_VERSION)
    snprintf(what, sizeof(what),
             "a record of a journal format this kmsmig does not read (it "
             "reads %d): a newer kmsmig wrote it, or it was edited",
             KM_JOURNAL_FORMAT);
  else if (r == JR_SEQ && seq > want) {
    size_t at = find_seq_after(s->fd, s->offset, l, want);
    if (at != 0)
      snprintf(what, sizeof(what),
               "record %llu is here but record %llu comes later, at line %zu: "
               "lines were reordered",
               (unsigned long long)seq, (unsigned long long)want, at);
    else
      snprintf(what, sizeof(what),
               "record %llu is here where record %llu should be: %s deleted",
               (unsigned long long)seq, (unsigned long long)want,
               seq == want + 1 ? "a line was" : "lines were");
  } else if (r == JR_SEQ)
    snprintf(what, sizeof(what),
             "record %llu again (it is at line %llu): a line was inserted, "
             "copied or moved here",
             (unsigned long long)seq, (unsigned long long)seq);
  else if (r == JR_PREV && want == 1)
    snprintf(what, sizeof(what),
             "record 1 is not anchored on this run directory's manifest "
             "(manifest.sha256 %s): the journal belongs to another run, was "
             "rewritten, or manifest.sha256 was %s",
             s->anchor_file ? "differs" : "is missing",
             s->anchor_file ? "changed" : "deleted");
  else {
    /* The line that changed is the one before: name it. */
    snprintf(what, sizeof(what),
             "it is not the line that was written (line %zu carries the hash "
             "of another line %zu): it was edited, or a line was inserted or "
             "replaced there",
             l, l - 1);
    l--;
  }
  return km__err_setw(err, KM_EJOURNAL, path,
                      "journal %s is broken at line %zu: %s. %s", path, l, what,
                      KM_JOURNAL_FIX);
}

/* For a reader that wants only some record types (the report: the
 * batches and the rotation ledger; a big run's journal is mostly hook
 * decisions, 7.7 of P1's 13.3 MB): 1 when line p is a record of another
 * type as this kmsmig's writer lays it out ({"v":2,"seq":N,"ts":"...",
 * "type":"T",...,"prev":"<hash>"}, keys in that order), the next in the
 * chain (seq and prev), so it needs no parse; 0 when it must be parsed
 * (wanted, or anything unexpected, which the parse then judges).  A line
 * changed after it was written still breaks the chain at the next line,
 * whose prev is the hash of this one as written; only a damaged last line
 * reads as a record here rather than as a torn tail, which the callers
 * that skim (they ignore these types) cannot tell apart.  Resume, verify
 * and status never skim. */
static int skim(const km_jscan_t *s, const char *p, size_t len) {
  char pre[32];
  int n = snprintf(pre, sizeof(pre), "{\"v\":%d,\"seq\":", KM_JOURNAL_FORMAT);
  if (len <= (size_t)n || memcmp(p, pre, (size_t)n) != 0) return 0;
  const char *q = p + n, *end = p + len;
  uint64_t seq = 0;
  while (q < end && *q >= '0' && *q <= '9' && seq < UINT64_MAX / 10)
    seq = seq * 10 + (uint64_t)(*q++ - '0');
  if (seq != s->info.last_seq + 1) return 0;
  static const char ts[] = ",\"ts\":\"", ty[] = "\",\"type\":\"";
  if ((size_t)(end - q) < sizeof(ts) - 1 || memcmp(q, ts, sizeof(ts) - 1) != 0)
    return 0;
  q = memchr(q + sizeof(ts) - 1, '"', (size_t)(end - q) - (sizeof(ts) - 1));
  if (q == NULL || (size_t)(end - q) < sizeof(ty) - 1 ||
      memcmp(q, ty, sizeof(ty) - 1) != 0)
    return 0;
  const char *t = q + sizeof(ty) - 1;
  const char *te = memchr(t, '"', (size_t)(end - t));
  if (te == NULL || te == t || memchr(t, '\\', (size_t)(te - t)) != NULL)
    return 0;
  for (const char *const *w = s->only; *w != NULL; w++) {
    size_t wl = strlen(*w);
    if ((size_t)(te - t) >= wl && memcmp(t, *w, wl) == 0) return 0;
  }
  char tail[KM_JOURNAL_HASH + 16];
  int tl = snprintf(tail, sizeof(tail), ",\"prev\":\"%s\"}", s->prev);
  return tl > 0 && (size_t)tl < sizeof(tail) && len > (size_t)tl &&
         memcmp(end - tl, tail, (size_t)tl) == 0;
}

/* Handles one complete line (newline excluded).  Returns 0, a cb's
 * non-zero value, or KM_EJOURNAL. */
static int scan_line(km_jscan_t *s, const char *p, size_t len, const char *path,
                     km_err_t *err) {
  json_t *rec = NULL;
  uint64_t seq = s->info.last_seq + 1;
  bool skimmed = s->only != NULL && skim(s, p, len);
  int r = skimmed ? JR_OK : parse_record(p, len, s, &rec, &seq);
  if (r != JR_INVALID && s->bad_line != 0) {
    json_decref(rec);
    return km__err_setw(err, KM_EJOURNAL, path,
                        "journal %s is broken at line %zu: it is not a valid "
                        "record but a record follows it at line %zu: it was "
                        "edited or damaged. %s",
                        path, s->bad_line, s->line, KM_JOURNAL_FIX);
  }
  if (r == JR_INVALID) {
    if (s->bad_line == 0) {
      s->bad_line = s->line;
      s->bad_offset = s->offset;
    }
    return 0;
  }
  if (r != JR_OK) return broken(s, r, seq, path, err);
  s->info.records++;
  s->info.last_seq = seq;
  s->info.good_size = s->offset + len + 1;
  km__jhash(p, len, s->prev);
  if (seq == s->info.mark_seq) memcpy(s->at_mark, s->prev, sizeof(s->prev));
  int rc = 0;
  if (s->cb != NULL && !skimmed) {
    json_t *fields = json_object_get(rec, "fields");
    json_t *empty = NULL;
    if (fields == NULL) fields = empty = json_object();
    km_journal_record_t rr = {
        .seq = seq,
        .ts = json_string_value(json_object_get(rec, "ts")),
        .type = json_string_value(json_object_get(rec, "type")),
        .fields = fields,
        .record = rec,
        .line = s->line,
    };
    rc = s->cb(&rr, s->ud);
    json_decref(empty);
  }
  json_decref(rec);
  return rc;
}

int km__jscan_fd(int fd, const char *path, km_jscan_t *s, km_err_t *err) {
  km_buf_t line;
  km_buf_init(&line);
  char chunk[65536];
  uint64_t pos = 0;
  int rc = 0;
  s->line = 1;
  s->fd = fd;
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
      rc =
          scan_line(s, line.data != NULL ? line.data : "", line.len, path, err);
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
  memcpy(s->info.last_hash, s->prev, sizeof(s->prev));
out:
  km_buf_free(&line);
  return rc;
}

int km__jscan_check_mark(const km_jscan_t *s, const char *path, km_err_t *err) {
  const km_journal_info_t *in = &s->info;
  if (in->mark_seq > in->last_seq && in->torn_bytes > 0)
    return km__err_setw(
        err, KM_EJOURNAL, path,
        "journal %s is broken at line %zu: journal.mark says record %llu was "
        "made durable, but the journal ends at record %llu and line %zu is "
        "not a valid record: it was edited or damaged, or the file was cut "
        "there. %s",
        path, in->torn_line, (unsigned long long)in->mark_seq,
        (unsigned long long)in->last_seq, in->torn_line, KM_JOURNAL_FIX);
  if (in->mark_seq > in->last_seq)
    return km__err_setw(
        err, KM_EJOURNAL, path,
        "journal %s is broken at line %llu: it ends at record %llu, but "
        "journal.mark says record %llu was made durable: records were lost "
        "(the file was truncated, emptied or replaced), so it cannot show "
        "what was turned off and restored. %s",
        path, (unsigned long long)in->last_seq + 1,
        (unsigned long long)in->last_seq, (unsigned long long)in->mark_seq,
        KM_JOURNAL_FIX);
  if (in->records > 0 && !s->mark_file)
    return km__err_setw(err, KM_EJOURNAL, path,
                        "journal %s: journal.mark is missing beside it (it is "
                        "written with the first record): it was deleted, so "
                        "a cut or rewritten end cannot be checked. %s",
                        path, KM_JOURNAL_FIX);
  if (in->mark_seq > 0 && s->mark_hash[0] == '\0')
    return km__err_setw(err, KM_EJOURNAL, path,
                        "journal %s: journal.mark holds no hash for record "
                        "%llu (it was edited or written by an older kmsmig). "
                        "%s",
                        path, (unsigned long long)in->mark_seq, KM_JOURNAL_FIX);
  if (in->mark_seq > 0 && strcmp(s->at_mark, s->mark_hash) != 0)
    return km__err_setw(
        err, KM_EJOURNAL, path,
        "journal %s is broken at line %llu: record %llu is not the one that "
        "was written (journal.mark holds another hash for it): the end of the "
        "journal was edited or rewritten. %s",
        path, (unsigned long long)in->mark_seq,
        (unsigned long long)in->mark_seq, KM_JOURNAL_FIX);
  return 0;
}
