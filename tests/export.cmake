# ONNX export checks, label `export` (frontend/onnx_export.c,
# kn_model_save_onnx). Exported files land in ${CMAKE_CURRENT_BINARY_DIR}/export_out.
#
#  export.fixtures     every importable fixture of tests/data/onnx and every
#                      models/*.kiln spec (random inputs), and
#                      models/mnist_small.onnx (digits): import ->
#                      export -> import -> run both, outputs within 1e-6 and the
#                      same inputs/outputs (a symbolic batch stays symbolic);
#                      plus graphs built with the IR API for the multi-node op
#                      forms and fused post-ops (`kn_export_check synthetic`).
#  export.node_tests   the same for every ONNX node test kiln runs
#                      (tests/onnx_node_tests.txt minus the expected failures).
#  export.onnx_checker onnx.checker.check_model(full_check=True) on all those
#                      exports (tests/export/check_onnx.py); skipped without
#                      /usr/bin/python3 and its onnx module (python3-onnx).
#  export.ort          ONNX Runtime on those exports must match kiln's
#                      outputs within 1e-5 (scripts/check_export_ort.js);
#                      skipped without node or onnxruntime-node in
#                      ${KILN_ORT_DIR} (scripts/setup_ort.sh, or the
#                      models.setup test, which runs first when selected).
#  export.dot_render   kn_graph_dump_dot of mnist_small and of a graph with
#                      hostile names, rendered by Graphviz `dot -Tsvg`; skipped
#                      without Graphviz.
#  export.classifiers  label `models` only (it needs the models.setup fixture,
#                      so `ctest -L export` leaves it out): the classifier set of tests/models.cmake
#                      through import -> export -> import (outputs unchanged),
#                      onnx.checker, and ONNX Runtime on the export against
#                      ONNX Runtime on the original (within 1e-6).
# The kn_export_check tool (tests/export/export_check.c) does the round trips.

add_executable(kn_export_check ${CMAKE_CURRENT_SOURCE_DIR}/export/export_check.c
                               ${CMAKE_CURRENT_SOURCE_DIR}/tensor_compare.c)
target_include_directories(kn_export_check PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(kn_export_check PRIVATE kiln)

set(KN_EXPORT_OUT ${CMAKE_CURRENT_BINARY_DIR}/export_out)
set(KN_EXPORT_RUN ${CMAKE_CURRENT_SOURCE_DIR}/export/run_export.cmake)
set(KN_EXPORT_CHECKER ${CMAKE_CURRENT_SOURCE_DIR}/export/check_onnx.py)
set(KN_EXPORT_ORT_SCRIPT ${PROJECT_SOURCE_DIR}/scripts/check_export_ort.js)
set(KN_EXPORT_ENV "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
# same defaults as tests/models.cmake (included after this file)
if(DEFINED KILN_ORT_DIR)
  set(kn_export_ort_dir ${KILN_ORT_DIR})
else()
  set(kn_export_ort_dir ${CMAKE_BINARY_DIR}/ort)
endif()
if(DEFINED KILN_MODELS_DIR)
  set(kn_export_models_dir ${KILN_MODELS_DIR})
else()
  set(kn_export_models_dir ${CMAKE_BINARY_DIR}/models)
endif()

# /usr/bin/python3 with onnx (Debian's python3-onnx), for onnx.checker
set(kn_export_python "")
if(EXISTS /usr/bin/python3)
  execute_process(COMMAND /usr/bin/python3 -c "import onnx" RESULT_VARIABLE kn_rc OUTPUT_QUIET ERROR_QUIET
                  TIMEOUT 60)
  if(kn_rc EQUAL 0)
    set(kn_export_python /usr/bin/python3)
  endif()
endif()
find_program(KILN_NODE NAMES node nodejs)

add_test(NAME export.fixtures
         COMMAND ${CMAKE_COMMAND} -DMODE=fixtures -DTOOL=$<TARGET_FILE:kn_export_check>
                 -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUT_DIR=${KN_EXPORT_OUT}/fixtures -P ${KN_EXPORT_RUN})
set_tests_properties(export.fixtures PROPERTIES LABELS export TIMEOUT 600 ENVIRONMENT "${KN_EXPORT_ENV}"
                     FIXTURES_SETUP kn_export_files)
# the specs are inputs of export.fixtures: re-run cmake's glob when models/ changes
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/models)

if(DEFINED KILN_ONNX_NODE_DATA)  # tests/onnx_node.cmake's setting, same default
  set(kn_export_node_data ${KILN_ONNX_NODE_DATA})
else()
  set(kn_export_node_data /usr/share/libonnx-testdata/data/node)
endif()
if(EXISTS ${kn_export_node_data})
  add_test(NAME export.node_tests
           COMMAND kn_export_check nodetests ${kn_export_node_data} ${CMAKE_CURRENT_SOURCE_DIR}/onnx_node_tests.txt
                   ${CMAKE_CURRENT_SOURCE_DIR}/onnx_node_expected_failures.txt ${KN_EXPORT_OUT}/node)
  set_tests_properties(export.node_tests PROPERTIES LABELS export TIMEOUT 600 ENVIRONMENT "${KN_EXPORT_ENV}"
                       FIXTURES_SETUP kn_export_files)
endif()

if(kn_export_python)
  add_test(NAME export.onnx_checker
           COMMAND ${kn_export_python} ${KN_EXPORT_CHECKER} ${KN_EXPORT_OUT}/fixtures
                   ${KN_EXPORT_OUT}/fixtures/synthetic ${KN_EXPORT_OUT}/node)
else()
  add_test(NAME export.onnx_checker
           COMMAND ${CMAKE_COMMAND} -E echo
                   "KILN_SKIP: onnx.checker needs /usr/bin/python3 with the onnx module (python3-onnx)")
endif()
set_tests_properties(export.onnx_checker PROPERTIES LABELS export TIMEOUT 300 FIXTURES_REQUIRED kn_export_files
                     SKIP_REGULAR_EXPRESSION "KILN_SKIP")

if(KILN_NODE)
  add_test(NAME export.ort
           COMMAND ${KILN_NODE} ${KN_EXPORT_ORT_SCRIPT} --ort ${kn_export_ort_dir}
                   --manifest ${KN_EXPORT_OUT}/fixtures/manifest.txt
                   --manifest ${KN_EXPORT_OUT}/fixtures/synthetic/manifest.txt --atol 1e-5 --skip-if-missing)
else()
  add_test(NAME export.ort
           COMMAND ${CMAKE_COMMAND} -E echo "KILN_SKIP: the ONNX Runtime check needs node (nodejs)")
endif()
# DEPENDS only orders: when models.setup (which installs onnxruntime-node) is
# selected too, it runs first; it is not pulled in.
set_tests_properties(export.ort PROPERTIES LABELS export TIMEOUT 300 FIXTURES_REQUIRED kn_export_files
                     DEPENDS models.setup SKIP_REGULAR_EXPRESSION "KILN_SKIP")

find_program(KILN_DOT NAMES dot)
if(KILN_DOT)
  add_test(NAME export.dot_render
           COMMAND ${CMAKE_COMMAND} -DMODE=dot -DTOOL=$<TARGET_FILE:kn_export_check> -DDOT=${KILN_DOT}
                   -DMODEL=${PROJECT_SOURCE_DIR}/models/mnist_small.onnx -DOUT_DIR=${KN_EXPORT_OUT}/dot
                   -P ${KN_EXPORT_RUN})
else()
  add_test(NAME export.dot_render
           COMMAND ${CMAKE_COMMAND} -E echo "KILN_SKIP: rendering DOT output needs Graphviz (graphviz)")
endif()
set_tests_properties(export.dot_render PROPERTIES LABELS export TIMEOUT 120 ENVIRONMENT "${KN_EXPORT_ENV}"
                     SKIP_REGULAR_EXPRESSION "KILN_SKIP")

if(NOT DEFINED KILN_MODEL_TESTS OR KILN_MODEL_TESTS)
  add_test(NAME export.classifiers
           COMMAND ${CMAKE_COMMAND} -DMODE=classifiers -DTOOL=$<TARGET_FILE:kn_export_check>
                   -DMODELS_DIR=${kn_export_models_dir} -DOUT_DIR=${KN_EXPORT_OUT}/classifiers
                   -DNAMES=resnet18,mobilenet_v2,squeezenet1_1,densenet121,googlenet,shufflenet_v2_x1_0,efficientnet_b0,alexnet
                   -DPYTHON=${kn_export_python} -DCHECKER=${KN_EXPORT_CHECKER}
                   -DNODE=${KILN_NODE} -DORT_SCRIPT=${KN_EXPORT_ORT_SCRIPT} -DORT_DIR=${kn_export_ort_dir}
                   -P ${KN_EXPORT_RUN})
  set_tests_properties(export.classifiers PROPERTIES
    LABELS models TIMEOUT 900 ENVIRONMENT "${KN_EXPORT_ENV}" FIXTURES_REQUIRED kn_classifiers
    SKIP_REGULAR_EXPRESSION "KILN_SKIP")
endif()
