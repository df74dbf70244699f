/* Run locks across runs: one lock file per account × region in the
 * manifest's locks.dir (see locks.c, docs/plan.md "Locks"). */
#ifndef KM_RUN_LOCKS_H
#define KM_RUN_LOCKS_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "journal/journal.h"

/* What a lock file says (format "kmsmig-lock", version 1).  Every string
 * owned; control characters are replaced when read (the file is shown on
 * a terminal). */
typedef struct km_lock_info_s {
  char *token;   /* the run directory's lock id (RUN_DIR/lock.id) */
  char *run_id;  /* the run directory's base name */
  char *run_dir; /* absolute, as the holder saw it */
  char *host;
  long pid;
  char *since; /* ISO-8601 UTC */
  char *account, *account_id, *region;
  char *plan_sha256; /* NULL: not a saved plan's run */
  char *shard;       /* "K/N", NULL without --shard */
} km_lock_info_t;

/* JSON text of a lock file (owned, newline-terminated). */
char *km_lock_format(const km_lock_info_t *li);
/* Parses a lock file's text; 0, or KM_EPARSE with what is wrong in err
 * (text borrowed, *out filled with owned strings: km_lock_info_free). */
int km_lock_parse(const char *text, km_lock_info_t *out, km_err_t *err);
void km_lock_info_free(km_lock_info_t *li);
/* The lock file's base name of an account × region (owned):
 * "<account_id>.<region>.lock", any other byte than [A-Za-z0-9._-] as _. */
char *km_lock_name(const char *account_id, const char *region);

/* The locks one run holds. */
typedef struct km_locks_s {
  char *dir;      /* owned; NULL: no locks.dir */
  char token[33]; /* this run directory's lock id */
  char **held;    /* owned lock file paths this run owns */
  size_t nheld;
} km_locks_t;

typedef struct km_locks_opts_s {
  const char *dir;           /* locks.dir (borrowed) */
  const char *run_dir;       /* borrowed */
  const char *run_id;        /* borrowed */
  const char *plan_sha256;   /* borrowed, or NULL */
  unsigned shard_k, shard_n; /* 1/1 without --shard */
  bool break_lock;           /* --break-lock */
  bool yes;                  /* --yes: no confirmation asked */
  km_journal_t *journal;     /* lock_broken records (borrowed) */
} km_locks_opts_t;

/* Takes the lock of every distinct account × region of targets, all or
 * nothing, re-owning the ones this run directory held before (a resume).
 * A lock held by another run is refused (KM_EBUSY; printed, naming the
 * holder, its host, pid and since when, and whether it looks stale), or
 * with break_lock, after a confirmation (KM_EINVAL when none can be had:
 * printed), journalled as lock_broken and taken over.  On a refusal the
 * locks taken by this call are released again.  KM_EIO: the folder is
 * missing or unwritable (printed). */
int km_locks_take(km_locks_t *l, const km_locks_opts_t *o,
                  const km_target_t *targets, size_t ntargets);
/* The run is over: removes each held lock file still naming this run's
 * token (a lock another run broke is left to it).  Frees l. */
void km_locks_release(km_locks_t *l);
/* Frees l and leaves the files: a run that did not finish keeps its locks
 * for its resume. */
void km_locks_keep(km_locks_t *l);
/* Plan mode takes no lock: it warns, for each target another run holds,
 * that a run now would be refused. */
void km_locks_warn(const char *dir, const km_target_t *targets,
                   size_t ntargets);

#endif
