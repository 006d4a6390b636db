# `kiln bench` checks, label `cli`: exit codes, messages and the output
# formats (text, JSON, CSV) of the command. Never a wall-clock threshold:
# only that the numbers are there and consistent (min <= median <= max, ...).
# Each case goes through tests/cli/check.sh (exit code + output regexes, and a
# failure on any sanitizer report).

set(KN_BENCH_CHECK ${CMAKE_CURRENT_SOURCE_DIR}/cli/check.sh)
set(KN_BENCH_MNIST ${PROJECT_SOURCE_DIR}/models/mnist_small.onnx)
set(KN_BENCH_SPEC ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln)
set(KN_BENCH_ENV "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive;ASAN_OPTIONS=detect_leaks=1:exitcode=86;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87")
# short runs: the checks are about behaviour, not speed
set(KN_BENCH_FAST --warmup 1 --iters 3)

# kn_bench_test(NAME RC [check.sh options...] -- [kiln arguments...])
# registers ctest case cli_bench_NAME: `kiln ARGS` must exit with RC and pass the checks.
function(kn_bench_test name rc)
  set(args ${ARGN})
  list(FIND args "--" sep)
  if(sep LESS 0)
    message(FATAL_ERROR "kn_bench_test(${name}): missing --")
  endif()
  math(EXPR after "${sep} + 1")
  list(INSERT args ${after} $<TARGET_FILE:kiln_cli>)
  add_test(NAME cli_bench_${name} COMMAND sh ${KN_BENCH_CHECK} ${rc} ${args})
  set_tests_properties(cli_bench_${name} PROPERTIES LABELS cli TIMEOUT 300 ENVIRONMENT "${KN_BENCH_ENV}")
endfunction()

# ---------------------------------------------------------------- usage
kn_bench_test(help 0 -o "^usage: kiln bench " -o "--backend LIST" -o "--iters N" -o "--time S"
              -o "--json" -o "--csv" -- bench --help)
kn_bench_test(listed 0 -o "^  bench +measure" -- --help)
kn_bench_test(help_command 0 -o "^usage: kiln bench " -- help bench)
kn_bench_test(no_model 2 -e "^kiln bench: missing MODEL" -e "^usage: kiln bench " -- bench)
kn_bench_test(unknown_option 2 -e "^kiln bench: unknown option '--frob'" -n "error:"
              -- bench ${KN_BENCH_MNIST} --frob)
kn_bench_test(two_models 2 -e "^kiln bench: unexpected argument 'b.onnx'" -- bench a.onnx b.onnx)
kn_bench_test(missing_value 2 -e "^kiln bench: option '--iters' needs a value" -- bench ${KN_BENCH_MNIST} --iters)
kn_bench_test(bad_batch 2 -e "^kiln bench: --batch needs a comma-separated list of integers from 1 to 1048576, got '1,0'"
              -- bench ${KN_BENCH_MNIST} --batch 1,0)
kn_bench_test(batch_too_large 2
              -e "^kiln bench: --batch needs a comma-separated list of integers from 1 to 1048576, got '100000000'"
              -- bench ${KN_BENCH_MNIST} --batch 100000000)
kn_bench_test(bad_batch_empty 2 -e "^kiln bench: --batch needs .* got '1,,2'"
              -- bench ${KN_BENCH_MNIST} --batch 1,,2)
kn_bench_test(bad_iters 2 -e "^kiln bench: --iters needs an integer from 1 to 100000000, got '0'"
              -- bench ${KN_BENCH_MNIST} --iters 0)
kn_bench_test(bad_time 2 -e "^kiln bench: --time needs a positive number of seconds \\(at most 86400\\), got 'soon'"
              -- bench ${KN_BENCH_MNIST} --time soon)
kn_bench_test(bad_threads 2 -e "^kiln bench: --threads needs an integer from 0 to 4096, got '-1'"
              -- bench ${KN_BENCH_MNIST} --threads=-1)
kn_bench_test(iters_and_time 2 -e "^kiln bench: --iters and --time exclude each other"
              -- bench ${KN_BENCH_MNIST} --iters 5 --time 1)
kn_bench_test(json_and_csv 2 -e "^kiln bench: --json and --csv exclude each other"
              -- bench ${KN_BENCH_MNIST} --json --csv)
kn_bench_test(duplicate_backend 2 -e "^kiln bench: --backend: 'ref' is given twice"
              -- bench ${KN_BENCH_MNIST} --backend ref,ref)
# an unknown backend is reported before anything is loaded or timed, with the list of backends
kn_bench_test(unknown_backend 1 -e "^kiln: error: unknown backend 'nosuch' \\(available: ([a-z]+, ?)*ref(, ?[a-z]+)*\\)$"
              -n "^backend " -- bench ${KN_BENCH_MNIST} --backend ref,nosuch)
kn_bench_test(missing_model 1 -e "^kiln: error: .*no_such_model[.]onnx" -n "usage:"
              -- bench ${CMAKE_CURRENT_BINARY_DIR}/no_such_model.onnx)

# ---------------------------------------------------------------- OpenMP spinning (runtime/cli/main.c)
# neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set: kiln sets GOMP_SPINCOUNT=30000 and starts itself again (same
# arguments, same answers); a value the user set is kept, and OMP_WAIT_POLICY alone leaves GOMP_SPINCOUNT unset
kn_bench_test(spin_default 0 -o "^OMP_WAIT_POLICY: unset, GOMP_SPINCOUNT: 30000$" -o "^ref +1 +[0-9.]+ +3 "
              -- bench ${KN_BENCH_MNIST} --backend ref ${KN_BENCH_FAST})
kn_bench_test(spin_user 0 -o "^OMP_WAIT_POLICY: unset, GOMP_SPINCOUNT: 7$"
              -- bench ${KN_BENCH_MNIST} --backend ref ${KN_BENCH_FAST})
kn_bench_test(spin_policy 0 -o "^OMP_WAIT_POLICY: active$" -- bench ${KN_BENCH_MNIST} --backend ref ${KN_BENCH_FAST})
if(NOT CMAKE_VERSION VERSION_LESS 3.22)
  set_tests_properties(cli_bench_spin_default PROPERTIES ENVIRONMENT_MODIFICATION "OMP_WAIT_POLICY=unset:;GOMP_SPINCOUNT=unset:")
  set_tests_properties(cli_bench_spin_user PROPERTIES ENVIRONMENT_MODIFICATION "OMP_WAIT_POLICY=unset:;GOMP_SPINCOUNT=set:7")
  set_tests_properties(cli_bench_spin_policy PROPERTIES ENVIRONMENT_MODIFICATION "OMP_WAIT_POLICY=set:active;GOMP_SPINCOUNT=unset:")
endif()

# ---------------------------------------------------------------- output
# text: header, one row per backend x batch, and no progress line when stderr is not a terminal
kn_bench_test(text 0 -o "^model: .*mnist_small[.]onnx \\([0-9.]+ KFLOPs per image, 9,098 parameters"
              -o "^threads: 1, warm-up runs: 1, timed runs: 3, load: [0-9.]+ ms$"
              -o "^OMP_WAIT_POLICY: passive$"
              -o "^backend +batch +init ms +runs +min ms +median ms +p90 ms +p99 ms +max ms +images/s +GFLOP/s +peak RSS +max abs +max rel$"
              -o "^ref +1 +[0-9.]+ +3 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ [KMG]iB +0 +0$"
              -o "^ref +4 +[0-9.]+ +3 "
              -n "warm-up [0-9]|timing [0-9]|compiling"
              -- bench ${KN_BENCH_MNIST} --batch 1,4 --threads 1 ${KN_BENCH_FAST})
kn_bench_test(spec 0 -o "^model: .*mnist_cnn[.]kiln" -o "^ref +2 +[0-9.]+ +3 "
              -- bench ${KN_BENCH_SPEC} --batch 2 ${KN_BENCH_FAST})
kn_bench_test(csv 0
              -o "^model,backend,batch,threads,init_ms,compile_ms,iters,min_ms,median_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms,images_per_s,gflops,peak_rss_kib,max_abs_diff,max_rel_diff$"
              -o "^mnist_small[.]onnx,ref,1,2,[0-9.]+,[0-9.]+,3(,[0-9.]+){4},(,[0-9.]+){4},[0-9]+,0,0$"
              -o "^mnist_small[.]onnx,ref,3,2,"
              -n "^model:"
              -- bench ${KN_BENCH_MNIST} --batch 1,3 --threads 2 --csv ${KN_BENCH_FAST})
# --timeout: a run past its limit stops with an error naming the node it stopped before (1 us: before any node)
kn_bench_test(timeout 1
              -e "^kiln: error: the run took longer than its time limit of 1e-06 s: stopped before node '[^']+' \\([A-Za-z]+\\), [0-9]+ of [0-9]+ nodes done$"
              -- bench ${PROJECT_SOURCE_DIR}/models/image_classifier.kiln --backend ref --timeout 0.000001 --iters 1 --warmup 0)
kn_bench_test(bad_timeout 2 -e "^kiln bench: --timeout needs a positive number of seconds \\(at most 86400\\), got '0'$"
              -- bench ${KN_BENCH_MNIST} --timeout 0)
# p99.9 from 1,000 runs: a column (text), a number (CSV) between p99 and max
kn_bench_test(tail 0
              -o "^backend +batch +init ms +runs +min ms +median ms +p90 ms +p99 ms +p99[.]9 ms +max ms +images/s "
              -o "^ref +1 +[0-9.]+ +1000( +[0-9.]+){8} +[0-9.]+ [KMG]iB +0 +0$"
              -- bench ${KN_BENCH_MNIST} --backend ref --threads 1 --warmup 0 --iters 1000)
kn_bench_test(tail_csv 0 -o "^mnist_small[.]onnx,ref,1,1,[0-9.]+,[0-9.]+,1000(,[0-9.]+){6},"
              -- bench ${KN_BENCH_MNIST} --backend ref --threads 1 --warmup 0 --iters 1000 --csv)
kn_bench_test(time 0 -o "^mnist_small[.]onnx,ref,1,0,[0-9.]+,[0-9.]+,[1-9][0-9]*,"
              -- bench ${KN_BENCH_MNIST} --time 0.05 --warmup 0 --csv)
kn_bench_test(json_fields 0 -o "^  \"flops_per_image\": 589578,$" -o "^  \"iters\": 3,$"
              -o "\"name\": \"image\", \"dtype\": \"float32\", \"shape\": \\[-1, 1, 28, 28\\]"
              -o "\"backend\": \"ref\", \"batch\": 2, \"compile_ms\": [0-9.]+"
              -o "\"max_abs_diff\": 0, \"max_rel_diff\": 0, \"backend_note\": null}"
              -- bench ${KN_BENCH_MNIST} --batch 2 --json ${KN_BENCH_FAST})

# JSON: parses, and the numbers are consistent (no timing threshold)
find_program(KN_BENCH_PYTHON NAMES python3)
if(KN_BENCH_PYTHON)
  set(kn_bench_json_check [=[
import json, sys
d = json.load(sys.stdin)
rows = d["results"]
assert [(r["backend"], r["batch"]) for r in rows] == [("ref", 1), ("ref", 2)], rows
for r in rows:
    # median_ms is printed with 4 decimals: allow its rounding (5e-5 ms) in the derived rates
    tol = 5e-5 / r["median_ms"] + 1e-3
    assert r["iters"] == 4, r
    assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"], r
    assert r["p999_ms"] is None, r  # fewer than 1,000 runs
    assert r["init_ms"] >= r["compile_ms"] >= 0, r
    assert abs(r["images_per_s"] - r["batch"] / (r["median_ms"] / 1e3)) <= tol * r["images_per_s"] + 1e-3, r
    assert abs(r["gflops"] - d["flops_per_image"] * r["batch"] / (r["median_ms"] / 1e3) / 1e9) <= tol * r["gflops"] + 1e-3, r
    assert r["peak_rss_kib"] > 0 and r["max_abs_diff"] == 0 and r["max_rel_diff"] == 0, r
assert d["threads"] == 1 and d["warmup"] == 0 and d["seed"] == 7 and d["omp_wait_policy"] == "passive", d
print("bench json ok")
]=])
  add_test(NAME cli_bench_json_valid
           COMMAND sh -c "\"$1\" bench \"$2\" --backend ref --batch 1,2 --threads 1 --warmup 0 --iters 4 --seed 7 --json | \"$3\" -c \"$4\""
                   kn_bench $<TARGET_FILE:kiln_cli> ${KN_BENCH_MNIST} ${KN_BENCH_PYTHON} "${kn_bench_json_check}")
  set_tests_properties(cli_bench_json_valid PROPERTIES LABELS cli TIMEOUT 300 ENVIRONMENT "${KN_BENCH_ENV}"
                       PASS_REGULAR_EXPRESSION "bench json ok")
endif()

# a progress line on a terminal: run under script(1), which gives the command a pty
find_program(KN_BENCH_SCRIPT NAMES script)
if(KN_BENCH_SCRIPT)
  add_test(NAME cli_bench_progress_tty
           COMMAND ${KN_BENCH_SCRIPT} -qec "$<TARGET_FILE:kiln_cli> bench ${KN_BENCH_MNIST} --warmup 2 --iters 3" /dev/null)
  set_tests_properties(cli_bench_progress_tty PROPERTIES LABELS cli TIMEOUT 300 ENVIRONMENT "${KN_BENCH_ENV}"
                       PASS_REGULAR_EXPRESSION "bench ref batch 1: warm-up 2/2")
endif()

# ---------------------------------------------------------------- --profile
# per-node medians after the timed runs: sorted, shares, fused ops in the names,
# the top 25 then one "others" line (tests/cli/deep_mlp.kiln has 30 nodes)
set(KN_BENCH_DEEP ${CMAKE_CURRENT_SOURCE_DIR}/cli/deep_mlp.kiln)
kn_bench_test(profile_help 0 -o "--profile +also time every node" -- bench --help)
kn_bench_test(profile_csv 2 -e "^kiln bench: --profile and --csv exclude each other"
              -- bench ${KN_BENCH_MNIST} --profile --csv)
kn_bench_test(profile_text 0 -o "^ref +1 +[0-9.]+ +3 "
              -o "^profile: ref batch 1 \\(median per node over 3 runs, sum [0-9.]+ ms, 7 nodes\\)$"
              -o "^profile: ref batch 2 \\(median per node over 3 runs, "
              -o "^rank +median ms +share +node \\(ops\\)$"
              -o "^   1 +[0-9]+[.][0-9]{4} +[0-9]+[.][0-9]% +/[^ ]+ \\([A-Za-z+]+\\)$"
              -o "^ +[1-7] +[0-9.]+ +[0-9.]+% +/net/conv1/Conv \\(Conv[+]Relu\\)$"
              -o "^   7 +[0-9.]+ +[0-9.]+% +[^ ].* \\([A-Za-z+]+\\)$"
              -n "^   8 " -n "others" -n "profiling"
              -- bench ${KN_BENCH_MNIST} --batch 1,2 --threads 1 --profile ${KN_BENCH_FAST})
kn_bench_test(profile_residual 0 -o " conv2d_[0-9]+ \\(Conv[+]Add[+]Relu\\)$"
              -- bench ${PROJECT_SOURCE_DIR}/models/resnet_small.kiln --threads 1 --profile --warmup 0 --iters 1)
kn_bench_test(profile_top 0 -o "^profile: ref batch 1 \\(median per node over 3 runs, sum [0-9.]+ ms, 30 nodes\\)$"
              -o "^  25 +[0-9.]+ +[0-9.]+% +[^ ]+ \\(Gemm([+]Relu)?\\)$"
              -o "^ +[0-9.]+ +[0-9.]+% +others \\(5 nodes\\)$" -n "^  26 "
              -- bench ${KN_BENCH_DEEP} --threads 1 --profile ${KN_BENCH_FAST})
# the oneDNN backend times its nodes too (reorders count toward the node they feed), fused names shown
if(KILN_WITH_ONEDNN)
  kn_bench_test(profile_dnnl 0 -o "^profile: dnnl batch 1 \\(median per node over 3 runs, sum [0-9.]+ ms, 7 nodes\\)$"
                -o "^ +[1-7] +[0-9.]+ +[0-9.]+% +/net/conv1/Conv \\(Conv[+]Relu\\)$"
                -o "^ +[1-7] +[0-9.]+ +[0-9.]+% +/net/flatten/Flatten \\(Flatten\\)$"
                -n "^profile: ref " -n "not available" -n "^   8 "
                -- bench ${KN_BENCH_MNIST} --backend dnnl --threads 1 --profile ${KN_BENCH_FAST})
  # the convolution layout the backend used, under the table and in JSON (set here: timing it would be a choice)
  kn_bench_test(dnnl_conv_layout 0 -o "^dnnl batch 2: convolution layout nChw8c [(]KILN_DNNL_CONV_LAYOUT[)]$"
                -n "^ref batch"
                -- bench ${KN_BENCH_MNIST} --backend ref,dnnl --batch 2 --threads 1 ${KN_BENCH_FAST})
  kn_bench_test(dnnl_conv_layout_json 0 -o "\"backend_note\": \"convolution layout nChw16c [(]KILN_DNNL_CONV_LAYOUT[)]\""
                -- bench ${KN_BENCH_MNIST} --backend dnnl --threads 1 --json ${KN_BENCH_FAST})
  set_property(TEST cli_bench_dnnl_conv_layout APPEND PROPERTY ENVIRONMENT "KILN_DNNL_CONV_LAYOUT=nChw8c")
  set_property(TEST cli_bench_dnnl_conv_layout_json APPEND PROPERTY ENVIRONMENT "KILN_DNNL_CONV_LAYOUT=nChw16c")
endif()
if(KN_BENCH_PYTHON)
  set(kn_bench_profile_check [=[
import json, sys
d = json.load(sys.stdin)
rows = d["results"]
assert [(r["backend"], r["batch"]) for r in rows] == [("ref", 1), ("ref", 3)], rows
for r in rows:
    p = r["profile"]
    assert r["profile_runs"] == 4 and len(p) == 7, r
    assert sorted(e["node"] for e in p) == sorted(["/net/conv1/Conv", "/net/conv2/Conv", "/net/pool/MaxPool",
        "/net/pool_1/MaxPool", "/net/flatten/Flatten", "/net/fc/Gemm", "/Softmax"]), p
    ms = [e["median_ms"] for e in p]
    assert ms == sorted(ms, reverse=True) and min(ms) >= 0, ms
    assert abs(sum(ms) - r["profile_total_ms"]) <= 1e-3 + 1e-3 * r["profile_total_ms"], r
    assert abs(sum(e["share"] for e in p) - 1) < 1e-3, p
    assert all(e["ops"] == e["op"] or e["ops"].startswith(e["op"] + "+") for e in p), p
    assert {e["ops"] for e in p if e["op"] == "Conv"} == {"Conv+Relu"}, p
print("bench profile json ok")
]=])
  add_test(NAME cli_bench_profile_json
           COMMAND sh -c "\"$1\" bench \"$2\" --backend ref --batch 1,3 --threads 1 --warmup 0 --iters 4 --profile --json | \"$3\" -c \"$4\""
                   kn_bench $<TARGET_FILE:kiln_cli> ${KN_BENCH_MNIST} ${KN_BENCH_PYTHON} "${kn_bench_profile_check}")
  set_tests_properties(cli_bench_profile_json PROPERTIES LABELS cli TIMEOUT 300 ENVIRONMENT "${KN_BENCH_ENV}"
                       PASS_REGULAR_EXPRESSION "bench profile json ok")
endif()

# ---------------------------------------------------------- compare_ort.sh
# bench/compare_ort.sh, label `bench`. Its choice of models and its usage
# errors need kiln only; the table case (label `ort` too) runs it on two tiny
# models (the shipped ONNX file and one model of a multi-model spec, exported
# on the fly), one configuration and a few runs, and checks the Markdown
# table, its summary lines and the export, never a speed. That case needs
# node (at configure time) and onnxruntime-node in KILN_ORT_DIR (installed by
# the models.setup fixture, see tests/models.cmake): without it the case is
# reported as skipped rather than installing it from the network.
set(KILN_ORT_DIR ${CMAKE_BINARY_DIR}/ort CACHE PATH "Where scripts/setup_ort.sh installs onnxruntime-node")
find_program(KILN_NODE NAMES node nodejs)
find_program(KN_BENCH_BASH NAMES bash)
set(KN_COMPARE_ORT ${PROJECT_SOURCE_DIR}/bench/compare_ort.sh)
set(KN_COMPARE_MD ${CMAKE_CURRENT_BINARY_DIR}/compare_ort_test.md)

# kn_compare_ort_test(NAME RC [check.sh options...] -- [compare_ort.sh arguments...])
# registers bench_compare_ort_NAME; the classifier cache is an empty folder
# unless the arguments name models. With kn_compare_needs_ort set, the case
# is skipped when KILN_ORT_DIR has no onnxruntime-node.
function(kn_compare_ort_test name rc)
  set(args ${ARGN})
  list(FIND args "--" sep)
  math(EXPR after "${sep} + 1")
  list(INSERT args ${after} ${KN_BENCH_BASH} ${KN_COMPARE_ORT} --kiln $<TARGET_FILE:kiln_cli>)
  if(kn_compare_needs_ort)
    # skipped, not installed from the network, without onnxruntime-node; a
    # stale table from an earlier run must not satisfy -f
    add_test(NAME bench_compare_ort_${name}
             COMMAND sh -c "ort=\"$1\"; shift
                            if [ ! -d \"$ort/node_modules/onnxruntime-node\" ]; then
                              echo \"KILN_SKIP: no onnxruntime-node in $ort (ctest -R models.setup installs it)\"
                              exit 0
                            fi
                            rm -f \"${KN_COMPARE_MD}\"
                            exec \"$@\""
                     kn_compare_ort ${KILN_ORT_DIR} sh ${KN_BENCH_CHECK} ${rc} ${args})
  else()
    add_test(NAME bench_compare_ort_${name} COMMAND sh ${KN_BENCH_CHECK} ${rc} ${args})
  endif()
  set_tests_properties(bench_compare_ort_${name} PROPERTIES LABELS bench TIMEOUT 300
    ENVIRONMENT "KILN_MODELS_DIR=${CMAKE_CURRENT_BINARY_DIR}/no_classifiers;KILN_ORT_DIR=${KILN_ORT_DIR}")
endfunction()

if(KN_BENCH_BASH)
  # --list: without a classifier cache, every models/ file, each .kiln spec
  # exported model by model (a spec with several models gives SPEC:MODEL rows)
  file(GLOB kn_specs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/models/*.kiln)
  set(kn_list_checks -o "^mnist_small[[:space:]]models/mnist_small[.]onnx$")
  foreach(spec ${kn_specs})
    get_filename_component(base ${spec} NAME_WE)
    list(APPEND kn_list_checks
         -o "^${base}(:[A-Za-z0-9_]+)?[[:space:]]models/${base}[.]kiln --model [A-Za-z0-9_]+ [(]exported[)]$")
  endforeach()
  kn_compare_ort_test(list 0 ${kn_list_checks}
    -o "^dcgan:generator[[:space:]]" -o "^dcgan:discriminator[[:space:]]" -o "^mnist_cnn[[:space:]]"
    -e "^compare_ort.sh: no classifier set in .*no_classifiers"
    -e "^compare_ort.sh: exported models/dcgan[.]kiln model discriminator to ONNX as dcgan:discriminator$"
    -n "skipp" -n "^[|]" -- --list)
  kn_compare_ort_test(list_pick 0 -o "^mnist_small[[:space:]]" -o "^mlp_gan:discriminator[[:space:]]"
    -o "^mnist_cnn[[:space:]]models/mnist_cnn[.]kiln --model mnist_cnn" -n "^mlp_gan:generator" -n "^dcgan"
    -- --list --models mnist_small,mlp_gan:discriminator ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln)
  kn_compare_ort_test(unknown_model 1 -e "^compare_ort.sh: no model 'nosuch' \\(not in .* or models/, and not a file\\)$"
    -n "^[|]" -- nosuch)
  kn_compare_ort_test(unknown_spec_model 1
    -e "^compare_ort.sh: models/mlp_gan[.]kiln has no model 'critic' \\(models: generator, discriminator\\)$"
    -- mlp_gan:critic)
  kn_compare_ort_test(unknown_backend 1 -e "^compare_ort.sh: kiln has no backend 'nosuch' \\(available: ref[a-z ,]*\\)$"
    -- --backend ref,nosuch mnist_small)
  kn_compare_ort_test(bad_iters 1 -e "^compare_ort.sh: --iters needs a positive integer, got '0'$" -- --iters 0)
  kn_compare_ort_test(bad_fast_rounds 1 -e "^compare_ort.sh: --fast-rounds needs a positive integer, got 'x'$"
    -- --fast-rounds x)
endif()

if(KN_BENCH_BASH AND KILN_NODE)
  set(kn_num "[0-9]+[.][0-9]+")
  set(kn_rows 2)
  set(kn_wins "ref: [0-2] of 2")
  set(kn_dnnl_checks "")
  if(KILN_WITH_ONEDNN) # both backends by default
    set(kn_rows 4)
    set(kn_wins "ref: [0-2] of 2, dnnl: [0-2] of 2")
    set(kn_dnnl_checks -o "^\\| mnist_small \\| dnnl \\| 1 \\| 1 \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\|$"
                       -o "^\\| mlp_gan:generator \\| dnnl \\| 1 \\| 1 \\| "
                       -o "^\\| [*][*]geometric mean[*][*] \\| dnnl \\| \\| all \\| \\| \\| [*][*]${kn_num}[*][*] \\| \\| \\|$")
  endif()
  set(kn_wait "OMP_WAIT_POLICY")
  if(NOT CMAKE_VERSION VERSION_LESS 3.22)
    set(kn_wait "^OMP_WAIT_POLICY and GOMP_SPINCOUNT unset \\(kiln sets GOMP_SPINCOUNT=30000\\)[.] kiln: ")
  endif()
  set(kn_compare_needs_ort ON)
  kn_compare_ort_test(table 0
    -o "^\\| model \\| backend \\| batch \\| threads \\| kiln median ms \\| ORT median ms \\| kiln/ORT \\| kiln p99 ms \\| ORT p99 ms \\|$"
    -o "^\\|---\\|---\\|---:\\|---:\\|---:\\|---:\\|---:\\|---:\\|---:\\|$"
    -o "^\\| mnist_small \\| ref \\| 1 \\| 1 \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\|$"
    -o "^\\| mlp_gan:generator \\| ref \\| 1 \\| 1 \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\|$"
    -o "^\\| [*][*]geometric mean[*][*] \\| ref \\| \\| all \\| \\| \\| [*][*]${kn_num}[*][*] \\| \\| \\|$"
    ${kn_dnnl_checks}
    -o "^kiln as fast as ONNX Runtime or faster \\(kiln/ORT <= 1\\) in [0-${kn_rows}] of ${kn_rows} rows \\(${kn_wins}\\)[.]$"
    -o "${kn_wait}" -o "onnxruntime-node [0-9.]+, CPU provider"
    -e "^compare_ort.sh: exported models/mlp_gan[.]kiln model generator to ONNX as mlp_gan:generator$"
    -e "^compare_ort.sh: mnist_small ref batch 1 threads 1 round 1/1 \\(2 runs\\)$"
    -n "discriminator" -n "Skipped" -n "skipping" -n "fast, round 1 again" -f ${KN_COMPARE_MD}
    -- --batch 1 --threads 1 --warmup 1 --iters 2 --rounds 1 --min-time 0
       --markdown-out ${KN_COMPARE_MD} mnist_small mlp_gan:generator)
  # a fast row (2 runs under --min-time): round 1 again with more runs, then --fast-rounds rounds in all
  kn_compare_ort_test(fast_rounds 0
    -o "^\\| mnist_small \\| ref \\| 1 \\| 1 \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\| ${kn_num} \\|$"
    -o "^Timed runs per round: 2. raised in 1 rows .*. those rows ran 3 rounds \\(--fast-rounds\\)[.]$"
    -e "^compare_ort.sh: mnist_small ref batch 1 threads 1: fast, round 1 again with [0-9]+ runs \\(--min-time 0.05\\), 3 rounds$"
    -e "^compare_ort.sh: mnist_small ref batch 1 threads 1 round 3/3 \\([0-9]+ runs\\)$" -n "round 4/"
    -- --backend ref --batch 1 --threads 1 --warmup 1 --iters 2 --rounds 1 --fast-rounds 3 --min-time 0.05
       mnist_small)
  set_tests_properties(bench_compare_ort_fast_rounds PROPERTIES LABELS "bench;ort" TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "KILN_SKIP" DEPENDS models.setup)
  set_tests_properties(bench_compare_ort_table PROPERTIES LABELS "bench;ort" TIMEOUT 600
    SKIP_REGULAR_EXPRESSION "KILN_SKIP"
    # after models.setup when both run (it installs onnxruntime-node), without pulling it in
    DEPENDS models.setup)
  if(NOT CMAKE_VERSION VERSION_LESS 3.22)
    # the environment as a user would have it: no OMP_WAIT_POLICY
    set_tests_properties(bench_compare_ort_table PROPERTIES ENVIRONMENT_MODIFICATION "OMP_WAIT_POLICY=unset:;GOMP_SPINCOUNT=unset:")
  endif()
endif()

# --model NAME: one model of a multi-model .kiln file, named in every format
set(KN_BENCH_GAN ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln)
kn_bench_test(model 0 -o "^model: .*mlp_gan[.]kiln:discriminator \\(.* 7 nodes\\)$" -o "^ref +1 "
              -- bench ${KN_BENCH_GAN} --model discriminator --backend ref --threads 1 ${KN_BENCH_FAST})
kn_bench_test(model_json 0 -o "^  \"model_name\": \"discriminator\",$" -o "^  \"nodes\": 7,$"
              -- bench ${KN_BENCH_GAN} --model discriminator --backend ref --threads 1 ${KN_BENCH_FAST} --json)
kn_bench_test(model_json_none 0 -o "^  \"model_name\": null,$"
              -- bench ${KN_BENCH_MNIST} --backend ref --threads 1 ${KN_BENCH_FAST} --json)
kn_bench_test(model_csv 0 -o "^mlp_gan[.]kiln:generator,ref,1,1,"
              -- bench ${KN_BENCH_GAN} --model generator --backend ref --threads 1 ${KN_BENCH_FAST} --csv)
kn_bench_test(model_unknown 1 -e "^kiln: error: .*no model named 'd' \\(models: 'generator', 'discriminator'\\)$"
              -- bench ${KN_BENCH_GAN} --model d --backend ref)
kn_bench_test(model_onnx 1 -e "^kiln: error: .*mnist_small[.]onnx: --model d: an ONNX file holds one model"
              -- bench ${KN_BENCH_MNIST} --model d --backend ref)
kn_bench_test(model_help 0 -o "--model NAME" -- bench --help)

# --train: training steps timed on random batches (no dataset needed: cifar_cnn's CIFAR-10 is not shipped), the
# first batch's losses checked against the reference backend, the profile listing backward and update nodes
kn_bench_test(train 0 -o "^ref +2 " -o "^timed: training steps"
              -- bench ${PROJECT_SOURCE_DIR}/models/cifar_cnn.kiln --train --backend ref --batch 2 --threads 1 ${KN_BENCH_FAST})
kn_bench_test(train_profile 0 -o "/grad[0-9]+ \\((ConvGradWeight|ConvTranspose|Gemm)\\)" -o "/update \\(MomentumUpdate\\)"
              -- bench ${PROJECT_SOURCE_DIR}/models/cifar_cnn.kiln --train --backend ref --batch 2 --threads 1 ${KN_BENCH_FAST}
                 --profile)
kn_bench_test(train_gan_json 0 -o "^  .results.: " -o "\"backend\": \"ref\", \"batch\": 4,"
              -- bench ${KN_BENCH_GAN} --train --backend ref --batch 4 --threads 1 ${KN_BENCH_FAST} --json)

# ---------------------------------------------------------- gan_quality.sh
# scripts/gan_quality.sh (issue 13's sample-quality figure) end to end on an untrained generator (mlp_gan.kiln's)
# and the shipped MNIST classifier: its one line of figures, never their values; and its usage errors. Needs
# numpy in /usr/bin/python3 (the peers); skipped without it.
if(KN_BENCH_BASH AND EXISTS /usr/bin/python3)
  execute_process(COMMAND /usr/bin/python3 -c "import numpy" RESULT_VARIABLE kn_rc OUTPUT_QUIET ERROR_QUIET)
  if(kn_rc EQUAL 0)
    set(kn_gq ${KN_BENCH_BASH} ${PROJECT_SOURCE_DIR}/scripts/gan_quality.sh --kiln $<TARGET_FILE:kiln_cli>)
    add_test(NAME bench_gan_quality COMMAND sh ${KN_BENCH_CHECK} 0
      -o "^.*mlp_gan[.]kiln: 40 samples; share with top probability >= 0[.]9: [0-9.]+%; median top probability [01][.][0-9]+; per class \\[([0-9]+, ){9}[0-9]+\\]$"
      -- ${kn_gq} --count 40 --model generator ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln
         ${PROJECT_SOURCE_DIR}/models/mnist_small.onnx)
    add_test(NAME bench_gan_quality_usage COMMAND sh ${KN_BENCH_CHECK} 2
      -e "^gan_quality[.]sh: GENERATOR and CLASSIFIER are required$" -- ${kn_gq} ${PROJECT_SOURCE_DIR}/models/mnist_small.onnx)
    add_test(NAME bench_gan_quality_missing COMMAND sh ${KN_BENCH_CHECK} 2
      -e "^gan_quality[.]sh: nosuch[.]onnx: no such file$" -- ${kn_gq} nosuch.onnx ${PROJECT_SOURCE_DIR}/models/mnist_small.onnx)
    set_tests_properties(bench_gan_quality bench_gan_quality_usage bench_gan_quality_missing PROPERTIES LABELS bench)
  endif()
endif()
