# spf_add_layer(name dir deps...): one static library per folder of src/, sources globbed so that
# adding a file needs no CMake edit. A folder with no .cpp yet becomes an interface library.
function(spf_add_layer name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
  # Device code (a cuda/ folder) is its own optional library (cmake/Cuda.cmake).
  list(FILTER srcs EXCLUDE REGEX "/cuda/")
  if(srcs)
    add_library(${name} STATIC ${srcs})
    target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(${name} PUBLIC ${ARGN})
  else()
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_SOURCE_DIR}/src)
    target_link_libraries(${name} INTERFACE ${ARGN})
  endif()
endfunction()
