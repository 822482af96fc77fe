#pragma once
// Turning a CUDA runtime error into an exception, for the kernels' launchers (.cu files only: this
// header includes the CUDA runtime).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace optiscope::kernels {

[[noreturn]] inline void throw_cuda(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorName(err) + ": " +
                           cudaGetErrorString(err) + " (" + what + " at " + file + ":" +
                           std::to_string(line) + ")");
}

}  // namespace optiscope::kernels

#define OPTISCOPE_CUDA_CHECK(expr)                                                 \
  do {                                                                             \
    const cudaError_t optiscope_err_ = (expr);                                     \
    if (optiscope_err_ != cudaSuccess) {                                           \
      ::optiscope::kernels::throw_cuda(optiscope_err_, #expr, __FILE__, __LINE__); \
    }                                                                              \
  } while (0)
