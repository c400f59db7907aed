"""Known escape payloads: each is refused (ExpressionError) or inert (plain data back).

The context carries a canary: a path in ``tmp_path`` that an escape would create, an
environment variable holding a secret-like value that an escape would read, and a few
objects that must never become values (the ``os`` module, ``open``, a function list).
After every payload: no file, and the canary value in no result and no error message.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from flowat_kernel.expressions import ExpressionError, evaluate, run_assignments

PLAIN = (type(None), bool, int, float, str, list, dict, tuple, set)
FULLWIDTH_LOW_LINE = "\uff3f"
FULLWIDTH_X = "\uff58"


def script(word: str) -> str:
    """``word`` in MATHEMATICAL BOLD SCRIPT letters, which NFKC turns back into ASCII."""
    return "".join(chr(0x1D4EA + ord(c) - ord("a")) for c in word)


# (id, payload). ``path`` is the canary file, ``CANARY`` the env var name.
PAYLOADS: list[tuple[str, str]] = [
    # attribute walks
    ("class", "x.__class__"),
    ("mro", "x.__class__.__mro__[1].__subclasses__()"),
    ("subclasses_tuple", "().__class__.__bases__[0].__subclasses__()"),
    ("subclasses_list", "[].__class__.__base__.__subclasses__()"),
    ("dict_class", "{}.__class__"),
    ("globals_of_helper", "join.__globals__"),
    ("globals_via_call_result", "upper(x).__class__.__init__.__globals__"),
    ("code_of_helper", "json.__code__"),
    ("builtins_name", "__builtins__"),
    ("builtins_subscript", "__builtins__['open'](path, 'w')"),
    ("import_dunder", "__import__('os').system('touch ' + path)"),
    ("reduce_ex", "x.__reduce_ex__(2)"),
    ("init_subclass", "d.__init_subclass__"),
    ("method_self", "x.upper.__self__"),
    ("mro_method", "x.mro()"),
    ("private_attr", "d._private"),
    ("func_globals", "len.func_globals"),
    # generator and frame walks
    ("gi_frame", "(y for y in [1]).gi_frame.f_back.f_globals"),
    ("gi_frame_in_list", "[g.gi_frame for g in [(i for i in [1])]]"),
    ("gi_code", "(y for y in [1]).gi_code"),
    ("f_back", "x.f_back"),
    ("generator_send", "(y for y in [1]).send(None)"),
    ("tb_frame", "x.tb_frame"),
    # format strings
    ("format_attr", "'{0.__class__}'.format(x)"),
    ("format_globals", "'{0.__init__.__globals__}'.format(d)"),
    ("format_map", "'{a.__class__}'.format_map({'a': x})"),
    ("format_index_walk", "'{0[__class__]}'.format(d)"),
    ("percent_mapping", "'%(a)s' % {'a': 1}"),
    ("percent_repr", "'%r %999999999d' % (x, 1)"),
    ("fstring_attr", "f'{x.__class__}'"),
    ("fstring_nested_spec", "f'{x:{10**9}}'"),
    ("fstring_wide_spec", "f'{x:>999999999}'"),
    ("fstring_repr", "f'{x!r}{d!a}'"),
    # forbidden functions
    ("getattr", "getattr(x, '__class__')"),
    ("setattr", "setattr(d, 'a', 1)"),
    ("delattr", "delattr(d, 'a')"),
    ("vars", "vars()"),
    ("globals", "globals()"),
    ("locals", "locals()"),
    ("dir", "dir(x)"),
    ("type", "type(x)"),
    ("type3", "type('A', (), {})"),
    ("object", "object.__subclasses__()"),
    ("object_call", "object()"),
    ("isinstance", "isinstance(x, str)"),
    ("exec", "exec('import os')"),
    ("eval", "eval('1 + 1')"),
    ("compile", "compile('1', 'x', 'eval')"),
    ("open_read", "open('/etc/passwd').read()"),
    ("open_write", "open(path, 'w').write('pwned')"),
    ("input", "input()"),
    ("breakpoint", "breakpoint()"),
    ("help", "help()"),
    ("memoryview", "memoryview(b'x')"),
    ("classmethod", "classmethod(len)"),
    # lambda, walrus, statements
    ("lambda_call", "(lambda: __import__('os'))()"),
    ("lambda_key", "sorted([2, 1], key=lambda v: v.__class__)"),
    ("walrus", "(g := (y for y in [1]))"),
    ("import_stmt", "import os"),
    ("from_import", "from os import system"),
    ("assignment", "x = __import__('os')"),
    ("semicolon", "1; __import__('os')"),
    ("def_stmt", "def f(): pass"),
    # building forbidden names from strings
    ("concat_getattr", "getattr(x, '__cla' + 'ss__')"),
    ("concat_subscript_str", "x['__cla' + 'ss__']"),
    ("concat_subscript_dict", "d['__cla' + 'ss__']"),
    ("join_name", "d[join(['__', 'class', '__'])]"),
    ("chr_build", "d[''.join(['_', '_', 'class', '_', '_'])]"),
    ("key_vs_attr", "d['format']"),
    ("get_dunder", "d.get('__class__')"),
    ("from_json_dunder", "from_json('{\"__class__\": 1}')['__class__']"),
    ("kwargs_dunder", "dict(**{'__class__': 1})"),
    ("kwargs_private", "dict(_x=1)"),
    # jinja-style filters (Python reads | as "or")
    ("attr_filter", "x | attr('__class__')"),
    ("attr_filter_concat", "x | attr('__cl' 'ass__')"),
    ("map_attr_filter", "d | map(attribute='__class__')"),
    # objects in the context must never become values
    ("context_module", "osmod"),
    ("context_module_method", "osmod.system('touch ' + path)"),
    ("context_module_getenv", "osmod.getenv(CANARY)"),
    ("context_function", "opener(path, 'w')"),
    ("context_function_value", "opener"),
    ("context_function_in_list", "fns[0]('id')"),
    ("context_function_from_list", "fns[0]"),
    ("context_module_in_str", "str(fns)"),
    ("helper_as_value", "sorted([1], key=len)"),
    ("helper_in_list", "[len, json]"),
    ("unbound_method", "max([x], key=str.upper)"),
    # environment and files, the direct way
    ("environ_name", "environ[CANARY]"),
    ("os_name", "os.environ[CANARY]"),
    ("sys_modules", "sys.modules['os'].system('id')"),
    # resource blow-ups
    ("pow_tower", "10 ** 10 ** 10"),
    ("repeat_str", "'a' * 10 ** 10"),
    ("repeat_list", "[0] * 10 ** 10"),
    ("join_blowup", "'x'.join(['y' * 10 ** 5] * 10 ** 4)"),
    ("range_huge", "range(10 ** 15)"),
    ("deep_list", "[" * 1000 + "]" * 1000),
    ("deep_not", "not " * 10_000 + "x"),
    (
        "comprehension_bomb",
        "[[[1 for a in range(10 ** 3)] for b in range(10 ** 3)] for c in range(10 ** 3)]",
    ),
    ("shift_bomb", "1 << 10 ** 10"),
    # unicode look-alikes (the parser applies NFKC to identifiers)
    ("fullwidth_x", FULLWIDTH_X),
    ("fullwidth_underscores", f"x.{FULLWIDTH_LOW_LINE * 2}class{FULLWIDTH_LOW_LINE * 2}"),
    ("script_class", f"x.__{script('class')}__"),
    ("script_getattr", f"{script('getattr')}(x, '__class__')"),
    ("script_builtins", f"__{script('builtins')}__"),
    ("script_import", f"__{script('import')}__('os')"),
    ("fullwidth_key", f"d['{FULLWIDTH_LOW_LINE * 2}class{FULLWIDTH_LOW_LINE * 2}']"),
]


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    value = "canary-" + secrets.token_hex(8)
    monkeypatch.setenv("FLOWAT_EXPRESSION_CANARY", value)
    return {"value": value, "path": tmp_path / "pwned"}


def _context(canary: dict[str, Any]) -> dict[str, Any]:
    return {
        "x": "text",
        "d": {"__class__": 1, "format": "f", "a": 2},
        "path": str(canary["path"]),
        "CANARY": "FLOWAT_EXPRESSION_CANARY",
        "osmod": os,
        "opener": open,
        "fns": [os.system, open],
    }


def test_the_corpus_is_large_and_ids_are_unique() -> None:
    ids = [name for name, _ in PAYLOADS]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("payload", [p for _, p in PAYLOADS], ids=[i for i, _ in PAYLOADS])
def test_payload_is_refused_or_inert(payload: str, canary: dict[str, Any]) -> None:
    try:
        result = evaluate(payload, _context(canary), step="attack")
    except ExpressionError as exc:
        shown = f"{exc} {exc.reason} {exc.expression}"
    else:
        assert _is_plain(result), f"{payload!r} returned a non-plain value {type(result)}"
        shown = repr(result)
    assert not canary["path"].exists(), f"{payload!r} created a file"
    assert canary["value"] not in shown, f"{payload!r} leaked the canary"


def test_payloads_in_set_variable_cells(canary: dict[str, Any]) -> None:
    for name, payload in PAYLOADS:
        if "\n" in payload or payload.startswith(("import", "from", "def", "x =")):
            continue
        try:
            result = run_assignments(f"value = {payload}", _context(canary))
        except ExpressionError as exc:
            assert canary["value"] not in str(exc), name
        else:
            assert _is_plain(result["value"]), name
    assert not canary["path"].exists()


# Payloads that would succeed in plain Python: the sandbox must refuse every one.
MUST_REFUSE = [
    ("class", "x.__class__"),
    ("subclasses", "().__class__.__bases__[0].__subclasses__()"),
    ("import", "__import__('os').system('touch ' + path)"),
    ("open", "open(path, 'w').write('pwned')"),
    ("format", "'{0.__class__}'.format(x)"),
    ("getattr", "getattr(x, '__class__')"),
    ("type", "type(x)"),
    ("gi_frame", "(y for y in [1]).gi_frame"),
    ("module_value", "osmod"),
    ("module_method", "osmod.getenv(CANARY)"),
    ("function_value", "opener"),
    ("helper_value", "len"),
    ("pow_tower", "10 ** 10 ** 10"),
    ("repeat", "'a' * 10 ** 10"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("payload", [p for _, p in MUST_REFUSE], ids=[i for i, _ in MUST_REFUSE])
def test_dangerous_payloads_are_refused(payload: str, canary: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError):
        evaluate(payload, _context(canary))
    assert not canary["path"].exists()


def test_inert_payloads_give_plain_data(canary: dict[str, Any]) -> None:
    """Dict keys named like attributes are just keys: no confusion with attributes."""
    context = _context(canary)
    assert evaluate("d['__cla' + 'ss__']", context) == 1
    assert evaluate("d.get('__class__')", context) == 1
    assert evaluate("d['format']", context) == "f"
    assert evaluate(FULLWIDTH_X, context) == "text"
    assert evaluate(script("x"), context) == "text"
    assert evaluate("f'{x!r}'", context) == "'text'"


def _is_plain(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) not in PLAIN:
            return False
        if type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) in (list, tuple, set):
            stack.extend(item)
    return True
