# cmake -P script: one data-parallel training check on MPI (see tests/train.cmake).
#
#   -DKILN=kiln -DMPIRUN=mpirun|"" -DCOMPARE=kn_npy_compare -DMODELS=models/ -DCHECK=... -DWORK=DIR [-DBACKEND=dnnl]
#
#   match          2 ranks at global batch 64 against 1 process at batch 64, 10 steps of mnist_cnn (Dropout,
#                  shifts, Adam, cosine schedule): every trained weight within 1e-5 of its tensor's scale; both
#                  ranks end with the same weights
#   deterministic  --deterministic twice on 2 ranks: the same weights hash on every rank and in both runs
#   indivisible    a batch size the ranks do not divide (63 over 2): a clear error, exit 1
#   gan            the MLP GAN (two steps per batch, BatchNorm in the generator) on 2 ranks with --sync-batchnorm
#                  against 1 process: every weight within 1e-3 of its tensor's scale (per-rank statistics: 2e-2;
#                  Adam magnifies the rounding of the gradients that are ~0, as before a BatchNorm); with per-rank
#                  statistics (the default) it trains and the ranks agree
#   resume         2 epochs on 2 ranks, and 1 epoch (--stop-after) then --resume: the same weights
#   hang           rank 1 stopped (SIGSTOP) while training: rank 0 gives up after --comm-timeout 3 s with an error
#                  naming the timeout, and the job ends (MPI_Abort) instead of hanging
#
# Without mpirun (MPIRUN empty) the check says "skipped: no mpirun", which ctest reports as skipped.

foreach(var KILN CHECK WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_mpi_check.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT MPIRUN)
  message("skipped: no mpirun (install openmpi-bin and libopenmpi-dev, and build with KILN_WITH_MPI=ON)")
  return()
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(SPEC ${MODELS}/mnist_cnn.kiln)
# one thread a rank: 2 ranks on a machine of 2 cores; root in CI containers
set(NP ${MPIRUN} --oversubscribe --allow-run-as-root --bind-to none -x OMP_NUM_THREADS=1 -np 2)

# kn_run(OUT_VAR EXPECT_RC CMD...): run, print, check the exit code; the output (stdout + stderr) into OUT_VAR
function(kn_run out expect)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 600)
  string(REPLACE ";" " " cmd "${ARGN}")
  message("$ ${cmd}\n${o}${e}")
  if(expect STREQUAL "0" AND NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (exit ${rc})")
  elseif(NOT expect STREQUAL "0" AND rc EQUAL 0)
    message(FATAL_ERROR "succeeded, but it should have failed")
  endif()
  set(${out} "${o}${e}" PARENT_SCOPE)
endfunction()

function(kn_hash text out)
  string(REGEX MATCH "weights hash ([0-9a-f]+)" m "${text}")
  if(NOT CMAKE_MATCH_1)
    message(FATAL_ERROR "no weights hash in the output")
  endif()
  set(${out} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()

function(kn_ranks_agree text)
  if(NOT text MATCHES "the same weights on all 2 ranks")
    message(FATAL_ERROR "the ranks do not report the same weights")
  endif()
endfunction()

# kn_compare_dirs(A B SCALE_RTOL): every .npy of A against B's
function(kn_compare_dirs actual expected tol)
  file(GLOB files RELATIVE ${expected} ${expected}/*.npy)
  list(LENGTH files n)
  if(n EQUAL 0)
    message(FATAL_ERROR "no weights in ${expected}")
  endif()
  set(bad 0)
  foreach(f IN LISTS files)
    execute_process(COMMAND ${COMPARE} --atol 0 --scale-rtol ${tol} ${actual}/${f} ${expected}/${f}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e)
    message("${o}${e}")
    if(NOT rc EQUAL 0)
      math(EXPR bad "${bad} + 1")
    endif()
  endforeach()
  if(bad GREATER 0)
    message(FATAL_ERROR "${bad} of ${n} weights differ by more than ${tol} of their scale")
  endif()
  message("all ${n} weights within ${tol} of their scale")
endfunction()

set(COMMON --epochs 1 --limit 640 --batch-size 64 --threads 1 --no-eval --seed 3)
if(DEFINED BACKEND)
  list(APPEND COMMON --backend ${BACKEND}) # the same check on another backend (deterministic_dnnl)
endif()
if(CHECK STREQUAL "match")
  kn_run(one 0 ${KILN} train ${SPEC} ${COMMON} --save-weights ${WORK}/one)
  kn_run(two 0 ${NP} ${KILN} train ${SPEC} ${COMMON} --save-weights ${WORK}/two)
  if(NOT one MATCHES "after 10 steps" OR NOT two MATCHES "after 10 steps")
    message(FATAL_ERROR "expected 10 steps of 64")
  endif()
  kn_ranks_agree("${two}")
  kn_compare_dirs(${WORK}/two ${WORK}/one 1e-5)
elseif(CHECK STREQUAL "deterministic")
  kn_run(a 0 ${NP} ${KILN} train ${SPEC} ${COMMON} --deterministic --bucket-kb 64)
  kn_run(b 0 ${NP} ${KILN} train ${SPEC} ${COMMON} --deterministic --bucket-kb 64)
  kn_ranks_agree("${a}")
  kn_ranks_agree("${b}")
  kn_hash("${a}" ha)
  kn_hash("${b}" hb)
  if(NOT ha STREQUAL hb)
    message(FATAL_ERROR "--deterministic: two runs differ: ${ha}, ${hb}")
  endif()
  if(NOT a MATCHES "gradient buckets")
    message(FATAL_ERROR "no bucket summary")
  endif()
  message("two deterministic runs on 2 ranks: ${ha} on every rank, both times")
elseif(CHECK STREQUAL "indivisible")
  kn_run(o 1 ${NP} ${KILN} train ${SPEC} --epochs 1 --limit 128 --batch-size 63 --threads 1)
  if(NOT o MATCHES "the batch size 63 is not a multiple of the 2 ranks")
    message(FATAL_ERROR "expected the error naming the batch size and the ranks")
  endif()
elseif(CHECK STREQUAL "gan")
  set(GAN ${MODELS}/mlp_gan.kiln --epochs 1 --limit 256 --threads 1 --no-eval --seed 4)
  kn_run(one 0 ${KILN} train ${GAN} --save-weights ${WORK}/one)
  kn_run(two 0 ${NP} ${KILN} train ${GAN} --sync-batchnorm --save-weights ${WORK}/two)
  kn_ranks_agree("${two}")
  kn_compare_dirs(${WORK}/two ${WORK}/one 1e-3)
  kn_run(own 0 ${NP} ${KILN} train ${GAN})
  kn_ranks_agree("${own}")
  if(NOT own MATCHES "discriminator loss [0-9.]+ - generator loss [0-9.]+")
    message(FATAL_ERROR "no GAN losses")
  endif()
elseif(CHECK STREQUAL "resume")
  set(R --epochs 2 --limit 256 --batch-size 64 --threads 1 --no-eval)
  kn_run(a 0 ${NP} ${KILN} train ${SPEC} ${R} --checkpoint ${WORK}/straight)
  kn_run(b 0 ${NP} ${KILN} train ${SPEC} ${R} --stop-after 1 --checkpoint ${WORK}/split)
  kn_run(c 0 ${NP} ${KILN} train ${SPEC} ${R} --checkpoint ${WORK}/split --resume)
  kn_hash("${a}" ha)
  kn_hash("${c}" hc)
  if(NOT ha STREQUAL hc)
    message(FATAL_ERROR "resumed on 2 ranks: ${hc}, uninterrupted ${ha}")
  endif()
  if(NOT EXISTS ${WORK}/split/epoch_001.kcpt OR NOT EXISTS ${WORK}/straight/latest.kcpt)
    message(FATAL_ERROR "rank 0 wrote no checkpoint")
  endif()
  message("2 ranks: 1 epoch + --resume gives the uninterrupted run's weights (${ha})")
elseif(CHECK STREQUAL "hang")
  # rank 1 runs under a shell that stops it 2 s in; rank 0 must give up after 3 s without an answer
  set(T ${SPEC} --epochs 20 --limit 1000 --batch-size 64 --threads 1 --no-eval --comm-timeout 3)
  string(REPLACE ";" " " targs "${T}")
  file(WRITE ${WORK}/rank1.sh "${KILN} train ${targs} &
p=$!
trap 'kill -KILL $p; exit 1' TERM INT
sleep 2
kill -STOP $p
sleep 60 &
wait $!
kill -KILL $p
")
  kn_run(o 1 ${MPIRUN} --oversubscribe --allow-run-as-root --bind-to none -x OMP_NUM_THREADS=1
         -np 1 ${KILN} train ${T} : -np 1 sh ${WORK}/rank1.sh)
  if(NOT o MATCHES "rank 0 of 2: .*the other ranks did not answer for 3 s")
    message(FATAL_ERROR "expected rank 0's timeout error")
  endif()
else()
  message(FATAL_ERROR "unknown CHECK ${CHECK}")
endif()
