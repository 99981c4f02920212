# The commands the comment at the top of examples/attention_walkthrough/attention_walkthrough.cpp tells a
# student to type. tests/debugger/CMakeLists.txt runs them on an -O0 -g build and checks what gdb prints
# (it sources examples/attention_walkthrough/eigen_gdb.py first, as the comment says).
set pagination off
break masked_softmax_rows
run
up
print b
print h
print Q
print K
print scores
down
finish
print weights
next
print context
quit
