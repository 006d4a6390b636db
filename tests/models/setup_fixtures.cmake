# cmake -P script: make the classifier fixtures (the models.setup test, see
# tests/models.cmake).
#
#   -DPYTHON=python3 -DNODE=node -DSOURCE_DIR=repo -DMODELS_DIR=cache -DORT_DIR=dir
#   -DCOMPARE=kn_npy_compare
#
# 1. scripts/export_classifiers.py MODELS_DIR   (ONNX files and inputs; cached)
# 2. scripts/setup_ort.sh ORT_DIR                (npm install onnxruntime-node; cached)
# 3. scripts/ort_reference.js --ort ORT_DIR MODELS_DIR  (reference outputs; cached)
# 4. a sanity check of the reference: ONNX Runtime's outputs must agree with
#    PyTorch's own (NAME_b*_torch.npy) within 1e-4 and on the top-1 class,
#    or the fixture, not kiln, is suspect
# and prints how long each step took. When onnxruntime-node cannot be
# installed (no registry access), prints KILN_SKIP so the test is reported as
# skipped and the model tests skip for want of a reference.

foreach(var PYTHON NODE SOURCE_DIR MODELS_DIR ORT_DIR COMPARE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "setup_fixtures.cmake: -D${var}=... is required")
  endif()
endforeach()

function(kn_step what)
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(TIMESTAMP t1 "%s")
  math(EXPR secs "${t1} - ${t0}")
  # drop PyTorch's export warnings, keep our lines
  string(REGEX REPLACE "[^\n]*Warning[^\n]*\n" "" out "${out}")
  message("${out}")
  message("models.setup: ${what}: ${secs} s (exit ${rc})")
  set(kn_step_rc ${rc} PARENT_SCOPE)
endfunction()

string(TIMESTAMP start "%s")
file(MAKE_DIRECTORY ${MODELS_DIR})

kn_step("export (PyTorch -> ONNX)" ${PYTHON} ${SOURCE_DIR}/scripts/export_classifiers.py ${MODELS_DIR})
if(NOT kn_step_rc EQUAL 0)
  message(FATAL_ERROR "models.setup: scripts/export_classifiers.py failed")
endif()

kn_step("install onnxruntime-node" sh ${SOURCE_DIR}/scripts/setup_ort.sh ${ORT_DIR})
if(NOT kn_step_rc EQUAL 0)
  message("KILN_SKIP: models.setup: could not install onnxruntime-node into ${ORT_DIR} "
          "(npm registry unreachable?); the classifier tests will be skipped")
  return()
endif()

kn_step("ONNX Runtime reference outputs" ${NODE} ${SOURCE_DIR}/scripts/ort_reference.js --ort ${ORT_DIR} ${MODELS_DIR})
if(NOT kn_step_rc EQUAL 0)
  message(FATAL_ERROR "models.setup: scripts/ort_reference.js failed")
endif()

file(STRINGS ${MODELS_DIR}/manifest.txt manifest)
foreach(line ${manifest})
  string(REGEX MATCH "^[^ ]+" name "${line}")
  set(top1 --top1)
  if(line MATCHES " segmentation$")
    set(top1 "") # per-pixel probability maps: no [rows, classes] top-1
  endif()
  foreach(batch 1 4)
    execute_process(COMMAND ${COMPARE} --atol 1e-4 ${top1} --label "reference check ${name} batch ${batch} (ORT vs PyTorch)"
                            ${MODELS_DIR}/${name}_b${batch}_ort.npy ${MODELS_DIR}/${name}_b${batch}_torch.npy
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    message("${out}")
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "models.setup: ONNX Runtime and PyTorch disagree on ${name} batch ${batch}")
    endif()
  endforeach()
endforeach()

string(TIMESTAMP end "%s")
math(EXPR secs "${end} - ${start}")
message("models.setup: fixtures ready in ${MODELS_DIR} (${secs} s)")
