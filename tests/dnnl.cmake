# The oneDNN backend's parity tests (tests/dnnl/test_dnnl.c), only with -DKILN_WITH_ONEDNN=ON.
if(KILN_WITH_ONEDNN)
  # test_dnnl: every op case; test_dnnl.models_dir: mnist_small.onnx and every .kiln model of models/ (and
  # tests/spec/layers.kiln) at batch 1 and 8; dnnl.<classifier> (label models): one classifier-set model each
  # at batch 1 and 8, skipped when absent.
  add_executable(test_dnnl ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/test_dnnl.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/dnnl_parity.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/dnnl_graph_cases.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/dnnl_train_cases.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/unit/testutil.c)
  target_include_directories(test_dnnl PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${PROJECT_SOURCE_DIR}/runtime)
  target_link_libraries(test_dnnl PRIVATE kiln PkgConfig::CMOCKA)
  target_compile_definitions(test_dnnl PRIVATE KN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set(kn_dnnl_env "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive")
  # The suite runs at the instruction set oneDNN picks on this CPU (no suffix), then once per level below
  # (test@LEVEL, DNNL_MAX_CPU_ISA=LEVEL): oneDNN picks other layouts at each (nChw8c on SSE4.1/AVX2, nChw16c and
  # nhwc on AVX-512) and kiln's own kernels must be right on all of them. A level this CPU lacks is skipped
  # with a line saying so. Every run goes through tests/dnnl/run_isa.cmake: no oneDNN reference
  # implementation may execute, and every blocked output's padding must stay zero.
  set(KILN_MODELS_DIR ${CMAKE_BINARY_DIR}/models CACHE PATH "Cache of exported classifier fixtures")
  set(kn_run_isa ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/run_isa.cmake)
  foreach(isa "" ${KILN_DNNL_ISAS})
    set(sfx "")
    if(isa)
      set(sfx "@${isa}")
    endif()
    add_test(NAME test_dnnl${sfx} COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:test_dnnl>" -DISA=${isa}
                                          -P ${kn_run_isa})
    add_test(NAME test_dnnl.models_dir${sfx}
             COMMAND ${CMAKE_COMMAND}
                     "-DCMD=$<TARGET_FILE:test_dnnl>;--models-dir;${PROJECT_SOURCE_DIR}/models;${CMAKE_CURRENT_SOURCE_DIR}/spec/layers.kiln"
                     -DISA=${isa} -P ${kn_run_isa})
    set_tests_properties(test_dnnl${sfx} test_dnnl.models_dir${sfx} PROPERTIES LABELS "unit;dnnl"
                         ENVIRONMENT "${kn_dnnl_env}" SKIP_REGULAR_EXPRESSION "KILN_SKIP")
    # the classifier set as tests/models.cmake exports it (its models.setup test)
    foreach(name resnet18 mobilenet_v2 squeezenet1_1 densenet121 googlenet shufflenet_v2_x1_0 efficientnet_b0 alexnet)
      add_test(NAME dnnl.${name}${sfx}
               COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:test_dnnl>;--model;${KILN_MODELS_DIR}/${name}.onnx"
                       -DISA=${isa} -P ${kn_run_isa})
      set_tests_properties(dnnl.${name}${sfx} PROPERTIES LABELS "models;dnnl" ENVIRONMENT "${kn_dnnl_env}"
                           TIMEOUT 900 SKIP_REGULAR_EXPRESSION "KILN_SKIP" FIXTURES_REQUIRED kn_classifiers)
    endforeach()
  endforeach()
  # kiln's own kernels (pooling loop, Winograd, concat copies) on every layout an ISA may produce, on any CPU:
  # KILN_DNNL_LAYOUT forces it (test_dnnl@LAYOUT), at the ISA oneDNN picks here
  foreach(layout nChw8c nChw16c nhwc)
    add_test(NAME test_dnnl@${layout} COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:test_dnnl>" -DLAYOUT=${layout}
                                               -P ${kn_run_isa})
    add_test(NAME test_dnnl.models_dir@${layout}
             COMMAND ${CMAKE_COMMAND}
                     "-DCMD=$<TARGET_FILE:test_dnnl>;--models-dir;${PROJECT_SOURCE_DIR}/models;${CMAKE_CURRENT_SOURCE_DIR}/spec/layers.kiln"
                     -DLAYOUT=${layout} -P ${kn_run_isa})
    set_tests_properties(test_dnnl@${layout} test_dnnl.models_dir@${layout} PROPERTIES LABELS "unit;dnnl"
                         ENVIRONMENT "${kn_dnnl_env}" SKIP_REGULAR_EXPRESSION "KILN_SKIP")
  endforeach()
  # every convolution layout the compile-time timing may choose (backends/dnnl/dnnl_tune.c), fixed by
  # KILN_DNNL_CONV_LAYOUT (test_dnnl@conv_LAYOUT), so that each is checked whichever wins on this machine; below
  # AVX-512 nChw16c has no implementation and the convolutions fall back to oneDNN's choice
  foreach(conv any nChw16c nChw8c)
    add_test(NAME test_dnnl@conv_${conv} COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:test_dnnl>" -DCONV=${conv}
                                                  -P ${kn_run_isa})
    add_test(NAME test_dnnl.models_dir@conv_${conv}
             COMMAND ${CMAKE_COMMAND}
                     "-DCMD=$<TARGET_FILE:test_dnnl>;--models-dir;${PROJECT_SOURCE_DIR}/models;${CMAKE_CURRENT_SOURCE_DIR}/spec/layers.kiln"
                     -DCONV=${conv} -P ${kn_run_isa})
    set_tests_properties(test_dnnl@conv_${conv} test_dnnl.models_dir@conv_${conv} PROPERTIES LABELS "unit;dnnl"
                         ENVIRONMENT "${kn_dnnl_env}" SKIP_REGULAR_EXPRESSION "KILN_SKIP")
    foreach(name resnet18 mobilenet_v2 squeezenet1_1 densenet121 googlenet shufflenet_v2_x1_0 efficientnet_b0 alexnet)
      add_test(NAME dnnl.${name}@conv_${conv}
               COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:test_dnnl>;--model;${KILN_MODELS_DIR}/${name}.onnx"
                       -DCONV=${conv} -P ${kn_run_isa})
      set_tests_properties(dnnl.${name}@conv_${conv} PROPERTIES LABELS "models;dnnl" ENVIRONMENT "${kn_dnnl_env}"
                           TIMEOUT 900 SKIP_REGULAR_EXPRESSION "KILN_SKIP" FIXTURES_REQUIRED kn_classifiers)
    endforeach()
  endforeach()
  # the layout timing's cache file across processes (tests/dnnl/conv_cache.sh)
  add_test(NAME dnnl.conv_layout_cache
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/conv_cache.sh $<TARGET_FILE:kiln_cli>
                   ${PROJECT_SOURCE_DIR}/models/resnet_small.kiln ${CMAKE_CURRENT_BINARY_DIR}/conv_cache)
  set_tests_properties(dnnl.conv_layout_cache PROPERTIES LABELS "unit;dnnl" ENVIRONMENT "${kn_dnnl_env}"
                       PASS_REGULAR_EXPRESSION "conv cache ok" SKIP_REGULAR_EXPRESSION "KILN_SKIP")
  # every weight as a training graph has it (KILN_DNNL_TRAINED_WEIGHTS=1: variables an optimizer writes, reordered
  # at run time, never packed at compile time): the whole op table on that path
  add_test(NAME test_dnnl@trained_weights COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:test_dnnl>" -P ${kn_run_isa})
  set_tests_properties(test_dnnl@trained_weights PROPERTIES LABELS "unit;dnnl;train" SKIP_REGULAR_EXPRESSION "KILN_SKIP"
                       ENVIRONMENT "${kn_dnnl_env};KILN_DNNL_TRAINED_WEIGHTS=1")
  # per-node profile and --explain placement (tests/dnnl/test_dnnl_profile.c)
  add_executable(test_dnnl_profile ${CMAKE_CURRENT_SOURCE_DIR}/dnnl/test_dnnl_profile.c
                                   ${CMAKE_CURRENT_SOURCE_DIR}/unit/testutil.c)
  target_include_directories(test_dnnl_profile PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${PROJECT_SOURCE_DIR}/runtime
                                                    ${PROJECT_SOURCE_DIR}/backends/dnnl)
  target_link_libraries(test_dnnl_profile PRIVATE kiln PkgConfig::CMOCKA)
  target_compile_definitions(test_dnnl_profile PRIVATE KN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME test_dnnl_profile COMMAND test_dnnl_profile)
  set_tests_properties(test_dnnl_profile PROPERTIES LABELS "unit;dnnl"
                       ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive;KILN_CACHE_DIR=")
endif()
