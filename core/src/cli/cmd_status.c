/* `kmsmig status RUN_DIR`: a run's progress from its journal (records per
 * account and region), the console worklist's open steps, and whether the
 * run finished.  Reads only, so it is safe while the run goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "journal/journal.h"
#include "run/runtime.h"
#include "run/worklist.h"
#include "util/util.h"

typedef struct status_s {
  json_t *by; /* "account region" -> {type: count} */
  size_t records;
} status_t;

static int on_record(const km_journal_record_t *rec, void *ud) {
  status_t *s = ud;
  const char *acct = json_string_value(json_object_get(rec->fields, "account"));
  const char *reg = json_string_value(json_object_get(rec->fields, "region"));
  char key[256];
  snprintf(key, sizeof(key), "%s %s", acct != NULL ? acct : "-",
           reg != NULL ? reg : "-");
  json_t *o = json_object_get(s->by, key);
  if (o == NULL) {
    o = json_object();
    json_object_set_new(s->by, key, o);
  }
  json_int_t c = json_integer_value(json_object_get(o, rec->type));
  json_object_set_new(o, rec->type, json_integer(c + 1));
  s->records++;
  return 0;
}

void km__usage_status(void) {
  printf("usage: kmsmig status RUN_DIR\n\n"
         "Shows the progress of a run from its journal: per account and "
         "region, how\nmany rotations were turned off and restored, batches "
         "submitted and done,\nand the console worklist's pending items "
         "(worklist.md has the steps).\nReads only; safe while the run is "
         "going.\n");
}

int km__cmd_status(int argc, char **argv) {
  if (argc < 2 || km__is_help(argv[1])) {
    km__usage_status();
    return argc < 2 ? KM_EXIT_USAGE : KM_EXIT_OK;
  }
  status_t s = {json_object(), 0};
  km_err_t err;
  memset(&err, 0, sizeof(err));
  int rc = km_journal_replay(argv[1], on_record, &s, &err);
  if (rc < 0) {
    fprintf(stderr, "kmsmig status: %s: %s\n", argv[1],
            err.text[0] ? err.text : km_strerror(rc));
    json_decref(s.by);
    return KM_EXIT_USAGE;
  }
  printf("%s: %zu journal records\n", argv[1], s.records);
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(s.by, tmp, k, v) {
    printf("  %-32s", k);
    const char *t;
    json_t *c;
    json_object_foreach(v, t, c)
        printf(" %s=%lld", t, (long long)json_integer_value(c));
    printf("\n");
  }
  /* The console steps, from the same records the run folds. */
  km_worklist_t wl;
  km_worklist_init(&wl);
  size_t open_steps = 0;
  if (km_worklist_load(&wl, argv[1], &err) == 0 &&
      (open_steps = km_worklist_print_pending(&wl, stdout)) > 0)
    printf("details: %s/worklist.md (or worklist.html)\n", argv[1]);
  km_worklist_free(&wl);
  char *rep = km_xasprintf("%s/report.json", argv[1]);
  printf("%s\n", open_steps > 0 ? "not finished: console steps are open "
                                  "(resume with `kmsmig run --run-dir`)"
                 : access(rep, R_OK) == 0 ? "finished: see report.json"
                                          : "no report yet: running, or "
                                            "interrupted (resume with "
                                            "`kmsmig run --run-dir`)");
  free(rep);
  json_decref(s.by);
  return KM_EXIT_OK;
}
