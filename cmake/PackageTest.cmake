# Registers the CMake package test (tests/package/run_package_test.cmake): install this
# build into a temporary prefix, then build and run examples/hello_snn against it with
# find_package(snn). Included from the top-level CMakeLists.txt when tests are enabled.
# It takes about a minute on two cores the first time (compiling the example), seconds
# afterwards thanks to ccache.
string(REPLACE ";" "|" SNN_PREFIX_PATH_ESCAPED "${CMAKE_PREFIX_PATH}")
add_test(NAME package.find_package_hello_snn
  COMMAND ${CMAKE_COMMAND}
    -DSNN_BINARY_DIR=${PROJECT_BINARY_DIR}
    -DSNN_SOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DWORK_DIR=${PROJECT_BINARY_DIR}/package-test
    -DCCACHE=${SNN_CCACHE}
    -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
    # A LibTorch outside the system paths (a CUDA build from pip or /opt) must be found
    # again by the example's find_dependency(Torch).
    -DTORCH_DIR=${Torch_DIR}
    # Dependencies found through CMAKE_PREFIX_PATH (a prefix of unpacked .debs) are found
    # there again; '|' stands for ';' so that the list stays one argument.
    "-DEXTRA_PREFIX_PATH=${SNN_PREFIX_PATH_ESCAPED}"
    -P ${PROJECT_SOURCE_DIR}/tests/package/run_package_test.cmake)
set_tests_properties(package.find_package_hello_snn PROPERTIES
  LABELS package
  TIMEOUT 600)
