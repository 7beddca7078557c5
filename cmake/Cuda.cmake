# Optional CUDA: SPF_CUDA=AUTO enables the language when nvcc is found, ON requires it, OFF skips it.
# Sets SPF_HAVE_CUDA. spf_cuda is built with explicit -gencode pairs (SASS for each of
# SPF_CUDA_ARCHS, plus PTX of the newest for later chips), so no other architecture is compiled.
# Hopper-only instructions (wgmma) need the sm_90a target: spf_add_sm90a_library builds those
# files for it alone, when 90 is among SPF_CUDA_ARCHS.
include(CheckLanguage)
set(SPF_HAVE_CUDA OFF)
if(NOT SPF_CUDA STREQUAL "OFF")
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Architectures come from SPF_CUDA_ARCHS through -gencode; keep CMake from adding its own.
    set(CMAKE_CUDA_ARCHITECTURES OFF)
    # The host compiler's launcher (ccache) serves nvcc too unless one is given.
    if(CMAKE_CXX_COMPILER_LAUNCHER AND NOT CMAKE_CUDA_COMPILER_LAUNCHER)
      set(CMAKE_CUDA_COMPILER_LAUNCHER ${CMAKE_CXX_COMPILER_LAUNCHER})
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # CMake 3.25 does not know nvcc 13's C++20 flag; newer CMake sets the same.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    set(SPF_HAVE_CUDA ON)
  elseif(SPF_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SPF_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "CUDA executor: ${SPF_HAVE_CUDA} (archs ${SPF_CUDA_ARCHS})")

# The project's nvcc options for target `name`, with the -gencode pairs in the remaining arguments.
function(spf_cuda_options name)
  set(cuda_flags ${ARGN} --expt-relaxed-constexpr -Xcompiler=-Wall,-Wextra)
  if(SPF_WERROR)
    list(APPEND cuda_flags -Werror=all-warnings -Xcompiler=-Werror)
  endif()
  if(SPF_CUDA_PTXAS_VERBOSE)
    list(APPEND cuda_flags -Xptxas=-v)
  endif()
  target_compile_options(${name} PRIVATE "$<$<COMPILE_LANGUAGE:CUDA>:${cuda_flags}>")
endfunction()

# spf_add_cuda_library(name dir deps...): the .cu and .cpp files of dir in one static library.
function(spf_add_cuda_library name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cu ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARGN} CUDA::cudart)
  set(gencode "")
  list(GET SPF_CUDA_ARCHS -1 newest)
  foreach(arch ${SPF_CUDA_ARCHS})
    list(APPEND gencode "-gencode=arch=compute_${arch},code=sm_${arch}")
  endforeach()
  list(APPEND gencode "-gencode=arch=compute_${newest},code=compute_${newest}")
  spf_cuda_options(${name} ${gencode})
endfunction()

# spf_add_sm90a_library(name dir deps...): the .cu files of dir for Hopper's architecture-specific
# target only (sm_90a: wgmma), no PTX, so no other chip can pick up its code.
function(spf_add_sm90a_library name dir)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cu)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARGN} CUDA::cudart)
  spf_cuda_options(${name} "-gencode=arch=compute_90a,code=sm_90a")
endfunction()
