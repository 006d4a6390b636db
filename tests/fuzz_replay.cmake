# Fuzz regressions (label `fuzz`): every input under fuzz/corpus/HARNESS once crashed, hung or over-allocated
# in kiln (found by the libFuzzer harnesses of fuzz/, fixed since). Each harness is built here with an ordinary
# main (fuzz/replay_main.c, any compiler, no libFuzzer) that runs it once on every such file; a crash, sanitizer
# report or an input running over 60 s fails the case fuzz_replay.HARNESS.
set(KN_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)
file(GLOB KN_FUZZ_CORPORA LIST_DIRECTORIES true ${KN_FUZZ_DIR}/corpus/*)
foreach(corpus ${KN_FUZZ_CORPORA})
  get_filename_component(harness ${corpus} NAME)
  add_executable(fuzz_replay_${harness} ${KN_FUZZ_DIR}/fuzz_${harness}.c ${KN_FUZZ_DIR}/fuzz_util.c
                 ${KN_FUZZ_DIR}/replay_main.c)
  target_include_directories(fuzz_replay_${harness} PRIVATE ${KN_FUZZ_DIR})
  target_link_libraries(fuzz_replay_${harness} PRIVATE kiln ZLIB::ZLIB)
  target_compile_definitions(fuzz_replay_${harness} PRIVATE
                             KN_FUZZ_CHECKPOINT_SPEC="${KN_FUZZ_DIR}/checkpoint.kiln")
  add_test(NAME fuzz_replay.${harness} COMMAND fuzz_replay_${harness} ${corpus})
  set_tests_properties(fuzz_replay.${harness} PROPERTIES LABELS fuzz TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=1;TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")
endforeach()
