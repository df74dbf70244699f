/* `kmsmig verify-journal RUN_DIR`: checks a run directory's journal without
 * changing it (the hash chain from the manifest hash to the last record,
 * and journal.mark; docs/journal.md) and says in one line that it is intact
 * or where it is broken and what to do.  Resume (`kmsmig run --run-dir`)
 * refuses the same journals with the same message (run/rundir.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "journal/journal.h"

void km__usage_verify_journal(void) {
  printf("usage: kmsmig verify-journal RUN_DIR\n\n"
         "Checks the journal of a run directory: every record carries the "
         "hash of the\nline before it, record 1 the manifest hash "
         "(manifest.sha256), and journal.mark\nthe last durable record and "
         "its hash.  Reads only; safe while the run is going.\n"
         "Exit 0: intact (one summary line).  Exit 1: broken (edited, "
         "deleted, reordered,\ninserted or truncated): the line, what is "
         "wrong and what to do; `kmsmig run`\nrefuses to resume it with the "
         "same message.  Exit 2: no journal or usage error.\n"
         "What the chain does and does not detect: docs/journal.md.\n");
}

int km__cmd_verify_journal(int argc, char **argv) {
  if (argc < 2 || km__is_help(argv[1])) {
    km__usage_verify_journal();
    return argc < 2 ? KM_EXIT_USAGE : KM_EXIT_OK;
  }
  if (argc > 2) {
    fprintf(stderr, "kmsmig verify-journal: one RUN_DIR, got %d arguments\n",
            argc - 1);
    return KM_EXIT_USAGE;
  }
  km_err_t err;
  memset(&err, 0, sizeof(err));
  km_journal_info_t info;
  int rc = km_journal_verify(argv[1], &info, &err);
  if (rc == KM_ENOENT) {
    fprintf(stderr, "kmsmig verify-journal: %s\n", err.text);
    return KM_EXIT_USAGE;
  }
  if (rc < 0) {
    fprintf(stderr, "kmsmig verify-journal: BROKEN: %s\n",
            err.text[0] ? err.text : km_strerror(rc));
    return KM_EXIT_FAILURES;
  }
  printf("%s: journal intact: %zu records, chain from manifest %.19s to "
         "record %llu %.19s, journal.mark at record %llu",
         argv[1], info.records, info.anchor, (unsigned long long)info.last_seq,
         info.last_hash, (unsigned long long)info.mark_seq);
  if (info.torn_bytes > 0)
    printf("; a torn last line (%llu bytes at line %zu, left by a crash) is "
           "ignored and cut off on resume",
           (unsigned long long)info.torn_bytes, info.torn_line);
  printf("\n");
  return KM_EXIT_OK;
}
