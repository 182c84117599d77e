# The CMake package test: installs the current build of libsnn into a fresh prefix, then
# configures, builds and runs examples/hello_snn against it with find_package(snn), exactly
# as a user's project would. Run by ctest (label "package") as
#   cmake -DSNN_BINARY_DIR=... -DSNN_SOURCE_DIR=... -DWORK_DIR=... [-DCCACHE=...] -P <this>
#
# The prefix and the example's build folder have fixed paths under WORK_DIR (inside the
# build tree), so ccache sees identical compiler command lines on every run and the example
# recompiles from cache in a second or two.
cmake_minimum_required(VERSION 3.18)

foreach(var SNN_BINARY_DIR SNN_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "package test: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(example_build ${WORK_DIR}/hello_snn)

# Runs a command, echoing it; stops the test with its output when it fails.
function(step what)
  message(STATUS "package test: ${what}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: ${what} failed (exit ${rc}): ${ARGN}")
  endif()
endfunction()

# A clean slate: leftovers of an earlier install must not hide a missing file.
file(REMOVE_RECURSE ${prefix} ${example_build})

step("install libsnn" ${CMAKE_COMMAND} --install ${SNN_BINARY_DIR} --prefix ${prefix})

# What a user relies on: the umbrella header, the package files, the library.
foreach(f include/snn/snn.h include/snn/simulator.h)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "package test: ${prefix}/${f} was not installed")
  endif()
endforeach()
file(GLOB_RECURSE config_files ${prefix}/*/snnConfig.cmake)
file(GLOB_RECURSE targets_files ${prefix}/*/snnTargets.cmake)
if(NOT config_files OR NOT targets_files)
  message(FATAL_ERROR "package test: snnConfig.cmake / snnTargets.cmake missing under ${prefix}")
endif()

if(EXTRA_PREFIX_PATH)
  # The environment's CMAKE_PREFIX_PATH is searched too, and a ':' list passes unharmed.
  string(REPLACE "|" ":" extra "${EXTRA_PREFIX_PATH}")
  set(ENV{CMAKE_PREFIX_PATH} "${extra}:$ENV{CMAKE_PREFIX_PATH}")
endif()
set(configure_args -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
if(TORCH_DIR)
  list(APPEND configure_args -DTorch_DIR=${TORCH_DIR})
endif()
if(CCACHE)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()
if(CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
step("configure examples/hello_snn"
     ${CMAKE_COMMAND} -S ${SNN_SOURCE_DIR}/examples/hello_snn -B ${example_build} ${configure_args})
step("build examples/hello_snn" ${CMAKE_COMMAND} --build ${example_build} -j2)
# With HDF5 (SNN_HAVE_HDF5 in the exported interface), the example also writes its probes:
# that pulls libsnn's HDF5 code, and so HDF5's libraries, into the user's link.
set(h5_out ${WORK_DIR}/hello_snn.h5)
file(REMOVE ${h5_out})
list(GET targets_files 0 targets_file)
file(READ ${targets_file} exported)
step("run hello_snn" ${example_build}/hello_snn ${h5_out})
if(exported MATCHES "SNN_HAVE_HDF5" AND NOT EXISTS ${h5_out})
  message(FATAL_ERROR "package test: hello_snn did not write ${h5_out}")
endif()
message(STATUS "package test: passed")
