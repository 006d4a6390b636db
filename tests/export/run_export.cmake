# run_export.cmake - driver of the export checks of tests/export.cmake
# (cmake -P). Modes:
#
#   -DMODE=fixtures -DTOOL=kn_export_check -DSOURCE_DIR=... -DOUT_DIR=...
#       Round trip (kn_export_check roundtrip) every importable fixture of
#       tests/data/onnx and every models/*.kiln spec on random inputs, and
#       models/mnist_small.onnx on models/data/digits_batch4.npy. Writes OUT_DIR/<name>.onnx, the
#       inputs, kiln's outputs and OUT_DIR/manifest.txt for
#       scripts/check_export_ort.js; then `kn_export_check synthetic` into
#       OUT_DIR/synthetic (the multi-node op forms and fused post-ops).
#
#   -DMODE=dot -DTOOL=... -DDOT=dot -DMODEL=M.onnx -DOUT_DIR=...
#       kn_graph_dump_dot of MODEL and of a graph with hostile names
#       (kn_export_check dot), each rendered by Graphviz `dot -Tsvg`.
#
#   -DMODE=classifiers -DTOOL=... -DMODELS_DIR=... -DOUT_DIR=... -DNAMES=a,b,...
#       [-DPYTHON=/usr/bin/python3 -DCHECKER=check_onnx.py]
#       [-DNODE=node -DORT_SCRIPT=check_export_ort.js -DORT_DIR=...]
#       The classifier set of tests/models.cmake: round trip each model on
#       its batch-4 input (outputs must be unchanged, max abs diff <= 1e-6),
#       run onnx.checker on the exports, and check that ONNX Runtime gives
#       the exported model exactly (<= 1e-6) the outputs it gives the
#       original (MODELS_DIR/<name>_b4_ort.npy). Without the fixtures the
#       case prints KILN_SKIP; without python's onnx or ONNX Runtime that
#       part is skipped with a note.
cmake_minimum_required(VERSION 3.16)

function(kn_run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (exit ${rc}): ${cmd}")
  endif()
  set(kn_last_output "${out}${err}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})

if(MODE STREQUAL "fixtures")
  # the fixtures kiln imports and runs (the others are deliberately broken)
  set(fixtures tiny_conv_raw tiny_conv_typed legacy_opset7 modern_opset17 slice_opset7 slice_opset11
      slice_opset13 unsorted)
  set(manifest "")
  foreach(f ${fixtures})
    kn_run(${TOOL} roundtrip ${SOURCE_DIR}/tests/data/onnx/${f}.onnx ${OUT_DIR}/${f}.onnx
           --random-inputs ${OUT_DIR}/${f}_in --output-dir ${OUT_DIR}/${f}_out --batch 3)
    file(GLOB ins RELATIVE ${OUT_DIR}/${f}_in ${OUT_DIR}/${f}_in/*.npy)
    set(line "${OUT_DIR}/${f}.onnx ${OUT_DIR}/${f}_out")
    foreach(i ${ins})
      string(REGEX REPLACE "[.]npy$" "" name ${i})
      string(APPEND line " ${name}=${OUT_DIR}/${f}_in/${i}")
    endforeach()
    string(APPEND manifest "${line}\n")
  endforeach()
  # the model specs of models/ (their first model, seeded weights)
  file(GLOB specs ${SOURCE_DIR}/models/*.kiln)
  foreach(spec ${specs})
    get_filename_component(f ${spec} NAME_WE)
    kn_run(${TOOL} roundtrip ${spec} ${OUT_DIR}/${f}.onnx
           --random-inputs ${OUT_DIR}/${f}_in --output-dir ${OUT_DIR}/${f}_out --batch 2)
    file(GLOB ins RELATIVE ${OUT_DIR}/${f}_in ${OUT_DIR}/${f}_in/*.npy)
    set(line "${OUT_DIR}/${f}.onnx ${OUT_DIR}/${f}_out")
    foreach(i ${ins})
      string(REGEX REPLACE "[.]npy$" "" name ${i})
      string(APPEND line " ${name}=${OUT_DIR}/${f}_in/${i}")
    endforeach()
    string(APPEND manifest "${line}\n")
  endforeach()
  set(digits ${SOURCE_DIR}/models/data/digits_batch4.npy)
  kn_run(${TOOL} roundtrip ${SOURCE_DIR}/models/mnist_small.onnx ${OUT_DIR}/mnist_small.onnx
         --input image=${digits} --output-dir ${OUT_DIR}/mnist_small_out)
  string(APPEND manifest "${OUT_DIR}/mnist_small.onnx ${OUT_DIR}/mnist_small_out image=${digits}\n")
  file(WRITE ${OUT_DIR}/manifest.txt "${manifest}")
  message("wrote ${OUT_DIR}/manifest.txt")
  # graphs built with the IR API: multi-node op forms and fused post-ops
  kn_run(${TOOL} synthetic ${OUT_DIR}/synthetic)

elseif(MODE STREQUAL "dot")
  # DOT output rendered by Graphviz: a real model and hostile names
  kn_run(${TOOL} dot ${MODEL} ${OUT_DIR}/model.dot ${OUT_DIR}/hostile.dot)
  foreach(f model hostile)
    kn_run(${DOT} -Tsvg ${OUT_DIR}/${f}.dot -o ${OUT_DIR}/${f}.svg)
    file(SIZE ${OUT_DIR}/${f}.svg size)
    message("${f}.dot rendered: ${OUT_DIR}/${f}.svg (${size} bytes)")
  endforeach()

elseif(MODE STREQUAL "classifiers")
  if(NOT EXISTS ${MODELS_DIR}/manifest.txt)
    message("KILN_SKIP: no classifier fixtures in ${MODELS_DIR} (made by the models.setup test)")
    return()
  endif()
  string(REPLACE "," ";" names "${NAMES}")
  set(manifest "")
  foreach(n ${names})
    kn_run(${TOOL} roundtrip ${MODELS_DIR}/${n}.onnx ${OUT_DIR}/${n}.onnx
           --input input=${MODELS_DIR}/${n}_b4.npy)
    string(APPEND manifest
           "${OUT_DIR}/${n}.onnx probs=${MODELS_DIR}/${n}_b4_ort.npy input=${MODELS_DIR}/${n}_b4.npy\n")
  endforeach()
  file(WRITE ${OUT_DIR}/manifest.txt "${manifest}")
  # partial skips are notes: the round trips above did run
  if(PYTHON AND CHECKER)
    kn_run(${PYTHON} ${CHECKER} ${OUT_DIR})
  else()
    message("note: onnx.checker part skipped: /usr/bin/python3 with the onnx module not found")
  endif()
  if(NODE AND ORT_SCRIPT AND EXISTS ${ORT_DIR}/node_modules/onnxruntime-node/package.json)
    kn_run(${NODE} ${ORT_SCRIPT} --ort ${ORT_DIR} --manifest ${OUT_DIR}/manifest.txt --atol 1e-6)
  else()
    message("note: ONNX Runtime part skipped: node or onnxruntime-node in ${ORT_DIR} not found")
  endif()
else()
  message(FATAL_ERROR "run_export.cmake: unknown MODE '${MODE}'")
endif()
