# Whole-model checks, label `models`.
#
# 1. models.mnist_small_b4: the shipped demo model (models/mnist_small.onnx)
#    on models/data/digits_batch4.npy must match PyTorch's probabilities
#    (models/data/digits_batch4_probs.npy, written by
#    scripts/train_demo_mnist.py) within 1e-4 and give the labels of
#    models/data/digits_batch4_labels.txt as top-1. Needs nothing but kiln.
#
# 2. The classifier set against ONNX Runtime (and 3., the transformers and segmentation model below, made and
#    checked the same way): eight torchvision classifiers
#    with random weights (scripts/export_classifiers.py; the export appends a
#    Softmax, so the output is probabilities) run by `kiln run` at batch 1 and
#    4; the probabilities must be within 1e-4 (max abs difference, printed)
#    of ONNX Runtime's (scripts/ort_reference.js) and the top-1 class of every
#    image must agree. The fixtures (ONNX files, inputs, ORT outputs) are made
#    in ${KILN_MODELS_DIR} by the setup test models.setup
#    (tests/models/setup_fixtures.cmake: export, `npm install` of
#    onnxruntime-node into ${KILN_ORT_DIR}, ORT runs), kept between runs and
#    never committed. Without python3 + torch/torchvision/onnx or node + npm
#    the set is one skipped case with the reason.

option(KILN_MODEL_TESTS "Register the whole-model tests (classifiers vs ONNX Runtime)" ON)
if(NOT KILN_MODEL_TESTS)
  return()
endif()

set(KILN_MODELS_DIR ${CMAKE_BINARY_DIR}/models CACHE PATH "Cache of exported classifier fixtures")
set(KILN_ORT_DIR ${CMAKE_BINARY_DIR}/ort CACHE PATH "Where scripts/setup_ort.sh installs onnxruntime-node")
set(KN_MODEL_CHECK ${CMAKE_CURRENT_SOURCE_DIR}/models/run_model_check.cmake)
set(KN_MODEL_ENV "OMP_NUM_THREADS=2")

add_executable(kn_npy_compare ${CMAKE_CURRENT_SOURCE_DIR}/npy_compare.c
                              ${CMAKE_CURRENT_SOURCE_DIR}/tensor_compare.c)
target_include_directories(kn_npy_compare PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(kn_npy_compare PRIVATE kiln)

# ------------------------------------------------------------ demo model
add_test(NAME models.mnist_small_b4
         COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCOMPARE=$<TARGET_FILE:kn_npy_compare>
                 -DMODEL=${PROJECT_SOURCE_DIR}/models/mnist_small.onnx -DINPUT_NAME=image
                 -DINPUT=${PROJECT_SOURCE_DIR}/models/data/digits_batch4.npy -DOUTPUT_NAME=probs
                 -DREFERENCE=${PROJECT_SOURCE_DIR}/models/data/digits_batch4_probs.npy
                 -DLABELS=${PROJECT_SOURCE_DIR}/models/data/digits_batch4_labels.txt
                 -DBATCH=4 -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/models_out/mnist_small_b4
                 -P ${KN_MODEL_CHECK})
set_tests_properties(models.mnist_small_b4 PROPERTIES
  LABELS models TIMEOUT 120 ENVIRONMENT "${KN_MODEL_ENV}" SKIP_REGULAR_EXPRESSION "KILN_SKIP")

# --------------------------------------------------- classifiers vs ORT
set(KN_CLASSIFIERS resnet18 mobilenet_v2 squeezenet1_1 densenet121 googlenet shufflenet_v2_x1_0
    efficientnet_b0 alexnet)

# A python3 that has torch, torchvision, onnx and numpy (Debian's, not a
# virtualenv's or pyenv's without them). Only a working one is cached.
set(KILN_PYTHON "" CACHE FILEPATH "python3 with torch, torchvision, onnx, numpy (model test fixtures)")
if(NOT KILN_PYTHON AND NOT KN_MODELS_PYTHON_FOUND)
  find_program(kn_py_path python3)
  foreach(cand /usr/bin/python3 ${kn_py_path})
    if(EXISTS ${cand})
      execute_process(COMMAND ${cand} -c "import torch, torchvision, onnx, numpy"
                      RESULT_VARIABLE kn_py_rc OUTPUT_QUIET ERROR_QUIET TIMEOUT 120)
      if(kn_py_rc EQUAL 0)
        set(KN_MODELS_PYTHON_FOUND ${cand} CACHE INTERNAL "python3 with torch for the model tests")
        break()
      endif()
    endif()
  endforeach()
  unset(kn_py_path CACHE)
endif()
set(kn_python ${KILN_PYTHON})
if(NOT kn_python)
  set(kn_python ${KN_MODELS_PYTHON_FOUND})
endif()
find_program(KILN_NODE NAMES node nodejs)
find_program(KILN_NPM NAMES npm)

set(kn_models_missing "")
if(NOT kn_python)
  list(APPEND kn_models_missing "python3 with torch, torchvision, onnx and numpy (python3-torch python3-torchvision python3-onnx python3-numpy)")
endif()
if(NOT KILN_NODE OR NOT KILN_NPM OR NOT EXISTS "${KILN_NODE}" OR NOT EXISTS "${KILN_NPM}")
  list(APPEND kn_models_missing "node and npm (nodejs npm)")
endif()
if(kn_models_missing)
  string(REPLACE ";" " and " kn_models_missing "${kn_models_missing}")
  message(STATUS "Classifier tests vs ONNX Runtime: skipped, missing ${kn_models_missing}")
  add_test(NAME models.classifiers_skipped
           COMMAND ${CMAKE_COMMAND} -E echo
                   "KILN_SKIP: classifier tests vs ONNX Runtime need ${kn_models_missing}")
  set_tests_properties(models.classifiers_skipped PROPERTIES
    LABELS models SKIP_REGULAR_EXPRESSION "KILN_SKIP")
  return()
endif()
message(STATUS "Classifier tests vs ONNX Runtime: python ${kn_python}, node ${KILN_NODE}, "
               "fixtures in ${KILN_MODELS_DIR}")

add_test(NAME models.setup
         COMMAND ${CMAKE_COMMAND} -DPYTHON=${kn_python} -DNODE=${KILN_NODE}
                 -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DMODELS_DIR=${KILN_MODELS_DIR}
                 -DORT_DIR=${KILN_ORT_DIR} -DCOMPARE=$<TARGET_FILE:kn_npy_compare>
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/models/setup_fixtures.cmake)
set_tests_properties(models.setup PROPERTIES
  LABELS models TIMEOUT 1200 FIXTURES_SETUP kn_classifiers SKIP_REGULAR_EXPRESSION "KILN_SKIP"
  RESOURCE_LOCK kn_models_dir)

# On the reference backend (models.NAME_bB), and with the oneDNN backend on at the instruction set it picks
# (models.NAME_bB.dnnl) and at each level of KILN_DNNL_ISAS (models.NAME_bB.dnnl@LEVEL; see tests/dnnl.cmake).
set(kn_model_runs "ref")
if(KILN_WITH_ONEDNN)
  list(APPEND kn_model_runs "dnnl")
  foreach(isa ${KILN_DNNL_ISAS})
    list(APPEND kn_model_runs "dnnl@${isa}")
  endforeach()
endif()
foreach(name ${KN_CLASSIFIERS})
  foreach(batch 1 4)
    foreach(run ${kn_model_runs})
      string(REPLACE "@" ";" parts "${run}")
      list(GET parts 0 backend)
      set(isa "")
      set(test models.${name}_b${batch})
      if(NOT backend STREQUAL "ref")
        set(test ${test}.${run})
        list(LENGTH parts np)
        if(np GREATER 1)
          list(GET parts 1 isa)
        endif()
      endif()
      string(REPLACE "@" "_" out_dir "${name}_b${batch}.${run}")
      add_test(NAME ${test}
               COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCOMPARE=$<TARGET_FILE:kn_npy_compare>
                       -DMODEL=${KILN_MODELS_DIR}/${name}.onnx -DINPUT_NAME=input
                       -DINPUT=${KILN_MODELS_DIR}/${name}_b${batch}.npy -DOUTPUT_NAME=probs
                       -DREFERENCE=${KILN_MODELS_DIR}/${name}_b${batch}_ort.npy
                       -DBATCH=${batch} -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/models_out/${out_dir}
                       -DBACKEND=${backend} -DISA=${isa} -P ${KN_MODEL_CHECK})
      set_tests_properties(${test} PROPERTIES
        LABELS models TIMEOUT 900 ENVIRONMENT "${KN_MODEL_ENV}" FIXTURES_REQUIRED kn_classifiers
        SKIP_REGULAR_EXPRESSION "KILN_SKIP")
    endforeach()
  endforeach()
endforeach()

# 3. Vision transformers and a segmentation model, exported by the same script at opset 17 (see its doc):
#    vit_b_16_l2 (torchvision's VisionTransformer, ViT-B/16's width with 2 of its 12 layers), swin_t,
#    convnext_tiny (layer scale 0.5, so the blocks count) and lraspp_mobilenet_v3_large (per-pixel probabilities [batch, 21, 224, 224]: max abs difference only).
#    On the reference backend and on oneDNN at the ISA it picks (not at every KILN_DNNL_ISAS level: these
#    take 1-10 s a run), labels models;transformers. models.NAME_bB[.dnnl].
set(KN_EXTRA_MODELS vit_b_16_l2 swin_t convnext_tiny lraspp_mobilenet_v3_large)
set(kn_extra_runs "ref")
if(KILN_WITH_ONEDNN)
  list(APPEND kn_extra_runs "dnnl")
endif()
foreach(name ${KN_EXTRA_MODELS})
  set(top1 ON)
  set(peer_ref "")
  if(name STREQUAL "lraspp_mobilenet_v3_large")
    set(top1 OFF)
    set(peer_ref torch) # its per-pixel map: ORT and PyTorch differ by ~9e-5 (run_model_check.cmake's PEER)
  endif()
  foreach(batch 1 4)
    foreach(backend ${kn_extra_runs})
      set(test models.${name}_b${batch})
      if(NOT backend STREQUAL "ref")
        set(test ${test}.${backend})
      endif()
      add_test(NAME ${test}
               COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCOMPARE=$<TARGET_FILE:kn_npy_compare>
                       -DMODEL=${KILN_MODELS_DIR}/${name}.onnx -DINPUT_NAME=input
                       -DINPUT=${KILN_MODELS_DIR}/${name}_b${batch}.npy -DOUTPUT_NAME=probs
                       -DREFERENCE=${KILN_MODELS_DIR}/${name}_b${batch}_ort.npy -DTOP1=${top1}
                       -DBATCH=${batch} -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/models_out/${name}_b${batch}.${backend}
                       -DBACKEND=${backend} -DISA=
                       -DPEER=$<$<BOOL:${peer_ref}>:${KILN_MODELS_DIR}/${name}_b${batch}_${peer_ref}.npy>
                       -P ${KN_MODEL_CHECK})
      set_tests_properties(${test} PROPERTIES
        LABELS "models;transformers" TIMEOUT 900 ENVIRONMENT "${KN_MODEL_ENV}" FIXTURES_REQUIRED kn_classifiers
        SKIP_REGULAR_EXPRESSION "KILN_SKIP")
    endforeach()
  endforeach()
endforeach()
