# Test fixture: shared functions of the KVM host simulator (tests/hostsim), not product code.
# Sourced by the driver (hostsim), the SSH dispatcher (hostsim-exec) and the simulated tools
# in bin/. Bash only; kept free of forks on the hot path (one `flock` per lock taken).

HS_DIR=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
HS_BIN=$HS_DIR/bin

# hs_now_ms VAR: epoch milliseconds into VAR (no fork).
hs_now_ms() {
    local us=${EPOCHREALTIME/./}
    printf -v "$1" '%s' "${us:0:${#us}-3}"
}

# hs_lock_root: takes ROOT's lock (exascale/attachments, domain state, invariant check) on fd
# HS_ROOT_FD until the process exits or hs_unlock_root. Order: host lock before root lock.
hs_lock_root() {
    exec {HS_ROOT_FD}>"$HS_ROOT/lock"
    flock "$HS_ROOT_FD"
}
hs_unlock_root() {
    [[ -n ${HS_ROOT_FD:-} ]] && exec {HS_ROOT_FD}>&-
    HS_ROOT_FD=
}

# hs_read FILE VAR: first line of FILE into VAR ("" if absent). No fork.
hs_read() {
    local _l=
    [[ -r $1 ]] && IFS= read -r _l <"$1"
    printf -v "$2" '%s' "$_l"
}

# hs_map PATH VAR: a path as a command names it (/EXAVMIMAGES, /etc/fstab, /dev/exc) mapped into
# the host directory; hs_unmap does the reverse. Uses HOSTSIM_HOST.
hs_map() {
    local p=$1
    case $p in
    /EXAVMIMAGES* | /etc/fstab* | /dev/exc*) p=$HOSTSIM_HOST$p ;;
    esac
    printf -v "$2" '%s' "$p"
}
hs_unmap() {
    local p=$1
    [[ $p == "$HOSTSIM_HOST"/* ]] && p=${p#"$HOSTSIM_HOST"}
    printf -v "$2" '%s' "$p"
}

# hs_xml_fields XMLTEXT: sets DOM_NAME, DOM_VCPU, DOM_MEMKIB, DOM_DEVS (array of /dev/exc device
# names), DOM_BRIDGES (array), DOM_PRIVATE (array of re* interfaces) from a domain XML text.
hs_xml_fields() {
    local x=$1 re
    DOM_NAME= DOM_VCPU=0 DOM_MEMKIB=0 DOM_DEVS=() DOM_BRIDGES=() DOM_PRIVATE=()
    [[ $x =~ \<name\>([^<]+)\</name\> ]] && DOM_NAME=${BASH_REMATCH[1]}
    [[ $x =~ \<vcpu[^\>]*\>([0-9]+)\</vcpu\> ]] && DOM_VCPU=${BASH_REMATCH[1]}
    [[ $x =~ \<memory[^\>]*\>([0-9]+)\</memory\> ]] && DOM_MEMKIB=${BASH_REMATCH[1]}
    re="source dev=['\"]/dev/exc/([^'\"]+)['\"]"
    while [[ $x =~ $re ]]; do
        DOM_DEVS+=("${BASH_REMATCH[1]}")
        x=${x#*"${BASH_REMATCH[0]}"}
    done
    x=$1
    re="source bridge=['\"]([^'\"]+)['\"]"
    while [[ $x =~ $re ]]; do
        DOM_BRIDGES+=("${BASH_REMATCH[1]}")
        x=${x#*"${BASH_REMATCH[0]}"}
    done
    re="private=['\"]([^'\"]*)['\"]"
    [[ $1 =~ $re ]] && read -r -a DOM_PRIVATE <<<"${BASH_REMATCH[1]}"
    return 0
}

# hs_file_text FILE VAR: whole FILE into VAR (no fork).
hs_file_text() {
    local -a _t=()
    [[ -r $1 ]] && mapfile -d '' _t <"$1"
    printf -v "$2" '%s' "${_t[0]:-}"
}

# hs_check_invariants CONTEXT: with the root lock held, appends a line to ROOT/violations for each
# guest running, or set to autostart, on two powered-on hosts. Returns 1 if any was found.
hs_check_invariants() {
    local ctx=$1 h hn g gn st now bad=0 k
    local -A run=() auto=()
    for h in "$HS_ROOT"/hosts/*/; do
        [[ -e ${h}off ]] && continue
        hn=${h%/}
        hn=${hn##*/}
        for g in "$h"domains/*/; do
            [[ -d $g ]] || continue
            gn=${g%/}
            gn=${gn##*/}
            hs_read "${g}state" st
            [[ $st == running ]] && run[$gn]+=" $hn"
            [[ -e ${g}autostart ]] && auto[$gn]+=" $hn"
        done
    done
    hs_now_ms now
    for k in "${!run[@]}"; do
        if [[ ${run[$k]# } == *" "* ]]; then
            printf '%s running %s on%s after %s\n' "$now" "$k" "${run[$k]}" "$ctx" >>"$HS_ROOT/violations"
            bad=1
        fi
    done
    for k in "${!auto[@]}"; do
        if [[ ${auto[$k]# } == *" "* ]]; then
            printf '%s autostart %s on%s after %s\n' "$now" "$k" "${auto[$k]}" "$ctx" >>"$HS_ROOT/violations"
            bad=1
        fi
    done
    return $bad
}

# hs_running_elsewhere G VAR: with the root lock held, VAR = a powered-on host other than this one
# where G is running ("" if none).
hs_running_elsewhere() {
    local g=$1 h st
    printf -v "$2" '%s' ""
    for h in "$HS_ROOT"/hosts/*/; do
        [[ ${h%/} == "$HOSTSIM_HOST" || -e ${h}off ]] && continue
        hs_read "${h}domains/$g/state" st
        if [[ $st == running ]]; then
            h=${h%/}
            printf -v "$2" '%s' "${h##*/}"
            return 0
        fi
    done
}

# hs_tool_env: checks the environment the dispatcher gives the simulated tools.
hs_tool_env() {
    if [[ -z ${HOSTSIM_HOST:-} || -z ${HOSTSIM_ROOT:-} ]]; then
        echo "hostsim: ${0##*/} runs only inside the host simulator (HOSTSIM_HOST unset)" >&2
        exit 127
    fi
    HS_ROOT=$HOSTSIM_ROOT
    HS_H=$HOSTSIM_HOST
    HS_NAME=${HS_H##*/}
}

# hs_valid_name S: names used as file names must be plain (no /, not . or ..).
hs_valid_name() {
    [[ -n $1 && $1 != */* && $1 != . && $1 != .. && $1 != -* ]]
}

# hs_mount_line MP VAR: VAR = the "DEVICE MOUNTPOINT" line of mounts whose mount point or device
# is MP (unmapped path); returns 1 if none.
hs_mount_line() {
    local _ml
    printf -v "$2" '%s' ""
    [[ -r $HS_H/mounts ]] || return 1
    while IFS= read -r _ml; do
        if [[ ${_ml#* } == "$1" || ${_ml%% *} == "$1" ]]; then
            printf -v "$2" '%s' "$_ml"
            return 0
        fi
    done <"$HS_H/mounts"
    return 1
}

# hs_do_mount DEV MP (unmapped paths): mounts the volume attached as DEV at the directory MP by
# replacing the directory with a symlink to the volume's content (the directory is kept aside
# under .under/ and put back by hs_do_umount). Returns 0, or 32 with a message on stderr.
hs_do_mount() {
    local dev=$1 mp=$2 v l aside
    if [[ $dev != /dev/exc/* || ! -f $HS_H$dev ]]; then
        echo "mount: $mp: special device $dev does not exist." >&2
        return 32
    fi
    if hs_mount_line "$mp" l; then
        echo "mount: $mp: ${l%% *} already mounted on $mp." >&2
        return 32
    fi
    if [[ $mp != /EXAVMIMAGES/* || -L $HS_H$mp || ! -d $HS_H$mp ]]; then
        echo "mount: $mp: mount point does not exist." >&2
        return 32
    fi
    hs_read "$HS_H$dev" v
    mkdir -p "$HS_ROOT/exascale/volumes/$v"
    if ! rmdir "$HS_H$mp" 2>/dev/null; then
        aside=${mp//\//%}
        mkdir -p "$HS_H/.under"
        mv "$HS_H$mp" "$HS_H/.under/$aside"
    fi
    ln -s "$HS_ROOT/exascale/volumes/$v" "$HS_H$mp"
    printf '%s %s\n' "$dev" "$mp" >>"$HS_H/mounts"
}

# hs_do_umount ARG (unmapped mount point or device): undoes hs_do_mount. 0, or 32 if not mounted.
hs_do_umount() {
    local l mp aside rest=() x
    if ! hs_mount_line "$1" l; then
        echo "umount: $1: not mounted." >&2
        return 32
    fi
    mp=${l#* }
    rm -f "$HS_H$mp"
    aside=$HS_H/.under/${mp//\//%}
    if [[ -d $aside ]]; then mv "$aside" "$HS_H$mp"; else mkdir -p "$HS_H$mp"; fi
    while IFS= read -r x; do
        [[ $x == "$l" ]] || rest+=("$x")
    done <"$HS_H/mounts"
    if ((${#rest[@]})); then printf '%s\n' "${rest[@]}" >"$HS_H/mounts"; else : >"$HS_H/mounts"; fi
}

# hs_fstab_entries: FSTAB_DEV / FSTAB_MP arrays (unmapped) from the host's etc/fstab.
hs_fstab_entries() {
    local a b r
    FSTAB_DEV=() FSTAB_MP=()
    [[ -r $HS_H/etc/fstab ]] || return 0
    while read -r a b r; do
        [[ -z $a || $a == \#* ]] && continue
        [[ $a == "$HS_H"/* ]] && a=${a#"$HS_H"}
        [[ $b == "$HS_H"/* ]] && b=${b#"$HS_H"}
        FSTAB_DEV+=("$a")
        FSTAB_MP+=("$b")
    done <"$HS_H/etc/fstab"
}
