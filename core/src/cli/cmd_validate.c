/* `kmsmig validate MANIFEST`: placeholder until the manifest module lands. */
#include <stdio.h>

#include "cli.h"

void km__usage_validate(void) {
  printf("usage: kmsmig validate MANIFEST\n");
}

int km__cmd_validate(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return KM_EXIT_NOTBUILT;
}
