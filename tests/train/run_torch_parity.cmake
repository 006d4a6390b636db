# cmake -P script: one training step of kiln against PyTorch (see tests/train.cmake).
#
#   -DKILN=kiln -DPYTHON=python3 -DSPEC=parity.kiln -DMODEL=NAME -DTRAIN=BLOCK -DWORK=DIR -DARGS="optimizer args"
#
# Writes the model as ONNX (its structure), runs one training batch with --dump-step, and runs
# scripts/torch_train_step.py, which rebuilds the step in PyTorch and compares the loss, every gradient and
# every weight after the update within 1e-4 of each tensor's scale. No python3 with torch and onnx: KILN_SKIP.
foreach(var KILN SPEC MODEL TRAIN WORK SCRIPT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_torch_parity.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT PYTHON)
  message("KILN_SKIP: PyTorch parity needs python3 with torch and onnx (python3-torch python3-onnx)")
  return()
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${KILN} compile ${SPEC} --model ${MODEL} -o ${WORK}/${MODEL}.onnx RESULT_VARIABLE rc
                OUTPUT_VARIABLE o ERROR_VARIABLE e)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kiln compile: ${o}${e}")
endif()
execute_process(COMMAND ${KILN} train ${SPEC} --train ${TRAIN} --dump-step ${WORK}/step RESULT_VARIABLE rc
                OUTPUT_VARIABLE o ERROR_VARIABLE e)
message("${o}${e}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kiln train --dump-step failed")
endif()
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${PYTHON} ${SCRIPT} --onnx ${WORK}/${MODEL}.onnx --dump ${WORK}/step --model ${MODEL} ${args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
message("${o}${e}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kiln's training step differs from PyTorch's")
endif()
