"""A small arithmetic language for multi's `calculate_output`, never eval'd.

The text is parsed by `ast.parse(mode="eval")` and only a whitelist of nodes is
accepted: numbers, names, + - * / and ** (`^` means power too, as in OpenAI's
docs), unary minus, parentheses, and calls of min, max, abs, floor, ceil, exp,
sqrt, log. The tree is then walked by `evaluate`; nothing is compiled or executed.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["FormulaError", "Formula", "parse_formula"]

_MAX_LENGTH = 1000
_MAX_EXPONENT = 64.0

_BINARY: Mapping[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,
}
_UNARY: Mapping[type[ast.unaryop], Callable[[float], float]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _one(fn: Callable[[float], float]) -> Callable[[list[float]], float]:
    def call(args: list[float]) -> float:
        if len(args) != 1:
            raise FormulaError("takes one argument")
        return fn(args[0])

    return call


def _many(fn: Callable[[list[float]], float]) -> Callable[[list[float]], float]:
    def call(args: list[float]) -> float:
        if not args:
            raise FormulaError("needs at least one argument")
        return fn(args)

    return call


_FUNCTIONS: Mapping[str, Callable[[list[float]], float]] = {
    "min": _many(min),
    "max": _many(max),
    "abs": _one(abs),
    "floor": _one(lambda x: float(math.floor(x))),
    "ceil": _one(lambda x: float(math.ceil(x))),
    "exp": _one(math.exp),
    "sqrt": _one(math.sqrt),
    "log": _one(math.log),
}
FUNCTIONS = tuple(_FUNCTIONS)


class FormulaError(Exception):
    """A formula that cannot be parsed or evaluated."""


def _check(node: ast.AST, names: set[str], used: set[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(f"{node.value!r} is not a number")
    elif isinstance(node, ast.Name):
        if node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise FormulaError(f"{node.id!r} is not one of the graders ({known})")
        used.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise FormulaError("only + - * / and ** (or ^) are allowed")
        _check(node.left, names, used)
        _check(node.right, names, used)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise FormulaError("only unary + and - are allowed")
        _check(node.operand, names, used)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise FormulaError(f"the only functions are {', '.join(FUNCTIONS)}")
        if node.keywords:
            raise FormulaError("functions take no keyword arguments")
        for arg in node.args:
            _check(arg, names, used)
    else:
        raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


@dataclass(frozen=True)
class Formula:
    """A checked formula over named values."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, float]) -> float:
        """The formula's value; raises FormulaError (division by zero, overflow...)."""
        try:
            return _evaluate(self.tree, values)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise FormulaError(f"{self.text}: {exc}") from exc


def _evaluate(node: ast.expr, values: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        if type(node.op) in (ast.Pow, ast.BitXor) and abs(right) > _MAX_EXPONENT:
            raise FormulaError(f"exponent {right:g} is too large")
        return float(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id]([_evaluate(arg, values) for arg in node.args])
    raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


def parse_formula(text: str, names: set[str]) -> Formula:
    """Parse and check `text` against the allowed `names`; raises FormulaError."""
    if len(text) > _MAX_LENGTH:
        raise FormulaError(f"longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"not a formula: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise FormulaError("not a formula") from exc
    used: set[str] = set()
    _check(tree.body, names, used)
    return Formula(text, tree.body, frozenset(used))
