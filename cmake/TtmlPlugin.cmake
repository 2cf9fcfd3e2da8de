# ttml_add_plugin(NAME KIND SOURCES...)
#   KIND is "driver" or "plugin"; builds lib/ttml/<kind>s/libttml_<NAME>.so,
#   exporting only ttml_plugin_<NAME>_get_desc, with RUNPATH $ORIGIN/../..
#   (the lib/ directory holding libttml.so).
function(ttml_add_plugin name kind)
  set(target ttml_${kind}_${name})
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "ttml_${name}"
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib/${TTML_PLUGIN_SUBDIR}/${kind}s
    INSTALL_RPATH "$ORIGIN/../..")
  target_link_libraries(${target} PRIVATE ttml PkgConfig::GLIB m)
  install(TARGETS ${target} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/${TTML_PLUGIN_SUBDIR}/${kind}s)
  set(TTML_LAST_PLUGIN_TARGET ${target} PARENT_SCOPE)
endfunction()
