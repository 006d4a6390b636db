# Memory planner checks through the CLI (`kiln info --memory`, `--memory-svg`),
# label cli. The planner itself is tested by tests/unit/test_memplan.c. Uses
# kn_cli_test from tests/cli.cmake (included before this file).

if(NOT COMMAND kn_cli_test)
  return()
endif()

set(KN_MEM_OUT ${CMAKE_CURRENT_BINARY_DIR}/memory_out)
file(MAKE_DIRECTORY ${KN_MEM_OUT})

kn_cli_test(info_memory 0 -o "^memory plan at batch 1 " -o "^  arena [(]planned peak[)] +[0-9.]+ KiB"
            -o "^  lower bound " -o "^  naive sum " -o "^  efficiency +(9[5-9]|100)[.][0-9]%" -o "^  placement +greedy by "
            -o "^lifetime chart: " -o "^  image +3[.]06 KiB " -o "^  probs +40 B "
            -- info ${KN_CLI_MNIST} --memory)
kn_cli_test(info_memory_batch 0 -o "^memory plan at batch 8 " -o "^  image +24[.]5 KiB "
            -- info ${KN_CLI_MNIST} --memory --batch=8)
kn_cli_test(info_memory_svg 0 -o "^wrote the memory chart to .*mnist[.]svg$" -n "^memory plan"
            -f ${KN_MEM_OUT}/mnist.svg -- info ${KN_CLI_MNIST} --memory-svg ${KN_MEM_OUT}/mnist.svg)
set_tests_properties(cli_info_memory_svg PROPERTIES FIXTURES_SETUP kn_memory_svg)
add_test(NAME cli_info_memory_svg_content
         COMMAND sh ${KN_CLI_CHECK} 0 -o "^<svg xmlns=" -o "<title>probs: 40 B at offset" -o "lower bound</text>"
                 -- cat ${KN_MEM_OUT}/mnist.svg)
set_tests_properties(cli_info_memory_svg_content PROPERTIES LABELS cli FIXTURES_REQUIRED kn_memory_svg)
kn_cli_test(info_memory_bad_batch 2 -e "^kiln info: --batch needs an integer from 1 to 1000000, got '0'"
            -- info ${KN_CLI_MNIST} --memory --batch 0)
kn_cli_test(info_memory_batch_too_large 2 -e "^kiln info: --batch needs an integer from 1 to 1000000, got '100000000'"
            -- info ${KN_CLI_MNIST} --memory --batch 100000000)
kn_cli_test(info_memory_svg_missing 2 -e "^kiln info: option '--memory-svg' needs a value"
            -- info ${KN_CLI_MNIST} --memory-svg)
kn_cli_test(info_memory_svg_unwritable 1 -e "^kiln: error: cannot write '/nonexistent/x[.]svg'"
            -- info ${KN_CLI_MNIST} --memory-svg /nonexistent/x.svg)

# The training memory of a train block: every step's graph and a GAN's shared prefix, each its own arena, summed
# into the training peak.
kn_cli_test(info_memory_train_gan 0 -o "^shared prefix of train block 'gan' [(]generator computed once per batch"
            -o "^training graph [(]train block 'gan', step 'discriminator': "
            -o "^training graph [(]train block 'gan', step 'generator': "
            -o "^peak at batch 8: inference [0-9.]+ [KM]iB, training [0-9.]+ [KM]iB [(][0-9.]+x. every step's arena and the shared prefix's[)]"
            -- info ${PROJECT_SOURCE_DIR}/models/mlp_gan.kiln --memory --train --batch 8)
kn_cli_test(info_memory_train_classifier 0 -n "^shared prefix" -o "^training graph [(]train block '[a-z_]+', step '[a-z_]+': "
            -o "^peak at batch 4: inference [0-9.]+ [KM]iB, training [0-9.]+ [KM]iB [(][0-9.]+x. every step's arena[)]"
            -- info ${PROJECT_SOURCE_DIR}/models/mnist_cnn.kiln --memory --train --batch 4)
