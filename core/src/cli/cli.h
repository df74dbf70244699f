/* The kmsmig command line: one function per command and small helpers for
 * option parsing.  Commands parse arguments and print; assembling and
 * running a migration is the core's (core/src/run). */
#ifndef KM_CLI_H
#define KM_CLI_H

/* The exit codes (KM_EXIT_*) are the run's outcomes: run/runtime.h. */
#include <stdbool.h>

#include <uv.h>

#include "run/runtime.h"
#include "engine/report.h"

typedef struct km_cmd_s {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  void (*usage)(void);
} km_cmd_t;

int km__cmd_validate(int argc, char **argv);
void km__usage_validate(void);
int km__cmd_plan(int argc, char **argv);
void km__usage_plan(void);
int km__cmd_run(int argc, char **argv);
void km__usage_run(void);
int km__cmd_status(int argc, char **argv);
void km__usage_status(void);
int km__cmd_report(int argc, char **argv);
void km__usage_report(void);
int km__cmd_verify_journal(int argc, char **argv);
void km__usage_verify_journal(void);
int km__cmd_terraform(int argc, char **argv);
void km__usage_terraform(void);
/* cmd_terraform.c: the end of `kmsmig run` writes <dir>/terraform/ from
 * invs (borrowed; neither they nor dir may change until the wait) into *tf
 * (initialised here; the caller frees it after the wait).  The files are
 * written on a thread of their own while the caller reads the journal for
 * the report (both take a few tenths of a second at 200 pipelines); a
 * start that cannot make the thread writes them at once.  The wait joins
 * it; on failure it prints the error and the command that writes the files
 * again, and returns < 0.  Every start is followed by one wait. */
struct km_tf_set_s;
typedef struct km__tf_handoff_s {
  struct km_tf_set_s *tf;
  char *out;
  int rc;
  bool threaded;
  uv_thread_t thread;
  km_err_t err;
  char *dir;
} km__tf_handoff_t;
void km__terraform_handoff_start(km__tf_handoff_t *h, km_inv_t *const *invs,
                                 size_t n, const char *dir,
                                 struct km_tf_set_s *tf);
int km__terraform_handoff_wait(km__tf_handoff_t *h);
/* The summary's line naming the files, when there are any. */
void km__terraform_print(const struct km_tf_set_s *tf);
int km__cmd_observe(int argc, char **argv);
void km__usage_observe(void);
/* cmd_observe.c: writes <run>/observe.json at the end of a run, before
 * report.json reads it (monitor enabled; models borrowed); false when it
 * could not (the error is printed). */
bool km__observe_after_run(km_runtime_t *rt, km_inv_t *const *invs, size_t n,
                           char generated[21]);
/* The summary's observe line and the "act" findings. */
void km__observe_print_run(km_runtime_t *rt, km_inv_t *const *invs, size_t n);
int km__cmd_byok(int argc, char **argv);
void km__usage_rehearse(void);
int km__cmd_rehearse(int argc, char **argv);
/* The body of `run` after the confirmation (o and po borrowed; o->rehearse
 * set: marked as a rehearsal, no resume advice; po: what the terminal
 * shows, cli/progress.h).  *wall_s (may be NULL) gets the engine's wall
 * time.  Returns the exit code. */
struct km_progress_opts_s;
int km__run_migration(const km_runtime_opts_t *o,
                      const struct km_progress_opts_s *po, bool verbose,
                      double *wall_s);
/* plan MANIFEST --export-fixture FIXTURE (prints the plan); the plan's
 * exit code, 1 when the fixture was not written. */
int km__plan_export(const char *manifest, const char *fixture,
                    const char *plugins_dir, bool allow_include_outside);
void km__usage_byok(void);

/* summary.c: the end-of-run text (report: borrowed, a report.json or the
 * summary km_report_write_run returns). */
json_int_t km__jint(const json_t *o, const char *a, const char *b);
void km__print_summary(const json_t *rep, const char *run_dir, double secs);
/* run --plan: what the plan did not know and the pipelines it no longer
 * fits, with the command that refreshes it. */
void km__print_plan_notes(km_inv_t *const *invs, size_t n, const char *manifest,
                          const char *plan);
/* The one next step that does something for exit code ec (resume, retry
 * what failed, restore rotation), naming plan and shard when given. */
void km__print_advice(int ec, const json_t *rep, const char *manifest,
                      const char *dir, const char *plan, const char *shard);

/* cmd_report.c: dir's report.html and report.md (0600, atomic), rendered
 * from what km_report_write_run writes: give it km__report_docs_head and
 * km__report_docs_pipe (km_report_meta_t.on_head, on_pipe; ud the docs),
 * and the Terraform hand-off km__report_docs_tf (km_tf_report_t), then
 * end writes the files.  b (borrowed) is filled by the writer before the
 * head (the batch chart's scale); tf (stolen, may be NULL) is the head's
 * "terraform" (km_tf_report_head).  A failure to render never stops
 * report.json: end returns it (< 0 with err).  Freed by free. */
typedef struct km__report_docs_s km__report_docs_t;
km__report_docs_t *
km__report_docs_new(const char *dir, const km_report_batches_t *b, json_t *tf);
void km__report_docs_head(const json_t *head, void *ud);
void km__report_docs_pipe(const json_t *p, size_t i, void *ud);
void km__report_docs_tf(const json_t *res, void *ud);
int km__report_docs_end(km__report_docs_t *d, km_err_t *err);
void km__report_docs_free(km__report_docs_t *d);

/* 1 when arg is -h or --help. */
int km__is_help(const char *arg);

#endif
