# The commands the comment at the top of examples/attention_walkthrough/attention_walkthrough.cpp tells a
# student to type. tests/debugger/CMakeLists.txt runs them on an -O0 -g build and checks what gdb prints.
set pagination off
break masked_softmax_rows
run
up
print b
print h
print *scores.m_data@36
down
finish
print *scores.m_data@36
quit
