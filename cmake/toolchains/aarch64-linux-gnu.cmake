# SPDX-License-Identifier: Apache-2.0
# Cross-build for Raspberry Pi OS 64-bit (arm64) with Debian's cross compiler and multiarch -dev
# packages (dpkg --add-architecture arm64; see tools/install-deps.sh --cross arm64), or with a sysroot
# of those packages instead: -DIOT_CROSS_SYSROOT=DIR (tools/cross-sysroot.sh arm64 DIR).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(IOT_TRIPLET aarch64-linux-gnu)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
