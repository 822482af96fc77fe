# Runs one libFuzzer target for SECONDS on a working corpus seeded from the committed seeds;
# fails when the fuzzer reports a finding (crash, sanitizer report, leak, timeout, OOM).
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
set(args -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
         -artifact_prefix=${WORK}/artifacts/)
if(EXTRA)
  list(APPEND args ${EXTRA})
endif()
set(dirs ${WORK}/corpus)
if(EXISTS ${SEEDS})
  list(APPEND dirs ${SEEDS})
endif()
execute_process(COMMAND ${FUZZER} ${args} ${dirs} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} found a problem (exit ${rc}); reproducer in ${WORK}/artifacts")
endif()
