# The installed library: `cmake --install` into a temporary prefix, then examples/classify.c built against it
# with pkg-config (shared and --static) and with CMake (find_package(kiln)), each run on a digit
# (tests/install/check_install.sh). An instrumented build passes its sanitizer flags to the example.
set(KN_INSTALL_CFLAGS)
if(KILN_SANITIZE)
  set(KN_INSTALL_CFLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
endif()
add_test(NAME install_example
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}
                 ${KN_INSTALL_CFLAGS})
set_tests_properties(install_example PROPERTIES LABELS install
  ENVIRONMENT "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
