/* Internal to core/src/journal: the scanner that reads a journal back and
 * checks its hash chain, and the two files beside it that the chain is
 * checked against (manifest.sha256: the anchor of record 1; journal.mark:
 * the last durable record and its hash).  See scan.c and docs/journal.md. */
#ifndef KM_JOURNAL_SCAN_H
#define KM_JOURNAL_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "journal/journal.h"

#define KM_JMARK_FILE "journal.mark"

typedef struct km_jscan_s {
  km_journal_replay_cb cb; /* may be NULL */
  void *ud;
  /* NULL, or the type prefixes cb wants (NULL-terminated): a line of
   * another type in the writer's layout is checked against the chain
   * without being parsed (skim in scan.c). */
  const char *const *only;
  km_journal_info_t info;
  bool anchor_file;              /* dir has manifest.sha256 */
  char prev[KM_JOURNAL_HASH];    /* what the next record's prev must be */
  char at_mark[KM_JOURNAL_HASH]; /* hash of record info.mark_seq, once seen */
  char mark_hash[KM_JOURNAL_HASH];
  bool mark_file;      /* dir has journal.mark */
  uint64_t offset;     /* file offset of the current line's start */
  size_t line;         /* 1-based number of the current line */
  size_t bad_line;     /* first invalid line not yet followed by a valid one */
  uint64_t bad_offset; /* its offset */
  int fd;
} km_jscan_t;

/* "sha256:<hex>" of the bytes p[0..len) followed by one '\n' (the line as
 * written). */
void km__jhash(const char *p, size_t len, char out[KM_JOURNAL_HASH]);

/* Prepares s for the journal of dir: the anchor from dir/manifest.sha256
 * (64 zeros when there is none) and, with_mark, journal.mark.  Returns 0 or
 * KM_EJOURNAL when one of them exists and cannot be read. */
int km__jscan_init(km_jscan_t *s, const char *dir, bool with_mark,
                   km_journal_replay_cb cb, void *ud, km_err_t *err);

/* Reads fd from offset 0 to EOF, checking every line against the chain.
 * Returns 0, a cb's non-zero value, or KM_EJOURNAL with the line, what is
 * wrong and what to do in err.  s->info is complete when 0 is returned. */
int km__jscan_fd(int fd, const char *path, km_jscan_t *s, km_err_t *err);

/* After a clean scan: the journal against journal.mark (lost or rewritten
 * records).  0 or KM_EJOURNAL. */
int km__jscan_check_mark(const km_jscan_t *s, const char *path, km_err_t *err);

/* The mark of dir: its record number (0 when absent or empty) and hash
 * ("" when it has none).  Returns 1 when the file exists, 0 when not. */
int km__jmark_read(const char *dir, uint64_t *seq, char hash[KM_JOURNAL_HASH]);

/* What every broken-journal message ends with: what to do. */
#define KM_JOURNAL_FIX                                                         \
  "Not resuming: restore journal.jsonl and journal.mark from a backup, or "    \
  "check automatic rotation of this run's keys and secrets in the KMS "        \
  "console and start a new run directory"

#endif
