# cmake -P script: one oneDNN parity run at one instruction set (see tests/dnnl.cmake).
#
#   -DCMD="test_dnnl;--models-dir;DIR" [-DISA=AVX2] [-DLAYOUT=nChw16c] [-DCONV=nChw8c]
#
# Runs CMD with DNNL_VERBOSE=1 (oneDNN prints every primitive it executes,
# with the implementation it chose), DNNL_MAX_CPU_ISA=ISA when given, and
# KILN_DNNL_CHECK_PADDING=1 (the backend checks the zero padding of every
# blocked output), and KILN_DNNL_LAYOUT=LAYOUT when given (kiln's own kernels
# run on that layout whatever this CPU's convolutions pick), and
# KILN_DNNL_CONV_LAYOUT=CONV when given (every convolution's src and dst in
# that layout rather than the one timed at compile time). Fails when CMD fails, or when any primitive executed was
# one of oneDNN's reference implementations ("ref:any", "bnorm_ref:any", ...): the backend
# must refuse those (orders of magnitude slower) and run the node another
# way. Prints CMD's own output without the verbose lines, and how many
# primitives ran with which implementation. A KILN_SKIP line (this CPU lacks
# the level) passes through to the test's SKIP_REGULAR_EXPRESSION.

if(NOT DEFINED CMD)
  message(FATAL_ERROR "run_isa.cmake: -DCMD=... is required")
endif()
set(ENV{DNNL_VERBOSE} 1)
set(ENV{KILN_DNNL_CHECK_PADDING} 1)
if(DEFINED ISA AND NOT ISA STREQUAL "")
  set(ENV{DNNL_MAX_CPU_ISA} ${ISA})
endif()
if(DEFINED LAYOUT AND NOT LAYOUT STREQUAL "")
  set(ENV{KILN_DNNL_LAYOUT} ${LAYOUT})
endif()
if(DEFINED CONV AND NOT CONV STREQUAL "")
  set(ENV{KILN_DNNL_CONV_LAYOUT} ${CONV})
endif()
execute_process(COMMAND ${CMD} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REPLACE ";" "\\;" out "${out}")
string(REPLACE "\n" ";" lines "${out}")
set(own "")
set(refs "")
set(nexec 0)
set(impls "")
foreach(line IN LISTS lines)
  if(line MATCHES "^onednn_verbose,exec,cpu,([^,]*),([^,]*),")
    math(EXPR nexec "${nexec} + 1")
    set(impl "${CMAKE_MATCH_1} ${CMAKE_MATCH_2}")
    list(APPEND impls "${impl}")
    if(CMAKE_MATCH_2 MATCHES "(^|_)ref(_|:|$)")
      string(APPEND refs "  ${line}\n")
    endif()
  elseif(NOT line MATCHES "^onednn_verbose,")
    string(APPEND own "${line}\n")
  endif()
endforeach()
message("${own}${err}")
list(REMOVE_DUPLICATES impls)
list(LENGTH impls nimpl)
string(REPLACE ";" ", " impls "${impls}")
message("${nexec} oneDNN primitives executed, ${nimpl} kinds: ${impls}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${CMD} failed (${rc})")
endif()
if(refs)
  message(FATAL_ERROR "oneDNN reference implementations were executed (the backend must refuse them):\n${refs}")
endif()
