"""A template as CloudFormation would create it for given parameter values: conditions evaluated,
resources and outputs whose condition is false left out, `Fn::If` replaced by its chosen branch and
`AWS::NoValue` removed. Only the condition functions the templates use (Equals, And, Or, Not,
Condition, and Fn::Join over values or a list parameter) are understood; anything else raises, so a
new construct cannot be silently misread."""
from __future__ import annotations

from typing import Any

NO_VALUE = object()


def defaults(template: dict) -> dict[str, Any]:
    return {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}


def _value(node: Any, params: dict[str, Any]) -> Any:
    """A value inside a condition: a literal or a parameter's (as a string, as CloudFormation has it)."""
    if isinstance(node, dict) and set(node) == {"Ref"}:
        value = params[node["Ref"]]
        return str(value) if value is not None else ""
    if isinstance(node, (str, int, float)):
        return str(node)
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        delimiter, items = node["Fn::Join"]
        if isinstance(items, dict):  # a CommaDelimitedList parameter: its items, as CloudFormation splits it
            items = _value(items, params).split(",")
        return delimiter.join(_value(i, params) for i in items)
    raise ValueError(f"unsupported value in a condition: {node!r}")


def conditions(template: dict, params: dict[str, Any]) -> dict[str, bool]:
    defined = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def evaluate(node: Any) -> bool:
        (function, args), = node.items()
        if function == "Fn::Equals":
            return _value(args[0], params) == _value(args[1], params)
        if function == "Fn::And":
            return all(evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(evaluate(a) for a in args)
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Condition":
            return named(args)
        raise ValueError(f"unsupported condition function {function}")

    def named(name: str) -> bool:
        if name not in done:
            done[name] = evaluate(defined[name])
        return done[name]

    return {name: named(name) for name in defined}


def _resolve(node: Any, chosen: dict[str, bool]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _resolve(yes if chosen[name] else no, chosen)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {}
        for key, value in node.items():
            value = _resolve(value, chosen)
            if value is not NO_VALUE:
                out[key] = value
        return out
    if isinstance(node, list):
        return [v for v in (_resolve(v, chosen) for v in node) if v is not NO_VALUE]
    return node


def resolve(template: dict, **overrides: Any) -> dict:
    """The template for its parameter defaults with `overrides` applied."""
    params = {**defaults(template), **overrides}
    chosen = conditions(template, params)
    out = {"Parameters": params}
    for section in ("Resources", "Outputs"):
        out[section] = {name: _resolve(body, chosen) for name, body in template.get(section, {}).items()
                        if chosen.get(body.get("Condition"), True)}
    return out


def references(node: Any) -> set[str]:
    """Logical names a (resolved) value refers to with Ref, Fn::GetAtt or ${Name} in Fn::Sub."""
    import re

    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9:.]+)\}", text)} - set(local)
                found |= references(local)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found
