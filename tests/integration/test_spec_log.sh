#!/bin/bash
# The spec's log, line for line: with the exa01 fixture the guest, hosts, volumes and devices are
# the spec's own, so kvmove's output is compared with the spec's lines (tests/fixtures/spec,
# copied from ../shared/spec/offline-migration.txt) exactly. Every difference is one documented
# in the README ("Output lines"), and only those:
#   - kvmove appends the step's duration to "Step X completed successfully...": " [1.2 s]";
#   - "Action Validated and Merged OK" and "File : F saved OK" name the action and es.xml
#     version and its system: " (action 28, es.xml version 2 of system exa01)",
#     " (es.xml version 3 of system exa01, migration-merged)";
#   - "Done [Elapsed = N mS [M minutes] DATE]" closes with one bracket (the spec's line has two,
#     the second unmatched); N, M and DATE are this run's;
#   - kvmove's own lines: "File : F loaded OK as es.xml version ..." (the spec shows no answer to
#     LOAD FILE), "Request R published (job id J)", "Job J accepted: ...", "Preflight checks
#     passed";
#   - the default plan runs the steps in another order than the spec's log (README, "Less
#     downtime"): each step's lines are the spec's block for that step, in the plan's order;
#     `submit --sequential` prints the spec's order.
# 1. `kvmove submit --sequential --wait` of the spec's command: the merge and every step's lines
#    in the spec's order. 2. The guest is moved back. 3. `kvmove shell` typed as the spec's
#    session, from LOAD FILE on: the header, every step block, the trailer, the SAVE FILE lines.
. "${BASH_SOURCE[0]%/*}/lib.sh"
. "${BASH_SOURCE[0]%/*}/waits.sh"
it_setup spec_log
it_worker_start 1
G=exa01vm01.example.com S=exa01adm02.example.com T=exa01adm06.example.com
SPEC=$IT_TOP/tests/fixtures/spec
U='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
cd "$IT_DIR" || exit 1

# The fixtures are still the spec's lines, where the spec can be found.
for f in ${KVMOVE_SPEC:-} "$IT_TOP/../shared/spec/offline-migration.txt" "$IT_TOP/../../shared/spec/offline-migration.txt"; do
    [[ -f $f ]] || continue
    check "fixture deploy.log is the spec's DEPLOY ACTIONS output ($f)" eq "$(cat "$SPEC/deploy.log")" \
        "$(awk '/^    Deploying Action ID/ { on = 1 } on { print substr($0, 5) } on && /^    Done \[Elapsed/ { exit }' "$f")"
    check "fixture merge.log is the spec's MERGE ACTIONS answer" eq "$(cat "$SPEC/merge.log")" \
        "$(grep -E '^    (Merging MIGRATE GUEST|Action Validated and Merged OK)$' "$f" | sed 's/^    //')"
    check "fixture save.log is the spec's SAVE FILE answers" eq "$(cat "$SPEC/save.log")" \
        "$(grep -E '^    File : .* saved OK$' "$f" | sed 's/^    //')"
    break
done

# The lines kvmove adds inside a step's block (what the step did in detail), by step: each one
# must come before that step's "completed successfully" line (checked below), and is left out
# of the comparison.
ADDED=(
    "CREATE_BRIDGES|Creating bridge [a-z0-9.]+ \(VLAN [0-9]+\) on KVM host $T"
    "MIGRATE_GUEST|Disabling autostart for guest $G on kvm host $S"
    "MIGRATE_GUEST|Undefining guest $G on kvm host $S( \(its autostart goes with it\))?"
    "MIGRATE_GUEST|Defining guest $G on kvm host $T"
    "REMOVE_BRIDGES|Keeping bridge [a-z0-9.]+ on KVM host $S: other guests use it"
    "REMOVE_BRIDGES|Removing bridge [a-z0-9.]+ from KVM host $S"
)
ADDED_RE=$(printf '%s\n' "${ADDED[@]}" | cut -d'|' -f2- | paste -sd'|')
# added_in_place FILE: every added line of FILE comes before its own step's completion line.
added_in_place() {
    local a step re bad=0
    for a in "${ADDED[@]}"; do
        step=${a%%|*} re=${a#*|}
        awk -v re="^($re)\$" -v step="$step" '
            $0 ~ re { pending++ }
            /Step [A-Z_]+ completed successfully\.\.\./ && pending {
                if (index($0, "Step " step " ") == 0) { print "misplaced before: " $0; bad = 1 }
                pending = 0 }
            END { exit bad }' "$1" || bad=1
    done
    return $bad
}
# normalise: kvmove's output with the documented differences undone: its own lines dropped,
# the documented suffixes cut, the elapsed line's figures replaced by <elapsed>.
normalise() {
    grep -vE "^(File : .* loaded OK as es\.xml version .*|Request $U published \(job id $U\)|Job $U accepted: .*|Preflight checks passed|$ADDED_RE)$" |
        sed -E 's/^(Migrate guest .* Step [A-Z_]+ completed successfully\.\.\.) \[[0-9]+\.[0-9] s\]$/\1/
                s/^(Action Validated and Merged OK) \(action [0-9]+, es\.xml version [0-9]+ of system [^ ]+\)$/\1/
                s/^(File : .* saved OK) \(es\.xml version [0-9]+ of system [^ ]+, [a-z-]+\)$/\1/
                s/^Done \[Elapsed = [0-9]+ mS \[[0-9]+\.[0-9] minutes\] [^]]+\]$/Done [Elapsed = <elapsed>]/'
}
# The spec's elapsed line the same way (its second closing bracket is the documented difference).
spec_elapsed() { sed -E 's/^Done \[Elapsed = [0-9]+ mS \[[0-9.]+ minutes\] [^]]+\]\]$/Done [Elapsed = <elapsed>]/'; }
# same WHAT EXPECTED-FILE ACTUAL-FILE: one check, the lines equal; a diff when not.
same() {
    if diff -u "$2" "$3" >"$3.diff"; then check "$1" true; else cat "$3.diff"; check "$1" false; fi
}
# blocks FILE: the spec's step lines of FILE (deploy.log's body) as "STEP<TAB>line" records.
blocks() {
    awk -v OFS='\t' '{ buf[++n] = $0 }
        /Step [A-Z_]+ completed successfully\.\.\.$/ {
            match($0, /Step [A-Z_]+ /); s = substr($0, RSTART + 5, RLENGTH - 6)
            for (i = 1; i <= n; i++) print s, buf[i]; n = 0 }' "$1"
}
sed -n '5,48p' "$SPEC/deploy.log" >spec.steps # from "Stopping Guest" to the last step line
blocks spec.steps >spec.blocks
check "the spec's log has a block for each of the eleven steps" eq 11 "$(cut -f1 spec.blocks | sort -u | wc -l)"

# ---- 1. submit --sequential: the spec's order ----
CMD="MIGRATE GUEST HOSTNAME=$G MODE=OFFLINE SRCHOST=$S TGTHOST=$T"
kvmove submit --sequential --wait --timeout 120 "$CMD" >seq.out 2>seq.err
check "submit --sequential --wait exits 0" eq 0 "$?"
check "...nothing on stderr" eq "" "$(cat seq.err)"
cat seq.out
{ cat "$SPEC/merge.log" spec.steps; sed -n '49,50p' "$SPEC/deploy.log" | spec_elapsed; } >seq.expected
normalise <seq.out >seq.actual
same "submit --sequential prints the spec's lines exactly, in the spec's order (documented differences undone)" seq.expected seq.actual
check "every step line has the documented duration suffix ' [N.N s]'" eq 11 \
    "$(grep -cE '^Migrate guest .* Step [A-Z_]+ completed successfully\.\.\. \[[0-9]+\.[0-9] s\]$' seq.out)"
check "the merge line has the documented suffix" grep -qxE 'Action Validated and Merged OK \(action 28, es\.xml version 2 of system exa01\)' seq.out
check "the elapsed line: this run's figures, one closing bracket" grep -qxE 'Done \[Elapsed = [0-9]+ mS \[[0-9]+\.[0-9] minutes\] [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [A-Z]+ [0-9]{4}\]' seq.out
check "the lines kvmove adds are each in their own step's block" added_in_place seq.out
check "...and there are some (the comparison leaves them out)" test "$(grep -cE "^($ADDED_RE)$" seq.out)" -ge 4
check "kvmove's own lines: one each" eq "1 1 1" \
    "$(grep -cE "^Request $U published \(job id $U\)$" seq.out) $(grep -cE "^Job $U accepted: $G from $S to $T, MODE=OFFLINE$" seq.out) $(grep -cx 'Preflight checks passed' seq.out)"

# ---- 2. back to the source (not compared) ----
# The source runs older software than the target (the fixture's, the spec does not say): for the
# way back, exa01adm02 reports the target's version (the live answer wins over es.xml, and
# --no-validate leaves out MERGE's es.xml-only checks); restored after.
info=$IT_HOSTS/hosts/$S/info
cp "$info" info.orig
sed -i "s/^Version: .*/Version: $(sed -n 's/^Version: //p' "$IT_HOSTS/hosts/$T/info")/" "$info"
kvmove submit --wait --timeout 120 --no-validate --guest $G --mode offline --src $T --tgt $S >back.out 2>&1
check "the guest moves back to $S" eq 0 "$?"
cp info.orig "$info"

# ---- 3. the spec's shell session: the default plan's order ----
cp "$IT_TOP/tests/fixtures/exa01.xml" exa01.xml
spec_session "$CMD" >session.txt
kvmove shell --timeout 120 <session.txt >shell.out 2>shell.err
check "the spec's shell session exits 0" eq 0 "$?"
check "...nothing on stderr" eq "" "$(cat shell.err)"
cat shell.out
job=$(sql "SELECT id FROM jobs WHERE guest = '$G' ORDER BY created_at DESC LIMIT 1")
plan=$(sql "SELECT string_agg(step, ' ' ORDER BY started_at) FROM job_steps WHERE job_id = '$job'")
it_log "  the shell's job ran: $plan"
check "the shell's job ran the default plan, not the spec's order" test "$plan" != "$(cut -f1 spec.blocks | uniq | paste -sd' ')"
{
    cat "$SPEC/merge.log"
    sed -n 1p "$SPEC/save.log"
    sed -n '1,4p' "$SPEC/deploy.log"
    for s in $plan; do awk -F'\t' -v s="$s" '$1 == s { sub(/^[^\t]*\t/, ""); print }' spec.blocks; done
    sed -n '49,50p' "$SPEC/deploy.log" | spec_elapsed
    sed -n 2p "$SPEC/save.log"
} >shell.expected
normalise <shell.out >shell.actual
same "the shell prints the spec's session exactly: header, each step's block in the plan's order, trailer, SAVE FILE lines" shell.expected shell.actual
check "the lines kvmove adds are each in their own step's block (shell)" added_in_place shell.out
check "the shell's header is the spec's, action id 28 as in the spec" eq "$(sed -n '1,4p' "$SPEC/deploy.log")" \
    "$(grep -A3 '^Deploying Action ID' shell.out)"
check "no safety violation" "$HOSTSIM" check "$IT_HOSTS"
