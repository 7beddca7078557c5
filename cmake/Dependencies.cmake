# All third-party code comes from Debian packages (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)
# Header-only libraries: their CMake packages when installed, else the bare headers.
find_package(nlohmann_json 3.10 QUIET)
if(NOT TARGET nlohmann_json::nlohmann_json)
  find_path(NLOHMANN_JSON_INCLUDE nlohmann/json.hpp REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${NLOHMANN_JSON_INCLUDE})
endif()
find_package(CLI11 CONFIG QUIET)
if(NOT TARGET CLI11::CLI11)
  find_path(CLI11_INCLUDE CLI/CLI.hpp REQUIRED)
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  set_target_properties(CLI11::CLI11 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${CLI11_INCLUDE})
endif()

# OpenBLAS. Its OpenMP build is preferred: one thread pool for BLAS and for our own loops (with the
# pthreads build the two pools spin against each other, ~10x slower decode unless
# OMP_WAIT_POLICY=passive). Falls back to whatever BLAS CMake finds.
find_library(SPF_OPENBLAS_OMP NAMES openblas.so.0 libopenblas.so.0
             PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
             NO_DEFAULT_PATH)
find_path(SPF_OPENBLAS_OMP_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp
          /usr/include/aarch64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
if(SPF_OPENBLAS_OMP AND SPF_OPENBLAS_OMP_INCLUDE)
  add_library(BLAS::BLAS INTERFACE IMPORTED)
  set_target_properties(BLAS::BLAS PROPERTIES INTERFACE_LINK_LIBRARIES "${SPF_OPENBLAS_OMP}"
                                              INTERFACE_INCLUDE_DIRECTORIES "${SPF_OPENBLAS_OMP_INCLUDE}")
  set(SPF_BLAS_FLAVOR "OpenBLAS (OpenMP)")
else()
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS REQUIRED)
  find_path(SPF_CBLAS_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread
            /usr/include/aarch64-linux-gnu/openblas-pthread /usr/include/openblas /usr/include)
  if(NOT SPF_CBLAS_INCLUDE)
    message(FATAL_ERROR "cblas.h not found: install libopenblas-openmp-dev (or libopenblas-dev)")
  endif()
  if(NOT TARGET BLAS::BLAS)
    add_library(BLAS::BLAS INTERFACE IMPORTED)
    set_target_properties(BLAS::BLAS PROPERTIES INTERFACE_LINK_LIBRARIES "${BLAS_LIBRARIES}")
  endif()
  set_property(TARGET BLAS::BLAS APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${SPF_CBLAS_INCLUDE})
  set(SPF_BLAS_FLAVOR "${BLAS_LIBRARIES}")
endif()
message(STATUS "BLAS: ${SPF_BLAS_FLAVOR}")

# PCRE2: pkg-config when present; SPF_PCRE2_ROOT points at an unpacked libpcre2-dev otherwise.
find_path(PCRE2_INCLUDE_DIR pcre2.h HINTS ${SPF_PCRE2_ROOT}/usr/include)
find_library(PCRE2_LIBRARY NAMES libpcre2-8.a pcre2-8
             HINTS ${SPF_PCRE2_ROOT}/usr/lib/x86_64-linux-gnu ${SPF_PCRE2_ROOT}/usr/lib/aarch64-linux-gnu)
if(NOT PCRE2_INCLUDE_DIR OR NOT PCRE2_LIBRARY)
  message(FATAL_ERROR "PCRE2 not found: install libpcre2-dev (or set SPF_PCRE2_ROOT)")
endif()
add_library(PCRE2::8 INTERFACE IMPORTED)
set_target_properties(PCRE2::8 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${PCRE2_INCLUDE_DIR}
                                          INTERFACE_LINK_LIBRARIES ${PCRE2_LIBRARY}
                                          INTERFACE_COMPILE_DEFINITIONS PCRE2_CODE_UNIT_WIDTH=8)

if(SPF_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(SPF_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
