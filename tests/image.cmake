# Pictures in (label `image`): `kiln run --image` and the kn_image_* API (runtime/image_read.c).
#
#  image.preprocess   tests/image/check_images.py: PNG (grey, grey + alpha, RGB, RGBA, palette, 16-bit) and JPEG
#                     (grey, RGB) fixtures written by PIL, run through identity ONNX models with every resize,
#                     preset and normalisation option, against PIL's decoding + PyTorch's bilinear interpolate +
#                     numpy's crop and normalisation.
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
  add_test(NAME image.make_data
           COMMAND ${kn_image_python} ${CMAKE_CURRENT_SOURCE_DIR}/image/make_images.py ${KN_IMAGE_DATA}
                   ${PROJECT_SOURCE_DIR})
else()
  add_test(NAME image.preprocess COMMAND ${CMAKE_COMMAND} -E echo
           "KILN_SKIP: needs /usr/bin/python3 with numpy, PIL (python3-pil), torch and onnx")
  add_test(NAME image.make_data COMMAND ${CMAKE_COMMAND} -E echo
           "KILN_SKIP: needs /usr/bin/python3 with numpy and PIL (python3-pil)")
endif()
set_tests_properties(image.preprocess PROPERTIES LABELS image TIMEOUT 300 SKIP_REGULAR_EXPRESSION "KILN_SKIP"
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
