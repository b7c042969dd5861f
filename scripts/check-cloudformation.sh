#!/usr/bin/env bash
# Checks every CloudFormation template in cloudformation/ with the three checkers:
#   1. cfn-lint             - zero errors, warnings and informational findings;
#   2. cfn-guard            - the project's rules (cloudformation/guard/rules.guard) pass on every
#                             template, and each rule's fixtures behave: the compliant one passes,
#                             the broken one fails;
#   3. checkov              - no failed check; every skipped check is justified in the template's
#                             Metadata (checkov: skip: - id/comment). checkov evaluates conditions
#                             with the parameters' defaults, so each template is also checked as a
#                             copy for every other value of its VARIANT_PARAMETERS (ChangeSource)
#                             and with each of VARIANT_VALUES (existing tables instead of the demo
#                             table);
#   4. asl-validator        - every state machine definition (DefinitionSubstitutions applied by
#                             scripts/state_machine.py) is valid Amazon States Language.
# Prints the figures and exits non-zero on any failure.
#
# Environment:
#   PYTHON   interpreter whose environment has cfn-lint and checkov (default python3); checkov is
#            taken from the same bin directory. Missing Python tools are pip-installed into it.
# cfn-guard is only distributed through crates.io here: installed with cargo when not found.
# asl-validator comes from npm, installed into a cache folder when not found (needs node and npm).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
PY="${PYTHON:-python3}"
# cfn-lint 1.x has no `python -m cfnlint`; call its console entry point through the interpreter.
cfn_lint() { "$PY" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' "$@"; }
TEMPLATES=(cloudformation/*.yaml)
RULES=cloudformation/guard/rules.guard
FIXTURES=(cloudformation/guard/tests/*_tests.yaml)
VARIANT_PARAMETERS=(ChangeSource)                 # every AllowedValue other than the default
VARIANT_VALUES=("ExistingTableNames=orders,devices")  # one value each, where the template has it
CFN_GUARD_VERSION=3.2.1
ASL_VALIDATOR_VERSION=4.0.0
ASL_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/ddb-lake/asl-validator-$ASL_VALIDATOR_VERSION"
started=$(date +%s)
failures=()

say() { printf '\n== %s\n' "$*"; }

requirement() {  # the requirements-dev.txt line for a package (keeps its pin), else the bare name
    grep -iE "^$1([<>=~! \[]|$)" requirements-dev.txt 2>/dev/null | head -n1 || true
}

ensure_python_tool() {  # module name, package name
    if ! "$PY" -c "import $1" 2>/dev/null; then
        local req; req=$(requirement "$2"); req=${req:-$2}
        echo "installing $req into $("$PY" -c 'import sys; print(sys.prefix)')"
        "$PY" -m pip install --quiet "$req" || { echo "cannot install $req" >&2; exit 2; }
    fi
}

# ------------------------------------------------------------------ tools
ensure_python_tool cfnlint cfn-lint
ensure_python_tool checkov checkov
CHECKOV="$(dirname "$(command -v "$PY")")/checkov"
[ -x "$CHECKOV" ] || CHECKOV=$(command -v checkov) || { echo "checkov not found next to $PY" >&2; exit 2; }

export PATH="$PATH:$HOME/.cargo/bin"
if ! command -v cfn-guard >/dev/null; then
    # A debug build installs in ~2 min instead of ~6 and checks these templates in seconds.
    echo "cfn-guard not found: cargo install --debug cfn-guard --locked --version $CFN_GUARD_VERSION (takes ~2 min)"
    cargo install --debug cfn-guard --locked --version "$CFN_GUARD_VERSION" || { echo "cannot install cfn-guard" >&2; exit 2; }
fi
case "$(cfn-guard --version)" in
    *" 3."*) ;;
    *) echo "rules are written for cfn-guard 3.x, found: $(cfn-guard --version)" >&2; exit 2 ;;
esac

echo "templates: ${TEMPLATES[*]}"
echo "tools: $(cfn_lint --version), $(cfn-guard --version), checkov $("$CHECKOV" --version)"

# ------------------------------------------------------------------ 1. cfn-lint
say "cfn-lint"
lint_out=$(cfn_lint --format parseable -- "${TEMPLATES[@]}"); lint_rc=$?
[ -n "$lint_out" ] && echo "$lint_out"
lint_errors=$(grep -cE ':E[0-9]+:' <<<"$lint_out")
lint_warnings=$(grep -cE ':W[0-9]+:' <<<"$lint_out")
lint_infos=$(grep -cE ':I[0-9]+:' <<<"$lint_out")
echo "cfn-lint: ${#TEMPLATES[@]} templates, $lint_errors errors, $lint_warnings warnings, $lint_infos informational (exit $lint_rc)"
[ "$lint_rc" -eq 0 ] || failures+=("cfn-lint")

# ------------------------------------------------------------------ 2. cfn-guard
say "cfn-guard rules on the templates"
rule_count=$(grep -cE '^rule [a-z0-9_]+' "$RULES")
guard_pass=0 guard_fail=0 guard_skip=0
for t in "${TEMPLATES[@]}"; do
    out=$(cfn-guard validate --rules "$RULES" --data "$t" --show-summary all 2>&1); rc=$?
    p=$(grep -cE '^rules\.guard/[a-z0-9_]+ +PASS$' <<<"$out")
    f=$(grep -cE '^rules\.guard/[a-z0-9_]+ +FAIL$' <<<"$out")
    s=$(grep -cE '^rules\.guard/[a-z0-9_]+ +SKIP$' <<<"$out")
    printf '%-45s %2d passed, %d failed, %2d skipped (resource type absent)\n' "$t" "$p" "$f" "$s"
    guard_pass=$((guard_pass + p)); guard_fail=$((guard_fail + f)); guard_skip=$((guard_skip + s))
    if [ "$rc" -ne 0 ] || [ $((p + f + s)) -ne "$rule_count" ]; then
        echo "$out"
        failures+=("cfn-guard on $t")
    fi
done

say "cfn-guard rule fixtures (each rule: compliant fixture PASS, broken fixture FAIL)"
# Every rule needs its own fixture file holding exactly one PASS and one FAIL expectation for it,
# and cfn-guard must confirm both.
fixture_report=$("$PY" - "$RULES" "${FIXTURES[@]}" <<'EOF'
import json, re, subprocess, sys
rules_file, fixtures = sys.argv[1], sys.argv[2:]
rules = re.findall(r'^rule ([a-z0-9_]+)', open(rules_file).read(), re.M)
ok = True
passing = failing = 0
by_file = {f.rsplit('/', 1)[-1][:-len('_tests.yaml')]: f for f in fixtures}
for rule in rules:
    path = by_file.get(rule)
    if path is None:
        print(f'MISSING  {rule}: no cloudformation/guard/tests/{rule}_tests.yaml'); ok = False; continue
    run = subprocess.run(['cfn-guard', 'test', '-r', rules_file, '-t', path, '-o', 'json'],
                         capture_output=True, text=True)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        print(f'ERROR    {rule}: cfn-guard test output is not JSON:\n{run.stdout}{run.stderr}'); ok = False; continue
    seen = {'PASS': 0, 'FAIL': 0}
    problems = []
    for case in report['test_cases']:
        for group in ('passed_rules', 'failed_rules'):
            for r in case.get(group, []):
                if r['name'] != rule:
                    continue
                expected = r.get('expected', r.get('evaluated'))
                if group == 'failed_rules':
                    problems.append(f"'{case['name']}' expected {r.get('expected')}, got {r.get('evaluated')}")
                elif expected in seen:
                    seen[expected] += 1
    if run.returncode != 0 or problems or seen != {'PASS': 1, 'FAIL': 1}:
        print(f'FAILED   {rule}: ' + ('; '.join(problems) or f'needs one PASS and one FAIL fixture, has {seen}'))
        ok = False
    else:
        passing += 1; failing += 1
        print(f'ok       {rule}: compliant fixture passes, broken fixture fails')
for name in sorted(set(by_file) - set(rules)):
    print(f'STRAY    {by_file[name]}: no rule named {name}'); ok = False
print(f'FIGURES {len(rules)} {passing} {failing}')
sys.exit(0 if ok else 1)
EOF
); fixtures_rc=$?
grep -v '^FIGURES' <<<"$fixture_report"
read -r _ fx_rules fx_pass fx_fail <<<"$(grep '^FIGURES' <<<"$fixture_report")"
echo "fixtures: ${fx_pass:-0}/${fx_rules:-?} compliant fixtures passed, ${fx_fail:-0}/${fx_rules:-?} broken fixtures failed as required"
[ "$fixtures_rc" -eq 0 ] || failures+=("cfn-guard fixtures")

# ------------------------------------------------------------------ 3. checkov
say "checkov"
checkov_args=(--skip-download --framework cloudformation --output json)
for t in "${TEMPLATES[@]}"; do checkov_args+=(--file "$t"); done
# The other variants: a copy of the template text with the parameter's Default changed.
variants_dir=$(mktemp -d)
"$PY" - "$variants_dir" "${VARIANT_PARAMETERS[@]}" "${VARIANT_VALUES[@]}" -- "${TEMPLATES[@]}" >"$variants_dir/list" <<'EOF' \
    || { echo "cannot write the template variants for checkov" >&2; exit 2; }
import json, re, sys
from pathlib import Path
from cfnlint.decode import decode
out, args = Path(sys.argv[1]), sys.argv[2:]
names, templates = args[:args.index("--")], args[args.index("--") + 1:]
parsed = {path: decode(path)[0] or {} for path in templates}
for name in names:  # all templates for one parameter, then the next
    name, _, given = name.partition("=")
    for path in templates:
        parameter = parsed[path].get("Parameters", {}).get(name)
        if not parameter:
            continue
        values = [given] if given else [v for v in parameter["AllowedValues"] if v != parameter["Default"]]
        for value in values:
            pattern = rf"(\n  {name}:\n(?:    .*\n)*?    Default: ).*\n"
            variant, count = re.subn(pattern, lambda m: m.group(1) + json.dumps(value) + "\n", Path(path).read_text(), count=1)
            if count != 1:
                sys.exit(f"{path}: cannot set the Default of {name} to {value}")
            target = out / f"{Path(path).stem}.{name}={value}.yaml"
            target.write_text(variant)
            print(target)
EOF
mapfile -t variants <"$variants_dir/list"
[ "${#variants[@]}" -gt 0 ] || { echo "no template variants for checkov (VARIANT_PARAMETERS: ${VARIANT_PARAMETERS[*]}, VARIANT_VALUES: ${VARIANT_VALUES[*]})" >&2; exit 2; }
for t in "${variants[@]}"; do checkov_args+=(--file "$t"); done
echo "also checked as variants: ${variants[*]##*/}"
checkov_out=$(mktemp); checkov_err=$(mktemp)
"$CHECKOV" "${checkov_args[@]}" >"$checkov_out" 2>"$checkov_err"; checkov_rc=$?
checkov_report=$("$PY" - "$checkov_out" <<'EOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except ValueError:
    print('checkov printed no JSON report'); sys.exit(1)
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = 0
ok = True
for rep in reports:
    s = rep.get('summary', {})
    passed += s.get('passed', 0); failed += s.get('failed', 0); skipped += s.get('skipped', 0)
    res = rep.get('results', {})
    for c in res.get('failed_checks', []):
        print(f"FAILED  {c['check_id']} {c['check_name']} - {c['file_path']} {c['resource']}")
        ok = False
    for c in res.get('skipped_checks', []):
        reason = (c.get('check_result', {}).get('suppress_comment') or '').strip()
        print(f"skipped {c['check_id']} ({c['check_name']}) on {c['file_path'].lstrip('/')} {c['resource']}: {reason or 'NO JUSTIFICATION'}")
        if not reason or reason.lower().startswith('no comment'):
            ok = False
print(f'checkov: {passed} passed, {failed} failed, {skipped} skipped (each justified in template Metadata)')
print(f'FIGURES {passed} {failed} {skipped}')
sys.exit(0 if ok and failed == 0 else 1)
EOF
); checkov_parse_rc=$?
grep -v '^FIGURES' <<<"$checkov_report"
if [ "$checkov_parse_rc" -ne 0 ] || [ "$checkov_rc" -ne 0 ]; then
    cat "$checkov_err" >&2
    failures+=("checkov")
fi
rm -f "$checkov_out" "$checkov_err"; rm -rf "$variants_dir"
read -r _ ck_pass ck_fail ck_skip <<<"$(grep '^FIGURES' <<<"$checkov_report")"

# ------------------------------------------------------------------ 4. asl-validator
say "asl-validator on the state machine definitions"
asl_bin="$ASL_DIR/node_modules/.bin/asl-validator"
if [ ! -x "$asl_bin" ]; then
    echo "installing asl-validator $ASL_VALIDATOR_VERSION into $ASL_DIR"
    mkdir -p "$ASL_DIR"
    npm install --prefix "$ASL_DIR" --no-audit --no-fund --silent "asl-validator@$ASL_VALIDATOR_VERSION" \
        || { echo "cannot install asl-validator (needs node and npm)" >&2; exit 2; }
fi
asl_dir=$(mktemp -d)
asl_count=0
asl_failed=0
for t in "${TEMPLATES[@]}"; do
    "$PY" scripts/state_machine.py "$t" >"$asl_dir/all.json" || { failures+=("state machine definitions of $t"); continue; }
    for id in $("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))))' "$asl_dir/all.json"); do
        "$PY" -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[sys.argv[2]], open(sys.argv[3], "w"))' \
            "$asl_dir/all.json" "$id" "$asl_dir/$id.json"
        asl_count=$((asl_count + 1))
        if out=$("$asl_bin" --json-path "$asl_dir/$id.json" 2>&1); then
            echo "$t $id: valid"
        else
            echo "$t $id: $out"
            asl_failed=$((asl_failed + 1))
        fi
    done
done
rm -rf "$asl_dir"
echo "asl-validator: $asl_count definitions, $asl_failed invalid"
[ "$asl_failed" -eq 0 ] || failures+=("asl-validator")

# ------------------------------------------------------------------ summary
say "summary ($(( $(date +%s) - started )) s)"
echo "templates checked: ${#TEMPLATES[@]}"
echo "cfn-lint:  $lint_errors errors, $lint_warnings warnings, $lint_infos informational"
echo "cfn-guard: $rule_count rules x ${#TEMPLATES[@]} templates: $guard_pass passed, $guard_fail failed, $guard_skip skipped (type absent)"
echo "           fixtures: ${fx_pass:-0} compliant passed, ${fx_fail:-0} broken failed as required (of $rule_count rules)"
echo "checkov:   ${ck_pass:-?} passed, ${ck_fail:-?} failed, ${ck_skip:-?} skipped with justification (${#TEMPLATES[@]} templates and ${#variants[@]} variants)"
echo "asl-validator: $asl_count state machine definitions, $asl_failed invalid"
if [ "${#failures[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "all CloudFormation checks passed"
