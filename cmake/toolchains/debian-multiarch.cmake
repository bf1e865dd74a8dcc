# SPDX-License-Identifier: Apache-2.0
# Shared part of the Debian multiarch toolchain files: IOT_TRIPLET names the target.
set(CMAKE_C_COMPILER ${IOT_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${IOT_TRIPLET})
# Target libraries and headers from /usr/lib/<triplet> and /usr/include; programs (protoc-c) from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${IOT_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
# qemu-user with "-L /": the target's own multiarch libc (libc6:<arch>, pulled in by the -dev packages)
# loads the multiarch libraries. With -L /usr/<triplet> (the cross toolchain's libc) the agent ran,
# but OpenSSL spun forever inside Paho's connect: two different libcs in one process.
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "arm")
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm;-L;/)
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-${CMAKE_SYSTEM_PROCESSOR};-L;/)
endif()
