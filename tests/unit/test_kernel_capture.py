"""Which names a %%remote cell reads from the notebook and which it assigns (strato.kernel.capture)."""
from strato.kernel.capture import analyze


def names(src):
    c = analyze(src)
    return c.reads, c.required, c.assigns


def test_reads_before_assignment_are_shipped():
    reads, required, assigns = names("model = train(X, y)\nprint('done')")
    assert reads == ["train", "X", "y", "print"]
    assert required == reads
    assert assigns == ["model"]


def test_read_then_rebind_ships_the_old_value():
    assert names("x = x + 1") == (["x"], ["x"], ["x"])
    assert names("n += 1") == (["n"], ["n"], ["n"])


def test_names_bound_first_are_not_shipped():
    reads, _, assigns = names("import numpy as np\nz = np.zeros(n)\nw = z.sum()")
    assert reads == ["n"]
    assert assigns == ["np", "z", "w"]


def test_maybe_bound_names_are_shipped_but_not_required():
    reads, required, assigns = names("if flag:\n    q = 1\nprint(q)")
    assert reads == ["flag", "print", "q"]
    assert "q" not in required
    assert assigns == ["q"]
    reads, required, _ = names("for i in range(3):\n    t = i\nt")
    assert "t" in reads and "t" not in required and "i" not in reads


def test_both_branches_make_a_name_definite():
    reads, _, _ = names("if c:\n    v = 1\nelse:\n    v = 2\nv")
    assert reads == ["c"]


def test_function_bodies_read_at_call_time():
    # w is bound by the cell before g() runs; h is not bound by the cell.
    reads, required, assigns = names("def g():\n    return h(w)\nw = 1\ng()")
    assert reads == ["h"]
    assert required == []          # g might never be called: not an error up front
    assert assigns == ["g", "w"]
    assert names("f = lambda: u + 1")[0] == ["u"]


def test_function_locals_and_parameters_are_not_reads():
    reads, _, _ = names("def f(a, *args, b=B, **kw):\n    c = a + b\n    return c, args, kw\n")
    assert reads == ["B"]


def test_closures_are_not_reads():
    src = "def outer():\n    k = 1\n    def inner():\n        return k + G\n    return inner\n"
    assert names(src)[0] == ["G"]


def test_global_declaration_assigns_the_name():
    reads, _, assigns = names("def bump():\n    global counter\n    counter = counter + 1\nbump()")
    assert "counter" in reads and "counter" in assigns


def test_class_bodies_run_now_methods_later():
    reads, required, assigns = names("class A(Base):\n    k = K\n    def m(self):\n        return G\n")
    assert set(reads) == {"Base", "K", "G"}
    assert set(required) == {"Base", "K"}
    assert assigns == ["A"]


def test_comprehensions():
    reads, _, assigns = names("total = sum(v * k for v in vals)\nsq = [i * i for i in range(n)]")
    assert reads == ["sum", "vals", "k", "range", "n"]
    assert assigns == ["total", "sq"]


def test_attribute_and_subscript_targets_read_their_base():
    assert names("a[i] = b")[0] == ["b", "a", "i"]
    assert names("obj.x = 1")[0] == ["obj"]


def test_with_try_import_del():
    reads, _, assigns = names("with open(p) as fh:\n    data = fh.read()")
    assert reads == ["open", "p"] and assigns == ["fh", "data"]
    reads, _, assigns = names("try:\n    r = compute()\nexcept KeyError as e:\n    r = None\nr")
    assert reads == ["compute", "KeyError"] and "r" in assigns
    c = analyze("del old\nnew = 1")
    assert c.reads == ["old"] and c.deletes == ["old"] and c.assigns == ["new"]
    assert analyze("from os import path as p, sep").assigns == ["p", "sep"]


def test_walrus_binds_in_the_cell():
    reads, required, assigns = names("if (m := compute()) > 1:\n    pass\nm")
    assert "m" in assigns and "m" not in required


def test_last_expression():
    assert analyze("x = 1\nx").last_expr
    assert not analyze("x = 1").last_expr
    assert not analyze("").last_expr
