# SPDX-License-Identifier: Apache-2.0
# Cross-build for Raspberry Pi OS 32-bit (armhf) with Debian's cross compiler and multiarch -dev
# packages (dpkg --add-architecture armhf; see tools/install-deps.sh --cross armhf), or with a sysroot
# of those packages instead: -DIOT_CROSS_SYSROOT=DIR (tools/cross-sysroot.sh armhf DIR).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(IOT_TRIPLET arm-linux-gnueabihf)
# 64-bit off_t, ino_t and time_t in our code (glibc >= 2.34). Without them readdir() and stat() fail
# with EOVERFLOW on a 64-bit kernel's 64-bit directory cookies and inode numbers (qemu-user on
# amd64, and the 64-bit kernel that Raspberry Pi OS 32-bit boots on a Pi 4/5), and the clock stops
# in 2038. Debian 12's armhf libraries keep 32-bit time_t: none of those the device side calls
# takes a time_t, timespec or struct stat (mbedTLS's ssl.h would: the device side does not use it).
set(CMAKE_C_FLAGS_INIT "-D_FILE_OFFSET_BITS=64 -D_TIME_BITS=64")
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
