#!/usr/bin/env bash
# The GitHub Action's one step (action.yml calls it): run one kathansync command with the
# action's inputs and write its outputs. A script rather than inline YAML so that it can be run,
# and tested, outside GitHub (tests/test_action.py runs it against the emulator).
#
# Inputs (environment): KS_COMMAND validate|plan|apply|test, KS_ENVIRONMENT, KS_DIRECTORY,
# KS_ARGS (extra arguments, split on spaces), KS_OUT_DIR (where plan files go).
# Outputs (appended to $GITHUB_OUTPUT): exit_code, has_changes, plan_file, plan_markdown,
# summary. The exit code is kathansync's, except that `plan` exits 0 with changes
# (has_changes says so).
set -uo pipefail

command=${KS_COMMAND:-plan}
out_dir=${KS_OUT_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kathansync}
outputs=${GITHUB_OUTPUT:-/dev/null}
mkdir -p "$out_dir"

output() { printf '%s=%s\n' "$1" "$2" >>"$outputs"; }

args=()
# `directory` is the manifests directory; `test --dir` means the suites' directory, and `test`
# takes its manifests from kathansync.yaml: passing it on would read manifests as suites.
if [[ -n ${KS_DIRECTORY:-} && $command == test ]]; then
  echo "::error::kathansync action: the directory input (manifests) does not apply to test:" \
    "set manifests: in kathansync.yaml (suites: args: --dir DIR)"
  output exit_code 1
  exit 1
fi
[[ -n ${KS_DIRECTORY:-} ]] && args+=(--dir "$KS_DIRECTORY")
[[ -n ${KS_ENVIRONMENT:-} ]] && args+=(--env "$KS_ENVIRONMENT")
# Word splitting on purpose: `args: --target support --target sales`.
read -r -a extra <<<"${KS_ARGS:-}"

# The summary line of a markdown plan, without its HTML: "1 to create, 0 to update, ...".
plan_summary() { head -n 1 "$1" | sed -e 's/<[^>]*>//g' -e 's/^.*): //'; }

case $command in
validate | test)
  kathansync "$command" "${args[@]}" "${extra[@]}" | tee "$out_dir/$command.txt"
  code=${PIPESTATUS[0]}
  output summary "$(tail -n 1 "$out_dir/$command.txt")"
  ;;
plan)
  plan_file=$out_dir/kathansync.plan
  markdown=$out_dir/plan.md
  kathansync plan --no-color --format markdown --detailed-exitcode --out "$plan_file" \
    "${args[@]}" "${extra[@]}" >"$markdown"
  code=$?
  # The runner runs any log line starting with `::` (after blanks) as a workflow command, and a
  # plan quotes prompts (diff context lines start with a blank): print it with commands off.
  token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  echo "::stop-commands::$token"
  cat "$markdown"
  echo "::$token::"
  case $code in
  0) output has_changes false ;;
  2) output has_changes true && code=0 ;;
  esac
  if [[ $code == 0 ]]; then
    output plan_file "$plan_file"
    output plan_markdown "$markdown"
    output summary "$(plan_summary "$markdown")"
  fi
  ;;
apply)
  kathansync apply --auto-approve --no-color "${args[@]}" "${extra[@]}" |
    tee "$out_dir/apply.txt"
  code=${PIPESTATUS[0]}
  if grep -q '^No changes' "$out_dir/apply.txt"; then
    output has_changes false
  else
    output has_changes true
  fi
  output summary "$(grep -E '^(Apply:|No changes)' "$out_dir/apply.txt" | tail -n 1)"
  ;;
*)
  echo "::error::kathansync action: command must be validate, plan, apply or test, not '$command'"
  code=1
  ;;
esac
output exit_code "$code"
exit "$code"
