/* The run directory of `kmsmig run` (see rundir.c). */
#ifndef KM_RUN_RUNDIR_H
#define KM_RUN_RUNDIR_H

#include <stdbool.h>

#include <jansson.h>

#include "journal/journal.h"
#include "manifest/manifest.h"
#include "stage/stage.h"

typedef struct km_rundir_s {
  char *dir;    /* owned */
  char *run_id; /* owned: the directory's base name */
  char hash[65];
  bool resumed; /* the directory already had a journal */
} km_rundir_t;

/* SHA-256 over every manifest file read (names and contents). */
int km_manifest_hash(const km_manifest_t *m, char out[65]);

/* Creates requested (NULL: runs/<name>-<UTC>) with the manifest copy and
 * hash, or checks an existing one for resume.  Prints what is wrong. */
int km_rundir_prepare(const km_manifest_t *m, const char *requested,
                      km_rundir_t *rd);
int km_rundir_write_versions(const km_rundir_t *rd, const km_stages_t *stages);
/* Replays earlier records into *prior (new JSON array) and opens the
 * journal for appending. */
int km_rundir_open_journal(km_rundir_t *rd, km_journal_t **j, json_t **prior,
                           km_err_t *err);
void km_rundir_free(km_rundir_t *rd);

#endif
