# The fuzz targets, shared by the libFuzzer build (fuzz/CMakeLists.txt, clang, OPTISCOPE_FUZZ=ON)
# and the replay tests that run the committed inputs with any compiler (tests/reliability).
# Each target is fuzz/<name>.cpp defining LLVMFuzzerTestOneInput; it is built only where the
# library it drives exists in this tree (parsers join as they land).
set(OPTISCOPE_FUZZ_TARGETS spec_parser store_reader jsonl_reader safetensors_header tokenizer_json gguf_header)

set(OPTISCOPE_FUZZ_spec_parser_LIBS optiscope_store)
set(OPTISCOPE_FUZZ_store_reader_LIBS optiscope_store)
set(OPTISCOPE_FUZZ_jsonl_reader_LIBS optiscope_datasets)
set(OPTISCOPE_FUZZ_safetensors_header_LIBS optiscope_checkpoint_parsers)
set(OPTISCOPE_FUZZ_tokenizer_json_LIBS optiscope_tokenizer nlohmann_json::nlohmann_json)
set(OPTISCOPE_FUZZ_gguf_header_LIBS optiscope_checkpoint_parsers)

foreach(target IN LISTS OPTISCOPE_FUZZ_TARGETS)
  set(OPTISCOPE_FUZZ_${target}_AVAILABLE ON)
  foreach(lib IN LISTS OPTISCOPE_FUZZ_${target}_LIBS)
    if(NOT TARGET ${lib})
      set(OPTISCOPE_FUZZ_${target}_AVAILABLE OFF)
    endif()
  endforeach()
  if(NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/${target}.cpp)
    set(OPTISCOPE_FUZZ_${target}_AVAILABLE OFF)
  endif()
endforeach()
