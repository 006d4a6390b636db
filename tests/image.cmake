# Pictures in (label `image`): `kiln run --image` and the kn_image_* API (runtime/image_read.c).
#
#  image.preprocess   tests/image/check_images.py: PNG (grey, grey + alpha, RGB, RGBA, palette, 16-bit) and JPEG
#                     (grey, RGB) fixtures written by PIL, run through identity ONNX models with every resize,
#                     preset and normalisation option, against PIL's decoding + PyTorch's bilinear interpolate +
#                     numpy's crop and normalisation.
#  image.dataset      tests/image/check_dataset.py: an images(dir) folder (MNIST digits as PNG and JPEG, one
#                     subfolder per class): the first training batch against PIL + PyTorch, then training to a
#                     test accuracy >= 0.9, with a held-out fifth and with train/ and test/ subfolders.
#  cli_image_*        the CLI on real MNIST digits (tests/image/make_images.py writes them from data/mnist) with
#                     models/mnist_small.onnx, labels, a one-unit sigmoid model, and broken pictures.
# All need /usr/bin/python3 with numpy, PIL (python3-pil), torch and onnx; without them they are skipped.

set(KN_IMAGE_DATA ${CMAKE_CURRENT_BINARY_DIR}/image_data)
set(kn_image_python "")
if(EXISTS /usr/bin/python3)
  execute_process(COMMAND /usr/bin/python3 -c "import numpy, PIL, torch, onnx" RESULT_VARIABLE kn_rc
                  OUTPUT_QUIET ERROR_QUIET)
  if(kn_rc EQUAL 0)
    set(kn_image_python /usr/bin/python3)
  endif()
endif()

if(kn_image_python)
  add_test(NAME image.preprocess
           COMMAND ${kn_image_python} ${CMAKE_CURRENT_SOURCE_DIR}/image/check_images.py $<TARGET_FILE:kiln_cli>
                   ${CMAKE_CURRENT_BINARY_DIR}/image_check)
  add_test(NAME image.dataset
           COMMAND ${kn_image_python} ${CMAKE_CURRENT_SOURCE_DIR}/image/check_dataset.py $<TARGET_FILE:kiln_cli>
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/image_dataset)
  add_test(NAME image.make_data
           COMMAND ${kn_image_python} ${CMAKE_CURRENT_SOURCE_DIR}/image/make_images.py ${KN_IMAGE_DATA}
                   ${PROJECT_SOURCE_DIR})
else()
  add_test(NAME image.preprocess COMMAND ${CMAKE_COMMAND} -E echo
           "KILN_SKIP: needs /usr/bin/python3 with numpy, PIL (python3-pil), torch and onnx")
  add_test(NAME image.dataset
           COMMAND ${kn_image_python} ${CMAKE_CURRENT_SOURCE_DIR}/image/check_dataset.py $<TARGET_FILE:kiln_cli>
                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/image_dataset)
  add_test(NAME image.dataset COMMAND ${CMAKE_COMMAND} -E echo
           "KILN_SKIP: needs /usr/bin/python3 with numpy, PIL (python3-pil) and torch")
  add_test(NAME image.make_data COMMAND ${CMAKE_COMMAND} -E echo
           "KILN_SKIP: needs /usr/bin/python3 with numpy and PIL (python3-pil)")
endif()
set_tests_properties(image.preprocess PROPERTIES LABELS image TIMEOUT 300 SKIP_REGULAR_EXPRESSION "KILN_SKIP"
                     ENVIRONMENT "OMP_NUM_THREADS=1")
set_tests_properties(image.dataset PROPERTIES LABELS "image;train" TIMEOUT 600 SKIP_REGULAR_EXPRESSION "KILN_SKIP"
                     ENVIRONMENT "OMP_NUM_THREADS=1")
set_tests_properties(image.make_data PROPERTIES LABELS image FIXTURES_SETUP kn_image_data
                     SKIP_REGULAR_EXPRESSION "KILN_SKIP")

# kn_image_cli_test(NAME RC [check.sh options...] -- [kiln arguments...]): kn_cli_test on the image fixtures.
function(kn_image_cli_test name rc)
  kn_cli_test(image_${name} ${rc} ${ARGN})
  set_property(TEST cli_image_${name} APPEND PROPERTY FIXTURES_REQUIRED kn_image_data)
  set_property(TEST cli_image_${name} APPEND PROPERTY LABELS image)
endfunction()

set(D ${KN_IMAGE_DATA})
set(M ${PROJECT_SOURCE_DIR}/models/mnist_small.onnx)
# real digits (labels 6, 3, 2, 0 in the shipped test split): one, then a batch of four with names
kn_image_cli_test(digit 0 -o "^output 'probs': float32 \\[1,10\\]$" -o "^  image 0 \\(.*digit_0_6.png\\): 6 \\(0[.]9"
                  -- run ${M} --image ${D}/digit_0_6.png)
kn_image_cli_test(digits_labels 0 -o "^output 'probs': float32 \\[4,10\\]$"
                  -o "^  image 0 \\(.*digit_0_6.png\\): six \\(" -o "^  image 1 \\(.*digit_1_3.png\\): three \\("
                  -o "^  image 2 \\(.*digit_2_2.png\\): two \\(" -o "^  image 3 \\(.*digit_3_0.png\\): zero \\("
                  -- run ${M} --top 2 --labels ${D}/digits.txt --image ${D}/digit_0_6.png ${D}/digit_1_3.png
                     ${D}/digit_2_2.png ${D}/digit_3_0.png)
# a dark digit on white paper, RGB JPEG, 112x112: grey, resized, inverted
kn_image_cli_test(paper_jpeg 0 -o "^  image 0 \\(.*paper_3.jpg\\): three \\(0[.]9"
                  -- run ${M} --preset mnist --invert --labels ${D}/digits.txt --image ${D}/paper_3.jpg)
kn_image_cli_test(model_after_images 0 -o "^  image 0 \\(.*digit_1_3.png\\): 3 "
                  -- run --image ${D}/digit_1_3.png ${M})
kn_image_cli_test(sigmoid_probability 0 -o "^probability of cat from 'p' \\(one sigmoid unit\\):$"
                  -o "^  image 0 \\(.*digit_0_6.png\\): [01][.][0-9]{4} -> (dog|cat)$" -n "top 1 of 1"
                  -- run ${CMAKE_CURRENT_SOURCE_DIR}/image/binary.kiln --labels ${D}/cats.txt
                     --image ${D}/digit_0_6.png)
kn_image_cli_test(sigmoid_no_labels 0 -o "^probability of class 1 from 'p'" -o "-> class [01]$"
                  -- run ${CMAKE_CURRENT_SOURCE_DIR}/image/binary.kiln --image ${D}/digit_0_6.png)
# errors: each names the file
kn_image_cli_test(missing 1 -e "^kiln: error: --image: .*nothere.png: cannot open: No such file"
                  -- run ${M} --image ${D}/nothere.png)
kn_image_cli_test(truncated_png 1 -e "^kiln: error: --image: .*truncated.png: not a readable PNG: the file ends early"
                  -- run ${M} --image ${D}/truncated.png)
kn_image_cli_test(corrupt_png 1 -e "^kiln: error: --image: .*corrupt.png: not a readable PNG: "
                  -- run ${M} --image ${D}/corrupt.png)
kn_image_cli_test(truncated_jpeg 1
                  -e "^kiln: error: --image: .*truncated.jpg: not a readable JPEG: Premature end of JPEG file"
                  -- run ${M} --image ${D}/truncated.jpg)
kn_image_cli_test(text_as_png 1 -e "^kiln: error: --image: .*text.png: not a PNG or JPEG file"
                  -- run ${M} --image ${D}/text.png)
kn_image_cli_test(bmp 1 -e "^kiln: error: --image: .*picture.bmp: not a PNG or JPEG file \\(kiln reads PNG and JPEG"
                  -- run ${M} --image ${D}/picture.bmp)
kn_image_cli_test(empty_jpeg 1 -e "^kiln: error: --image: .*empty.jpg: not a PNG or JPEG file"
                  -- run ${M} --image ${D}/empty.jpg)
kn_image_cli_test(labels_count 1 -e "^kiln: error: --labels .*digits_short.txt has 3 names, but output 'probs' has 10"
                  -- run ${M} --labels ${D}/digits_short.txt --image ${D}/digit_0_6.png)
kn_image_cli_test(labels_missing 1 -e "^kiln: error: --labels .*nothere.txt: cannot open"
                  -- run ${M} --labels ${D}/nothere.txt --image ${D}/digit_0_6.png)
kn_image_cli_test(not_an_image_input 1
                  -e "^kiln: error: input 'X' is float32 \\[N,4\\]: --image needs a float32 image input \\[N, C, H, W\\]"
                  -- run ${KN_CLI_MODELS}/logits.onnx --image ${D}/digit_0_6.png)
kn_image_cli_test(bad_preset 1 -e "^kiln: error: unknown image preset 'cifar' \\(presets: default, mnist, imagenet, raw\\)"
                  -- run ${M} --preset cifar --image ${D}/digit_0_6.png)
kn_image_cli_test(bad_resize 2 -e "^kiln run: --resize needs stretch or crop, got 'fit'"
                  -- run ${M} --resize fit --image x.png)
kn_image_cli_test(bad_mean 2 -e "^kiln run: --mean needs one number or three separated by commas"
                  -- run ${M} --mean 1,2 --image x.png)
kn_image_cli_test(zero_std 2 -e "^kiln run: --std must not be 0" -- run ${M} --std 0 --image x.png)
kn_image_cli_test(three_means_grey 1 -e "^kiln: error: --mean has 3 values, but input 'image' has 1 channel"
                  -- run ${M} --mean 0.1,0.2,0.3 --image ${D}/digit_0_6.png)
kn_image_cli_test(image_and_input 2 -e "^kiln run: --image and --input cannot be mixed"
                  -- run ${M} --input x.npy --image x.png)
kn_image_cli_test(prep_without_image 2 -e "^kiln run: --preset, --resize, --scale, --mean, --std and --invert apply to --image"
                  -- run ${M} --invert --input x.npy)

# images(dir) and the other datasets: what is missing on disk is said before anything compiles, at the dataset's line
kn_image_cli_test(dataset_missing_dir 1
                  -e "ds_missing.kiln:8:22: error: dataset images: directory .*no_such_dir does not exist"
                  -- train ${D}/ds_missing.kiln --epochs 1)
kn_image_cli_test(dataset_no_classes 1 -e "ds_no_classes.kiln:8:22: error: dataset images: .*ds_no_classes has no class subfolders"
                  -- train ${D}/ds_no_classes.kiln --epochs 1)
kn_image_cli_test(dataset_no_pictures 1
                  -e "ds_no_pictures.kiln:8:22: error: dataset images: class folder .*ds_no_pictures/dog holds no PNG or JPEG"
                  -- compile ${D}/ds_no_pictures.kiln)
kn_image_cli_test(dataset_image_folder 1 -e "error: unknown dataset 'image_folder' \\(did you mean 'images'\\?\\)"
                  -- compile ${D}/ds_image_folder.kiln)
kn_image_cli_test(dataset_flat_model 1 -e "ds_flat.kiln:8:15: error: images\\(dir\\) gives pictures of shape \\(C, H, W\\)"
                  -- compile ${D}/ds_flat.kiln)
kn_image_cli_test(dataset_idx_missing_train 1
                  -e "ds_idx_missing.kiln:8:15: error: dataset idx: directory .*no_mnist_here does not exist$"
                  -- train ${D}/ds_idx_missing.kiln --epochs 1)
kn_image_cli_test(dataset_idx_missing_data_option 1
                  -e "ds_idx_missing.kiln:8:15: error: dataset idx: .*ds_ok has no train-images-idx3-ubyte \\(or .gz\\) \\(from --data\\)"
                  -- train ${D}/ds_idx_missing.kiln --epochs 1 --data ${D}/ds_ok)
kn_image_cli_test(dataset_idx_missing_compile 0
                  -e "ds_idx_missing.kiln:8:15: warning: dataset idx: directory .*no_mnist_here does not exist \\(kiln train needs it"
                  -- compile ${D}/ds_idx_missing.kiln)
