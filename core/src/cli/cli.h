/* The kmsmig command line: one function per command, the shared exit codes
 * and small helpers for option parsing. */
#ifndef KM_CLI_H
#define KM_CLI_H

/* Exit codes (documented in docs/cli.md and `kmsmig help`). */
enum {
  KM_EXIT_OK = 0,          /* everything planned was done */
  KM_EXIT_FAILURES = 1,    /* finished, with failed resources or accounts */
  KM_EXIT_USAGE = 2,       /* usage or manifest error; nothing was called */
  KM_EXIT_BLOCKED = 3,     /* blocked by preflight; nothing was changed */
  KM_EXIT_INTERRUPTED = 4, /* interrupted; resumable with --run-dir */
  KM_EXIT_INTERNAL = 70    /* internal error; resumable */
};

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
int km__cmd_byok(int argc, char **argv);
void km__usage_byok(void);

/* 1 when arg is -h or --help. */
int km__is_help(const char *arg);

#endif
