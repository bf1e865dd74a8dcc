# SPDX-License-Identifier: Apache-2.0
# Installation (cmake --install) and Debian packages (cpack -G DEB): one package for the device
# agent, one for the cloud service (with iot-pki). Paths follow Debian: binaries in /usr/bin,
# configuration in /etc/iot, units in /lib/systemd/system, the schema in /usr/share/iot-{agent,cloud}/iot.proto.
include(GNUInstallDirs)
set(IOT_UNITDIR "lib/systemd/system" CACHE STRING "systemd unit directory, relative to the prefix")
set(IOT_ETCDIR "/etc/iot" CACHE PATH "configuration directory")

install(TARGETS iot-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
install(FILES device/dist/agent.conf DESTINATION ${IOT_ETCDIR} COMPONENT agent)
install(FILES device/dist/iot-agent.service DESTINATION ${IOT_UNITDIR} COMPONENT agent)
install(FILES proto/iot.proto DESTINATION ${CMAKE_INSTALL_DATADIR}/iot-agent COMPONENT agent)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/iot-agent COMPONENT agent)

if(IOT_BUILD_CLOUD)
  install(TARGETS iot-cloud RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cloud)
  install(FILES cloud/dist/cloud.conf DESTINATION ${IOT_ETCDIR} COMPONENT cloud)
  install(FILES cloud/dist/iot-cloud.service DESTINATION ${IOT_UNITDIR} COMPONENT cloud)
  install(FILES proto/iot.proto DESTINATION ${CMAKE_INSTALL_DATADIR}/iot-cloud COMPONENT cloud)
  install(FILES README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/iot-cloud COMPONENT cloud)
endif()
if(IOT_BUILD_TOOLS)
  install(TARGETS iot-pki RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cloud)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME iot)
set(CPACK_PACKAGE_VENDOR "iot-stack")
set(CPACK_PACKAGE_CONTACT "iot-stack maintainers <maintainers@iot-stack.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Library dependencies from the binaries themselves (dpkg-shlibdeps), native builds only.
if(NOT CMAKE_CROSSCOMPILING)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
if(CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
elseif(CMAKE_SYSTEM_PROCESSOR STREQUAL "arm")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
endif()
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME iot-agent)
set(CPACK_DEBIAN_AGENT_DESCRIPTION
  "IoT device agent: sensors to MQTT 5 over mutual TLS\n Samples Linux and simulated smart-home sensors, buffers to disk while offline,\n reports presence and executes signed commands from the cloud.")
if(CMAKE_CROSSCOMPILING)
  # dpkg-shlibdeps cannot inspect foreign binaries: name the agent's libraries (Debian 12 names).
  set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS
    "adduser, libc6 (>= 2.34), libpaho-mqtt1.3, libssl3, libprotobuf-c1, libmbedcrypto7, libinih1, libsystemd0")
else()
  set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "adduser")
endif()
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/device/dist/postinst ${PROJECT_SOURCE_DIR}/device/dist/conffiles)
set(CPACK_DEBIAN_CLOUD_PACKAGE_NAME iot-cloud)
set(CPACK_DEBIAN_CLOUD_DESCRIPTION
  "IoT cloud ingestion service and PKI tool\n Consumes device telemetry with MQTT 5 shared subscriptions, stores it once per\n sample, tracks devices and serves an asynchronous command API.")
set(CPACK_DEBIAN_CLOUD_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_CLOUD_PACKAGE_RECOMMENDS "mosquitto")
set(CPACK_DEBIAN_CLOUD_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/cloud/dist/postinst ${PROJECT_SOURCE_DIR}/cloud/dist/conffiles)
set(CPACK_COMPONENTS_ALL agent)
if(IOT_BUILD_CLOUD)
  list(APPEND CPACK_COMPONENTS_ALL cloud)
endif()
include(CPack)
