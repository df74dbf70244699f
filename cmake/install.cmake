# Install rules: `cmake --install BUILD [--prefix DIR]` lays out an SDK that
# works from any prefix (the binary finds its files from its own path,
# core/src/util/paths.h):
#   bin/kmsmig, bin/kmsim                 (kmsim only when it was built)
#   share/kmsmig/lua/                     the built-in Lua hooks
#   share/kmsmig/sim/{tls,fixtures}/      kmsim's test-only CA and fixtures
#   share/kmsmig/plugin.map               version script for plugins
#   include/kmsmig/*.h                    the public headers (plugin ABI)
#   lib/pkgconfig/kmsmig-plugin.pc        for plugin builds (pkg-config)
#   lib/kmsmig/plugins/                   where third-party plugins go
#   share/man/man1/kmsmig.1, man5/kmsmig-manifest.5
#   share/doc/kmsmig/examples/plugin/     an out-of-tree plugin
# The plugins folder is lib/kmsmig/plugins whatever CMAKE_INSTALL_LIBDIR is
# (lib/<multiarch> under /usr on Debian): the binary looks there.
include(GNUInstallDirs)

set(KM_INSTALL_PKGDATADIR ${CMAKE_INSTALL_DATADIR}/kmsmig)
set(KM_INSTALL_PLUGINDIR lib/kmsmig/plugins)

install(TARGETS kmsmig RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET kmsim)
  install(TARGETS kmsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(FILES sim/tls/ca.pem sim/tls/server.pem sim/tls/server.key
                sim/tls/README.md
          DESTINATION ${KM_INSTALL_PKGDATADIR}/sim/tls)
  install(DIRECTORY sim/fixtures/ DESTINATION ${KM_INSTALL_PKGDATADIR}/sim/fixtures
          FILES_MATCHING PATTERN "*.yaml")
endif()

install(DIRECTORY lua/ DESTINATION ${KM_INSTALL_PKGDATADIR}/lua
        FILES_MATCHING PATTERN "*.lua")
install(FILES plugins/plugin.map DESTINATION ${KM_INSTALL_PKGDATADIR})
install(DIRECTORY core/include/kmsmig DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(DIRECTORY DESTINATION ${KM_INSTALL_PLUGINDIR})

# kmsmig-plugin.pc: relative to its own folder (${pcfiledir}), so the
# installed tree can be moved; absolute only for an absolute LIBDIR.
file(STRINGS ${CMAKE_SOURCE_DIR}/core/include/kmsmig/plugin.h KM_ABI_LINES
     REGEX "^#define KM_PLUGIN_ABI_(MAJOR|MINOR) [0-9]+")
foreach(line ${KM_ABI_LINES})
  if(line MATCHES "^#define KM_PLUGIN_ABI_(MAJOR|MINOR) ([0-9]+)")
    set(KM_PLUGIN_ABI_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(KM_PC_PREFIX_REL "")
  set(KM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH KM_PC_PREFIX_REL
       "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig"
       "${CMAKE_INSTALL_PREFIX}")
  string(REGEX REPLACE "/+$" "" KM_PC_PREFIX_REL "${KM_PC_PREFIX_REL}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/kmsmig-plugin.pc.in
               ${CMAKE_BINARY_DIR}/kmsmig-plugin.pc @ONLY)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  # No relocation possible: write the prefix itself.
  file(READ ${CMAKE_BINARY_DIR}/kmsmig-plugin.pc KM_PC_TEXT)
  string(REPLACE "\${pcfiledir}/" "${KM_PC_PREFIX}" KM_PC_TEXT "${KM_PC_TEXT}")
  file(WRITE ${CMAKE_BINARY_DIR}/kmsmig-plugin.pc "${KM_PC_TEXT}")
endif()
install(FILES ${CMAKE_BINARY_DIR}/kmsmig-plugin.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(FILES docs/man/kmsmig.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES docs/man/kmsmig-manifest.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

install(FILES examples/plugin/freeze.c examples/plugin/CMakeLists.txt
              examples/plugin/Makefile examples/plugin/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/plugin)
