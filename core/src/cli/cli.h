/* The kmsmig command line: one function per command and small helpers for
 * option parsing.  Commands parse arguments and print; assembling and
 * running a migration is the core's (core/src/run). */
#ifndef KM_CLI_H
#define KM_CLI_H

/* The exit codes (KM_EXIT_*) are the run's outcomes: run/runtime.h. */
#include "run/runtime.h"

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
int km__cmd_observe(int argc, char **argv);
void km__usage_observe(void);
/* cmd_observe.c: writes <run>/observe.json at the end of a run and prints
 * its summary line (monitor enabled; models borrowed). */
void km__observe_after_run(km_runtime_t *rt, km_inv_t *const *invs, size_t n);
int km__cmd_byok(int argc, char **argv);
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

/* 1 when arg is -h or --help. */
int km__is_help(const char *arg);

#endif
