# The oneDNN backend's parity tests (tests/dnnl/test_dnnl.c), only with -DKILN_WITH_ONEDNN=ON.
if(KILN_WITH_ONEDNN)
  # test_dnnl: every op case; test_dnnl.models_dir: mnist_small.onnx and every .kiln model of models/ (and
  # tests/spec/layers.kiln) at batch 1 and 8; dnnl.<classifier> (label models): one classifier-set model each
  # at batch 1 and 8, skipped when absent.
  add_executable(test_dnnl ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/test_dnnl.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/dnnl_parity.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/dnnl_graph_cases.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/unit/testutil.c)
  target_include_directories(test_dnnl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${PROJECT_SOURCE_DIR}/runtime)
  target_link_libraries(test_dnnl PRIVATE kiln PkgConfig::CMOCKA)
  set(kn_dnnl_env "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive")
  add_test(NAME test_dnnl COMMAND test_dnnl)
  set_tests_properties(test_dnnl PROPERTIES LABELS "unit;dnnl" ENVIRONMENT "${kn_dnnl_env}")
  add_test(NAME test_dnnl.models_dir COMMAND test_dnnl --models-dir ${PROJECT_SOURCE_DIR}/models
                                                         ${CMAKE_CURRENT_SOURCE_DIR}/spec/layers.kiln)
  set_tests_properties(test_dnnl.models_dir PROPERTIES LABELS "unit;dnnl" ENVIRONMENT "${kn_dnnl_env}")
  # the classifier set as tests/models.cmake exports it (its models.setup test)
  set(KILN_MODELS_DIR ${CMAKE_BINARY_DIR}/models CACHE PATH "Cache of exported classifier fixtures")
  foreach(name resnet18 mobilenet_v2 squeezenet1_1 densenet121 googlenet shufflenet_v2_x1_0 efficientnet_b0 alexnet)
    add_test(NAME dnnl.${name} COMMAND test_dnnl --model ${KILN_MODELS_DIR}/${name}.onnx)
    set_tests_properties(dnnl.${name} PROPERTIES LABELS "models;dnnl" ENVIRONMENT "${kn_dnnl_env}" TIMEOUT 900
                         SKIP_REGULAR_EXPRESSION "KILN_SKIP" FIXTURES_REQUIRED kn_classifiers)
  endforeach()
  # per-node profile and --explain placement (tests/dnnl/test_dnnl_profile.c)
  add_executable(test_dnnl_profile ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/test_dnnl_profile.c
                                   ${CMAKE_CURRENT_SOURCE_DIR}/unit/testutil.c)
  target_include_directories(test_dnnl_profile PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${PROJECT_SOURCE_DIR}/runtime)
  target_link_libraries(test_dnnl_profile PRIVATE kiln PkgConfig::CMOCKA)
  target_compile_definitions(test_dnnl_profile PRIVATE KN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME test_dnnl_profile COMMAND test_dnnl_profile)
  set_tests_properties(test_dnnl_profile PROPERTIES LABELS "unit;dnnl"
                       ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive")
endif()
