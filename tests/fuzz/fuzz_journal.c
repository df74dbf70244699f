/* libFuzzer target: journal replay (core/src/journal) on any bytes as
 * journal.jsonl: the reader resume uses (records collected as the run
 * directory does), the worklist's folding of those envelopes, then the
 * opening for append, which checks the whole file and truncates a torn
 * tail. */
#include <stdlib.h>

#include "fuzz.h"
#include "journal/journal.h"
#include "run/worklist.h"

static int collect(const km_journal_record_t *rec, void *ud) {
  json_array_append(ud, rec->record);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = km_fuzz_write("journal.jsonl", data, size);
  km_err_t err;
  km_journal_info_t info;
  json_t *records = json_array();
  if (km_journal_replay_info(path, collect, records, &info, &err) == 0) {
    km_worklist_t w;
    km_worklist_init(&w);
    km_worklist_note_all(&w, records);
    km_worklist_free(&w);
  }
  json_decref(records);
  km_journal_t *j = NULL;
  if (km_journal_open(km_fuzz_dir(), &j, &info, &err) == 0) km_journal_close(j);
  free(path);
  return 0;
}
