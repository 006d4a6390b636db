# run_spec_model.cmake - one models/*.kiln file end to end through the
# `kiln` command line (cmake -P; driver of the spec.e2e.* tests of
# tests/spec.cmake):
#
#   -DKILN=kiln -DSPEC=file.kiln -DOUT_DIR=dir -DMAKE_NPY=make_npy.sh
#   [-DNODE=node -DORT_SCRIPT=check_export_ort.js -DORT_DIR=dir]
#   [-DPYTHON=/usr/bin/python3 -DCHECKER=check_onnx.py]
#
# For every model of the file: `kiln compile --model NAME -o NAME.onnx`,
# inputs of the model's shapes at batch 2 (tests/spec/make_npy.sh), and
# `kiln run` of the export. The file's first model also runs from the spec
# itself (`kiln run file.kiln`), and both runs must give the same bytes.
# When ONNX Runtime is installed (scripts/setup_ort.sh), it must give kiln's
# outputs within 1e-5 on every export; when python3's onnx module is,
# onnx.checker must accept every export.
cmake_minimum_required(VERSION 3.16)

function(kn_run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (exit ${rc}): ${cmd}")
  endif()
  set(kn_out "${out}${err}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})

kn_run(${KILN} compile ${SPEC})
string(REGEX MATCHALL "Model: \"[A-Za-z0-9_]+\"" models "${kn_out}")
if(NOT models)
  message(FATAL_ERROR "no model in the summary of ${SPEC}")
endif()

set(first TRUE)
set(ort_skipped FALSE)
foreach(m ${models})
  string(REGEX REPLACE "Model: \"(.*)\"" "\\1" name "${m}")
  set(onnx ${OUT_DIR}/${name}.onnx)
  kn_run(${KILN} compile ${SPEC} --model ${name} -o ${onnx})
  kn_run(${KILN} info ${onnx})
  # the lines "  NAME  float32  [N,1,28,28]" between "inputs (K):" and "outputs (K):"
  if(NOT kn_out MATCHES "inputs \\([0-9]+\\):\n(.*)outputs \\(")
    message(FATAL_ERROR "cannot read the inputs of ${onnx}")
  endif()
  string(REGEX MATCHALL "  [A-Za-z0-9_/]+ +float32 +\\[N[0-9,]*\\]" lines "${CMAKE_MATCH_1}")
  set(input_args "")
  set(index 0)
  foreach(line ${lines})
    string(REGEX REPLACE "^  ([A-Za-z0-9_/]+) +float32 +\\[N,?([0-9,]*)\\]$" "\\1;\\2" parts "${line}")
    list(GET parts 0 input)
    list(GET parts 1 dims)
    string(REPLACE "," ", " dims "${dims}")
    if(dims STREQUAL "")
      set(shape "(2,)")
    else()
      set(shape "(2, ${dims})")
    endif()
    set(npy ${OUT_DIR}/${name}_input${index}.npy)
    kn_run(sh ${MAKE_NPY} ${npy} "${shape}")
    list(APPEND input_args --input ${input}=${npy})
    math(EXPR index "${index} + 1")
  endforeach()
  if(index EQUAL 0)
    message(FATAL_ERROR "no float32 input with a batch dimension in ${onnx}")
  endif()
  kn_run(${KILN} run ${onnx} ${input_args} --output ${OUT_DIR}/${name}_onnx --top 0 --threads 2)
  set(expected ${OUT_DIR}/${name}_onnx)
  if(first)
    kn_run(${KILN} run ${SPEC} ${input_args} --output ${OUT_DIR}/${name}_spec --top 0 --threads 2)
    file(GLOB outs RELATIVE ${OUT_DIR}/${name}_spec ${OUT_DIR}/${name}_spec/*.npy)
    foreach(o ${outs})
      execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT_DIR}/${name}_spec/${o}
                              ${OUT_DIR}/${name}_onnx/${o} RESULT_VARIABLE same)
      if(NOT same EQUAL 0)
        message(FATAL_ERROR "${name}: output ${o} of the spec and of its ONNX export differ")
      endif()
    endforeach()
    set(expected ${OUT_DIR}/${name}_spec)
    set(first FALSE)
  endif()
  if(NODE AND ORT_SCRIPT AND ORT_DIR)
    kn_run(${NODE} ${ORT_SCRIPT} --ort ${ORT_DIR} --model ${onnx} ${input_args} --expected ${expected}
           --atol 1e-5 --skip-if-missing)
    if(kn_out MATCHES "KILN_SKIP")
      set(ort_skipped TRUE)
    endif()
  else()
    set(ort_skipped TRUE)
  endif()
endforeach()

if(PYTHON AND CHECKER)
  kn_run(${PYTHON} ${CHECKER} ${OUT_DIR})
else()
  message("note: onnx.checker not run (no python3 with the onnx module)")
endif()
if(ort_skipped)
  message("note: ONNX Runtime comparison skipped (run scripts/setup_ort.sh to install onnxruntime-node)")
endif()
