# Installed SDK files: lib/pkgconfig/ttml.pc and lib/cmake/ttml/ (ttmlConfig,
# its version file and the exported target ttml::ttml). Both are relocatable.
include(CMakePackageConfigHelpers)

if(BUILD_SHARED_LIBS)
  set(TTML_LIBRARY_TYPE SHARED)
  set(TTML_PC_PLUGIN_LDFLAGS "-L\${libdir} -lttml")
  set(TTML_PC_REQUIRES_PRIVATE "")
  set(TTML_PC_LIBS_PRIVATE "")
  set(TTML_CONFIG_STATIC_DEPS "")
else()
  set(TTML_LIBRARY_TYPE STATIC)
  set(TTML_PC_PLUGIN_LDFLAGS "")
  set(TTML_PC_REQUIRES_PRIVATE "yaml-0.1 hwloc")
  set(TTML_PC_LIBS_PRIVATE "-lm -ldl -pthread")
  set(TTML_CONFIG_STATIC_DEPS "\"YAML yaml-0.1\" \"HWLOC hwloc\"")
endif()
string(TOLOWER ${TTML_LIBRARY_TYPE} TTML_LIBRARY_TYPE_LC)

set(TTML_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH TTML_PC_PREFIX_FROM_PCDIR ${CMAKE_INSTALL_PREFIX}/${TTML_PC_DIR} ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" TTML_PC_PREFIX_FROM_PCDIR "${TTML_PC_PREFIX_FROM_PCDIR}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/ttml.pc.in ${PROJECT_BINARY_DIR}/ttml.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ttml.pc DESTINATION ${TTML_PC_DIR})

set(TTML_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ttml)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ttmlConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ttmlConfig.cmake
  INSTALL_DESTINATION ${TTML_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ttmlConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ttmlConfig.cmake ${PROJECT_BINARY_DIR}/ttmlConfigVersion.cmake
  DESTINATION ${TTML_CMAKE_DIR})
install(EXPORT ttmlTargets NAMESPACE ttml:: FILE ttmlTargets.cmake DESTINATION ${TTML_CMAKE_DIR})

# The out-of-tree plugin example, to copy (built only against an install).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/third_party_op DESTINATION ${CMAKE_INSTALL_DATADIR}/ttml/examples)
