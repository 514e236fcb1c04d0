#!/bin/bash
# Detect the host CPU, memory and disk and write the facts as KEY=VALUE lines to
# tmp-run-env.out. Uses lscpu where it exists (Linux), sysctl on macOS, /proc otherwise.
set -u
out=tmp-run-env.out

fact() { [ -n "$2" ] && printf '%s=%s\n' "$1" "$2" >> "$out"; return 0; }
trim() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'; }

logical=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || echo 1)
fact CM_HOST_CPU_TOTAL_LOGICAL_CORES "$logical"

if [ "${CM_HOST_OS_FLAVOR:-}" = macos ]; then
  fact CM_HOST_CPU_MODEL_NAME "$(sysctl -n machdep.cpu.brand_string 2>/dev/null)"
  fact CM_HOST_CPU_ARCHITECTURE "$(uname -m)"
  fact CM_HOST_CPU_TOTAL_PHYSICAL_CORES "$(sysctl -n hw.physicalcpu 2>/dev/null)"
  fact CM_HOST_MEMORY_CAPACITY "$(( $(sysctl -n hw.memsize) / 1000000000 ))G"
elif command -v lscpu > /dev/null; then
  # lscpu prints "Field name:   value"; map the fields CM scripts use to CM_HOST_CPU_* keys.
  LC_ALL=C lscpu > tmp-lscpu.out
  field() { awk -F: -v k="$1" '$1 == k { sub(/^[^:]*:/, ""); print; exit }' tmp-lscpu.out | trim; }
  fact CM_HOST_CPU_ARCHITECTURE "$(field 'Architecture')"
  fact CM_HOST_CPU_MODEL_NAME "$(field 'Model name')"
  fact CM_HOST_CPU_VENDOR_ID "$(field 'Vendor ID')"
  fact CM_HOST_CPU_FAMILY "$(field 'CPU family')"
  fact CM_HOST_CPU_SOCKETS "$(field 'Socket(s)')"
  fact CM_HOST_CPU_PHYSICAL_CORES_PER_SOCKET "$(field 'Core(s) per socket')"
  fact CM_HOST_CPU_THREADS_PER_CORE "$(field 'Thread(s) per core')"
  fact CM_HOST_CPU_NUMA_NODES "$(field 'NUMA node(s)')"
  fact CM_HOST_CPU_ON_LINE_CPUS_LIST "$(field 'On-line CPU(s) list')"
  fact CM_HOST_CPU_MAX_MHZ "$(field 'CPU max MHz')"
  fact CM_HOST_CPU_L1D_CACHE_SIZE "$(field 'L1d cache')"
  fact CM_HOST_CPU_L1I_CACHE_SIZE "$(field 'L1i cache')"
  fact CM_HOST_CPU_L2_CACHE_SIZE "$(field 'L2 cache')"
  fact CM_HOST_CPU_L3_CACHE_SIZE "$(field 'L3 cache')"
  sockets=$(field 'Socket(s)')
  cores=$(field 'Core(s) per socket')
  case "$sockets$cores" in
    *[!0-9]*|"") ;;
    *) fact CM_HOST_CPU_TOTAL_PHYSICAL_CORES "$(( sockets * cores ))";;
  esac
  rm -f tmp-lscpu.out
elif [ -r /proc/cpuinfo ]; then
  fact CM_HOST_CPU_MODEL_NAME "$(awk -F: '/^model name/ { print $2; exit }' /proc/cpuinfo | trim)"
  fact CM_HOST_CPU_VENDOR_ID "$(awk -F: '/^vendor_id/ { print $2; exit }' /proc/cpuinfo | trim)"
  fact CM_HOST_CPU_ARCHITECTURE "$(uname -m)"
fi

if [ -r /proc/meminfo ]; then
  kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  fact CM_HOST_MEMORY_CAPACITY "$(( kb / 1000000 ))G"
fi
fact CM_HOST_DISK_CAPACITY "$(df -h -P . 2>/dev/null | awk 'NR == 2 { print $2 }')"
