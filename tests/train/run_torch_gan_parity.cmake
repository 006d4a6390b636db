# cmake -P script: one alternating GAN step of kiln (discriminator step, generator step) against PyTorch
# (see tests/train.cmake).
#
#   -DKILN=kiln -DPYTHON=python3 -DSPEC=gan.kiln -DWORK=DIR -DSCRIPT=torch_gan_step.py [-DARGS="kiln train args"]
#
# Writes both models as ONNX (their structure), runs one batch with --dump-step, and runs
# scripts/torch_gan_step.py, which recomputes both steps in PyTorch (float64) and compares both losses, every
# gradient and every weight after the batch. No python3 with torch and onnx: KILN_SKIP.
foreach(var KILN SPEC WORK SCRIPT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_torch_gan_parity.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT PYTHON)
  message("KILN_SKIP: PyTorch parity needs python3 with torch and onnx (python3-torch python3-onnx)")
  return()
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
foreach(model generator discriminator)
  execute_process(COMMAND ${KILN} compile ${SPEC} --model ${model} --emit onnx -o ${WORK}/${model}.onnx
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kiln compile --model ${model}: ${o}${e}")
  endif()
endforeach()
separate_arguments(args UNIX_COMMAND "${ARGS}")
execute_process(COMMAND ${KILN} train ${SPEC} ${args} --dump-step ${WORK}/step RESULT_VARIABLE rc
                OUTPUT_VARIABLE o ERROR_VARIABLE e)
message("${o}${e}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kiln train --dump-step failed")
endif()
execute_process(COMMAND ${PYTHON} ${SCRIPT} --generator ${WORK}/generator.onnx
                        --discriminator ${WORK}/discriminator.onnx --dump ${WORK}/step
                RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
message("${o}${e}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "kiln's GAN step differs from PyTorch's")
endif()
