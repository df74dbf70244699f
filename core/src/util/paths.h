/* Where kmsmig's own files are, found from the running binary: the install
 * prefix (the parent of the folder holding the executable), the data folder
 * (built-in Lua hooks, kmsim's test CA and fixtures) and the folder of
 * installed third-party plugins.  Nothing depends on the configured
 * CMAKE_INSTALL_PREFIX, so an installed tree can be moved or copied.
 *
 *   <prefix>/bin/kmsmig
 *   <prefix>/share/kmsmig/lua/...        km_path_data("lua")
 *   <prefix>/share/kmsmig/sim/...        km_path_data("sim/tls")
 *   <prefix>/lib/kmsmig/plugins/         km_path_plugins()
 */
#ifndef KM_UTIL_PATHS_H
#define KM_UTIL_PATHS_H

/* The install prefix of the running binary: the parent of the directory of
 * /proc/self/exe ("/usr/local" for /usr/local/bin/kmsmig).  Borrowed, valid
 * for the life of the process; NULL when /proc/self/exe cannot be read. */
const char *km_path_prefix(void);

/* An owned path (free it) to rel (a path relative to the data folder; NULL
 * or "" for the folder itself): the first that exists of
 *   1. $KMSMIG_DATA_DIR/rel                      (when the variable is set)
 *   2. <prefix>/share/kmsmig/rel                 (an installed tree)
 *   3. KM_SOURCE_DIR/rel, only when the binary runs from a build tree of
 *      this source (its path is under KM_SOURCE_DIR, or a CMakeCache.txt in
 *      one of the 4 folders above it names KM_SOURCE_DIR as its source).
 * NULL when none exists. */
char *km_path_data(const char *rel);

/* An owned path (free it) to <prefix>/lib/kmsmig/plugins, the folder where
 * installed third-party plugins go (pkg-config --variable=plugindir
 * kmsmig-plugin); NULL when the prefix is unknown or the folder does not
 * exist. */
char *km_path_plugins(void);

#endif
