# SPDX-License-Identifier: Apache-2.0
# Shared part of the Debian multiarch toolchain files: IOT_TRIPLET names the target.
# IOT_CROSS_SYSROOT (cache variable, or the environment variable at the first configure):
# a sysroot of the target's Debian packages made by tools/cross-sysroot.sh, used instead of the
# multiarch -dev packages installed on the build machine. Empty or unset: multiarch, as before.
set(CMAKE_C_COMPILER ${IOT_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${IOT_TRIPLET})
if(NOT DEFINED IOT_CROSS_SYSROOT AND DEFINED ENV{IOT_CROSS_SYSROOT})
  set(IOT_CROSS_SYSROOT "$ENV{IOT_CROSS_SYSROOT}" CACHE PATH
    "Sysroot of the target's Debian packages (tools/cross-sysroot.sh); empty: multiarch")
endif()
# try_compile() projects read this file again: hand them the value.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES IOT_CROSS_SYSROOT)
# Programs (protoc-c) from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
if(IOT_CROSS_SYSROOT)
  if(NOT IS_ABSOLUTE "${IOT_CROSS_SYSROOT}")
    message(FATAL_ERROR "IOT_CROSS_SYSROOT must be an absolute path, not ${IOT_CROSS_SYSROOT}")
  endif()
  if(NOT EXISTS "${IOT_CROSS_SYSROOT}/.complete")
    message(FATAL_ERROR "IOT_CROSS_SYSROOT=${IOT_CROSS_SYSROOT} is not a finished sysroot: make it "
      "with tools/cross-sysroot.sh <arch> ${IOT_CROSS_SYSROOT}")
  endif()
  # Headers, libraries, CMake packages and pkg-config files from the sysroot only; the linker
  # (--sysroot) and qemu-user (-L, which also loads the sysroot's own ld.so and libc) too.
  set(CMAKE_SYSROOT "${IOT_CROSS_SYSROOT}")
  set(CMAKE_FIND_ROOT_PATH "${IOT_CROSS_SYSROOT}")
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(ENV{PKG_CONFIG_LIBDIR}
    "${IOT_CROSS_SYSROOT}/usr/lib/${IOT_TRIPLET}/pkgconfig:${IOT_CROSS_SYSROOT}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${IOT_CROSS_SYSROOT}")
  set(IOT_EMULATOR_ROOT "${IOT_CROSS_SYSROOT}")
else()
  # Target libraries and headers from /usr/lib/<triplet> and /usr/include.
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${IOT_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
  # qemu-user with "-L /": the target's own multiarch libc (libc6:<arch>, pulled in by the -dev
  # packages) loads the multiarch libraries. With -L /usr/<triplet> (the cross toolchain's libc) the
  # agent ran, but OpenSSL spun forever inside Paho's connect: two different libcs in one process.
  set(IOT_EMULATOR_ROOT /)
endif()
set(ENV{PKG_CONFIG_PATH} "")
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "arm")
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm;-L;${IOT_EMULATOR_ROOT})
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-${CMAKE_SYSTEM_PROCESSOR};-L;${IOT_EMULATOR_ROOT})
endif()
