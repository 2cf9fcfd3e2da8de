# ttml_add_plugin(NAME KIND SOURCES...)
#   KIND is "driver" or "plugin"; builds lib/ttml/<kind>s/libttml_<NAME>.so,
#   exporting only ttml_plugin_<NAME>_get_desc, with RUNPATH $ORIGIN/../..
#   (the lib/ directory holding libttml.so).
#
#   With BUILD_SHARED_LIBS=OFF the plugin is an OBJECT library instead whose
#   objects go into libttml.a; NAME is recorded in the global property
#   TTML_BUILTIN_PLUGINS and the top-level CMakeLists.txt generates
#   builtin_plugins.c, the table of ttml_plugin_<NAME>_get_desc entries that
#   core/plugins/loader.c loads (same descriptor checks and init, no dlopen).
#   Either way ${TTML_LAST_PLUGIN_TARGET} names the target for extra
#   compile options and link libraries (the latter end up on libttml.a).
function(ttml_add_plugin name kind)
  set(target ttml_${kind}_${name})
  if(NOT BUILD_SHARED_LIBS)
    add_library(${target} OBJECT ${ARGN})
    set_target_properties(${target} PROPERTIES C_VISIBILITY_PRESET hidden)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(${target} PRIVATE PkgConfig::GLIB m)
    target_sources(ttml PRIVATE $<TARGET_OBJECTS:${target}>)
    set_property(GLOBAL APPEND PROPERTY TTML_BUILTIN_PLUGINS ${name})
    set_property(GLOBAL APPEND PROPERTY TTML_BUILTIN_TARGETS ${target})
    set(TTML_LAST_PLUGIN_TARGET ${target} PARENT_SCOPE)
    return()
  endif()
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

# ttml_generate_builtins(): after every plugin was added, write
# builtin_plugins.c (empty table in a shared build), add it to libttml, and
# give libttml the link libraries of the built-in plugins.
function(ttml_generate_builtins)
  get_property(names GLOBAL PROPERTY TTML_BUILTIN_PLUGINS)
  get_property(targets GLOBAL PROPERTY TTML_BUILTIN_TARGETS)
  set(TTML_BUILTIN_DECLS "")
  set(TTML_BUILTIN_ENTRIES "")
  foreach(n IN LISTS names)
    string(APPEND TTML_BUILTIN_DECLS "const ttml_plugin_desc *ttml_plugin_${n}_get_desc(void);\n")
    string(APPEND TTML_BUILTIN_ENTRIES "    {\"${n}\", ttml_plugin_${n}_get_desc},\n")
  endforeach()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/builtin_plugins.c.in ${PROJECT_BINARY_DIR}/builtin_plugins.c @ONLY)
  target_sources(ttml PRIVATE ${PROJECT_BINARY_DIR}/builtin_plugins.c)
  set(all_libs "")
  foreach(t IN LISTS targets)
    get_target_property(libs ${t} LINK_LIBRARIES)
    if(libs)
      list(APPEND all_libs ${libs})
    endif()
  endforeach()
  if(all_libs)
    list(REMOVE_DUPLICATES all_libs)
    target_link_libraries(ttml PRIVATE ${all_libs})
  endif()
endfunction()
