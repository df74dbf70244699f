/* Commands whose options exist but whose work is not built yet (the engine,
 * reporting and BYOK issues).  Each parses its options, so scripts can be
 * written against the final interface, and says plainly what is missing. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int not_built(const char *cmd, const char *issue, int argc,
                     char **argv, void (*usage)(void)) {
  for (int i = 1; i < argc; i++) {
    if (km__is_help(argv[i])) {
      usage();
      return KM_EXIT_OK;
    }
  }
  fprintf(stderr,
          "kmsmig %s: not built yet in this version (%s); "
          "`kmsmig validate MANIFEST` works today\n",
          cmd, issue);
  return KM_EXIT_NOTBUILT;
}

void km__usage_plan(void) {
  printf("usage: kmsmig plan MANIFEST [--output text|json] [--shard K/N]\n\n"
         "Discovers every account and region of MANIFEST and prints what a "
         "run would\nmigrate, skip or refuse, with reasons.  Read-only.\n");
}

int km__cmd_plan(int argc, char **argv) {
  return not_built("plan", "the migration engine", argc, argv,
                   km__usage_plan);
}

void km__usage_run(void) {
  printf("usage: kmsmig run MANIFEST [--yes] [--run-dir DIR] "
         "[--rerun-failed] [--shard K/N]\n\n"
         "Migrates keys and secrets as planned.  Asks for confirmation on a "
         "TTY unless\n--yes.  With --run-dir on an existing run directory, "
         "resumes it.\n");
}

int km__cmd_run(int argc, char **argv) {
  return not_built("run", "the migration engine", argc, argv, km__usage_run);
}

void km__usage_status(void) {
  printf("usage: kmsmig status RUN_DIR\n\n"
         "Shows the progress of a run from its journal.\n");
}

int km__cmd_status(int argc, char **argv) {
  return not_built("status", "the migration engine", argc, argv,
                   km__usage_status);
}

void km__usage_report(void) {
  printf("usage: kmsmig report RUN_DIR [--output text|json|html]\n\n"
         "Prints a run's report.\n");
}

int km__cmd_report(int argc, char **argv) {
  return not_built("report", "the migration engine", argc, argv,
                   km__usage_report);
}
