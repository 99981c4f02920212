# tools/gdb/eigenformer_printers.py — gdb pretty-printers for eigenformer's matrices, tensors and views.
#
# Without them, `print scores` in gdb shows Eigen's storage: {m_storage = {m_data = 0x55..., m_rows = 3,
# m_cols = 3}}. With them it shows what a student wants — the shape first, then a readable corner of the
# values, and per head where that makes sense:
#
#     (gdb) print weights
#     $1 = Matrix<double> (3, 3) row-major
#     [[1,        0,        0       ],
#      [0.25,     0.75,     0       ],
#      [0.05,     0.45,     0.5     ]]
#
# Load them (docs/debugging.md):    (gdb) source tools/gdb/eigenformer_printers.py
# or for every session:             echo "source $PWD/tools/gdb/gdbinit" >> ~/.gdbinit
#
# They key on types, never on variable names, so they work on any variable of these types:
#   Eigen::Matrix / Eigen::Array          Matrix<Scalar> (row-major dynamic), RowVector<Scalar>, fixed sizes
#   Eigen::Map / Eigen::Ref               MatrixMap, a HeadsView's block (strided: rows `stride` apart)
#   Eigen::Block over a plain matrix      m.block(...) kept in a variable
#   Eigen::Tensor / Eigen::TensorMap      Tensor3 (B, T, C): one (T, C) matrix per sequence;
#                                         Tensor4 (B, H, T, S): one (T, S) matrix per (sequence, head)
#   eigenformer::HeadsView                (B·rows, heads·D) buffer seen as per-head (length, D) blocks
#
# The corner is 6 rows × 8 columns and 4 slices by default: `eigenformer-corner ROWS COLS [SLICES]` changes
# it. Elided rows and columns show as "...". Values are printed with 6 significant digits.
import re
import struct

import gdb
import gdb.printing

DYNAMIC = -1
ROW_MAJOR = 0x1  # Eigen::RowMajor, in a Matrix's or a Tensor's Options

corner = {"rows": 6, "cols": 8, "slices": 4}


# ---- reading values ---------------------------------------------------------------------------------

def _unpacker(scalar):
    """struct format for a scalar type read straight from memory, or None (then values go through gdb)."""
    t = scalar.strip_typedefs().unqualified()
    if t.code == gdb.TYPE_CODE_FLT:
        return {4: "f", 8: "d"}.get(t.sizeof)
    if t.code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_BOOL):
        fmt = {1: "b", 2: "h", 4: "i", 8: "q"}.get(t.sizeof)
        if fmt is None:
            return None
        unsigned = hasattr(t, "is_signed") and not t.is_signed
        return fmt.upper() if unsigned else fmt
    return None


class Elements:
    """Element (i, j) of a strided 2-D view over `data`: address data + i*row_stride + j*col_stride."""

    def __init__(self, data, scalar, row_stride, col_stride):
        self.data = data
        self.scalar = scalar
        self.size = scalar.strip_typedefs().sizeof
        self.fmt = _unpacker(scalar)
        self.address = int(data.cast(gdb.lookup_type("unsigned long")))
        self.row_stride = row_stride
        self.col_stride = col_stride
        self.inferior = gdb.selected_inferior()

    def row(self, i, columns):
        """Values of row i at the given column indices."""
        if self.fmt is not None and self.col_stride == 1 and columns:
            first, last = columns[0], columns[-1]
            start = self.address + (i * self.row_stride + first) * self.size
            raw = bytes(self.inferior.read_memory(start, (last - first + 1) * self.size))
            allv = struct.unpack("<%d%s" % (last - first + 1, self.fmt), raw)
            return [allv[j - first] for j in columns]
        out = []
        for j in columns:
            v = (self.data + (i * self.row_stride + j * self.col_stride)).dereference()
            try:
                out.append(float(v))
            except (gdb.error, TypeError, ValueError):
                out.append(str(v))
        return out


def _number(x):
    if isinstance(x, float):
        return "%.6g" % x
    return str(x)


def _indices(n, limit):
    """Which of n indices to show: all when they fit, else the first limit-1 and the last (None = '...')."""
    if n <= limit:
        return list(range(n))
    return list(range(max(1, limit - 1))) + [None, n - 1]


def format_matrix(elements, rows, cols, indent=""):
    """A numpy-like [[...], [...]] block of the corner of a rows × cols view."""
    if rows == 0 or cols == 0:
        return indent + "[]"
    rsel = _indices(rows, corner["rows"])
    csel = _indices(cols, corner["cols"])
    shown_cols = [j for j in csel if j is not None]
    table = []
    for i in rsel:
        if i is None:
            table.append(None)
            continue
        values = elements.row(i, shown_cols)
        it = iter(values)
        table.append([_number(next(it)) if j is not None else "..." for j in csel])
    width = max(len(c) for r in table if r is not None for c in r)
    lines = []
    for k, r in enumerate(table):
        opener = indent + ("[[" if k == 0 else " [")
        if r is None:
            lines.append(indent + " ...")
            continue
        cells = ", ".join(c.ljust(width) for c in r)
        lines.append(opener + cells + ("]]" if k == len(table) - 1 else "],"))
    return "\n".join(lines)


def _shape(dims):
    return "(" + ", ".join(str(d) for d in dims) + ")"


def _plausible(dims):
    """Uninitialised variables (before their constructor ran) hold garbage sizes: do not read those."""
    total = 1
    for d in dims:
        if d < 0 or d > (1 << 40):
            return False
        total *= d
    return total < (1 << 44)


# ---- type helpers -----------------------------------------------------------------------------------

def _args(t):
    """Template arguments of a type, as gdb.Type or int."""
    out = []
    i = 0
    while True:
        try:
            a = t.template_argument(i)
        except (RuntimeError, gdb.error):
            break
        out.append(int(a) if isinstance(a, gdb.Value) else a)
        i += 1
    if not out:  # older gdb without template_argument for this type: parse the name
        raise gdb.error("no template arguments for %s" % t)
    return out


def _dynamic_value(v, compile_time):
    """A variable_if_dynamic<Index, N>: its m_value when N is Dynamic, else N."""
    if compile_time != DYNAMIC:
        return compile_time
    return int(v["m_value"])


def _field(v, *names):
    for n in names:
        try:
            return v[n]
        except gdb.error:
            continue
    raise gdb.error("none of the fields %s" % (names,))


def _std_array(v, n):
    """The n values of a std::array (libstdc++ or libc++) or Eigen's emulated array."""
    for name in ("_M_elems", "__elems_", "values"):
        try:
            a = v[name]
            return [int(a[k]) for k in range(n)]
        except gdb.error:
            continue
    return [int(v[k]) for k in range(n)]


# ---- printers ---------------------------------------------------------------------------------------

class MatrixPrinter:
    """Eigen::Matrix and Eigen::Array (plain objects that own their storage)."""

    def __init__(self, val):
        self.val = val
        t = val.type.strip_typedefs().unqualified()
        a = _args(t)
        self.kind = "Array" if str(t).startswith("Eigen::Array") else "Matrix"
        self.scalar, rows_ct, cols_ct, options = a[0], a[1], a[2], a[3]
        storage = val["m_storage"]
        self.rows = int(storage["m_rows"]) if rows_ct == DYNAMIC else rows_ct
        self.cols = int(storage["m_cols"]) if cols_ct == DYNAMIC else cols_ct
        # A vector's storage fixes the other dimension; its DenseStorage keeps only the dynamic one.
        self.row_major = bool(options & ROW_MAJOR) or self.rows == 1
        data = storage["m_data"]
        if data.type.strip_typedefs().code != gdb.TYPE_CODE_PTR:  # fixed size: plain_array { T array[N]; }
            data = data["array"][0].address
        self.data = data
        self.fixed = rows_ct != DYNAMIC and cols_ct != DYNAMIC

    def header(self):
        layout = "row-major" if self.row_major else "column-major"
        return "%s<%s> %s %s" % (self.kind, self.scalar, _shape((self.rows, self.cols)), layout)

    def to_string(self):
        if not _plausible((self.rows, self.cols)):
            return self.header() + " (not constructed yet?)"
        if self.rows * self.cols == 0:
            return self.header() + " (empty)"
        if int(self.data) == 0:
            return self.header() + " (no data)"
        stride = (self.cols, 1) if self.row_major else (1, self.rows)
        try:
            return self.header() + "\n" + format_matrix(Elements(self.data, self.scalar, *stride), self.rows, self.cols)
        except gdb.MemoryError:
            return self.header() + " (cannot read memory at %s)" % self.data


def _map_strides(val, plain, rows, cols, stride_type):
    """(row stride, column stride) in elements for a Map/Ref over `plain` with StrideType `stride_type`."""
    _, _, _, options = _args(plain)[:4]
    row_major = bool(options & ROW_MAJOR)
    name = str(stride_type.strip_typedefs())
    st_args = _args(stride_type.strip_typedefs())
    if name.startswith("Eigen::OuterStride"):
        outer_ct, inner_ct = st_args[0], 1
    elif name.startswith("Eigen::InnerStride"):
        outer_ct, inner_ct = 0, st_args[0]
    else:
        outer_ct, inner_ct = st_args[0], st_args[1]
    stride = val["m_stride"]
    outer = int(stride["m_outer"]["m_value"]) if outer_ct == DYNAMIC else outer_ct
    inner = int(stride["m_inner"]["m_value"]) if inner_ct == DYNAMIC else inner_ct
    if inner == 0:
        inner = 1
    if outer == 0:
        outer = (cols if row_major else rows) * inner
    return ((outer, inner) if row_major else (inner, outer)), row_major


class MapPrinter:
    """Eigen::Map<Plain, Options, Stride> and Eigen::Ref<Plain, Options, Stride>: a view, strides shown."""

    def __init__(self, val):
        self.val = val
        t = val.type.strip_typedefs().unqualified()
        a = _args(t)
        self.view = "Ref" if str(t).startswith("Eigen::Ref") else "Map"
        plain = a[0].strip_typedefs()
        self.const = plain.const() == plain or str(a[0]).startswith("const ")
        plain = plain.unqualified()
        pa = _args(plain)
        self.scalar = pa[0]
        self.rows = _dynamic_value(val["m_rows"], pa[1])
        self.cols = _dynamic_value(val["m_cols"], pa[2])
        self.data = val["m_data"]
        stride_type = a[2] if len(a) > 2 else gdb.lookup_type("Eigen::Stride<0, 0>")
        (self.rs, self.cs), self.row_major = _map_strides(val, plain, self.rows, self.cols, stride_type)

    def to_string(self):
        head = "%s<%s%s> %s, strides (%d, %d)" % (self.view, "const " if self.const else "", self.scalar,
                                                  _shape((self.rows, self.cols)), self.rs, self.cs)
        if not _plausible((self.rows, self.cols)):
            return head + " (not constructed yet?)"
        if self.rows * self.cols == 0:
            return head + " (empty)"
        if int(self.data) == 0:
            return head + " (no data)"
        try:
            return head + "\n" + format_matrix(Elements(self.data, self.scalar, self.rs, self.cs), self.rows, self.cols)
        except gdb.MemoryError:
            return head + " (cannot read memory at %s)" % self.data


class BlockPrinter:
    """Eigen::Block<XprType, ...> of a directly addressable matrix (a plain Matrix, a Map)."""

    def __init__(self, val):
        self.val = val
        t = val.type.strip_typedefs().unqualified()
        a = _args(t)
        xpr = a[0].strip_typedefs().unqualified()
        self.inner = str(xpr)
        base = xpr
        while str(base).startswith(("Eigen::Map", "Eigen::Ref", "Eigen::Block")):
            base = _args(base)[0].strip_typedefs().unqualified()
        pa = _args(base)
        self.scalar = pa[0]
        self.row_major = bool(pa[3] & ROW_MAJOR)
        self.rows = _dynamic_value(val["m_rows"], a[1])
        self.cols = _dynamic_value(val["m_cols"], a[2])
        self.data = val["m_data"]
        outer = int(val["m_outerStride"])
        self.rs, self.cs = (outer, 1) if self.row_major else (1, outer)

    def to_string(self):
        head = "Block<%s> %s, strides (%d, %d)" % (self.scalar, _shape((self.rows, self.cols)), self.rs, self.cs)
        if not _plausible((self.rows, self.cols)) or int(self.data) == 0:
            return head + " (not constructed yet?)"
        try:
            return head + "\n" + format_matrix(Elements(self.data, self.scalar, self.rs, self.cs), self.rows, self.cols)
        except gdb.MemoryError:
            return head + " (cannot read memory at %s)" % self.data


def format_tensor(data, scalar, dims, row_major, indent=""):
    """A rank-N tensor as its (rows, cols) slices over the last two dimensions, the first few of them."""
    rank = len(dims)
    if rank == 0:
        return indent + _number(Elements(data, scalar, 0, 1).row(0, [0])[0])
    # Element strides for either layout.
    strides = [0] * rank
    step = 1
    order = range(rank - 1, -1, -1) if row_major else range(rank)
    for d in order:
        strides[d] = step
        step *= dims[d]
    if rank == 1:
        return format_matrix(Elements(data, scalar, 0, strides[0]), 1, dims[0], indent)
    rows, cols = dims[-2], dims[-1]
    lead = dims[:-2]
    count = 1
    for d in lead:
        count *= d
    if count == 0 or rows * cols == 0:
        return indent + "(empty)"
    out = []
    shown = 0
    index = [0] * len(lead)
    for _ in range(count):
        if shown == corner["slices"]:
            left = count - shown
            out.append(indent + "... %d more slice%s" % (left, "" if left == 1 else "s"))
            break
        offset = sum(i * s for i, s in zip(index, strides[:-2]))
        label = "[" + ", ".join(str(i) for i in index) + "]" if lead else ""
        el = Elements(data + offset, scalar, strides[-2], strides[-1])
        if label:
            out.append(indent + label + " =")
            out.append(format_matrix(el, rows, cols, indent + "  "))
        else:
            out.append(format_matrix(el, rows, cols, indent))
        shown += 1
        for d in range(len(lead) - 1, -1, -1):  # next index, last dimension fastest
            index[d] += 1
            if index[d] < lead[d]:
                break
            index[d] = 0
    return "\n".join(out)


_LEGEND = {3: "(B, T, C)", 4: "(B, H, T, S)"}


class TensorPrinter:
    """Eigen::Tensor<Scalar, N, Options> and Eigen::TensorMap<Tensor<...>>."""

    def __init__(self, val):
        self.val = val
        t = val.type.strip_typedefs().unqualified()
        a = _args(t)
        self.is_map = str(t).startswith("Eigen::TensorMap")
        tensor = a[0].strip_typedefs() if self.is_map else t
        self.const = self.is_map and (tensor.const() == tensor or str(a[0]).startswith("const "))
        ta = _args(tensor.unqualified())
        self.scalar, self.rank, options = ta[0], ta[1], ta[2]
        self.row_major = bool(options & ROW_MAJOR)
        holder = val if self.is_map else val["m_storage"]
        self.data = holder["m_data"]
        self.dims = _std_array(holder["m_dimensions"], self.rank) if self.rank > 0 else []

    def to_string(self):
        name = "TensorMap" if self.is_map else "Tensor"
        legend = _LEGEND.get(self.rank, "") if self.row_major else ""
        head = "%s<%s%s, %d> %s %s%s" % (name, "const " if self.const else "", self.scalar, self.rank, _shape(self.dims),
                                          "row-major" if self.row_major else "column-major",
                                          " " + legend if legend else "")
        if not _plausible(self.dims):
            return head + " (not constructed yet?)"
        size = 1
        for d in self.dims:
            size *= d
        if size == 0:
            return head + " (empty)"
        if int(self.data) == 0:
            return head + " (no data)"
        try:
            return head + "\n" + format_tensor(self.data, self.scalar, self.dims, self.row_major)
        except gdb.MemoryError:
            return head + " (cannot read memory at %s)" % self.data


class HeadsViewPrinter:
    """eigenformer::HeadsView<Scalar>: per (sequence, head), the (length, D) block the attention core reads."""

    def __init__(self, val):
        self.val = val
        t = val.type.strip_typedefs().unqualified()
        self.scalar = _args(t)[0]
        self.fields = {k: int(val[k]) for k in ("batch", "length", "batch_stride", "heads", "head_dim")}
        self.data = val["data"]

    def to_string(self):
        f = self.fields
        head = "HeadsView<%s> B = %d, length = %d (rows %d apart per sequence), heads = %d, D = %d" % (
            self.scalar, f["batch"], f["length"], f["batch_stride"], f["heads"], f["head_dim"])
        if not _plausible((f["batch"], f["length"], f["heads"], f["head_dim"], f["batch_stride"])):
            return head + " (not set yet?)"
        if int(self.data) == 0 or f["batch"] * f["length"] * f["heads"] * f["head_dim"] == 0:
            return head + " (empty)"
        width = f["heads"] * f["head_dim"]
        scalar = self.data.type.strip_typedefs().target()
        out = [head]
        shown = 0
        total = f["batch"] * f["heads"]
        try:
            for b in range(f["batch"]):
                for h in range(f["heads"]):
                    if shown == corner["slices"]:
                        out.append("... %d more (sequence, head) blocks" % (total - shown))
                        return "\n".join(out)
                    start = self.data + (b * f["batch_stride"] * width + h * f["head_dim"])
                    out.append("[sequence %d, head %d] (%d, %d) =" % (b, h, f["length"], f["head_dim"]))
                    out.append(format_matrix(Elements(start, scalar, width, 1), f["length"], f["head_dim"], "  "))
                    shown += 1
        except gdb.MemoryError:
            out.append("(cannot read memory at %s)" % self.data)
        return "\n".join(out)


# ---- registration -----------------------------------------------------------------------------------

class _Printers(gdb.printing.PrettyPrinter):
    """Dispatch on the type's name (typedefs stripped, const and references removed)."""

    table = [
        (re.compile(r"^Eigen::(Matrix|Array)<"), MatrixPrinter),
        (re.compile(r"^Eigen::(Map|Ref)<Eigen::(Matrix|Array)<"), MapPrinter),
        (re.compile(r"^Eigen::(Map|Ref)<const Eigen::(Matrix|Array)<"), MapPrinter),
        (re.compile(r"^Eigen::Block<"), BlockPrinter),
        (re.compile(r"^Eigen::(Tensor|TensorMap)<"), TensorPrinter),
        (re.compile(r"^eigenformer::HeadsView<"), HeadsViewPrinter),
    ]

    def __init__(self):
        super().__init__("eigenformer")

    def __call__(self, val):
        t = val.type
        if t.code == gdb.TYPE_CODE_REF or t.code == gdb.TYPE_CODE_RVALUE_REF:
            t = t.target()
        name = str(t.strip_typedefs().unqualified())
        for pattern, printer in self.table:
            if pattern.match(name):
                try:
                    return printer(val)
                except (gdb.error, RuntimeError):
                    return None  # a shape we do not know: gdb's raw printing
        return None


class CornerCommand(gdb.Command):
    """eigenformer-corner ROWS COLS [SLICES]: how much of a matrix or tensor the printers show."""

    def __init__(self):
        super().__init__("eigenformer-corner", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        parts = [int(p) for p in arg.split()]
        if len(parts) not in (2, 3) or min(parts) < 1:
            raise gdb.GdbError("usage: eigenformer-corner ROWS COLS [SLICES]   (now %(rows)d %(cols)d %(slices)d)" % corner)
        corner["rows"], corner["cols"] = parts[0], parts[1]
        if len(parts) == 3:
            corner["slices"] = parts[2]


def register(objfile=None):
    gdb.printing.register_pretty_printer(objfile, _Printers(), replace=True)


register()
CornerCommand()
