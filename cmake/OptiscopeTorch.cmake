# LibTorch comes from the torch==2.11.0 wheel.
#
# CPU builds import only libtorch_cpu and libc10 from the unpacked wheel in .deps/torch
# (installer/setup.sh puts it there): the wheel's own TorchConfig would pull in CUDA, cuDNN and
# NCCL, which a laptop or CI machine has no use for.
# libstdc++ is named ahead of LibTorch: the wheel's libraries export their own copies of
# libstdc++'s newer symbols (std::filesystem among them; the manylinux toolchain links them in
# statically), and the dynamic linker takes a symbol from the first library in the program's
# lookup order that defines it. Behind LibTorch, our std::filesystem calls reached those copies,
# and libtorch.so's remove_all (CUDA build) jumps to a null address. Named first, the standard
# library is the one we compiled against: libstdc++.so first in the lookup order, or, where the
# toolchain links libstdc++ statically (the GPU machine's /opt/gcc), the archive's members are
# taken into the program instead of leaving the calls to LibTorch (tests/core/test_standard_library.cpp).
# CUDA builds (OPTISCOPE_CUDA=ON, the GPU server) use the wheel's CMake package as installed in
# python3, exactly as the torch docs describe.
set(OPTISCOPE_TORCH_ROOT "${CMAKE_SOURCE_DIR}/.deps/torch" CACHE PATH "Unpacked torch wheel (torch/ folder)")

if(OPTISCOPE_CUDA)
  if(NOT Torch_DIR)
    execute_process(COMMAND python3 -c "import torch; print(torch.utils.cmake_prefix_path)"
                    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc)
    if(_rc EQUAL 0)
      list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
    endif()
  endif()
  # LibTorch's CMake adds -gencode flags for every architecture in TORCH_CUDA_ARCH_LIST (from
  # sm_50 on, which nvcc 13 rejects); build for the cards we target instead.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(ENV{TORCH_CUDA_ARCH_LIST} "9.0")
  endif()
  find_package(Torch REQUIRED)
  add_library(optiscope_torch INTERFACE)
  target_link_libraries(optiscope_torch INTERFACE stdc++ ${TORCH_LIBRARIES})
  # TORCH_CXX_FLAGS carries the ABI define.
  separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(optiscope_torch INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_torch_flags}>)
  get_filename_component(_torch_lib_dir "${TORCH_LIBRARY}" DIRECTORY)
  set(OPTISCOPE_TORCH_LIB_DIR "${_torch_lib_dir}")
  set(OPTISCOPE_TORCH_FLAVOUR "cuda")
else()
  set(_inc "${OPTISCOPE_TORCH_ROOT}/include")
  set(_lib "${OPTISCOPE_TORCH_ROOT}/lib")
  if(NOT EXISTS "${_lib}/libtorch_cpu.so")
    message(FATAL_ERROR "LibTorch not found in ${OPTISCOPE_TORCH_ROOT}. Run installer/setup.sh first.")
  endif()
  add_library(optiscope_c10 SHARED IMPORTED)
  set_target_properties(optiscope_c10 PROPERTIES IMPORTED_LOCATION "${_lib}/libc10.so")
  add_library(optiscope_torch_cpu SHARED IMPORTED)
  set_target_properties(optiscope_torch_cpu PROPERTIES IMPORTED_LOCATION "${_lib}/libtorch_cpu.so")
  add_library(optiscope_torch INTERFACE)
  # System includes: LibTorch's headers are not ours to keep warning-free.
  target_include_directories(optiscope_torch SYSTEM INTERFACE "${_inc}" "${_inc}/torch/csrc/api/include")
  target_compile_definitions(optiscope_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
  target_link_libraries(optiscope_torch INTERFACE stdc++ optiscope_torch_cpu optiscope_c10)
  set(OPTISCOPE_TORCH_LIB_DIR "${_lib}")
  set(OPTISCOPE_TORCH_FLAVOUR "cpu (wheel)")
  # libtorch_cpu from the CUDA wheel needs libcudart and libcupti at load time; the CUDA toolkit
  # has them, else installer/setup.sh unpacks them next to LibTorch.
  set(OPTISCOPE_EXTRA_RPATH "${_lib}" "/usr/local/cuda/lib64" "${OPTISCOPE_TORCH_ROOT}/cuda-libs")
endif()

set(CMAKE_BUILD_RPATH "${OPTISCOPE_TORCH_LIB_DIR};${OPTISCOPE_EXTRA_RPATH}")
