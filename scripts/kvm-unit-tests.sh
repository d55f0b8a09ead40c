#!/usr/bin/env bash
# Runs kvm-unit-tests' s390x suite (a built tree given with --dir) under zmmu
# and, where qemu-system-s390x exists, under QEMU TCG, and compares them.
#
#   scripts/kvm-unit-tests.sh [--only NAME[,NAME...]] [--no-qemu]
#                             [--log-dir DIR] [--engine E] [--report-only]
#                             --dir DIR
#
#   --only NAMES    run only these unittests.cfg entries (comma-separated)
#   --no-qemu       do not run QEMU (no reference: see "Exit status")
#   --log-dir DIR   keep every console log there (default: a new temp dir)
#   --engine E      passed to zmmu as `--engine E` (only when given)
#   --report-only   always exit 0
#   --dir DIR       a built kvm-unit-tests tree: its s390x/ holds
#                   unittests.cfg and the *.elf tests (default $KUT_DIR).
#                   zmmu does not ship the suite: build it from its public
#                   repository as its own README says.
#
# Environment: ZMMU (default target/release/zmmu of this repository), QEMU
# (default qemu-system-s390x), ZMMU_TIMEOUT (default 60, for entries without
# a timeout), QEMU_TIMEOUT (default 90s, the suite harness's default).
#
# How an entry runs, as the suite's run_tests.sh + s390x/run do with
# ACCEL=tcg on a non-s390x host:
#   QEMU: timeout -k 1s --foreground T qemu-system-s390x -nodefaults
#         -nographic -machine s390-ccw-virtio,accel=tcg -chardev stdio,id=con0
#         -device sclpconsole,chardev=con0 -kernel F.elf -smp N
#         [-append TEST_ARGS] [QEMU_PARAMS] -initrd ENV </dev/null
#         (ENV: the harness's environment file: TARGET, QEMU_*, KERNEL_*,
#         ERRATA_FORCE=y; s390x tests do not read it.) Before that, QEMU is
#         started once with the kernel _NO_FILE_4Uhere_: if it fails for
#         another reason than the missing kernel, the entry is SKIP with
#         QEMU's message (the harness's premature_failure()).
#   zmmu: timeout -k 1s --foreground T $ZMMU run [--engine E] OPTIONS F.elf
#         </dev/null, OPTIONS being the same QEMU parameters in QEMU's
#         spirit: -append A -> --append=A, -smp N -> --smp=N (only when the
#         entry asks for CPUs: the harness's implicit `-smp 1` is not
#         passed), -m SIZE -> --memory=SIZE (a bare number is MiB, as in
#         QEMU: 2200 -> 2200M), -device/-cpu/-name/-uuid/-watchdog-action X
#         -> --device=X etc., except that the CPUs of `-device
#         *-s390x-cpu,core-id=K` join those of -smp N in --core-ids=0,..,N-1,K
#         (in order); any other -opt X -> --opt=X. No --max-insns.
#
# Entries not run (SKIP on both machines, not counted in N): accel = kvm
# (as the harness with ACCEL=tcg), the pv-host group (the harness needs
# genprotimg's gen-se-header for them), the migration group (they wait for
# the harness's migration machinery: two QEMUs, QMP and ncat), entries whose
# ELF is missing, and arch/machine/check/disabled_if as the harness.
#
# Verdicts. QEMU, exactly as the harness (scripts/arch-run.bash
# run_test_status + qemu_fixup_return_code, scripts/runtime.bash run):
# exit status 0 becomes 1 (128+N if stderr says "terminating on signal
# N"); 1 with only warnings on stderr becomes 0; then a 1 is replaced by the
# first `EXIT: STATUS=n` line's n (n = 1 -> 0); 0 = PASS, 77 = SKIP,
# anything else FAIL (124: timeout, >127: signal). zmmu: the same reading of
# the console: the first `EXIT: STATUS=n` line decides (1 PASS, 77 SKIP,
# else FAIL) once zmmu has stopped by itself; a value zmmu refuses as
# one it cannot honour (status 2, clap's "invalid value": a CPU feature
# or a CPU topology it does not offer) is SKIP, as QEMU's premature
# failure; a timeout, a signal, another option error (status 2: an option
# zmmu lacks) or a stop without an EXIT line is FAIL, with where zmmu
# stopped (its `zmmu: ...` stop line, or clap's error).
# Counts are the console's `PASS:`, `FAIL:`, `SKIP:`, `XFAIL:`, `XPASS:`
# and `KFAIL:` lines (lib/report.c).
#
# Output: a Markdown table (one row per entry), the zmmu stop reasons
# grouped by first blocker, then the closing line
#   kvm-unit-tests under zmmu: M/N pass (QEMU TCG: Q/N)
# Exit status: 0 when every entry that QEMU passes also passes under zmmu
# with the same PASS and FAIL counts (without QEMU: when no entry FAILs
# under zmmu); else 1. --report-only: always 0. 2: bad usage or setup.
set -euo pipefail

die() {
	echo "kvm-unit-tests.sh: error: $*" >&2
	exit 2
}

usage() {
	sed -n '5,21p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=${KUT_DIR:-}
only=
use_qemu=1
log_dir=
engine=
report_only=0

while [ $# -gt 0 ]; do
	case "$1" in
	--only) [ $# -ge 2 ] || die "--only needs NAME[,NAME...]"; only=$2; shift 2 ;;
	--only=*) only=${1#*=}; shift ;;
	--no-qemu) use_qemu=0; shift ;;
	--log-dir) [ $# -ge 2 ] || die "--log-dir needs a directory"; log_dir=$2; shift 2 ;;
	--log-dir=*) log_dir=${1#*=}; shift ;;
	--engine) [ $# -ge 2 ] || die "--engine needs a value"; engine=$2; shift 2 ;;
	--engine=*) engine=${1#*=}; shift ;;
	--report-only) report_only=1; shift ;;
	--dir) [ $# -ge 2 ] || die "--dir needs a directory"; suite=$2; shift 2 ;;
	--dir=*) suite=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done

[ -n "$suite" ] || die "no suite: give --dir DIR (or KUT_DIR), a built kvm-unit-tests tree"
cfg=$suite/s390x/unittests.cfg
[ -f "$cfg" ] || die "no $cfg: --dir must be a built kvm-unit-tests tree (s390x/unittests.cfg, s390x/*.elf)"
suite=$(cd "$suite" && pwd)
cfg=$suite/s390x/unittests.cfg

zmmu=${ZMMU:-$repo/target/release/zmmu}
if [[ "$zmmu" != */* ]]; then
	zmmu=$(command -v "$zmmu") || die "ZMMU=${ZMMU:-} is not on PATH"
fi
[ -x "$zmmu" ] || die "no zmmu binary at $zmmu (cargo build --release -p zmmu-cli, or set ZMMU)"
zmmu_timeout=${ZMMU_TIMEOUT:-60}
[[ "$zmmu_timeout" =~ ^[0-9]+$ ]] && zmmu_timeout+=s
qemu_timeout=${QEMU_TIMEOUT:-90s}

qemu=
if [ "$use_qemu" = 1 ]; then
	qemu=$(command -v "${QEMU:-qemu-system-s390x}" 2>/dev/null) || qemu=
	[ -n "$qemu" ] || echo "kvm-unit-tests.sh: ${QEMU:-qemu-system-s390x} not found: running zmmu only" >&2
fi
command -v timeout >/dev/null 2>&1 || die "the 'timeout' command (coreutils) is needed"

if [ -z "$log_dir" ]; then
	log_dir=$(mktemp -d "${TMPDIR:-/tmp}/kvm-unit-tests-logs.XXXXXX")
else
	mkdir -p "$log_dir" || die "cannot create $log_dir"
fi
log_dir=$(cd "$log_dir" && pwd)

# ---------------------------------------------------------------- the cfg
# Parsed as scripts/common.bash for_each_unittest() does.
names=() files=() smps=() smp_set=() targs=() qparams=() groups=()
accels=() timeouts=() archs=() machines=() checks=() disabled=()

new_entry() {
	names+=("$1"); files+=(""); smps+=(1); smp_set+=(0); targs+=("")
	qparams+=(""); groups+=(""); accels+=(""); timeouts+=(""); archs+=("")
	machines+=(""); checks+=(""); disabled+=("")
}

exec {cfg_fd}<"$cfg"
i=-1
while IFS= read -r -u "$cfg_fd" line || [ -n "$line" ]; do
	if [[ "$line" =~ ^\[(.*)\]$ ]]; then
		new_entry "${BASH_REMATCH[1]}"
		i=$((i + 1))
		continue
	fi
	[ "$i" -ge 0 ] || continue
	if [[ $line =~ ^file\ *=\ *(.*)$ ]]; then
		files[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^smp\ *=\ *(.*)$ ]]; then
		smps[i]=${BASH_REMATCH[1]}
		smp_set[i]=1
	elif [[ $line =~ ^test_args\ *=\ *(.*)$ ]]; then
		targs[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^(extra_params|qemu_params)\ *=\ *\"\"\"(.*)$ ]]; then
		# Multi-line value up to the closing """; backslash-newline joins.
		value=${BASH_REMATCH[2]}
		value=${value%\\}
		while IFS= read -r -u "$cfg_fd" line; do
			if [[ "$line" =~ ^(.*)\"\"\"[[:blank:]]*$ ]]; then
				value+=" ${BASH_REMATCH[1]}"
				break
			fi
			value+=" ${line%\\}"
		done
		qparams[i]=$value
	elif [[ $line =~ ^(extra_params|qemu_params)\ *=\ *(.*)$ ]]; then
		qparams[i]=${BASH_REMATCH[2]}
	elif [[ $line =~ ^groups\ *=\ *(.*)$ ]]; then
		groups[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^arch\ *=\ *(.*)$ ]]; then
		archs[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^machine\ *=\ *(.*)$ ]]; then
		machines[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^check\ *=\ *(.*)$ ]]; then
		checks[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^disabled_if\ *=\ *(.*)$ ]]; then
		disabled[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^accel\ *=\ *(.*)$ ]]; then
		accels[i]=${BASH_REMATCH[1]}
	elif [[ $line =~ ^timeout\ *=\ *(.*)$ ]]; then
		timeouts[i]=${BASH_REMATCH[1]}
	fi
done
exec {cfg_fd}<&-
[ ${#names[@]} -gt 0 ] || die "no entries in $cfg"

if [ -n "$only" ]; then
	IFS=, read -r -a wanted <<<"$only"
	for w in "${wanted[@]}"; do
		found=0
		for n in "${names[@]}"; do [ "$n" = "$w" ] && found=1; done
		[ "$found" = 1 ] || die "--only: no entry '$w' in $cfg"
	done
fi

in_words() { # in_words WORD "LIST OF WORDS"
	grep -Fq " $1 " <<<" $2 "
}

# Splits a cfg value into words the way the harness's eval does.
split_words() { # split_words ARRAY_NAME STRING
	local -n _out=$1
	# shellcheck disable=SC2034 # _out is a nameref
	eval "_out=( $2 )"
}

# The harness's environment file (arch-run.bash env_params, env_errata with
# ACCEL=tcg), given to QEMU with -initrd as the harness does.
env_file=$log_dir/kvm-unit-tests.env
if [ -n "$qemu" ]; then
	qv=$("$qemu" -h | head -n 1)
	IFS='[ .]' read -r _ _ _ qmaj qmin qmic _ <<<"$qv" || true
	kv=$(uname -r)
	IFS=. read -r kver kpatch krest <<<"$kv" || true
	IFS=- read -r ksub kextra <<<"$krest" || true
	ksub=${ksub%%[!0-9]*}
	kextra=${kextra%%[!0-9]*}
	{
		echo "TARGET="
		echo "QEMU_ACCEL=tcg"
		echo "QEMU_VERSION_STRING=$qv"
		echo "QEMU_MAJOR=$qmaj"
		echo "QEMU_MINOR=$qmin"
		echo "QEMU_MICRO=$qmic"
		echo "KERNEL_VERSION_STRING=$kv"
		echo "KERNEL_VERSION=$kver"
		echo "KERNEL_PATCHLEVEL=$kpatch"
		echo "KERNEL_SUBLEVEL=$ksub"
		echo "KERNEL_EXTRAVERSION=$kextra"
		echo "ERRATA_FORCE=y"
	} >"$env_file"
fi

# ------------------------------------------------------------ the verdicts
counts() { # counts CONSOLE_LOG -> "pass=P fail=F skip=S[ xfail=..]"
	local p f s xf xp kf
	p=$(tr -d '\r' <"$1" | grep -c '^PASS:' || true)
	f=$(tr -d '\r' <"$1" | grep -c '^FAIL:' || true)
	s=$(tr -d '\r' <"$1" | grep -c '^SKIP:' || true)
	xf=$(tr -d '\r' <"$1" | grep -c '^XFAIL:' || true)
	xp=$(tr -d '\r' <"$1" | grep -c '^XPASS:' || true)
	kf=$(tr -d '\r' <"$1" | grep -c '^KFAIL:' || true)
	local out="pass=$p fail=$f skip=$s"
	[ "$xf" -gt 0 ] && out+=" xfail=$xf"
	[ "$xp" -gt 0 ] && out+=" xpass=$xp"
	[ "$kf" -gt 0 ] && out+=" kfail=$kf"
	echo "$out"
}

exit_line_status() { # the first EXIT: STATUS=n, or nothing
	tr -d '\r' <"$1" | grep '^EXIT: ' | head -n 1 | sed -n 's/.*STATUS=\([0-9][0-9]*\).*/\1/p' || true
}

last_console_line() {
	tr -d '\r' <"$1" | grep -v '^[[:space:]]*$' | tail -n 1 | cut -c 1-100 || true
}

# QEMU's harness status (0 PASS, 77 SKIP, else FAIL) from its exit status,
# stderr and console.
qemu_status() { # qemu_status RC STDERR CONSOLE
	local ret=$1 sig n
	sig=$(sed -n 's/.*terminating on signal \([0-9][0-9]*\).*/\1/p' "$2" | head -n 1 || true)
	if [ "$ret" -eq 0 ]; then
		if [ -n "$sig" ]; then ret=$((sig + 128)); else ret=1; fi
	elif [ "$ret" -eq 1 ]; then
		if [ ! -s "$2" ] || ! grep -qvi warning "$2"; then ret=0; fi
	fi
	if [ "$ret" -eq 1 ]; then
		n=$(exit_line_status "$3")
		if [ -n "$n" ]; then
			if [ "$n" -eq 1 ]; then ret=0; else ret=$n; fi
		fi
	fi
	echo "$ret"
}

verdict_of() { # verdict_of HARNESS_STATUS -> PASS/SKIP/FAIL
	case "$1" in
	0) echo PASS ;;
	77) echo SKIP ;;
	*) echo FAIL ;;
	esac
}

# Where zmmu stopped: its stop line, or clap's error line.
zmmu_stop() { # zmmu_stop STDERR
	local l
	l=$(grep '^error:' "$1" | head -n 1 || true)
	if [ -z "$l" ]; then
		l=$(grep '^zmmu: ' "$1" | tail -n 1 || true)
	fi
	if [ -z "$l" ]; then
		l=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 || true)
	fi
	echo "$l" | cut -c 1-160
}

sigp_order_name() {
	case "$1" in
	0x1 | 0x01) echo "sense" ;;
	0x2 | 0x02) echo "external call" ;;
	0x3 | 0x03) echo "emergency signal" ;;
	0x4 | 0x04) echo "start" ;;
	0x5 | 0x05) echo "stop" ;;
	0x6 | 0x06) echo "restart" ;;
	0x9 | 0x09) echo "stop and store status" ;;
	0xb | 0x0b | 0xB | 0x0B) echo "initial CPU reset" ;;
	0xc | 0x0c | 0xC | 0x0C) echo "CPU reset" ;;
	0xd | 0x0d | 0xD | 0x0D) echo "set prefix" ;;
	0xe | 0x0e | 0xE | 0x0E) echo "store status at address" ;;
	0x12) echo "set architecture" ;;
	0x13) echo "conditional emergency signal" ;;
	0x15) echo "sense running status" ;;
	0x16) echo "set multithreading" ;;
	0x17) echo "store additional status at address" ;;
	*) echo "order $1" ;;
	esac
}

# A blocker's group name: the stop reason without its address and counts.
blocker_key() { # blocker_key VERDICT_REASON
	local r=$1
	if [[ "$r" =~ ^error:\ unexpected\ argument\ \'([^\']*)\' ]]; then
		echo "\`zmmu run\` does not accept \`${BASH_REMATCH[1]}\` (clap: unexpected argument)"
	elif [[ "$r" =~ ^zmmu:\ unimplemented:\ SIGP\ \(order\ (0x[0-9a-fA-F]+)\) ]]; then
		echo "SIGP $(sigp_order_name "${BASH_REMATCH[1]}") (order ${BASH_REMATCH[1]}) unimplemented"
	elif [[ "$r" =~ ^zmmu:\ (unimplemented[^;]*)\ at\ 0x[0-9a-fA-F]+ ]]; then
		echo "${BASH_REMATCH[1]}"
	elif [[ "$r" =~ ^zmmu:\ ([^;]*)\; ]]; then
		local why=${BASH_REMATCH[1]}
		[[ "$why" =~ ^(.*PSW)\ [0-9a-f]{16}\ [0-9a-f]{16}(.*)$ ]] && why="${BASH_REMATCH[1]} ...${BASH_REMATCH[2]}"
		echo "$why"
	else
		echo "$r"
	fi
}

# ------------------------------------------------------------ zmmu options
# Maps the QEMU parameter words to zmmu's options.
to_zmmu_args() { # to_zmmu_args OUT_ARRAY WORDS...
	local -n _z=$1
	shift
	local opt val name smp=1 cpus=()
	while [ $# -gt 0 ]; do
		opt=$1
		shift
		if [[ "$opt" != -* ]]; then
			_z+=("$opt")
			continue
		fi
		name=${opt#-}
		name=${name#-}
		val=
		if [ $# -gt 0 ] && { [[ "$1" != -* ]] || [ "$name" = append ]; }; then
			val=$1
			shift
		else
			_z+=("--$name")
			continue
		fi
		case "$name" in
		m)
			[[ "$val" =~ ^[0-9]+$ ]] && val+=M
			_z+=("--memory=$val")
			;;
		smp)
			smp=${val%%,*}
			_z+=("--smp=$val")
			;;
		device)
			# A hot-plugged CPU (-device qemu-s390x-cpu,core-id=K) joins
			# the CPUs of -smp, in order: --core-ids lists them all.
			if [[ "$val" =~ ^[a-z]+-s390x-cpu,core-id=([0-9]+)$ ]]; then
				cpus+=("${BASH_REMATCH[1]}")
			else
				_z+=("--device=$val")
			fi
			;;
		*) _z+=("--$name=$val") ;;
		esac
	done
	if [ ${#cpus[@]} -gt 0 ]; then
		local ids
		ids=$(seq -s, 0 $((smp - 1)))
		_z+=("--core-ids=$ids,$(IFS=,; echo "${cpus[*]}")")
	fi
}

quote_cmd() {
	local out='' w
	for w in "$@"; do
		if [[ "$w" =~ ^[A-Za-z0-9_./=,:+@%-]+$ ]]; then out+="$w "; else out+="$(printf '%q' "$w") "; fi
	done
	echo "${out% }"
}

# ---------------------------------------------------------------- running
zmmu_version=$("$zmmu" --version 2>/dev/null | head -n 1 || echo "?")
echo "# kvm-unit-tests s390x: zmmu and QEMU TCG"
echo
upstream=$(grep -o 'upstream commit | .[0-9a-f]*' "$suite/README.md" 2>/dev/null | grep -o '[0-9a-f]*$' || true)
echo "- suite: ${suite#"$repo"/}/ (kvm-unit-tests ${upstream:-commit unknown})"
echo "- zmmu: $zmmu ($zmmu_version)${engine:+, --engine $engine}, timeout ${zmmu_timeout} unless the entry sets one"
if [ -n "$qemu" ]; then
	echo "- QEMU: $qemu ($("$qemu" --version | head -n 1)), TCG, timeout ${qemu_timeout} unless the entry sets one"
else
	echo "- QEMU: not run"
fi
echo "- date: $(date -u '+%F %H:%M UTC'); logs: $log_dir"
echo
echo "| test | zmmu | zmmu stopped | QEMU TCG |"
echo "|---|---|---|---|"

run_n=0 zmmu_pass=0 qemu_pass=0 mismatch=0
# The options `zmmu run --help` lists, to tell which ones the entries miss.
zmmu_opts=" $("$zmmu" run --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u | tr '\n' ' ' || true)"
declare -A missing_opt=()
missing_order=()
declare -A blocker_tests=()
declare -A blocker_where=()
blocker_order=()

for i in "${!names[@]}"; do
	name=${names[i]}
	if [ -n "$only" ] && ! in_words "$name" "${only//,/ }"; then
		continue
	fi
	file=$suite/s390x/${files[i]}
	reason=
	if [ -n "${archs[i]}" ] && [ "${archs[i]}" != s390x ]; then
		reason="${archs[i]} only"
	elif [ -n "${machines[i]}" ]; then
		reason="${machines[i]} only"
	elif [ -n "${accels[i]}" ] && [[ ! "tcg" =~ ^${accels[i]}(,|$) ]]; then
		reason="${accels[i]} only"
	elif in_words pv-host "${groups[i]}"; then
		reason="pv-host: needs genprotimg's gen-se-header"
	elif in_words migration "${groups[i]}"; then
		reason="migration: needs the harness's migration (2 QEMUs, QMP, ncat)"
	elif [ -n "${disabled[i]}" ] && (eval "${disabled[i]}") >/dev/null 2>&1; then
		reason="disabled because: ${disabled[i]}"
	elif [ -n "${checks[i]}" ]; then
		# shellcheck disable=SC2086 # words, as the harness splits them
		for c in ${checks[i]}; do
			p=${c%%=*} v=${c#*=}
			if ! [ -f "$p" ] || [ "$(cat "$p")" != "$v" ]; then reason="$p not equal to $v"; fi
		done
	fi
	if [ -z "$reason" ] && [ ! -f "$file" ]; then
		reason="no ${files[i]}"
	fi
	if [ -n "$reason" ]; then
		echo "| $name | SKIP ($reason) | not run | SKIP ($reason) |"
		continue
	fi
	run_n=$((run_n + 1))

	qwords=(-smp "${smps[i]}")
	if [ -n "${targs[i]}" ]; then
		split_words ta "${targs[i]}"
		qwords+=(-append "${ta[@]}")
	fi
	split_words pw "${qparams[i]}"
	qwords+=("${pw[@]}")

	# zmmu
	zwords=()
	[ "${smp_set[i]}" = 1 ] && zwords+=(-smp "${smps[i]}")
	if [ -n "${targs[i]}" ]; then
		zwords+=(-append "${ta[@]}")
	fi
	zwords+=("${pw[@]}")
	zargs=()
	[ -n "$engine" ] && zargs+=(--engine "$engine")
	to_zmmu_args zargs "${zwords[@]}"
	for a in "${zargs[@]}"; do
		o=${a%%=*}
		if [[ "$o" == --* ]] && ! in_words "$o" "$zmmu_opts"; then
			if [ -z "${missing_opt[$o]+x}" ]; then missing_order+=("$o"); missing_opt[$o]=; fi
			in_words "$name" "${missing_opt[$o]}" || missing_opt[$o]+=" $name"
		fi
	done
	zt=${timeouts[i]:-$zmmu_timeout}
	[[ "$zt" =~ ^[0-9]+$ ]] && zt+=s
	zcmd=(timeout -k 1s --foreground "$zt" "$zmmu" run "${zargs[@]}" "$file")
	zlog=$log_dir/$name.zmmu.log zerr=$log_dir/$name.zmmu.stderr
	quote_cmd "${zcmd[@]}" >"$log_dir/$name.zmmu.cmd"
	set +e
	"${zcmd[@]}" </dev/null >"$zlog" 2>"$zerr"
	zrc=$?
	set -e
	zcounts=$(counts "$zlog")
	zstop=$(zmmu_stop "$zerr")
	zn=$(exit_line_status "$zlog")
	if [ "$zrc" -eq 124 ]; then
		zv=FAIL
		zwhere="timeout after $zt (console: $(last_console_line "$zlog"))"
		[ -n "$zn" ] && zwhere="timeout after $zt, after EXIT: STATUS=$zn"
		zkey="timeout (no stop within $zt)"
	elif [ "$zrc" -gt 128 ]; then
		zv=FAIL
		zwhere="killed by signal $((zrc - 128)); $zstop"
		zkey="zmmu killed by signal $((zrc - 128))"
	elif [ "$zrc" -eq 2 ] && grep -q '^error: invalid value' "$zerr"; then
		# zmmu refused, before running anything, a configuration it
		# cannot honour (a CPU feature or topology it does not offer):
		# SKIP, as the harness's premature_failure() for QEMU.
		zv=SKIP
		zwhere=$zstop
	elif [ "$zrc" -eq 2 ] && grep -q '^error:' "$zerr"; then
		zv=FAIL
		zwhere=$zstop
		zkey=$(blocker_key "$zstop")
	elif [ -n "$zn" ]; then
		if [ "$zn" -eq 1 ]; then zv=PASS; elif [ "$zn" -eq 77 ]; then zv=SKIP; else zv=FAIL; fi
		zwhere="EXIT: STATUS=$zn${zstop:+; $zstop}"
		zkey="the test itself reports failure (EXIT: STATUS=$zn)"
	else
		zv=FAIL
		zwhere=$zstop
		zkey=$(blocker_key "$zstop")
	fi
	if [ "$zv" = PASS ]; then zmmu_pass=$((zmmu_pass + 1)); fi
	if [ "$zv" = FAIL ]; then
		if [ -z "${blocker_tests[$zkey]+x}" ]; then
			blocker_order+=("$zkey")
			blocker_tests[$zkey]=
			blocker_where[$zkey]=
		fi
		blocker_tests[$zkey]+=" $name"
		addr=$(sed -n 's/.* at \(0x[0-9a-fA-F]*\).*/\1/p' <<<"$zstop" | head -n 1 || true)
		if [ -n "$addr" ] && ! in_words "$addr" "${blocker_where[$zkey]}"; then
			blocker_where[$zkey]+=" $addr"
		fi
	fi

	# QEMU
	qcol="not run"
	qv=
	if [ -n "$qemu" ]; then
		qt=${timeouts[i]:-$qemu_timeout}
		qbase=("$qemu" -nodefaults -nographic -machine "s390-ccw-virtio,accel=tcg"
			-chardev "stdio,id=con0" -device "sclpconsole,chardev=con0" -kernel)
		qlog=$log_dir/$name.qemu.log qerr=$log_dir/$name.qemu.stderr
		set +e
		probe=$(timeout -k 1s --foreground "$qt" "${qbase[@]}" _NO_FILE_4Uhere_ "${qwords[@]}" -initrd "$env_file" </dev/null 2>&1)
		set -e
		if ! grep _NO_FILE_4Uhere_ <<<"$probe" |
			grep -q -e "[Cc]ould not \(load\|open\) kernel" -e "error loading" -e "failed to load"; then
			qv=SKIP
			qcol="SKIP ($(tail -n 1 <<<"$probe" | tr '|' '/' | cut -c 1-120))"
			printf '%s\n' "$probe" >"$qerr"
			: >"$qlog"
		else
			qcmd=(timeout -k 1s --foreground "$qt" "${qbase[@]}" "$file" "${qwords[@]}" -initrd "$env_file")
			quote_cmd "${qcmd[@]}" >"$log_dir/$name.qemu.cmd"
			set +e
			"${qcmd[@]}" </dev/null >"$qlog" 2>"$qerr"
			qrc=$?
			set -e
			qs=$(qemu_status "$qrc" "$qerr" "$qlog")
			qv=$(verdict_of "$qs")
			qcounts=$(counts "$qlog")
			case "$qs" in
			124) qcol="FAIL (timeout after $qt; $qcounts)" ;;
			0 | 77) qcol="$qv ($qcounts)" ;;
			*)
				if [ "$qs" -gt 127 ]; then
					qcol="FAIL (signal $((qs - 128)); $qcounts)"
				else
					qcol="FAIL (status $qs; $qcounts)"
				fi
				;;
			esac
		fi
		if [ "$qv" = PASS ]; then
			qemu_pass=$((qemu_pass + 1))
			if [ "$zv" != PASS ] || [ "${zcounts%% skip=*}" != "${qcounts%% skip=*}" ]; then
				mismatch=$((mismatch + 1))
			fi
		fi
	elif [ "$zv" = FAIL ]; then
		mismatch=$((mismatch + 1))
	fi

	echo "| $name | $zv ($zcounts) | $(tr '|' '/' <<<"$zwhere") | $qcol |"
done

echo
echo "## What zmmu lacks, by first blocker"
echo
if [ ${#blocker_order[@]} -eq 0 ]; then
	echo "Nothing: no entry FAILs under zmmu."
else
	# Largest group first (stable: ties keep their first appearance).
	for j in "${!blocker_order[@]}"; do
		k=${blocker_order[j]}
		read -r -a ts <<<"${blocker_tests[$k]}"
		printf '%05d %05d %s\n' $((99999 - ${#ts[@]})) "$j" "$k"
	done | sort | while read -r _ _ k; do
		read -r -a ts <<<"${blocker_tests[$k]}"
		line="- $k: ${#ts[@]} test"
		[ ${#ts[@]} -ne 1 ] && line+=s
		line+=" (${ts[*]})"
		[ -n "${blocker_where[$k]}" ] && line+="; at${blocker_where[$k]}"
		echo "$line"
	done
fi
if [ ${#missing_order[@]} -gt 0 ]; then
	echo
	echo "Options the entries pass that \`zmmu run --help\` does not list (clap stops at the first):"
	echo
	for o in "${missing_order[@]}"; do
		read -r -a ts <<<"${missing_opt[$o]}"
		line="- \`$o\`: ${#ts[@]} test"
		[ ${#ts[@]} -ne 1 ] && line+=s
		echo "$line (${ts[*]})"
	done
fi
echo
echo "Full logs (console, stderr, command of each run): $log_dir"
if [ -n "$qemu" ]; then
	echo "kvm-unit-tests under zmmu: $zmmu_pass/$run_n pass (QEMU TCG: $qemu_pass/$run_n)"
else
	echo "kvm-unit-tests under zmmu: $zmmu_pass/$run_n pass (QEMU TCG: not run)"
fi

if [ "$report_only" = 1 ] || [ "$mismatch" -eq 0 ]; then
	exit 0
fi
exit 1
