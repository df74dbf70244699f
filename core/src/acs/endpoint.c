/* The products kmsmig talks to: their API versions and public endpoints.
 * Regional products put the region in the host name, so a region string is
 * validated before it can reach a URL (lowercase letters, digits and '-',
 * as every Alibaba Cloud region id is spelled: cn-hangzhou,
 * cn-shanghai-finance-1, ap-southeast-1). */
#include <stdio.h>
#include <string.h>

#include "acs/acs.h"

typedef struct {
  const char *name;
  const char *version;
  const char *host_prefix; /* "<prefix>.<region>.aliyuncs.com" when regional */
  int regional;
} product_info_t;

static const product_info_t products[KM_PRODUCT__COUNT] = {
    [KM_PRODUCT_KMS] = {"kms", "2016-01-20", "kms", 1},
    [KM_PRODUCT_STS] = {"sts", "2015-04-01", "sts", 0},
    [KM_PRODUCT_RESOURCEMANAGER] = {"resourcemanager", "2020-03-31",
                                    "resourcemanager", 0},
    [KM_PRODUCT_RESOURCESHARING] = {"resourcesharing", "2020-01-10",
                                    "resourcesharing", 1},
    /* CloudMonitor's endpoint is named "metrics", not "cms" (SDK
     * endpointMap). */
    [KM_PRODUCT_CMS] = {"cms", "2019-01-01", "metrics", 1},
    [KM_PRODUCT_ACTIONTRAIL] = {"actiontrail", "2020-07-06", "actiontrail", 1},
};

const char *km_product_name(km_product_t p) {
  if ((unsigned)p >= KM_PRODUCT__COUNT) return "unknown";
  return products[p].name;
}

int km_product_from_name(const char *name, km_product_t *out) {
  if (name == NULL) return KM_EINVAL;
  for (int i = 0; i < KM_PRODUCT__COUNT; i++) {
    if (strcmp(products[i].name, name) == 0) {
      *out = (km_product_t)i;
      return 0;
    }
  }
  return KM_EINVAL;
}

const char *km_product_version(km_product_t p) {
  if ((unsigned)p >= KM_PRODUCT__COUNT) return NULL;
  return products[p].version;
}

int km_region_valid(const char *region) {
  if (region == NULL || region[0] == '\0' || strlen(region) > 64) return 0;
  /* No leading, trailing or doubled '-': a host label must stay valid. */
  if (region[0] == '-' || region[strlen(region) - 1] == '-' ||
      strstr(region, "--") != NULL)
    return 0;
  for (const char *c = region; *c != '\0'; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
      return 0;
  return 1;
}

int km_product_host(km_product_t p, const char *region, char *out, size_t n) {
  if ((unsigned)p >= KM_PRODUCT__COUNT || out == NULL || n == 0)
    return KM_EINVAL;
  int len;
  if (products[p].regional) {
    if (!km_region_valid(region)) return KM_EINVAL;
    len =
        snprintf(out, n, "%s.%s.aliyuncs.com", products[p].host_prefix, region);
  } else {
    len = snprintf(out, n, "%s.aliyuncs.com", products[p].host_prefix);
  }
  if (len < 0 || (size_t)len >= n) {
    out[0] = '\0';
    return KM_EINVAL;
  }
  return 0;
}
