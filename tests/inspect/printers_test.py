# tests/inspect/printers_test.py — drives gdb in batch mode over gdb_subject (an -O0 -g build) with
# tools/gdb/gdbinit loaded, and checks what the pretty-printers print and that `step` skips Eigen.
#
#     gdb -q -batch -x tools/gdb/gdbinit -x tests/inspect/printers_test.py build/.../inspect_gdb_subject
#
# Every check is a regular expression over the text one gdb command printed; the expected numbers are worked
# out by hand in the comments (the attention weights from softmax(q kᵀ/√2) with the subject's q and k). The
# transcript is printed, so a failure shows what gdb said. Exit status 0 when every check passed.
import re

import gdb

failures = []


def run(command):
    text = gdb.execute(command, to_string=True)
    print("(gdb) " + command)
    print(text, end="" if text.endswith("\n") else "\n")
    return text


def expect(text, pattern, what):
    ok = re.search(pattern, text, re.S) is not None
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


gdb.execute("set pagination off")
gdb.execute("set width 0")
gdb.execute("set confirm off")

# 1) A Matrix<double>, right after it was filled (gdb_subject.cpp line 32).
run("break gdb_subject.cpp:32")
run("run")
m = run("print m")
expect(m, r"= Matrix<double> \(3, 4\) row-major\n\[\[0 *, 0\.25, 0\.5 *, 0\.75\],\n \[1 *, 1\.25, 1\.5 *, 1\.75\],\n"
          r" \[2 *, 2\.25, 2\.5 *, 2\.75\]\]", "Matrix<double> (3, 4): shape, layout, every value m(i, j) = i + j/4")

# 2) `step` over a line that constructs an Eigen object stays in main: the skip rules keep it out of Eigen.
step = run("step")
frame = run("frame")
expect(frame, r"#0 +main \(\) at [^\n]*gdb_subject\.cpp:33", "step over RowVector<float> row(5) stays in main (line 33)")
expect(step + frame, r"^(?!.*Eigen::).*$", "no Eigen frame was entered")

# 3) Stop in the attention core: its HeadsView arguments, whatever their names.
run("break scaled_dot_product_attention")
run("continue")
args = run("info args")
expect(args, r"HeadsView<const double> B = 1, length = 3 \(rows 3 apart per sequence\), heads = 2, D = 2\n"
             r"\[sequence 0, head 0\] \(3, 2\) =\n  \[\[1, 0\],\n   \[0, 1\],\n   \[1, 1\]\]\n"
             r"\[sequence 0, head 1\] \(3, 2\) =\n  \[\[1, 1\],\n   \[2, 0\],\n   \[0, 2\]\]",
       "the queries, per head: head 0 = columns 0-1, head 1 = columns 2-3 of q")
expect(args, r"\[sequence 0, head 1\] \(3, 2\) =\n  \[\[1, 1\],\n   \[1, 1\],\n   \[1, 1\]\]",
       "the keys of head 1: every row [1, 1]")

# 4) The weights the core wrote, (B, H, T, S), per head. Head 0: row 1 = softmax(0, 1/√2) = (0.330238,
#    0.669762); row 2 = softmax(1/√2, 1/√2, √2) = (0.248255, 0.248255, 0.50349). Head 1: the keys are equal,
#    so row t is uniform over keys 0..t: 1/2 and 1/3. (Hidden keys are ~1e-308 in double, not exactly 0:
#    Eigen's vectorised exp clamps its argument — so the hidden columns are not checked.)
run("finish")
w = run("print weights")
expect(w, r"= Tensor<double, 4> \(1, 2, 3, 3\) row-major \(B, H, T, S\)\n\[0, 0\] =\n  \[\[1 *, [^\n]*\],\n"
          r"   \[0\.330238 *, 0\.669762 *, [^\n]*\],\n   \[0\.248255 *, 0\.248255 *, 0\.50349 *\]\]\n"
          r"\[0, 1\] =\n  \[\[1 *, [^\n]*\],\n   \[0\.5 *, 0\.5 *, [^\n]*\],\n   \[0\.333333 *, 0\.333333 *, 0\.333333 *\]\]",
       "Tensor4 weights: per (sequence, head), the softmax values")
c = run("print context")
expect(c, r"= Matrix<double> \(3, 4\) row-major\n\[\[1 *, 2 *, 3 *, 4 *\],\n \[3\.67905, 4\.67905, 5 *, 6 *\],\n"
          r" \[6\.02094, 7\.02094, 7 *, 8 *\]\]", "context = weights · V, heads side by side")
v = run("print view")
expect(v, r"= Map<double> \(2, 2\), strides \(4, 1\)\n\[\[1\.25, 1\.5 *\],\n \[2\.25, 2\.5 *\]\]",
       "a strided Map: m(1..2, 1..2), rows 4 apart")
r = run("print row")
expect(r, r"= Matrix<float> \(1, 5\) row-major\n\[\[0\.5, 1\.5, 2\.5, 3\.5, 4\.5\]\]", "RowVector<float>")

# 5) References and a smaller corner: `info args` in look(), then eigenformer-corner 2 3 1.
run("break look")
run("continue")
la = run("info args")
expect(la, r"x = (@0x[0-9a-f]+: )?Tensor<float, 3> \(2, 3, 4\) row-major \(B, T, C\)\n\[0\] =\n  \[\[0 *, 1 *, 2 *, 3 *\],"
           r".*\[1\] =\n  \[\[100, 101, 102, 103\],\n   \[110, 111, 112, 113\],\n   \[120, 121, 122, 123\]\]",
       "a Tensor3 argument by reference: one (T, C) matrix per sequence, x(b, t, c) = 100b + 10t + c")
run("eigenformer-corner 2 3 1")
x = run("print x")
expect(x, r"\[0\] =\n  \[\[0 *, 1 *, \.\.\. *, 3 *\],\n   \.\.\.\n   \[20 *, 21 *, \.\.\. *, 23 *\]\]\n\.\.\. 1 more slice\n",
       "a 2 x 3 corner: first and last row, first two and last column, one slice, the rest elided")

print("printers test: %d failure(s)%s" % (len(failures), "" if not failures else ": " + "; ".join(failures)))
gdb.execute("kill")
gdb.execute("quit %d" % (1 if failures else 0))
