# Training checks (label `train`): `kiln train` on the shipped MNIST subset (data/mnist: 1,000 training and 500
# test digits of ../shared/data/mnist) learns, is deterministic across thread counts, resumes exactly, and
# writes a model `kiln run` runs (tests/train/run_train_check.cmake). The gradient rules have their own test
# (tests/unit/test_grad.c), the command line's bad input cli_train_* cases (tests/cli.cmake).
set(KN_TRAIN_CHECK ${CMAKE_CURRENT_SOURCE_DIR}/train/run_train_check.cmake)
foreach(check learns deterministic resume export bad_checkpoint bad_data)
  add_test(NAME train.mnist_${check}
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DSPEC=${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln
                   -DCHECK=${check} -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_out/${check}
                   "-DRUN_ARGS=image=${PROJECT_SOURCE_DIR}/models/data/digits_batch4.npy"
                   -P ${KN_TRAIN_CHECK})
  set_tests_properties(train.mnist_${check} PROPERTIES LABELS train TIMEOUT 600 ENVIRONMENT "OMP_NUM_THREADS=2")
endforeach()

# Data-parallel training on MPI (tests/train/run_mpi_check.cmake): `mpirun -np 2 kiln train` matches one process,
# --deterministic is bitwise repeatable on every rank, a batch the ranks do not divide is refused, GAN blocks with
# synchronised BatchNorm match too, --resume works on 2 ranks, a stopped rank ends the job with a timeout error.
# Skipped (with the reason) when there is no mpirun or the kiln command has no MPI.
set(kn_mpirun "")
if(KILN_WITH_MPI)
  find_program(KN_MPIRUN NAMES mpirun mpiexec)
  if(KN_MPIRUN)
    set(kn_mpirun ${KN_MPIRUN})
  endif()
endif()
foreach(check match deterministic indivisible gan resume hang)
  add_test(NAME train.mpi_${check}
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> "-DMPIRUN=${kn_mpirun}"
                   -DCOMPARE=$<TARGET_FILE:kn_npy_compare> -DMODELS=${PROJECT_SOURCE_DIR}/models -DCHECK=${check}
                   -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_out/mpi_${check}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_mpi_check.cmake)
  set_tests_properties(train.mpi_${check} PROPERTIES LABELS train TIMEOUT 600 RUN_SERIAL TRUE
                       SKIP_REGULAR_EXPRESSION "skipped: no mpirun")
  if(KILN_SANITIZE)
    # Open MPI leaves its own allocations (plugins unloaded at MPI_Finalize) to LeakSanitizer; kiln's side of data
    # parallelism is leak-checked without MPI by test_dist (an in-process collective)
    set_tests_properties(train.mpi_${check} PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
endforeach()
# the oneDNN backend under MPI: the deterministic mode's bitwise agreement across ranks and runs
if(KILN_WITH_ONEDNN)
  add_test(NAME train.mpi_deterministic_dnnl
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> "-DMPIRUN=${kn_mpirun}"
                   -DCOMPARE=$<TARGET_FILE:kn_npy_compare> -DMODELS=${PROJECT_SOURCE_DIR}/models -DCHECK=deterministic
                   -DBACKEND=dnnl -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_out/mpi_deterministic_dnnl
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_mpi_check.cmake)
  set_tests_properties(train.mpi_deterministic_dnnl PROPERTIES LABELS "train;dnnl" TIMEOUT 600 RUN_SERIAL TRUE
                       SKIP_REGULAR_EXPRESSION "skipped: no mpirun")
  if(KILN_SANITIZE)
    set_tests_properties(train.mpi_deterministic_dnnl PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
  # the training graph's placement: the backward-data ConvTranspose of mnist_cnn's 32 -> 64 layer on kiln's
  # Winograd kernel (its trained weights transformed at each step; on an AVX2 + FMA CPU), its forward Conv not
  # (Winograd's tile-dependent rounding would break the ties of MaxPool over MNIST's uniform background)
  kn_cli_test(train_explain_dnnl_wino 0
              -o "^  node 'mnist_cnn@1/conv2d_1/grad0' \\(ConvTranspose\\): Winograd F\\(4x4, 3x3\\) convolution on "
              -n "'mnist_cnn@1/conv2d_1' \\(Conv[+]Relu\\): Winograd"
              -- train ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --backend dnnl --explain --limit 128 --epochs 1
                 --no-eval --threads 1)
endif()

# the command line's usage and refusals
kn_cli_test(train_help 0 -o "^usage: kiln train " -o "--checkpoint DIR" -o "mpirun -np N kiln train"
            -o "--deterministic" -o "--sync-batchnorm" -o "--ema DECAY[|]off" -- train --help)
# the data-parallel options on one process: accepted, nothing to share
kn_cli_test(train_one_rank_options 0 -o "weights hash [0-9a-f]+ after 1 steps" -n "data parallel"
            -- train ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --limit 128 --epochs 1 --no-eval --threads 2
               --deterministic --sync-batchnorm --bucket-kb 64 --comm-timeout 10)
kn_cli_test(train_bad_bucket 2 -e "^kiln train: --bucket-kb needs an integer from 1" -- train x.kiln --bucket-kb 0)
kn_cli_test(train_no_file 2 -e "^kiln train: missing FILE.kiln" -- train)
kn_cli_test(train_bad_epochs 2 -e "^kiln train: --epochs needs an integer" -- train x.kiln --epochs 0)
kn_cli_test(train_batch_too_large 2 -e "^kiln train: --batch-size needs an integer from 1 to 1048576, got '100000000'$"
            -- train x.kiln --batch-size 100000000)
kn_cli_test(train_bad_stop_after 2 -e "^kiln train: --stop-after needs an integer" -- train x.kiln --stop-after 0)
kn_cli_test(train_resume_nowhere 2 -e "--resume needs a checkpoint" -- train x.kiln --resume)
kn_cli_test(train_bad_ema 2 -e "^kiln train: --ema needs a decay above 0 and below 1 \\(e.g. 0.999\\) or off, got '1.5'$"
            -- train x.kiln --ema 1.5)
kn_cli_test(train_bad_ema_word 2 -e "^kiln train: --ema needs a decay above 0 and below 1 \\(e.g. 0.999\\) or off, got '0.9x'$"
            -- train x.kiln --ema 0.9x)
kn_cli_test(train_ema_missing 2 -e "^kiln train: option '--ema' needs a value" -- train x.kiln --ema)
kn_cli_test(train_no_block 1 -e "^kiln: error: .*has no train block" -- train ${CMAKE_CURRENT_SOURCE_DIR}/spec/layers.kiln)
kn_cli_test(train_unknown_backend 1 -e "^kiln: error: unknown backend 'nope' \\(available: "
            -- train ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --backend nope)
kn_cli_test(train_no_data 1
            -e "^kiln: error: .*mnist_cnn.kiln:[0-9]+:[0-9]+: error: dataset idx: directory .*no_such_dir does not exist \\(from --data\\)$"
            -- train ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --data ${CMAKE_CURRENT_BINARY_DIR}/no_such_dir)
# two-model train blocks (a GAN's discriminator and generator steps) build, run and report both losses
kn_cli_test(train_mlp_gan_steps 0
            -o "epoch 1/1 .* discriminator loss [0-9.]+ - generator loss [0-9.]+ - real_accuracy [0-9.]+ - fake_accuracy [0-9.]+"
            -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 128 --epochs 1 --threads 2)
kn_cli_test(train_dcgan_steps 0 -o "epoch 1/1 .* discriminator loss [0-9.]+ - generator loss [0-9.]+"
            -- train ${PROJECT_SOURCE_DIR}/models/dcgan.kiln --limit 32 --batch-size 32 --epochs 1 --no-eval --threads 2)
# --model NAME picks the model -o writes; a name the file lacks fails before training, listing the models
kn_cli_test(train_model_unknown 1
            -e "^kiln: error: .*mlp_gan[.]kiln: --model: no model named 'gen' \\(models: 'generator', 'discriminator'\\)$"
            -n "epoch" -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 64 --epochs 1 --model gen -o x.onnx)
kn_cli_test(train_model_export 0 -o "^wrote .*cli_gan_discriminator[.]onnx$"
            -f ${CMAKE_CURRENT_BINARY_DIR}/cli_gan_discriminator.onnx
            -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 64 --epochs 1 --no-eval --threads 2
               --model discriminator -o ${CMAKE_CURRENT_BINARY_DIR}/cli_gan_discriminator.onnx)
kn_cli_test(train_no_block_named 1 -e "^kiln: error: .*no train block named 'nope'"
            -- train ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --train nope)

# One training step against PyTorch 1.13 (scripts/torch_train_step.py): the loss, every gradient and every weight
# after one Adam, one SGD-momentum and one RMSprop update (Keras's: eps inside the square root), for the Keras MNIST convnet (Dropout with kiln's masks) and a
# model with BatchNorm, and (RMSprop) a model of the Keras layers with a frozen convolution, within 1e-4 of each
# tensor's scale (tests/train/parity.kiln).
set(kn_torch_python ${kn_python})
if(NOT kn_torch_python)
  set(kn_torch_python ${KN_MODELS_PYTHON_FOUND})
endif()
foreach(case "mnist_cnn;cnn_adam;--optimizer adam --lr 0.001"
             "mnist_cnn;cnn_momentum;--optimizer momentum --lr 0.05 --momentum 0.9"
             "bn_cnn;bn_adam;--optimizer adam --lr 0.002 --beta1 0.8 --weight-decay 0.01"
             "bn_cnn;bn_momentum;--optimizer momentum --lr 0.1 --momentum 0.8 --nesterov --weight-decay 0.001"
             "mnist_cnn;cnn_rmsprop;--optimizer rmsprop --lr 0.001 --rho 0.9 --epsilon 1e-7"
             "bn_cnn;bn_rmsprop;--optimizer rmsprop --lr 0.002 --rho 0.8 --epsilon 1e-6 --weight-decay 0.01"
             "keras_cnn;keras_rmsprop;--optimizer rmsprop --lr 0.003"
             "keras_upsample_norm;keras_un_adam;--optimizer adam --lr 0.002")
  list(GET case 0 model)
  list(GET case 1 block)
  list(GET case 2 args)
  add_test(NAME train.torch_parity_${block}
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DPYTHON=${kn_torch_python}
                   -DSPEC=${CMAKE_CURRENT_SOURCE_DIR}/train/parity.kiln -DMODEL=${model} -DTRAIN=${block}
                   -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_out/torch_${block}
                   -DSCRIPT=${PROJECT_SOURCE_DIR}/scripts/torch_train_step.py "-DARGS=${args}"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_torch_parity.cmake)
  set_tests_properties(train.torch_parity_${block} PROPERTIES LABELS train TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=2" SKIP_REGULAR_EXPRESSION "KILN_SKIP")
endforeach()

# One alternating GAN step against PyTorch 1.13 (scripts/torch_gan_step.py): the discriminator step and then
# the generator step with the updated discriminator frozen, both losses, every gradient and every weight after
# Adam (2e-4, beta_1 0.5), for the fully connected GAN (BatchNorm in training mode, LeakyReLU, tanh, sigmoid)
# and the DCGAN (ConvTranspose 'same' stride 2, Dropout with kiln's masks), within 1e-4 of each tensor's scale.
foreach(case "mlp_gan;--limit 64" "dcgan;--limit 16 --batch-size 16")
  list(GET case 0 gan)
  list(GET case 1 args)
  add_test(NAME train.torch_parity_${gan}_step
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DPYTHON=${kn_torch_python}
                   -DSPEC=${PROJECT_SOURCE_DIR}/models/${gan}.kiln -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_out/torch_${gan}
                   -DSCRIPT=${PROJECT_SOURCE_DIR}/scripts/torch_gan_step.py "-DARGS=${args} --threads 2"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_torch_gan_parity.cmake)
  set_tests_properties(train.torch_parity_${gan}_step PROPERTIES LABELS train TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=2" SKIP_REGULAR_EXPRESSION "KILN_SKIP")
endforeach()

# a GAN's progress: sample grids after every epoch and the loss chart (--samples), each model as its own ONNX file
# (-o DIR), and samples from the exported generator (kiln sample); the pictures' encoding has its own test
# (tests/unit/test_image.c)
set(KN_GAN_OUT ${CMAKE_CURRENT_BINARY_DIR}/gan_out)
kn_cli_test(train_gan_samples 0
            -o "^epoch 2/2 .* real_accuracy [0-9.]+ - fake_accuracy [0-9.]+ - test_loss [0-9.]+ - test_real_accuracy [0-9.]+ - test_fake_accuracy [0-9.]+$"
            -o "^wrote 2 sample grids \\(.*/gan_out/samples/epoch_NNN[.]png\\) and .*/gan_out/samples/losses[.]svg$"
            -o "^wrote .*/gan_out/onnx/generator[.]onnx$" -o "^wrote .*/gan_out/onnx/discriminator[.]onnx$"
            -f ${KN_GAN_OUT}/samples/epoch_001.png -f ${KN_GAN_OUT}/samples/epoch_002.png
            -f ${KN_GAN_OUT}/samples/losses.svg
            -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 128 --epochs 2 --threads 2
               --samples ${KN_GAN_OUT}/samples -o ${KN_GAN_OUT}/onnx)
set_tests_properties(cli_train_gan_samples PROPERTIES FIXTURES_SETUP gan_out)
kn_cli_test(sample_generator 0 -o "^wrote .*/gan_out/sampled/samples[.]npy$" -o "^wrote .*/gan_out/sampled/grid[.]png$"
            -f ${KN_GAN_OUT}/sampled/grid.png -f ${KN_GAN_OUT}/sampled/noise.npy
            -- sample ${KN_GAN_OUT}/onnx/generator.onnx --count 16 --seed 5 -o ${KN_GAN_OUT}/sampled)
set_tests_properties(cli_sample_generator PROPERTIES FIXTURES_REQUIRED "cli_data;gan_out")
kn_cli_test(sample_spec_model 0 -o "^wrote .*/spec_sampled/grid[.]png$"
            -- sample ${PROJECT_SOURCE_DIR}/models/dcgan.kiln --model generator --count 4 -o ${KN_GAN_OUT}/spec_sampled)
kn_cli_test(sample_not_images 0 -o "^no grid[.]png: the samples \\(float32\\) are not images \\[N, C, H, W\\]$"
            -n "grid[.]png$" -- sample ${PROJECT_SOURCE_DIR}/models/mnist_small.onnx -o ${KN_GAN_OUT}/not)
kn_cli_test(sample_no_out 2 -e "^kiln sample: missing -o DIR$" -- sample x.onnx)
kn_cli_test(train_gan_onnx_file 1
            -e "^kiln: error: -o .*x[.]onnx: this block trains 2 models \\(generator, discriminator\\): give -o a directory"
            -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 64 --epochs 1 -o ${KN_GAN_OUT}/x.onnx)
kn_cli_test(train_samples_no_generator 1 -e "^kiln: error: --samples: train block '.*' has no model that reads noise"
            -- train ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --limit 64 --epochs 1 --samples ${KN_GAN_OUT}/none)
# a frozen model in a step: the generator step's graph (the last one --dump-after writes) updates the generator's
# weights only, and computes no gradient for the discriminator's weights (the gradient flows through its layers
# to the generator: grad0 of its Gemms, never a weight gradient or an update)
add_test(NAME train.gan_frozen_discriminator
         COMMAND sh -c "\"$0\" train \"$1\" --limit 64 --epochs 1 --threads 2 --dump-after optimizer=\"$2\" > /dev/null &&
                        grep -q '^graph generator {' \"$2\" && grep -q 'AdamUpdate(%generator/dense/kernel:' \"$2\" &&
                        grep -q 'discriminator@1/dense/grad0' \"$2\" && ! grep -q 'AdamUpdate(%discriminator' \"$2\" &&
                        ! grep -Eq '%discriminator/[^ ]*:grad' \"$2\" && echo frozen ok"
                 $<TARGET_FILE:kiln_cli> ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln ${KN_GAN_OUT}/generator_step.txt)
set_tests_properties(train.gan_frozen_discriminator PROPERTIES LABELS train PASS_REGULAR_EXPRESSION "frozen ok"
                     ENVIRONMENT "OMP_NUM_THREADS=2")
# the generator's forward on the noise, computed once per batch by the generator step's prefix and read by the
# discriminator step, trains exactly the weights of every step computing its own copy (--no-share): the weights
# hashes agree on the reference backend (BatchNorm's moving statistics, once per batch, are not in the hash; the
# PyTorch parity tests above check them)
add_test(NAME train.gan_shared_forward_same_weights
         COMMAND sh -c "set -e
                        a=$(\"$0\" train \"$1\" --limit 256 --epochs 1 --threads 2 --no-eval | tail -n 1)
                        b=$(\"$0\" train \"$1\" --limit 256 --epochs 1 --threads 2 --no-eval --no-share | tail -n 1)
                        echo \"$a\"; echo \"$b\"; [ \"$a\" = \"$b\" ] && echo same weights"
                 $<TARGET_FILE:kiln_cli> ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln)
set_tests_properties(train.gan_shared_forward_same_weights PROPERTIES LABELS train
                     PASS_REGULAR_EXPRESSION "same weights" ENVIRONMENT "OMP_NUM_THREADS=2")
# what kiln train says: the shared forward and the split of the generator step's graph; --no-share; a block
# whose generator step comes first (the discriminator step reads a generator that has changed) computes its own
kn_cli_test(train_gan_shared 0 -o "^shared forward: generator computed once per batch, by step 'generator'"
            -o "^train: step 'generator': .*its prefix \\([0-9]+ nodes\\) runs once per batch and hands [0-9]+ values"
            -- train ${PROJECT_SOURCE_DIR}/models/dcgan.kiln --limit 16 --batch-size 16 --epochs 1 --no-eval
               --threads 2 --explain)
kn_cli_test(train_gan_no_share 0 -n "^shared forward" -o "^epoch 1/1 "
            -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 64 --epochs 1 --no-eval --threads 2 --no-share)
kn_cli_test(train_gan_not_shared 0 -o "^train: no shared forward: step 'g' trains model 'gen'$" -n "^shared forward"
            -o "^epoch 1/1 " -- train ${CMAKE_CURRENT_SOURCE_DIR}/train/dist.kiln --train gan_g_first --epochs 1
               --no-eval --explain)
# a GAN resumed from a checkpoint (every model and every step's optimizer state) ends bitwise where the
# uninterrupted run ends: the weights hashes agree
add_test(NAME train.gan_resume_exact
         COMMAND sh -c "set -e; rm -rf \"$2\"
                        a=$(\"$0\" train \"$1\" --limit 256 --epochs 2 --threads 2 --no-eval | tail -n 1)
                        \"$0\" train \"$1\" --limit 256 --epochs 2 --stop-after 1 --threads 2 --no-eval --checkpoint \"$2\" > /dev/null
                        b=$(\"$0\" train \"$1\" --limit 256 --epochs 2 --threads 2 --no-eval --resume \"$2\" | tail -n 1)
                        echo \"$a\"; echo \"$b\"; [ \"$a\" = \"$b\" ] && echo resume exact"
                 $<TARGET_FILE:kiln_cli> ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln ${KN_GAN_OUT}/resume_ckpt)
set_tests_properties(train.gan_resume_exact PROPERTIES LABELS train PASS_REGULAR_EXPRESSION "resume exact"
                     ENVIRONMENT "OMP_NUM_THREADS=2")
# ... and with moving averages of the weights (--ema): the checkpoint holds the averages and their update counts,
# the hash covers them
add_test(NAME train.gan_resume_exact_ema
         COMMAND sh -c "set -e; rm -rf \"$2\"
                        a=$(\"$0\" train \"$1\" --limit 256 --epochs 2 --threads 2 --no-eval --ema 0.99 | tail -n 1)
                        \"$0\" train \"$1\" --limit 256 --epochs 2 --stop-after 1 --threads 2 --no-eval --ema 0.99 --checkpoint \"$2\" > /dev/null
                        b=$(\"$0\" train \"$1\" --limit 256 --epochs 2 --threads 2 --no-eval --ema 0.99 --resume \"$2\" | tail -n 1)
                        c=$(\"$0\" train \"$1\" --limit 256 --epochs 2 --threads 2 --no-eval | tail -n 1)
                        echo \"$a\"; echo \"$b\"; echo \"$c\"; [ \"$a\" = \"$b\" ] && [ \"$a\" != \"$c\" ] && echo resume exact"
                 $<TARGET_FILE:kiln_cli> ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln ${KN_GAN_OUT}/resume_ema_ckpt)
set_tests_properties(train.gan_resume_exact_ema PROPERTIES LABELS train PASS_REGULAR_EXPRESSION "resume exact"
                     ENVIRONMENT "OMP_NUM_THREADS=2")
# --ema: training reads the live weights (--save-weights writes the same files as a run without averages); -o
# writes the averages (another generator.onnx), and the checkpoint holds both: resumed with --ema off it exports
# the run without averages' model byte for byte, resumed with --ema the averaged one
add_test(NAME train.gan_ema_export
         COMMAND sh -c "set -e; K=\"$0\"; S=\"$1\"; D=\"$2\"; rm -rf \"$D\"; mkdir -p \"$D\"
                        run() { \"$K\" train \"$S\" --limit 128 --epochs 1 --threads 2 --no-eval \"$@\" > /dev/null; }
                        run --ema 0.9 --checkpoint \"$D/ckpt\" -o \"$D/avg\" --save-weights \"$D/avg_w\"
                        run -o \"$D/live\" --save-weights \"$D/live_w\"
                        run --ema off --resume \"$D/ckpt\" -o \"$D/live_again\"
                        run --ema 0.9 --resume \"$D/ckpt\" -o \"$D/avg_again\"
                        diff -r \"$D/avg_w\" \"$D/live_w\"
                        cmp \"$D/live/generator.onnx\" \"$D/live_again/generator.onnx\"
                        cmp \"$D/avg/generator.onnx\" \"$D/avg_again/generator.onnx\"
                        if cmp -s \"$D/avg/generator.onnx\" \"$D/live/generator.onnx\"; then exit 1; fi
                        echo ema export ok"
                 $<TARGET_FILE:kiln_cli> ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln ${KN_GAN_OUT}/ema_export)
set_tests_properties(train.gan_ema_export PROPERTIES LABELS train PASS_REGULAR_EXPRESSION "ema export ok"
                     ENVIRONMENT "OMP_NUM_THREADS=2")
kn_cli_test(train_gan_ema_says 0 -o "^moving averages \\(ema 0.999, warm-up min\\(0.999, \\(1 \\+ n\\) / \\(10 \\+ n\\)\\)\\) of the trained models"
            -- train ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --limit 64 --epochs 1 --no-eval --threads 2 --ema 0.999)

# upsampling2d, layer_norm and gelu (tests/train/parity.kiln's keras_upsample_norm) train: 3 epochs on 256 of the
# shipped digits, the loss finite and falling every epoch, on each backend; on oneDNN one step also matches the
# reference backend tensor by tensor (train.dnnl_step_keras_upsample_norm below)
set(kn_train_backends ref)
if(KILN_WITH_ONEDNN)
  list(APPEND kn_train_backends dnnl)
endif()
foreach(backend ${kn_train_backends})
  add_test(NAME train.keras_upsample_norm_learns_${backend}
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DSPEC=${CMAKE_CURRENT_SOURCE_DIR}/train/parity.kiln
                   -DTRAIN=keras_un_adam -DBACKEND=${backend} "-DARGS=--epochs 3 --limit 256 --threads 2"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_loss_falls.cmake)
  set_tests_properties(train.keras_upsample_norm_learns_${backend} PROPERTIES LABELS train TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=2")
endforeach()

# Training on oneDNN (issue 14): one step of every models/*.kiln with a train block on --backend dnnl against the
# reference backend, every tensor of --dump-step within 1e-4 of its scale (tests/train/run_dnnl_step.cmake).
# dcgan runs with --seed 1: with seed 0 one of the discriminator's 401,408 first-layer pre-activations lies within
# rounding of LeakyReLU's kink, so the two backends take different sides of it at that one position: channel 20's
# bias gradient differs by 0.8 * dy (-0.00772 against -0.00813) and its 25 kernel gradients by that times the
# position's 5x5 input patch, every other channel within 3e-8. A tie is a discrete event no tolerance on rounding
# bounds; seeds 1 and 2 at batch 32, and 0-2 at batch 8 and 16, have none.
if(KILN_WITH_ONEDNN)
  add_executable(kn_make_dataset ${CMAKE_CURRENT_SOURCE_DIR}/make_dataset.c)
  foreach(case "mnist_cnn;idx;" "fashion_cnn;idx;" "cifar_cnn;cifar10;" "resnet_small;cifar10;--batch-size 16"
               "image_classifier;;--batch-size 4" "mlp_gan;idx;" "dcgan;idx;--batch-size 32 --seed 1")
    list(GET case 0 model)
    list(GET case 1 data)
    list(GET case 2 args)
    set(data_arg)
    if(data)
      set(data_arg -DDATA=${data})
    endif()
    add_test(NAME train.dnnl_step_${model}
             COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCOMPARE=$<TARGET_FILE:kn_npy_compare>
                     -DMAKE_DATASET=$<TARGET_FILE:kn_make_dataset> -DSPEC=${PROJECT_SOURCE_DIR}/models/${model}.kiln
                     -DWORK=${CMAKE_CURRENT_BINARY_DIR}/dnnl_step/${model}
                     ${data_arg} "-DARGS=${args}" -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_dnnl_step.cmake)
    set_tests_properties(train.dnnl_step_${model} PROPERTIES LABELS "train;dnnl" TIMEOUT 600
                         ENVIRONMENT "OMP_NUM_THREADS=2")
  endforeach()
  add_test(NAME train.dnnl_step_keras_upsample_norm
           COMMAND ${CMAKE_COMMAND} -DKILN=$<TARGET_FILE:kiln_cli> -DCOMPARE=$<TARGET_FILE:kn_npy_compare>
                   -DMAKE_DATASET=$<TARGET_FILE:kn_make_dataset> -DSPEC=${CMAKE_CURRENT_SOURCE_DIR}/train/parity.kiln
                   -DWORK=${CMAKE_CURRENT_BINARY_DIR}/dnnl_step/keras_upsample_norm -DDATA=idx
                   "-DARGS=--train keras_un_adam" -P ${CMAKE_CURRENT_SOURCE_DIR}/train/run_dnnl_step.cmake)
  set_tests_properties(train.dnnl_step_keras_upsample_norm PROPERTIES LABELS "train;dnnl" TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=2")
endif()
