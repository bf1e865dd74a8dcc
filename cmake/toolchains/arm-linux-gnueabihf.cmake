# SPDX-License-Identifier: Apache-2.0
# Cross-build for Raspberry Pi OS 32-bit (armhf) with Debian's cross compiler and multiarch -dev packages.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(IOT_TRIPLET arm-linux-gnueabihf)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
