# The oneDNN backend's parity tests (tests/dnnl/test_dnnl.c), only with -DKILN_WITH_ONEDNN=ON.
if(KILN_WITH_ONEDNN)
  add_executable(test_dnnl ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/test_dnnl.c ${CMAKE_CURRENT_SOURCE_DIR}/unit/testutil.c)
  target_include_directories(test_dnnl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${PROJECT_SOURCE_DIR}/runtime)
  target_link_libraries(test_dnnl PRIVATE kiln PkgConfig::CMOCKA)
  target_compile_definitions(test_dnnl PRIVATE KN_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                               KN_BUILD_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME test_dnnl COMMAND test_dnnl)
  set_tests_properties(test_dnnl PROPERTIES LABELS "unit;dnnl" ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive")
endif()
