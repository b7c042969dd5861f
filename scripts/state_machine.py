"""The Amazon States Language definitions of the state machines in a CloudFormation template, with
their DefinitionSubstitutions applied as CloudFormation applies them (textual `${Name}`
replacement in the definition's JSON), so real ASL tools can read them.

    python scripts/state_machine.py TEMPLATE [Name=value ...]   # prints {logical id: definition}

Substitution values come from, in order: the Name=value arguments; for a substitution that is a
`Ref` to a parameter, the parameter's default; otherwise a placeholder of the right shape (an ARN
for `GetAtt ... .Arn`, the parameter's name otherwise). Used by scripts/check-cloudformation.sh
(asl-validator) and tests/python/test_backfill_state_machine.py (moto's interpreter).
"""

import json
import re
import sys

from cfnlint.decode import cfn_yaml


def _placeholder(value, parameters, name):
    if isinstance(value, dict) and "Ref" in value:
        param = parameters.get(value["Ref"], {})
        if "Default" in param and str(param["Default"]) != "":
            return str(param["Default"])
        return f"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-{name.lower()[:12]:0>12}" \
            if "Kms" in name else value["Ref"].lower()
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        target = target[0] if isinstance(target, list) else target.split(".")[0]
        return f"arn:aws:lambda:us-east-1:123456789012:function:{target}"
    return str(value)


def definitions(template_path, values=None):
    """{logical id: definition (dict)} of every AWS::StepFunctions::StateMachine in the template."""
    values = values or {}
    template = cfn_yaml.load(template_path)
    parameters = template.get("Parameters", {})
    out = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        text = json.dumps(props["Definition"])
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            replacement = values.get(name, _placeholder(value, parameters, name))
            # The replacement lands inside JSON strings: escape it as one.
            text = text.replace("${" + name + "}", json.dumps(str(replacement))[1:-1])
        left = re.findall(r"\$\{[A-Za-z0-9_]+\}", text)
        if left:
            raise ValueError(f"{template_path} {logical_id}: no substitution for {sorted(set(left))}")
        out[logical_id] = json.loads(text)
    return out


if __name__ == "__main__":
    args = dict(a.split("=", 1) for a in sys.argv[2:])
    print(json.dumps(definitions(sys.argv[1], args), indent=2))
