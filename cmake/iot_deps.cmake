# SPDX-License-Identifier: Apache-2.0
# System dependencies (Debian packages). Each becomes an imported target.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# Paho's 3as target references OpenSSL::SSL, so OpenSSL first (FIELD-NOTES.md).
find_package(OpenSSL REQUIRED)
find_package(eclipse-paho-mqtt-c 1.3 REQUIRED)

pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
find_program(PROTOC_C protoc-c REQUIRED)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
# Optional: sd_notify readiness and watchdog under systemd.
pkg_check_modules(LIBSYSTEMD IMPORTED_TARGET libsystemd)
set(IOT_HAVE_LIBSYSTEMD ${LIBSYSTEMD_FOUND})

# mbedTLS 2.28 ships neither CMake nor pkg-config files.
find_library(MBEDTLS_LIB mbedtls REQUIRED)
find_library(MBEDX509_LIB mbedx509 REQUIRED)
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
add_library(iot_mbedtls INTERFACE)
target_link_libraries(iot_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})

if(IOT_BUILD_CLOUD)
  pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
  pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
  pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
  pkg_check_modules(LIBPQ IMPORTED_TARGET libpq)
endif()
if(IOT_BUILD_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
