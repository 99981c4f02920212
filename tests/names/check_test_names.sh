#!/usr/bin/env bash
# Every doctest case must reach ctest whole. doctest_discover_tests hands each case's name to ctest through a
# CMake list, so a ';' in a TEST_CASE name cuts it in two: ctest then runs two "tests" whose filters match no
# case at all, and doctest reports a filter that matches nothing as success — a test that cannot fail.
#
#   check_test_names.sh DIR...   fails, listing file:line, when a TEST_CASE name holds a ';'
set -u
found=$(grep -rnE --include='*.cpp' --include='*.hpp' 'TEST_CASE(_TEMPLATE)?\("[^"]*;' "$@")
if [ -n "$found" ]; then
  echo "TEST_CASE names with ';' (ctest would split them and run nothing):"
  echo "$found"
  exit 1
fi
echo "every TEST_CASE name under $* reaches ctest whole"
