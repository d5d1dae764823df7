r"""The gate in front of SymPy: what an expression may contain, checked before any parsing.

SymPy's ``parse_expr`` ends in Python's ``eval``, so nothing reaches it unless every token
passes a whitelist here (stdlib ``tokenize`` only, no SymPy import): numbers, operators of
arithmetic, names that are either whitelisted SymPy functions/constants or plain symbol
names, and brackets used for grouping, calls, tuples and lists. Attribute access, dunders,
keywords (``import``, ``lambda``), strings, subscripts, unknown callables and anything else
are refused with one sentence. Length and nesting depth are bounded first, so 10,000 nested
parentheses is an error here rather than a RecursionError deep inside a parser.

The result is a :class:`Plan`: plain data that the worker process turns into SymPy objects.
LaTeX (anything with a backslash, or braces after ``^`` or ``_``) is parsed by SymPy's ANTLR LaTeX parser, which
builds objects from a grammar and never evaluates code; it gets the same size bounds, and
its backslash commands must be ones of mathematics that the parser reads
(:data:`LATEX_COMMANDS`): the parser reads an unknown command such as ``\input`` or
``\write18`` as a run of letters (``-18*I*c*...``), a wrong answer given with confidence.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from dataclasses import dataclass, field
from typing import Literal

from kanjian.tools.errors import ToolInputError

__all__ = [
    "ALIASES",
    "CONSTANTS",
    "FUNCTIONS",
    "LATEX_COMMANDS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Kind",
    "Plan",
    "plan",
]

Kind = Literal["evaluate", "simplify", "solve", "diff", "integrate", "limit", "sum"]

MAX_LENGTH = 2000
MAX_DEPTH = 64
_MAX_NAME = 24

# The outermost call decides what kind of problem it is (each is also an allowed function).
_SIMPLIFIERS = (
    "simplify",
    "factor",
    "expand",
    "apart",
    "together",
    "cancel",
    "trigsimp",
    "expand_trig",
    "powsimp",
    "radsimp",
)
_CALL_KINDS: dict[str, Kind] = {
    "diff": "diff",
    "Derivative": "diff",
    "integrate": "integrate",
    "Integral": "integrate",
    "limit": "limit",
    "Limit": "limit",
    "summation": "sum",
    "Sum": "sum",
    "product": "sum",
    "Product": "sum",
    "solve": "solve",
    **dict.fromkeys(_SIMPLIFIERS, "simplify"),
}

# SymPy callables an expression may use, by the name SymPy gives them.
FUNCTIONS = frozenset(
    [
        "sqrt",
        "cbrt",
        "root",
        "exp",
        "log",
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "asin",
        "acos",
        "atan",
        "atan2",
        "acot",
        "asec",
        "acsc",
        "sinh",
        "cosh",
        "tanh",
        "coth",
        "asinh",
        "acosh",
        "atanh",
        "Abs",
        "sign",
        "floor",
        "ceiling",
        "frac",
        "factorial",
        "factorial2",
        "binomial",
        "gamma",
        "beta",
        "erf",
        "re",
        "im",
        "arg",
        "conjugate",
        "Max",
        "Min",
        "Mod",
        "gcd",
        "lcm",
        "isprime",
        "prime",
        "primepi",
        "factorint",
        "divisors",
        "totient",
        "fibonacci",
        "lucas",
        "catalan",
        "bernoulli",
        "harmonic",
        "Rational",
        "Integer",
        "nsimplify",
        "Eq",
        "N",
        "series",
        *_CALL_KINDS,
    ]
)
# Friendlier spellings people (and OCR) use, mapped onto SymPy's names.
ALIASES = {
    "ln": "log",
    "abs": "Abs",
    "ceil": "ceiling",
    "max": "Max",
    "min": "Min",
    "mod": "Mod",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "choose": "binomial",
    "fact": "factorial",
    "sum": "summation",
    "evalf": "N",
}
# Names that mean a SymPy constant rather than a new symbol.
CONSTANTS = {"pi": "pi", "E": "E", "e": "E", "I": "I", "oo": "oo", "inf": "oo", "infinity": "oo"}

_OPERATORS = frozenset(["+", "-", "*", "/", "**", "^", "(", ")", ",", "[", "]", "%", "!"])
# Characters people paste from documents (and OCR returns) that mean plain ASCII math.
_UNICODE = str.maketrans(
    {
        "×": "*",
        "·": "*",
        "÷": "/",
        "−": "-",
        "–": "-",
        "（": "(",
        "）": ")",
        "，": ",",
        "；": ";",
        "＝": "=",
        "π": "pi",
        "∞": "oo",
        "²": "**2",
        "³": "**3",
        "√": "sqrt ",
    }
)
_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi omicron pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
)
# The backslash commands of mathematics SymPy's LaTeX grammar reads; any other is refused.
LATEX_COMMANDS = frozenset(
    (
        "frac dfrac tfrac binom dbinom tbinom sqrt int iint iiint oint sum prod lim to infty "
        "cdot times div ast pm mp le leq ge geq lt gt ne neq approx equiv left right big Big "
        "bigg Bigg mathrm mathit mathbf operatorname text limits displaystyle "
        "sin cos tan csc sec cot arcsin arccos arctan arccsc arcsec arccot sinh cosh tanh "
        "arsinh arcosh artanh log ln lg exp det gcd lfloor rfloor lceil rceil lvert rvert "
        "vert mid langle rangle lbrace rbrace lbrack rbrack partial prime overline bar "
        "dot ddot hat vec quad qquad ldots cdots dots degree circ "
        f"{_GREEK}"
    ).split()
)
# Spacing and escaped brackets: \, \; \: \! \{ \} \| (and \\, a row break, split earlier).
_LATEX_SYMBOLS = frozenset(",;:! {}|\\")
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+|.?)", re.S)

# A backslash command, or braces after ^ or _ (x^{2}), marks LaTeX.
_LATEX = re.compile(r"\\|[\^_]\s*\{")
_SYMBOL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*\Z")


@dataclass(frozen=True, slots=True)
class Plan:
    """A checked expression, ready for the worker (plain data, JSON-able)."""

    syntax: Literal["sympy", "latex"]
    kind: Kind | None
    # One entry per expression; for equations each is (left side, right side).
    parts: list[str] = field(default_factory=list)
    equations: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "syntax": self.syntax,
            "kind": self.kind,
            "parts": self.parts,
            "equations": [list(pair) for pair in self.equations],
        }


def plan(expression: str) -> Plan:
    """Check ``expression`` and say how to compute it; ToolInputError when it is refused."""
    text = _bounded(expression)
    if _LATEX.search(text):
        return _latex_plan(expression, text)
    text = text.translate(_UNICODE).replace("==", "=")
    pieces = _split_top(expression, text)
    if any("=" in piece for piece in pieces):
        equations = [_equation(expression, piece) for piece in pieces]
        for left, right in equations:
            _check_tokens(expression, left)
            _check_tokens(expression, right)
        return Plan("sympy", "solve", equations=equations)
    if len(pieces) != 1:
        raise ToolInputError(
            f"Cannot evaluate {_show(expression)}: several expressions without '=' were given; "
            "give one expression, or equations like 'x + y = 3; x - y = 1'."
        )
    tokens = _check_tokens(expression, pieces[0])
    return Plan("sympy", _call_kind(tokens), parts=pieces)


def _show(expression: str) -> str:
    shown = expression if len(expression) <= 60 else expression[:57] + "..."
    return repr(shown)


def _bounded(expression: str) -> str:
    text = expression.strip()
    if not text:
        raise ToolInputError("The expression is empty; give one such as '1/2 + 1/3' or 'x^2 = 4'.")
    if len(text) > MAX_LENGTH:
        raise ToolInputError(
            f"Cannot evaluate {_show(expression)}: it is {len(text)} characters long and the "
            f"limit is {MAX_LENGTH}; split it into smaller problems."
        )
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise ToolInputError(
            f"Cannot evaluate {_show(expression)}: brackets are nested {deepest} deep and the "
            f"limit is {MAX_DEPTH}; simplify the expression."
        )
    return text


def _latex_plan(expression: str, text: str) -> Plan:
    _check_latex_commands(expression, text)
    pieces = [piece.strip() for piece in re.split(r";|\\\\", text) if piece.strip()]
    # '=' inside braces belongs to the notation (\sum_{k=1}), not to an equation.
    if any(len(_split_top_level(piece, "=")) > 1 for piece in pieces):
        equations = [_equation(expression, piece, latex=True) for piece in pieces]
        return Plan("latex", "solve", equations=equations)
    if len(pieces) != 1:
        raise ToolInputError(
            f"Cannot evaluate {_show(expression)}: several expressions without '=' were given; "
            "give one expression, or equations separated by ';'."
        )
    return Plan("latex", None, parts=pieces)


def _check_latex_commands(expression: str, text: str) -> None:
    for match in _LATEX_COMMAND.finditer(text):
        name = match.group(1)
        if name in LATEX_COMMANDS or (len(name) == 1 and name in _LATEX_SYMBOLS):
            continue
        command = "\\" + name  # quoted by hand: repr would double the backslash
        _refuse(
            expression,
            f"the LaTeX command '{command}' is not one of mathematics the parser reads "
            "(such as \\frac, \\sqrt, \\int, \\sum, \\sin, \\pi); write the expression "
            "without it",
        )


def _split_top(expression: str, text: str) -> list[str]:
    """Split on ';' anywhere and on ',' outside brackets when the text has equations."""
    pieces: list[str] = []
    for chunk in text.split(";"):
        if "=" in chunk:
            pieces.extend(_split_top_level(chunk, ","))
        else:
            pieces.append(chunk)
    pieces = [piece.strip() for piece in pieces]
    if not all(pieces):
        raise ToolInputError(
            f"Cannot evaluate {_show(expression)}: it has an empty part between separators; "
            "remove the extra ';' or ','."
        )
    return pieces


def _split_top_level(chunk: str, separator: str) -> list[str]:
    """Split ``chunk`` on ``separator`` where it is outside every bracket."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(chunk):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == separator and depth == 0:
            pieces.append(chunk[start:i])
            start = i + 1
    pieces.append(chunk[start:])
    return pieces


def _equation(expression: str, piece: str, *, latex: bool = False) -> tuple[str, str]:
    piece = piece.replace("==", "=")
    sides = _split_top_level(piece, "=") if latex else piece.split("=")
    if len(sides) != 2 or not sides[0].strip() or not sides[1].strip():
        raise ToolInputError(
            f"Cannot solve {_show(expression)}: {piece.strip()!r} is not one equation "
            "'left = right'; write each equation with exactly one '='."
        )
    return (sides[0].strip(), sides[1].strip())


def _tokens(expression: str, text: str) -> list[tokenize.TokenInfo]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise ToolInputError(
            f"Cannot evaluate {_show(expression)}: it is not a well-formed expression "
            f"({exc.args[0]}); check the brackets."
        ) from exc
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
    return [tok for tok in tokens if tok.type not in skip]


def _check_tokens(expression: str, text: str) -> list[tokenize.TokenInfo]:
    """Every token must be a number, an allowed operator or an allowed name."""
    tokens = _tokens(expression, text)
    for i, tok in enumerate(tokens):
        before = tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.type == tokenize.NAME:
            _check_name(expression, tok.string, after)
        elif tok.type == tokenize.STRING:
            _refuse(expression, "strings are not allowed")
        elif tok.type == tokenize.NUMBER:
            _check_number(expression, tok.string)
        elif tok.string == ".":
            _refuse(expression, "attribute access and imports are not allowed")
        elif tok.string == "[" and before is not None and _ends_operand(before):
            _refuse(expression, "subscripts are not allowed")
        elif tok.string not in _OPERATORS:
            _refuse(expression, f"the operator {tok.string!r} is not allowed")
    return tokens


def _check_name(expression: str, name: str, after: tokenize.TokenInfo | None) -> None:
    if "__" in name or name.startswith("_") or name in ("import", "lambda"):
        _refuse(expression, "attribute access and imports are not allowed")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        _refuse(expression, f"the Python keyword {name!r} is not allowed")
    called = after is not None and after.string == "("
    if called and ALIASES.get(name, name) not in FUNCTIONS:
        _refuse(
            expression,
            f"{name!r} is not an allowed function (write {name}*(...) to multiply, or use "
            "sqrt, sin, log, diff, integrate, limit, summation, solve, simplify, factor, ...)",
        )
    if (not called and not _SYMBOL_NAME.match(name)) or len(name) > _MAX_NAME:
        _refuse(expression, f"{name!r} is not a valid symbol name")


def _check_number(expression: str, number: str) -> None:
    # Python's tokenizer also accepts complex, hex and underscore literals; keep plain decimals.
    if not re.fullmatch(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", number):
        _refuse(expression, f"the number {number!r} is not a plain decimal")


def _ends_operand(tok: tokenize.TokenInfo) -> bool:
    return tok.type in (tokenize.NAME, tokenize.NUMBER) or tok.string in (")", "]")


def _call_kind(tokens: list[tokenize.TokenInfo]) -> Kind | None:
    """The kind named by an outermost call that spans the whole expression, if any."""
    if len(tokens) < 3 or tokens[0].type != tokenize.NAME or tokens[1].string != "(":
        return None
    depth = 0
    for i, tok in enumerate(tokens[1:], start=1):
        if tok.string in ("(", "["):
            depth += 1
        elif tok.string in (")", "]"):
            depth -= 1
        if depth == 0:
            if i != len(tokens) - 1:
                return None
            return _CALL_KINDS.get(ALIASES.get(tokens[0].string, tokens[0].string))
    return None


def _refuse(expression: str, why: str) -> None:
    raise ToolInputError(f"Cannot evaluate {_show(expression)}: {why}.")
