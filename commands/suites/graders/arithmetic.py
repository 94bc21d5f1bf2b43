"""A small arithmetic language for multi's `calculate_output`, never eval'd.

The text is read by a small recursive-descent parser of our own (Python's parser
would read `^` as XOR, with the wrong precedence): numbers, names, + - * /, `^` as
power (right-associative, binding tighter than * and unary minus, as OpenAI's
graders guide writes it; `**` is accepted as a synonym), parentheses, and calls of
min, max, abs, floor, ceil, exp, sqrt, log. Line breaks are plain whitespace. The
parser builds `ast` nodes that `evaluate` walks; nothing is compiled or executed.
"""

from __future__ import annotations

import ast
import math
import operator
import re
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
            raise FormulaError("only + - * / and ^ are allowed")
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
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise FormulaError(f"exponent {right:g} is too large")
        return float(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _FUNCTIONS[node.func.id]([_evaluate(arg, values) for arg in node.args])
    raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*)|(?P<op>\*\*|[-+*/^(),]))"
)
_MAX_DEPTH = 100


class _Parser:
    """expr := term (('+'|'-') term)*;  term := unary (('*'|'/') unary)*;
    unary := ('-'|'+') unary | power;  power := atom ('^' unary)?;
    atom := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        at, end = 0, len(text.rstrip())
        while at < end:
            match = _TOKEN.match(text, at)
            if match is None or match.end() == at:
                raise FormulaError(f"not a formula: unexpected {text[at:].strip()[:10]!r}")
            kind = match.lastgroup or "op"
            value = match.group(kind)
            self.tokens.append((kind, "^" if value == "**" else value))
            at = match.end()
        self.at = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def take(self, value: str) -> bool:
        if self.peek() == value and self.tokens[self.at][0] == "op":
            self.at += 1
            return True
        return False

    def parse(self) -> ast.expr:
        if not self.tokens:
            raise FormulaError("not a formula: it is empty")
        tree = self.expr()
        if self.at != len(self.tokens):
            raise FormulaError(f"not a formula: unexpected {self.peek()!r}")
        return tree

    def expr(self) -> ast.expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise FormulaError("not a formula: nested too deeply")
        node = self.term()
        while self.peek() in ("+", "-"):
            op: ast.operator = ast.Add() if self.take("+") or not self.take("-") else ast.Sub()
            node = ast.BinOp(node, op, self.term())
        self.depth -= 1
        return node

    def term(self) -> ast.expr:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op: ast.operator = ast.Mult() if self.take("*") or not self.take("/") else ast.Div()
            node = ast.BinOp(node, op, self.unary())
        return node

    def unary(self) -> ast.expr:
        if self.take("-"):
            return ast.UnaryOp(ast.USub(), self.unary())
        if self.take("+"):
            return ast.UnaryOp(ast.UAdd(), self.unary())
        return self.power()

    def power(self) -> ast.expr:
        base = self.atom()
        if self.take("^"):
            return ast.BinOp(base, ast.Pow(), self.unary())
        return base

    def atom(self) -> ast.expr:
        if self.at >= len(self.tokens):
            raise FormulaError("not a formula: it ends too early")
        kind, value = self.tokens[self.at]
        self.at += 1
        if kind == "number":
            return ast.Constant(float(value))
        if kind == "name":
            if self.take("("):
                args = [self.expr()]
                while self.take(","):
                    args.append(self.expr())
                if not self.take(")"):
                    raise FormulaError(f"not a formula: {value}( is not closed")
                return ast.Call(ast.Name(value), args, [])
            return ast.Name(value)
        if value == "(":
            inner = self.expr()
            if not self.take(")"):
                raise FormulaError("not a formula: a ( is not closed")
            return inner
        raise FormulaError(f"not a formula: unexpected {value!r}")


def parse_formula(text: str, names: set[str]) -> Formula:
    """Parse and check `text` against the allowed `names`; raises FormulaError."""
    if len(text) > _MAX_LENGTH:
        raise FormulaError(f"longer than {_MAX_LENGTH} characters")
    tree = _Parser(text).parse()
    used: set[str] = set()
    _check(tree, names, used)
    return Formula(text, tree, frozenset(used))
