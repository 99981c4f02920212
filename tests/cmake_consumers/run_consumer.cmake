# cmake -DSOURCE=<consumer dir> -DBINARY=<build dir> -DGENERATOR=<gen> -DCTEST=<ctest> "-DOPTIONS=<-D...;-D...>" -P run_consumer.cmake
# Configures, builds and runs one consumer project from a fresh build directory (a cached configure of
# an earlier run must not hide a packaging regression).
file(REMOVE_RECURSE ${BINARY})
execute_process(
  COMMAND ${CTEST} --build-and-test ${SOURCE} ${BINARY} --build-generator ${GENERATOR}
          --build-options ${OPTIONS} --test-command ${BINARY}/consumer
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "consumer project ${SOURCE} failed (exit ${result})")
endif()
