/* The one table of cloud actions kmsmig or a hook may call, each classified
 * (engine/actions.c).  The host consults it for every call: plan mode sends
 * only reads, hooks never read secret values, and an action the table does
 * not know is refused. */
#ifndef KM_ENGINE_ACTIONS_H
#define KM_ENGINE_ACTIONS_H

#include <stddef.h>

typedef enum {
  KM_ACT_UNKNOWN = 0, /* not in the table: refused */
  KM_ACT_READ,        /* reads metadata; the only class plan mode sends */
  KM_ACT_WRITE,       /* changes something in the cloud */
  KM_ACT_CRYPTO,      /* uses a key (Encrypt, Decrypt, data keys): not a read */
  KM_ACT_SECRET       /* returns secret material: never from a hook */
} km_act_class_t;

/* The class of product/action (borrowed), by exact, case-sensitive name. */
km_act_class_t km_action_class(const char *product, const char *action);
const char *km_action_class_name(km_act_class_t c);

/* The table itself, for the tests that hold other tables to it (every
 * action has an API group: tests/unit/test_ratelimit.c).  i < count;
 * the strings are static. */
size_t km_action_count(void);
void km_action_at(size_t i, const char **product, const char **action,
                  km_act_class_t *cls);

#endif
