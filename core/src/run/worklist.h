/* The console worklist: one item per account × region × batch that the
 * operator performs in the KMS 1.0 console (migrate.driver: console; the
 * sim driver's batches are listed too, performed by kmsim).  Items are
 * folded from the migrate stage's journal records (batch_submitted,
 * batch_resumed, batch_seen, batch_done; rotation_restored pauses a
 * waiting item) and from rotation_wait (a
 * scheduled migration that has not reached its rotation lead yet), so a
 * run, a resumed run and `kmsmig status` all see the same list.
 * worklist.c folds, prints and writes worklist.json; worklist_render.c
 * writes worklist.md and worklist.html.  docs/worklist.md has the fields. */
#ifndef KM_RUN_WORKLIST_H
#define KM_RUN_WORKLIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "kmsmig/errors.h"
#include "model/inventory.h"

typedef enum {
  KM_WL_SCHEDULED = 0, /* migrate.when ahead: come back at rotation_at */
  KM_WL_WAITING,       /* rotation is off: do the console step now */
  KM_WL_MIGRATING,     /* detection saw part of the batch in the instance */
  KM_WL_DONE,          /* every resource is in the instance */
  KM_WL_FAILED,        /* the task ended with resources not moved */
  KM_WL_TIMED_OUT,     /* migrate.task_timeout passed */
  KM_WL_REFUSED,       /* the (emulated) console refused the selection */
  KM_WL_PAUSED         /* kmsmig stopped and restored rotation: wait until
                        * a resumed run lists it again (batch_resumed) */
} km_wl_state_t;

typedef struct km_wl_item_s {
  int no;            /* 1, 2, ... in order of appearance */
  char *account;     /* manifest name */
  char *account_id;  /* 16 digits, or NULL (older journal) */
  char *access_role; /* RAM role kmsmig assumes; NULL: own AccessKey */
  char *region;
  char *instance;      /* destination KMS 3.0 instance */
  char *instance_type; /* software | hardware */
  char *token;         /* the batch's client token; NULL while scheduled */
  bool sim;            /* performed by kmsim's emulated console */
  bool set_default;    /* tick "Set as 3.0 Default Instance" */
  bool all_pending;    /* "Keys and Secrets" does it in one step */
  int64_t when;        /* automatic migration at; 0: start now */
  int64_t rotation_at; /* scheduled: rotation goes off (come back) */
  /* The exact key IDs and secret names to select, while the item is open;
   * an ended item keeps only their numbers (the IDs are in report.json:
   * a fleet's worklist holds thousands of ended items). */
  km_inv_strs_t keys;
  km_inv_strs_t secrets;
  size_t nkeys, nsecrets;
  km_wl_state_t state;
  int64_t t_submitted; /* when kmsmig listed the step (rotation off) */
  int64_t t_seen;      /* detection first saw it migrating */
  int64_t t_done;      /* batch_done */
  size_t migrated, failed;
  size_t migrated_keys, migrated_secrets; /* of migrated */
  char *refused;                          /* console code when refused */
} km_wl_item_t;

/* One item's place in the list.  An ended item (done, failed, timed out,
 * refused) is final: it waits in the worklist's temporary file, not in
 * memory (a fleet's list is thousands of ended items: ~40 bytes each
 * here instead of ~400), and keeps here only what the progress line
 * counts.  km_worklist_at reads it back for the files. */
typedef struct km_wl_slot_s {
  km_wl_item_t *it; /* owned; NULL: spilled at off */
  int64_t t_done;   /* the spilled item's, for the progress line */
  uint32_t off;     /* its record in the temporary file */
  int32_t next;     /* the next item of the same pipeline (index), or -1 */
  uint32_t migrated_keys, migrated_secrets;
  uint8_t state; /* km_wl_state_t, of a spilled item */
} km_wl_slot_t;

typedef struct km_worklist_s {
  km_wl_slot_t *v; /* owned */
  size_t n, cap;
  /* "account\nregion" -> its first item; the others follow through
   * item.next (a pipeline has a few batches; a fleet, thousands of
   * pipelines: no scan of every item per journal record). */
  struct km_strmap_s *by_pipe;
  bool rehearsal; /* kmsmig rehearse: every file says so */
  /* The accounts' migration windows (run/waves_render.c: [{account,
   * windows, open_now, next_open, when_moved_to}]), owned; NULL: none. */
  json_t *windows;
  /* The temporary file of ended items (worklist.c), or NULL: none yet. */
  struct km_wl_spill_s *spill;
  /* 1 + the index of the item the last note ended (spilled at the next
   * note); 0: none.  Zero-filled means empty, as for the other fields. */
  size_t ended;
} km_worklist_t;

void km_worklist_init(km_worklist_t *w);
void km_worklist_free(km_worklist_t *w);

/* Folds one journal record: type, and obj holding its fields with
 * "account" and "region" (flat or the envelope's fields; borrowed), at
 * time ts (Unix seconds).  Returns the item it created or changed
 * (borrowed, valid until the next note), or NULL when the record is not
 * about the worklist. */
km_wl_item_t *km_worklist_note(km_worklist_t *w, const char *type,
                               const json_t *obj, int64_t ts);
/* Item i (0 .. n-1): the item in memory, or a spilled one read into
 * *scratch (its strings valid until the next call on w; NULL: a spilled
 * item gives NULL).  NULL also when the temporary file cannot be read. */
const km_wl_item_t *km_worklist_at(const km_worklist_t *w, size_t i,
                                   km_wl_item_t *scratch);
/* Folds an array of journal envelopes {seq, ts, type, fields} (borrowed). */
void km_worklist_note_all(km_worklist_t *w, const json_t *envelopes);
/* Folds the journal of run_dir (read only). */
int km_worklist_load(km_worklist_t *w, const char *run_dir, km_err_t *err);

/* Scheduled, waiting, paused or migrating: the operator still has
 * something to do or to watch. */
bool km_worklist_pending(const km_wl_item_t *it);
const char *km_worklist_state_name(km_wl_state_t s);
/* One short terminal line for it (account, region, instance, what to do,
 * "see worklist.md"), sanitised, into buf. */
void km_worklist_line(const km_wl_item_t *it, char *buf, size_t n);
/* Prints a header and one line per pending console item to out; returns
 * how many (sim items only while scheduled or paused: kmsim clicks, but
 * the operator must run kmsmig again). */
size_t km_worklist_print_pending(const km_worklist_t *w, FILE *out);

/* Times for people: "2026-12-05 10:00 CST (+0800) = 2026-12-05 10:00
 * UTC+8", the operator's local zone first. */
void km_worklist_time(int64_t t, char *buf, size_t n);

/* Writes worklist.json, worklist.md and worklist.html into run_dir (each
 * mode 0600, replaced atomically).  Returns 0 or < 0 with err. */
int km_worklist_write(const km_worklist_t *w, const char *run_dir,
                      km_err_t *err);
/* worklist_render.c: the Markdown and HTML texts, written to out item by
 * item (a fleet's worklist is never one string in memory).  Return 0 or
 * KM_EIO. */
int km__worklist_md(const km_worklist_t *w, FILE *out);
int km__worklist_html(const km_worklist_t *w, FILE *out);

#endif
