# Warnings, sanitizers and ccache for every target of the project.
find_program(OPTISCOPE_CCACHE ccache)
if(OPTISCOPE_CCACHE)
  # PCH-friendly settings so the precompiled LibTorch header is cached too.
  set(_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      ${OPTISCOPE_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${OPTISCOPE_CCACHE})
endif()

add_library(optiscope_warnings INTERFACE)
target_compile_options(optiscope_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough
    -Wno-missing-field-initializers>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${OPTISCOPE_WERROR}>>:-Werror>)

set(OPTISCOPE_SANITIZE "" CACHE STRING "Sanitizers, e.g. address,undefined")
if(OPTISCOPE_SANITIZE)
  add_compile_options(-fsanitize=${OPTISCOPE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${OPTISCOPE_SANITIZE})
endif()
