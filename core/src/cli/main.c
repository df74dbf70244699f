/* kmsmig entry point: dispatches `kmsmig <command> [options]` to the command
 * functions and prints the top-level help with the exit codes.
 *
 * Before anything else it makes the process undumpable: its memory holds
 * AccessKey secrets and STS tokens, and a core file (or another process of
 * the same user attaching with ptrace) would carry them to disk. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli.h"
#include "kmsmig/version.h"

static int cmd_version(int argc, char **argv);
static void usage_version(void);
static int cmd_help(int argc, char **argv);
static void usage_help(void);

static const km_cmd_t commands[] = {
    {"validate", "check a manifest; no cloud call", km__cmd_validate,
     km__usage_validate},
    {"plan", "show what a run would do (read-only; the default safe action)",
     km__cmd_plan, km__usage_plan},
    {"run", "migrate keys and secrets as planned; resumable", km__cmd_run,
     km__usage_run},
    {"rehearse",
     "run the migration against a local kmsim copy of the fleet first",
     km__cmd_rehearse, km__usage_rehearse},
    {"status", "show the progress of a run directory", km__cmd_status,
     km__usage_status},
    {"report", "print or render a run's report", km__cmd_report,
     km__usage_report},
    {"verify-journal", "check a run's journal chain (tampering, lost records)",
     km__cmd_verify_journal, km__usage_verify_journal},
    {"terraform", "write the Terraform changes of a finished run",
     km__cmd_terraform, km__usage_terraform},
    {"observe", "observe the gateways of a finished run again", km__cmd_observe,
     km__usage_observe},
    {"byok", "wrap and import HSM BYOK key material", km__cmd_byok,
     km__usage_byok},
    {"version", "print the version", cmd_version, usage_version},
    {"help", "show help for a command", cmd_help, usage_help},
};

int km__is_help(const char *arg) {
  return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

static const km_cmd_t *find_cmd(const char *name) {
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static void usage_main(FILE *fp) {
  fprintf(fp, "usage: kmsmig <command> [options]\n\n"
              "Move Alibaba Cloud KMS 1.0 keys and secrets into KMS 3.0 "
              "instances,\nfor many accounts and regions at once, from one "
              "manifest.\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(fp, "  %-14s %s\n", commands[i].name, commands[i].summary);
  fprintf(fp, "\n`kmsmig <command> --help` describes each command.\n\n"
              "exit codes:\n"
              "  0  success: everything planned was done\n"
              "  1  the run finished with failed resources or accounts\n"
              "  2  usage or manifest error: nothing was called\n"
              "  3  blocked by preflight: nothing was changed\n"
              "  4  interrupted: resume with `kmsmig run --run-dir DIR`\n"
              "  5  refused by a lock: another run uses these accounts "
              "(nothing changed)\n"
              "  70 internal error (resumable)\n");
}

static void usage_version(void) {
  printf("usage: kmsmig version\n\nPrints the kmsmig version.\n");
}

static int cmd_version(int argc, char **argv) {
  (void)argv;
  if (argc > 1 && km__is_help(argv[1])) {
    usage_version();
    return KM_EXIT_OK;
  }
  printf("kmsmig %s\n", KM_VERSION_STRING);
  return KM_EXIT_OK;
}

static void usage_help(void) {
  printf("usage: kmsmig help [command]\n");
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    usage_main(stdout);
    return KM_EXIT_OK;
  }
  const km_cmd_t *c = find_cmd(argv[1]);
  if (c == NULL) {
    fprintf(stderr, "kmsmig: unknown command '%s'; see `kmsmig help`\n",
            argv[1]);
    return KM_EXIT_USAGE;
  }
  c->usage();
  return KM_EXIT_OK;
}

/* No core file, and not dumpable: RLIMIT_CORE 0 alone could be raised again
 * from outside (prlimit), PR_SET_DUMPABLE 0 also keeps the kernel from
 * writing one and refuses ptrace to non-root peers.  A failure is reported
 * and stops the command: running with secrets that may reach a core file is
 * not a safe default. */
static int no_core_dumps(void) {
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_CORE, &rl) != 0) {
    perror("kmsmig: cannot disable core dumps (setrlimit RLIMIT_CORE)");
    return -1;
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    perror("kmsmig: cannot disable core dumps (prctl PR_SET_DUMPABLE)");
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (no_core_dumps() != 0) return KM_EXIT_INTERNAL;
  if (argc < 2) {
    usage_main(stderr);
    return KM_EXIT_USAGE;
  }
  if (km__is_help(argv[1])) {
    usage_main(stdout);
    return KM_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) return cmd_version(1, argv + 1);
  const km_cmd_t *c = find_cmd(argv[1]);
  if (c == NULL) {
    fprintf(stderr, "kmsmig: unknown command '%s'; see `kmsmig help`\n",
            argv[1]);
    return KM_EXIT_USAGE;
  }
  return c->run(argc - 1, argv + 1);
}
