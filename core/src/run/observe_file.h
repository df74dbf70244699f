/* <run>/observe.json (observe_file.c; shape in docs/monitor.md). */
#ifndef KM_RUN_OBSERVE_FILE_H
#define KM_RUN_OBSERVE_FILE_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "model/observe.h"

/* Writes dir/observe.json from the n models (borrowed; each with its obs or
 * NULL), manifest (the manifest path as the run was given it) and cwd (the
 * directory it was given in: the run's manifest hash covers the names as
 * given; both may be NULL), keeping the entries of earlier (a previous file,
 * borrowed; may be NULL) that are not among invs.  0 or < 0 with err. */
int km_observe_write(const char *dir, const char *manifest, const char *cwd,
                     km_inv_t *const *invs, size_t n, const json_t *earlier,
                     char generated[21], km_err_t *err);
/* Reads dir/observe.json (*out owned).  KM_ENOENT / KM_EPARSE with err. */
int km_observe_read(const char *dir, json_t **out, km_err_t *err);
/* Gives inv the observation the file holds for its account and region
 * (none: inv unchanged).  0 or KM_EPARSE with err. */
int km_observe_attach(const json_t *doc, km_inv_t *inv, km_err_t *err);
/* The summary line "observe N act M watch" and the act findings (all: the
 * watch ones too), server text cleaned for a terminal. */
void km_observe_print(FILE *f, km_inv_t *const *invs, size_t n, const char *dir,
                      bool all);
/* How many findings are "act". */
size_t km_observe_act(km_inv_t *const *invs, size_t n);

#endif
