# CPU tests of the CUPTI layer (decoder, step assignment, capture without a GPU). include() it from
# tests/CMakeLists.txt after core/ (which defines optiscope_cupti) has been added. Works with the
# real capture and with the stub; the decoder cases need CUPTI's headers and are compiled only then.
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)

add_executable(optiscope_cupti_decode_tests ${CMAKE_CURRENT_LIST_DIR}/test_cupti_decode.cpp
                                            ${CMAKE_CURRENT_LIST_DIR}/test_memory_truth.cpp)
target_link_libraries(optiscope_cupti_decode_tests PRIVATE optiscope_cupti GTest::gtest_main)
if(TARGET optiscope_warnings)
  target_link_libraries(optiscope_cupti_decode_tests PRIVATE optiscope_warnings)
endif()
# PRE_TEST: listing the tests needs no build-time run of the binary (which loads libcupti).
gtest_discover_tests(optiscope_cupti_decode_tests DISCOVERY_MODE PRE_TEST)
