# Model spec language checks (frontend/spec*.c, `kiln compile`), label `spec`.
# The parser and checker themselves are covered by tests/unit/test_spec.c
# (exact diagnostics) and tests/unit/test_spec_models.c (every model runs,
# IR shapes agree, ONNX round trip); this file adds the command line:
#
#  spec.e2e.<file>      every model of models/<file>.kiln (and of
#                       tests/spec/layers.kiln) through `kiln
#                       compile -o`, `kiln run` of the spec and of the export
#                       (same bytes), ONNX Runtime (within 1e-5, when
#                       installed) and onnx.checker (when python3-onnx is)
#                       (tests/spec/run_spec_model.cmake)
#  spec.cli.<case>      `kiln compile/run/info` on good and bad specs: the
#                       summary lines, file:line:col diagnostics with the
#                       source line and caret, exit codes (tests/cli/check.sh)

set(KN_SPEC_DIR ${CMAKE_CURRENT_SOURCE_DIR}/spec)
set(KN_SPEC_OUT ${CMAKE_CURRENT_BINARY_DIR}/spec_out)
set(KN_SPEC_MODELS ${PROJECT_SOURCE_DIR}/models)
set(KN_SPEC_ENV "OMP_NUM_THREADS=2;ASAN_OPTIONS=detect_leaks=1:exitcode=86;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87")

# ONNX Runtime and onnx.checker, as tests/export.cmake finds them
if(DEFINED KILN_ORT_DIR)
  set(kn_spec_ort_dir ${KILN_ORT_DIR})
else()
  set(kn_spec_ort_dir ${CMAKE_BINARY_DIR}/ort)
endif()
find_program(KILN_NODE NAMES node nodejs)
set(kn_spec_ort_args "")
if(KILN_NODE)
  set(kn_spec_ort_args -DNODE=${KILN_NODE} -DORT_SCRIPT=${PROJECT_SOURCE_DIR}/scripts/check_export_ort.js
                       -DORT_DIR=${kn_spec_ort_dir})
endif()
set(kn_spec_checker_args "")
if(EXISTS /usr/bin/python3)
  set(kn_spec_checker_args -DPYTHON=/usr/bin/python3 -DCHECKER=${CMAKE_CURRENT_SOURCE_DIR}/export/check_onnx.py)
endif()

# ------------------------------------------------------ every model file
file(GLOB kn_spec_files CONFIGURE_DEPENDS ${KN_SPEC_MODELS}/*.kiln)
list(APPEND kn_spec_files ${KN_SPEC_DIR}/layers.kiln)   # every layer kind, three inputs
list(APPEND kn_spec_files ${KN_SPEC_DIR}/keras_layers.kiln)   # the Keras layers and options (coming from Keras)
foreach(spec ${kn_spec_files})
  get_filename_component(f ${spec} NAME_WE)
  add_test(NAME spec.e2e.${f}
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DSPEC=${spec} -DOUT_DIR=${KN_SPEC_OUT}/${f}
                   -DMAKE_NPY=${KN_SPEC_DIR}/make_npy.sh ${kn_spec_ort_args} ${kn_spec_checker_args}
                   -P ${KN_SPEC_DIR}/run_spec_model.cmake)
  set_tests_properties(spec.e2e.${f} PROPERTIES LABELS spec ENVIRONMENT "${KN_SPEC_ENV}" TIMEOUT 600)
endforeach()

# ------------------------------------------------------ command line
add_test(NAME spec.make_bad COMMAND sh ${KN_SPEC_DIR}/make_bad.sh ${KN_SPEC_OUT}/bad)
set_tests_properties(spec.make_bad PROPERTIES LABELS spec FIXTURES_SETUP spec_bad)

# kn_spec_test(NAME RC [check.sh options...] -- [kiln arguments...]): ctest case spec.cli.NAME
function(kn_spec_test name rc)
  set(args ${ARGN})
  list(FIND args "--" sep)
  if(sep LESS 0)
    message(FATAL_ERROR "kn_spec_test(${name}): missing --")
  endif()
  math(EXPR after "${sep} + 1")
  list(INSERT args ${after} $<TARGET_FILE:kiln_cli>)
  add_test(NAME spec.cli.${name} COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cli/check.sh ${rc} ${args})
  set_tests_properties(spec.cli.${name} PROPERTIES LABELS spec FIXTURES_REQUIRED spec_bad
                       ENVIRONMENT "${KN_SPEC_ENV}")
endfunction()

set(M ${KN_SPEC_MODELS})
kn_spec_test(help 0 -o "^usage: kiln compile " -o "--emit WHAT" -- compile --help)
kn_spec_test(main_help 0 -o "^  compile +check a [.]kiln model spec" -- --help)
kn_spec_test(summary_mnist 0
             -o "^Model: \"mnist_cnn\"$"
             -o "^ Layer \\(type\\) +Output Shape +Param #$"
             -o "^ image \\(input\\) +\\(N, 1, 28, 28\\) +0$"
             -o "^ conv2d \\(conv2d\\) +\\(N, 32, 26, 26\\) +320$"
             -o "^ dense \\(dense\\) +\\(N, 128\\) +1,179,776$"
             -o "^Total params: 1,199,882$" -o "^Trainable params: 1,199,882$" -o "^Non-trainable params: 0$"
             -o "^Training \"train\"$" -o "^    loss: cross_entropy\\(mnist_cnn\\(images\\), labels\\)$"
             -n "warning|error"
             -- compile ${M}/mnist_cnn.kiln)
kn_spec_test(summary_dcgan 0
             -o "^Model: \"generator\"$" -o "^Model: \"discriminator\"$"
             -o "^ reshape \\(reshape\\) +\\(N, 256, 7, 7\\) +0$"
             -o "^ conv2d_transpose_1 \\(conv2d_transpose\\) +\\(N, 64, 28, 28\\) +204,800$"
             -o "^ image \\(conv2d\\) +\\(N, 1, 28, 28\\) +1,601$"
             -o "^Total params: 2,330,945$" -o "^Non-trainable params: 25,472$"
             -o "^  step discriminator: update discriminator \\(frozen: generator\\)$"
             -o "^  step generator: update generator \\(frozen: discriminator\\)$"
             -- compile ${M}/dcgan.kiln)
kn_spec_test(summary_resnet 0
             -o "Connected to$" -o "^ add_1 \\(add\\) +\\(N, 32, 16, 16\\) +0 +b2, shortcut$"
             -o "^ concat \\(concat\\) +\\(N, 64, 16, 16\\) +0 +p1, p3, x2$"
             -- compile ${M}/resnet_small.kiln)
kn_spec_test(summary_batch 0 -o "^ probs \\(dense\\) +\\(4, 10\\) +650 +global_avgpool$" -n "^Model: \"generator\""
             -- compile ${M}/resnet_small.kiln --batch 4 --model resnet_small)
kn_spec_test(summary_one_model 0 -o "^Model: \"discriminator\"$" -n "^Model: \"generator\"" -n "^Training"
             -- compile ${M}/mlp_gan.kiln --model discriminator)
kn_spec_test(emit_ir 0 -o "^graph mnist_cnn \\{" -o "Gemm" -o "Softmax"
             -- compile ${M}/mnist_cnn.kiln --emit ir)
kn_spec_test(emit_ir_batch 0 -o "\\[3,10\\]" -- compile ${M}/mnist_cnn.kiln --emit ir --batch 3)
kn_spec_test(emit_dot 0 -o "^digraph" -o "ConvTranspose" -- compile ${M}/dcgan.kiln --model generator --emit dot)
kn_spec_test(emit_onnx 0 -o "^wrote .*cifar_cnn[.]onnx \\(model 'cifar_cnn', ONNX opset 13\\)$"
             -f ${KN_SPEC_OUT}/bad/cifar_cnn.onnx
             -- compile ${M}/cifar_cnn.kiln -o ${KN_SPEC_OUT}/bad/cifar_cnn.onnx)
# a model with layer_norm needs LayerNormalization, from opset 17: the message says the opset written
kn_spec_test(emit_onnx_opset17 0 -o "^wrote .*layers[.]onnx \\(model 'net', ONNX opset 17\\)$"
             -- compile ${CMAKE_CURRENT_SOURCE_DIR}/spec/layers.kiln -o ${KN_SPEC_OUT}/layers.onnx)
kn_spec_test(emit_onnx_needs_o 2 -e "^kiln compile: --emit onnx needs -o FILE[.]onnx$"
             -- compile ${M}/mnist_cnn.kiln --emit onnx)
kn_spec_test(bad_emit 2 -e "^kiln compile: --emit takes summary, ir, dot or onnx, not 'png'$"
             -- compile ${M}/mnist_cnn.kiln --emit png)
kn_spec_test(bad_batch 2 -e "^kiln compile: --batch needs an integer from 1 to 1099511627776, got '0'$"
             -- compile ${M}/mnist_cnn.kiln --batch 0)
kn_spec_test(no_model_arg 2 -e "^kiln compile: missing MODEL[.]kiln$" -- compile)
kn_spec_test(choose_model 1
             -e "^kiln: error: .*mlp_gan[.]kiln defines 2 models \\(generator, discriminator\\). choose one with --model NAME$"
             -- compile ${M}/mlp_gan.kiln --emit ir)
kn_spec_test(unknown_model 1
             -e "^kiln: error: .*mlp_gan[.]kiln: no model named 'critic' \\(models: 'generator', 'discriminator'\\)$"
             -- compile ${M}/mlp_gan.kiln --model critic)
kn_spec_test(not_a_spec 1 -e "^kiln: error: .*mnist_small[.]onnx: kiln compile reads model specs \\([.]kiln files\\)$"
             -- compile ${M}/mnist_small.onnx)
kn_spec_test(missing_file 1 -e "^kiln: error: .*no_such[.]kiln: cannot open: No such file or directory$"
             -- compile ${KN_SPEC_DIR}/no_such.kiln)

# diagnostics as users see them
kn_spec_test(bad_layer 1
             -e "^.*bad_layer[.]kiln:3:5: error: unknown layer 'conv' \\(did you mean 'conv2d'\\?\\)$"
             -e "^    3 \\|     conv\\(8, 3, activation=relu\\)$"
             -e "^      \\|     \\^~~~$"
             -e "^kiln: error: .*bad_layer[.]kiln: 1 error$"
             -- compile ${KN_SPEC_DIR}/bad_layer.kiln)
kn_spec_test(shape_mismatch 1
             -e "^.*shape_mismatch[.]kiln:6:5: error: add 'add': input shapes differ: 'left' has shape \\(N, 8, 16, 16\\) but 'right' has shape \\(N, 8, 8, 8\\)$"
             -- compile ${KN_SPEC_DIR}/shape_mismatch.kiln)
kn_spec_test(many_errors 1
             -e ":1:9: error: unknown model parameter 'sed' \\(did you mean 'seed'\\?\\)"
             -e ":3:16: error: unknown parameter 'activaton' for dense \\(did you mean 'activation'\\?\\)"
             -e ":4:26: error: unknown activation 'rleu' \\(did you mean 'relu'\\?\\)"
             -e ":5:18: error: 'rate' must be at least 0 and below 1, got 2$"
             -e ":6:33: error: expected ',' or '\\)' to close the arguments of 'dense' opened at line 6, column 10, got end of line$"
             -e ":11:12: error: unknown loss 'categorical_crossentropy' \\(did you mean 'cross_entropy'\\?\\)"
             -e "^kiln: error: .*many_errors[.]kiln: 7 errors$"
             -- compile ${KN_SPEC_DIR}/many_errors.kiln)
kn_spec_test(run_bad_layer 1
             -e "^kiln: error: .*bad_layer[.]kiln:3:5: error: unknown layer 'conv' \\(did you mean 'conv2d'\\?\\)$"
             -e "^      \\|     \\^~~~$"
             -- run ${KN_SPEC_DIR}/bad_layer.kiln --input x.npy)
kn_spec_test(info_bad_layer 1 -e "^kiln: error: .*bad_layer[.]kiln:3:5: error: unknown layer 'conv'"
             -- info ${KN_SPEC_DIR}/bad_layer.kiln)
kn_spec_test(empty 1 -e "empty[.]kiln:1:1: error: the file is empty. expected a block like 'model mnist"
             -- compile ${KN_SPEC_OUT}/bad/empty.kiln)
kn_spec_test(comments_only 1 -e "comments[.]kiln:1:1: error: the file defines no model"
             -- compile ${KN_SPEC_OUT}/bad/comments.kiln)
kn_spec_test(binary 1
             -e "binary[.]kiln:2:1: error: byte 0x00 is not printable text: a [.]kiln spec is UTF-8 text \\(is this a binary file\\?\\)$"
             -e "^kiln: error: .*binary[.]kiln: 1 error$"
             -- compile ${KN_SPEC_OUT}/bad/binary.kiln)
kn_spec_test(run_binary 1 -e "^kiln: error: .*binary[.]kiln:2:1: error: byte 0x00"
             -- run ${KN_SPEC_OUT}/bad/binary.kiln --input x.npy)

# .kiln through run and info
kn_spec_test(info_mnist 0 -o "^  image +float32 +\\[N,1,28,28\\]$" -o "^  probs +float32 +\\[N,10\\]$"
             -o "^parameters: 1,199,882 " -- info ${M}/mnist_cnn.kiln)
kn_spec_test(info_gan 0 -o "^  z +float32 +\\[N,100\\]$" -o "^  image +float32 +\\[N,1,28,28\\]$"
             -- info ${M}/mlp_gan.kiln)

# ------------------------------------------------------ coming from Keras
# every Keras layer form against its definition written in PyTorch (tests/spec/check_keras_layers.py)
if(EXISTS /usr/bin/python3)
  execute_process(COMMAND /usr/bin/python3 -c "import numpy, torch, onnx" RESULT_VARIABLE kn_rc OUTPUT_QUIET ERROR_QUIET)
endif()
if(EXISTS /usr/bin/python3 AND kn_rc EQUAL 0)
  add_test(NAME spec.keras_layers
           COMMAND /usr/bin/python3 ${KN_SPEC_DIR}/check_keras_layers.py $<TARGET_FILE:kiln_cli> ${KN_SPEC_OUT}/keras)
else()
  add_test(NAME spec.keras_layers COMMAND ${CMAKE_COMMAND} -E echo "KILN_SKIP: needs /usr/bin/python3 with numpy, torch, onnx")
endif()
set_tests_properties(spec.keras_layers PROPERTIES LABELS spec TIMEOUT 300 ENVIRONMENT "${KN_SPEC_ENV}"
                     SKIP_REGULAR_EXPRESSION "KILN_SKIP")
# trainable=false: the frozen layer's weights get no gradient and no update in the training graph; the others do
kn_spec_test(frozen_no_gradient 0 -o "RmspropUpdate.*keras_layers/sep/pointwise_kernel/update"
             -o "keras_layers/prelu/alpha:grad" -n "keras_layers/c/kernel:grad" -n "keras_layers/c/bias/update"
             -- compile ${KN_SPEC_DIR}/keras_layers.kiln --train --emit ir)
kn_spec_test(frozen_summary 0 -o "^ c \\(conv2d\\) +\\(N, 4, 11, 7\\) +36 " -o "^Non-trainable params: 36$"
             -o "optimizer: rmsprop\\(learning_rate=0.001, rho=0.9, epsilon=1e-07\\)"
             -- compile ${KN_SPEC_DIR}/keras_layers.kiln)
kn_spec_test(frozen_trains 0 -o "^epoch 2/2 " -- train ${KN_SPEC_DIR}/keras_layers.kiln --epochs 2 --threads 2)
set(K ${KN_SPEC_DIR}/keras_mistakes.kiln)
kn_spec_test(keras_channels_last_input 1
             -e "keras_mistakes.kiln:5:9: error: input 'x' gives \\(N, 28, 28, 1\\), which conv2d 'conv2d' \\(line 6\\) reads as 28 channels of 28x1 pictures: kiln's tensors are channels first, \\(N, C, H, W\\). Keras's channels-last \\(28, 28, 1\\) is written input\\(shape=\\(1, 28, 28\\)\\) here$"
             -e "^ +5 [|] +x = input\\(shape=\\(28, 28, 1\\)\\)$" -- compile ${K})
kn_spec_test(keras_batchnorm_axis 1
             -e "keras_mistakes.kiln:13:5: error: batchnorm 'batchnorm': axis=-1 is not supported: kiln normalises the channels, axis 1"
             -- compile ${K})
kn_spec_test(keras_gelu 1
             -e "keras_mistakes.kiln:18:43: error: gelu\\(approximate=true\\), the tanh form, is not supported: kiln's gelu is the exact erf form"
             -e "keras_mistakes.kiln:19:5: error: layer 'LSTM' is not supported. kiln has no recurrent layers"
             -e "keras_mistakes.kiln:24:5: error: layer_norm 'layer_norm': 'x' has shape \\(N, 3, 8, 8\\): give axis=, .*Keras's default axis=-1 normalises each pixel's channels"
             -n "did you mean" -- compile ${K})
kn_spec_test(keras_rmsprop_momentum 1
             -e "keras_mistakes.kiln:31:34: error: rmsprop\\(momentum=0.9\\) is not supported. the nearest kiln has is rmsprop\\(\\)"
             -- compile ${K})
kn_spec_test(keras_reshape_warning 0
             -e "channels_last_reshape.kiln:7:5: warning: reshape 'reshape' gives \\(N, 7, 7, 256\\), which conv2d 'conv2d' \\(line 8\\) reads as 7 channels of 7x256 pictures: .* is written reshape\\(\\(256, 7, 7\\)\\) here$"
             -- compile ${KN_SPEC_DIR}/channels_last_reshape.kiln)
kn_spec_test(keras_name_twice 1 -e "named.kiln:3:18: error: the layer is named twice \\('a' = ... and name=\"b\"\\). keep one"
             -- compile ${KN_SPEC_OUT}/bad/named.kiln)
