# Extracts every ```cpp block of a Markdown file into a C++ translation unit of its own (see check_snippets.sh).
#
# A block may be preceded (blank lines allowed in between) by HTML comments, invisible when the page is
# rendered, that say how to compile it:
#   <!-- snippet: run -->               a complete program (with main): compiled, linked and run
#   <!-- snippet: namespace-scope -->   declarations (classes, templates): placed at namespace scope
#   <!-- snippet-setup                  C++ lines placed before the snippet, declaring what it uses
#   Llama<float> model = ...;
#   -->
# Without them, a block with `int main(` is a program (compiled and linked, not run: it may need a model
# download), and any other block is a function body — checked by the compiler, never run.
# Each function-body or namespace-scope block lives in a namespace of its own (snippet_<file>_<n>), so that
# check_snippets.sh can check all of them in one translation unit: the library's headers are parsed, and its
# templates instantiated, once instead of once per block.
# Variables: out (the output folder), base (a name for this Markdown file).
function flush_block(   tu, mode, i, n, lines, hoisted, body) {
  n = split(block, lines, "\n")
  hoisted = ""
  body = ""
  for (i = 1; i < n; ++i) {  # the last element is empty (block ends with "\n")
    if (lines[i] ~ /^#include /) hoisted = hoisted lines[i] "\n"; else body = body lines[i] "\n"
  }
  n = split(setup, lines, "\n")  # the setup's #include lines go to the top too
  setup = ""
  for (i = 1; i < n; ++i) {
    if (lines[i] ~ /^#include /) hoisted = hoisted lines[i] "\n"; else setup = setup lines[i] "\n"
  }
  ++count
  ns = sprintf("snippet_%s_%02d", base, count)
  gsub(/[^A-Za-z0-9_]/, "_", ns)
  origin = "// " FILENAME ":" start_line "\n"
  if (block ~ /int main\(/) {
    mode = (pending_mode == "run") ? "run" : "program"
    tu = origin "#line " (start_line + 1) " \"" FILENAME "\"\n" block
  } else if (pending_mode == "namespace-scope") {
    mode = "fragment"
    tu = origin hoisted "#include <eigenformer/eigenformer.hpp>\nusing namespace eigenformer;\nnamespace " ns " {\n" \
         setup "#line " (start_line + 1) " \"" FILENAME "\"\n" body "}  // namespace " ns "\n"
  } else {
    mode = "fragment"
    tu = origin hoisted "#include <eigenformer/eigenformer.hpp>\nusing namespace eigenformer;\nnamespace " ns " {\n" \
         "[[maybe_unused]] void body() {\n" setup "#line " (start_line + 1) " \"" FILENAME "\"\n" body "}\n}  // namespace " ns "\n"
  }
  file = sprintf("%s/%s_%02d.cpp", out, base, count)
  printf "%s", tu > file
  close(file)
  printf "%s %s %s:%d\n", mode, file, FILENAME, start_line
  pending_mode = ""
  setup = ""
}
BEGIN { in_block = 0; in_setup = 0; count = 0; pending_mode = ""; setup = "" }
in_block {
  if ($0 ~ /^```[ \t]*$/) { in_block = 0; flush_block(); next }
  block = block $0 "\n"
  next
}
in_setup {
  if ($0 ~ /^-->/) { in_setup = 0; next }
  setup = setup $0 "\n"
  next
}
/^<!-- snippet: [a-z-]+ -->/ { pending_mode = $3; next }
/^<!-- snippet-setup/ { in_setup = 1; next }
/^```cpp[ \t]*$/ { in_block = 1; block = ""; start_line = NR; next }
/^[ \t]*$/ { next }
{ pending_mode = ""; setup = "" }  # any other text between a marker and its block cancels the marker
