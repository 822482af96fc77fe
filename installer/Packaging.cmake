# Install rules beyond the programs' own, and the Debian package (CPack).
#
#   cmake --build <dir> --target package     ->  <dir>/optiscope_<version>_amd64.deb
#   installer/test-package.sh                 builds it, installs it, runs it, removes it
#
# LibTorch is bundled: libtorch_cpu, libc10 and the OpenMP runtime from the torch==2.11.0 wheel,
# plus the CUDA runtime and CUPTI that this wheel's libtorch_cpu loads even on a CPU, all in
# <prefix>/lib/optiscope, found through the programs' RUNPATH ($ORIGIN/../lib/optiscope) and
# libtorch_cpu's own RPATH ($ORIGIN). Debian ships no LibTorch 2.11, the engine is built against
# that exact version and C++ ABI, and a desktop package that asks users to unpack a wheel first
# would not install like a desktop application; docs/install.md says more, and the cost (about
# 450 MB installed).

set(OPTISCOPE_PRIVATE_LIBDIR "lib/optiscope")

# Manual pages, compressed as Debian policy asks where gzip is found.
set(_man_pages optiscope-cli.1)
if(TARGET optiscope)
  list(APPEND _man_pages optiscope.1)
endif()
find_program(OPTISCOPE_GZIP gzip)
set(_man_outputs "")
foreach(_page IN LISTS _man_pages)
  set(_src ${CMAKE_CURRENT_LIST_DIR}/../docs/man/${_page})
  if(OPTISCOPE_GZIP)
    set(_out ${CMAKE_BINARY_DIR}/man/${_page}.gz)
    add_custom_command(OUTPUT ${_out}
                       COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
                       COMMAND ${OPTISCOPE_GZIP} -9n -c ${_src} > ${_out}
                       DEPENDS ${_src} VERBATIM)
    list(APPEND _man_outputs ${_out})
  else()
    list(APPEND _man_outputs ${_src})
  endif()
endforeach()
add_custom_target(optiscope_man ALL DEPENDS ${_man_outputs})
install(FILES ${_man_outputs} DESTINATION share/man/man1)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright DESTINATION share/doc/optiscope)

if(OPTISCOPE_TORCH_FLAVOUR STREQUAL "cpu (wheel)")
  # Installed programs look beside themselves first, then in the private folder; the build tree
  # keeps its own RPATH so tests run against .deps/.
  foreach(_target optiscope optiscope-cli)
    if(TARGET ${_target})
      set_target_properties(${_target} PROPERTIES INSTALL_RPATH "$ORIGIN/../${OPTISCOPE_PRIVATE_LIBDIR}")
    endif()
  endforeach()

  # Each library under its SONAME, resolving the symlinks a CUDA toolkit has.
  set(_bundle "")
  foreach(_lib libtorch_cpu.so libc10.so libgomp.so.1)
    if(NOT EXISTS ${OPTISCOPE_TORCH_LIB_DIR}/${_lib})
      message(FATAL_ERROR "Packaging: ${_lib} is missing from ${OPTISCOPE_TORCH_LIB_DIR}")
    endif()
    list(APPEND _bundle ${OPTISCOPE_TORCH_LIB_DIR}/${_lib})
  endforeach()
  foreach(_lib libcudart.so.13 libcupti.so.13)
    string(MAKE_C_IDENTIFIER "OPTISCOPE_BUNDLE_${_lib}" _var)
    find_file(${_var} ${_lib}
              HINTS ${OPTISCOPE_TORCH_ROOT}/cuda-libs /usr/local/cuda/lib64 /usr/local/cuda/lib
                    /usr/local/cuda/extras/CUPTI/lib64 ${CUDAToolkit_LIBRARY_DIR})
    if(NOT ${_var})
      message(WARNING "Packaging: ${_lib} not found; the package would not start on a machine without CUDA. "
                      "Run installer/setup.sh, which fetches it.")
    else()
      list(APPEND _bundle ${${_var}})
    endif()
  endforeach()
  foreach(_file IN LISTS _bundle)
    get_filename_component(_name ${_file} NAME)
    file(REAL_PATH ${_file} _real)
    install(FILES ${_real} DESTINATION ${OPTISCOPE_PRIVATE_LIBDIR} RENAME ${_name}
            PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endforeach()
else()
  message(STATUS "Packaging: LibTorch flavour '${OPTISCOPE_TORCH_FLAVOUR}' is not bundled; the Debian package "
                 "is made from the CPU build (GPU servers run optiscope-cli from their build tree)")
endif()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "optiscope")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "Optiscope")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "profiler and visualiser for the trade-offs of LLM optimizers")
set(CPACK_PACKAGE_DESCRIPTION
    "Optiscope drives short fine-tuning runs through an embedded LibTorch engine, once per optimizer
variant (AdamW 32-bit, 8-bit, paged), records loss, memory by category, step time and unified-memory
paging into a SQLite store, and plots them side by side. optiscope is the desktop program,
optiscope-cli the headless recorder for GPU servers. Includes LibTorch 2.11 (CPU).")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(OPTISCOPE_PACKAGE_MAINTAINER "Optiscope developers <optiscope@invalid>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${OPTISCOPE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# dpkg-shlibdeps derives the C/C++ runtime, Qt, QCustomPlot and SQLite dependencies from the
# binaries (the bundled libraries resolve inside the package through their RPATHs); the list below
# names the Debian 12 packages the design depends on, so the control file says it even where a
# library is only loaded at run time (Qt's SVG icon plugin for the window icon).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Relative to the staging folder, where CPack runs dpkg-shlibdeps: the bundled libraries are the
# package's own and need no dependency.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "usr/${OPTISCOPE_PRIVATE_LIBDIR}")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libqt6core6 (>= 6.4), libqt6gui6 (>= 6.4), libqt6widgets6 (>= 6.4), libqt6svg6 (>= 6.4), libqt6printsupport6 (>= 6.4), libqcustomplot2.1-qt6 (>= 2.1), libsqlite3-0 (>= 3.40)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fonts-dejavu-core")
include(CPack)
