#!/bin/bash
# Operator identities for the development stack and the tests (sourced): a signing key, its
# enrolment and its rights, as an administrator sets them up in production (README,
# "Authenticated requests"). Needs kvmove on PATH and KVMOVE_DB.

# operator_enrol NAME KEY_FILE [RIGHT...]: makes KEY_FILE (mode 0600) unless it exists, enrols
# its public key as NAME's (once) and grants NAME each RIGHT on every system (default: all).
operator_enrol() {
    local name=$1 key=$2 r pub
    shift 2
    (($#)) || set -- migrate force evacuate cleanup dry_run
    [[ -f $key ]] || KVMOVE_KEY_FILE=$key kvmove key generate >/dev/null || return 1
    pub=$(KVMOVE_KEY_FILE=$key kvmove key show --public) || return 1
    if ! kvmove operators --json | jq -e --arg p "$pub" 'any(.[].keys[]; .public_key == $p)' >/dev/null; then
        kvmove operator add "$name" --public-key <(printf '%s\n' "$pub") >/dev/null || return 1
    fi
    for r in "$@"; do kvmove grant "$name" "$r" >/dev/null || return 1; done
}
