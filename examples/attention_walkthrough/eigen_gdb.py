# eigen_gdb.py — lets gdb print an Eigen matrix or map by name, as its numbers row by row.
#
#     (gdb) source examples/attention_walkthrough/eigen_gdb.py
#     (gdb) print scores
#     $1 = (6 x 6) {{0, 0, 0, 0, 0, 0}, {0, 0, 2.12132, 0, 0, 0}, ...}
#
# It covers the dynamic-size Eigen::Matrix and Eigen::Map (with or without an outer stride) that
# eigenformer uses: Matrix<Scalar> and the per-head views Q, K, V and context of the attention core
# (include/eigenformer/attention/attention.hpp). Without it gdb shows only the data pointer and the sizes.
# Eigen does not ship gdb printers in Debian's libeigen3-dev, so this small one is written here.
import re

import gdb

_MATRIX = re.compile(r"Eigen::Matrix<([^,]+), (-?\d+), (-?\d+), (\d+)")


class EigenDensePrinter:
    """Eigen::Matrix<Scalar, Dynamic, Dynamic, Options> or an Eigen::Map over one."""

    def __init__(self, val, is_map):
        self.val = val
        self.is_map = is_map

    def _layout(self):
        v = self.val
        if v.type.code == gdb.TYPE_CODE_REF:
            v = v.referenced_value()
        match = _MATRIX.search(str(v.type.unqualified().strip_typedefs()))
        row_major = match is not None and (int(match.group(4)) & 1) == 1
        if self.is_map:
            data = v["m_data"]
            rows = int(v["m_rows"]["m_value"])
            cols = int(v["m_cols"]["m_value"])
            stride = cols if row_major else rows
            try:
                outer = int(v["m_stride"]["m_outer"]["m_value"])
                if outer > 0:
                    stride = outer
            except gdb.error:
                pass
        else:
            storage = v["m_storage"]
            data = storage["m_data"]
            rows = int(storage["m_rows"])
            cols = int(storage["m_cols"])
            stride = cols if row_major else rows
        return data, rows, cols, stride, row_major

    def to_string(self):
        try:
            data, rows, cols, stride, row_major = self._layout()
        except gdb.error as e:
            return "<Eigen value gdb cannot read: %s>" % e
        if rows * cols > 10000:
            return "(%d x %d) <too large to print>" % (rows, cols)
        out = []
        for r in range(rows):
            cells = []
            for c in range(cols):
                offset = r * stride + c if row_major else c * stride + r
                cells.append("%.6g" % float((data + offset).dereference()))
            out.append("{" + ", ".join(cells) + "}")
        return "(%d x %d) {%s}" % (rows, cols, ", ".join(out))


def _lookup(val):
    t = val.type
    if t.code == gdb.TYPE_CODE_REF:
        t = t.target()
    t = t.unqualified().strip_typedefs()
    name = t.tag or t.name or ""
    if re.match(r"^Eigen::Map<(const )?Eigen::Matrix<[^,]+, -1, -1,", name):
        return EigenDensePrinter(val, True)
    if re.match(r"^Eigen::Matrix<[^,]+, -1, -1,", name):
        return EigenDensePrinter(val, False)
    return None


gdb.pretty_printers.append(_lookup)
