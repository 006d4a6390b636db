# install.cmake - libkiln as C users expect it, for `cmake --install BUILD --prefix PREFIX`:
#   bin/kiln                                   the command line (internal libraries linked in statically)
#   lib/libkiln.a                              every object of runtime/, frontend/, ir/, passes/, backends/ and
#                                              the generated ONNX protobuf code in one archive
#   lib/libkiln.so -> .so.0.1 -> .so.0.1.0     the same objects as a shared library, exporting only the
#                                              KN_API functions of kiln.h (-fvisibility=hidden elsewhere)
#   include/kiln.h
#   lib/pkgconfig/kiln.pc                      `pkg-config --cflags --libs kiln`; `--static` adds the
#                                              dependencies libkiln.a needs (Requires.private, Libs.private)
#   lib/cmake/kiln/kilnConfig.cmake            `find_package(kiln)`: the imported target kiln::kiln (shared)
#
# The CMake package exposes the shared library only: it carries its dependencies (OpenBLAS, oneDNN, protobuf-c,
# zlib, OpenMP) as DT_NEEDED entries, so a consumer needs none of them at build time. Static linking is what
# pkg-config --static is for (kiln.pc lists every dependency of libkiln.a).
#
# The SONAME carries major.minor while the major version is 0 (libkiln.so.0.1): before 1.0 a minor release may
# change the ABI. The build tree's own users (the `kiln` command, the tests) keep linking the internal static
# libraries, so nothing here is built twice: both libraries are linked from the same objects.

set(KN_LIB_PARTS kiln kn_frontend kn_onnx_proto kn_passes kn_backends kn_ir)
set(KN_LIB_OBJECTS)
foreach(part ${KN_LIB_PARTS})
  list(APPEND KN_LIB_OBJECTS $<TARGET_OBJECTS:${part}>)
endforeach()

# What the objects need from outside (the same libraries the internal targets link).
set(KN_LIB_DEPS ${KN_OPENBLAS} PkgConfig::PROTOBUF_C ZLIB::ZLIB PkgConfig::PNG PkgConfig::JPEG ${MATH_LIB})
if(KILN_WITH_OPENMP)
  list(APPEND KN_LIB_DEPS OpenMP::OpenMP_C)
endif()
if(KILN_WITH_ONEDNN)
  list(APPEND KN_LIB_DEPS ${DNNL_LIBRARY})
endif()

if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(KN_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(KN_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

add_library(kiln_shared SHARED ${KN_LIB_OBJECTS})
set_target_properties(kiln_shared PROPERTIES
  OUTPUT_NAME kiln EXPORT_NAME kiln
  VERSION ${PROJECT_VERSION} SOVERSION ${KN_SOVERSION}
  LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib
  # the installed library finds OpenBLAS's OpenMP build in its own directory (not the Debian default, the
  # pthreads build, see CMakeLists.txt), as the build tree does
  INSTALL_RPATH_USE_LINK_PATH ON)
target_include_directories(kiln_shared INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(kiln_shared PRIVATE ${KN_LIB_DEPS})
# a shared library with an undefined symbol fails here, not in a user's link
target_link_options(kiln_shared PRIVATE -Wl,--no-undefined)

add_library(kiln_static STATIC ${KN_LIB_OBJECTS})
set_target_properties(kiln_static PROPERTIES OUTPUT_NAME kiln ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
target_include_directories(kiln_static INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>)
target_link_libraries(kiln_static INTERFACE ${KN_LIB_DEPS})

set_target_properties(kiln_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

# ---------------------------------------------------------------- kiln.pc
# Libs.private: the libraries libkiln.a needs that have no .pc of their own, by the paths this build found
# (OpenBLAS's OpenMP build, with a run path to its directory; oneDNN; OpenMP's runtime); Requires.private: the
# ones that have one.
set(KN_PC_LIBS_PRIVATE)
if(KN_OPENBLAS STREQUAL "PkgConfig::OPENBLAS_OMP")
  set(KN_PC_OPENBLAS ${OPENBLAS_OMP_LINK_LIBRARIES})
else()
  set(KN_PC_OPENBLAS ${OPENBLAS_LINK_LIBRARIES})
endif()
foreach(lib ${KN_PC_OPENBLAS})
  get_filename_component(dir ${lib} DIRECTORY)
  string(APPEND KN_PC_LIBS_PRIVATE " ${lib} -Wl,-rpath,${dir}")
endforeach()
if(KILN_WITH_ONEDNN)
  string(APPEND KN_PC_LIBS_PRIVATE " ${DNNL_LIBRARY}")
endif()
if(KILN_WITH_OPENMP)
  foreach(name ${OpenMP_C_LIB_NAMES})
    string(APPEND KN_PC_LIBS_PRIVATE " -l${name}")
  endforeach()
endif()
string(APPEND KN_PC_LIBS_PRIVATE " -lm")
string(STRIP "${KN_PC_LIBS_PRIVATE}" KN_PC_LIBS_PRIVATE)
# relocatable: the prefix is found from the .pc file's own place, so `cmake --install --prefix` anywhere works
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(KN_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH KN_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" KN_PC_UP "${KN_PC_UP}")
  set(KN_PC_PREFIX "\${pcfiledir}/${KN_PC_UP}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/kiln.pc.in ${PROJECT_BINARY_DIR}/kiln.pc @ONLY)

# ------------------------------------------------------------ CMake package
include(CMakePackageConfigHelpers)
set(KN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kiln)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/kilnConfig.cmake.in ${PROJECT_BINARY_DIR}/kilnConfig.cmake
                              INSTALL_DESTINATION ${KN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

# ----------------------------------------------------------------- install
install(TARGETS kiln_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS kiln_shared EXPORT kilnTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS kiln_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/kiln.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/kiln.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(EXPORT kilnTargets NAMESPACE kiln:: DESTINATION ${KN_CMAKE_DIR})
install(FILES ${PROJECT_BINARY_DIR}/kilnConfig.cmake ${PROJECT_BINARY_DIR}/kilnConfigVersion.cmake
        DESTINATION ${KN_CMAKE_DIR})
