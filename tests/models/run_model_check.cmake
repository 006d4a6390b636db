# cmake -P script: one whole-model check (see tests/models.cmake).
#
#   -DKILN=kiln -DCOMPARE=kn_npy_compare -DMODEL=M.onnx -DINPUT_NAME=N -DINPUT=X.npy
#   -DOUTPUT_NAME=O -DREFERENCE=R.npy -DBATCH=B -DOUT_DIR=DIR [-DLABELS=labels.txt]
#   [-DATOL=1e-4] [-DBACKEND=dnnl] [-DISA=AVX2] [-DTOP1=OFF] [-DPEER=P.npy]
#
# Runs `kiln run MODEL --input N=X.npy --output DIR --batch B --top 0
# [--backend BACKEND]` (with DNNL_MAX_CPU_ISA=ISA when given: a level that
# `kiln --version` shows oneDNN does not run at, the CPU lacks: KILN_SKIP), then
# compares DIR/O.npy with R.npy: max abs difference <= ATOL and (unless
# TOP1 is OFF: segmentation maps) the same top-1 in every row. With PEER (a
# second reference: PyTorch's output of the same input), the bound is
# max(ATOL, 2 x max|REFERENCE - PEER|): where ONNX Runtime and PyTorch
# themselves differ by nearly ATOL (a 224x224 segmentation map of a deep
# network: 9.4e-5), kiln may be no further from ONNX Runtime than twice
# that, whatever convolution layout oneDNN's timing picked. With LABELS (whitespace-separated class indices) the
# top-1 must also be those labels. A missing fixture prints KILN_SKIP (the
# test's SKIP_REGULAR_EXPRESSION) instead of failing: the setup test said why.

foreach(var KILN COMPARE MODEL INPUT_NAME INPUT OUTPUT_NAME REFERENCE BATCH OUT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_model_check.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED ATOL)
  set(ATOL 1e-4)
endif()
get_filename_component(label ${MODEL} NAME_WE)
set(label "${label} batch ${BATCH}")

foreach(f ${MODEL} ${INPUT} ${REFERENCE})
  if(NOT EXISTS ${f})
    message("KILN_SKIP: ${label}: fixture ${f} is missing (see the output of the models.setup test)")
    return()
  endif()
endforeach()

set(backend_args "")
if(DEFINED BACKEND AND NOT BACKEND STREQUAL "")
  set(backend_args --backend ${BACKEND})
  set(label "${label} on ${BACKEND}")
endif()
if(DEFINED ISA AND NOT ISA STREQUAL "")
  set(ENV{DNNL_MAX_CPU_ISA} ${ISA})
  set(label "${label} at ${ISA}")
  execute_process(COMMAND ${KILN} --version OUTPUT_VARIABLE version RESULT_VARIABLE rc)
  string(TOUPPER "${version}" version)
  if(NOT rc EQUAL 0 OR NOT version MATCHES "ONEDNN ISA ${ISA}\n")
    message("KILN_SKIP: ${label}: this CPU has no ${ISA} (kiln --version: ${version})")
    return()
  endif()
endif()

file(REMOVE_RECURSE ${OUT_DIR})
string(TIMESTAMP t0 "%s")
execute_process(COMMAND ${KILN} run ${MODEL} --input ${INPUT_NAME}=${INPUT} --output ${OUT_DIR}
                        --batch ${BATCH} --top 0 ${backend_args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
string(TIMESTAMP t1 "%s")
math(EXPR secs "${t1} - ${t0}")
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${label}: kiln run failed (exit ${rc})")
endif()
message("${label}: kiln run took about ${secs} s")

set(actual ${OUT_DIR}/${OUTPUT_NAME}.npy)
set(top1 --top1)
if(DEFINED TOP1 AND NOT TOP1)
  set(top1 "") # a segmentation map: probabilities per pixel, no [rows, classes] top-1
endif()
set(peer "")
if(DEFINED PEER AND NOT PEER STREQUAL "")
  set(peer --peer ${PEER})
endif()
execute_process(COMMAND ${COMPARE} --atol ${ATOL} ${peer} ${top1} --label "${label}" ${actual} ${REFERENCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${label}: output differs from the reference")
endif()

if(DEFINED LABELS)
  file(READ ${LABELS} want)
  string(STRIP "${want}" want)
  string(REGEX REPLACE "[ \t\r\n]+" " " want "${want}")
  string(REGEX MATCH "reference classes:([ 0-9]*)" m "${out}")
  string(STRIP "${CMAKE_MATCH_1}" got)
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "${label}: top-1 classes '${got}', expected labels '${want}'")
  endif()
  message("${label}: top-1 classes are the labels (${want})")
endif()
