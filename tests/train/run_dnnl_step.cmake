# cmake -P script: one training step of a .kiln model on the oneDNN backend against the reference backend
# (tests/train.cmake, issue 14).
#
#   -DKILN=kiln -DCOMPARE=kn_npy_compare -DMAKE_DATASET=kn_make_dataset -DSPEC=FILE.kiln -DWORK=DIR
#   [-DDATA=DIR|idx|cifar10] [-DARGS="..."]
#
# `kiln train SPEC --dump-step` on both backends from the same seeded weights and batch writes the loss, every
# weight before and after the optimizer update, every gradient, the optimizer state and the Dropout masks; each
# file of the dnnl run must match the reference run's within 1e-4 of that tensor's scale (max |ref|), 1e-3 for
# the state after the update (see below).
# DATA=idx or cifar10 trains on 64 samples of seeded random pixels that kn_make_dataset writes under WORK first.
foreach(var KILN COMPARE SPEC WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_dnnl_step.cmake: -D${var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(extra)
if(DEFINED ARGS)
  separate_arguments(extra UNIX_COMMAND "${ARGS}")
endif()
if(DEFINED DATA AND (DATA STREQUAL "idx" OR DATA STREQUAL "cifar10"))
  # seeded random pixels (kn_make_dataset): no exact ties for max pooling to break differently on two backends
  execute_process(COMMAND ${CMAKE_COMMAND} -E make_directory ${WORK}/data)
  execute_process(COMMAND ${MAKE_DATASET} ${DATA} ${WORK}/data 64 RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kn_make_dataset ${DATA} failed")
  endif()
  set(DATA ${WORK}/data)
  list(APPEND extra --limit 64)
endif()
if(DEFINED DATA)
  list(APPEND extra --data ${DATA})
endif()
foreach(backend ref dnnl)
  execute_process(COMMAND ${KILN} train ${SPEC} --backend ${backend} --threads 2 --dump-step ${WORK}/${backend} ${extra}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  message("$ kiln train ${SPEC} --backend ${backend} --dump-step ${WORK}/${backend} ${extra}\n${o}${e}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "kiln train --backend ${backend} failed (exit ${rc})")
  endif()
endforeach()
file(GLOB files RELATIVE ${WORK}/ref ${WORK}/ref/*.npy)
list(LENGTH files count)
if(count LESS 4)
  message(FATAL_ERROR "the reference run wrote ${count} files")
endif()
set(failed 0)
foreach(f ${files})
  # the weights and optimizer state after the update: 1e-3 of their scale. Adam divides each element's step by
  # the root of its own squared gradient, so a gradient within rounding of 0 on either backend changes that
  # element's step by a visible fraction; for a bias that starts at zero the step is all of the tensor (seen:
  # 1.4e-4 of the scale on one element of 1,024). The gradients, moments before the update and the loss: 1e-4.
  set(tol 1e-4)
  if(f MATCHES "[.]after[.]npy$")
    set(tol 1e-3)
  endif()
  execute_process(COMMAND ${COMPARE} --atol 0 --scale-rtol ${tol} --label ${f} ${WORK}/dnnl/${f} ${WORK}/ref/${f}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
  message("${o}${e}")
  if(NOT rc EQUAL 0)
    math(EXPR failed "${failed} + 1")
  endif()
endforeach()
if(failed GREATER 0)
  message(FATAL_ERROR "${failed} of ${count} tensors of the dnnl step differ from the reference step")
endif()
message("all ${count} tensors of one training step agree (dnnl against ref)")
