/* The run journal: an append-only JSON-lines file (journal.jsonl) in the run
 * directory that records every side effect BEFORE it is performed, so that
 * `kmsmig run` on an existing run directory can resume after kill -9.
 *
 * Record envelope (one line each, format 2, see docs/journal.md):
 *   {"v":2,"seq":N,"ts":"YYYY-MM-DDThh:mm:ss.mmmZ","type":"...",
 *    "fields":{...},"prev":"sha256:<hex>"}
 * prev is the SHA-256 of the previous line as written (its bytes and its
 * newline); record 1's prev is the run directory's manifest hash
 * (manifest.sha256; 64 zeros in a directory without one).  journal.mark
 * holds the last durable record's number and hash, so a cut or rewritten
 * end is caught while the mark survives.  A journal of format 1 (no "v",
 * no chain) is refused.
 *
 * Durability contract
 * - km_journal_append() writes the whole line with one write() and fsyncs it
 *   before returning 0.  The caller performs the side effect only after that.
 * - Group commit: km_journal_append_nosync() only writes; records are durable
 *   after the next km_journal_sync() returns 0.  A caller using it must call
 *   km_journal_sync() before performing any side effect the records describe
 *   (so at most the records since the last sync can be lost in a crash).
 * - A crash can leave a torn last line.  Replay ignores it (and reports the
 *   bytes ignored); km_journal_open() truncates it away.  An invalid line
 *   followed by a valid record is corruption: an error naming the line.
 *
 * Secrets never reach the journal: a record whose fields contain, at any
 * depth, a key named like a secret (AccessKeySecret, SecurityToken,
 * SecretData, secret_value, key_material, ImportToken, EncryptedKeyMaterial,
 * Plaintext, ... compared case-insensitively, ignoring '_' and '-') is refused
 * with KM_EINVAL and nothing is written.
 *
 * The journal does blocking file I/O on the calling thread (the loop thread):
 * an fsync costs about a millisecond on local disks and it is exactly the
 * ordering point the side effect must wait for anyway.
 */
#ifndef KM_JOURNAL_H
#define KM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kmsmig/errors.h"

#define KM_JOURNAL_FILE "journal.jsonl"
/* Largest record line accepted by append (bytes, newline included). */
#define KM_JOURNAL_MAX_RECORD (1024 * 1024)
/* The envelope format written and read ("v"). */
#define KM_JOURNAL_FORMAT 2
/* "sha256:" + 64 hex digits + NUL */
#define KM_JOURNAL_HASH 72

typedef struct km_journal_s km_journal_t;

/* What replay saw.  torn_bytes > 0 means the file ends with an incomplete
 * or invalid tail of that many bytes starting at line torn_line, which was
 * ignored. */
typedef struct km_journal_info_s {
  size_t records;     /* complete records delivered */
  uint64_t last_seq;  /* seq of the last complete record, 0 if none */
  uint64_t good_size; /* bytes up to and including the last good line */
  uint64_t torn_bytes;
  size_t torn_line;             /* 1-based line of the torn tail, 0 if none */
  char anchor[KM_JOURNAL_HASH]; /* record 1's prev: the manifest hash */
  char last_hash[KM_JOURNAL_HASH]; /* hash of the last good line (anchor if
                                      none): the next record's prev */
  uint64_t mark_seq;               /* journal.mark's record (verify, open) */
} km_journal_info_t;

/* One replayed record.  Everything is borrowed for the callback's duration;
 * json_incref(record) to keep it. */
typedef struct km_journal_record_s {
  uint64_t seq;
  const char *ts;
  const char *type;
  json_t *fields; /* object (possibly empty) */
  json_t *record; /* the whole envelope */
  size_t line;    /* 1-based line number in the file */
} km_journal_record_t;

/* Called for every complete record in file order.  Returning non-zero stops
 * the replay, which then returns that value. */
typedef int (*km_journal_replay_cb)(const km_journal_record_t *rec, void *ud);

/* Opens (creating it if needed) <dir>/journal.jsonl for appending.  The
 * directory must exist.  The file is created with mode 0600; an existing
 * file with another mode is fixed to 0600 (with a warning); a symlink or a
 * non-regular file is refused.  The file is locked (flock) so two runs cannot
 * share it: KM_EBUSY.  A torn tail is truncated away (info->torn_bytes says
 * how much; info may be NULL); a broken chain or mark (km_journal_verify)
 * fails with KM_EJOURNAL and the line number in err, the file untouched.
 * Sequence numbers continue after the last record.  Returns 0 and *out (owned;
 * km_journal_close) or a negative code. */
int km_journal_open(const char *dir, km_journal_t **out,
                    km_journal_info_t *info, km_err_t *err);
/* Lost records: <dir>/journal.mark holds the last record made durable;
 * km_journal_open fails with KM_EJOURNAL when the journal ends before it
 * (emptied, truncated or replaced), and this says whether dir has a mark
 * (a journal was written there before). */
bool km_journal_marked(const char *dir);

/* Appends a record of type (borrowed, non-empty) with fields (borrowed JSON
 * object, may be NULL for {}), writes it with one write() and fsyncs before
 * returning 0.  *seq_out (may be NULL) receives its sequence number.
 * Returns KM_EINVAL (bad type, non-object fields, a secret-named key, a
 * record over KM_JOURNAL_MAX_RECORD) without writing, or KM_EJOURNAL on an
 * I/O failure (the partial line is truncated away; if that fails too the
 * journal refuses every later append). */
int km_journal_append(km_journal_t *j, const char *type, json_t *fields,
                      uint64_t *seq_out, km_err_t *err);

/* Same as km_journal_append without the fsync: see the group-commit rule
 * above.  The caller must call km_journal_sync() before the side effect. */
int km_journal_append_nosync(km_journal_t *j, const char *type, json_t *fields,
                             uint64_t *seq_out, km_err_t *err);

/* Makes every appended record durable (fsync).  0 or KM_EJOURNAL. */
int km_journal_sync(km_journal_t *j, km_err_t *err);

/* The seq the next append will get; the path (borrowed). */
uint64_t km_journal_next_seq(const km_journal_t *j);
const char *km_journal_path(const km_journal_t *j);

/* Syncs pending records, unlocks, closes and frees j.  NULL is a no-op. */
void km_journal_close(km_journal_t *j);

/* Reads the journal at path (the file, or a run directory holding
 * journal.jsonl) and calls cb (may be NULL) for every complete record in
 * order.  A torn tail is tolerated and reported in the log (info->torn_bytes
 * when info is given); a broken chain returns KM_EJOURNAL with "line N" in
 * err (record 1 is checked against manifest.sha256 of the file's directory
 * when it has one; journal.mark is not read: a live run may be ahead).  A
 * missing file is KM_ENOENT.  Does not modify the file. */
int km_journal_replay(const char *path, km_journal_replay_cb cb, void *ud,
                      km_err_t *err);
int km_journal_replay_info(const char *path, km_journal_replay_cb cb, void *ud,
                           km_journal_info_t *info, km_err_t *err);
/* The same, for a reader that wants only the records whose type begins
 * with one of types (NULL-terminated, borrowed): cb sees only those; the
 * others are checked against the chain, most without being parsed (a
 * damaged last line of another type may then read as a record instead of
 * a torn tail).  For the report, never for resume. */
int km_journal_replay_types(const char *path, const char *const *types,
                            km_journal_replay_cb cb, void *ud, km_err_t *err);

/* Checks the journal of run directory dir without changing anything: the
 * chain from record 1 (anchored on dir/manifest.sha256) to the last record,
 * and journal.mark (a cut end, a rewritten last record).  A torn last line
 * left by a crash is not an error (info->torn_bytes).  Returns 0 (info
 * filled; may be NULL), KM_ENOENT when dir has neither journal nor mark, or
 * KM_EJOURNAL with the line, what is wrong and what to do in err.  The
 * message is the one km_journal_open gives for the same journal. */
int km_journal_verify(const char *dir, km_journal_info_t *info, km_err_t *err);

/* 1 when fields (any JSON value) holds a secret-named key at any depth,
 * writing the offending key name into name (size n; may be NULL). */
int km_journal_has_secret_key(json_t *fields, char *name, size_t n);

#endif
