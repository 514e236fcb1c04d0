#!/bin/bash
# Detect the host operating system and write its facts as KEY=VALUE lines to tmp-run-env.out.
set -u
out=tmp-run-env.out

fact() { printf '%s=%s\n' "$1" "$2" >> "$out"; }

kernel=$(uname -s)
os_type=$(printf '%s' "$kernel" | tr '[:upper:]' '[:lower:]')
fact CM_HOST_OS_TYPE "$os_type"
fact CM_HOST_OS_KERNEL_VERSION "$(uname -r)"
fact CM_HOST_OS_MACHINE "$(uname -m)"
fact CM_HOST_PLATFORM_FLAVOR "$(uname -m)"
fact CM_HOST_OS_BITS "$(getconf LONG_BIT 2>/dev/null || echo 64)"
fact CM_HOST_SYSTEM_NAME "$(uname -n)"

python=$(command -v python3 || command -v python || true)
if [ -n "$python" ]; then
  fact CM_HOST_PYTHON_BITS "$("$python" -c 'import struct; print(struct.calcsize("P") * 8)')"
fi

flavor=""
flavor_like=""
version=""
if [ -r /etc/os-release ]; then
  # os-release is a shell fragment by specification; read it in a subshell.
  flavor=$(. /etc/os-release && printf '%s' "${ID:-}")
  flavor_like=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
  version=$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")
elif command -v sw_vers > /dev/null; then
  flavor=macos
  version=$(sw_vers -productVersion)
fi
fact CM_HOST_OS_FLAVOR "$(printf '%s' "$flavor" | tr '[:upper:]' '[:lower:]')"
fact CM_HOST_OS_FLAVOR_LIKE "$(printf '%s' "$flavor_like" | tr '[:upper:]' '[:lower:]')"
fact CM_HOST_OS_VERSION "$version"

if [ "$os_type" = linux ] && command -v ldd > /dev/null; then
  fact CM_HOST_OS_GLIBC_VERSION "$(ldd --version 2>&1 | head -n 1 | awk '{print $NF}')"
fi

manager=""
case " $flavor $flavor_like " in
  *" ubuntu "*|*" debian "*) manager=apt; install="DEBIAN_FRONTEND=noninteractive apt-get install -y"; update="apt-get update -y";;
  *" rhel "*|*" fedora "*|*" centos "*) manager=dnf; install="dnf install -y"; update="dnf update -y";;
  *" amzn "*) manager=yum; install="yum install -y --skip-broken"; update="yum update -y";;
  *" arch "*) manager=pacman; install="pacman -Sy --noconfirm"; update="pacman -Syu";;
  *" sles "*|*" suse "*) manager=zypper; install="zypper install -y"; update="zypper update -y";;
  *" macos "*) manager=brew; install="brew install"; update="brew update";;
esac
if [ -n "$manager" ]; then
  fact CM_HOST_OS_PACKAGE_MANAGER "$manager"
  fact CM_HOST_OS_PACKAGE_MANAGER_INSTALL_CMD "$install"
  fact CM_HOST_OS_PACKAGE_MANAGER_UPDATE_CMD "$update"
fi
