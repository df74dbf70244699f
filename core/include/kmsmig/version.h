/* kmsmig release version.  The plugin ABI has its own version in plugin.h. */
#ifndef KMSMIG_VERSION_H
#define KMSMIG_VERSION_H

#define KM_VERSION_MAJOR 0
#define KM_VERSION_MINOR 1
#define KM_VERSION_PATCH 0
#define KM_VERSION_STRING "0.1.0"
#define KM_VERSION_HEX                                                         \
  ((KM_VERSION_MAJOR << 16) | (KM_VERSION_MINOR << 8) | KM_VERSION_PATCH)

#endif
