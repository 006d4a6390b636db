# No allocation during a run (label unit): tests/noalloc/test_noalloc.c runs a
# compiled session of a model with every kernel that needs scratch (Conv by
# im2col tiles, the wide path, 1x1 and both depthwise paths, ConvTranspose,
# LRN, pools, Gemm) several times, counting kiln's heap calls between runs; and training steps of
# models/mnist_cnn.kiln (forward, backward, optimizer updates) on the reference and the oneDNN backend.
#
# The counting uses the linker's --wrap on this one executable: every call
# to malloc, calloc, realloc, free, posix_memalign, aligned_alloc, strdup or
# strndup from the objects linked statically into it (the test and libkiln's
# static archives) goes through a counting __wrap_ function. Calls made inside
# shared libraries (libgomp's thread pool, OpenBLAS's buffers, cmocka) are not
# wrapped: they are those libraries' own business, and the test measures the
# second and third runs anyway so that lazy first-run set-up never counts.

add_executable(test_noalloc ${CMAKE_CURRENT_SOURCE_DIR}/noalloc/test_noalloc.c
                            ${CMAKE_CURRENT_SOURCE_DIR}/unit/testutil.c)
target_include_directories(test_noalloc PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_noalloc PRIVATE kiln PkgConfig::CMOCKA)
target_include_directories(test_noalloc PRIVATE ${PROJECT_SOURCE_DIR}/backends)
target_compile_definitions(test_noalloc PRIVATE KN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_link_options(test_noalloc PRIVATE
  "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=posix_memalign,--wrap=aligned_alloc,--wrap=strdup,--wrap=strndup")
add_test(NAME test_noalloc COMMAND test_noalloc)
set_tests_properties(test_noalloc PROPERTIES LABELS unit ENVIRONMENT "OMP_NUM_THREADS=2")
